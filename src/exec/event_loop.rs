//! Operations kept on the JS thread ([`FirstPoll::Local`]): their futures
//! are polled here, the sockets they wait on are watched by Node's own
//! event loop (libuv, whose functions Node exports to addons and
//! [`super::libuv`] finds at run time, on Node only), and their
//! promises are settled here — no thread hop between the call, the socket
//! and the answer.
//!
//! One executor per JS thread (the main thread, each worker). A future is
//! polled again when its waker fires: on this thread (a socket became
//! readable, so its reply came) it is queued and run at the end of the
//! libuv callback; from another thread (a future that also waits on the
//! runtime), through a `uv_async_t`. Settling runs in a callback scope, so
//! the promise's reactions run before libuv goes on, as for any Node I/O.
//!
//! [`FirstPoll::Local`]: super::FirstPoll::Local

use super::libuv::{self, Handle, Libuv, UV_ASYNC, UV_POLL, UV_READABLE, UV_TIMER, UV_WRITABLE};
use super::{LocalIo, RawSocket};
use napi::bindgen_prelude::{within_runtime_if_available, Either, PromiseRaw, ToNapiValue};
use napi::sys;
use std::cell::RefCell;
use std::ffi::{c_int, c_void, CStr};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

/// The process's libuv: only code that runs once [`ready`] found it (or
/// on a handle made since) calls it.
fn uv() -> &'static Libuv {
    libuv::loaded()
}

fn layout(kind: c_int) -> std::alloc::Layout {
    // SAFETY: a plain query.
    let size = unsafe { (uv().handle_size)(kind) };
    std::alloc::Layout::from_size_align(size.max(1), 16).expect("a handle's size fits")
}

/// A handle's memory, freed by `uv_close`'s callback.
fn new_handle(kind: c_int, data: usize) -> *mut Handle {
    // SAFETY: a non-zero size; the memory is initialised by `uv_*_init`.
    let handle = unsafe { std::alloc::alloc_zeroed(layout(kind)) } as *mut Handle;
    if handle.is_null() {
        std::alloc::handle_alloc_error(layout(kind));
    }
    // SAFETY: the data field is the handle's first, set before init reads it.
    unsafe { (uv().handle_set_data)(handle, data as *mut c_void) };
    handle
}

extern "C" fn free_handle(handle: *mut Handle) {
    // SAFETY: allocated by `new_handle` with the layout of its type; libuv
    // is done with it once it calls this.
    unsafe {
        let kind = (uv().handle_get_type)(handle);
        std::alloc::dealloc(handle as *mut u8, layout(kind));
    }
}

fn close_handle(handle: *mut Handle) {
    // SAFETY: an initialised handle, closed once.
    unsafe { (uv().close)(handle, Some(free_handle)) };
}

/// An operation waiting on this thread; it settles its promise itself.
type Task = Pin<Box<dyn Future<Output = ()>>>;

/// A store's socket, as the loop watches it.
struct Watcher {
    io: Arc<dyn LocalIo>,
    /// The poll handle and the descriptor it watches.
    poll: Option<(RawSocket, *mut Handle, c_int)>,
    timer: *mut Handle,
    /// When the timer fires, if it runs.
    due: Option<std::time::Instant>,
}

/// Wake-ups from other threads.
struct Remote {
    woken: Mutex<Vec<usize>>,
    /// The `uv_async_t`, as an address; `None` once the environment is gone.
    handle: Mutex<Option<usize>>,
}

struct Executor {
    env: sys::napi_env,
    lp: *mut sys::uv_loop_s,
    context: sys::napi_async_context,
    resource: sys::napi_ref,
    owner: ThreadId,
    /// The tasks by id; `None` for a free id, or while it is being polled.
    tasks: Vec<Option<Task>>,
    /// One waker per id, made with it and kept for its next tasks (a wake
    /// meant for an earlier task of the id only polls it once more).
    wakers: Vec<Waker>,
    free: Vec<usize>,
    watchers: Vec<(usize, Watcher)>,
    next_watcher: usize,
    remote: Arc<Remote>,
    wake: *mut Handle,
    referenced: bool,
}

