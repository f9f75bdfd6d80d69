//! The seam between the JavaScript classes and the storage: one trait that
//! every backend implements. A backend knows nothing of napi; the binding
//! knows nothing of SQL. Conveniences (`set` of `undefined` as a delete,
//! streaming `list`, the closed state) live in [`crate::store::Store`].

use crate::error::Result;
use crate::key::Key;
use crate::ttl::Ttl;
use async_trait::async_trait;

/// One entry of a listing: the key and its value as JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    pub value: String,
    /// When the entry expires, in Unix epoch milliseconds on this machine's
    /// clock; `None` when it never does. Only a listing with
    /// [`Expiry::Read`] fills it in; otherwise it is always `None`.
    pub expires_at: Option<i64>,
}

impl Entry {
    /// An entry as a listing with [`Expiry::Skip`] returns it.
    pub fn new(key: Key, value: String) -> Entry {
        Entry {
            key,
            value,
            expires_at: None,
        }
    }
}

/// Whether a listing also reads each entry's expiry. `list()` does not
/// need it and pays nothing for it; copying a store to another
/// (`fedikv migrate`) and showing TTLs (`fedikv ls`) do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    /// Keys and values only: every `Entry::expires_at` is `None`.
    #[default]
    Skip,
    /// Each entry's expiry too, read with its value (in the same statement,
    /// or for Redis the same transaction), so the two belong together.
    /// A backend that cannot tell an entry's expiry fails with
    /// `Unsupported` rather than guess.
    Read,
}

/// A page of a listing, in the backend's own key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Where the next page starts, opaque to callers; `None` when this was
    /// the last page.
    pub cursor: Option<String>,
}

/// A key–value store backend. Values are JSON text, as `JSON.stringify`
/// makes them; backends store and return that text (a backend that
/// normalises JSON, like PostgreSQL's `jsonb`, returns equal JSON).
///
/// "Live" means present and not expired: an expired entry is never returned,
/// never matches in `cas`, and counts as absent.
#[async_trait]
pub trait KvBackend: Send + Sync + 'static {
    /// The backend's name for messages ("SQLite", "memory", …).
    fn name(&self) -> &'static str;

    /// Creates what the backend needs (tables, indexes) if missing.
    /// Idempotent, and safe when several processes start at once. Operations
    /// call it themselves when needed; the default does nothing.
    async fn initialize(&self) -> Result<()> {
        Ok(())
    }

    /// The live value of `key`, or `None` when absent or expired.
    async fn get(&self, key: &Key) -> Result<Option<String>>;

    /// Stores `value` (valid JSON text) under `key`, replacing any value and
    /// its expiry; with `ttl`, the entry expires that long from now.
    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()>;

    /// Removes `key`. Deleting a missing key succeeds.
    async fn delete(&self, key: &Key) -> Result<()>;

    /// Atomically, against every other writer: if the live value equals
    /// `expected` as JSON (member order and number spelling do not matter;
    /// `None` = absent or expired), stores `new` with `ttl` (`None` deletes)
    /// and returns `Ok(true)`. `Ok(false)` on mismatch; `Err` only when the
    /// backend failed.
    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool>;

    /// Up to `limit` live entries whose key starts with `prefix` (the prefix
    /// key itself included; an empty prefix matches all), in the backend's
    /// key order, starting after `cursor` (a cursor from an earlier page of
    /// the same listing; `None` starts at the beginning). Matching is exact:
    /// no character of a key part is a pattern. Keyset pagination: entries
    /// written during a listing may or may not appear, but no entry that
    /// stays is returned twice or skipped. Every value returned is valid
    /// JSON text (the binding splices pages together unparsed): a backend
    /// whose storage may hold other text (written there by someone else)
    /// checks it and fails with `InvalidData` naming the key. With
    /// [`Expiry::Read`], each entry also carries its expiry; servers that
    /// keep expiry on their own clock (PostgreSQL, MySQL, Redis) report the
    /// time left, which becomes an instant on this machine's clock.
    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page>;

    /// How many entries a page of `list()` asks for: 256, unless the
    /// backend pays per request enough that bigger pages are worth their
    /// memory (Workers KV, whose API is rate-limited).
    fn list_page_size(&self) -> usize {
        256
    }

    /// Removes the backend's storage (the table). The default says the
    /// backend has none.
    async fn drop_storage(&self) -> Result<()> {
        Err(crate::error::Error::new(
            crate::error::ErrorKind::Unsupported,
            format!("{}: this store has no table to drop", self.name()),
        ))
    }

    /// Releases connections and threads. Called once, by [`crate::store::Store`].
    async fn close(&self) -> Result<()>;
}
