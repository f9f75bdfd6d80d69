//! JSON values as the stores see them: text, compared by meaning.

use crate::error::{Error, ErrorKind, Result};
use std::borrow::Cow;

/// Whether two JSON texts hold equal values, as JavaScript sees them once
/// `JSON.parse` has read them: objects compare by members whatever their
/// order (a repeated member counts once, with its last value), numbers by
/// value (`1`, `1.0` and `1e0` are equal), strings by their UTF-16 code
/// units (lone surrogates included, which JavaScript strings may hold).
/// Any depth of nesting: the comparison uses no recursion. Texts that are
/// not JSON are errors, since `cas` must not guess.
pub fn json_text_equal(a: &str, b: &str) -> Result<bool> {
    if a == b {
        return Ok(true);
    }
    Ok(Tree::parse(a)?.equals(&Tree::parse(b)?))
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

/// One parsed value of a [`Tree`].
enum Node<'a> {
    Null,
    Bool(bool),
    Number(f64),
    /// The string's code units as WTF-8: UTF-8 in which a lone surrogate
    /// is the 3-byte sequence of its code point, so that equal bytes mean
    /// equal JavaScript strings. Borrowed when the text has no escape.
    String(Cow<'a, [u8]>),
    /// Indexes of the elements.
    Array(Vec<usize>),
    /// Members sorted by name, each name once (the last one of the text).
    Object(Vec<(Cow<'a, [u8]>, usize)>),
}

/// A JSON text parsed into a flat list of nodes, with no recursion, so
/// that no nesting depth can overflow the stack.
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    root: usize,
}

impl<'a> Tree<'a> {
    fn parse(text: &'a str) -> Result<Tree<'a>> {
        Parser {
            text: text.as_bytes(),
            pos: 0,
            nodes: Vec::new(),
        }
        .tree()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidData,
                format!("a stored value is not valid JSON ({e})"),
            )
        })
    }

    fn equals(&self, other: &Tree<'_>) -> bool {
        let mut pending = vec![(self.root, other.root)];
        while let Some((a, b)) = pending.pop() {
            match (&self.nodes[a], &other.nodes[b]) {
                (Node::Null, Node::Null) => {}
                (Node::Bool(x), Node::Bool(y)) if x == y => {}
                (Node::Number(x), Node::Number(y)) if x == y => {}
                (Node::String(x), Node::String(y)) if x == y => {}
                (Node::Array(x), Node::Array(y)) if x.len() == y.len() => {
                    pending.extend(x.iter().copied().zip(y.iter().copied()));
                }
                (Node::Object(x), Node::Object(y)) if x.len() == y.len() => {
                    for ((name_x, x), (name_y, y)) in x.iter().zip(y) {
                        if name_x != name_y {
                            return false;
                        }
                        pending.push((*x, *y));
                    }
                }
                _ => return false,
            }
        }
        true
    }
}

/// The JSON number at `start` of `text` (JSON.parse's grammar) and where it
/// ends, or `None` if none starts there. Rounds to the nearest double as
/// `JSON.parse` does; a number out of range is an infinity in both. Shared
/// by this module's parser and the Deno KV codec's.
pub(crate) fn scan_number(text: &[u8], start: usize) -> Option<(f64, usize)> {
    let digit_run = |from: usize| {
        let mut pos = from;
        while text.get(pos).is_some_and(|b| b.is_ascii_digit()) {
            pos += 1;
        }
        pos
    };
    let mut pos = start;
    if text.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match text.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos = digit_run(pos),
        _ => return None,
    }
    if text.get(pos) == Some(&b'.') {
        let end = digit_run(pos + 1);
        if end == pos + 1 {
            return None;
        }
        pos = end;
    }
    if let Some(b'e' | b'E') = text.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = text.get(pos) {
            pos += 1;
        }
        let end = digit_run(pos);
        if end == pos {
            return None;
        }
        pos = end;
    }
    let number = std::str::from_utf8(&text[start..pos])
        .ok()?
        .parse::<f64>()
        .ok()?;
    Some((number, pos))
}

/// The code unit of a one-character escape after a `\\` (`n` → 0x0A), or
/// `None` (`u` included, which takes four hex digits). Shared with the Deno
/// KV codec's parser.
pub(crate) fn short_escape(c: u8) -> Option<u16> {
    Some(match c {
        b'"' => 0x22,
        b'\\' => 0x5C,
        b'/' => 0x2F,
        b'b' => 0x08,
        b'f' => 0x0C,
        b'n' => 0x0A,
        b'r' => 0x0D,
        b't' => 0x09,
        _ => return None,
    })
}

