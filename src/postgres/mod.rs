//! The PostgreSQL backend: the table layout of `@fedify/postgres`
//! (`key text[] PRIMARY KEY, value jsonb NOT NULL, created timestamptz,
//! ttl interval`), on sqlx's PostgreSQL driver with a pool of its own
//! ([`pool`]), connected lazily.
//!
//! - Every operation is one statement; `cas` too (see [`Sql`]'s comments
//!   for why each holds against concurrent writers).
//! - Liveness is `ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP`, the
//!   rule of `@fedify/postgres`, on the server's clock.
//! - Concurrent `get`s waiting for a connection are answered together,
//!   by one statement for up to [`crate::sql::batch::MAX_BATCH`] keys.
//! - `list_page` is keyset pagination over the primary key, its index scan
//!   bounded to the prefix (see [`sql::prefix_upper_bound`]).
//! - Expired rows are purged in the background after a write, at most every
//!   [`PURGE_INTERVAL`] (longer if a purge is slow), in bounded batches.

mod error;
mod pool;
mod sql;
mod text;

#[cfg(test)]
mod tests;

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::net::redact::mask_password;
use crate::net::response_timeout::Timeouts;
use crate::sql::batch::{self, Batch};
use crate::sql::purge::{PurgePolicy, PurgeSchedule, PURGE_TIMEOUT};
pub use crate::sql::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_RESPONSE_TIMEOUT};
use crate::ttl::{now_ms, Ttl};
use async_trait::async_trait;
use error::{connection_lost, postgres_error};
use pool::{Lease, Pool};
use sql::{prefix_upper_bound, Sql};
use sqlx_core::error::Error as SqlxError;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::Url;
use sqlx_postgres::types::PgInterval;
use sqlx_postgres::{PgConnectOptions, PgConnection, Postgres};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use sql::validate_table_name;

pub const DEFAULT_TABLE: &str = "fedify_kv_v2";

/// Expired rows are purged at most this often per store, each time at most
/// [`PURGE_LIMIT`] rows. The layout has no index on expiry, so a purge is a
/// sequential scan that stops at the limit: when few rows are expired it
/// reads the whole table. To keep that a small share of the server's time,
/// the next purge waits [`PURGE_SLOWDOWN`] times as long as the last one
/// took, if that is longer than the interval.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(5);
const PURGE_LIMIT: i64 = 1_000;
const PURGE_SLOWDOWN: u32 = 50;
static PURGE: PurgePolicy = PurgePolicy {
    interval: PURGE_INTERVAL,
    // A full batch means more are waiting: go on at the next write.
    after_full_batch: Duration::ZERO,
    slowdown: PURGE_SLOWDOWN,
    batch: PURGE_LIMIT as u64,
};

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
    /// How long an operation waits for the server's answers once it has its
    /// connection, before failing with a connection error (the connection
    /// is then closed); `None` waits as long as it takes.
    pub response_timeout: Option<Duration>,
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
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
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
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
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
    crate::sql::certificate_files::check("PostgreSQL", &parsed)?;
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name("fedikv"),
    })
}

/// A PostgreSQL store. Construction only checks the options; the first
/// operation connects and creates the table.
pub struct PostgresBackend {
    /// With the server's `host:port` (or socket path) for messages.
    timeouts: Timeouts,
    unlogged: bool,
    sql: Sql,
    pool: Pool,
    initialized: AtomicBool,
    init_lock: tokio::sync::Mutex<()>,
    purge: Arc<PurgeSchedule>,
    closed: AtomicBool,
    gets: Batch<Key, Option<String>>,
    /// How many statements answered `get`s, for the tests of batching.
    #[cfg(test)]
    read_statements: std::sync::atomic::AtomicUsize,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("address", &self.timeouts.address)
            .field("table", &self.sql.quoted_table)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Checks the options (a bad URL or table name is `InvalidOption`);
    /// connects nothing.
    pub fn new(config: PostgresConfig) -> Result<PostgresBackend> {
        validate_table_name(&config.table)?;
        let (connect, response) = (config.connect_timeout, config.response_timeout);
        if let Some(problem) =
            crate::sql::pool_options_problem(config.max_connections, connect, response)
        {
            return Err(invalid_option(problem.into()));
        }
        let options = connect_options(&config.url)?;
        let address = crate::sql::address(
            options.get_socket().map(|p| p.as_path()),
            options.get_host(),
            options.get_port(),
        );
        Ok(PostgresBackend {
            pool: Pool::new(options, config.max_connections, connect),
            timeouts: Timeouts {
                backend: "PostgreSQL",
                address,
                connect,
                response,
            },
            unlogged: config.unlogged,
            sql: Sql::new(&config.table),
            initialized: AtomicBool::new(config.initialized),
            init_lock: tokio::sync::Mutex::new(()),
            purge: Arc::default(),
            closed: AtomicBool::new(false),
            gets: Batch::default(),
            #[cfg(test)]
            read_statements: Default::default(),
        })
    }

