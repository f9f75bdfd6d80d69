//! Cloudflare Workers KV from outside a Worker, over Cloudflare's REST API
//! ([`api`]), in the layout of Fedify's own `WorkersKvStore`
//! (`@fedify/cfworkers`), so that a Worker and a Node process share one
//! namespace:
//!
//! - the KV key is `JSON.stringify(key)`, the value its JSON text;
//! - the metadata is `{ expires }` (epoch milliseconds) for an entry with a
//!   TTL, `{}` for one without;
//! - Cloudflare's own expiry (`expiration_ttl`) is the TTL in whole seconds,
//!   rounded up, and at least 60 s, Cloudflare's minimum; an entry with a
//!   shorter TTL is kept by Cloudflare for that minute, and every read
//!   checks `expires` (as Fedify's does), so it is gone on time.
//!
//! What Workers KV cannot do, this store does not pretend to:
//! - **No `cas`.** Workers KV has no conditional write and no transaction:
//!   a read then a write can always lose another writer's write in
//!   between. `@fedify/cfworkers` has no `cas`, so Fedify falls back to its
//!   non-atomic paths; this store is the same (`cas` fails with
//!   `Unsupported`, and the JS class has none).
//! - **Eventual consistency.** A write is seen at once where it was made,
//!   and elsewhere within about 60 s (Cloudflare's figure), so a Worker
//!   and a Node process may briefly disagree.
//!
//! Calls that arrive together are sent together ([`batch`]): gets as bulk
//! reads of up to 100 keys, sets and deletes as bulk writes of up to
//! 10,000, since the API allows a user 1,200 requests per 5 minutes.

mod api;
mod batch;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::json;
use crate::key::{encode_parts, Key};
use crate::ttl::{now_ms, Ttl};
use api::{Api, Put, Stored};
use async_trait::async_trait;
use batch::{Lane, Limits};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Cloudflare's API, unless `api_url` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";
/// Cloudflare's shortest `expiration_ttl`.
pub const MIN_EXPIRATION_TTL_SECS: u64 = 60;
/// Cloudflare's longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 512;
/// Cloudflare's largest value.
pub const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;

/// Where the namespace is and how to reach it.
#[derive(Clone, Debug)]
pub struct WorkersKvConfig {
    pub account_id: String,
    pub namespace_id: String,
    pub api_token: String,
    /// Cloudflare's API v4 ([`DEFAULT_API_URL`]); another for a proxy or
    /// the tests' local Worker.
    pub api_url: String,
    pub connect_timeout: Duration,
    /// For each HTTP request, answer included.
    pub response_timeout: Duration,
    /// How many times a request that failed in a way that may pass (no
    /// connection, no answer in time, HTTP 429 or 5xx) is sent again.
    pub retries: u32,
}

impl WorkersKvConfig {
    pub fn new(account_id: String, namespace_id: String, api_token: String) -> Self {
        WorkersKvConfig {
            account_id,
            namespace_id,
            api_token,
            api_url: DEFAULT_API_URL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            retries: 4,
        }
    }

    fn check(&self) -> Result<()> {
        for (name, id) in [
            ("accountId", &self.account_id),
            ("namespaceId", &self.namespace_id),
        ] {
            // Cloudflare's ids are 32 hex digits; any id that fits a URL
            // path segment is let through (a proxy may name its own).
            let fits = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !fits {
                return Err(Error::new(
                    ErrorKind::InvalidOption,
                    format!(
                        "WorkersKvStore: {name} must be Cloudflare's id (32 hex digits), not {id:?}"
                    ),
                ));
            }
        }
        if self.api_token.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "WorkersKvStore: an API token is needed (the apiToken option, or CLOUDFLARE_API_TOKEN)",
            ));
        }
        let url = url::Url::parse(&self.api_url).ok();
        if !url.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!(
                    "WorkersKvStore: apiUrl must be an http(s):// URL, not {:?}",
                    crate::net::redact::mask_password(&self.api_url)
                ),
            ));
        }
        Ok(())
    }
}

/// A write as the writes' lane takes it: a pair to put, or a key to delete.
struct Write {
    key: String,
    put: Option<Put>,
}

