//! The SQLite backend: the table layout of `@fedify/sqlite`, on the bundled
//! SQLite, with one connection owned by a thread of its own so that no
//! blocking call runs on an async runtime's workers.

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::json;
use crate::key::{json_prefix_range, Key};
use crate::ttl::{now_ms, Ttl};
use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

pub const DEFAULT_TABLE: &str = "fedify_kv";

/// How long a statement waits for another connection's lock (another
/// process writing the same file) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Expired rows are purged at most this often, each time at most
/// [`PURGE_LIMIT`] rows through the `expires` index: the work follows the
/// number of expired rows, never the size of the table.
const PURGE_INTERVAL_MS: i64 = 1_000;
const PURGE_LIMIT: i64 = 1_000;

/// Where the store lives and how its table is named.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// A file path, or `:memory:` for a private in-memory database.
    pub path: String,
    pub table: String,
    /// Whether the table is known to exist already (skips `CREATE`).
    pub initialized: bool,
}

impl SqliteConfig {
    pub fn new(path: impl Into<String>) -> Self {
        SqliteConfig {
            path: path.into(),
            table: DEFAULT_TABLE.into(),
            initialized: false,
        }
    }
}

/// Table names are spliced into SQL, so only `[A-Za-z_][A-Za-z0-9_]{0,63}`
/// is accepted (the rule `@fedify/sqlite` applies too).
pub fn validate_table_name(name: &str) -> Result<()> {
    if crate::sql::names::is_sql_identifier(name, 64) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOption,
            format!(
                "SQLite: invalid table name {name:?}: use 1 to 64 letters, digits and \
                 underscores, not starting with a digit"
            ),
        ))
    }
}

/// The statements, with the table name filled in once.
struct Sql {
    create_table: String,
    create_index: String,
    drop_table: String,
    get: String,
    upsert: String,
    delete: String,
    list_all: String,
    list_range: String,
    purge: String,
}

