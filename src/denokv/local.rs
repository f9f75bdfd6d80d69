//! A local Deno KV database file, in the layout of Deno's `Deno.openKv(path)`
//! and the npm `@deno/kv`.
//!
//! Writes go through `denokv_sqlite` (its writer thread owns the one write
//! connection, keeps Deno's version numbers, migrations and expiry
//! collector), so the file stays exactly as Deno keeps it. Reads run on
//! connections of fedikv's own to the same file (WAL lets them read while
//! the writer writes), because `denokv_sqlite`'s reads do not tell expired
//! entries from live ones: Deno collects expired rows lazily (on a timer
//! that may be a minute late), while `kv.expiration_ms` says exactly when a
//! row expired. Reads filter on it, so an expired entry is never returned.
//! Like the SQLite store's, a read runs at once on the calling thread when
//! it need not wait for a lock, and on a blocking thread when it must.

use super::error::{open_error, sqlite_error, writer_error};
use super::{RangeEntry, Row};
use crate::error::{Error, ErrorKind, Result};
use crate::ttl::now_ms;
use denokv_proto::{
    decode_value, AtomicWrite, AtomicWriteOutcome, Check, KvValue, Mutation, MutationKind,
    Versionstamp,
};
use denokv_sqlite::{Sqlite, SqliteBackendError, SqliteNotifier};
use rand08::SeedableRng;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a read or write waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections kept open between calls.
const IDLE_READERS: usize = 4;

/// The reads, on Deno KV's own `kv` table (`k` the encoded key, `v` and
/// `v_encoding` the value, `version` the versionstamp's number,
/// `expiration_ms` the expiry in epoch milliseconds or -1).
mod sql {
    /// A live value.
    pub const GET: &str = "SELECT v, v_encoding FROM kv \
         WHERE k = ?1 AND (expiration_ms < 0 OR expiration_ms > ?2)";
    /// The row, expired or not, for `cas` (which must check its version).
    pub const GET_ROW: &str = "SELECT v, v_encoding, version, expiration_ms FROM kv WHERE k = ?1";
    /// Live entries of a key range, in Deno's key order, with their
    /// expiry (an integer of the row already read: it costs nothing).
    pub const RANGE: &str = "SELECT k, v, v_encoding, expiration_ms FROM kv \
         WHERE k >= ?1 AND k < ?2 AND (expiration_ms < 0 OR expiration_ms > ?3) \
         ORDER BY k LIMIT ?4";
    /// Every key of a range, expired or not (for `drop_storage`).
    pub const KEYS: &str = "SELECT k FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k LIMIT ?3";
}

pub(super) struct Local {
    path: String,
    open: Mutex<Option<Arc<Open>>>,
    opening: tokio::sync::Mutex<()>,
}

/// The open database: `denokv_sqlite`'s writer and idle read connections.
struct Open {
    writer: Sqlite,
    readers: Mutex<Vec<Connection>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change under these locks is one assignment or push/pop: a panic
    // cannot leave the state half-changed, so poisoning is moot.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Local {
    pub fn new(path: String) -> Local {
        Local {
            path,
            open: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// The open database, opening (creating, migrating) the file first.
    async fn open(&self) -> Result<Arc<Open>> {
        if let Some(open) = lock(&self.open).clone() {
            return Ok(open);
        }
        let _opening = self.opening.lock().await;
        if let Some(open) = lock(&self.open).clone() {
            return Ok(open);
        }
        let path = self.path.clone();
        let open = tokio::task::spawn_blocking(move || Open::new(&path))
            .await
            .map_err(|e| internal(&e))??;
        let open = Arc::new(open);
        *lock(&self.open) = Some(open.clone());
        Ok(open)
    }

    /// Runs the read `f` on a read connection: at once if no lock is in the
    /// way, else on a blocking thread that waits up to [`BUSY_TIMEOUT`].
    async fn read<T: Send + 'static>(
        &self,
        f: impl Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let open = self.open().await?;
        let conn = open.reader(&self.path)?;
        match f(&conn) {
            Err(e) if is_busy(&e) => {}
            done => {
                open.put_back(conn);
                return done.map_err(sqlite_error);
            }
        }
        tokio::task::spawn_blocking(move || {
            let result = conn.busy_timeout(BUSY_TIMEOUT).and_then(|()| {
                // SQLite answers SQLITE_BUSY at once, without waiting, in
                // some WAL situations (another connection switching the
                // file to WAL, say): try again until the busy timeout.
                let started = std::time::Instant::now();
                loop {
                    match f(&conn) {
                        Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        done => return done,
                    }
                }
            });
            if conn.busy_timeout(Duration::ZERO).is_ok() {
                open.put_back(conn);
            }
            result
        })
        .await
        .map_err(|e| internal(&e))?
        .map_err(sqlite_error)
    }

    pub async fn initialize(&self) -> Result<()> {
        self.open().await.map(|_| ())
    }

    /// The live value under the encoded key.
    pub async fn get(&self, key: Vec<u8>) -> Result<Option<KvValue>> {
        self.read(move |db| {
            db.prepare_cached(sql::GET)?
                .query_row(params![key, now_ms()], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
                })
                .optional()
        })
        .await?
        .map(|(v, encoding)| decode(v, encoding))
        .transpose()
    }

