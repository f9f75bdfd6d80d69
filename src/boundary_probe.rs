//! The road not taken, kept so the benchmark can measure it: values crossing
//! the boundary through napi's own conversion (a JavaScript value walked
//! property by property into a `serde_json::Value`, and back), against the
//! JSON text that `index.js` makes with V8's `JSON.stringify` and reads with
//! `JSON.parse`. `benchmark/lib/boundary.mjs` times both; docs/architecture.md
//! gives the figures. Not part of the public API: built only with the
//! `boundary_probe` feature, into an addon of the benchmark's own
//! (`npm run build:boundary-probe`), never into the package's.

use napi_derive::napi;

/// A JavaScript value converted by napi into a `serde_json::Value`, then
/// written as JSON text (its length returned): what `set` would cost
/// without `JSON.stringify`.
#[napi(js_name = "probeNapiToJson")]
pub fn probe_napi_to_json(value: serde_json::Value) -> u32 {
    value.to_string().len() as u32
}

/// JSON text passed in as a string, the way `index.js` does it for `set`
/// (its length returned).
#[napi(js_name = "probeTextIn")]
pub fn probe_text_in(text: String) -> u32 {
    text.len() as u32
}

/// JSON text parsed in Rust and converted by napi into a JavaScript value:
/// what `get` would cost without `JSON.parse`.
#[napi(js_name = "probeJsonToNapi")]
pub fn probe_json_to_napi(text: String) -> napi::Result<serde_json::Value> {
    serde_json::from_str(&text).map_err(|e| napi::Error::from_reason(e.to_string()))
}

/// JSON text passed in and out as a string, the way `index.js` reads a
/// value for `get` (then `JSON.parse`).
#[napi(js_name = "probeText")]
pub fn probe_text(text: String) -> String {
    text
}
