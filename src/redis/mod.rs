//! The Redis backend: the key layout of `@fedify/redis` on a standalone
//! Redis (or Valkey) server or a Redis Cluster, through the `redis` crate.
//!
//! - Keys: the prefix, then the key's parts with `:` written `_:`, joined by
//!   `::` ([`keys`]); values: the JSON text, as `@fedify/redis` stores them.
//! - TTLs: `SET … PX` in whole milliseconds, rounded up; Redis expires keys
//!   itself, so nothing needs purging.
//! - `cas`: one Lua script ([`CAS_SCRIPT`]) reads, compares as JSON and
//!   writes, atomically on the key's node.
//! - `list`: `SCAN` per master, then one `MGET` per page ([`list`]).
//! - Connection: lazy, one shared multiplexed connection (or cluster
//!   connection), made again after a failure ([`connection`]); beside it,
//!   for `get`, `set`, `delete` and `cas` on a standalone server without
//!   TLS, a connection the JS thread drives ([`pipe`]).

mod connection;
mod error;
pub mod keys;
mod list;
mod pipe;

#[cfg(test)]
mod test_servers;
#[cfg(test)]
mod tests;

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{FirstPoll, LocalIo, Schedule};
use crate::key::Key;
use crate::net::redact::mask_password;
use crate::net::response_timeout::{self, Limit};
use crate::ttl::Ttl;
use async_trait::async_trait;
use connection::{Conn, Connector, Target};
use error::{bad_certificates, bad_url, checked, invalid_data, redis_error};
use list::{Listing, Position};
use pipe::{Pipe, Reply};
use redis::cluster::ClusterClientBuilder;
use redis::{ClientTlsConfig, RedisResult, Script, TlsCertificates};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub use keys::DEFAULT_PREFIX;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The compare-and-swap script; its arguments are documented in the file.
const CAS_SOURCE: &str = include_str!("cas.lua");
static CAS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CAS_SOURCE));

/// Which Redis to use.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: `redis://[user:password@]host[:port][/db]`, or
    /// `rediss://…` for TLS (`rediss://…/#insecure` skips certificate checks).
    Standalone(String),
    /// A Redis Cluster: the URLs of one or more of its nodes; the others are
    /// found from them.
    Cluster(Vec<String>),
}

/// Certificates for `rediss://`, as PEM text. Without `ca` the server's
/// certificate must chain to one of the system's CAs (read from the
/// system's store at run time; no OpenSSL is needed).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// The CA certificates to trust instead of the system's (for a server
    /// whose certificate a private or self-signed CA issued).
    pub ca: Option<String>,
    /// A client certificate (chain) and its private key, for a server that
    /// asks for one (`tls-auth-clients yes`).
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret; the rest is long and says little.
        f.debug_struct("RedisTls")
            .field("ca", &self.ca.is_some())
            .field("cert", &self.cert.is_some())
            .field("key", &self.key.is_some())
            .finish()
    }
}

impl RedisTls {
    fn is_empty(&self) -> bool {
        self == &RedisTls::default()
    }

    /// The certificates as the `redis` crate takes them, checked enough to
    /// refuse at construction what could never verify a server.
    fn certificates(&self) -> Result<TlsCertificates> {
        let invalid =
            |message: &str| Error::new(ErrorKind::InvalidOption, format!("Redis: {message}"));
        if let Some(ca) = &self.ca {
            if !ca.contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid(
                    "tls.ca holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
        let client_tls = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: cert.clone().into_bytes(),
                client_key: key.clone().into_bytes(),
            }),
            (None, None) => None,
            _ => return Err(invalid("tls.cert and tls.key go together")),
        };
        Ok(TlsCertificates {
            client_tls,
            root_cert: self.ca.clone().map(String::into_bytes),
        })
    }
}

