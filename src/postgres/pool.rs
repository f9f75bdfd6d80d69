//! A small pool of PostgreSQL connections.
//!
//! Why not sqlx's `Pool`: it pings every connection when it comes back
//! (and, by default, before it goes out), a round trip per operation that
//! doubled the latency of a `get` in measurement (76 µs against 36 µs for
//! the statement alone). That ping resynchronises a connection whose user
//! stopped reading halfway; here nothing is handed back halfway: a
//! connection returns to the pool only when its statement ran to the end
//! (successfully or with an error from the server), and sqlx reads any
//! messages left from it before the next statement anyway. A connection
//! whose operation was dropped or failed on the wire is closed instead.

use super::error::connection_lost;
use sqlx_core::connection::Connection;
use sqlx_core::error::Error as SqlxError;
use sqlx_postgres::{PgConnectOptions, PgConnection};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection idle this long is pinged before use (a server or a proxy
/// may have closed it); a fresh one is used as is.
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

/// A connection idle this long is closed when the pool is next used, so an
/// app that went quiet does not hold server processes forever.
const IDLE_CLOSE_AFTER: Duration = Duration::from_secs(600);

/// The longest wait between two attempts to connect to a server that
/// refuses connections (it may be starting).
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Connections, at most `max` lent at once. Cloning shares the pool.
#[derive(Clone)]
pub(super) struct Pool(Arc<Inner>);

struct Inner {
    options: PgConnectOptions,
    connect_timeout: Duration,
    max: usize,
    permits: Arc<Semaphore>,
    /// Idle connections, the most recently used last (it is lent first).
    idle: Mutex<Vec<Idle>>,
    /// When a connection was last found dead: connections opened before
    /// then are closed instead of reused (after a server restart they are
    /// all dead, and each would fail one operation).
    lost_at: Mutex<Option<Instant>>,
    closed: AtomicBool,
}

struct Idle {
    conn: PgConnection,
    opened_at: Instant,
    since: Instant,
}

/// The right to one connection, until the deadline of the acquisition.
pub(super) struct Slot {
    permit: OwnedSemaphorePermit,
    deadline: tokio::time::Instant,
}

/// A connection lent by the pool. It goes back to the pool when dropped
/// only if [`Lease::finished`] said its statement ran to the end.
pub(super) struct Lease {
    conn: Option<PgConnection>,
    opened_at: Instant,
    reusable: bool,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(options: PgConnectOptions, max: u32, connect_timeout: Duration) -> Pool {
        Pool(Arc::new(Inner {
            options,
            connect_timeout,
            max: max as usize,
            permits: Arc::new(Semaphore::new(max as usize)),
            idle: Mutex::new(Vec::new()),
            lost_at: Mutex::new(None),
            closed: AtomicBool::new(false),
        }))
    }

    /// A connection: an idle one, or a new one. Waiting for a free slot and
    /// connecting (retried while the server refuses) take at most the
    /// connect timeout together; then the last connection error, or
    /// `PoolTimedOut`.
    pub async fn acquire(&self) -> Result<Lease, SqlxError> {
        let slot = self.slot().await?;
        self.lease(slot).await
    }

    /// A free slot, the first half of [`Pool::acquire`]: a caller may stop
    /// waiting for one at no cost, while a connection being opened would be
    /// lost.
    pub async fn slot(&self) -> Result<Slot, SqlxError> {
        let deadline = tokio::time::Instant::now() + self.0.connect_timeout;
        match tokio::time::timeout_at(deadline, self.0.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { permit, deadline }),
            Ok(Err(_)) => Err(SqlxError::PoolClosed),
            Err(_) => Err(SqlxError::PoolTimedOut),
        }
    }

    /// A connection in `slot`: an idle one, or a new one.
    pub async fn lease(&self, slot: Slot) -> Result<Lease, SqlxError> {
        let inner = &self.0;
        let Slot { permit, deadline } = slot;
        let lease = |conn, opened_at| Lease {
            conn: Some(conn),
            opened_at,
            reusable: false,
            pool: inner.clone(),
            _permit: permit,
        };
        while let Some(mut idle) = inner.take_idle() {
            if idle.since.elapsed() >= IDLE_PING_AFTER {
                let pinged = tokio::time::timeout_at(deadline, idle.conn.ping()).await;
                if !matches!(pinged, Ok(Ok(()))) {
                    continue;
                }
            }
            return Ok(lease(idle.conn, idle.opened_at));
        }
        let conn = inner.connect(deadline).await?;
        Ok(lease(conn, Instant::now()))
    }

    /// Marks every connection opened until now as suspect: the idle ones
    /// are closed, the lent ones will be when they come back.
    pub fn connection_lost(&self) {
        *lock(&self.0.lost_at) = Some(Instant::now());
        let idle = std::mem::take(&mut *lock(&self.0.idle));
        idle.into_iter().for_each(|idle| discard(idle.conn));
    }

    /// Refuses further leases and closes the idle connections (lent ones
    /// are closed when they come back).
    pub async fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.permits.close();
        let idle = std::mem::take(&mut *lock(&self.0.idle));
        for idle in idle {
            let _ = tokio::time::timeout(Duration::from_secs(1), idle.conn.close()).await;
        }
    }
}

