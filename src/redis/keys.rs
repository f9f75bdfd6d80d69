//! Redis keys exactly as `@fedify/redis` writes them, and read back exactly.
//!
//! A key is the store's prefix followed by the key's parts, each with every
//! `:` replaced by `_:`, joined by `::`: `["a", "b:c"]` under `fedify::` is
//! `fedify::a::b_:c`. `@fedify/redis` writes that, so fedikv writes it too,
//! byte for byte.
//!
//! Reading it back is where `@fedify/redis` goes wrong (it splits on every
//! `::`, so `["a:", "b"]`, written `a_:::b`, comes back as `["a_", ":b"]`).
//! The encoding itself is uniquely decodable for every key, and
//! [`decode_key`] is exact:
//!
//! - In an encoded part every `:` directly follows the `_` put before it, so
//!   an encoded part never contains `::`, never starts with `:`, and ends
//!   with at most one `:` (when the part ends with `:`).
//! - So a maximal run of colons in the joined text is at most one colon that
//!   ends the part before it, then `2m` colons of `m` separators (with `m-1`
//!   empty parts between them). An odd run starts with one colon of the part
//!   before it; in an even run every pair is a separator; a run of one is a
//!   colon inside a part.
//! - Each part then decodes by turning every `_:` back into `:`.
//!
//! A text that is not the encoding of any key (a `:` not after `_`, say) is
//! no key of this store: decoding re-encodes and compares, and refuses it.

use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;

pub const DEFAULT_PREFIX: &str = "fedify::";

/// The longest prefix accepted, in bytes; far more than any name needs.
const MAX_PREFIX_LEN: usize = 256;

/// Characters a prefix may not contain: the glob characters of `SCAN MATCH`
/// and `KEYS`. fedikv escapes them in its own patterns, but `@fedify/redis`,
/// `redis-cli --scan --pattern 'prefix*'` and other tools sharing the data
/// do not, so a prefix holding one would make them list or delete the wrong
/// keys.
const GLOB_CHARACTERS: &[char] = &['*', '?', '[', ']', '\\'];

/// Checks a key prefix: 1 to 256 bytes, no control characters and no glob
/// characters (`* ? [ ] \`). Anything else is fine (`{…}` hash tags too):
/// the prefix is never spliced into a command, and keys are read back by
/// stripping it byte for byte, so it cannot confuse the key encoding.
/// The empty prefix is refused because `drop_storage` would then empty the
/// whole database.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let problem = if prefix.is_empty() {
        Some("it is empty (the store would own the whole database)".to_owned())
    } else if prefix.len() > MAX_PREFIX_LEN {
        Some(format!("it is longer than {MAX_PREFIX_LEN} bytes"))
    } else if let Some(c) = prefix.chars().find(|c| c.is_control()) {
        Some(format!("it contains the control character {c:?}"))
    } else {
        prefix
            .chars()
            .find(|c| GLOB_CHARACTERS.contains(c))
            .map(|c| format!("it contains the glob character {c:?}"))
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::new(
            ErrorKind::InvalidOption,
            format!("Redis: invalid key prefix {prefix:?}: {problem}"),
        )),
    }
}

/// The parts of a key (or a list prefix) as they follow the store's prefix.
pub fn encode_parts(parts: &[String]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 2).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        out.push_str(&part.replace(':', "_:"));
    }
    out
}

/// The key whose encoding is `text` (what follows the store's prefix), or
/// `None` when no key encodes to it.
pub fn decode_key(text: &str) -> Option<Key> {
    let parts = split_parts(text)
        .into_iter()
        .map(|part| part.replace("_:", ":"))
        .collect::<Vec<_>>();
    // Only canonical texts are keys: `a:b` would otherwise read as `["a:b"]`.
    if encode_parts(&parts) != text {
        return None;
    }
    Key::new(parts).ok()
}