    fn error(&self, e: SqlxError) -> Error {
        if connection_lost(&e) {
            self.pool.connection_lost();
        }
        let t = &self.timeouts;
        postgres_error(e, &t.address, t.connect.as_millis())
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed("PostgreSQL"));
        }
        Ok(())
    }

    /// Runs `op` on a pooled connection, the table created first if needed.
    /// A statement that may safely run twice (`idempotent`) is retried once
    /// on a new connection when its connection turns out dead, so that
    /// a server restart costs no failed operation.
    ///
    /// `op` gets the connection and gives it back with its result (so that
    /// its future borrows nothing from this call). Each statement gets the
    /// response timeout (a connection cut off by it is closed, not pooled:
    /// the lease is dropped unfinished), and the whole operation the
    /// connect timeout plus the response timeout, retry included.
    async fn run<T, F, Fut>(&self, idempotent: bool, op: F) -> Result<T>
    where
        F: Fn(Lease) -> Fut,
        Fut: Future<Output = (Lease, std::result::Result<T, SqlxError>)>,
    {
        self.bounded(self.run_retrying(idempotent, op)).await
    }

    /// Runs `work` if the store is open, within [`Timeouts::operation_limit`].
    async fn bounded<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.check_open()?;
        self.timeouts.bounded(work).await
    }

    async fn run_retrying<T, F, Fut>(&self, idempotent: bool, op: F) -> Result<T>
    where
        F: Fn(Lease) -> Fut,
        Fut: Future<Output = (Lease, std::result::Result<T, SqlxError>)>,
    {
        self.ensure_table().await?;
        self.run_on(None, idempotent, op).await
    }

    /// [`Self::run_retrying`] after the table is there, on `first` if
    /// given, else on a pooled connection.
    async fn run_on<T, F, Fut>(
        &self,
        mut first: Option<Lease>,
        idempotent: bool,
        op: F,
    ) -> Result<T>
    where
        F: Fn(Lease) -> Fut,
        Fut: Future<Output = (Lease, std::result::Result<T, SqlxError>)>,
    {
        let mut retried = !idempotent;
        loop {
            let conn = match first.take() {
                Some(conn) => conn,
                None => self.pool.acquire().await.map_err(|e| self.error(e))?,
            };
            let (mut conn, result) = self.timeouts.answered(op(conn)).await?;
            conn.finished(&result);
            drop(conn);
            match result {
                Ok(value) => return Ok(value),
                Err(e) if !retried && connection_lost(&e) => {
                    self.pool.connection_lost();
                    retried = true;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    /// A `get` that joins the batch of waiting reads (see [`crate::sql::batch`]):
    /// whoever gets a connection first answers everyone queued.
    async fn get_batched(&self, key: &Key) -> Result<Option<String>> {
        self.ensure_table().await?;
        let mut answer = self.gets.join(key.clone());
        // Only the wait for a slot is raced: a connection being opened is
        // kept even if another reader answers this one meanwhile.
        let slot = tokio::select! {
            biased;
            answered = batch::wait(&mut answer, || self.timeouts.too_long()) => return answered,
            slot = self.pool.slot() => slot.map_err(|e| self.error(e))?,
        };
        let conn = self.pool.lease(slot).await.map_err(|e| self.error(e))?;
        let waiters = self.gets.take();
        if waiters.is_empty() {
            // Another reader took this key and is reading it now.
            conn.unused();
        } else {
            let values = {
                let keys: Vec<&Key> = waiters.iter().map(|w| &w.key).collect();
                let keys = &keys;
                self.run_on(Some(conn), true, |conn| self.read_many(conn, keys))
                    .await
            };
            batch::answer(waiters, values);
        }
        batch::wait(answer, || self.timeouts.too_long()).await
    }

    /// The live values of `keys`, in their order: one key by the statement
    /// of a single `get`, several by one statement for all.
    async fn read_many(
        &self,
        mut conn: Lease,
        keys: &[&Key],
    ) -> (Lease, std::result::Result<Vec<Option<String>>, SqlxError>) {
        #[cfg(test)]
        self.read_statements.fetch_add(1, Ordering::Relaxed);
        let values = if let [key] = keys {
            query_scalar::<Postgres, String>(self.sql.get.clone())
                .bind(key.parts())
                .fetch_optional(&mut *conn)
                .await
                .map(|value| vec![value.map(text::compact_json)])
        } else {
            let (mut parts, mut firsts, mut lasts) = (Vec::new(), Vec::new(), Vec::new());
            for key in keys {
                firsts.push(parts.len() as i32 + 1);
                parts.extend_from_slice(key.parts());
                lasts.push(parts.len() as i32);
            }
            query_as::<Postgres, (i64, Option<String>)>(self.sql.get_many.clone())
                .bind(parts)
                .bind(firsts)
                .bind(lasts)
                .fetch_all(&mut *conn)
                .await
                .map(|rows| {
                    let mut values = vec![None; keys.len()];
                    for (n, value) in rows {
                        if let Some(slot) = values.get_mut((n as usize).wrapping_sub(1)) {
                            *slot = value.map(text::compact_json);
                        }
                    }
                    values
                })
        };
        (conn, values)
    }

    /// Creates the table once per store (unless configured as initialized).
    async fn ensure_table(&self) -> Result<()> {
        if self.initialized.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.init_lock.lock().await;
        if !self.initialized.load(Ordering::Acquire) {
            let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
            // Cut off, the connection is dropped unfinished: closed.
            let result = self.timeouts.answered(self.create_table(&mut conn)).await?;
            conn.finished(&result);
            result.map_err(|e| self.error(e))?;
            self.initialized.store(true, Ordering::Release);
        }
        Ok(())
    }

    async fn create_table(&self, conn: &mut PgConnection) -> std::result::Result<(), SqlxError> {
        let create = if self.unlogged {
            &self.sql.create_unlogged_table
        } else {
            &self.sql.create_table
        };
        let mut attempt = 0;
        loop {
            match query::<Postgres>(create.clone()).execute(&mut *conn).await {
                Ok(_) => break,
                // Two sessions running CREATE TABLE IF NOT EXISTS at once
                // can both pass the existence check; the loser fails on the
                // table's row type or a catalog unique index (42710, 23505,
                // 42P07). The table exists then: try again.
                Err(e) if attempt < 5 && creation_race(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
        if !self.unlogged {
            let unlogged: Option<Option<bool>> = query_scalar(self.sql.is_unlogged.clone())
                .bind(&self.sql.quoted_table)
                .fetch_optional(&mut *conn)
                .await?;
            if unlogged.flatten() == Some(true) {
                query(self.sql.set_logged.clone())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts a purge of expired rows in the background if one is due.
    fn maybe_purge(&self) {
        self.purge.after_write(&PURGE, || {
            let (pool, purge) = (self.pool.clone(), self.sql.purge.clone());
            async move {
                let mut conn = pool.acquire().await.ok()?;
                let purging = query(purge).bind(PURGE_LIMIT).execute(&mut *conn);
                // Cut off, the connection is dropped unfinished: closed.
                let purged = tokio::time::timeout(PURGE_TIMEOUT, purging).await.ok()?;
                conn.finished(&purged);
                purged.ok().map(|done| done.rows_affected())
            }
        });
    }
}

fn creation_race(e: &SqlxError) -> bool {
    matches!(e, SqlxError::Database(db)
        if db.code().is_some_and(|c| matches!(&*c, "23505" | "42P07" | "42710")))
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
/// or with NULL parts): no entry of this store. The value needs no check
/// for the page: `jsonb` holds only valid JSON.
fn entry(key: RawKey, value: String) -> Option<Entry> {
    let parts: Option<Vec<String>> = key.into_iter().collect();
    let key = Key::new(parts?).ok()?;
    Some(Entry::new(key, text::compact_json(value)))
}

#[async_trait]
impl KvBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    async fn initialize(&self) -> Result<()> {
        self.check_open()?;
        self.ensure_table().await
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        text::check_parts(key)?;
        self.bounded(self.get_batched(key)).await
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        text::check_parts(key)?;
        text::check_value(&value)?;
        let (ttl, value) = (interval(ttl), &value);
        self.run(true, |mut conn| async move {
            let done = query::<Postgres>(self.sql.set.clone())
                .bind(key.parts())
                .bind(value)
                .bind(ttl)
                .execute(&mut *conn)
                .await;
            (conn, done)
        })
        .await?;
        self.maybe_purge();
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        text::check_parts(key)?;
        self.run(true, |mut conn| async move {
            let done = query::<Postgres>(self.sql.delete.clone())
                .bind(key.parts())
                .execute(&mut *conn)
                .await;
            (conn, done)
        })
        .await?;
        self.maybe_purge();
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
        let (sql, ttl, parts, new) = (&self.sql, interval(ttl), key.parts(), &new);
        // Only the swap that writes nothing is a read, safe to run twice.
        let read_only = expected.is_none() && new.is_none();
        let swapped = self
            .run(read_only, |mut conn| async move {
                let statement = match (expected, new) {
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
                let swapped = statement.fetch_optional(&mut *conn).await;
                (conn, swapped.map(|row| row.unwrap_or(false)))
            })
            .await?;
        if swapped && !read_only {
            self.maybe_purge();
        }
        Ok(swapped)
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        text::check_parts(prefix)?;
        let after = cursor.map(parse_cursor).transpose()?;
        let upper = prefix_upper_bound(prefix);
        let limit = limit.max(1);
        let sql = match expiry {
            Expiry::Skip => &self.sql.list,
            Expiry::Read => &self.sql.list_with_expiry,
        };
        let (after, upper) = (&after, &upper);
        let rows = self
            .run(true, |mut conn| async move {
                let statement = match (prefix.is_empty(), after) {
                    (true, None) => {
                        query_as::<Postgres, (RawKey, String, Option<f64>)>(sql.all_first.clone())
                            .bind(limit as i64)
                    }
                    (true, Some(after)) => query_as(sql.all_after.clone())
                        .bind(limit as i64)
                        .bind(after),
                    (false, None) => query_as(sql.prefix_first.clone())
                        .bind(limit as i64)
                        .bind(prefix)
                        .bind(upper)
                        .bind(prefix.len() as i32),
                    (false, Some(after)) => query_as(sql.prefix_after.clone())
                        .bind(limit as i64)
                        .bind(prefix)
                        .bind(upper)
                        .bind(prefix.len() as i32)
                        .bind(after),
                };
                let rows = statement.fetch_all(&mut *conn).await;
                (conn, rows)
            })
            .await?;
        let now = now_ms();
        let cursor = (rows.len() == limit).then(|| cursor_of(&rows[rows.len() - 1].0));
        let entries = rows
            .into_iter()
            .filter_map(|(key, value, left)| {
                let mut entry = entry(key, value)?;
                // Rounded up, so that a copy never expires before the original.
                entry.expires_at = left.map(|ms| now + ms.ceil() as i64);
                Some(entry)
            })
            .collect();
        Ok(Page { entries, cursor })
    }

    async fn drop_storage(&self) -> Result<()> {
        self.check_open()?;
        let _guard = self.init_lock.lock().await;
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        let dropping = query(self.sql.drop_table.clone()).execute(&mut *conn);
        let result = self.timeouts.answered(dropping).await?;
        conn.finished(&result);
        result.map_err(|e| self.error(e))?;
        self.initialized.store(false, Ordering::Release);
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        self.pool.close().await;
        Ok(())
    }
}
