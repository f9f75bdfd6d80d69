//! The MySQL/MariaDB backend: the table layout of `@fedify/mysql`, through a
//! sqlx connection pool that connects on first use.
//!
//! - `get`, `set`, `delete` and `list` are one prepared statement each.
//! - `cas` on an absent key is one `INSERT` that the primary key lets only
//!   one racer win; otherwise a short transaction locks the row with
//!   `SELECT … FOR UPDATE`, compares the JSON in Rust and writes.
//! - Listings are keyset pages over the `key` column, bounded by the key
//!   text range of the prefix (no `LIKE`).
//! - Expired rows are purged in bounded batches through the `expires`
//!   index, at most every few seconds, in the background.

mod error;
mod lease;
mod sql;
#[cfg(test)]
mod tests;

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::json::json_text_equal;
use crate::key::{json_prefix_range, Key};
use crate::net::redact::mask_password;
use crate::net::response_timeout::Timeouts;
use crate::sql::purge::{PurgePolicy, PurgeSchedule, PURGE_TIMEOUT};
pub use crate::sql::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_RESPONSE_TIMEOUT};
use crate::ttl::{now_ms, Ttl};
use async_trait::async_trait;
use error::{code, error_number, mysql_error};
use lease::Lease;
use sql::Sql;
use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::pool::{Pool, PoolOptions};
use sqlx_core::query::{query, Query};
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::row::Row;
use sqlx_core::Url;
use sqlx_mysql::{MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlRow};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const DEFAULT_TABLE: &str = "fedify_kv";

/// The width of the `key` column in characters (`VARCHAR(768)` in Fedify's
/// layout, the most InnoDB can index in utf8mb4). The key's JSON text must fit.
pub const MAX_KEY_CHARS: usize = 768;

/// MySQL identifiers have at most 64 characters, and the index name
/// `idx_<table>_expires` adds 12 (the limit `@fedify/mysql` applies).
const MAX_TABLE_NAME: usize = 50;

/// Expired rows are purged at most this often, each time at most
/// [`PURGE_LIMIT`] rows through the `expires` index: the work follows the
/// number of expired rows, never the size of the table (so a slow purge
/// needs no slowdown).
const PURGE_INTERVAL_MS: i64 = 5_000;
/// After a full batch (more rows are waiting), the next purge comes sooner.
const PURGE_AGAIN_MS: i64 = 1_000;
const PURGE_LIMIT: u32 = 1_000;
static PURGE: PurgePolicy = PurgePolicy {
    interval: Duration::from_millis(PURGE_INTERVAL_MS as u64),
    after_full_batch: Duration::from_millis(PURGE_AGAIN_MS as u64),
    slowdown: 0,
    batch: PURGE_LIMIT as u64,
};

/// How often `cas` starts over when its row changed between two statements
/// or InnoDB chose it as a deadlock victim, before giving up with `Busy`.
const CAS_ATTEMPTS: u32 = 16;

/// A pooled connection idle for longer than this is pinged before use, so
/// that one left dead by a server restart is replaced instead of failing a
/// call. Recently used connections were checked when released.
const IDLE_PING: Duration = Duration::from_secs(1);

/// Where the store lives and how its table is named.
#[derive(Clone)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database` (`mariadb://` too). sqlx's
    /// URL parameters apply (`ssl-mode`, `socket`, `charset`, …). The session
    /// keeps the server's default time zone, as `@fedify/mysql` (mysql2)
    /// does, unless the URL has `timezone=` (give both stores the same).
    pub url: String,
    pub table: String,
    /// Whether the table is known to exist already (skips `CREATE`).
    pub initialized: bool,
    /// The most connections the pool opens at once.
    pub max_connections: u32,
    /// How long an operation waits for a connection (connecting included)
    /// before failing with `ErrorKind::Connection`.
    pub connect_timeout: Duration,
    /// How long an operation waits for the server's answers once it has its
    /// connection, before failing with `ErrorKind::Connection` (the
    /// connection is then closed); `None` waits as long as it takes.
    pub response_timeout: Option<Duration>,
}