/// How to reach Redis and where in it the store lives.
#[derive(Clone)]
pub struct RedisConfig {
    pub target: RedisTarget,
    /// Every key of the store starts with this; see [`keys::validate_prefix`].
    pub key_prefix: String,
    /// How long making a connection may take (TCP, TLS, authentication):
    /// an operation while Redis is unreachable fails after at most this.
    pub connect_timeout: Duration,
    /// How long one command may wait for its answer; `None` waits forever.
    pub response_timeout: Option<Duration>,
    /// Certificates for `rediss://` URLs (only with them).
    pub tls: RedisTls,
    /// Whether a standalone Redis without TLS also gets the connection the
    /// caller's event loop drives ([`pipe`]); off where no loop can (the
    /// binding on Deno and Bun, which have no Node libuv).
    pub event_loop_connection: bool,
}

impl RedisConfig {
    pub fn standalone(url: impl Into<String>) -> RedisConfig {
        RedisConfig::new(RedisTarget::Standalone(url.into()))
    }

    pub fn cluster<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> RedisConfig {
        RedisConfig::new(RedisTarget::Cluster(
            urls.into_iter().map(Into::into).collect(),
        ))
    }

    fn new(target: RedisTarget) -> RedisConfig {
        RedisConfig {
            target,
            key_prefix: DEFAULT_PREFIX.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
            tls: RedisTls::default(),
            event_loop_connection: true,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            RedisTarget::Standalone(url) => format!("Standalone({})", mask_password(url)),
            RedisTarget::Cluster(urls) => format!(
                "Cluster({})",
                urls.iter()
                    .map(|u| mask_password(u))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        f.debug_struct("RedisConfig")
            .field("target", &format_args!("{target}"))
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("tls", &self.tls)
            .field("event_loop_connection", &self.event_loop_connection)
            .finish()
    }
}

/// `host:port` of a URL, for messages.
fn place_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

/// A store in Redis, standalone or Cluster, laid out as `@fedify/redis`.
pub struct RedisBackend {
    prefix: String,
    connector: Connector,
    /// The connection the JS thread drives, where there can be one.
    pipe: Option<Arc<Pipe>>,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// One page of the keys under `prefix` with their raw values (`None`
    /// for a key gone since the SCAN), unchecked: `list_page` checks the
    /// values, `drop_storage` needs only the keys.
    async fn scan_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<list::RawPage> {
        let position = match cursor {
            Some(cursor) => Position::parse(cursor)?,
            None => Position::start(),
        };
        let listing = Listing {
            store_prefix: &self.prefix,
            list_prefix: prefix,
            pattern: format!(
                "{}*",
                keys::glob_escape(&format!("{}{}", self.prefix, keys::encode_parts(prefix)))
            ),
        };
        let page = self
            .run(|mut c| {
                let listing = &listing;
                async move { listing.page(&mut c, position, limit.max(1), expiry).await }
            })
            .await?;
        Ok(page)
    }

    /// Checks the configuration; connects on the first operation.
    pub fn new(config: RedisConfig) -> Result<RedisBackend> {
        keys::validate_prefix(&config.key_prefix)?;
        if config.connect_timeout.is_zero() || config.response_timeout.is_some_and(|t| t.is_zero())
        {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "Redis: timeouts must be longer than zero",
            ));
        }
        let urls: Vec<&String> = match &config.target {
            RedisTarget::Standalone(url) => vec![url],
            RedisTarget::Cluster(urls) => urls.iter().collect(),
        };
        if urls.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "Redis: a Cluster needs the URL of at least one node",
            ));
        }
        for url in &urls {
            check_url(url)?;
        }
        let tls = if urls.iter().any(|u| u.starts_with("rediss://")) {
            // The `redis` crate asks rustls for the process's default
            // crypto provider; ring is the one built in. If another was
            // installed first, that one is used.
            let _ = rustls::crypto::ring::default_provider().install_default();
            (!config.tls.is_empty())
                .then(|| config.tls.certificates())
                .transpose()?
        } else if config.tls.is_empty() {
            None
        } else {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "Redis: TLS certificates are given, but the URL is not rediss://",
            ));
        };
        let place = urls
            .iter()
            .map(|u| place_of(u))
            .collect::<Vec<_>>()
            .join(", ");
        let mut pipe = None;
        let target = match &config.target {
            RedisTarget::Standalone(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| bad_url(url, e))?;
                let address = pipe::Address::of(&client).filter(|_| config.event_loop_connection);
                pipe = address.map(|address| {
                    Arc::new(Pipe::new(
                        address,
                        place.clone(),
                        config.connect_timeout,
                        config.response_timeout,
                    ))
                });
                Target::Standalone(match tls {
                    Some(certificates) => redis::Client::build_with_tls(url.as_str(), certificates)
                        .map_err(bad_certificates)?,
                    None => client,
                })
            }
            RedisTarget::Cluster(urls) => {
                let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(config.connect_timeout);
                if let Some(certificates) = tls {
                    // Checked on one node first: the cluster builder would
                    // report bad certificates as a bad URL.
                    redis::Client::build_with_tls(urls[0].as_str(), certificates.clone())
                        .map_err(bad_certificates)?;
                    builder = builder.certs(certificates);
                }
                if let Some(timeout) = config.response_timeout {
                    builder = builder.response_timeout(timeout);
                }
                // Each URL masked on its own: masking the joined text would
                // find only the first password.
                let shown: Vec<String> = urls.iter().map(|u| mask_password(u)).collect();
                Target::Cluster(builder.build().map_err(|e| bad_url(&shown.join(" "), e))?)
            }
        };
        Ok(RedisBackend {
            prefix: config.key_prefix,
            pipe,
            connector: Connector::new(
                target,
                place,
                config.connect_timeout,
                config.response_timeout,
            ),
        })
    }

    fn redis_key(&self, key: &Key) -> String {
        format!("{}{}", self.prefix, keys::encode_parts(key.parts()))
    }

    /// The text stored under the Redis key `key`.
    async fn get_text(&self, key: &str) -> Result<Option<String>> {
        let value = self.one("GET", &[key.as_bytes()]).await?;
        value.map(text_of).transpose()
    }

    /// Runs a command whose reply is a string, nil or a status, and gives
    /// the string: on the pipe when this thread drives it, else on the
    /// multiplexed connection.
    async fn one(&self, name: &str, args: &[&[u8]]) -> Result<Option<Vec<u8>>> {
        if let Some(reply) = self.on_pipe(&pipe::command(name, args)) {
            return match checked(reply.await?)? {
                Reply::Bulk(value) => Ok(value),
                _ => Ok(None),
            };
        }
        let mut cmd = redis::cmd(name);
        for arg in args {
            cmd.arg(*arg);
        }
        let value: redis::Value = self
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        match value {
            redis::Value::BulkString(bytes) => Ok(Some(bytes)),
            _ => Ok(None),
        }
    }

    /// Sends `command` (RESP) on the pipe when this thread drives it, and
    /// gives its reply (an error reply too, as `Reply::Error`); `None`:
    /// use the multiplexed connection.
    fn on_pipe(&self, command: &[u8]) -> Option<impl Future<Output = Result<Reply>>> {
        let reply = self.pipe.as_ref()?.send(command)?;
        Some(async move {
            reply.await.unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Connection,
                    "Redis: the connection was dropped before the answer came",
                ))
            })
        })
    }

    /// Runs the cas script with `args` on `key`: on the pipe by its hash
    /// (by its text if Redis does not have it yet), else through the
    /// `redis` crate, which does the same.
    async fn cas_script(&self, key: &str, args: [&str; 5]) -> Result<i64> {
        let hash = CAS_SCRIPT.get_hash();
        let mut command: Vec<&[u8]> = vec![hash.as_bytes(), b"1", key.as_bytes()];
        command.extend(args.iter().map(|a| a.as_bytes()));
        if let Some(reply) = self.on_pipe(&pipe::command("EVALSHA", &command)) {
            let mut reply = reply.await?;
            if matches!(&reply, Reply::Error(m) if m.starts_with("NOSCRIPT")) {
                command[0] = CAS_SOURCE.as_bytes();
                match self.on_pipe(&pipe::command("EVAL", &command)) {
                    Some(again) => reply = again.await?,
                    None => return self.cas_script_elsewhere(key, args).await,
                }
            }
            return match checked(reply)? {
                Reply::Int(outcome) => Ok(outcome),
                other => Err(invalid_data(&format!(
                    "the cas script answered {other:?}, not a number"
                ))),
            };
        }
        self.cas_script_elsewhere(key, args).await
    }

    async fn cas_script_elsewhere(&self, key: &str, args: [&str; 5]) -> Result<i64> {
        let mut invocation = CAS_SCRIPT.key(key);
        for arg in args {
            invocation.arg(arg);
        }
        self.run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
    }

    /// Runs `op` on the connection; a failure that leaves the connection
    /// unusable (dropped, timed out) makes the next operation reconnect.
    /// Each command has the response timeout; the whole operation (several
    /// commands, the Cluster client's retries) at most the connect timeout
    /// plus the response timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (limit, place) = (self.connector.operation_limit(), self.connector.place());
        let mut used = None;
        let work = async {
            let (generation, conn) = self.connector.get().await?;
            used = Some(generation);
            op(conn).await.map_err(|e| {
                if e.is_unrecoverable_error() || e.is_timeout() {
                    self.connector.forget(generation);
                }
                redis_error(e)
            })
        };
        let outcome = response_timeout::within(limit, work).await;
        outcome.unwrap_or_else(|| {
            if let Some(generation) = used {
                self.connector.forget(generation);
            }
            Err(response_timeout::no_answer(
                "Redis",
                place,
                Limit::Operation(limit),
            ))
        })
    }
}

