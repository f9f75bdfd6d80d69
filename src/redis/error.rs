//! Redis failures as the store's error kinds: the one place that maps
//! them, for the `redis` crate's errors and for the replies on the pipe
//! ([`super::pipe`]) alike.

use super::pipe::Reply;
use crate::error::{with_certificate_hint, Error, ErrorKind, Result};
use crate::net::redact::mask_password;
use redis::RedisError;
use std::time::Duration;

pub(super) fn bad_certificates(e: RedisError) -> Error {
    Error::new(
        ErrorKind::InvalidOption,
        format!(
            "Redis: the TLS certificates cannot be used: {}",
            e.detail().unwrap_or_else(|| e.category())
        ),
    )
}

pub(super) fn bad_url(url: &str, e: RedisError) -> Error {
    // The crate's message names the problem, not the URL; the URL is shown
    // without its password.
    Error::new(
        ErrorKind::InvalidOption,
        format!(
            "Redis: invalid URL {:?}: {}",
            mask_password(url),
            e.detail().unwrap_or_else(|| e.category())
        ),
    )
}

/// Maps every failure of the `redis` crate to the error kinds; the one
/// place that does. Messages carry Redis's own text, which never includes
/// the URL or the password.
pub(super) fn redis_error(e: RedisError) -> Error {
    use redis::ErrorKind as K;
    use redis::ServerErrorKind as S;
    let kind = if e.is_timeout() {
        ErrorKind::Connection
    } else {
        match e.kind() {
            K::Io | K::AuthenticationFailed | K::ClusterConnectionNotFound => ErrorKind::Connection,
            K::Server(S::BusyLoading | S::ClusterDown | S::MasterDown | S::TryAgain) => {
                ErrorKind::Connection
            }
            K::InvalidClientConfig => ErrorKind::InvalidOption,
            _ => e.code().map_or(ErrorKind::Backend, kind_of_code),
        }
    };
    let hint = match kind {
        ErrorKind::Connection if e.is_timeout() => {
            " (no answer within the response timeout; the next operation reconnects)"
        }
        ErrorKind::Connection if e.is_unrecoverable_error() => {
            " (the connection was lost; the next operation reconnects)"
        }
        _ => code_hint(kind, e.code()),
    };
    Error::new(kind, format!("Redis: {e}{hint}"))
}

/// The error kind of a Redis error reply's code (its first word).
fn kind_of_code(code: &str) -> ErrorKind {
    match code {
        "LOADING" | "CLUSTERDOWN" | "MASTERDOWN" | "TRYAGAIN" | "NOAUTH" | "WRONGPASS" => {
            ErrorKind::Connection
        }
        "BUSY" => ErrorKind::Busy,
        "WRONGTYPE" => ErrorKind::InvalidData,
        _ => ErrorKind::Backend,
    }
}

/// What to add to the message of an error reply.
fn code_hint(kind: ErrorKind, code: Option<&str>) -> &'static str {
    match kind {
        ErrorKind::InvalidData => " (a key under the store's prefix that is not a string)",
        _ if code == Some("MOVED") => {
            " (this server is a node of a Redis Cluster: give the store the nodes' URLs as a list)"
        }
        _ => "",
    }
}

/// A reply on the pipe ([`super::pipe`]), an error reply as an error.
pub(super) fn checked(reply: Reply) -> Result<Reply> {
    match reply {
        Reply::Error(message) => Err(server_error(&message)),
        reply => Ok(reply),
    }
}

/// An error reply on the pipe, as [`redis_error`] maps the `redis` crate's.
fn server_error(message: &str) -> Error {
    let code = message.split(' ').next();
    let kind = code.map_or(ErrorKind::Backend, kind_of_code);
    Error::new(kind, format!("Redis: {message}{}", code_hint(kind, code)))
}

pub(super) fn invalid_data(what: &str) -> Error {
    Error::new(ErrorKind::InvalidData, format!("Redis: {what}"))
}

/// A connection that could not be made (refused, TLS, a wrong password).
pub(super) fn cannot_connect(place: &str, e: RedisError) -> Error {
    // Whatever keeps the connection from being made is a connection error,
    // unless the client refused its own configuration.
    let kind = match redis_error(e.clone()).kind {
        ErrorKind::InvalidOption => ErrorKind::InvalidOption,
        _ => ErrorKind::Connection,
    };
    let message = with_certificate_hint(
        format!("Redis: cannot connect to {place}: {e}"),
        "give the CA that issued it as the option tls.ca, or match the \
         URL's host name to the certificate",
    );
    Error::new(kind, message)
}

/// A connection not made within the connect timeout.
pub(super) fn no_connection(place: &str, connect_timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Connection,
        format!(
            "Redis: cannot connect to {place}: no connection within {} ms \
             (the connect timeout)",
            connect_timeout.as_millis()
        ),
    )
}
