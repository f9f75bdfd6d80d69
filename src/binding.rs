//! The napi layer: converts JavaScript arguments into Rust types, calls the
//! store, and turns results and errors back. No storage logic lives here.
//!
//! This native class is internal: the public classes (`MemoryKvStore`,
//! `SqliteKvStore`, …) are in `index.js`, which turns values into JSON text
//! with V8's own `JSON.stringify` (exactly the copy the contract promises)
//! and builds `list()` as an async generator over `listPage`.

use crate::backend::{Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind};
use crate::exec::{Answer, Schedule};
use crate::key::{parse_prefix, Key};
use crate::memory::MemoryBackend;
use crate::sqlite::{SqliteBackend, SqliteConfig};
use crate::store::Store;
use crate::ttl::Ttl;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// Errors cross as `[CODE] message`; `index.js` turns them into `TypeError`,
/// `RangeError` or `Error` with `code` set (napi cannot reject a promise
/// with a custom code itself).
fn to_js(e: Error) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("[{}] {}", e.kind.code(), e.message),
    )
}

fn settle<T>(result: std::thread::Result<crate::error::Result<T>>) -> napi::Result<T> {
    match result {
        Ok(result) => result.map_err(to_js),
        // A bug must fail one call, not take the Node process down.
        Err(_) => Err(to_js(Error::new(
            ErrorKind::Internal,
            "internal error (a panic in fedikv); please report it",
        ))),
    }
}

fn ttl_of(ttl_ms: Option<f64>) -> napi::Result<Option<Ttl>> {
    ttl_ms.map(Ttl::from_millis).transpose().map_err(to_js)
}

/// One page of a listing. `entries` is one JSON text, an array of
/// `[key, value]` pairs (`[key, value, expiresAt]` when the listing reads
/// expiry: epoch milliseconds, or `null` for none), so that JavaScript
/// parses a whole page with one `JSON.parse` instead of two per entry
/// (measured: 665 → see README). `cursor` continues the listing, or is
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

/// Options of `NativeStore.redis`.
#[cfg(feature = "redis")]
#[napi(object)]
pub struct RedisOptions {
    pub key_prefix: String,
    pub cluster: bool,
    pub connect_timeout_ms: f64,
    /// 0 waits forever.
    pub response_timeout_ms: f64,
    /// PEM text: CAs to trust instead of the system's, a client
    /// certificate and its key (for `rediss://`).
    pub tls_ca: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

/// Options of `NativeStore.postgres`.
#[cfg(feature = "postgres")]
#[napi(object)]
pub struct PostgresOptions {
    pub table_name: String,
    pub initialized: bool,
    pub unlogged: bool,
    pub max_connections: u32,
    pub connect_timeout_ms: f64,
    /// 0 waits forever.
    pub response_timeout_ms: f64,
}

/// Options of `NativeStore.mysql`.
#[cfg(feature = "mysql")]
#[napi(object)]
pub struct MysqlOptions {
    pub table_name: String,
    pub initialized: bool,
    pub max_connections: u32,
    pub connect_timeout_ms: f64,
    /// 0 waits forever.
    pub response_timeout_ms: f64,
}

/// Options of `NativeStore.denokv`.
#[cfg(feature = "denokv")]
#[napi(object)]
pub struct DenoKvOptions {
    /// For a KV Connect URL (`index.js` falls back on `DENO_KV_ACCESS_TOKEN`).
    pub access_token: Option<String>,
    pub connect_timeout_ms: f64,
}

/// A positive number of milliseconds as a duration (`index.js` checks the
/// type; this refuses what would overflow or be zero).
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "denokv"
))]
fn millis(name: &str, ms: f64) -> napi::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(ms / 1000.0)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            to_js(Error::new(
                ErrorKind::InvalidOption,
                format!("{name} must be a positive number of milliseconds, not {ms}"),
            ))
        })
}

/// A response timeout: 0 means none (wait forever).
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
fn optional_millis(name: &str, ms: f64) -> napi::Result<Option<std::time::Duration>> {
    if ms == 0.0 {
        Ok(None)
    } else {
        millis(name, ms).map(Some)
    }
}

