//! The PostgreSQL backend: the table layout of `@fedify/postgres`
//! (`key text[] PRIMARY KEY, value jsonb NOT NULL, created timestamptz,
//! ttl interval`), through a lazily opened sqlx pool.
//!
//! - Every operation is one statement; `cas` too (see [`Sql`]'s comments
//!   for why each holds against concurrent writers).
//! - Liveness is `ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP`, the
//!   rule of `@fedify/postgres`, on the server's clock.
//! - `list_page` is keyset pagination over the primary key, its index scan
//!   bounded to the prefix (see [`sql::prefix_upper_bound`]).
//! - Expired rows are purged in the background after a write, at most every
//!   [`PURGE_INTERVAL`] (longer if a purge is slow), in bounded batches.

mod error;
mod sql;
mod text;

#[cfg(test)]
mod tests;

use crate::backend::{Entry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::ttl::{now_ms, Ttl};
use async_trait::async_trait;
use error::{connection_lost, postgres_error};
use futures_util::future::BoxFuture;
use sql::{prefix_upper_bound, Sql};
use sqlx_core::error::Error as SqlxError;
use sqlx_core::pool::PoolConnectionMetadata;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::Url;
use sqlx_postgres::types::PgInterval;
use sqlx_postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode, Postgres};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use sql::validate_table_name;

pub const DEFAULT_TABLE: &str = "fedify_kv_v2";
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Expired rows are purged at most this often per store, each time at most
/// [`PURGE_LIMIT`] rows. The layout has no index on expiry, so a purge is a
/// sequential scan that stops at the limit: when few rows are expired it
/// reads the whole table. To keep that a small share of the server's time,
/// the next purge waits [`PURGE_SLOWDOWN`] times as long as the last one
/// took, if that is longer than the interval.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(5);
const PURGE_LIMIT: i64 = 1_000;
const PURGE_SLOWDOWN: u32 = 50;

/// A pooled connection idle this long is pinged before use; a fresh one is
/// used as is (a ping per operation would double its round trips).
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

/// Where the store lives and how its table is named.
#[derive(Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database?sslmode=…` (libpq's
    /// `PG*` environment variables fill in what it leaves out).
    pub url: String,
    /// `table` or `schema.table`; `fedify_kv_v2` by default, as Fedify's.
    pub table: String,
    /// Whether the table is known to exist already (skips `CREATE`).
    pub initialized: bool,
    /// Create the table `UNLOGGED`: faster writes, but emptied after a
    /// server crash and not replicated. Without it, an existing unlogged
    /// table is made logged, as `@fedify/postgres` does.
    pub unlogged: bool,
    /// The most connections the store opens at once.
    pub max_connections: u32,
    /// How long an operation waits for a connection (connecting included)
    /// before failing with a connection error.
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            table: DEFAULT_TABLE.into(),
            initialized: false,
            unlogged: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &mask_password(&self.url))
            .field("table", &self.table)
            .field("initialized", &self.initialized)
            .field("unlogged", &self.unlogged)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The URL with its password (in the user info or a `password=` query
/// parameter) replaced by `****`.
fn mask_password(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return "<not a valid URL>".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("****"));
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "****".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.into()
}

fn invalid_option(message: String) -> Error {
    Error::new(ErrorKind::InvalidOption, format!("PostgreSQL: {message}"))
}

/// The connect options of `url`; never echoes the URL (it may hold a password).
fn connect_options(url: &str) -> Result<PgConnectOptions> {
    let parsed = Url::parse(url).map_err(|e| invalid_option(format!("invalid URL: {e}")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(invalid_option(format!(
            "the URL must start with postgres:// or postgresql://, not {}://",
            parsed.scheme()
        )));
    }
    let options =
        PgConnectOptions::from_str(url).map_err(|e| invalid_option(format!("invalid URL: {e}")))?;
    // This build has no TLS: refuse now what would fail on every
    // connection later.
    if matches!(
        options.get_ssl_mode(),
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
    ) {
        return Err(invalid_option(
            "sslmode=require/verify-ca/verify-full needs TLS, which this build of \
             fedikv does not include"
                .into(),
        ));
    }
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name("fedikv"),
    })
}

/// When the purge may run next, and whether one is running.
#[derive(Default)]
struct PurgeSchedule {
    next_at_ms: AtomicI64,
    running: AtomicBool,
}

