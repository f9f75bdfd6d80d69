//! The road not taken, kept so the benchmark can measure it: values crossing
//! the boundary through napi's own conversion (a JavaScript value walked
//! property by property into a `serde_json::Value`, and back), against the
//! JSON text that `index.js` makes with V8's `JSON.stringify` and reads with
//! `JSON.parse`. `benchmark/lib/boundary.mjs` times both; docs/architecture.md
//! gives the figures. Not part of the public API: built only with the
//! `boundary_probe` feature, into an addon of the benchmark's own
//! (`npm run build:boundary-probe`), never into the package's.
//!
//! The same addon carries one more measurement of the benchmark's:
//! [`probe_rusqlite_rates`], the SQLite engine timed from Rust alone.

use napi_derive::napi;
use rusqlite::{params, Connection};
use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Operations a second of the SQLite engine from Rust alone, with no JS
/// boundary: what `SqliteKvStore` could reach if crossing into JavaScript
/// cost nothing. Beside better-sqlite3's figure on the same statements, it
/// shows what the boundary costs.
#[napi(object)]
pub struct RusqliteRates {
    /// Prepared `SELECT value … WHERE key = ?`, the value read as a `String`.
    pub get: f64,
    /// Prepared upsert of the value, one autocommit transaction each.
    pub set: f64,
    /// The bundled SQLite's version (better-sqlite3 bundles its own).
    pub sqlite_version: String,
}

/// The table of `@fedify/sqlite` and fedikv's `SqliteKvStore`
/// (src/sqlite.rs), with its index, and the statements that store runs.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS fedify_kv (key TEXT PRIMARY KEY, \
     value TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER); \
     CREATE INDEX IF NOT EXISTS idx_fedify_kv_expires ON fedify_kv (expires);";
const GET: &str =
    "SELECT value FROM fedify_kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)";
const UPSERT: &str =
    "INSERT INTO fedify_kv (key, value, created, expires) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires";
/// Keys cycled through, as the benchmark's get and set workloads do.
const KEYS: usize = 1000;

/// Opens a WAL database at `path` (a file, created if missing) with the
/// pragmas `SqliteKvStore` sets, writes `value` under 1,000 keys, and
/// times a loop of gets, then of sets of `value`, for `duration_ms` each,
/// on the calling thread (it blocks it: the benchmark's own addon only).
#[napi(js_name = "probeRusqliteRates")]
pub fn probe_rusqlite_rates(
    path: String,
    value: String,
    duration_ms: u32,
) -> napi::Result<RusqliteRates> {
    rusqlite_rates(&path, &value, Duration::from_millis(duration_ms.into()))
        .map_err(|e| napi::Error::from_reason(format!("rusqlite probe: {e}")))
}

fn rusqlite_rates(path: &str, value: &str, duration: Duration) -> rusqlite::Result<RusqliteRates> {
    let db = Connection::open(path)?;
    db.busy_timeout(Duration::from_secs(5))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.execute_batch(CREATE_TABLE)?;
    // Built once, outside the timed loops: the engine's work alone.
    let keys: Vec<String> = (0..KEYS).map(|i| format!("[\"doc\",\"{i}\"]")).collect();
    let mut get = db.prepare(GET)?;
    let mut upsert = db.prepare(UPSERT)?;
    db.execute_batch("BEGIN")?;
    for key in &keys {
        upsert.execute(params![key, value, 0i64, None::<i64>])?;
    }
    db.execute_batch("COMMIT")?;
    let get_rate = ops_per_sec(duration, |i| {
        let text: String = get.query_row(params![keys[i % KEYS], 0i64], |row| row.get(0))?;
        black_box(text);
        Ok(())
    })?;
    let set_rate = ops_per_sec(duration, |i| {
        upsert.execute(params![keys[i % KEYS], value, 0i64, None::<i64>])?;
        Ok(())
    })?;
    Ok(RusqliteRates {
        get: get_rate,
        set: set_rate,
        sqlite_version: rusqlite::version().to_owned(),
    })
}

/// Calls `op(0)`, `op(1)`, … until `duration` has passed; calls a second.
fn ops_per_sec(
    duration: Duration,
    mut op: impl FnMut(usize) -> rusqlite::Result<()>,
) -> rusqlite::Result<f64> {
    let started = Instant::now();
    let mut n = 0;
    loop {
        // The clock is read once per batch, so that reading it is no part
        // of what is measured.
        for _ in 0..64 {
            op(n)?;
            n += 1;
        }
        let elapsed = started.elapsed();
        if elapsed >= duration {
            return Ok(n as f64 / elapsed.as_secs_f64());
        }
    }
}
