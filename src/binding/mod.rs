//! The napi layer: converts JavaScript arguments into Rust types, calls the
//! store, and turns results and errors back. No storage logic lives here.
//!
//! This native class is internal: the public classes (`MemoryKvStore`,
//! `SqliteKvStore`, …) are in `lib/stores.js`, which turns values into JSON text
//! with V8's own `JSON.stringify` (exactly the copy the contract promises)
//! and builds `list()` as an async generator over `listPage`.

use crate::backend::{Expiry, KvBackend, Page};
use crate::exec::{Answer, Schedule};
use crate::key::{parse_prefix, Key};
use crate::memory::MemoryBackend;
use crate::sqlite::SqliteBackend;
use crate::store::Store;
use crate::ttl::Ttl;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

mod error;
mod options;

use error::{settle, to_js};
use options::*;

fn ttl_of(env: &Env, ttl_ms: Option<f64>) -> napi::Result<Option<Ttl>> {
    ttl_ms
        .map(Ttl::from_millis)
        .transpose()
        .map_err(|e| to_js(env, e))
}

fn key_of(env: &Env, json: &str) -> napi::Result<Key> {
    Key::from_json(json).map_err(|e| to_js(env, e))
}

/// One page of a listing. `entries` is one JSON text, an array of
/// `[key, value]` pairs (`[key, value, expiresAt]` when the listing reads
/// expiry: epoch milliseconds, or `null` for none), so that JavaScript
/// parses a whole page with one `JSON.parse` instead of two per entry
/// (measured in docs/architecture.md, "Values across the boundary"). `cursor` continues the listing, or is
/// absent at its end.
#[napi(object)]
pub struct ListPage {
    pub entries: String,
    pub cursor: Option<String>,
}

impl ListPage {
    fn new(page: Page, expiry: Expiry) -> Self {
        use std::fmt::Write;
        let size = page
            .entries
            .iter()
            .map(|e| e.value.len() + 8 * e.key.len() + 32)
            .sum();
        let mut entries = String::with_capacity(size);
        entries.push('[');
        for (i, entry) in page.entries.iter().enumerate() {
            if i > 0 {
                entries.push(',');
            }
            entries.push('[');
            entries.push_str(&entry.key.to_json());
            entries.push(',');
            entries.push_str(&entry.value);
            if expiry == Expiry::Read {
                match entry.expires_at {
                    Some(at) => write!(entries, ",{at}").expect("a String takes any write"),
                    None => entries.push_str(",null"),
                }
            }
            entries.push(']');
        }
        entries.push(']');
        ListPage {
            entries,
            cursor: page.cursor,
        }
    }
}

/// A store of `backend`, whose entries live under `namespace` (a table
/// name, a key prefix) if it has one.
fn native<B: KvBackend + Schedule>(
    env: &Env,
    backend: crate::error::Result<B>,
    namespace: Option<String>,
) -> napi::Result<NativeStore> {
    let backend = Arc::new(backend.map_err(|e| to_js(env, e))?);
    Ok(NativeStore {
        store: Arc::new(Store::shared(backend.clone())),
        schedule: backend,
        in_flight: Arc::default(),
        namespace,
    })
}

// How each backend's operations run (see `crate::exec`). Memory and SQLite
// often answer at once, and a Deno KV file is SQLite: first poll here.
impl Schedule for MemoryBackend {}
impl Schedule for SqliteBackend {}
#[cfg(feature = "denokv")]
impl Schedule for crate::denokv::DenoKvBackend {}
// The first poll writes the request to the socket: here when the store is
// idle, on the runtime's threads under load (the JS thread is what runs out).
#[cfg(feature = "postgres")]
impl Schedule for crate::postgres::PostgresBackend {
    fn first_poll(&self) -> crate::exec::FirstPoll {
        crate::exec::FirstPoll::CallerWhenIdle
    }
}
#[cfg(feature = "mysql")]
impl Schedule for crate::mysql::MysqlBackend {
    fn first_poll(&self) -> crate::exec::FirstPoll {
        crate::exec::FirstPoll::CallerWhenIdle
    }
}
// A Workers KV call only joins its lane's queue (`crate::workerskv`).
#[cfg(feature = "workerskv")]
impl Schedule for crate::workerskv::WorkersKvBackend {}
// Redis's is in `crate::redis` (its event-loop connection).