impl Sql {
    fn new(table: &str) -> Sql {
        let t = format!("\"{table}\"");
        const LIVE: &str = "(expires IS NULL OR expires > ?2)";
        Sql {
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, value TEXT NOT NULL, \
                 created INTEGER NOT NULL, expires INTEGER)"
            ),
            create_index: format!(
                "CREATE INDEX IF NOT EXISTS \"idx_{table}_expires\" ON {t} (expires)"
            ),
            drop_table: format!("DROP TABLE IF EXISTS {t}"),
            get: format!("SELECT value FROM {t} WHERE key = ?1 AND {LIVE}"),
            // `created` keeps the first write's time, as @fedify/sqlite does.
            upsert: format!(
                "INSERT INTO {t} (key, value, created, expires) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires"
            ),
            delete: format!("DELETE FROM {t} WHERE key = ?1"),
            // `expires` comes along in every listing: an integer of the row
            // already read costs nothing, and saves a second statement.
            list_all: format!(
                "SELECT key, value, expires FROM {t} WHERE key > ?1 AND {LIVE} \
                 ORDER BY key LIMIT ?3"
            ),
            // ?4..?5 bound the keys under a prefix; see `json_prefix_range`.
            list_range: format!(
                "SELECT key, value, expires FROM {t} \
                 WHERE key > ?1 AND {LIVE} AND key >= ?4 AND key <= ?5 \
                 ORDER BY key LIMIT ?3"
            ),
            purge: format!(
                "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} \
                 WHERE expires IS NOT NULL AND expires <= ?1 LIMIT ?2)"
            ),
        }
    }
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A SQLite store. Work runs where it need not wait: when no earlier call is
/// queued and the connection is free, a call runs at once on the calling
/// thread with a busy timeout of zero (in Node, that is the JS thread, the
/// way `@fedify/sqlite` and better-sqlite3 work, without a thread hop). If it
/// would have to wait for a lock (another process is writing) or the
/// connection is busy, it goes to the store's own thread instead, which
/// waits up to [`BUSY_TIMEOUT`]. Calls stay in the order they were made.
pub struct SqliteBackend {
    worker: Arc<Mutex<Worker>>,
    /// Calls sent to the thread and not finished yet.
    queued: Arc<AtomicUsize>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SqliteBackend {
    /// Starts the store's thread; the database is opened by the first
    /// operation, so a bad path fails there, with `ERR_FEDIKV_CONNECTION`.
    pub fn new(config: SqliteConfig) -> Result<SqliteBackend> {
        validate_table_name(&config.table)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let worker = Arc::new(Mutex::new(Worker {
            sql: Sql::new(&config.table),
            initialized: config.initialized,
            config,
            db: None,
            waits: true,
            next_purge: 0,
            closed: false,
        }));
        let queued = Arc::new(AtomicUsize::new(0));
        let (thread_worker, thread_queued) = (worker.clone(), queued.clone());
        let thread = std::thread::Builder::new()
            .name("fedikv-sqlite".into())
            .spawn(move || {
                for job in rx {
                    let mut worker = lock(&thread_worker);
                    // A job leaves the queue before it replies (so that the
                    // caller's next call may run at once). A panic drops its
                    // reply channel instead, so its caller gets an error,
                    // and the thread lives on for the next job.
                    let job = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut worker)));
                    if job.is_err() {
                        thread_queued.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Backend,
                    format!("SQLite: cannot start a thread: {e}"),
                )
            })?;
        Ok(SqliteBackend {
            worker,
            queued,
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` at once if it need not wait, else on the store's thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Worker) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if self.queued.load(Ordering::Acquire) == 0 {
            if let Ok(mut worker) = self.worker.try_lock() {
                if worker.closed() {
                    return Err(Error::closed("SQLite"));
                }
                worker.set_waits(false)?;
                match f(&mut worker) {
                    Err(e) if e.kind == ErrorKind::Busy => {}
                    done => return done,
                }
            }
        }
        self.run_on_thread(f).await
    }

    async fn run_on_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move |worker| {
            let result = worker.set_waits(true).and_then(|()| f(worker));
            queued.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(result);
        });
        let sent = match &*lock(&self.jobs) {
            Some(jobs) => {
                self.queued.fetch_add(1, Ordering::AcqRel);
                let sent = jobs.send(job).is_ok();
                if !sent {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                }
                sent
            }
            None => false,
        };
        if !sent {
            return Err(Error::closed("SQLite"));
        }
        rx.await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Internal,
                "SQLite: internal error (a panic in fedikv); please report it",
            ))
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is one statement or one assignment, so
    // a panic cannot leave the state half-changed: poisoning is moot.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The state owned by the store's thread.
struct Worker {
    config: SqliteConfig,
    sql: Sql,
    db: Option<Connection>,
    initialized: bool,
    /// Whether the connection waits for locks (on the thread) or fails at
    /// once with `Busy` (when run inline).
    waits: bool,
    next_purge: i64,
    closed: bool,
}

impl Worker {
    fn closed(&self) -> bool {
        self.closed
    }

    fn set_waits(&mut self, waits: bool) -> Result<()> {
        if self.waits != waits {
            if let Some(db) = &self.db {
                db.busy_timeout(if waits { BUSY_TIMEOUT } else { Duration::ZERO })
                    .map_err(sqlite_error)?;
            }
            self.waits = waits;
        }
        Ok(())
    }

    /// The open connection and the statements, opening the database (and
    /// creating the table) first if needed.
    fn db(&mut self) -> Result<(&mut Connection, &Sql)> {
        if self.db.is_none() {
            let db = open_connection(&self.config.path)?;
            if !self.waits {
                db.busy_timeout(Duration::ZERO).map_err(sqlite_error)?;
            }
            self.db = Some(db);
        }
        let db = self.db.as_mut().expect("opened above");
        if !self.initialized {
            db.execute_batch(&format!(
                "{};{};",
                self.sql.create_table, self.sql.create_index
            ))
            .map_err(sqlite_error)?;
            self.initialized = true;
        }
        Ok((db, &self.sql))
    }

    /// Purges a batch of expired rows if the last purge is old enough. Best
    /// effort: it runs after the caller's write has succeeded, so a failure
    /// (another process holds the lock, say) only postpones it.
    fn maybe_purge(&mut self, now: i64) {
        if now < self.next_purge {
            return;
        }
        let deleted = self.db().and_then(|(db, sql)| {
            db.prepare_cached(&sql.purge)
                .and_then(|mut s| s.execute(params![now, PURGE_LIMIT]))
                .map_err(sqlite_error)
        });
        // A full batch means more are waiting: purge again on the next write.
        self.next_purge = match deleted {
            Ok(n) if n as i64 >= PURGE_LIMIT => now,
            _ => now + PURGE_INTERVAL_MS,
        };
    }
}

fn open_connection(path: &str) -> Result<Connection> {
    let db = Connection::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Connection,
            format!("SQLite: cannot open {path:?}: {e}"),
        )
    })?;
    db.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error)?;
    if path != ":memory:" && !path.is_empty() {
        // WAL lets readers in other processes go on while one writes;
        // synchronous = NORMAL is the setting WAL is designed for: a commit
        // survives a crash of the process, and the last commits before a
        // power loss may be lost (the README says so).
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite_error)?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite_error)?;
    }
    Ok(db)
}

fn read_value(db: &Connection, sql: &str, key: &str, now: i64) -> Result<Option<String>> {
    let mut stmt = db.prepare_cached(sql).map_err(sqlite_error)?;
    stmt.query_row(params![key, now], |row| row.get_ref(0).map(text_of))
        .optional()
        .map_err(sqlite_error)?
        .transpose()
}

/// A stored value as text; anything but TEXT was not written by Fedify or fedikv.
fn text_of(value: ValueRef<'_>) -> Result<String> {
    match value {
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidData,
                "SQLite: a stored value is not UTF-8",
            )
        }),
        other => Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "SQLite: a stored value is {:?}, not JSON text",
                other.data_type()
            ),
        )),
    }
}

/// An `expires` cell as epoch milliseconds. Fedify and fedikv write an
/// integer or NULL; a REAL (written by hand) counts too, anything else as none.
fn expiry_of(value: ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(ms) => Some(ms),
        ValueRef::Real(ms) => Some(ms as i64),
        _ => None,
    }
}

/// Maps every SQLite failure to the error kinds; the one place that does.
fn sqlite_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let (kind, hint) = match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::NotADatabase | ErrorCode::PermissionDenied) => {
            (ErrorKind::Connection, "")
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => (
            ErrorKind::Busy,
            " (another connection held the lock longer than the busy timeout of 5 s)",
        ),
        _ => (ErrorKind::Backend, ""),
    };
    Error::new(kind, format!("SQLite: {e}{hint}"))
}

fn expires_at(ttl: Option<Ttl>, now: i64) -> Option<i64> {
    ttl.map(|ttl| ttl.expires_at(now))
}

#[async_trait]
impl KvBackend for SqliteBackend {
    fn name(&self) -> &'static str {
        "SQLite"
    }

    async fn initialize(&self) -> Result<()> {
        self.run(|w| w.db().map(|_| ())).await
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        let key = key.to_json();
        self.run(move |w| {
            let (db, sql) = w.db()?;
            read_value(db, &sql.get, &key, now_ms())
        })
        .await
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        let key = key.to_json();
        self.run(move |w| {
            let now = now_ms();
            let (db, sql) = w.db()?;
            db.prepare_cached(&sql.upsert)
                .and_then(|mut s| s.execute(params![key, value, now, expires_at(ttl, now)]))
                .map_err(sqlite_error)?;
            w.maybe_purge(now);
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let key = key.to_json();
        self.run(move |w| {
            let (db, sql) = w.db()?;
            db.prepare_cached(&sql.delete)
                .and_then(|mut s| s.execute(params![key]))
                .map_err(sqlite_error)?;
            w.maybe_purge(now_ms());
            Ok(())
        })
        .await
    }

    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        let key = key.to_json();
        let expected = expected.map(str::to_owned);
        self.run(move |w| {
            let (db, sql) = w.db()?;
            // IMMEDIATE takes the write lock before reading, so no other
            // connection (in this process or another) can change the row
            // between the comparison and the write.
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            let now = now_ms();
            let current = read_value(&tx, &sql.get, &key, now)?;
            if !json::cas_matches(current.as_deref(), expected.as_deref())? {
                return Ok(false);
            }
            match &new {
                Some(value) => tx
                    .prepare_cached(&sql.upsert)
                    .and_then(|mut s| s.execute(params![key, value, now, expires_at(ttl, now)])),
                None => tx
                    .prepare_cached(&sql.delete)
                    .and_then(|mut s| s.execute(params![key])),
            }
            .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)?;
            w.maybe_purge(now);
            Ok(true)
        })
        .await
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        let prefix = prefix.to_vec();
        let after = cursor.unwrap_or("").to_owned();
        self.run(move |w| {
            let now = now_ms();
            let (db, sql) = w.db()?;
            let limit = limit as i64;
            let row = |r: &rusqlite::Row<'_>| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get_ref(1).map(text_of)?,
                    r.get_ref(2).map(expiry_of)?,
                ))
            };
            let rows: Vec<(String, Result<String>, Option<i64>)> = if prefix.is_empty() {
                let mut stmt = db.prepare_cached(&sql.list_all).map_err(sqlite_error)?;
                let rows = stmt
                    .query_map(params![after, now, limit], row)
                    .map_err(sqlite_error)?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(sqlite_error)?
            } else {
                let (low, high) = json_prefix_range(&prefix);
                let mut stmt = db.prepare_cached(&sql.list_range).map_err(sqlite_error)?;
                let rows = stmt
                    .query_map(params![after, now, limit, low, high], row)
                    .map_err(sqlite_error)?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(sqlite_error)?
            };
            let cursor = (rows.len() as i64 == limit).then(|| rows[rows.len() - 1].0.clone());
            let mut entries = Vec::with_capacity(rows.len());
            for (text, value, expires) in rows {
                // A row whose key is not a KvKey was not written by Fedify
                // or fedikv: it is no entry of this store, and is skipped.
                let Some(key) = Key::from_stored_json(&text) else {
                    continue;
                };
                if key.has_prefix(&prefix) {
                    let value = value.map_err(|e| {
                        Error::new(e.kind, format!("{} (under {})", e.message, key.to_json()))
                    })?;
                    json::validate_stored("SQLite", &key, &value)?;
                    entries.push(Entry {
                        key,
                        value,
                        expires_at: expires.filter(|_| expiry == Expiry::Read),
                    });
                }
            }
            Ok(Page { entries, cursor })
        })
        .await
    }

    async fn drop_storage(&self) -> Result<()> {
        self.run(|w| {
            let drop_table = w.sql.drop_table.clone();
            let db = match &mut w.db {
                Some(db) => db,
                None => {
                    w.db = Some(open_connection(&w.config.path)?);
                    w.db.as_mut().expect("opened above")
                }
            };
            db.execute_batch(&drop_table).map_err(sqlite_error)?;
            w.initialized = false;
            Ok(())
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        // Dropping the sender ends the thread's loop once the jobs already
        // queued are done; the connection closes with it.
        lock(&self.jobs).take();
        let thread = lock(&self.thread).take();
        let worker = self.worker.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(thread) = thread {
                let _ = thread.join();
            }
            let mut worker = lock(&worker);
            worker.closed = true;
            worker.db = None;
        })
        .await
        .ok();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    mod in_memory {
        use super::*;
        conformance::suite!(SqliteBackend::new(SqliteConfig::new(":memory:")).unwrap());
    }

    mod in_a_file {
        use super::*;
        // Files go under target/, not /tmp: the suite builds a backend from
        // an expression and has no hook to remove a directory afterwards.
        conformance::suite!({
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-sqlite");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{}.db", crate::test_support::unique_name("kv")));
            SqliteBackend::new(SqliteConfig::new(path.to_str().unwrap())).unwrap()
        });
    }

    #[test]
    fn table_names_cannot_inject() {
        for bad in [
            "",
            "1abc",
            "a-b",
            "a\"b",
            "t; DROP TABLE x",
            "ü",
            &"a".repeat(65),
        ] {
            assert_eq!(
                validate_table_name(bad).unwrap_err().kind,
                ErrorKind::InvalidOption
            );
        }
        for good in ["fedify_kv", "_t", "T1", &"a".repeat(64)] {
            validate_table_name(good).unwrap();
        }
    }

    #[tokio::test]
    async fn writes_the_layout_of_fedify_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let path = path.to_str().unwrap();
        let b = SqliteBackend::new(SqliteConfig::new(path)).unwrap();
        let key = Key::new(vec!["a".into(), "b\"c".into()]).unwrap();
        b.set(
            &key,
            r#"{"x":1}"#.into(),
            Some(Ttl::from_millis(60_000.0).unwrap()),
        )
        .await
        .unwrap();
        b.close().await.unwrap();

        let db = Connection::open(path).unwrap();
        let (k, v, created, expires): (String, String, i64, i64) = db
            .query_row(
                "SELECT key, value, created, expires FROM fedify_kv",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(k, r#"["a","b\"c"]"#);
        assert_eq!(v, r#"{"x":1}"#);
        assert_eq!(expires - created, 60_000);
        let index: String = db
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fedify_kv' \
                 AND sql IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, "idx_fedify_kv_expires");
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn reads_rows_written_the_fedify_way() {
        // @fedify/sqlite may store a fractional expiry (now + ttl.total("ms")).
        let backend = SqliteBackend::new(SqliteConfig::new(":memory:")).unwrap();
        let far = now_ms() as f64 + 60_000.5;
        let past = now_ms() as f64 - 0.5;
        backend
            .run(move |w| {
                let (db, _) = w.db()?;
                db.execute(
                    "INSERT INTO fedify_kv VALUES ('[\"live\"]', '1', 0, ?1), ('[\"dead\"]', '2', 0, ?2)",
                    params![far, past],
                )
                .map_err(sqlite_error)?;
                Ok(())
            })
            .await
            .unwrap();
        let live = Key::new(vec!["live".into()]).unwrap();
        let dead = Key::new(vec!["dead".into()]).unwrap();
        assert_eq!(backend.get(&live).await.unwrap().as_deref(), Some("1"));
        assert_eq!(backend.get(&dead).await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_that_must_wait_for_a_lock_goes_to_the_thread_and_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let path = path.to_str().unwrap().to_owned();
        let b = SqliteBackend::new(SqliteConfig::new(&path)).unwrap();
        let key = Key::new(vec!["k".into()]).unwrap();
        b.set(&key, "1".into(), None).await.unwrap();

        // Another connection (as another process would) holds the write lock.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        // Timed from before the lock holder's clock starts, so a slow start
        // of this thread under load cannot shorten the measured wait.
        let started = std::time::Instant::now();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        b.set(&key, "2".into(), None).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "it waited for the lock"
        );
        assert_eq!(b.get(&key).await.unwrap().as_deref(), Some("2"));
        release.join().unwrap();
        assert_eq!(b.queued.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_bad_path_is_a_connection_error() {
        let b = SqliteBackend::new(SqliteConfig::new("/nonexistent/dir/kv.db")).unwrap();
        let err = b
            .get(&Key::new(vec!["a".into()]).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connection);
        assert!(err.message.starts_with("SQLite: "), "{}", err.message);
    }

    #[tokio::test]
    async fn closed_store_refuses_work() {
        let b = SqliteBackend::new(SqliteConfig::new(":memory:")).unwrap();
        b.close().await.unwrap();
        let err = b
            .get(&Key::new(vec!["a".into()]).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Closed);
    }
}
