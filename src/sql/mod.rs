//! Helpers shared by the SQL stores: table names for all three
//! ([`crate::sqlite`] too), and for the server ones ([`crate::postgres`],
//! [`crate::mysql`]) what both do alike, kept in one place so that a fix
//! reaches both.

// A build without the server stores uses only `names`.
#![cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]

// Only PostgreSQL batches its reads so far.
#[cfg(feature = "postgres")]
pub(crate) mod batch;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) mod certificate_files;
pub(crate) mod names;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) mod purge;

use std::path::Path;
use std::time::Duration;

pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longer than Redis's 5 s: a statement may rightly wait for row locks
/// held by other writers, or for DDL.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the pool options cannot be used, if they cannot: the message after
/// the backend's name.
pub(crate) fn pool_options_problem(
    max_connections: u32,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
) -> Option<&'static str> {
    if max_connections == 0 {
        Some("max_connections must be at least 1")
    } else if connect_timeout.is_zero() || response_timeout.is_some_and(|t| t.is_zero()) {
        Some("timeouts must be longer than zero")
    } else {
        None
    }
}

/// Where a server is, for messages: its socket path, else `host:port`
/// (never the URL, which may hold a password).
pub(crate) fn address(socket: Option<&Path>, host: &str, port: u16) -> String {
    match socket {
        Some(socket) => socket.display().to_string(),
        None => format!("{host}:{port}"),
    }
}
