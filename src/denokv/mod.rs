//! The Deno KV backend: a local Deno KV database file (the format of
//! Deno's `Deno.openKv(path)` and the npm `@deno/kv`), or a KV Connect
//! server (`denokv`, Deno Deploy), through Deno's own crates
//! (`denokv_proto`, `denokv_sqlite`, `denokv_remote`).
//!
//! - Keys: a `KvKey` is the Deno KV key of the same strings ([`keys`]).
//!   Deno's limit holds: at most 2048 bytes encoded.
//! - Values: as Deno stores JavaScript values, V8's serialization format
//!   ([`v8`] converts JSON text to it and back). What a Deno app stored
//!   comes back as the same JSON value; a value JSON cannot express (a
//!   `Date`, `Map`, `BigInt`, `Uint8Array`, a `Deno.KvU64`…) is an
//!   `InvalidData` error naming the key. At most 64 KiB serialized.
//! - TTLs: Deno KV's own expiry (`expireIn`): the entry's expiry time.
//!   Deno deletes expired entries lazily: `denokv_sqlite`'s collector runs
//!   at the earliest expiry it knew of at its last run (plus up to a second
//!   of jitter), or a minute after that run when it knew of none, and a
//!   write does not bring it forward. On a local file the reads filter on
//!   the expiry time themselves, so expiry is exact there (and the
//!   collector still purges the rows). KV Connect does not tell a client
//!   when an entry expires: through it, an expired entry stays visible
//!   until the server collects it, up to about a minute late with `denokv`
//!   ([`REMOTE_EXPIRY_GRACE`]; measured: 60.6 s for a 100 ms TTL on a
//!   server that knew of no other expiring entry).
//! - `cas`: reads the entry with its versionstamp, compares the JSON in
//!   Rust, and writes with a check on that versionstamp (or on absence);
//!   when the check fails, the entry changed in between: it starts over,
//!   and answers `false` only when the live value really differs.
//! - `list`: keyset pages over Deno's key order, from the prefix key itself
//!   (Deno's own prefix listing leaves it out) up to the end of the prefix.
//! - `drop_storage` deletes every entry of the database (in batches), for
//!   tests; the file (or the server's database) stays.

mod error;
mod keys;
mod local;
mod remote;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
pub mod v8;

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::json::cas_matches;
use crate::key::Key;
use crate::net::redact::mask_password;
use crate::ttl::{now_ms, Ttl};
use async_trait::async_trait;
use denokv_proto::{AtomicWrite, Check, KvValue, Mutation, MutationKind, Versionstamp};
use local::Local;
use remote::Remote;
use std::fmt;
use std::time::Duration;

pub use keys::{MAX_KEY_BYTES, MAX_VALUE_BYTES};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after its expiry an entry may still be read through KV Connect
/// from a `denokv` server: its collector runs at the earliest expiry it knew
/// of at its previous run, or one minute after that run when it knew of
/// none, plus up to a second of jitter. Local files have no grace.
pub const REMOTE_EXPIRY_GRACE: Duration = Duration::from_secs(62);

/// How often `cas` starts over when the entry changed between its read and
/// its write, before giving up with `Busy`.
const CAS_ATTEMPTS: u32 = 64;

/// A KV Connect read returns at most this many entries (`denokv_proto`'s
/// limit on a snapshot read).
const MAX_READ_ENTRIES: usize = 1000;

/// `drop_storage` deletes this many keys in one atomic write, well inside
/// Deno KV's limits on a write (1000 mutations, 800 KiB).
const DELETE_BATCH: usize = 100;

/// Where the store lives.
#[derive(Clone)]
pub struct DenoKvConfig {
    /// A Deno KV database file path (created if missing, as
    /// `Deno.openKv(path)` does), or the `http://` / `https://` URL of a
    /// KV Connect endpoint (a `denokv` server, Deno Deploy).
    pub path_or_url: String,
    /// The access token for a KV Connect URL (Deno reads it from
    /// `DENO_KV_ACCESS_TOKEN`; the JS layer does too). Unused for a file.
    pub access_token: Option<String>,
    /// How long a KV Connect call may take, connecting and the client's
    /// retries included, before it fails with `ErrorKind::Connection`.
    pub connect_timeout: Duration,
}