pub struct WorkersKvBackend {
    api: Arc<Api>,
    reads: Lane<String, Option<Stored>>,
    writes: Lane<Write, ()>,
}

impl WorkersKvBackend {
    pub fn new(config: WorkersKvConfig) -> Result<Self> {
        config.check()?;
        let api = Arc::new(Api::new(&config)?);
        let reads = {
            let api = api.clone();
            Lane::new(
                "reading keys",
                Limits {
                    items: BULK_READ,
                    bytes: usize::MAX,
                    size: |_| 0,
                    in_flight: 8,
                },
                Arc::new(move |keys: Vec<String>| {
                    let api = api.clone();
                    Box::pin(async move { read_batch(&api, keys).await })
                }),
            )
        };
        let writes = {
            let api = api.clone();
            Lane::new(
                "writing keys",
                Limits {
                    items: BULK_WRITE,
                    bytes: 64 * 1024 * 1024,
                    size: |w: &Write| {
                        w.key.len() + w.put.as_ref().map_or(0, |p| p.value.len()) + 64
                    },
                    in_flight: 1,
                },
                Arc::new(move |writes: Vec<Write>| {
                    let api = api.clone();
                    Box::pin(async move { write_batch(&api, writes).await })
                }),
            )
        };
        Ok(WorkersKvBackend { api, reads, writes })
    }

    /// The KV key of `key`, checked against Cloudflare's limit.
    fn name_of(key: &Key) -> Result<String> {
        let name = key.to_json();
        if name.len() > MAX_KEY_BYTES {
            return Err(Error::invalid_key(format!(
                "Workers KV: a key is at most {MAX_KEY_BYTES} bytes as JSON text; this one is {}",
                name.len()
            )));
        }
        Ok(name)
    }

    /// The live entry of `name`: absent, or expired by its metadata, is `None`.
    async fn live(&self, name: String) -> Result<Option<Stored>> {
        let stored = self.reads.call(name).await?;
        Ok(stored.filter(|s| !expired(s.expires, now_ms())))
    }
}

/// Whether an entry whose `metadata.expires` is `expires` is gone at `now`,
/// as `@fedify/cfworkers` decides it (`expires < Date.now()`).
fn expired(expires: Option<f64>, now: i64) -> bool {
    expires.is_some_and(|at| at < now as f64)
}

/// One bulk read (up to 100 keys, each once), answered per call.
async fn read_batch(api: &Api, keys: Vec<String>) -> Vec<Result<Option<Stored>>> {
    let mut unique: Vec<String> = keys.clone();
    unique.sort();
    unique.dedup();
    match api.bulk_get(&unique).await {
        Ok(values) => {
            let by_key: HashMap<&String, Option<Stored>> = unique.iter().zip(values).collect();
            keys.iter()
                .map(|k| Ok(by_key.get(k).cloned().flatten()))
                .collect()
        }
        Err(e) => keys.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// One batch of writes: per key the last one made wins (they are in the
/// order they were made), then the puts and the deletes, whose keys
/// differ, go out together. Each call is answered with its key's outcome.
async fn write_batch(api: &Api, writes: Vec<Write>) -> Vec<Result<()>> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        last.insert(&w.key, i);
    }
    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        if last[w.key.as_str()] != i {
            continue;
        }
        match &w.put {
            Some(put) => puts.push(put.clone()),
            None => deletes.push(w.key.clone()),
        }
    }
    let (put, delete) = tokio::join!(
        async {
            if puts.is_empty() {
                Ok(Vec::new())
            } else {
                api.bulk_put(&puts).await
            }
        },
        async {
            if deletes.is_empty() {
                Ok(Vec::new())
            } else {
                api.bulk_delete(&deletes).await
            }
        }
    );
    writes
        .iter()
        .map(|w| {
            let outcome = if w.put.is_some() { &put } else { &delete };
            match outcome {
                Err(e) => Err(e.clone()),
                Ok(failed) if failed.contains(&w.key) => Err(Error::new(
                    ErrorKind::Backend,
                    format!(
                        "Workers KV: Cloudflare did not {} {}",
                        if w.put.is_some() { "write" } else { "delete" },
                        w.key
                    ),
                )),
                Ok(_) => Ok(()),
            }
        })
        .collect()
}

