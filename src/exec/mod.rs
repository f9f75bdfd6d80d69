//! How a store's operations run, apart from what they store: where an
//! operation is polled first ([`FirstPoll`]), which backend asks for what
//! ([`Schedule`]), and, for a backend whose socket the JS thread's own event
//! loop drives ([`LocalIo`]), the executor that does it ([`event_loop`], on
//! Node's libuv, found at run time by [`libuv`]).
//!
//! The storage contract ([`crate::backend::KvBackend`]) knows nothing of
//! threads or event loops; the binding asks [`run`] to run each call.

pub mod event_loop;
pub mod libuv;

use futures_util::FutureExt;
use napi::bindgen_prelude::{within_runtime_if_available, Either, Env, PromiseRaw, ToNapiValue};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Where an operation is polled first.
// Only Redis asks for the runtime or the event loop.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPoll {
    /// On the caller's (the JS) thread, always: the backend often answers
    /// at once (memory, SQLite), with no promise and no thread hop.
    Caller,
    /// On the caller's thread when none of the store's operations is in
    /// flight, else on the runtime. The first poll writes the request to
    /// the socket (PostgreSQL, MySQL): alone, that saves a thread wake-up;
    /// under load the JS thread is what runs out (measured in
    /// docs/architecture.md, "Where a call runs"), and the runtime's
    /// threads should write instead.
    CallerWhenIdle,
    /// On the runtime, always: the first poll would only hand the request
    /// to a task of the backend's own (Redis's multiplexed connection),
    /// waking it from the JS thread, one thread wake-up more per call.
    Runtime,
    /// On the caller's thread, and there to the end: the backend's socket is
    /// watched by the caller's event loop ([`Schedule::local_io`]), so the
    /// answer is read, and the promise settled, on the JS thread with no
    /// thread hop. Whatever else the operation waits for (the runtime's
    /// connections) wakes it there too.
    Local,
}

/// A socket as the caller's event loop would watch it: a file descriptor
/// on Unix, a `SOCKET` on Windows (where no event loop drives one: see
/// [`libuv`], which finds Node's libuv on Unix only).
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

/// How a backend's operations want to run. Asked on the caller's thread
/// before each operation. The default: first poll on the caller's thread.
pub trait Schedule: Send + Sync + 'static {
    /// Where an operation's first poll runs; see [`FirstPoll`].
    fn first_poll(&self) -> FirstPoll {
        FirstPoll::Caller
    }

    /// The socket the caller's event loop drives, for a backend whose
    /// `first_poll` may say [`FirstPoll::Local`].
    fn local_io(&self) -> Option<Arc<dyn LocalIo>> {
        None
    }
}

/// What a native call returns: the result itself when the store had it at
/// once (memory, or SQLite when nothing had to wait), else a promise.
pub type Answer<'e, T> = Either<T, PromiseRaw<'e, T>>;

/// What turns an operation's outcome (a panic caught as `Err`) into the
/// call's result; called on the JS thread, so that it can build the error's
/// JS object.
pub type Settle<T> = fn(&Env, std::thread::Result<crate::error::Result<T>>) -> napi::Result<T>;

/// Runs one operation of a store whose backend asks for `schedule`: polls it
/// once here, on the JS thread (inside the tokio runtime's context), when
/// the [`FirstPoll`] says so; if it finished, returns (or throws) its result
/// with no promise and no thread hop; if it must wait, hands it to napi's
/// tokio runtime and returns a promise; or, for [`FirstPoll::Local`], keeps
/// it on this thread's event loop. `in_flight` counts the store's operations
/// on the runtime. The JS layer awaits either answer the same way.
pub fn run<'e, T, F>(
    env: &'e Env,
    schedule: &dyn Schedule,
    in_flight: &Arc<AtomicUsize>,
    fut: F,
    settle: Settle<T>,
) -> napi::Result<Answer<'e, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = crate::error::Result<T>> + Send + 'static,
{
    let mut fut = Box::pin(AssertUnwindSafe(fut).catch_unwind());
    let policy = schedule.first_poll();
    if policy == FirstPoll::Local && event_loop::ready(env.raw()) {
        if let Some(io) = schedule.local_io() {
            return event_loop::run(env, &io, fut, settle);
        }
    }
    let here = match policy {
        FirstPoll::Caller => true,
        FirstPoll::CallerWhenIdle => in_flight.load(Ordering::Relaxed) == 0,
        FirstPoll::Runtime | FirstPoll::Local => false,
    };
    if here {
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(result) = within_runtime_if_available(|| fut.as_mut().poll(&mut cx)) {
            return settle(env, result).map(Either::A);
        }
    }
    // Counted only where the count decides something.
    let in_flight = (policy == FirstPoll::CallerWhenIdle).then(|| InFlight::new(in_flight));
    env.spawn_future_with_callback(
        async move {
            let outcome = fut.await;
            drop(in_flight);
            Ok(outcome)
        },
        // Called on the JS thread, where the error's object can be made.
        settle,
    )
    .map(Either::B)
}

/// Lets go of the socket a store's event loop watches (once its awaited
/// answers are in): for a store dropped without `close()`.
pub fn release(schedule: &dyn Schedule) {
    if let Some(io) = schedule.local_io() {
        io.close();
        event_loop::sync(&io);
    }
}

/// Counts one operation handed to the runtime until it settles (or is
/// dropped).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
