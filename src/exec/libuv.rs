//! Node's libuv, found when the program runs, never linked.
//!
//! Node exports libuv's functions to addons, but Deno has no libuv at all
//! (an addon that links `uv_*` fails to load there: "undefined symbol"),
//! and Bun exports some of them as stubs that end the process when called
//! ("unsupported uv function: uv_poll_init"). So the addon links no `uv_*`
//! symbol: each is looked up in the running program (`dlsym`), and only
//! when the runtime is Node, and only if libuv's handle types are the ones
//! this code was written for. Everywhere else [`get`] is `None` and the
//! operations take the runtime path, with the same results.

use super::RawSocket;
use napi::sys;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// A libuv handle (`uv_handle_t` and its kinds), opaque here.
pub type Handle = c_void;

// `uv_handle_type` values, checked against libuv's own names before use.
pub const UV_ASYNC: c_int = 1;
pub const UV_POLL: c_int = 8;
pub const UV_TIMER: c_int = 13;
pub const UV_READABLE: c_int = 1;
pub const UV_WRITABLE: c_int = 2;

/// libuv watches a descriptor on Unix, a `SOCKET` on Windows.
#[cfg(unix)]
const POLL_INIT: &str = "uv_poll_init";
#[cfg(windows)]
const POLL_INIT: &str = "uv_poll_init_socket";

macro_rules! libuv_functions {
    ($($field:ident = $symbol:expr, fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The libuv functions the executor calls, as the runtime exports
        /// them (all older than libuv 1.19; Node 20 ships 1.46).
        pub struct Libuv {
            $(pub $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Libuv {
            /// Every function, or `None` if one is missing.
            fn find() -> Option<Libuv> {
                Some(Libuv {
                    $($field: {
                        let address = lookup($symbol)?;
                        // SAFETY: the symbol is libuv's function of this
                        // name, whose C signature is the field's type.
                        unsafe {
                            std::mem::transmute::<
                                *mut c_void,
                                unsafe extern "C" fn($($arg),*) $(-> $ret)?,
                            >(address)
                        }
                    },)*
                })
            }
        }
    };
}

libuv_functions! {
    handle_size = "uv_handle_size", fn(c_int) -> usize;
    handle_type_name = "uv_handle_type_name", fn(c_int) -> *const c_char;
    handle_get_type = "uv_handle_get_type", fn(*const Handle) -> c_int;
    handle_set_data = "uv_handle_set_data", fn(*mut Handle, *mut c_void);
    handle_get_data = "uv_handle_get_data", fn(*const Handle) -> *mut c_void;
    close = "uv_close", fn(*mut Handle, Option<extern "C" fn(*mut Handle)>);
    reference = "uv_ref", fn(*mut Handle);
    unref = "uv_unref", fn(*mut Handle);
    poll_init = POLL_INIT, fn(*mut sys::uv_loop_s, *mut Handle, RawSocket) -> c_int;
    poll_start = "uv_poll_start", fn(*mut Handle, c_int, extern "C" fn(*mut Handle, c_int, c_int)) -> c_int;
    poll_stop = "uv_poll_stop", fn(*mut Handle) -> c_int;
    timer_init = "uv_timer_init", fn(*mut sys::uv_loop_s, *mut Handle) -> c_int;
    timer_start = "uv_timer_start", fn(*mut Handle, extern "C" fn(*mut Handle), u64, u64) -> c_int;
    timer_stop = "uv_timer_stop", fn(*mut Handle) -> c_int;
    async_init = "uv_async_init", fn(*mut sys::uv_loop_s, *mut Handle, extern "C" fn(*mut Handle)) -> c_int;
    async_send = "uv_async_send", fn(*mut Handle) -> c_int;
}

/// A symbol of the running program (the runtime's executable and what it
/// loaded), by name.
#[cfg(unix)]
fn lookup(name: &str) -> Option<*mut c_void> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name; RTLD_DEFAULT searches every object
    // loaded into the process.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

/// On Windows node.exe exports libuv too, but the sockets the executor
/// watches are Unix descriptors: the runtime path serves there.
#[cfg(not(unix))]
fn lookup(_: &str) -> Option<*mut c_void> {
    None
}

static LIBUV: OnceLock<Option<Libuv>> = OnceLock::new();

/// This process's libuv if the runtime is Node and its handle types are
/// the ones above; decided once, at the first call (on a JS thread).
pub fn get(env: sys::napi_env) -> Option<&'static Libuv> {
    LIBUV
        .get_or_init(|| {
            if !runtime_is_node(env) {
                return None;
            }
            Libuv::find().filter(handle_types_match)
        })
        .as_ref()
}

/// The libuv found by an earlier [`get`]; only handles made with it reach
/// the code that asks.
pub fn loaded() -> &'static Libuv {
    LIBUV
        .get()
        .and_then(Option::as_ref)
        .expect("libuv is looked up before any handle exists")
}

fn handle_types_match(uv: &Libuv) -> bool {
    [(UV_ASYNC, "async"), (UV_POLL, "poll"), (UV_TIMER, "timer")]
        .iter()
        .all(|&(kind, name)| {
            // SAFETY: returns a static string, or NULL for an unknown type.
            let found = unsafe { (uv.handle_type_name)(kind) };
            !found.is_null() && unsafe { CStr::from_ptr(found) }.to_bytes() == name.as_bytes()
        })
}

/// Whether the JavaScript runtime is Node itself: Bun and Deno both
/// imitate `process.versions.node`, but each also has a global of its own
/// name, and neither is Node's libuv.
fn runtime_is_node(env: sys::napi_env) -> bool {
    // SAFETY: napi calls on the JS thread with its environment.
    unsafe {
        let mut global = std::ptr::null_mut();
        if sys::napi_get_global(env, &mut global) != sys::Status::napi_ok {
            return false;
        }
        let defined = |object: sys::napi_value, name: &CStr| -> Option<sys::napi_value> {
            let mut value = std::ptr::null_mut();
            let mut kind = 0;
            if sys::napi_get_named_property(env, object, name.as_ptr(), &mut value)
                != sys::Status::napi_ok
            {
                // A getter that threw: not Node's plain globals.
                let mut thrown = std::ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut thrown);
                return None;
            }
            (sys::napi_typeof(env, value, &mut kind) == sys::Status::napi_ok
                && kind != sys::ValueType::napi_undefined)
                .then_some(value)
        };
        if defined(global, c"Bun").is_some() || defined(global, c"Deno").is_some() {
            return false;
        }
        let versions = defined(global, c"process").and_then(|p| defined(p, c"versions"));
        versions.and_then(|v| defined(v, c"node")).is_some()
    }
}
