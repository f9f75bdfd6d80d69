//! Every failure of Deno KV's crates, SQLite and KV Connect, as fedikv's
//! error kinds: the one place that maps them.

use super::v8::DecodeError;
use crate::error::{Error, ErrorKind};
use crate::key::Key;
use denokv_sqlite::SqliteBackendError;

fn error(kind: ErrorKind, message: impl std::fmt::Display) -> Error {
    Error::new(kind, format!("Deno KV: {message}"))
}

/// A failure of SQLite on a connection of fedikv's own (the reads).
pub(super) fn sqlite_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let (kind, hint) = match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::NotADatabase | ErrorCode::PermissionDenied) => {
            (ErrorKind::Connection, "")
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => (
            ErrorKind::Busy,
            " (another connection held the lock longer than the busy timeout of 5 s)",
        ),
        _ => (ErrorKind::Backend, ""),
    };
    error(kind, format!("{e}{hint}"))
}

/// A failure of `denokv_sqlite`'s writer.
pub(super) fn writer_error(e: SqliteBackendError) -> Error {
    match e {
        SqliteBackendError::SqliteError(e) => sqlite_error(e),
        SqliteBackendError::DatabaseClosed => error(
            ErrorKind::Backend,
            "the database's writer thread has stopped; the next call opens the file again",
        ),
        SqliteBackendError::WriteDisabled => error(
            ErrorKind::Backend,
            "the database file is read-only (check its permissions)",
        ),
        SqliteBackendError::UnknownValueEncoding(n) => error(
            ErrorKind::InvalidData,
            format!("a stored value has an unknown encoding ({n})"),
        ),
        other => error(ErrorKind::Backend, other),
    }
}

/// The file could not be opened (or migrated to Deno KV's schema).
pub(super) fn open_error(path: &str, cause: impl std::fmt::Display) -> Error {
    error(
        ErrorKind::Connection,
        format!("cannot open the Deno KV database {path:?}: {cause}"),
    )
}

/// A failure reported by `denokv_remote` (KV Connect). Its messages name
/// the data path URL and the server's answer, never the access token.
pub(super) fn remote_error(e: &deno_error::JsErrorBox) -> Error {
    let message = e.to_string();
    let kind = if message.contains("Failed to fetch metadata")
        || message.contains("metadata")
        || message.contains("status=401")
        || message.contains("status=403")
    {
        ErrorKind::Connection
    } else if message.contains("Database is closed") {
        return Error::closed("Deno KV");
    } else {
        ErrorKind::Backend
    };
    error(kind, format!("KV Connect: {message}"))
}

/// No answer from the KV Connect server in time.
pub(super) fn remote_timeout(endpoint: &str, timeout: std::time::Duration) -> Error {
    error(
        ErrorKind::Connection,
        format!(
            "no answer from the KV Connect server at {endpoint} within the timeout of \
             {timeout:?}: the server is unreachable, refuses the connection, or is too slow \
             (a write that timed out may or may not have happened)"
        ),
    )
}

/// A stored value that is not a JSON value, for `key`.
pub(super) fn stored_value_error(key: &Key, e: DecodeError) -> Error {
    let key = key.to_json();
    match e {
        DecodeError::NotJson(what) => error(
            ErrorKind::InvalidData,
            format!(
                "the value stored under {key} is {what}, which JSON cannot express \
                 (a Deno app wrote it; fedikv stores only JSON values)"
            ),
        ),
        DecodeError::Malformed(why) => error(
            ErrorKind::InvalidData,
            format!("the value stored under {key} is not valid V8 serialization data: {why}"),
        ),
    }
}

/// A stored value in one of Deno KV's other encodings.
pub(super) fn other_encoding_error(key: &Key, what: &str) -> Error {
    error(
        ErrorKind::InvalidData,
        format!(
            "the value stored under {} is {what}, which JSON cannot express (a Deno app \
             wrote it; fedikv stores only JSON values)",
            key.to_json()
        ),
    )
}
