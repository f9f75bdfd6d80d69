//! PostgreSQL failures as the store's error kinds: the one place that maps
//! them.

use crate::error::{with_certificate_hint, Error, ErrorKind};

/// How a PostgreSQL URL names the CA to trust.
const TRUST: &str = "give the CA that issued it with sslrootcert=/path/to/ca.pem in the URL, \
                     or match the URL's host name to the certificate";
use sqlx_core::error::Error as SqlxError;

/// Maps every sqlx/PostgreSQL failure to the error kinds. `address` is the
/// server's `host:port` (never the URL, which may hold a password) and
/// `connect_timeout` the pool's wait, both for messages.
pub(super) fn postgres_error(e: SqlxError, address: &str, connect_timeout_ms: u128) -> Error {
    let (kind, message) = match &e {
        SqlxError::Database(db) => {
            let code = db.code().unwrap_or_default();
            let kind = match &*code {
                // Cannot connect, or the connection was cut: the server
                // shutting down, an outage, authentication, a missing
                // database, too many connections.
                c if c.starts_with("08") || c.starts_with("28") => ErrorKind::Connection,
                "57P01" | "57P02" | "57P03" | "53300" | "3D000" => ErrorKind::Connection,
                // Text or JSON the server cannot hold (checked beforehand
                // for NUL and lone surrogates; this catches the rest).
                "22P02" | "22P05" | "22021" => ErrorKind::InvalidValue,
                // Waiting for a lock failed; trying again may succeed.
                "40P01" | "40001" | "55P03" => ErrorKind::Busy,
                _ => ErrorKind::Backend,
            };
            (kind, format!("{} (SQLSTATE {code})", db.message()))
        }
        SqlxError::Io(io) => (
            ErrorKind::Connection,
            with_certificate_hint(format!("the connection to {address} failed: {io}"), TRUST),
        ),
        SqlxError::Tls(tls) => (
            ErrorKind::Connection,
            with_certificate_hint(format!("TLS with {address} failed: {tls}"), TRUST),
        ),
        SqlxError::PoolTimedOut => (
            ErrorKind::Connection,
            format!(
                "no connection to {address} within {connect_timeout_ms} ms \
                 (the server is unreachable or refuses connections, \
                 or every pooled connection stayed busy)"
            ),
        ),
        SqlxError::PoolClosed => (ErrorKind::Closed, "the store is closed".into()),
        SqlxError::Configuration(cause) => (ErrorKind::InvalidOption, cause.to_string()),
        SqlxError::ColumnDecode { .. } | SqlxError::Decode(_) => {
            (ErrorKind::InvalidData, e.to_string())
        }
        _ => (ErrorKind::Backend, e.to_string()),
    };
    Error::new(kind, format!("PostgreSQL: {message}"))
}

/// Whether `e` means the connection it ran on is gone (the server restarted,
/// the network dropped it): older pooled connections are then suspect too.
pub(super) fn connection_lost(e: &SqlxError) -> bool {
    match e {
        SqlxError::Io(_) | SqlxError::Protocol(_) | SqlxError::Tls(_) => true,
        SqlxError::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_pool_and_io_failures() {
        let e = postgres_error(SqlxError::PoolTimedOut, "127.0.0.1:1", 200);
        assert_eq!(e.kind, ErrorKind::Connection);
        assert!(e.message.starts_with("PostgreSQL: "), "{}", e.message);
        assert!(e.message.contains("127.0.0.1:1"), "{}", e.message);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = postgres_error(SqlxError::Io(refused), "h:5432", 1);
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(
            postgres_error(SqlxError::PoolClosed, "h:5432", 1).kind,
            ErrorKind::Closed
        );
        assert_eq!(
            postgres_error(SqlxError::Protocol("x".into()), "h:5432", 1).kind,
            ErrorKind::Backend
        );
    }
}
