//! JSON values as the stores see them: text, compared by meaning.

use crate::error::{Error, ErrorKind, Result};
use serde_json::Value;

/// Whether two JSON texts hold equal values: objects compare by members
/// whatever their order, numbers by value (`1` and `1.0` are equal, as they
/// are once JavaScript has parsed them). Texts that are not JSON are errors,
/// since `cas` must not guess.
pub fn json_text_equal(a: &str, b: &str) -> Result<bool> {
    if a == b {
        return Ok(true);
    }
    Ok(values_equal(&parse(a)?, &parse(b)?))
}

/// Whether the live value `current` is what `cas` expects: both absent, or
/// both present and equal as JSON.
pub fn cas_matches(current: Option<&str>, expected: Option<&str>) -> Result<bool> {
    match (current, expected) {
        (None, None) => Ok(true),
        (Some(current), Some(expected)) => json_text_equal(current, expected),
        _ => Ok(false),
    }
}

/// Checks that a value read back from storage is JSON, for `key` (shown in
/// the error, as JavaScript writes it).
pub fn validate_stored(backend: &str, key: &crate::key::Key, text: &str) -> Result<()> {
    validate(text).map_err(|_| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "{backend}: the value stored under {} is not JSON",
                key.to_json()
            ),
        )
    })
}

/// Checks that `text` is one JSON value.
pub fn validate(text: &str) -> Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| Error::invalid_value(format!("the value is not valid JSON text ({e})")))
}

fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!("a stored value is not valid JSON ({e})"),
        )
    })
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_member_order_and_number_spelling() {
        assert!(json_text_equal(r#"{"a":1,"b":[1,2]}"#, r#"{"b":[1,2],"a":1}"#).unwrap());
        assert!(json_text_equal("1", "1.0").unwrap());
        assert!(json_text_equal("1e308", "1E308").unwrap());
        assert!(!json_text_equal(r#"{"a":1}"#, r#"{"a":1,"b":null}"#).unwrap());
        assert!(!json_text_equal("[1,2]", "[2,1]").unwrap());
        assert!(!json_text_equal("\"1\"", "1").unwrap());
        assert!(!json_text_equal("null", "false").unwrap());
        assert_eq!(
            json_text_equal("{", "1").unwrap_err().kind,
            ErrorKind::InvalidData
        );
    }

    #[test]
    fn validate_accepts_json_only() {
        assert!(validate(r#"{"a":[1,"x",null,true]}"#).is_ok());
        assert!(validate("\"a\\u0000b\"").is_ok());
        assert_eq!(validate("{").unwrap_err().kind, ErrorKind::InvalidValue);
        assert_eq!(validate("1 2").unwrap_err().kind, ErrorKind::InvalidValue);
        assert_eq!(validate("").unwrap_err().kind, ErrorKind::InvalidValue);
    }
}