/// A store of any backend, driven with JSON text. Internal to fedikv.
#[napi]
pub struct NativeStore {
    store: Arc<Store>,
    /// How its operations run: its backend.
    schedule: Arc<dyn Schedule>,
    /// Operations handed to the runtime and not settled yet.
    in_flight: Arc<AtomicUsize>,
    namespace: Option<String>,
}

impl NativeStore {
    /// Runs one store call (see [`crate::exec::run`]).
    fn run<'e, T, F>(&self, env: &'e Env, fut: F) -> napi::Result<Answer<'e, T>>
    where
        T: ToNapiValue + Send + 'static,
        F: Future<Output = crate::error::Result<T>> + Send + 'static,
    {
        crate::exec::run(env, &*self.schedule, &self.in_flight, fut, settle::<T>)
    }
}

impl Drop for NativeStore {
    /// A store dropped without `close()` lets go of the socket its event
    /// loop watches (once its awaited answers are in).
    fn drop(&mut self) {
        crate::exec::release(&*self.schedule);
    }
}

#[napi]
impl NativeStore {
    #[napi(factory, catch_unwind)]
    pub fn memory(env: Env) -> napi::Result<NativeStore> {
        native(&env, Ok(MemoryBackend::new()), None)
    }

    #[napi(factory, catch_unwind)]
    pub fn sqlite(env: Env, path: String, options: SqliteOptions) -> napi::Result<NativeStore> {
        let config = options.config(path);
        let table = config.table.clone();
        native(&env, SqliteBackend::new(config), Some(table))
    }

    /// The table (SQLite, PostgreSQL, MySQL), the key prefix (Redis) or the
    /// namespace id (Workers KV) the store's entries live under, defaults
    /// applied; null for the others.
    #[napi(getter, catch_unwind)]
    pub fn namespace(&self) -> Option<String> {
        self.namespace.clone()
    }

    /// How many entries a page of `list()` asks for.
    #[napi(getter, catch_unwind)]
    pub fn list_page_size(&self) -> u32 {
        self.store.list_page_size() as u32
    }

    /// The backend's name, for messages.
    #[napi(getter, catch_unwind)]
    pub fn backend(&self) -> &'static str {
        self.store.name()
    }

    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.store.is_closed()
    }

    #[napi(ts_return_type = "void | Promise<void>", catch_unwind)]
    pub fn initialize<'e>(&self, env: &'e Env) -> napi::Result<Answer<'e, ()>> {
        let store = self.store.clone();
        self.run(env, async move { store.initialize().await })
    }

    #[napi(
        ts_return_type = "string | null | Promise<string | null>",
        catch_unwind
    )]
    pub fn get<'e>(&self, env: &'e Env, key: String) -> napi::Result<Answer<'e, Option<String>>> {
        let key = key_of(env, &key)?;
        let store = self.store.clone();
        self.run(env, async move { store.get(&key).await })
    }

    /// `value` is JSON text; `null` deletes.
    #[napi(ts_return_type = "void | Promise<void>", catch_unwind)]
    pub fn set<'e>(
        &self,
        env: &'e Env,
        key: String,
        value: Option<String>,
        ttl_ms: Option<f64>,
    ) -> napi::Result<Answer<'e, ()>> {
        let key = key_of(env, &key)?;
        let ttl = ttl_of(env, ttl_ms)?;
        let store = self.store.clone();
        self.run(env, async move { store.set(&key, value, ttl).await })
    }

    #[napi(ts_return_type = "void | Promise<void>", catch_unwind)]
    pub fn delete<'e>(&self, env: &'e Env, key: String) -> napi::Result<Answer<'e, ()>> {
        let key = key_of(env, &key)?;
        let store = self.store.clone();
        self.run(env, async move { store.delete(&key).await })
    }

    /// `expected` and `value` are JSON text; `null` means absent.
    #[napi(ts_return_type = "boolean | Promise<boolean>", catch_unwind)]
    pub fn cas<'e>(
        &self,
        env: &'e Env,
        key: String,
        expected: Option<String>,
        value: Option<String>,
        ttl_ms: Option<f64>,
    ) -> napi::Result<Answer<'e, bool>> {
        let key = key_of(env, &key)?;
        let ttl = ttl_of(env, ttl_ms)?;
        let store = self.store.clone();
        self.run(env, async move {
            store.cas(&key, expected.as_deref(), value, ttl).await
        })
    }

    /// `prefix` is the JSON text of a key, or `null` for everything.
    /// With `withExpiry`, each entry also carries when it expires.
    #[napi(ts_return_type = "ListPage | Promise<ListPage>", catch_unwind)]
    pub fn list_page<'e>(
        &self,
        env: &'e Env,
        prefix: Option<String>,
        cursor: Option<String>,
        limit: u32,
        with_expiry: Option<bool>,
    ) -> napi::Result<Answer<'e, ListPage>> {
        let prefix = match prefix {
            Some(text) => parse_prefix(&text).map_err(|e| to_js(env, e))?,
            None => Vec::new(),
        };
        let expiry = if with_expiry == Some(true) {
            Expiry::Read
        } else {
            Expiry::Skip
        };
        let store = self.store.clone();
        self.run(env, async move {
            let page = store
                .list_page(&prefix, cursor.as_deref(), limit as usize, expiry)
                .await?;
            Ok(ListPage::new(page, expiry))
        })
    }

    #[napi(ts_return_type = "void | Promise<void>", catch_unwind)]
    pub fn drop_storage<'e>(&self, env: &'e Env) -> napi::Result<Answer<'e, ()>> {
        let store = self.store.clone();
        self.run(env, async move { store.drop_storage().await })
    }

    #[napi(ts_return_type = "void | Promise<void>", catch_unwind)]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<Answer<'e, ()>> {
        let store = self.store.clone();
        self.run(env, async move { store.close().await })
    }
}