/// Where a listing goes on: the Cloudflare cursor of the batch of keys it
/// stopped in (`None`: the first batch), and the last key it looked at
/// there. The exact prefix key is read on the first page only.
struct Cursor {
    batch: Option<String>,
    after: Option<String>,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor> {
        // A JSON key has no raw newline; Cloudflare's cursors neither.
        let (batch, after) = text.split_once('\n').ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOption,
                "Workers KV: not a cursor of this store's listings",
            )
        })?;
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(Cursor {
            batch: some(batch),
            after: some(after),
        })
    }

    fn text(batch: Option<&str>, after: Option<&str>) -> String {
        format!("{}\n{}", batch.unwrap_or(""), after.unwrap_or(""))
    }
}

/// The most keys of one bulk read (Cloudflare's limit).
const BULK_READ: usize = 100;
/// The most pairs of one bulk write, or keys of one bulk delete (Cloudflare's limit).
const BULK_WRITE: usize = 10_000;

/// How many keys one listing request asks for: Cloudflare's least and most.
const LIST_BATCH: std::ops::RangeInclusive<usize> = 10..=1000;

#[async_trait]
impl KvBackend for WorkersKvBackend {
    fn name(&self) -> &'static str {
        "Workers KV"
    }

    /// Reads the namespace, so that a wrong token, account or namespace
    /// shows at once.
    async fn initialize(&self) -> Result<()> {
        self.api.namespace().await.map(|_| ())
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        let Some(stored) = self.live(Self::name_of(key)?).await? else {
            return Ok(None);
        };
        json::validate_stored("Workers KV", key, &stored.value)?;
        Ok(Some(stored.value))
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        let name = Self::name_of(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::invalid_value(format!(
                "Workers KV: a value is at most {MAX_VALUE_BYTES} bytes (25 MiB) as JSON text; this one is {} bytes",
                value.len()
            )));
        }
        let put = Put {
            key: name.clone(),
            value,
            expiration_ttl: ttl.map(|t| {
                t.duration()
                    .as_secs_f64()
                    .ceil()
                    .max(MIN_EXPIRATION_TTL_SECS as f64) as u64
            }),
            expires: ttl.map(|t| t.expires_at(now_ms())),
        };
        self.writes
            .call(Write {
                key: name,
                put: Some(put),
            })
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let key = Self::name_of(key)?;
        self.writes.call(Write { key, put: None }).await
    }

    async fn cas(
        &self,
        _key: &Key,
        _expected: Option<&str>,
        _new: Option<String>,
        _ttl: Option<Ttl>,
    ) -> Result<bool> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "Workers KV: no cas: Workers KV has no conditional write, so no \
             compare-and-swap can be atomic (@fedify/cfworkers has none either)",
        ))
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        // As @fedify/cfworkers lists: the keys under `["a",` (children),
        // after the exact key `["a"]` itself, read first; everything
        // written as a key (`[`) for an empty prefix.
        let (pattern, exact) = if prefix.is_empty() {
            ("[".to_owned(), None)
        } else {
            let exact = encode_parts(prefix);
            (format!("{},", &exact[..exact.len() - 1]), Some(exact))
        };
        let mut entries = Vec::new();
        let mut at = match cursor {
            Some(text) => Cursor::parse(text)?,
            None => {
                if let Some(exact) = exact {
                    let key = Key::new(prefix.to_vec())?;
                    if let Some(stored) = self.live(exact).await? {
                        entries.push(entry(key, stored, None, expiry)?);
                    }
                }
                Cursor {
                    batch: None,
                    after: None,
                }
            }
        };
        loop {
            if entries.len() >= limit {
                let next = Cursor::text(at.batch.as_deref(), at.after.as_deref());
                return Ok(Page {
                    entries,
                    cursor: Some(next),
                });
            }
            let page = self
                .api
                .list_keys(
                    &pattern,
                    at.batch.as_deref(),
                    // What the page still needs: a page that takes the whole
                    // batch goes on from Cloudflare's own cursor.
                    (limit - entries.len()).clamp(*LIST_BATCH.start(), *LIST_BATCH.end()),
                )
                .await?;
            let (chosen, looked_at, more_here) =
                choose(page.keys, at.after.as_deref(), limit - entries.len());
            // The page's values in bulk reads of Cloudflare's most, all at
            // once (not through the reads' lane, which would send the first
            // alone and gather the rest as they come).
            let names: Vec<String> = chosen.iter().map(|(_, l)| l.name.clone()).collect();
            let reads = futures_util::future::join_all(
                names
                    .chunks(BULK_READ)
                    .map(|chunk| self.api.bulk_get(chunk)),
            )
            .await;
            let mut values = Vec::with_capacity(names.len());
            for read in reads {
                values.extend(read?);
            }
            let now = now_ms();
            for ((key, listed), stored) in chosen.into_iter().zip(values) {
                // Gone since it was listed, or expired by its latest metadata.
                if let Some(stored) = stored.filter(|s| !expired(s.expires, now)) {
                    entries.push(entry(key, stored, listed.expiration, expiry)?);
                }
            }
            if more_here {
                at.after = looked_at;
                continue;
            }
            match page.cursor {
                None => {
                    return Ok(Page {
                        entries,
                        cursor: None,
                    })
                }
                Some(next) => {
                    at = Cursor {
                        batch: Some(next),
                        after: None,
                    }
                }
            }
        }
    }

    /// Cloudflare's most names a listing request: a page is then one
    /// listing and ten bulk reads.
    fn list_page_size(&self) -> usize {
        *LIST_BATCH.end()
    }

    /// Deletes every entry whose KV key is a key (starts with `[`): Fedify's
    /// and fedikv's; other keys of the namespace stay, and so does it.
    async fn drop_storage(&self) -> Result<()> {
        let mut names = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .api
                .list_keys("[", cursor.as_deref(), *LIST_BATCH.end())
                .await?;
            names.extend(page.keys.into_iter().map(|k| k.name));
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        for chunk in names.chunks(BULK_WRITE) {
            let failed = self.api.bulk_delete(chunk).await?;
            if let Some(key) = failed.first() {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!("Workers KV: Cloudflare did not delete {key}"),
                ));
            }
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.writes.close().await;
        self.reads.close().await;
        Ok(())
    }
}