/// Splits at the separators, by the parity of each run of colons.
fn split_parts(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b':' {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < bytes.len() && bytes[i] == b':' {
            i += 1;
        }
        // An odd run begins with the colon that ends the part before it.
        let mut at = run_start + (i - run_start) % 2;
        while at < i {
            parts.push(&text[start..at]);
            at += 2;
            start = at;
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `text` as a `SCAN MATCH` pattern that matches exactly that text:
/// every glob character (`* ? [ ] \`) escaped with a backslash.
pub fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if GLOB_CHARACTERS.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ordinary_keys_are_byte_for_byte_what_fedify_redis_writes() {
        // `key.map(p => p.replaceAll(":", "_:")).join("::")`, as in
        // @fedify/redis's kv.ts, and the texts its own tests expect.
        let cases: &[(&[&str], &str)] = &[
            (&["foo", "bar"], "foo::bar"),
            (&["foo", "baz"], "foo::baz"),
            (&["a"], "a"),
            (
                &["_fedify", "activityIdempotence", "https://example.com/a"],
                "_fedify::activityIdempotence::https_://example.com/a",
            ),
            (&["a:b", "c::d"], "a_:b::c_:_:d"),
            (&["", ""], "::"),
            (&["é😀", "*?[\\]"], "é😀::*?[\\]"),
        ];
        for (parts, expected) in cases {
            assert_eq!(encode_parts(&strings(parts)), *expected);
            assert_eq!(decode_key(expected).unwrap().parts(), &strings(parts)[..]);
        }
    }

    #[test]
    fn parts_that_fedify_splits_wrongly_round_trip() {
        let cases: &[(&[&str], &str)] = &[
            (&["a:", "b"], "a_:::b"),
            (&["a_", ":b"], "a_::_:b"),
            (&["a:", "", "b"], "a_:::::b"),
            (&["a", "", ""], "a::::"),
            (&[":"], "_:"),
            (&["::"], "_:_:"),
            (&["_:"], "__:"),
            (&["", ":"], "::_:"),
            (&[":", ""], "_:::"),
            (&[""], ""),
            (&["_", ""], "_::"),
            (&["", "", "", "_"], "::::::_"),
        ];
        for (parts, encoded) in cases {
            assert_eq!(encode_parts(&strings(parts)), *encoded, "{parts:?}");
            assert_eq!(decode_key(encoded).unwrap().parts(), &strings(parts)[..]);
        }
    }

    #[test]
    fn texts_that_encode_no_key_are_refused() {
        for text in [":", "a:b", ":a", "a:::b", "a_:b:", ":::", "a:::", "a::b:"] {
            assert_eq!(decode_key(text), None, "{text:?}");
        }
    }

    /// Every string over `alphabet` of length `len`.
    fn words(alphabet: &[char], len: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        for _ in 0..len {
            out = out
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
        }
        out
    }

    /// Every key of 1 to `max_parts` parts, each of length 0 to `max_len`.
    fn keys(alphabet: &[char], max_parts: usize, max_len: usize) -> Vec<Vec<String>> {
        let parts: Vec<String> = (0..=max_len).flat_map(|n| words(alphabet, n)).collect();
        let mut out: Vec<Vec<String>> = parts.iter().map(|p| vec![p.clone()]).collect();
        let mut last = out.clone();
        for _ in 1..max_parts {
            last = last
                .iter()
                .flat_map(|k| {
                    parts.iter().map(move |p| {
                        let mut k = k.clone();
                        k.push(p.clone());
                        k
                    })
                })
                .collect();
            out.extend(last.iter().cloned());
        }
        out
    }

    #[test]
    fn exhaustively_every_small_key_round_trips_and_no_two_collide() {
        // All keys of up to 3 parts of up to 3 characters from `:`, `_`, `a`:
        // 40 parts, 65,640 keys.
        let all = keys(&[':', '_', 'a'], 3, 3);
        assert_eq!(all.len(), 40 + 40 * 40 + 40 * 40 * 40);
        let mut seen: HashMap<String, Vec<String>> = HashMap::new();
        for key in all {
            let text = encode_parts(&key);
            assert_eq!(decode_key(&text).unwrap().parts(), &key[..], "{text:?}");
            if let Some(other) = seen.insert(text.clone(), key.clone()) {
                panic!("{key:?} and {other:?} both encode to {text:?}");
            }
        }
    }

    #[test]
    fn exhaustively_every_small_text_decodes_only_if_it_is_an_encoding() {
        // Each text over `:`, `_`, `a` of up to 8 characters either decodes
        // to a key that encodes back to it, or is refused.
        let mut decoded = 0;
        for len in 0..=8 {
            for text in words(&[':', '_', 'a'], len) {
                if let Some(key) = decode_key(&text) {
                    assert_eq!(encode_parts(key.parts()), text);
                    decoded += 1;
                }
            }
        }
        assert!(decoded > 1000, "{decoded}");
    }

    #[test]
    fn random_keys_round_trip() {
        // A small xorshift generator: no dependency, the same keys every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let alphabet = [':', '_', 'a', ':', '_', 'é'];
        for _ in 0..20_000 {
            let key: Vec<String> = (0..1 + next(6))
                .map(|_| {
                    (0..next(12))
                        .map(|_| alphabet[next(alphabet.len() as u64) as usize])
                        .collect()
                })
                .collect();
            let text = encode_parts(&key);
            assert_eq!(decode_key(&text).unwrap().parts(), &key[..], "{text:?}");
        }
    }

    #[test]
    fn a_prefix_key_is_a_text_prefix_of_the_keys_under_it() {
        // Listing scans for `prefix + encode(list prefix) + *`: every key
        // under the list prefix must start with that text.
        for key in keys(&[':', '_', 'a'], 3, 2) {
            for n in 1..=key.len() {
                let prefix = encode_parts(&key[..n]);
                assert!(encode_parts(&key).starts_with(&prefix), "{key:?} {n}");
            }
        }
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
        assert_eq!(glob_escape("fedify::_:é^-"), "fedify::_:é^-");
    }

    #[test]
    fn prefixes_that_could_mislead_are_refused() {
        for bad in [
            "",
            "a*",
            "a?",
            "[a]",
            "a\\",
            "a\nb",
            "a\0",
            &"x".repeat(257),
        ] {
            assert_eq!(
                validate_prefix(bad).unwrap_err().kind,
                ErrorKind::InvalidOption,
                "{bad:?}"
            );
        }
        for good in [
            "fedify::",
            "{fedify}::",
            "app:kv:",
            "é😀 ",
            "a-b^c",
            &"x".repeat(256),
        ] {
            validate_prefix(good).unwrap();
        }
    }
}