fn native<B: KvBackend + Schedule>(backend: B) -> NativeStore {
    let backend = Arc::new(backend);
    NativeStore {
        store: Arc::new(Store::shared(backend.clone())),
        schedule: backend,
        in_flight: Arc::default(),
    }
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
// Redis's is in `crate::redis` (its event-loop connection).

/// A store of any backend, driven with JSON text. Internal to fedikv.
#[napi]
pub struct NativeStore {
    store: Arc<Store>,
    /// How its operations run: its backend.
    schedule: Arc<dyn Schedule>,
    /// Operations handed to the runtime and not settled yet.
    in_flight: Arc<AtomicUsize>,
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
    pub fn memory() -> NativeStore {
        native(MemoryBackend::new())
    }

    #[napi(factory, catch_unwind)]
    pub fn sqlite(
        path: String,
        table_name: String,
        initialized: bool,
    ) -> napi::Result<NativeStore> {
        let config = SqliteConfig {
            path,
            table: table_name,
            initialized,
        };
        Ok(native(SqliteBackend::new(config).map_err(to_js)?))
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
        let key = Key::from_json(&key).map_err(to_js)?;
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
        let key = Key::from_json(&key).map_err(to_js)?;
        let ttl = ttl_of(ttl_ms)?;
        let store = self.store.clone();
        self.run(env, async move { store.set(&key, value, ttl).await })
    }

    #[napi(ts_return_type = "void | Promise<void>", catch_unwind)]
    pub fn delete<'e>(&self, env: &'e Env, key: String) -> napi::Result<Answer<'e, ()>> {
        let key = Key::from_json(&key).map_err(to_js)?;
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
        let key = Key::from_json(&key).map_err(to_js)?;
        let ttl = ttl_of(ttl_ms)?;
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
            Some(text) => parse_prefix(&text).map_err(to_js)?,
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
        use crate::redis::{RedisBackend, RedisConfig};
        let mut config = if options.cluster {
            RedisConfig::cluster(urls)
        } else {
            let [url] = <[String; 1]>::try_from(urls).map_err(|_| {
                to_js(Error::new(
                    ErrorKind::InvalidOption,
                    "Redis: one URL, or an array of cluster nodes",
                ))
            })?;
            RedisConfig::standalone(url)
        };
        config.key_prefix = options.key_prefix;
        config.connect_timeout = millis("connectTimeout", options.connect_timeout_ms)?;
        config.response_timeout = optional_millis("responseTimeout", options.response_timeout_ms)?;
        config.tls = crate::redis::RedisTls {
            ca: options.tls_ca,
            cert: options.tls_cert,
            key: options.tls_key,
        };
        config.event_loop_connection = crate::exec::libuv::get(env.raw()).is_some();
        Ok(native(RedisBackend::new(config).map_err(to_js)?))
    }
}

#[cfg(feature = "postgres")]
#[napi]
impl NativeStore {
    #[napi(factory, catch_unwind)]
    pub fn postgres(url: String, options: PostgresOptions) -> napi::Result<NativeStore> {
        use crate::postgres::{PostgresBackend, PostgresConfig};
        let config = PostgresConfig {
            table: options.table_name,
            initialized: options.initialized,
            unlogged: options.unlogged,
            max_connections: options.max_connections,
            connect_timeout: millis("connectTimeout", options.connect_timeout_ms)?,
            response_timeout: optional_millis("responseTimeout", options.response_timeout_ms)?,
            ..PostgresConfig::new(url)
        };
        Ok(native(PostgresBackend::new(config).map_err(to_js)?))
    }
}

#[cfg(feature = "mysql")]
#[napi]
impl NativeStore {
    #[napi(factory, catch_unwind)]
    pub fn mysql(url: String, options: MysqlOptions) -> napi::Result<NativeStore> {
        use crate::mysql::{MysqlBackend, MysqlConfig};
        let config = MysqlConfig {
            table: options.table_name,
            initialized: options.initialized,
            max_connections: options.max_connections,
            connect_timeout: millis("connectTimeout", options.connect_timeout_ms)?,
            response_timeout: optional_millis("responseTimeout", options.response_timeout_ms)?,
            ..MysqlConfig::new(url)
        };
        Ok(native(MysqlBackend::new(config).map_err(to_js)?))
    }
}

#[cfg(feature = "denokv")]
#[napi]
impl NativeStore {
    /// `path_or_url`: a Deno KV file path, or a KV Connect `http(s)://` URL.
    #[napi(factory, catch_unwind)]
    pub fn denokv(path_or_url: String, options: DenoKvOptions) -> napi::Result<NativeStore> {
        use crate::denokv::{DenoKvBackend, DenoKvConfig};
        let config = DenoKvConfig {
            access_token: options.access_token,
            connect_timeout: millis("connectTimeout", options.connect_timeout_ms)?,
            ..DenoKvConfig::new(path_or_url)
        };
        Ok(native(DenoKvBackend::new(config).map_err(to_js)?))
    }
}
