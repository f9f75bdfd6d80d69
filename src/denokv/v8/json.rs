//! JSON text: a parser that keeps what V8 needs (member order, lone
//! surrogates), and a writer that writes what `JSON.stringify` writes.

use super::{DecodeError, JsString, Value, LINEAR_SEARCH_MAX, MAX_DEPTH, MAX_JSON_LEN};
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

/// A small JSON parser that keeps what `serde_json::Value` would lose or
/// refuse: member order, duplicate members resolved as `JSON.parse` does,
/// and lone surrogates written as `\uD800` escapes.
pub(super) struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Parser {
            text: text.as_bytes(),
            pos: 0,
        }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    pub(super) fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    pub(super) fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, String> {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected character"))
        }
    }

    pub(super) fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let (number, end) = crate::json::scan_number(self.text, self.pos)
            .ok_or_else(|| self.error("bad number"))?;
        self.pos = end;
        Ok(Value::Number(number))
    }

    fn string(&mut self) -> Result<JsString, String> {
        self.expect(b'"')?;
        let mut text = String::new();
        let mut units: Option<Vec<u16>> = None;
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let run = std::str::from_utf8(&self.text[start..self.pos])
                .map_err(|_| self.error("invalid UTF-8"))?;
            match &mut units {
                Some(units) => units.extend(run.encode_utf16()),
                None => text.push_str(run),
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match units {
                        Some(units) => JsString::Units(units),
                        None => JsString::Text(text),
                    });
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let unit = self.escape()?;
                    let Some(units) = &mut units else {
                        match self.pair_or_char(unit)? {
                            Some(c) => text.push(c),
                            None => {
                                // A lone surrogate: from here on, code units.
                                let mut all: Vec<u16> = text.encode_utf16().collect();
                                all.push(unit);
                                units = Some(all);
                            }
                        }
                        continue;
                    };
                    units.push(unit);
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The code unit of the escape after a `\`.
    fn escape(&mut self) -> Result<u16, String> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += 1;
        Ok(match c {
            b'u' => {
                let unit = crate::json::hex4_at(self.text, self.pos)
                    .ok_or_else(|| self.error("bad \\u escape"))?;
                self.pos += 4;
                unit
            }
            _ => crate::json::short_escape(c).ok_or_else(|| self.error("bad escape"))?,
        })
    }

    /// The character of an escaped code unit, reading the low half of a
    /// surrogate pair when one follows; `None` for a lone surrogate (which
    /// then stays a code unit of its own).
    fn pair_or_char(&mut self, unit: u16) -> Result<Option<char>, String> {
        if let Some(c) = char::from_u32(u32::from(unit)) {
            return Ok(Some(c));
        }
        if (0xD800..0xDC00).contains(&unit) && self.text[self.pos..].starts_with(b"\\u") {
            let saved = self.pos;
            self.pos += 1;
            let low = self.escape()?;
            if (0xDC00..0xE000).contains(&low) {
                let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                return Ok(char::from_u32(c));
            }
            self.pos = saved;
        }
        Ok(None)
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(Rc::new(items)));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(Rc::new(items)));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.expect(b'{')?;
        let mut members: Vec<(JsString, Value)> = Vec::new();
        // Where each key is, once the object is large enough for a linear
        // search for repeated keys to cost more than a map.
        let mut positions: HashMap<JsString, usize> = HashMap::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Rc::new(members)));
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            // JSON.parse keeps the first position and the last value of a
            // repeated key (V8 would refuse to read a key twice).
            if members.len() == LINEAR_SEARCH_MAX {
                positions.extend(members.iter().enumerate().map(|(i, m)| (m.0.clone(), i)));
            }
            let repeated = if members.len() < LINEAR_SEARCH_MAX {
                members.iter().position(|(k, _)| *k == key)
            } else {
                positions.get(&key).copied()
            };
            match repeated {
                Some(i) => members[i].1 = value,
                None => {
                    if members.len() >= LINEAR_SEARCH_MAX {
                        positions.insert(key.clone(), members.len());
                    }
                    members.push((key, value));
                }
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(Rc::new(members)));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }
}

pub(super) fn write_json(out: &mut String, value: &Value, depth: usize) -> Result<(), DecodeError> {
    if out.len() > MAX_JSON_LEN {
        return Err(DecodeError::NotJson(format!(
            "a value whose JSON text is longer than {} MiB",
            MAX_JSON_LEN >> 20
        )));
    }
    if depth > MAX_DEPTH {
        return Err(DecodeError::NotJson(format!(
            "a value nested deeper than {MAX_DEPTH} levels"
        )));
    }
    match value {
        Value::Undefined | Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_finite() => write_js_number(out, *n),
        Value::Number(_) => out.push_str("null"),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, value, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A string as (well-formed) `JSON.stringify` writes it: the short escapes,
/// other controls as `\u00xx`, lone surrogates as `\udxxx`, the rest as is.
fn write_json_string(out: &mut String, s: &JsString) {
    out.push('"');
    match s {
        JsString::Text(text) => push_json_text(out, text),
        JsString::Units(units) => {
            for c in char::decode_utf16(units.iter().copied()) {
                match c {
                    Ok(c) => push_json_char(out, c),
                    Err(lone) => {
                        let _ = write!(out, "\\u{:04x}", lone.unpaired_surrogate());
                    }
                }
            }
        }
    }
    out.push('"');
}

/// `text` escaped as in [`write_json_string`], the runs that need no escape
/// copied whole (a character is escaped only below U+0020 or as `"` and
/// `\`, all ASCII, so every cut falls between characters). Per character,
/// this was a fifth of a Deno KV `get` (benchmark/profiles/denokv-get.txt).
fn push_json_text(out: &mut String, text: &str) {
    out.reserve(text.len());
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&text[start..i]);
        push_json_char(out, char::from(b));
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

fn push_json_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// A finite number as JavaScript's `Number.prototype.toString()` writes it
/// (ECMAScript's Number::toString): the shortest digits that round-trip,
/// plain up to 21 digits before the point, exponential (`1e+21`, `1e-7`)
/// beyond.
pub fn write_js_number(out: &mut String, n: f64) {
    if n == 0.0 {
        out.push('0');
        return;
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        let _ = write!(out, "{}", n as i64);
        return;
    }
    if n < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as JS needs.
    let sci = format!("{:e}", n.abs());
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let e: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let point = e + 1; // ECMAScript's n: where the decimal point goes
    if k <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
}