impl Inner {
    fn take_idle(&self) -> Option<Idle> {
        lock(&self.idle).pop()
    }

    async fn connect(&self, deadline: tokio::time::Instant) -> Result<PgConnection, SqlxError> {
        let mut backoff = Duration::from_millis(10);
        let mut last_error = None;
        loop {
            match tokio::time::timeout_at(deadline, PgConnection::connect_with(&self.options)).await
            {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) if worth_retrying(&e) => last_error = Some(e),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(last_error.unwrap_or(SqlxError::PoolTimedOut)),
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(last_error.unwrap_or(SqlxError::PoolTimedOut));
            }
            tokio::time::sleep_until(deadline.min(now + backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn give_back(&self, conn: PgConnection, opened_at: Instant) {
        let suspect = lock(&self.lost_at).is_some_and(|lost_at| opened_at <= lost_at);
        if suspect || self.closed.load(Ordering::Acquire) {
            return discard(conn);
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        // The oldest idle connections are first: close those idle too long.
        let stale = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) >= IDLE_CLOSE_AFTER)
            .count();
        let stale: Vec<Idle> = idle.drain(..stale).collect();
        if idle.len() < self.max {
            idle.push(Idle {
                conn,
                opened_at,
                since: now,
            });
        } else {
            discard(conn);
        }
        drop(idle);
        stale.into_iter().for_each(|i| discard(i.conn));
    }
}

/// A refused connection (the server is starting, or briefly overloaded)
/// may succeed a moment later; other failures (authentication, a missing
/// database, a bad host name) will not.
fn worth_retrying(e: &SqlxError) -> bool {
    match e {
        SqlxError::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        SqlxError::Database(db) => db.code().is_some_and(|c| matches!(&*c, "57P03" | "53300")),
        _ => false,
    }
}

/// Closes a connection politely in the background if there is a runtime
/// to do it on; else just drops its socket.
fn discard(conn: PgConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change under these locks is a push, a pop or an assignment:
    // a panic cannot leave them half-changed.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lease {
    /// Gives the connection back untouched (no statement ran on it).
    pub fn unused(mut self) {
        self.reusable = true;
    }

    /// Records how the statement ended: the connection is reused after
    /// a result or an error the server sent (the connection is still in
    /// step), and closed after any other failure.
    pub fn finished<T>(&mut self, result: &Result<T, SqlxError>) {
        self.reusable = match result {
            Ok(_) => true,
            Err(e) => {
                !connection_lost(e)
                    && matches!(
                        e,
                        SqlxError::Database(_)
                            | SqlxError::RowNotFound
                            | SqlxError::ColumnDecode { .. }
                            | SqlxError::Decode(_)
                    )
            }
        };
    }
}

impl Deref for Lease {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Runs before the permit is released (fields drop after this), so
        // a waiter woken by the permit finds this connection idle.
        if let Some(conn) = self.conn.take() {
            if self.reusable {
                self.pool.give_back(conn, self.opened_at);
            } else {
                discard(conn);
            }
        }
    }
}
