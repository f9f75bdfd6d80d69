//! fedikv's errors as JavaScript sees them: a `TypeError`, `RangeError` or
//! `Error` (as [`ErrorKind::js_class`] says) whose `code` is the kind's
//! `ERR_FEDIKV_*` and whose message starts with `fedikv: `.
//!
//! napi-rs makes an error's JS object from a status and a reason, always
//! of class `Error` once a promise is involved; so the object is built here,
//! on the JS thread, and handed to napi as the value to throw or reject
//! with (napi keeps a reference to it and uses it as it is).

use crate::error::{Error, ErrorKind, JsClass};
use napi::bindgen_prelude::{Env, JsObjectValue, Unknown, ValueType};
use napi::{JsError, JsRangeError, JsTypeError, JsValue, Status};
use napi_derive::napi;

/// `error` as the JS error fedikv documents, ready to be thrown or to
/// reject a promise. Call on the JS thread.
pub fn to_js(env: &Env, error: Error) -> napi::Error {
    let reason = format!("fedikv: {}", error.message);
    let code = error.kind.code();
    let native = napi::Error::new(code, reason.clone());
    // SAFETY: `env` is the live environment of the calling (JS) thread.
    let value = unsafe {
        match error.kind.js_class() {
            JsClass::TypeError => JsTypeError::from(native).into_value(env.raw()),
            JsClass::RangeError => JsRangeError::from(native).into_value(env.raw()),
            JsClass::Error => JsError::from(native).into_value(env.raw()),
        }
    };
    if value.is_null() {
        // The environment is going away; nothing will see the error, but
        // its code stays readable as the status.
        return napi::Error::new(Status::GenericFailure, format!("[{code}] {reason}"));
    }
    // SAFETY: `value` was just made in `env`.
    let value = unsafe { Unknown::from_raw_unchecked(env.raw(), value) };
    give_stack(env, &value, error.kind.js_class(), &reason);
    napi::Error::from(value)
}

/// Bun gives an error made outside a JS call (when a promise is settled
/// from the event loop) no `stack`; code that reads `error.stack` should
/// still find the class and message there, as on Node and Deno.
fn give_stack(env: &Env, error: &Unknown, class: JsClass, reason: &str) {
    let Ok(mut object) = error.coerce_to_object() else {
        return;
    };
    let has_stack = object
        .get_named_property::<Unknown>("stack")
        .is_ok_and(|stack| stack.get_type().is_ok_and(|t| t == ValueType::String));
    if !has_stack {
        if let Ok(stack) = env.create_string(format!("{}: {reason}", class.name())) {
            let _ = object.set_named_property("stack", stack);
        }
    }
}

/// An operation's outcome as the result of its JS call: a caught panic
/// becomes `ERR_FEDIKV_INTERNAL`, so that a bug fails one call instead of
/// taking the process down.
pub fn settle<T>(
    env: &Env,
    outcome: std::thread::Result<crate::error::Result<T>>,
) -> napi::Result<T> {
    match outcome {
        Ok(result) => result.map_err(|e| to_js(env, e)),
        Err(_) => Err(to_js(
            env,
            Error::new(
                ErrorKind::Internal,
                "internal error (a panic in fedikv); please report it",
            ),
        )),
    }
}

/// One error code: the `code` of the errors of one kind, and their class.
#[napi(object)]
pub struct ErrorCode {
    pub code: String,
    #[napi(ts_type = "'Error' | 'TypeError' | 'RangeError'")]
    pub class_name: String,
}

/// Every error code of fedikv with the class of its errors, for the JS
/// layer's own errors (a bad key is refused before it crosses) and for the
/// tests that hold the types and the docs to this list.
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<ErrorCode> {
    ErrorKind::ALL
        .iter()
        .map(|kind| ErrorCode {
            code: kind.code().to_owned(),
            class_name: kind.js_class().name().to_owned(),
        })
        .collect()
}
