//! Every failure of the driver or the server, as fedikv's error kinds: the
//! one place that maps them.

use crate::error::{with_certificate_hint, Error, ErrorKind};

/// How a MySQL URL names the CA to trust.
const TRUST: &str = "give the CA that issued it with ssl-ca=/path/to/ca.pem in the URL, \
                     or match the URL's host name to the certificate";
use crate::net::response_timeout::Timeouts;
use sqlx_mysql::MySqlDatabaseError;

/// Server error numbers fedikv acts on (the MySQL and MariaDB manuals).
pub(super) mod code {
    pub const DUP_ENTRY: u16 = 1062;
    pub const DUP_KEYNAME: u16 = 1061;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const LOCK_DEADLOCK: u16 = 1213;
    pub const DATA_TOO_LONG: u16 = 1406;
    /// MySQL: the text given for a JSON column is not JSON.
    pub const INVALID_JSON_TEXT: u16 = 3140;
    /// MySQL: JSON nested deeper than 100 levels.
    pub const JSON_DOCUMENT_TOO_DEEP: u16 = 3157;
    /// MariaDB: a CHECK failed, here `json_valid(value)` of its JSON alias.
    pub const CONSTRAINT_FAILED: u16 = 4025;
    /// The statement is larger than the server's `max_allowed_packet`.
    pub const NET_PACKET_TOO_LARGE: u16 = 1153;
    pub const CON_COUNT: u16 = 1040;
    pub const DBACCESS_DENIED: u16 = 1044;
    pub const ACCESS_DENIED: u16 = 1045;
    /// MariaDB: a user that does not exist (or needs another plugin).
    pub const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
    pub const BAD_DB: u16 = 1049;
    pub const SERVER_SHUTDOWN: u16 = 1053;
    pub const HOST_IS_BLOCKED: u16 = 1129;
    pub const HOST_NOT_PRIVILEGED: u16 = 1130;
    pub const CONNECTION_KILLED: u16 = 1927;
}

/// The server error number of `e`, if the server answered with an error.
pub(super) fn error_number(e: &sqlx_core::Error) -> Option<u16> {
    e.as_database_error()?
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

/// Maps a driver or server failure to an error kind and a message naming
/// the server (where it is, never the URL: it may hold a password) and the
/// cause.
pub(super) fn mysql_error(server: &Timeouts, e: sqlx_core::Error) -> Error {
    use sqlx_core::Error as E;
    let (kind, message) = match &e {
        E::Database(db) => {
            let number = error_number(&e).unwrap_or(0);
            let kind = match number {
                code::LOCK_DEADLOCK | code::LOCK_WAIT_TIMEOUT => ErrorKind::Busy,
                code::INVALID_JSON_TEXT
                | code::JSON_DOCUMENT_TOO_DEEP
                | code::CONSTRAINT_FAILED
                | code::NET_PACKET_TOO_LARGE => ErrorKind::InvalidValue,
                code::DATA_TOO_LONG => ErrorKind::InvalidKey,
                code::CON_COUNT
                | code::DBACCESS_DENIED
                | code::ACCESS_DENIED
                | code::ACCESS_DENIED_NO_PASSWORD
                | code::BAD_DB
                | code::SERVER_SHUTDOWN
                | code::HOST_IS_BLOCKED
                | code::HOST_NOT_PRIVILEGED
                | code::CONNECTION_KILLED => ErrorKind::Connection,
                _ => ErrorKind::Backend,
            };
            let hint = match number {
                code::CONSTRAINT_FAILED => {
                    " (the server refused the value as JSON: MariaDB's json_valid() \
                     rejects nesting 32 or more levels deep and lone surrogate escapes)"
                }
                code::JSON_DOCUMENT_TOO_DEEP => " (MySQL's JSON type nests at most 100 levels)",
                code::NET_PACKET_TOO_LARGE => {
                    " (the value is larger than the server's max_allowed_packet; nothing was written)"
                }
                _ => "",
            };
            (kind, format!("{}{hint}", db))
        }
        E::PoolTimedOut => (
            ErrorKind::Connection,
            format!(
                "no connection to the MySQL/MariaDB server at {} within the connect \
                 timeout of {:?}: the server is unreachable or refuses connections, or \
                 every pooled connection stayed busy",
                server.address, server.connect
            ),
        ),
        E::PoolClosed => return Error::closed("MySQL"),
        E::Io(io) => (
            ErrorKind::Connection,
            with_certificate_hint(
                format!(
                    "the connection to the MySQL/MariaDB server at {} failed: {io}",
                    server.address
                ),
                TRUST,
            ),
        ),
        E::Tls(tls) => (
            ErrorKind::Connection,
            with_certificate_hint(
                format!("TLS with the server at {} failed: {tls}", server.address),
                TRUST,
            ),
        ),
        E::Configuration(c) => (ErrorKind::InvalidOption, format!("bad option: {c}")),
        E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) => {
            (ErrorKind::InvalidData, format!("unexpected data: {e}"))
        }
        E::WorkerCrashed => (ErrorKind::Internal, e.to_string()),
        _ => (ErrorKind::Backend, e.to_string()),
    };
    Error::new(kind, format!("MySQL: {message}"))
}
