//! The options of the native factories, as the JS layer passes them, and
//! their conversion into each backend's config. Every field is optional: an
//! option left out keeps the config's default, so the defaults live in the
//! backends alone. The JS layer checks each option's type; this refuses
//! what would overflow or be zero.

#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "denokv",
    feature = "workerskv"
))]
use crate::error::{Error, ErrorKind, Result};
use crate::sqlite::SqliteConfig;
use napi_derive::napi;

/// Options of `NativeStore.sqlite`.
#[napi(object)]
pub struct SqliteOptions {
    pub table_name: Option<String>,
    pub initialized: Option<bool>,
}

impl SqliteOptions {
    pub fn config(self, path: String) -> SqliteConfig {
        let mut config = SqliteConfig::new(path);
        set(&mut config.table, self.table_name);
        set(&mut config.initialized, self.initialized);
        config
    }
}

/// Options of `NativeStore.redis`.
#[cfg(feature = "redis")]
#[napi(object)]
pub struct RedisOptions {
    pub key_prefix: Option<String>,
    /// Whether `urls` are the seed nodes of a Redis Cluster.
    pub cluster: bool,
    pub connect_timeout_ms: Option<f64>,
    /// 0 waits forever.
    pub response_timeout_ms: Option<f64>,
    /// PEM text: CAs to trust instead of the system's, a client
    /// certificate and its key (for `rediss://`).
    pub tls_ca: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

#[cfg(feature = "redis")]
impl RedisOptions {
    pub fn config(self, urls: Vec<String>) -> Result<crate::redis::RedisConfig> {
        use crate::redis::{RedisConfig, RedisTls};
        let mut config = if self.cluster {
            RedisConfig::cluster(urls)
        } else {
            let [url] = <[String; 1]>::try_from(urls).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOption,
                    "Redis: one URL, or an array of cluster nodes",
                )
            })?;
            RedisConfig::standalone(url)
        };
        set(&mut config.key_prefix, self.key_prefix);
        timeouts(
            (&mut config.connect_timeout, self.connect_timeout_ms),
            (&mut config.response_timeout, self.response_timeout_ms),
        )?;
        config.tls = RedisTls {
            ca: self.tls_ca,
            cert: self.tls_cert,
            key: self.tls_key,
        };
        Ok(config)
    }
}

/// Options of `NativeStore.postgres` and `NativeStore.mysql`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[napi(object)]
pub struct SqlServerOptions {
    pub table_name: Option<String>,
    pub initialized: Option<bool>,
    /// PostgreSQL only.
    pub unlogged: Option<bool>,
    pub max_connections: Option<u32>,
    pub connect_timeout_ms: Option<f64>,
    /// 0 waits forever.
    pub response_timeout_ms: Option<f64>,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl SqlServerOptions {
    #[cfg(feature = "postgres")]
    pub fn postgres(self, url: String) -> Result<crate::postgres::PostgresConfig> {
        let mut config = crate::postgres::PostgresConfig::new(url);
        set(&mut config.unlogged, self.unlogged);
        self.pool(
            &mut config.table,
            &mut config.initialized,
            &mut config.max_connections,
            &mut config.connect_timeout,
            &mut config.response_timeout,
        )?;
        Ok(config)
    }

    #[cfg(feature = "mysql")]
    pub fn mysql(self, url: String) -> Result<crate::mysql::MysqlConfig> {
        if self.unlogged.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "MySQL: unlogged is an option of PostgreSQL's alone",
            ));
        }
        let mut config = crate::mysql::MysqlConfig::new(url);
        self.pool(
            &mut config.table,
            &mut config.initialized,
            &mut config.max_connections,
            &mut config.connect_timeout,
            &mut config.response_timeout,
        )?;
        Ok(config)
    }

    /// Sets what both SQL server configs have alike.
    fn pool(
        self,
        table: &mut String,
        initialized: &mut bool,
        max_connections: &mut u32,
        connect_timeout: &mut std::time::Duration,
        response_timeout: &mut Option<std::time::Duration>,
    ) -> Result<()> {
        set(table, self.table_name);
        set(initialized, self.initialized);
        set(max_connections, self.max_connections);
        timeouts(
            (connect_timeout, self.connect_timeout_ms),
            (response_timeout, self.response_timeout_ms),
        )
    }
}

/// Options of `NativeStore.denokv`.
#[cfg(feature = "denokv")]
#[napi(object)]
pub struct DenoKvOptions {
    /// For a KV Connect URL (the JS layer falls back on
    /// `DENO_KV_ACCESS_TOKEN`).
    pub access_token: Option<String>,
    pub connect_timeout_ms: Option<f64>,
}

#[cfg(feature = "denokv")]
impl DenoKvOptions {
    pub fn config(self, path_or_url: String) -> Result<crate::denokv::DenoKvConfig> {
        let mut config = crate::denokv::DenoKvConfig::new(path_or_url);
        config.access_token = self.access_token;
        set(
            &mut config.connect_timeout,
            self.connect_timeout_ms
                .map(|ms| millis("connectTimeout", ms))
                .transpose()?,
        );
        Ok(config)
    }
}

/// Options of `NativeStore.workersKv` (the JS layer falls back on
/// `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_TOKEN`).
#[cfg(feature = "workerskv")]
#[napi(object)]
pub struct WorkersKvOptions {
    pub account_id: String,
    pub namespace_id: String,
    pub api_token: String,
    pub api_url: Option<String>,
    pub connect_timeout_ms: Option<f64>,
    /// Of each HTTP request.
    pub response_timeout_ms: Option<f64>,
    pub retries: Option<u32>,
}

#[cfg(feature = "workerskv")]
impl WorkersKvOptions {
    pub fn config(self) -> Result<crate::workerskv::WorkersKvConfig> {
        let mut config = crate::workerskv::WorkersKvConfig::new(
            self.account_id,
            self.namespace_id,
            self.api_token,
        );
        set(&mut config.api_url, self.api_url);
        set(&mut config.retries, self.retries);
        set(
            &mut config.connect_timeout,
            self.connect_timeout_ms
                .map(|ms| millis("connectTimeout", ms))
                .transpose()?,
        );
        set(
            &mut config.response_timeout,
            self.response_timeout_ms
                .map(|ms| millis("responseTimeout", ms))
                .transpose()?,
        );
        Ok(config)
    }
}

/// Replaces a config's default with the option, when one was given.
fn set<T>(field: &mut T, option: Option<T>) {
    if let Some(value) = option {
        *field = value;
    }
}

/// Sets a server store's connect and response timeouts from the options
/// that were given (milliseconds; a response timeout of 0 waits forever).
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
fn timeouts(
    connect: (&mut std::time::Duration, Option<f64>),
    response: (&mut Option<std::time::Duration>, Option<f64>),
) -> Result<()> {
    set(
        connect.0,
        connect
            .1
            .map(|ms| millis("connectTimeout", ms))
            .transpose()?,
    );
    set(
        response.0,
        response
            .1
            .map(|ms| optional_millis("responseTimeout", ms))
            .transpose()?,
    );
    Ok(())
}

/// A positive number of milliseconds as a duration.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "denokv",
    feature = "workerskv"
))]
fn millis(name: &str, ms: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(ms / 1000.0)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOption,
                format!("{name} must be a positive number of milliseconds, not {ms}"),
            )
        })
}

/// A response timeout: 0 means none (wait forever).
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
fn optional_millis(name: &str, ms: f64) -> Result<Option<std::time::Duration>> {
    if ms == 0.0 {
        Ok(None)
    } else {
        millis(name, ms).map(Some)
    }
}