thread_local! {
    static EXECUTOR: RefCell<Option<Executor>> = const { RefCell::new(None) };
    /// Tasks woken on this thread, to poll.
    static WOKEN: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

struct TaskWaker {
    id: usize,
    owner: ThreadId,
    remote: Arc<Remote>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if std::thread::current().id() == self.owner {
            WOKEN.with(|w| w.borrow_mut().push(self.id));
            return;
        }
        let handle = self.remote.handle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = *handle {
            self.remote
                .woken
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.id);
            // SAFETY: the handle lives while `handle` is `Some` (the lock is
            // held), and `uv_async_send` may be called from any thread.
            unsafe { (uv().async_send)(handle as *mut Handle) };
        }
    }
}

fn with_executor<R>(f: impl FnOnce(&mut Executor) -> R) -> Option<R> {
    EXECUTOR.with(|e| e.borrow_mut().as_mut().map(f))
}

/// Sets up this thread's executor if it is not yet; false if it cannot be
/// (then the caller takes the runtime).
pub fn ready(env: sys::napi_env) -> bool {
    if EXECUTOR.with(|e| e.borrow().is_some()) {
        return true;
    }
    if libuv::get(env).is_none() {
        return false;
    }
    // SAFETY: napi calls on the JS thread with its environment.
    unsafe {
        let mut lp = std::ptr::null_mut();
        if sys::napi_get_uv_event_loop(env, &mut lp) != sys::Status::napi_ok || lp.is_null() {
            return false;
        }
        let mut resource = std::ptr::null_mut();
        let mut name = std::ptr::null_mut();
        let mut context = std::ptr::null_mut();
        let mut reference = std::ptr::null_mut();
        let label = c"fedikv";
        if sys::napi_create_object(env, &mut resource) != sys::Status::napi_ok
            || sys::napi_create_string_utf8(env, label.as_ptr(), 6, &mut name)
                != sys::Status::napi_ok
            || sys::napi_async_init(env, resource, name, &mut context) != sys::Status::napi_ok
            || sys::napi_create_reference(env, resource, 1, &mut reference) != sys::Status::napi_ok
        {
            return false;
        }
        let remote = Arc::new(Remote {
            woken: Mutex::new(Vec::new()),
            handle: Mutex::new(None),
        });
        let wake = new_handle(UV_ASYNC, 0);
        if (uv().async_init)(lp, wake, on_async) != 0 {
            std::alloc::dealloc(wake as *mut u8, layout(UV_ASYNC));
            return false;
        }
        (uv().unref)(wake);
        *remote.handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(wake as usize);
        if sys::napi_add_env_cleanup_hook(env, Some(cleanup), std::ptr::null_mut())
            != sys::Status::napi_ok
        {
            *remote.handle.lock().unwrap_or_else(|e| e.into_inner()) = None;
            close_handle(wake);
            return false;
        }
        EXECUTOR.with(|e| {
            *e.borrow_mut() = Some(Executor {
                env,
                lp,
                context,
                resource: reference,
                owner: std::thread::current().id(),
                tasks: Vec::new(),
                wakers: Vec::new(),
                free: Vec::new(),
                watchers: Vec::new(),
                next_watcher: 0,
                remote,
                wake,
                referenced: false,
            })
        });
    }
    true
}

/// The environment is going away: stop watching every socket and let go
/// of them; pending promises are never settled (nothing could see them).
unsafe extern "C" fn cleanup(_: *mut c_void) {
    let Some(executor) = EXECUTOR.with(|e| e.borrow_mut().take()) else {
        return;
    };
    *executor
        .remote
        .handle
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = None;
    close_handle(executor.wake);
    for (_, mut watcher) in executor.watchers {
        unwatch(&mut watcher);
        close_handle(watcher.timer);
    }
    // Dropping the tasks drops their futures here, on their thread.
    drop(executor.tasks);
}

