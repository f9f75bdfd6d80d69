//! Keys as Deno KV stores them: a `KvKey` of strings is the Deno KV key
//! tuple of the same strings, encoded by `denokv_proto` (FoundationDB's
//! tuple layer: each string part is `0x02`, its UTF-8 bytes with `0x00`
//! escaped as `0x00 0xFF`, and a `0x00`), so keys sort by their parts'
//! UTF-8 bytes, part by part.

use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use denokv_proto::{decode_key, encode_key, KeyPart};

/// Deno KV's largest key, encoded (`denokv_proto`'s write limit).
pub const MAX_KEY_BYTES: usize = 2048;

/// Deno KV's largest value, serialized (`denokv_proto`'s limit).
pub const MAX_VALUE_BYTES: usize = 65536;

/// The encoding of `parts`, of any length.
pub fn encode_parts(parts: &[String]) -> Vec<u8> {
    let key = denokv_proto::Key(parts.iter().cloned().map(KeyPart::String).collect());
    // Encoding strings cannot fail: only out-of-range integers can.
    encode_key(&key).expect("string key parts always encode")
}

/// The encoding of `key`, refused when it is larger than Deno KV allows.
pub fn encode(key: &Key) -> Result<Vec<u8>> {
    let bytes = encode_parts(key.parts());
    if bytes.len() > MAX_KEY_BYTES {
        return Err(Error::invalid_key(format!(
            "Deno KV: the key {} is {} bytes long encoded, and Deno KV allows at most \
             {MAX_KEY_BYTES} bytes (2 KiB) a key",
            abbreviated(&key.to_json()),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The key of an encoded key, if every part is a string (Deno apps may
/// also write numbers, booleans, bigints and byte arrays, which no `KvKey`
/// can be: such entries are not entries of this store).
pub fn decode(bytes: &[u8]) -> Option<Key> {
    let parts = decode_key(bytes).ok()?.0;
    let parts: Option<Vec<String>> = parts
        .into_iter()
        .map(|part| match part {
            KeyPart::String(s) => Some(s),
            _ => None,
        })
        .collect();
    Key::new(parts?).ok()
}

/// The byte range `[start, end)` of every key under `prefix`, the prefix
/// key itself included. Deno's own prefix selector starts after the prefix
/// (`prefix + 0x00`); starting at the prefix itself takes it in. Every key
/// in the range starts with the prefix's bytes, and the end (`prefix +
/// 0xFF`) shuts out a longer last part (`"a"` is `02 61 00`, `"a\0…"` is
/// `02 61 00 FF …`).
pub fn prefix_range(prefix: &[String]) -> (Vec<u8>, Vec<u8>) {
    let start = encode_parts(prefix);
    let mut end = start.clone();
    end.push(0xFF);
    (start, end)
}

/// A listing's cursor: the last key read, in hex.
pub fn cursor_of(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a listing goes on after `cursor`: the first key after it.
pub fn start_after(cursor: &str) -> Result<Vec<u8>> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidOption,
            "Deno KV: the list cursor is not one this store made",
        )
    };
    if !cursor.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut key = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>>>()?;
    // The smallest byte string greater than the key.
    key.push(0x00);
    Ok(key)
}

/// At most 80 characters of a long text, for messages.
fn abbreviated(text: &str) -> String {
    if text.chars().count() <= 80 {
        return text.to_owned();
    }
    let head: String = text.chars().take(77).collect();
    format!("{head}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn encodes_as_deno_does() {
        // Deno.KvKey ["a", "b\0c"] as Deno encodes it.
        assert_eq!(
            encode_parts(&parts(&["a", "b\0c"])),
            [0x02, b'a', 0x00, 0x02, b'b', 0x00, 0xFF, b'c', 0x00]
        );
        let key = Key::new(parts(&["é😀", ""])).unwrap();
        assert_eq!(decode(&encode(&key).unwrap()), Some(key));
        // A number part is no KvKey.
        let numeric = encode_key(&denokv_proto::Key(vec![
            KeyPart::String("a".into()),
            KeyPart::Float(1.0),
        ]))
        .unwrap();
        assert_eq!(decode(&numeric), None);
    }

    #[test]
    fn prefix_range_holds_exactly_the_keys_under_the_prefix() {
        let (start, end) = prefix_range(&parts(&["a"]));
        let inside = |p: &[&str]| {
            let k = encode_parts(&parts(p));
            k >= start && k < end
        };
        assert!(inside(&["a"]));
        assert!(inside(&["a", ""]));
        assert!(inside(&["a", "\u{10FFFF}", "z"]));
        assert!(!inside(&["a\0"]));
        assert!(!inside(&["a\0b", "c"]));
        assert!(!inside(&["ab"]));
        assert!(!inside(&["`"]));
        assert!(!inside(&["b"]));
        let (all_start, all_end) = prefix_range(&[]);
        assert!(all_start.is_empty() && all_end == [0xFF]);
    }

    #[test]
    fn cursors_round_trip() {
        let key = encode_parts(&parts(&["x", "\u{0}y"]));
        let mut next = key.clone();
        next.push(0);
        assert_eq!(start_after(&cursor_of(&key)).unwrap(), next);
        for bad in ["0", "zz", "é1"] {
            assert_eq!(start_after(bad).unwrap_err().kind, ErrorKind::InvalidOption);
        }
    }

    #[test]
    fn refuses_keys_over_two_kib() {
        // Each part costs its bytes plus two (type and terminator).
        let fits = Key::new(vec!["x".repeat(MAX_KEY_BYTES - 2)]).unwrap();
        assert_eq!(encode(&fits).unwrap().len(), MAX_KEY_BYTES);
        let over = Key::new(vec!["x".repeat(MAX_KEY_BYTES - 1)]).unwrap();
        let err = encode(&over).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidKey);
        assert!(err.message.contains("2048"), "{}", err.message);
        // A NUL costs two bytes.
        let nul = Key::new(vec!["\0".repeat(1024)]).unwrap();
        assert_eq!(encode(&nul).unwrap_err().kind, ErrorKind::InvalidKey);
    }
}
