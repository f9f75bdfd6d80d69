//! Keys: what `KvKey` is, how it arrives from JavaScript, and how it is
//! written as text exactly as V8's `JSON.stringify` writes it (the SQLite and
//! MySQL layouts store that text, so it must match byte for byte).

use crate::error::{Error, Result};
use std::fmt::Write;
use std::ops::Deref;

/// A key: one or more strings. Always valid once built.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Vec<String>);

impl Key {
    /// A key from its parts; an empty list is not a key.
    pub fn new(parts: Vec<String>) -> Result<Key> {
        if parts.is_empty() {
            return Err(Error::invalid_key("a key must have at least one part"));
        }
        Ok(Key(parts))
    }

    /// Parses the JSON text of a key (an array of strings) as JavaScript's
    /// `JSON.stringify(key)` makes it. Lone surrogates (`"\ud800"`) are
    /// refused, since no backend could store them faithfully.
    pub fn from_json(text: &str) -> Result<Key> {
        Key::new(parse_parts(text)?)
    }

    /// The key of a row whose key column holds `text` (the SQLite and
    /// MySQL layouts), or `None` when no key is stored as that text: not an
    /// array of well-formed strings, or not exactly what `JSON.stringify`
    /// writes (`["a", "b"]` with a space, `["\u0061"]`). Such rows were
    /// written by someone else; `get` never finds them, so `list` skips them
    /// too (and cannot yield one key twice).
    pub fn from_stored_json(text: &str) -> Option<Key> {
        Key::from_json(text)
            .ok()
            .filter(|key| key.to_json() == text)
    }

    /// The key as `JSON.stringify(key)` writes it.
    pub fn to_json(&self) -> String {
        encode_parts(&self.0)
    }

    pub fn parts(&self) -> &[String] {
        &self.0
    }

    pub fn into_parts(self) -> Vec<String> {
        self.0
    }

    /// Whether this key starts with every part of `prefix` (an empty prefix
    /// matches every key; a key matches itself).
    pub fn has_prefix(&self, prefix: &[String]) -> bool {
        self.0.len() >= prefix.len() && self.0[..prefix.len()] == *prefix
    }
}

impl Deref for Key {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// Parses the JSON text of a list prefix: like a key, but it may be empty
/// (the empty prefix lists everything).
pub fn parse_prefix(text: &str) -> Result<Vec<String>> {
    parse_parts(text)
}

fn parse_parts(text: &str) -> Result<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text).map_err(|e| {
        Error::invalid_key(format!(
            "a key must be an array of well-formed strings ({e})"
        ))
    })
}

/// The range of key texts (`JSON.stringify(key)`, as the SQLite and MySQL
/// layouts store keys) holding every key under `prefix`: the prefix's text
/// without its `]`, followed either by `]` (the prefix key itself) or by
/// `,` (a longer key). Inside a JSON string a `"` is always escaped, so no
/// other key can share that text, and no character is a pattern as it would
/// be in `LIKE`. Valid under any binary (code point) comparison.
pub fn json_prefix_range(prefix: &[String]) -> (String, String) {
    let mut open = encode_parts(prefix);
    open.pop();
    (format!("{open},"), format!("{open}]"))
}

/// Writes parts as `JSON.stringify` does: `"` and `\` escaped, the short
/// escapes `\b \f \n \r \t`, other control characters as `\u00xx` with
/// lowercase hex, and everything else (DEL, U+2028, non-ASCII) as is.
pub fn encode_parts(parts: &[String]) -> String {
    let mut out = String::with_capacity(2 + parts.iter().map(|p| p.len() + 3).sum::<usize>());
    out.push('[');
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, part);
    }
    out.push(']');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\x08' => Some("\\b"),
            b'\x0c' => Some("\\f"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Key {
        Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn encodes_like_v8_json_stringify() {
        // Expected texts are what Node 20's JSON.stringify printed for the same keys.
        let cases: &[(&[&str], &str)] = &[
            (&["a"], r#"["a"]"#),
            (&["a", "b:c", "::", ""], r#"["a","b:c","::",""]"#),
            (&["q\"uote", "back\\slash"], r#"["q\"uote","back\\slash"]"#),
            (&["\u{8}\u{c}\n\r\t"], r#"["\b\f\n\r\t"]"#),
            (&["\u{0}\u{1f}\u{7f}"], "[\"\\u0000\\u001f\u{7f}\"]"),
            (&["é😀\u{2028}"], "[\"é😀\u{2028}\"]"),
            (&["/%_*?[]"], r#"["/%_*?[]"]"#),
        ];
        for (parts, expected) in cases {
            assert_eq!(key(parts).to_json(), *expected);
            assert_eq!(Key::from_json(expected).unwrap(), key(parts));
        }
    }

    #[test]
    fn rejects_what_is_not_a_key() {
        for text in [
            "[]",
            "[1]",
            "\"a\"",
            "{}",
            "[\"a\",null]",
            r#"["\ud800"]"#,
            r#"["\udc00x"]"#,
            "not json",
        ] {
            let err = Key::from_json(text).unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::InvalidKey, "{text}");
        }
        // A well-formed surrogate pair is fine.
        assert_eq!(Key::from_json(r#"["\ud83d\ude00"]"#).unwrap(), key(&["😀"]));
    }

    #[test]
    fn stored_keys_are_exactly_json_stringify() {
        assert_eq!(
            Key::from_stored_json(r#"["a","b"]"#),
            Some(key(&["a", "b"]))
        );
        assert_eq!(Key::from_stored_json("[\"\\u0000é\"]"), Some(key(&["\0é"])));
        for foreign in [
            r#"["a", "b"]"#,
            r#" ["a"]"#,
            r#"["\u0061"]"#,
            r#"["\/"]"#,
            "[\"\\u00e9\"]",
            r#"["\u001F"]"#,
            r#"[]"#,
            r#"["a",1]"#,
            r#"["\ud800"]"#,
            "abc",
        ] {
            assert_eq!(Key::from_stored_json(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn prefix_range_brackets_exactly_the_keys_under_it() {
        let (low, high) = json_prefix_range(&["a".into(), "b".into()]);
        assert_eq!(
            (low.as_str(), high.as_str()),
            (r#"["a","b","#, r#"["a","b"]"#)
        );
        for inside in [r#"["a","b"]"#, r#"["a","b",""]"#, r#"["a","b","\uffff"]"#] {
            assert!(
                inside >= low.as_str() && inside <= high.as_str(),
                "{inside}"
            );
        }
        for outside in [
            r#"["a","bc"]"#,
            r#"["a","b\""]"#,
            r#"["a"]"#,
            r#"["a","c"]"#,
        ] {
            assert!(
                !(outside >= low.as_str() && outside <= high.as_str()),
                "{outside}"
            );
        }
    }

    #[test]
    fn prefixes() {
        let k = key(&["a", "b", "c"]);
        assert!(k.has_prefix(&[]));
        assert!(k.has_prefix(&["a".into(), "b".into()]));
        assert!(k.has_prefix(&["a".into(), "b".into(), "c".into()]));
        assert!(!k.has_prefix(&["a".into(), "B".into()]));
        assert!(!k.has_prefix(&["a".into(), "b".into(), "c".into(), "d".into()]));
        assert_eq!(parse_prefix("[]").unwrap(), Vec::<String>::new());
    }
}