    /// The row under the encoded key, expired or not.
    pub async fn row(&self, key: Vec<u8>) -> Result<Option<Row>> {
        let row = self
            .read(move |db| {
                db.prepare_cached(sql::GET_ROW)?
                    .query_row(params![key], |row| {
                        Ok((
                            row.get::<_, Vec<u8>>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, i64>(3)?,
                        ))
                    })
                    .optional()
            })
            .await?;
        let Some((v, encoding, version, expiration_ms)) = row else {
            return Ok(None);
        };
        Ok(Some(Row {
            value: decode(v, encoding)?,
            versionstamp: versionstamp(version),
            live: expiration_ms < 0 || expiration_ms > now_ms(),
        }))
    }

    /// Up to `limit` live entries of `[start, end)`, each with its expiry.
    pub async fn range(
        &self,
        start: Vec<u8>,
        end: Vec<u8>,
        limit: usize,
    ) -> Result<Vec<RangeEntry>> {
        let rows = self
            .read(move |db| {
                let mut stmt = db.prepare_cached(sql::RANGE)?;
                let rows = stmt.query_map(params![start, end, now_ms(), limit as i64], |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        rows.into_iter()
            .map(|(key, v, encoding, expiration_ms)| {
                Ok(RangeEntry {
                    key,
                    value: decode(v, encoding)?,
                    // -1: no expiry.
                    expires_at: (expiration_ms >= 0).then_some(expiration_ms),
                })
            })
            .collect()
    }

    /// Up to `limit` keys of `[start, end)`, expired or not.
    pub async fn keys(&self, start: Vec<u8>, end: Vec<u8>, limit: usize) -> Result<Vec<Vec<u8>>> {
        self.read(move |db| {
            let mut stmt = db.prepare_cached(sql::KEYS)?;
            let rows = stmt.query_map(params![start, end, limit as i64], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    /// Commits `write` unless one of its checks fails (`Ok(false)`).
    pub async fn write(&self, write: AtomicWrite) -> Result<bool> {
        let open = self.open().await?;
        let started = std::time::Instant::now();
        let mut write = write;
        let outcome = loop {
            let again = duplicate(&write);
            match open.writer.atomic_write(write).await {
                // denokv_sqlite retries a busy transaction, but not a write
                // whose lock upgrade failed (another process committed since
                // the write's transaction began: SQLITE_BUSY_SNAPSHOT, with
                // no busy wait). Nothing of it was written: write it again.
                Err(SqliteBackendError::SqliteError(e))
                    if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT && again.is_some() =>
                {
                    write = again.expect("checked above");
                    let jitter = u64::from(started.elapsed().subsec_nanos() % 4_000);
                    tokio::time::sleep(Duration::from_micros(500 + jitter)).await;
                }
                outcome => break outcome,
            }
        };
        match outcome {
            Ok(AtomicWriteOutcome::Committed(_)) => Ok(true),
            Ok(AtomicWriteOutcome::CheckFailed { .. }) => Ok(false),
            Err(e) => {
                if matches!(e, SqliteBackendError::DatabaseClosed) {
                    // The writer thread is gone (it stops on a failure of
                    // its expiry collector, say): open the file afresh next
                    // time rather than failing forever.
                    let mut current = lock(&self.open);
                    if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &open)) {
                        *current = None;
                    }
                }
                Err(writer_error(e))
            }
        }
    }

    /// Stops the writer thread and closes every connection.
    pub async fn close(&self) -> Result<()> {
        let open = lock(&self.open).take();
        if let Some(open) = open {
            // Joins the writer thread: off the async runtime. A writer that
            // had panicked makes the join panic; that is no failure to close.
            let _ = tokio::task::spawn_blocking(move || open.writer.close()).await;
        }
        Ok(())
    }
}

impl Open {
    fn new(path: &str) -> Result<Open> {
        let conn = open_connection(path, true)?;
        let mut conn = Some(conn);
        let writer = Sqlite::new(
            move || {
                let conn = conn.take().ok_or_else(|| {
                    deno_error::JsErrorBox::generic("one worker needs one connection")
                })?;
                let rng: Box<dyn rand08::RngCore + Send> =
                    Box::new(rand08::rngs::StdRng::from_entropy());
                Ok((conn, rng))
            },
            SqliteNotifier::default(),
            denokv_sqlite::SqliteConfig {
                num_workers: 1,
                batch_timeout: None,
            },
        )
        .map_err(|e| open_error(path, e))?;
        Ok(Open {
            writer,
            readers: Mutex::new(Vec::new()),
        })
    }

    fn reader(&self, path: &str) -> Result<Connection> {
        if let Some(conn) = lock(&self.readers).pop() {
            return Ok(conn);
        }
        let conn = open_connection(path, false)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(sqlite_error)?;
        conn.busy_timeout(Duration::ZERO).map_err(sqlite_error)?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut readers = lock(&self.readers);
        if readers.len() < IDLE_READERS {
            readers.push(conn);
        }
    }
}

/// A connection to the file; `create` for the first (the writer's), which
/// may create the file, as `Deno.openKv(path)` does.
fn open_connection(path: &str, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error)?;
    // WAL (which denokv_sqlite turns on) is designed for synchronous =
    // NORMAL: a commit survives a crash of the process; the last commits
    // before a power loss may be lost, as with the SQLite store.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite_error)?;
    Ok(conn)
}

/// A copy of a write of the kinds this store makes (set and delete), to
/// try it again; `None` for any other kind.
fn duplicate(write: &AtomicWrite) -> Option<AtomicWrite> {
    let mutations = write
        .mutations
        .iter()
        .map(|m| {
            let kind = match &m.kind {
                MutationKind::Set(KvValue::V8(v)) => MutationKind::Set(KvValue::V8(v.clone())),
                MutationKind::Set(KvValue::Bytes(v)) => {
                    MutationKind::Set(KvValue::Bytes(v.clone()))
                }
                MutationKind::Set(KvValue::U64(n)) => MutationKind::Set(KvValue::U64(*n)),
                MutationKind::Delete => MutationKind::Delete,
                _ => return None,
            };
            Some(Mutation {
                key: m.key.clone(),
                kind,
                expire_at: m.expire_at,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let checks = write
        .checks
        .iter()
        .map(|c| Check {
            key: c.key.clone(),
            versionstamp: c.versionstamp,
        })
        .collect();
    write.enqueues.is_empty().then_some(AtomicWrite {
        checks,
        mutations,
        enqueues: Vec::new(),
    })
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn decode(v: Vec<u8>, encoding: i64) -> Result<KvValue> {
    // `decode_value` would panic on a KvU64 that is not 8 bytes long.
    if encoding == denokv_proto::VALUE_ENCODING_LE64 && v.len() != 8 {
        return Err(Error::new(
            ErrorKind::InvalidData,
            "Deno KV: a stored Deno.KvU64 is not 8 bytes long",
        ));
    }
    decode_value(v, encoding).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidData,
            format!("Deno KV: a stored value has an unknown encoding ({encoding})"),
        )
    })
}

/// The versionstamp of a row's version, as `denokv_sqlite` makes it.
fn versionstamp(version: i64) -> Versionstamp {
    let mut stamp = [0; 10];
    stamp[..8].copy_from_slice(&version.to_be_bytes());
    stamp
}

fn internal(e: &tokio::task::JoinError) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("Deno KV: internal error (a panic in fedikv: {e}); please report it"),
    )
}