/// Of a batch of listed keys, those after `after` (all without it) up to
/// `wanted` live ones: each with its key, the last key looked at, and
/// whether keys of the batch are left.
fn choose(
    listed: Vec<api::Listed>,
    after: Option<&str>,
    wanted: usize,
) -> (Vec<(Key, api::Listed)>, Option<String>, bool) {
    let now = now_ms();
    let mut chosen = Vec::new();
    let mut looked_at = None;
    let mut rest = listed
        .into_iter()
        .filter(|k| after.is_none_or(|after| k.name.as_str() > after))
        .peekable();
    while chosen.len() < wanted {
        let Some(listed) = rest.next() else { break };
        looked_at = Some(listed.name.clone());
        if expired(listed.expires, now) {
            continue;
        }
        // Keys someone else wrote under `[` that are not exactly
        // JSON.stringify of a key: get never finds them, nor does list.
        if let Some(key) = Key::from_stored_json(&listed.name) {
            chosen.push((key, listed));
        }
    }
    (chosen, looked_at, rest.peek().is_some())
}

/// A listed entry: its value checked, and with [`Expiry::Read`] its expiry
/// (`metadata.expires`, else Cloudflare's own `expiration`).
fn entry(key: Key, stored: Stored, expiration: Option<i64>, expiry: Expiry) -> Result<Entry> {
    json::validate_stored("Workers KV", &key, &stored.value)?;
    let expires_at = match expiry {
        Expiry::Skip => None,
        Expiry::Read => stored
            .expires
            .map(|at| at.ceil() as i64)
            .or(expiration.map(|s| s.saturating_mul(1000))),
    };
    Ok(Entry {
        key,
        value: stored.value,
        expires_at,
    })
}