/// A PostgreSQL store. Construction only checks the options; the pool is
/// made, and the table created, by the first operation.
pub struct PostgresBackend {
    connect: PgConnectOptions,
    max_connections: u32,
    connect_timeout: Duration,
    /// `host:port` (or the socket path) for messages: never the URL.
    address: String,
    unlogged: bool,
    sql: Sql,
    pool: OnceLock<PgPool>,
    /// When a connection was last found dead: pooled connections opened
    /// before then are dropped instead of reused (after a server restart
    /// they are all dead, and each would fail one operation).
    lost_at: Arc<Mutex<Option<Instant>>>,
    initialized: AtomicBool,
    init_lock: tokio::sync::Mutex<()>,
    purge: Arc<PurgeSchedule>,
    closed: AtomicBool,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("address", &self.address)
            .field("table", &self.sql.quoted_table)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Checks the options (a bad URL or table name is `InvalidOption`);
    /// connects nothing.
    pub fn new(config: PostgresConfig) -> Result<PostgresBackend> {
        validate_table_name(&config.table)?;
        if config.max_connections == 0 {
            return Err(invalid_option("max_connections must be at least 1".into()));
        }
        if config.connect_timeout.is_zero() {
            return Err(invalid_option("connect_timeout must be positive".into()));
        }
        let connect = connect_options(&config.url)?;
        let address = match connect.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", connect.get_host(), connect.get_port()),
        };
        Ok(PostgresBackend {
            connect,
            max_connections: config.max_connections,
            connect_timeout: config.connect_timeout,
            address,
            unlogged: config.unlogged,
            sql: Sql::new(&config.table),
            pool: OnceLock::new(),
            lost_at: Arc::new(Mutex::new(None)),
            initialized: AtomicBool::new(config.initialized),
            init_lock: tokio::sync::Mutex::new(()),
            purge: Arc::default(),
            closed: AtomicBool::new(false),
        })
    }

    fn error(&self, e: SqlxError) -> Error {
        if connection_lost(&e) {
            *lock(&self.lost_at) = Some(Instant::now());
        }
        postgres_error(e, &self.address, self.connect_timeout.as_millis())
    }

    /// The pool, made on first use (it needs the async runtime, which the
    /// synchronous constructor may not have).
    fn pool(&self) -> Result<&PgPool> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed("PostgreSQL"));
        }
        Ok(self.pool.get_or_init(|| {
            let lost_at = self.lost_at.clone();
            PgPoolOptions::new()
                .max_connections(self.max_connections)
                .min_connections(0)
                // Connecting is retried (with backoff) while refused, up to
                // this deadline; then the operation fails with `Connection`.
                .acquire_timeout(self.connect_timeout)
                .test_before_acquire(false)
                .before_acquire(move |conn, meta| usable(conn, meta, lost_at.clone()))
                .connect_lazy_with(self.connect.clone())
        }))
    }

    /// The pool, with the table created first if needed.
    async fn ready(&self) -> Result<&PgPool> {
        let pool = self.pool()?;
        if !self.initialized.load(Ordering::Acquire) {
            let _guard = self.init_lock.lock().await;
            if !self.initialized.load(Ordering::Acquire) {
                self.create_table(pool).await?;
                self.initialized.store(true, Ordering::Release);
            }
        }
        Ok(pool)
    }

    async fn create_table(&self, pool: &PgPool) -> Result<()> {
        let create = if self.unlogged {
            &self.sql.create_unlogged_table
        } else {
            &self.sql.create_table
        };
        let mut attempt = 0;
        loop {
            match query::<Postgres>(create.clone()).execute(pool).await {
                Ok(_) => break,
                // Two sessions running CREATE TABLE IF NOT EXISTS at once
                // can both pass the existence check; the loser fails on the
                // table's row type or a catalog unique index (42710, 23505,
                // 42P07). The table exists then: try again.
                Err(e) if attempt < 5 && creation_race(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
        if !self.unlogged {
            let unlogged: Option<Option<bool>> = query_scalar(self.sql.is_unlogged.clone())
                .bind(&self.sql.quoted_table)
                .fetch_optional(pool)
                .await
                .map_err(|e| self.error(e))?;
            if unlogged.flatten() == Some(true) {
                query(self.sql.set_logged.clone())
                    .execute(pool)
                    .await
                    .map_err(|e| self.error(e))?;
            }
        }
        Ok(())
    }

    /// Runs `op` on the pool (table ready). A statement that may safely run
    /// twice (`idempotent`) is retried once when its connection turns out
    /// dead, so that a server restart costs no failed operation.
    async fn run<T, F, Fut>(&self, idempotent: bool, op: F) -> Result<(T, &PgPool)>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = std::result::Result<T, SqlxError>>,
    {
        let pool = self.ready().await?;
        match op(pool.clone()).await {
            Ok(value) => Ok((value, pool)),
            Err(e) if idempotent && connection_lost(&e) => {
                self.error(e);
                match op(pool.clone()).await {
                    Ok(value) => Ok((value, pool)),
                    Err(e) => Err(self.error(e)),
                }
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// Starts a purge of expired rows in the background if one is due.
    fn maybe_purge(&self, pool: &PgPool) {
        let schedule = &self.purge;
        if now_ms() < schedule.next_at_ms.load(Ordering::Acquire)
            || schedule.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            schedule.running.store(false, Ordering::Release);
            return;
        };
        let (pool, purge, schedule) = (pool.clone(), self.sql.purge.clone(), self.purge.clone());
        runtime.spawn(async move {
            let started = Instant::now();
            let purged = query(purge).bind(PURGE_LIMIT).execute(&pool).await;
            // A full batch means more are waiting: go on at the next write.
            let wait = match purged {
                Ok(done) if done.rows_affected() >= PURGE_LIMIT as u64 => Duration::ZERO,
                _ => PURGE_INTERVAL.max(started.elapsed() * PURGE_SLOWDOWN),
            };
            schedule
                .next_at_ms
                .store(now_ms() + wait.as_millis() as i64, Ordering::Release);
            schedule.running.store(false, Ordering::Release);
        });
    }
}

/// The pool's check before lending an idle connection: drop it if it was
/// opened before a connection was found dead, ping it if idle for long.
fn usable(
    conn: &mut PgConnection,
    meta: PoolConnectionMetadata,
    lost_at: Arc<Mutex<Option<Instant>>>,
) -> BoxFuture<'_, std::result::Result<bool, SqlxError>> {
    Box::pin(async move {
        let opened_at = Instant::now().checked_sub(meta.age);
        let lost_at = *lock(&lost_at);
        if let (Some(lost_at), Some(opened_at)) = (lost_at, opened_at) {
            if opened_at <= lost_at {
                return Ok(false);
            }
        }
        if meta.idle_for >= IDLE_PING_AFTER {
            sqlx_core::connection::Connection::ping(conn).await?;
        }
        Ok(true)
    })
}

fn creation_race(e: &SqlxError) -> bool {
    matches!(e, SqlxError::Database(db)
        if db.code().is_some_and(|c| matches!(&*c, "23505" | "42P07" | "42710")))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only an `Option<Instant>` is kept under this lock: no half-made state.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TTL as an interval of whole milliseconds (rounded up, so a value never
/// expires early), with no month or day part: those would follow the
/// calendar and the session's time zone.
fn interval(ttl: Option<Ttl>) -> Option<PgInterval> {
    ttl.map(|ttl| PgInterval {
        months: 0,
        days: 0,
        microseconds: ttl.as_millis_ceil() * 1000,
    })
}

/// A stored key as the listing's cursor: JSON of its parts (NULL parts
/// included, from rows Fedify and fedikv never write, so that the listing
/// can go past them).
type RawKey = Vec<Option<String>>;

fn cursor_of(key: &RawKey) -> String {
    serde_json::to_string(key).expect("a list of strings serializes")
}

fn parse_cursor(cursor: &str) -> Result<RawKey> {
    serde_json::from_str(cursor).map_err(|_| {
        invalid_option(format!(
            "{cursor:?} is not a list cursor made by this store"
        ))
    })
}

/// The entry of a row, or `None` for a key that is not a `KvKey` (empty,
/// or with NULL parts): no entry of this store.
fn entry(key: RawKey, value: String) -> Option<Entry> {
    let parts: Option<Vec<String>> = key.into_iter().collect();
    let key = Key::new(parts?).ok()?;
    Some(Entry {
        key,
        value: text::compact_json(value),
    })
}

#[async_trait]
impl KvBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    async fn initialize(&self) -> Result<()> {
        self.ready().await.map(|_| ())
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        text::check_parts(key)?;
        let (value, _) = self
            .run(true, |pool| {
                let get = query_scalar::<Postgres, String>(self.sql.get.clone()).bind(key.parts());
                async move { get.fetch_optional(&pool).await }
            })
            .await?;
        Ok(value.map(text::compact_json))
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        text::check_parts(key)?;
        text::check_value(&value)?;
        let ttl = interval(ttl);
        let (_, pool) = self
            .run(true, |pool| {
                let set = query::<Postgres>(self.sql.set.clone())
                    .bind(key.parts())
                    .bind(&value)
                    .bind(ttl);
                async move { set.execute(&pool).await }
            })
            .await?;
        self.maybe_purge(pool);
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        text::check_parts(key)?;
        let (_, pool) = self
            .run(true, |pool| {
                let delete = query::<Postgres>(self.sql.delete.clone()).bind(key.parts());
                async move { delete.execute(&pool).await }
            })
            .await?;
        self.maybe_purge(pool);
        Ok(())
    }

    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        text::check_parts(key)?;
        if let Some(new) = &new {
            text::check_value(new)?;
        }
        // No stored value holds what jsonb cannot: such an expectation
        // cannot match (and the server would refuse to parse it).
        if expected.is_some_and(|e| text::unstorable_escape(e).is_some()) {
            return Ok(false);
        }
        let (sql, ttl) = (&self.sql, interval(ttl));
        let parts = key.parts();
        // Only the swap that writes nothing is a read, safe to run twice.
        let idempotent = expected.is_none() && new.is_none();
        let (swapped, pool) = self
            .run(idempotent, |pool| {
                let statement = match (expected, &new) {
                    (None, None) => {
                        query_scalar::<Postgres, bool>(sql.cas_absent_to_absent.clone()).bind(parts)
                    }
                    (None, Some(new)) => query_scalar(sql.cas_absent_to_value.clone())
                        .bind(parts)
                        .bind(new)
                        .bind(ttl),
                    (Some(expected), Some(new)) => query_scalar(sql.cas_value_to_value.clone())
                        .bind(parts)
                        .bind(new)
                        .bind(ttl)
                        .bind(expected),
                    (Some(expected), None) => query_scalar(sql.cas_value_to_absent.clone())
                        .bind(parts)
                        .bind(expected),
                };
                // Writes return a row only when they swapped; the read
                // returns whether the key is absent.
                async move { Ok(statement.fetch_optional(&pool).await?.unwrap_or(false)) }
            })
            .await?;
        if swapped && !idempotent {
            self.maybe_purge(pool);
        }
        Ok(swapped)
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        text::check_parts(prefix)?;
        let after = cursor.map(parse_cursor).transpose()?;
        let upper = prefix_upper_bound(prefix);
        let limit = limit.max(1);
        let (rows, _) = self
            .run(true, |pool| {
                let sql = &self.sql;
                let statement = match (prefix.is_empty(), &after) {
                    (true, None) => {
                        query_as::<Postgres, (RawKey, String)>(sql.list_all_first.clone())
                            .bind(limit as i64)
                    }
                    (true, Some(after)) => query_as(sql.list_all_after.clone())
                        .bind(limit as i64)
                        .bind(after),
                    (false, after) => {
                        let statement = query_as(match after {
                            None => sql.list_prefix_first.clone(),
                            Some(_) => sql.list_prefix_after.clone(),
                        })
                        .bind(limit as i64)
                        .bind(prefix)
                        .bind(&upper)
                        .bind(prefix.len() as i32);
                        match after {
                            None => statement,
                            Some(after) => statement.bind(after),
                        }
                    }
                };
                async move { statement.fetch_all(&pool).await }
            })
            .await?;
        let cursor = (rows.len() == limit).then(|| cursor_of(&rows[rows.len() - 1].0));
        let entries = rows
            .into_iter()
            .filter_map(|(key, value)| entry(key, value))
            .collect();
        Ok(Page { entries, cursor })
    }

    async fn drop_storage(&self) -> Result<()> {
        let pool = self.pool()?;
        let _guard = self.init_lock.lock().await;
        query(self.sql.drop_table.clone())
            .execute(pool)
            .await
            .map_err(|e| self.error(e))?;
        self.initialized.store(false, Ordering::Release);
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        if let Some(pool) = self.pool.get() {
            pool.close().await;
        }
        Ok(())
    }
}