/// Only Redis URLs, refused with a message that shows what one looks like.
fn check_url(url: &str) -> Result<()> {
    let ok = ["redis://", "rediss://", "redis+unix://", "unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOption,
            format!(
                "Redis: invalid URL {:?}: use redis://[user:password@]host[:port][/db] \
                 or rediss://… for TLS",
                mask_password(url)
            ),
        ))
    }
}

/// A stored value as text; Fedify and fedikv store UTF-8 JSON text.
fn text_of(value: Vec<u8>) -> Result<String> {
    String::from_utf8(value).map_err(|_| invalid_data("a stored value is not UTF-8 text"))
}

/// `SET` arguments for a TTL: whole milliseconds, rounded up so that a value
/// never expires early. `None` inside means "expires at once".
fn ttl_millis(ttl: Option<Ttl>) -> Option<Option<i64>> {
    ttl.map(|ttl| Some(ttl.as_millis_ceil()).filter(|&ms| ms > 0))
}

impl Schedule for RedisBackend {
    /// A first poll would only queue the command for the connection's own
    /// task (and wake it): measured, one fewer context switch per call at
    /// concurrency 1 and half as many at 64 when the runtime polls it.
    /// Where the pipe is open on this thread, the JS thread drives it
    /// ([`pipe`]); asking makes it if there is none.
    fn first_poll(&self) -> FirstPoll {
        match &self.pipe {
            Some(pipe) if pipe.usable_here() => FirstPoll::Local,
            _ => FirstPoll::Runtime,
        }
    }