impl DenoKvConfig {
    pub fn new(path_or_url: impl Into<String>) -> Self {
        DenoKvConfig {
            path_or_url: path_or_url.into(),
            access_token: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl fmt::Debug for DenoKvConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = if is_url(&self.path_or_url) {
            mask_password(&self.path_or_url)
        } else {
            self.path_or_url.clone()
        };
        f.debug_struct("DenoKvConfig")
            .field("path_or_url", &target)
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

fn is_url(target: &str) -> bool {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn invalid_option(message: impl fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOption, format!("Deno KV: {message}"))
}

/// An entry as read for `cas`: its value, its versionstamp, and whether it
/// is live (a row past its expiry that Deno has not collected yet is not).
struct Row {
    value: KvValue,
    versionstamp: Versionstamp,
    live: bool,
}

/// An entry of a range read.
struct RangeEntry {
    key: Vec<u8>,
    value: KvValue,
    /// Epoch milliseconds; always `None` through KV Connect, which does
    /// not say.
    expires_at: Option<i64>,
}

enum Db {
    Local(Local),
    Remote(Remote),
}

/// A Deno KV store.
pub struct DenoKvBackend {
    db: Db,
}

impl DenoKvBackend {
    /// Checks the configuration; opens the file or connects on the first
    /// operation.
    pub fn new(config: DenoKvConfig) -> Result<DenoKvBackend> {
        if config.connect_timeout.is_zero() {
            return Err(invalid_option("connect_timeout must be positive"));
        }
        let target = config.path_or_url;
        let db = if is_url(&target) {
            let url = url::Url::parse(&target).map_err(|e| {
                invalid_option(format!(
                    "{} is not a valid URL ({e})",
                    mask_password(&target)
                ))
            })?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid_option("the KV Connect URL names no host"));
            }
            let token = config
                .access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    invalid_option(
                        "a KV Connect URL needs an access token (the accessToken option or \
                         DENO_KV_ACCESS_TOKEN)",
                    )
                })?;
            Db::Remote(Remote::new(url, token, config.connect_timeout))
        } else {
            if target.is_empty() {
                return Err(invalid_option("the database path is empty"));
            }
            if target.contains("://") {
                return Err(invalid_option(format!(
                    "{} is neither a file path nor an http:// or https:// KV Connect URL",
                    mask_password(&target)
                )));
            }
            if target == ":memory:" {
                return Err(invalid_option(
                    "an in-memory database is not supported (the store reads through \
                     connections of its own, which cannot see a private in-memory database): \
                     use a file, a temporary one for tests",
                ));
            }
            Db::Local(Local::new(target))
        };
        Ok(DenoKvBackend { db })
    }

    /// The live value under `key` (encoded), in whatever encoding.
    async fn get_value(&self, key: Vec<u8>) -> Result<Option<KvValue>> {
        match &self.db {
            Db::Local(db) => db.get(key).await,
            Db::Remote(db) => Ok(db.row(key).await?.map(|row| row.value)),
        }
    }

    async fn row(&self, key: Vec<u8>) -> Result<Option<Row>> {
        match &self.db {
            Db::Local(db) => db.row(key).await,
            Db::Remote(db) => db.row(key).await,
        }
    }

    async fn range(&self, start: Vec<u8>, end: Vec<u8>, limit: usize) -> Result<Vec<RangeEntry>> {
        match &self.db {
            Db::Local(db) => db.range(start, end, limit).await,
            Db::Remote(db) => db.range(start, end, limit.min(MAX_READ_ENTRIES)).await,
        }
    }

    /// Keys of a range, expired entries included where they can be told.
    async fn keys(&self, start: Vec<u8>, end: Vec<u8>, limit: usize) -> Result<Vec<Vec<u8>>> {
        match &self.db {
            Db::Local(db) => db.keys(start, end, limit).await,
            Db::Remote(db) => Ok(db
                .range(start, end, limit.min(MAX_READ_ENTRIES))
                .await?
                .into_iter()
                .map(|e| e.key)
                .collect()),
        }
    }

    /// Commits `write` unless a check fails (`Ok(false)`).
    async fn write(&self, write: AtomicWrite) -> Result<bool> {
        match &self.db {
            Db::Local(db) => db.write(write).await,
            Db::Remote(db) => db.write(write).await,
        }
    }

    async fn write_one(&self, check: Option<Check>, mutation: Mutation) -> Result<bool> {
        self.write(AtomicWrite {
            checks: check.into_iter().collect(),
            mutations: vec![mutation],
            enqueues: Vec::new(),
        })
        .await
    }
}