impl MysqlConfig {
    pub fn new(url: impl Into<String>) -> Self {
        MysqlConfig {
            url: url.into(),
            table: DEFAULT_TABLE.into(),
            initialized: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
        }
    }
}

impl fmt::Debug for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConfig")
            .field("url", &mask_password(&self.url))
            .field("table", &self.table)
            .field("initialized", &self.initialized)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

fn invalid_option(message: String) -> Error {
    Error::new(ErrorKind::InvalidOption, format!("MySQL: {message}"))
}

/// Table names are spliced into SQL, so only `[A-Za-z_][A-Za-z0-9_]*` of at
/// most 50 characters is accepted (the rule `@fedify/mysql` applies).
pub fn validate_table_name(name: &str) -> Result<()> {
    if crate::sql::names::is_sql_identifier(name, MAX_TABLE_NAME) {
        Ok(())
    } else {
        Err(invalid_option(format!(
            "invalid table name {name:?}: use 1 to {MAX_TABLE_NAME} letters, digits and \
             underscores, not starting with a digit"
        )))
    }
}

/// The driver's options from a URL. Errors never repeat the URL.
fn connect_options(url: &str) -> Result<MySqlConnectOptions> {
    let parsed =
        Url::parse(url).map_err(|e| invalid_option(format!("the URL is not valid ({e})")))?;
    if !matches!(parsed.scheme(), "mysql" | "mariadb") {
        return Err(invalid_option(format!(
            "the URL must start with mysql:// or mariadb://, not {}://",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid_option("the URL names no host".into()));
    }
    let options = MySqlConnectOptions::from_url(&parsed)
        .map_err(|e| invalid_option(format!("the URL is not valid ({e})")))?;
    crate::sql::certificate_files::check("MySQL", &parsed)?;
    // sqlx sets every session to UTC by default; @fedify/mysql leaves the
    // server's default, and `expires` is wall-clock time in the session's
    // zone, so fedikv leaves it too (unless the URL asks for a zone).
    let names_zone = parsed
        .query_pairs()
        .any(|(k, _)| k == "timezone" || k == "time-zone");
    Ok(if names_zone {
        options
    } else {
        options.timezone(None)
    })
}

/// The key as stored: its JSON text, which must fit the column. Checked
/// here, before anything is sent: a server outside strict mode would
/// silently truncate it, merging distinct keys.
fn key_text(key: &Key) -> Result<String> {
    let text = key.to_json();
    if text.len() > MAX_KEY_CHARS {
        let chars = text.chars().count();
        if chars > MAX_KEY_CHARS {
            return Err(Error::invalid_key(format!(
                "MySQL: the key is {chars} characters long as JSON text, and the key column \
                 (VARCHAR({MAX_KEY_CHARS}), the layout of @fedify/mysql) holds at most \
                 {MAX_KEY_CHARS}"
            )));
        }
    }
    Ok(text)
}

/// A TTL in whole microseconds (the precision of `DATETIME(6)`), rounded up
/// so that a value never expires early.
fn ttl_micros(ttl: Option<Ttl>) -> Option<i64> {
    ttl.map(|ttl| ttl.duration().as_nanos().div_ceil(1_000) as i64)
}

/// Column `i` as text. Unchecked because MySQL reports a `JSON` column with
/// a type of its own (MariaDB's is LONGTEXT); both send the JSON text.
fn text_column(row: &MySqlRow, i: usize) -> Result<String, sqlx_core::Error> {
    row.try_get_unchecked::<String, _>(i)
}

/// Why one attempt of `cas` did not finish.
enum CasFailure {
    /// The row changed between two statements, or InnoDB picked this
    /// transaction as a deadlock victim: start over.
    Again,
    Driver(sqlx_core::Error),
    Store(Error),
}

impl From<sqlx_core::Error> for CasFailure {
    fn from(e: sqlx_core::Error) -> Self {
        if error_number(&e) == Some(code::LOCK_DEADLOCK) {
            CasFailure::Again
        } else {
            CasFailure::Driver(e)
        }
    }
}

impl From<Error> for CasFailure {
    fn from(e: Error) -> Self {
        CasFailure::Store(e)
    }
}

/// A MySQL/MariaDB store.
pub struct MysqlBackend {
    options: MySqlConnectOptions,
    max_connections: u32,
    /// With the server's `host:port` (or socket path) for messages.
    timeouts: Timeouts,
    /// Made by the first operation: sqlx's pool starts its maintenance task
    /// on the current runtime, and `new` may run outside one.
    pool: OnceLock<Pool<MySql>>,
    sql: Arc<Sql>,
    initialized: AtomicBool,
    init_lock: tokio::sync::Mutex<()>,
    purge: Arc<PurgeSchedule>,
}

impl MysqlBackend {
    /// Checks the configuration; connects on the first operation.
    pub fn new(config: MysqlConfig) -> Result<MysqlBackend> {
        validate_table_name(&config.table)?;
        let options = connect_options(&config.url)?;
        let (connect, response) = (config.connect_timeout, config.response_timeout);
        if let Some(problem) =
            crate::sql::pool_options_problem(config.max_connections, connect, response)
        {
            return Err(invalid_option(problem.into()));
        }
        let address = crate::sql::address(
            options.get_socket().map(|p| p.as_path()),
            options.get_host(),
            options.get_port(),
        );
        Ok(MysqlBackend {
            options,
            max_connections: config.max_connections,
            timeouts: Timeouts {
                backend: "MySQL",
                address,
                connect,
                response,
            },
            pool: OnceLock::new(),
            sql: Arc::new(Sql::new(&config.table, PURGE_LIMIT)),
            initialized: AtomicBool::new(config.initialized),
            init_lock: tokio::sync::Mutex::new(()),
            purge: Arc::default(),
        })
    }

    fn error(&self, e: sqlx_core::Error) -> Error {
        mysql_error(&self.timeouts, e)
    }

    fn pool(&self) -> &Pool<MySql> {
        self.pool.get_or_init(|| {
            PoolOptions::<MySql>::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.timeouts.connect)
                // sqlx pings every connection when it is released; a ping
                // before each use as well would add a round trip per call.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= IDLE_PING {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                })
                .connect_lazy_with(self.options.clone())
        })
    }

    /// Runs `op` on a pooled connection, the table created first if needed.
    /// `op` gets the connection and gives it back with its result (so that
    /// its future borrows nothing from this call). Its statements get the
    /// response timeout together; a connection cut off by it is closed,
    /// never pooled again (see [`Lease`]). The whole operation takes at
    /// most the connect timeout plus the response timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(Lease) -> Fut,
        Fut: Future<Output = (Lease, Result<T>)>,
    {
        let work = async {
            let conn = self.pool().acquire().await.map_err(|e| self.error(e))?;
            let answered = async {
                let mut conn = Lease::new(conn);
                match self.ensure_table(&mut conn).await {
                    Ok(()) => op(conn).await,
                    Err(e) => (conn, Err(e)),
                }
            };
            let (conn, result) = self.timeouts.answered(answered).await?;
            conn.finish();
            result
        };
        self.timeouts.bounded(work).await
    }

    /// Creates the table and its index once per store (unless configured
    /// as initialized).
    async fn ensure_table(&self, conn: &mut MySqlConnection) -> Result<()> {
        if self.initialized.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.init_lock.lock().await;
        if !self.initialized.load(Ordering::Acquire) {
            raw_sql(self.sql.create_table.clone())
                .execute(&mut *conn)
                .await
                .map_err(|e| self.error(e))?;
            match raw_sql(self.sql.create_index.clone())
                .execute(&mut *conn)
                .await
            {
                Err(e) if error_number(&e) != Some(code::DUP_KEYNAME) => return Err(self.error(e)),
                _ => {}
            }
            self.initialized.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Starts a purge of expired rows in the background if one is due.
    fn maybe_purge(&self) {
        self.purge.after_write(&PURGE, || {
            let (pool, sql) = (self.pool().clone(), self.sql.clone());
            async move {
                // Ends when the store closes (closing waits for lent
                // connections) or after its own timeout; a connection cut
                // off either way is closed.
                let purging = async {
                    let mut conn = Lease::new(pool.acquire().await?);
                    let deleted = query(sql.purge.clone()).execute(&mut *conn).await;
                    conn.finish();
                    deleted.map(|done| done.rows_affected())
                };
                let mut closing = pool.close_event();
                let purging = tokio::time::timeout(PURGE_TIMEOUT, closing.do_until(purging));
                purging.await.ok()?.ok()?.ok()
            }
        });
    }

    /// Runs a one-statement write, again if InnoDB chose it as a deadlock
    /// victim (the statement was rolled back, so running it again is safe).
    /// It can deadlock with a purge: the purge locks `expires` index entries
    /// then rows, a write over an expired row the other way round, and
    /// InnoDB rolls back the smaller transaction, which is the write.
    async fn write_retrying_deadlocks<'q>(
        &self,
        conn: &mut MySqlConnection,
        statement: impl Fn() -> Query<'q, MySql, MySqlArguments>,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            match statement().execute(&mut *conn).await {
                Err(e) if error_number(&e) == Some(code::LOCK_DEADLOCK) && attempt < 3 => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                done => return done.map(|_| ()).map_err(|e| self.error(e)),
            }
        }
    }

    /// `cas`, started over while the row changed under it or InnoDB chose
    /// it as a deadlock victim, up to [`CAS_ATTEMPTS`] times.
    async fn cas_on(
        &self,
        conn: &mut MySqlConnection,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<i64>,
    ) -> Result<bool> {
        for attempt in 0..CAS_ATTEMPTS {
            match self.try_cas(conn, key, expected, new, ttl).await {
                Ok(swapped) => return Ok(swapped),
                Err(CasFailure::Again) => backoff(attempt).await,
                Err(CasFailure::Driver(e)) => return Err(self.error(e)),
                Err(CasFailure::Store(e)) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Busy,
            format!(
                "MySQL: cas gave up after {CAS_ATTEMPTS} attempts: other writers kept changing \
                 the row or deadlocking with it"
            ),
        ))
    }

    /// One attempt of `cas`.
    async fn try_cas(
        &self,
        conn: &mut MySqlConnection,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<i64>,
    ) -> Result<bool, CasFailure> {
        if let (None, Some(value)) = (expected, new) {
            // The common case, an absent key, in one statement. Of racing
            // inserts the primary key lets exactly one succeed; the others
            // fail with ER_DUP_ENTRY, as on a row that is there but
            // expired, and go on to lock and look at the row.
            match query(self.sql.insert.clone())
                .bind(key)
                .bind(value)
                .bind(ttl)
                .execute(&mut *conn)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if error_number(&e) == Some(code::DUP_ENTRY) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut tx = conn.begin().await?;
        // Locks the row, expired or not, until commit: no other writer can
        // change it between the comparison and the write.
        let row = query(self.sql.lock_row.clone())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let current = match &row {
            Some(row) => Some((
                text_column(row, 0)?,
                row.try_get_unchecked::<i64, _>(1)? != 0,
            )),
            None => None,
        };
        let live = match &current {
            Some((value, false)) => Some(value.as_str()),
            _ => None,
        };
        let matches = match (live, expected) {
            (None, None) => true,
            (Some(live), Some(expected)) => json_text_equal(live, expected)?,
            _ => false,
        };
        // Returning drops `tx`, which rolls back and releases the lock.
        if !matches {
            return Ok(false);
        }
        match (current.is_some(), new) {
            (false, None) => return Ok(true),
            // The row our insert collided with has gone since. Inserting
            // here, after a locking read of a missing row, could deadlock
            // on InnoDB's gap locks: start over with the plain insert.
            (false, Some(_)) => return Err(CasFailure::Again),
            (true, None) => {
                query(self.sql.delete.clone())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            (true, Some(value)) => {
                query(self.sql.update.clone())
                    .bind(value)
                    .bind(ttl)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// The pause before `cas` starts over after a deadlock.
async fn backoff(attempt: u32) {
    crate::net::retry::backoff(attempt, Duration::from_micros(200), 10).await
}

#[async_trait]
impl KvBackend for MysqlBackend {
    fn name(&self) -> &'static str {
        "MySQL"
    }

    async fn initialize(&self) -> Result<()> {
        self.run(|conn| async move { (conn, Ok(())) }).await
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        let key = key_text(key)?;
        self.run(|mut conn| async move {
            let row = query(self.sql.get.clone())
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await;
            let value = row
                .and_then(|row| row.map(|row| text_column(&row, 0)).transpose())
                .map_err(|e| self.error(e));
            (conn, value)
        })
        .await
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        let key = key_text(key)?;
        let ttl = ttl_micros(ttl);
        let (key, value) = (&key, &value);
        self.run(|mut conn| async move {
            let done = self
                .write_retrying_deadlocks(&mut conn, || {
                    query(self.sql.upsert.clone())
                        .bind(key)
                        .bind(value)
                        .bind(ttl)
                })
                .await;
            (conn, done)
        })
        .await?;
        self.maybe_purge();
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let key = key_text(key)?;
        let key = &key;
        self.run(|mut conn| async move {
            let done = self
                .write_retrying_deadlocks(&mut conn, || query(self.sql.delete.clone()).bind(key))
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
        let key = key_text(key)?;
        let ttl = ttl_micros(ttl);
        let (key, new) = (&key, new.as_deref());
        let swapped = self
            .run(|mut conn| async move {
                let swapped = self.cas_on(&mut conn, key, expected, new, ttl).await;
                (conn, swapped)
            })
            .await?;
        if swapped {
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
        let after = cursor.unwrap_or("");
        let limit = limit.max(1);
        let read_expiry = expiry == Expiry::Read;
        let (list_all, list_range) = match expiry {
            Expiry::Skip => (&self.sql.list_all, &self.sql.list_range),
            Expiry::Read => (
                &self.sql.list_all_with_expiry,
                &self.sql.list_range_with_expiry,
            ),
        };
        let rows = self
            .run(|mut conn| async move {
                let rows = if prefix.is_empty() {
                    query(list_all.clone())
                        .bind(after)
                        .bind(limit as i64)
                        .fetch_all(&mut *conn)
                        .await
                } else {
                    let (low, high) = json_prefix_range(prefix);
                    query(list_range.clone())
                        .bind(after)
                        .bind(low)
                        .bind(high)
                        .bind(limit as i64)
                        .fetch_all(&mut *conn)
                        .await
                };
                (conn, rows.map_err(|e| self.error(e)))
            })
            .await?;
        let now = now_ms();
        let mut cursor = None;
        let mut entries = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let text = text_column(row, 0).map_err(|e| self.error(e))?;
            // A row whose key is not a KvKey was not written by Fedify or
            // fedikv: it is no entry of this store, and is skipped.
            if let Some(key) = Key::from_stored_json(&text) {
                if key.has_prefix(prefix) {
                    let value = text_column(row, 1).map_err(|e| self.error(e))?;
                    // MariaDB's JSON is LONGTEXT: a table made without the
                    // json_valid check may hold anything, and pages are
                    // spliced unparsed, so only JSON may pass.
                    crate::json::validate_stored("MySQL", &key, &value)?;
                    let expires_at = if read_expiry {
                        let micros_left = row
                            .try_get_unchecked::<Option<i64>, _>(2)
                            .map_err(|e| self.error(e))?;
                        // Rounded up, so that a copy never expires before
                        // the original.
                        micros_left.map(|us| now + (us + 999).div_euclid(1000))
                    } else {
                        None
                    };
                    entries.push(Entry {
                        key,
                        value,
                        expires_at,
                    });
                }
            }
            if i + 1 == limit {
                cursor = Some(text);
            }
        }
        Ok(Page { entries, cursor })
    }

    async fn drop_storage(&self) -> Result<()> {
        let _guard = self.init_lock.lock().await;
        let conn = self.pool().acquire().await.map_err(|e| self.error(e))?;
        let mut conn = Lease::new(conn);
        let dropping = raw_sql(self.sql.drop_table.clone()).execute(&mut *conn);
        let dropped = self.timeouts.answered(dropping).await?;
        conn.finish();
        dropped.map_err(|e| self.error(e))?;
        self.initialized.store(false, Ordering::Release);
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        if let Some(pool) = self.pool.get() {
            pool.close().await;
        }
        Ok(())
    }
}
