//! What PostgreSQL's `text` and `jsonb` cannot hold, checked before anything
//! is sent, and the JSON text that `jsonb` gives back.

use crate::error::{Error, Result};

/// Refuses a key (or list prefix) part holding U+0000: PostgreSQL `text`
/// cannot store it, and the server would fail the statement with a message
/// about encodings instead.
pub(super) fn check_parts(parts: &[String]) -> Result<()> {
    if parts.iter().any(|part| part.contains('\0')) {
        return Err(Error::invalid_key(
            "PostgreSQL: a key part cannot contain U+0000 (the NUL character): \
             PostgreSQL text cannot hold it",
        ));
    }
    Ok(())
}

/// Refuses a JSON value `jsonb` cannot hold: a string with U+0000 (written
/// `\u0000` in JSON text) or with a lone surrogate (`\ud800` not followed by
/// a low surrogate), which `JSON.stringify` writes for such strings.
pub(super) fn check_value(json: &str) -> Result<()> {
    match unstorable_escape(json) {
        None => Ok(()),
        Some(what) => Err(Error::invalid_value(format!(
            "PostgreSQL: the value holds {what}, which jsonb cannot store"
        ))),
    }
}

/// The first escape in valid JSON text that `jsonb` refuses, described.
/// Backslashes occur only inside strings in valid JSON, and each starts an
/// escape of which the next character is part: so `\\u0000` (an escaped
/// backslash followed by `u0000`) is not taken for a NUL.
pub(super) fn unstorable_escape(json: &str) -> Option<&'static str> {
    let bytes = json.as_bytes();
    let mut i = 0;
    while let Some(offset) = memchr_backslash(&bytes[i..]) {
        i += offset;
        if bytes.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let unit = hex_unit(bytes, i + 2)?;
        i += 6;
        match unit {
            0 => return Some("a U+0000 (NUL) character"),
            0xd800..=0xdbff => {
                let low = (bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u'))
                    .then(|| hex_unit(bytes, i + 2))
                    .flatten();
                if !matches!(low, Some(0xdc00..=0xdfff)) {
                    return Some("a lone surrogate (an unpaired \\ud800-\\udbff)");
                }
                i += 6;
            }
            0xdc00..=0xdfff => return Some("a lone surrogate (an unpaired \\udc00-\\udfff)"),
            _ => {}
        }
    }
    None
}

fn memchr_backslash(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\\')
}

fn hex_unit(bytes: &[u8], at: usize) -> Option<u32> {
    let hex = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u32::from_str_radix(hex, 16).ok()
}

/// `jsonb`'s text output without the spaces it puts after `,` and `:`, so
/// that values come back as compact as `JSON.stringify` writes them.
/// Whitespace inside strings is kept (it is escaped there anyway, except
/// spaces themselves).
pub(super) fn compact_json(text: String) -> String {
    if !text.contains(' ') {
        return text;
    }
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            continue;
        }
        out.push(b);
    }
    // Only ASCII whitespace outside strings was removed: still UTF-8.
    String::from_utf8(out).expect("removing ASCII bytes keeps UTF-8 valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_and_lone_surrogates_but_not_escaped_backslashes() {
        assert!(unstorable_escape(r#""a\u0000b""#).is_some());
        assert!(unstorable_escape(r#"{"\u0000":1}"#).is_some());
        assert!(unstorable_escape(r#"["x","\\\u0000"]"#).is_some());
        assert!(unstorable_escape(r#""\ud800""#).is_some());
        assert!(unstorable_escape(r#""\ud800\u0041""#).is_some());
        assert!(unstorable_escape(r#""\udc00""#).is_some());
        assert!(unstorable_escape(r#""\uDBFF""#).is_some());
        assert_eq!(unstorable_escape(r#""\\u0000""#), None);
        assert_eq!(unstorable_escape(r#""\\\\u0000""#), None);
        assert_eq!(unstorable_escape(r#""\ud83d\ude00 \u0001 \n""#), None);
        assert_eq!(unstorable_escape(r#"{"a":[1,"\"",null]}"#), None);
        assert_eq!(unstorable_escape(r#""\\""#), None);
    }

    #[test]
    fn refuses_nul_in_key_parts() {
        assert!(check_parts(&["a".into(), "b\0".into()]).is_err());
        check_parts(&["a".into(), "\u{1}".into(), "".into()]).unwrap();
    }

    #[test]
    fn compacts_jsonb_output() {
        assert_eq!(
            compact_json(r#"{"a": [1, 2], "b": "x, y: \" z", "c": {"d": null}}"#.into()),
            r#"{"a":[1,2],"b":"x, y: \" z","c":{"d":null}}"#
        );
        assert_eq!(compact_json(r#""a\\" "#.into()), r#""a\\""#);
        assert_eq!(compact_json("1".into()), "1");
        assert_eq!(compact_json(r#"["é 😀"]"#.into()), r#"["é 😀"]"#);
    }
}