/// The V8 serialization of a JSON value, refused over Deno KV's limit.
fn encode_value(json: &str) -> Result<Vec<u8>> {
    let bytes = v8::json_to_v8(json)
        .map_err(|e| Error::invalid_value(format!("Deno KV: the value cannot be written ({e})")))?;
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_value(format!(
            "Deno KV: the value is {} bytes long serialized, and Deno KV allows at most \
             {MAX_VALUE_BYTES} bytes (64 KiB) a value",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The JSON text of a stored value, or why it has none.
fn decode_value(key: &Key, value: &KvValue) -> Result<String> {
    match value {
        KvValue::V8(bytes) => v8::v8_to_json(bytes).map_err(|e| error::stored_value_error(key, e)),
        KvValue::Bytes(_) => Err(error::other_encoding_error(key, "a Uint8Array")),
        KvValue::U64(_) => Err(error::other_encoding_error(key, "a Deno.KvU64")),
    }
}

fn set_mutation(key: Vec<u8>, value: Vec<u8>, ttl: Option<Ttl>) -> Mutation {
    Mutation {
        key,
        kind: MutationKind::Set(KvValue::V8(value)),
        expire_at: ttl
            .and_then(|ttl| chrono::DateTime::from_timestamp_millis(ttl.expires_at(now_ms()))),
    }
}

fn delete_mutation(key: Vec<u8>) -> Mutation {
    Mutation {
        key,
        kind: MutationKind::Delete,
        expire_at: None,
    }
}

/// The pause before `cas` starts over after a failed versionstamp check.
async fn backoff(attempt: u32) {
    crate::net::retry::backoff(attempt, Duration::from_micros(100), 20).await
}

#[async_trait]
impl KvBackend for DenoKvBackend {
    fn name(&self) -> &'static str {
        "Deno KV"
    }

    async fn initialize(&self) -> Result<()> {
        match &self.db {
            Db::Local(db) => db.initialize().await,
            Db::Remote(db) => db.initialize().await,
        }
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        let value = self.get_value(keys::encode(key)?).await?;
        value.map(|v| decode_value(key, &v)).transpose()
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        let k = keys::encode(key)?;
        let value = encode_value(&value)?;
        self.write_one(None, set_mutation(k, value, ttl)).await?;
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let k = keys::encode(key)?;
        self.write_one(None, delete_mutation(k)).await?;
        Ok(())
    }

    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        let k = keys::encode(key)?;
        let new = new.as_deref().map(encode_value).transpose()?;
        for attempt in 0..CAS_ATTEMPTS {
            let row = self.row(k.clone()).await?;
            let current = match row.as_ref().filter(|row| row.live) {
                // A value JSON cannot express equals no JSON value.
                Some(row) => match decode_value(key, &row.value) {
                    Ok(json) => Some(json),
                    Err(e) if e.kind == ErrorKind::InvalidData => return Ok(false),
                    Err(e) => return Err(e),
                },
                None => None,
            };
            if !cas_matches(current.as_deref(), expected)? {
                return Ok(false);
            }
            // The write happens only if the entry is still the one read (by
            // its versionstamp; absent if there was none), expired or not.
            let check = Check {
                key: k.clone(),
                versionstamp: row.map(|row| row.versionstamp),
            };
            let mutation = match &new {
                Some(value) => set_mutation(k.clone(), value.clone(), ttl),
                None => delete_mutation(k.clone()),
            };
            if self.write_one(Some(check), mutation).await? {
                return Ok(true);
            }
            backoff(attempt).await;
        }
        Err(Error::new(
            ErrorKind::Busy,
            format!(
                "Deno KV: cas gave up after {CAS_ATTEMPTS} attempts: other writers kept changing \
                 the entry between its read and its write"
            ),
        ))
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        if expiry == Expiry::Read && matches!(self.db, Db::Remote(_)) {
            // KV Connect's read answers hold keys, values and versionstamps,
            // never an expiry (`KvEntry` in denokv_proto's datapath.proto):
            // reporting "no expiry" would turn every TTL into forever.
            return Err(Error::new(
                ErrorKind::Unsupported,
                "Deno KV: KV Connect does not tell when an entry expires, so this store \
                 cannot list entries with their expiry (copy from the database file \
                 instead, where the server keeps it)",
            ));
        }
        let (start, end) = keys::prefix_range(prefix);
        if start.len() > MAX_KEY_BYTES {
            // No key that long can be stored.
            return Ok(Page::default());
        }
        let start = match cursor {
            Some(cursor) => keys::start_after(cursor)?,
            None => start,
        };
        let limit = limit.max(1);
        let read = self.range(start, end, limit).await?;
        let cursor = (read.len() >= limit.min(self.page_limit()))
            .then(|| read.last().map(|e| keys::cursor_of(&e.key)))
            .flatten();
        let mut entries = Vec::with_capacity(read.len());
        for entry in read {
            // An entry whose key is not a KvKey (a Deno app's key with a
            // number in it, say) is no entry of this store: skipped.
            if let Some(key) = keys::decode(&entry.key) {
                let value = decode_value(&key, &entry.value)?;
                entries.push(Entry {
                    key,
                    value,
                    expires_at: entry.expires_at.filter(|_| expiry == Expiry::Read),
                });
            }
        }
        Ok(Page { entries, cursor })
    }

    async fn drop_storage(&self) -> Result<()> {
        loop {
            let batch = self.keys(Vec::new(), vec![0xFF], DELETE_BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            self.write(AtomicWrite {
                checks: Vec::new(),
                mutations: batch.into_iter().map(delete_mutation).collect(),
                enqueues: Vec::new(),
            })
            .await?;
        }
    }

    async fn close(&self) -> Result<()> {
        match &self.db {
            Db::Local(db) => db.close().await,
            Db::Remote(db) => db.close().await,
        }
    }
}

impl DenoKvBackend {
    /// The most entries one range read returns.
    fn page_limit(&self) -> usize {
        match self.db {
            Db::Local(_) => usize::MAX,
            Db::Remote(_) => MAX_READ_ENTRIES,
        }
    }
}