/// The four hex digits at `pos` of `text` (a `\\u` escape) as a code unit,
/// or `None` unless all four are hex digits.
pub(crate) fn hex4_at(text: &[u8], pos: usize) -> Option<u16> {
    let hex = text.get(pos..pos + 4)?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// A JSON parser with the grammar of `JSON.parse`, iterative: open arrays
/// and objects wait on a stack of their own.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    nodes: Vec<Node<'a>>,
}

type Parsed<T> = std::result::Result<T, String>;

impl<'a> Parser<'a> {
    fn tree(mut self) -> Parsed<Tree<'a>> {
        // The open containers, innermost last, and the names of the members
        // whose values are being read.
        let mut open: Vec<usize> = Vec::new();
        let mut names: Vec<Cow<'a, [u8]>> = Vec::new();
        loop {
            // A value starts here.
            self.skip_whitespace();
            let mut done = match self.peek() {
                Some(b'[') | Some(b'{') => {
                    let object = self.peek() == Some(b'{');
                    self.pos += 1;
                    let node = self.push(if object {
                        Node::Object(Vec::new())
                    } else {
                        Node::Array(Vec::new())
                    });
                    self.skip_whitespace();
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.pos += 1;
                        node
                    } else {
                        open.push(node);
                        if object {
                            names.push(self.member_name()?);
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    let s = self.string()?;
                    self.push(Node::String(s))
                }
                Some(b'-' | b'0'..=b'9') => {
                    let n = self.number()?;
                    self.push(Node::Number(n))
                }
                Some(b't') => self.literal("true", Node::Bool(true))?,
                Some(b'f') => self.literal("false", Node::Bool(false))?,
                Some(b'n') => self.literal("null", Node::Null)?,
                _ => return Err(self.error("expected a value")),
            };
            // A value ended: it joins the innermost open container, which
            // either goes on after a comma or ends, joining its own.
            loop {
                let Some(&container) = open.last() else {
                    self.skip_whitespace();
                    if self.pos != self.text.len() {
                        return Err(self.error("text after the value"));
                    }
                    return Ok(Tree {
                        nodes: self.nodes,
                        root: done,
                    });
                };
                let object = match &mut self.nodes[container] {
                    Node::Array(items) => {
                        items.push(done);
                        false
                    }
                    Node::Object(members) => {
                        members.push((names.pop().expect("a name per member"), done));
                        true
                    }
                    _ => unreachable!("only containers are open"),
                };
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            names.push(self.member_name()?);
                        }
                        break;
                    }
                    Some(b']') if !object => self.pos += 1,
                    Some(b'}') if object => {
                        self.pos += 1;
                        if let Node::Object(members) = &mut self.nodes[container] {
                            // Reversed, then a stable sort: of a repeated
                            // name, the last member comes first and stays.
                            members.reverse();
                            members.sort_by(|a, b| a.0.cmp(&b.0));
                            members.dedup_by(|a, b| a.0 == b.0);
                        }
                    }
                    _ => return Err(self.error("expected ',' or the end of the array or object")),
                }
                open.pop();
                done = container;
            }
        }
    }

    fn push(&mut self, node: Node<'a>) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// A member's name and the colon after it.
    fn member_name(&mut self) -> Parsed<Cow<'a, [u8]>> {
        self.skip_whitespace();
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a member name"));
        }
        let name = self.string()?;
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return Err(self.error("expected ':'"));
        }
        self.pos += 1;
        Ok(name)
    }

    fn literal(&mut self, word: &str, node: Node<'a>) -> Parsed<usize> {
        if !self.text[self.pos..].starts_with(word.as_bytes()) {
            return Err(self.error("expected a value"));
        }
        self.pos += word.len();
        Ok(self.push(node))
    }

    fn number(&mut self) -> Parsed<f64> {
        let (number, end) =
            scan_number(self.text, self.pos).ok_or_else(|| self.error("bad number"))?;
        self.pos = end;
        Ok(number)
    }

    /// A string (at its opening quote) as WTF-8.
    fn string(&mut self) -> Parsed<Cow<'a, [u8]>> {
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(&self.text[start..self.pos - 1]),
                        Some(mut bytes) => {
                            bytes.extend_from_slice(&self.text[run..self.pos - 1]);
                            Cow::Owned(bytes)
                        }
                    });
                }
                Some(b'\\') => {
                    let bytes = owned.get_or_insert_with(Vec::new);
                    bytes.extend_from_slice(&self.text[run..self.pos]);
                    self.pos += 1;
                    let escaped = self.escape()?;
                    let bytes = owned.as_mut().expect("made above");
                    push_wtf8(bytes, escaped);
                }
                Some(_) => return Err(self.error("a control character in a string")),
                None => return Err(self.error("an unterminated string")),
            }
        }
    }

    /// The code point of the escape after a `\`: a surrogate pair written
    /// as two `\u` escapes is one code point; a lone surrogate stays itself.
    fn escape(&mut self) -> Parsed<u32> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("an unterminated string"))?;
        self.pos += 1;
        Ok(match c {
            b'u' => {
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit) && self.text[self.pos..].starts_with(b"\\u") {
                    let after = self.pos;
                    self.pos += 2;
                    let low = self.hex4()?;
                    if (0xDC00..0xE000).contains(&low) {
                        return Ok(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
                    }
                    self.pos = after;
                }
                unit
            }
            _ => short_escape(c)
                .map(u32::from)
                .ok_or_else(|| self.error("a bad escape"))?,
        })
    }

    fn hex4(&mut self) -> Parsed<u32> {
        let unit = hex4_at(self.text, self.pos).ok_or_else(|| self.error("a bad \\u escape"))?;
        self.pos += 4;
        Ok(u32::from(unit))
    }
}

