//! One error type for every backend, with a kind that becomes the JS `code`.

use std::fmt;

/// What went wrong, as a caller can act on it. Each kind is one JS `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The key is not a non-empty array of well-formed strings (JS `TypeError`).
    InvalidKey,
    /// The value is not JSON, or is JSON the backend cannot hold (JS `TypeError`).
    InvalidValue,
    /// The TTL is negative, not finite, or too large (JS `RangeError`).
    InvalidTtl,
    /// An option given to a constructor is not acceptable (JS `TypeError`).
    InvalidOption,
    /// The store was closed before this call.
    Closed,
    /// The backend could not be reached or opened.
    Connection,
    /// The backend could not do what was asked (a failed query, a full disk…).
    Backend,
    /// The data was locked by another connection for longer than the store
    /// waits (SQLite's busy timeout); trying again later may succeed.
    Busy,
    /// Data read back from the backend is not what fedikv wrote (not JSON, say).
    InvalidData,
    /// The store cannot do this operation (for example `drop()` on memory).
    Unsupported,
    /// `migrate()` found entries in its target and was not told to merge.
    /// Raised by the JS layer alone; listed here so that every code is in
    /// one list ([`ErrorKind::ALL`]).
    NotEmpty,
    /// A bug in fedikv (a panic, caught before it could reach Node).
    Internal,
}

/// The class of the JS error a kind becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsClass {
    Error,
    TypeError,
    RangeError,
}

impl JsClass {
    pub fn name(self) -> &'static str {
        match self {
            JsClass::Error => "Error",
            JsClass::TypeError => "TypeError",
            JsClass::RangeError => "RangeError",
        }
    }
}

impl ErrorKind {
    /// Every kind: the one list of fedikv's error codes, which the addon
    /// exports (`errorCodes()`) and the tests hold `index.d.ts` and the
    /// README to.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidKey,
        ErrorKind::InvalidValue,
        ErrorKind::InvalidTtl,
        ErrorKind::InvalidOption,
        ErrorKind::Closed,
        ErrorKind::Connection,
        ErrorKind::Backend,
        ErrorKind::Busy,
        ErrorKind::InvalidData,
        ErrorKind::Unsupported,
        ErrorKind::NotEmpty,
        ErrorKind::Internal,
    ];

    /// The class of the JS error: bad arguments are `TypeError`s (a TTL out
    /// of range a `RangeError`), as Node's own are; the rest plain `Error`s.
    pub fn js_class(self) -> JsClass {
        match self {
            ErrorKind::InvalidKey | ErrorKind::InvalidValue | ErrorKind::InvalidOption => {
                JsClass::TypeError
            }
            ErrorKind::InvalidTtl => JsClass::RangeError,
            _ => JsClass::Error,
        }
    }

    /// The `code` property of the JS error.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "ERR_FEDIKV_INVALID_KEY",
            ErrorKind::InvalidValue => "ERR_FEDIKV_INVALID_VALUE",
            ErrorKind::InvalidTtl => "ERR_FEDIKV_INVALID_TTL",
            ErrorKind::InvalidOption => "ERR_FEDIKV_INVALID_OPTION",
            ErrorKind::Closed => "ERR_FEDIKV_CLOSED",
            ErrorKind::Connection => "ERR_FEDIKV_CONNECTION",
            ErrorKind::Backend => "ERR_FEDIKV_BACKEND",
            ErrorKind::Busy => "ERR_FEDIKV_BUSY",
            ErrorKind::InvalidData => "ERR_FEDIKV_INVALID_DATA",
            ErrorKind::Unsupported => "ERR_FEDIKV_UNSUPPORTED",
            ErrorKind::NotEmpty => "ERR_FEDIKV_NOT_EMPTY",
            ErrorKind::Internal => "ERR_FEDIKV_INTERNAL",
        }
    }
}

/// An error of a store: a kind and a message that names the backend and the
/// cause. Messages never contain connection secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_key(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidKey, message)
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidValue, message)
    }

    pub fn closed(backend: &str) -> Self {
        Error::new(ErrorKind::Closed, format!("{backend}: the store is closed"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.code())
    }
}

impl std::error::Error for Error {}

/// `message` with a hint on how to trust the server's CA when it says that
/// TLS could not verify the server's certificate (rustls: "invalid peer
/// certificate: UnknownIssuer", "…NotValidForName", …).
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
pub fn with_certificate_hint(message: String, how_to_trust: &str) -> String {
    if message.contains("invalid peer certificate") {
        format!("{message} (the server's certificate did not verify: {how_to_trust})")
    } else {
        message
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` holds every kind once: the match below has no wildcard, so a
    /// new kind does not compile until it has a place in the list.
    #[test]
    fn every_kind_is_listed_once() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            let place = match kind {
                ErrorKind::InvalidKey => 0,
                ErrorKind::InvalidValue => 1,
                ErrorKind::InvalidTtl => 2,
                ErrorKind::InvalidOption => 3,
                ErrorKind::Closed => 4,
                ErrorKind::Connection => 5,
                ErrorKind::Backend => 6,
                ErrorKind::Busy => 7,
                ErrorKind::InvalidData => 8,
                ErrorKind::Unsupported => 9,
                ErrorKind::NotEmpty => 10,
                ErrorKind::Internal => 11,
            };
            assert_eq!(place, i, "{kind:?} is out of place in ErrorKind::ALL");
            assert!(kind.code().starts_with("ERR_FEDIKV_"));
        }
    }
}