/// Runs `future` here: polls it once; if it finished, its result is
/// returned as is; else it stays on this thread and a promise is returned.
/// `io` is the store's socket, watched from now on. Call [`ready`] first.
pub fn run<'e, T, F>(
    env: &'e napi::Env,
    io: &Arc<dyn LocalIo>,
    future: F,
    settle: super::Settle<T>,
) -> napi::Result<Either<T, PromiseRaw<'e, T>>>
where
    T: ToNapiValue + 'static,
    F: Future<Output = std::thread::Result<crate::error::Result<T>>> + 'static,
{
    let raw = env.raw();
    let (id, waker) = with_executor(|ex| {
        let id = ex.free.pop().unwrap_or_else(|| {
            let id = ex.tasks.len();
            ex.tasks.push(None);
            ex.wakers.push(Waker::from(Arc::new(TaskWaker {
                id,
                owner: ex.owner,
                remote: ex.remote.clone(),
            })));
            id
        });
        (id, ex.wakers[id].clone())
    })
    .ok_or_else(|| napi::Error::from_reason("fedikv: no executor on this thread"))?;
    let mut future = Box::pin(future);
    let first =
        within_runtime_if_available(|| future.as_mut().poll(&mut Context::from_waker(&waker)));
    let outcome = match first {
        Poll::Ready(result) => {
            with_executor(|ex| ex.free.push(id));
            settle(env, result).map(Either::A)
        }
        Poll::Pending => {
            let mut deferred = std::ptr::null_mut();
            let mut promise = std::ptr::null_mut();
            // SAFETY: on the JS thread, inside a call from JavaScript.
            let status = unsafe { sys::napi_create_promise(raw, &mut deferred, &mut promise) };
            if status == sys::Status::napi_ok {
                // Polled again only by `drain`, inside its scopes.
                let task = async move {
                    let outcome = future.await;
                    // Run by `drain` on this thread, inside a handle scope.
                    resolve(raw, deferred, settle(&napi::Env::from_raw(raw), outcome))
                };
                with_executor(|ex| {
                    ex.tasks[id] = Some(Box::pin(task));
                    keep_alive(ex);
                });
                Ok(Either::B(PromiseRaw::new(raw, promise)))
            } else {
                with_executor(|ex| ex.free.push(id));
                Err(napi::Error::from_reason("fedikv: cannot create a promise"))
            }
        }
    };
    sync(io);
    // Woken here, where nobody polls them (a failed write answered the
    // others waiting): the next turn of the loop does.
    if WOKEN.with(|w| !w.borrow().is_empty()) {
        // SAFETY: the executor's own async handle.
        with_executor(|ex| unsafe { (uv().async_send)(ex.wake) });
    }
    outcome
}

/// Settles a promise with a result.
fn resolve<T: ToNapiValue>(
    env: sys::napi_env,
    deferred: sys::napi_deferred,
    result: napi::Result<T>,
) {
    // SAFETY: called on the JS thread inside a handle scope.
    unsafe {
        match result.and_then(|value| T::to_napi_value(env, value)) {
            Ok(value) => {
                sys::napi_resolve_deferred(env, deferred, value);
            }
            Err(error) => {
                let error = napi::Error::to_napi_value(env, error)
                    .unwrap_or_else(|_| plain_error(env, c"fedikv: an error that cannot be shown"));
                sys::napi_reject_deferred(env, deferred, error);
            }
        }
    }
}

/// An `Error` with `message`, made with nothing that can fail but memory.
unsafe fn plain_error(env: sys::napi_env, message: &CStr) -> sys::napi_value {
    let mut text = std::ptr::null_mut();
    let mut error = std::ptr::null_mut();
    sys::napi_create_string_utf8(
        env,
        message.as_ptr(),
        message.to_bytes().len() as isize,
        &mut text,
    );
    sys::napi_create_error(env, std::ptr::null_mut(), text, &mut error);
    error
}

/// The loop stays alive while operations are pending.
fn keep_alive(ex: &mut Executor) {
    let pending = ex.tasks.len() > ex.free.len();
    if pending != ex.referenced {
        // SAFETY: the executor's own async handle; this only sets a flag.
        unsafe {
            if pending {
                (uv().reference)(ex.wake)
            } else {
                (uv().unref)(ex.wake)
            }
        };
        ex.referenced = pending;
    }
}

