//! The seam between the JavaScript classes and the storage: one trait that
//! every backend implements. A backend knows nothing of napi; the binding
//! knows nothing of SQL. Conveniences (`set` of `undefined` as a delete,
//! streaming `list`, the closed state) live in [`crate::store::Store`].

use crate::error::Result;
use crate::key::Key;
use crate::ttl::Ttl;
use async_trait::async_trait;

/// Where the binding polls an operation first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPoll {
    /// On the caller's (the JS) thread, always: the backend often answers
    /// at once (memory, SQLite), with no promise and no thread hop.
    Caller,
    /// On the caller's thread when none of the store's operations is in
    /// flight, else on the runtime. The first poll writes the request to
    /// the socket (PostgreSQL, MySQL): alone, that saves a thread wake-up;
    /// under load the JS thread is what runs out (measured in the README's
    /// design notes), and the runtime's threads should write instead.
    CallerWhenIdle,
    /// On the runtime, always: the first poll would only hand the request
    /// to a task of the backend's own (Redis's multiplexed connection),
    /// waking it from the JS thread, one thread wake-up more per call.
    Runtime,
    /// On the caller's thread, and there to the end: the backend's socket is
    /// watched by the caller's event loop ([`KvBackend::local_io`]), so the
    /// answer is read, and the promise settled, on the JS thread with no
    /// thread hop. Whatever else the operation waits for (the runtime's
    /// connections) wakes it there too.
    Local,
}

/// A socket as the caller's event loop would watch it: a file descriptor
/// on Unix, a `SOCKET` on Windows (where no event loop drives one: see
/// `libuv.rs`, which finds Node's libuv on Unix only).
#[cfg(unix)]
pub type RawSocket = std::os::fd::RawFd;
#[cfg(windows)]
pub type RawSocket = std::os::windows::io::RawSocket;

/// What the caller's event loop should watch for a backend whose
/// operations stay on the caller's thread ([`FirstPoll::Local`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The socket; it stays open until [`LocalIo::release`].
    pub fd: RawSocket,
    /// Whether there is something left to write.
    pub write: bool,
    /// Whether answers are awaited (the event loop must not exit).
    pub busy: bool,
    /// How long until the oldest awaited answer is overdue
    /// ([`LocalIo::expire`]).
    pub deadline: Option<std::time::Duration>,
    /// The socket is no longer used: stop watching it and call
    /// [`LocalIo::release`].
    pub done: bool,
}

/// A socket the caller's event loop drives. Every method but `close` is
/// called on the thread that owns the event loop; each may complete the
/// backend's futures (which then wake on that thread).
pub trait LocalIo: Send + Sync {
    /// What to watch now; `None` when there is no socket.
    fn watch(&self) -> Option<Watch>;
    /// The socket can be read or written (or has failed; the next read or
    /// write says how). The event loop also calls `ready(false, true)`
    /// after the operations it woke have run, so that what they sent
    /// meanwhile may wait for it and go out in one write.
    fn ready(&self, readable: bool, writable: bool);
    /// Called when a [`Watch::deadline`] passed: fails what is overdue.
    fn expire(&self);
    /// The event loop no longer watches `fd`: it may be closed.
    fn release(&self, fd: RawSocket);
    /// No new operations; the socket is let go once the awaited answers are
    /// in. Any thread.
    fn close(&self);
}

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

    /// Where an operation's first poll runs; see [`FirstPoll`]. Asked on the
    /// caller's thread before each operation.
    fn first_poll(&self) -> FirstPoll {
        FirstPoll::Caller
    }

    /// The socket the caller's event loop drives, for a backend whose
    /// `first_poll` may say [`FirstPoll::Local`].
    fn local_io(&self) -> Option<std::sync::Arc<dyn LocalIo>> {
        None
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