// napi cannot leave out one method of an `impl` by `cfg`, so the factory
// of each optional backend has an `impl` block of its own.
#[cfg(feature = "redis")]
#[napi]
impl NativeStore {
    /// `urls`: one URL, or with `cluster` the seed nodes of a Redis Cluster.
    #[napi(factory, catch_unwind)]
    pub fn redis(env: Env, urls: Vec<String>, options: RedisOptions) -> napi::Result<NativeStore> {
        let mut config = options.config(urls).map_err(|e| to_js(&env, e))?;
        config.event_loop_connection = crate::exec::libuv::get(env.raw()).is_some();
        let prefix = config.key_prefix.clone();
        native(&env, crate::redis::RedisBackend::new(config), Some(prefix))
    }
}

#[cfg(feature = "postgres")]
#[napi]
impl NativeStore {
    #[napi(factory, catch_unwind)]
    pub fn postgres(env: Env, url: String, options: SqlServerOptions) -> napi::Result<NativeStore> {
        let config = options.postgres(url).map_err(|e| to_js(&env, e))?;
        let table = config.table.clone();
        native(
            &env,
            crate::postgres::PostgresBackend::new(config),
            Some(table),
        )
    }
}

#[cfg(feature = "mysql")]
#[napi]
impl NativeStore {
    #[napi(factory, catch_unwind)]
    pub fn mysql(env: Env, url: String, options: SqlServerOptions) -> napi::Result<NativeStore> {
        let config = options.mysql(url).map_err(|e| to_js(&env, e))?;
        let table = config.table.clone();
        native(&env, crate::mysql::MysqlBackend::new(config), Some(table))
    }
}

#[cfg(feature = "denokv")]
#[napi]
impl NativeStore {
    /// `path_or_url`: a Deno KV file path, or a KV Connect `http(s)://` URL.
    #[napi(factory, catch_unwind)]
    pub fn denokv(
        env: Env,
        path_or_url: String,
        options: DenoKvOptions,
    ) -> napi::Result<NativeStore> {
        let config = options.config(path_or_url).map_err(|e| to_js(&env, e))?;
        native(&env, crate::denokv::DenoKvBackend::new(config), None)
    }
}

#[cfg(feature = "workerskv")]
#[napi]
impl NativeStore {
    #[napi(factory, catch_unwind)]
    pub fn workers_kv(env: Env, options: WorkersKvOptions) -> napi::Result<NativeStore> {
        let config = options.config().map_err(|e| to_js(&env, e))?;
        let namespace = config.namespace_id.clone();
        native(
            &env,
            crate::workerskv::WorkersKvBackend::new(config),
            Some(namespace),
        )
    }
}

/// How long after its expiry an entry may still be read through KV Connect
/// (denokv's lazy expiry collector), in milliseconds.
#[cfg(feature = "denokv")]
#[napi]
pub const KV_CONNECT_EXPIRY_GRACE_MS: u32 = crate::denokv::REMOTE_EXPIRY_GRACE.as_millis() as u32;