/// Brings the watch of `io` up to date (adds it if new).
pub fn sync(io: &Arc<dyn LocalIo>) {
    with_executor(|ex| {
        let at = ex.watchers.iter().position(|(_, w)| Arc::ptr_eq(&w.io, io));
        let at = match at {
            Some(at) => at,
            None => {
                if io.watch().is_none() {
                    return;
                }
                let id = ex.next_watcher;
                ex.next_watcher += 1;
                let timer = new_handle(UV_TIMER, id);
                // SAFETY: a fresh handle on this thread's loop.
                unsafe {
                    (uv().timer_init)(ex.lp, timer);
                    (uv().unref)(timer);
                }
                ex.watchers.push((
                    id,
                    Watcher {
                        io: io.clone(),
                        poll: None,
                        timer,
                        due: None,
                    },
                ));
                ex.watchers.len() - 1
            }
        };
        if !update(ex.lp, ex.watchers[at].0, &mut ex.watchers[at].1) {
            let (_, watcher) = ex.watchers.swap_remove(at);
            close_handle(watcher.timer);
        }
    });
}

/// Stops watching the watcher's socket and lets it go; false if it was
/// not watched.
fn unwatch(watcher: &mut Watcher) -> bool {
    let Some((fd, poll, _)) = watcher.poll.take() else {
        return false;
    };
    // SAFETY: stopping makes the descriptor safe to close at once.
    unsafe { (uv().poll_stop)(poll) };
    close_handle(poll);
    watcher.io.release(fd);
    true
}

/// Makes the handles match what `io` wants; false when there is nothing
/// left to watch.
fn update(lp: *mut sys::uv_loop_s, id: usize, watcher: &mut Watcher) -> bool {
    let Some(watch) = watcher.io.watch() else {
        unwatch(watcher);
        return false;
    };
    if watch.done {
        if !unwatch(watcher) {
            watcher.io.release(watch.fd);
        }
        return false;
    }
    if watcher.poll.is_some_and(|(fd, _, _)| fd != watch.fd) {
        unwatch(watcher);
    }
    let events = UV_READABLE | if watch.write { UV_WRITABLE } else { 0 };
    let started = match &mut watcher.poll {
        Some((_, _, current)) if *current == events => true,
        Some((_, poll, current)) => {
            *current = events;
            // SAFETY: an initialised poll handle of this thread.
            unsafe { (uv().poll_start)(*poll, events, on_poll) == 0 }
        }
        None => {
            let poll = new_handle(UV_POLL, id);
            // SAFETY: a fresh handle; the descriptor is open until released.
            if unsafe { (uv().poll_init)(lp, poll, watch.fd) } != 0 {
                // SAFETY: never initialised, so never given to libuv.
                unsafe { std::alloc::dealloc(poll as *mut u8, layout(UV_POLL)) };
                watcher.io.release(watch.fd);
                return false;
            }
            watcher.poll = Some((watch.fd, poll, events));
            // SAFETY: initialised just above.
            unsafe { (uv().poll_start)(poll, events, on_poll) == 0 }
        }
    };
    if !started {
        // Unwatched, the answers would never come: letting go of the
        // socket fails the callers waiting, and the next call reconnects.
        unwatch(watcher);
        return false;
    }
    if let Some((_, poll, _)) = watcher.poll {
        // SAFETY: an initialised handle; ref and unref only set a flag.
        unsafe {
            if watch.busy {
                (uv().reference)(poll);
            } else {
                (uv().unref)(poll);
            }
        }
    }
    match watch.deadline {
        Some(left) => {
            let due = std::time::Instant::now() + left;
            if watcher.due.is_none_or(|at| due < at) {
                let ms = left.as_millis().saturating_add(1).min(u64::MAX as u128) as u64;
                // SAFETY: an initialised timer of this thread.
                unsafe { (uv().timer_start)(watcher.timer, on_timer, ms, 0) };
                watcher.due = Some(due);
            }
        }
        None => {
            if watcher.due.take().is_some() {
                unsafe { (uv().timer_stop)(watcher.timer) };
            }
        }
    }
    true
}