/// Appends a code point (a lone surrogate included) as WTF-8.
fn push_wtf8(out: &mut Vec<u8>, code_point: u32) {
    match char::from_u32(code_point) {
        Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        // A surrogate: the 3-byte form UTF-8 would give it.
        None => out.extend_from_slice(&[
            0xE0 | (code_point >> 12) as u8,
            0x80 | ((code_point >> 6) & 0x3F) as u8,
            0x80 | (code_point & 0x3F) as u8,
        ]),
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
    fn equality_is_that_of_javascript_strings() {
        // Lone surrogates are code units like any other (JSON.stringify
        // writes them as escapes; a pair may be escaped or not).
        assert!(json_text_equal(r#"{"a":"\ud800","b":1}"#, r#"{"b":1,"a":"\ud800"}"#).unwrap());
        assert!(!json_text_equal(r#""\ud800""#, r#""\udc00""#).unwrap());
        assert!(!json_text_equal(r#""\ud800""#, r#""\ud800\udc00""#).unwrap());
        assert!(json_text_equal(r#"["\ud83d\ude00"]"#, "[\"😀\"]").unwrap());
        assert!(json_text_equal(r#"["\ud83d\ud83d\ude00"]"#, "[\"\\ud83d😀\"]").unwrap());
        assert!(json_text_equal(r#"["\u00e9\n\/"]"#, "[\"é\\n/\"]").unwrap());
        assert!(!json_text_equal(r#""a\u0000""#, r#""a""#).unwrap());
        // A repeated member counts once, with its last value (JSON.parse).
        assert!(json_text_equal(r#"{"a":1,"a":2}"#, r#"{"a":2}"#).unwrap());
        assert!(!json_text_equal(r#"{"a":1,"a":2}"#, r#"{"a":1}"#).unwrap());
        assert!(json_text_equal(" { \"a\" : [ 1 , -0 ] } ", r#"{"a":[1.0,0]}"#).unwrap());
        assert!(json_text_equal("1e400", "2e999").unwrap(), "both Infinity");
        assert!(!json_text_equal("[]", "{}").unwrap());
    }

    #[test]
    fn equality_has_no_depth_limit() {
        let deep = |n: usize, inner: &str| format!("{}{inner}{}", "[".repeat(n), "]".repeat(n));
        for n in [127, 128, 4_000, 200_000] {
            assert!(
                json_text_equal(&deep(n, "{\"a\":1,\"b\":2}"), &deep(n, "{\"b\":2,\"a\":1}"))
                    .unwrap()
            );
            assert!(!json_text_equal(&deep(n, "1"), &deep(n, "2")).unwrap());
            assert!(!json_text_equal(&deep(n, "1"), &deep(n + 1, "1")).unwrap());
        }
        let objects =
            |n: usize, leaf: &str| format!("{}{leaf}{}", "{\"k\":".repeat(n), "}".repeat(n));
        assert!(json_text_equal(&objects(100_000, "[1]"), &objects(100_000, "[1.0]")).unwrap());
    }

    #[test]
    fn equality_refuses_what_json_parse_refuses() {
        for bad in [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "[1 2]",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "NaN",
            "\"\u{1}\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\ud800\u12""#,
            "\"abc",
            "[",
            "{\"a\"}",
            "{\"a\":}",
            "{1:2}",
            "tru",
            "nul",
            "[]]",
            "{}x",
            "'a'",
        ] {
            assert_eq!(
                json_text_equal(bad, "0").unwrap_err().kind,
                ErrorKind::InvalidData,
                "{bad:?}"
            );
        }
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