    fn local_io(&self) -> Option<Arc<dyn LocalIo>> {
        self.pipe.clone().map(|pipe| pipe as Arc<dyn LocalIo>)
    }
}

#[async_trait]
impl KvBackend for RedisBackend {
    fn name(&self) -> &'static str {
        "Redis"
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        self.get_text(&self.redis_key(key)).await
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        let key = self.redis_key(key);
        let (key, value) = (key.as_bytes(), value.as_bytes());
        match ttl_millis(ttl) {
            // A TTL of zero: the value is gone at once, like a delete
            // (`SET … PX 0` is an error in Redis).
            Some(None) => self.one("DEL", &[key]).await,
            Some(Some(ms)) => {
                let ms = ms.to_string();
                self.one("SET", &[key, value, b"PX", ms.as_bytes()]).await
            }
            None => self.one("SET", &[key, value]).await,
        }
        .map(drop)
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let key = self.redis_key(key);
        self.one("DEL", &[key.as_bytes()]).await.map(drop)
    }

    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        let key = self.redis_key(key);
        let (store, new, px) = match (new, ttl_millis(ttl)) {
            (None, _) | (_, Some(None)) => ("0", String::new(), String::new()),
            (Some(new), Some(Some(ms))) => ("1", new, ms.to_string()),
            (Some(new), None) => ("1", new, String::new()),
        };
        let mut expected = expected.map(str::to_owned);
        for attempt in 0.. {
            let args = [
                if expected.is_some() { "1" } else { "0" },
                expected.as_deref().unwrap_or(""),
                store,
                &new,
                &px,
            ];
            let outcome = self.cas_script(&key, args).await?;
            match outcome {
                1 => return Ok(true),
                0 => return Ok(false),
                -1 => return Err(invalid_data("the stored value is not valid JSON")),
                -2 => {
                    return Err(Error::new(
                        ErrorKind::InvalidValue,
                        "Redis: the expected value cannot be decoded by Redis's JSON library",
                    ))
                }
                _ => {}
            }
            // Both values nest deeper than the script's JSON library reads
            // (1000 levels) and differ as text: compare them here, and if
            // they are equal, swap only if the stored text is still the one
            // compared (the script matches equal texts without decoding).
            let Some(current) = self.get_text(&key).await? else {
                return Ok(false);
            };
            let wanted = expected.as_deref().expect("only a value is compared");
            if !crate::json::json_text_equal(&current, wanted)
                .map_err(|_| invalid_data("the stored value is not valid JSON"))?
            {
                return Ok(false);
            }
            expected = Some(current);
            if attempt > 0 {
                // The text changed under us since: another writer is busy.
                crate::net::retry::backoff(attempt, std::time::Duration::from_millis(1), 8).await;
            }
        }
        unreachable!("the loop returns")
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        let page = self.scan_page(prefix, cursor, limit, expiry).await?;
        let mut entries = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            // A key deleted or expired since the SCAN has no value.
            if let Some(value) = entry.value {
                // Anything can be stored under a Redis key: pages are
                // spliced unparsed, so only JSON may pass.
                let value = text_of(value).map_err(|e| {
                    Error::new(
                        e.kind,
                        format!("{} (under {})", e.message, entry.key.to_json()),
                    )
                })?;
                crate::json::validate_stored("Redis", &entry.key, &value)?;
                entries.push(Entry {
                    key: entry.key,
                    value,
                    expires_at: entry.expires_at,
                });
            }
        }
        Ok(Page {
            entries,
            cursor: page.cursor,
        })
    }

    /// Deletes every key of this store: each key under the prefix that is
    /// the encoding of a key. Keys under the prefix that fedikv and Fedify
    /// could not have written are left alone; a store whose prefix extends
    /// this one (`fedify::` and `fedify::x::`) cannot be told apart, so its
    /// keys go too.
    async fn drop_storage(&self) -> Result<()> {
        let all: [String; 0] = [];
        let mut cursor = None;
        loop {
            let page = self
                .scan_page(&all, cursor.as_deref(), 1000, Expiry::Skip)
                .await?;
            // Only keys holding strings are entries (MGET gives nothing for
            // a list or a hash, which is no value of Fedify's either).
            let keys: Vec<String> = page
                .entries
                .iter()
                .filter(|entry| entry.value.is_some())
                .map(|entry| self.redis_key(&entry.key))
                .collect();
            if !keys.is_empty() {
                self.run(
                    |mut c| async move { redis::cmd("UNLINK").arg(keys).exec_async(&mut c).await },
                )
                .await?;
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn close(&self) -> Result<()> {
        if let Some(pipe) = &self.pipe {
            pipe.close();
        }
        self.connector.close();
        Ok(())
    }
}