/// The watcher a handle belongs to.
fn io_of(handle: *mut Handle) -> Option<Arc<dyn LocalIo>> {
    // SAFETY: the data set by `new_handle`.
    let id = unsafe { (uv().handle_get_data)(handle) } as usize;
    with_executor(|ex| {
        ex.watchers
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, w)| w.io.clone())
    })
    .flatten()
}

extern "C" fn on_poll(handle: *mut Handle, status: c_int, events: c_int) {
    let Some(io) = io_of(handle) else { return };
    // An error (status < 0) shows itself in the next read or write.
    let failed = status < 0;
    guard(|| {
        io.ready(
            failed || events & UV_READABLE != 0,
            failed || events & UV_WRITABLE != 0,
        )
    });
    drain();
    settled(&io);
}

/// After tasks ran: writes what they sent, then updates the watch.
fn settled(io: &Arc<dyn LocalIo>) {
    guard(|| io.ready(false, true));
    sync(io);
}

extern "C" fn on_timer(handle: *mut Handle) {
    let Some(io) = io_of(handle) else { return };
    let id = unsafe { (uv().handle_get_data)(handle) } as usize;
    with_executor(|ex| {
        if let Some((_, w)) = ex.watchers.iter_mut().find(|(i, _)| *i == id) {
            w.due = None;
        }
    });
    guard(|| io.expire());
    drain();
    settled(&io);
}

extern "C" fn on_async(_: *mut Handle) {
    if let Some(remote) = with_executor(|ex| ex.remote.clone()) {
        let woken = std::mem::take(&mut *remote.woken.lock().unwrap_or_else(|e| e.into_inner()));
        WOKEN.with(|w| w.borrow_mut().extend(woken));
    }
    drain();
    let watched: Vec<_> = with_executor(|ex| {
        ex.watchers
            .iter()
            .map(|(_, w)| w.io.clone())
            .collect::<Vec<_>>()
    })
    .unwrap_or_default();
    for io in watched {
        settled(&io);
    }
}

/// A panic must not unwind into libuv (it would abort the process).
fn guard(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

/// Polls every woken task; those that finish settle their promises, in a
/// callback scope, so that the promises' reactions run when it closes.
fn drain() {
    if WOKEN.with(|w| w.borrow().is_empty()) {
        return;
    }
    let Some((env, context, resource)) = with_executor(|ex| (ex.env, ex.context, ex.resource))
    else {
        return;
    };
    // SAFETY: on the JS thread, from a libuv callback (outside any
    // JavaScript): a handle scope for the values, a callback scope for
    // the reactions.
    let (handles, callback, opened) = unsafe {
        let mut handles = std::ptr::null_mut();
        sys::napi_open_handle_scope(env, &mut handles);
        let mut object = std::ptr::null_mut();
        sys::napi_get_reference_value(env, resource, &mut object);
        let mut callback = std::ptr::null_mut();
        let opened = sys::napi_open_callback_scope(env, object, context, &mut callback);
        (handles, callback, opened == sys::Status::napi_ok)
    };
    while let Some(id) = WOKEN.with(|w| w.borrow_mut().pop()) {
        // Taken out to poll it with no borrow held: polling may wake others.
        let Some((mut task, waker)) = with_executor(|ex| {
            let task = ex.tasks.get_mut(id)?.take()?;
            Some((task, ex.wakers[id].clone()))
        })
        .flatten() else {
            continue;
        };
        let mut cx = Context::from_waker(&waker);
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            within_runtime_if_available(|| task.as_mut().poll(&mut cx))
        }));
        with_executor(|ex| match polled {
            Ok(Poll::Pending) => ex.tasks[id] = Some(task),
            // Settled; or the settling itself panicked (the operation's
            // own panics are caught and rejected), which leaves the
            // promise pending.
            _ => ex.free.push(id),
        });
    }
    // SAFETY: the scopes opened above, closed in reverse order; closing
    // the callback scope runs the reactions (JavaScript).
    unsafe {
        if opened {
            sys::napi_close_callback_scope(env, callback);
        }
        sys::napi_close_handle_scope(env, handles);
    }
    with_executor(keep_alive);
}
