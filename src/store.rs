//! What every store does the same whatever its backend: the closed state,
//! `set` of nothing as a delete, argument checks that need no backend.

use crate::backend::{Expiry, KvBackend, Page};
use crate::error::{Error, Result};
use crate::json;
use crate::key::Key;
use crate::ttl::Ttl;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Page size bounds for `list`: small enough to keep memory flat, large
/// enough to amortise a round trip.
pub const MAX_PAGE: usize = 10_000;

/// In debug builds, that `text` is one JSON value (see [`Store::set`]).
fn debug_assert_json(text: &str) {
    debug_assert!(json::validate(text).is_ok(), "not JSON text: {text:?}");
}

/// A backend behind the rules every store shares.
pub struct Store {
    backend: Arc<dyn KvBackend>,
    closed: AtomicBool,
}

impl Store {
    pub fn new(backend: impl KvBackend) -> Store {
        Store::shared(Arc::new(backend))
    }

    /// A store of a backend that is also used elsewhere (the binding asks
    /// it how to run, [`crate::exec::Schedule`]).
    pub fn shared(backend: Arc<dyn KvBackend>) -> Store {
        Store {
            backend,
            closed: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    fn open(&self) -> Result<&dyn KvBackend> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed(self.backend.name()));
        }
        Ok(self.backend.as_ref())
    }

    pub async fn initialize(&self) -> Result<()> {
        self.open()?.initialize().await
    }

    pub async fn get(&self, key: &Key) -> Result<Option<String>> {
        self.open()?.get(key).await
    }

    /// Stores `value` (JSON text); `None` deletes, as `set(key, undefined)`
    /// does in JavaScript. The text is V8's own `JSON.stringify` output
    /// (lib/encode.js makes every value the binding passes), which is JSON
    /// by construction: it is not parsed again here, which was a third of
    /// a memory `set` (docs/benchmarks.md). Debug builds, which the tests
    /// run, still check it.
    pub async fn set(&self, key: &Key, value: Option<String>, ttl: Option<Ttl>) -> Result<()> {
        let backend = self.open()?;
        match value {
            Some(value) => {
                debug_assert_json(&value);
                backend.set(key, value, ttl).await
            }
            None => backend.delete(key).await,
        }
    }

    pub async fn delete(&self, key: &Key) -> Result<()> {
        self.open()?.delete(key).await
    }

    pub async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        let backend = self.open()?;
        // JSON.stringify's output, as for set.
        expected
            .into_iter()
            .chain(new.as_deref())
            .for_each(debug_assert_json);
        backend.cas(key, expected, new, ttl).await
    }

    pub async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        self.open()?
            .list_page(prefix, cursor, limit.clamp(1, MAX_PAGE), expiry)
            .await
    }

    /// The page size `list()` asks for ([`KvBackend::list_page_size`]).
    pub fn list_page_size(&self) -> usize {
        self.backend.list_page_size().clamp(1, MAX_PAGE)
    }

    pub async fn drop_storage(&self) -> Result<()> {
        self.open()?.drop_storage().await
    }

    /// Closes the store; later calls fail with `Closed`. Closing twice is fine.
    pub async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.backend.close().await
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
