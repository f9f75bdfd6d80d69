//! JSON text ↔ V8's value serialization format, for the JSON subset.
//!
//! Deno KV stores a JavaScript value as the bytes of V8's `ValueSerializer`
//! (Deno's `core.serialize`, Node's `v8.serialize`: the same format). This
//! module writes and reads that format for exactly the values JSON can hold,
//! without a JavaScript engine, following V8's `value-serializer.cc`:
//!
//! - a header: `0xFF`, then the format version as a varint (V8 writes 15);
//! - `0` null, `T` true, `F` false, `_` undefined, `-` an array hole;
//! - `I` a 31/32-bit integer (zigzag varint), `U` a uint32 (varint), `N` a
//!   double (8 bytes, little endian);
//! - `"` a Latin-1 string, `c` a UTF-16LE string (V8 puts a `\0` padding
//!   byte before it when needed to align the characters), `S` UTF-8 (old);
//! - `o` … `{ n` an object of `n` key/value pairs (array-index keys are
//!   written as numbers); `A len` … `$ n len` a dense array of `len`
//!   elements then `n` extra properties; `a len` … `@ n len` a sparse array
//!   written as key/value pairs; `^ id` a second reference to an object.
//!
//! Reading follows what `JSON.stringify` makes of the value V8 would build:
//! `undefined` members are left out, `undefined` and holes in arrays become
//! `null`, as do `NaN` and the infinities, `-0` is `0`, non-index properties
//! of arrays are ignored, and a shared object is written out again at each
//! place. What JSON cannot express (a `Date`, `Map`, `Set`, `BigInt`,
//! `RegExp`, typed array, boxed primitive, error, host object, a cycle, or
//! `undefined` as the whole value) is a [`DecodeError`] naming the type,
//! never a panic.

use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

/// The format version V8 writes today (and Node 20 and Deno with it).
pub const FORMAT_VERSION: u32 = 15;

/// How deeply arrays and objects may nest, in either direction; deeper is
/// an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 256;

/// The most JSON text a stored value may expand to. A value that refers to
/// the same object many times (`^` references) can be far larger as JSON
/// than as V8 bytes; `JSON.stringify` would fail on it too.
pub const MAX_JSON_LEN: usize = 64 << 20;

/// The most elements a sparse array may have (its `length`), each becoming
/// at least `null,` in the JSON text.
const MAX_SPARSE_LENGTH: u32 = 1 << 20;

/// Objects up to this many members look for a repeated key linearly.
const LINEAR_SEARCH_MAX: usize = 16;

mod tag {
    pub const VERSION: u8 = 0xFF;
    pub const PADDING: u8 = b'\0';
    pub const VERIFY_OBJECT_COUNT: u8 = b'?';
    pub const THE_HOLE: u8 = b'-';
    pub const UNDEFINED: u8 = b'_';
    pub const NULL: u8 = b'0';
    pub const TRUE: u8 = b'T';
    pub const FALSE: u8 = b'F';
    pub const INT32: u8 = b'I';
    pub const UINT32: u8 = b'U';
    pub const DOUBLE: u8 = b'N';
    pub const UTF8_STRING: u8 = b'S';
    pub const ONE_BYTE_STRING: u8 = b'"';
    pub const TWO_BYTE_STRING: u8 = b'c';
    pub const OBJECT_REFERENCE: u8 = b'^';
    pub const BEGIN_OBJECT: u8 = b'o';
    pub const END_OBJECT: u8 = b'{';
    pub const BEGIN_SPARSE_ARRAY: u8 = b'a';
    pub const END_SPARSE_ARRAY: u8 = b'@';
    pub const BEGIN_DENSE_ARRAY: u8 = b'A';
    pub const END_DENSE_ARRAY: u8 = b'$';
    pub const ARRAY_BUFFER: u8 = b'B';
    pub const ARRAY_BUFFER_VIEW: u8 = b'V';
}

/// Why stored bytes are not a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A well-formed value that JSON cannot express; the text names it
    /// ("a Date", "a BigInt", …).
    NotJson(String),
    /// Bytes that are not V8 serialization data (or not data this reader
    /// understands); the text says where it went wrong.
    Malformed(String),
}

impl DecodeError {
    fn malformed(what: impl Into<String>) -> DecodeError {
        DecodeError::Malformed(what.into())
    }
}

/// A JavaScript string: Rust text, or UTF-16 code units when it holds a lone
/// surrogate (which JSON can escape and V8 can store, but `str` cannot hold).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum JsString {
    Text(String),
    Units(Vec<u16>),
}

/// A value of the JSON subset, as both directions build it. Arrays and
/// objects are shared (`Rc`) because V8 data may refer to one object from
/// several places.
#[derive(Clone, Debug)]
enum Value {
    /// `undefined` or an array hole (only ever read, never written).
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(JsString),
    Array(Rc<Vec<Value>>),
    Object(Rc<Vec<(JsString, Value)>>),
}

// ---------------------------------------------------------------------------
// JSON text → V8 bytes

/// The V8 serialization of the value of a JSON text, as `v8.serialize(
/// JSON.parse(text))` writes it. `Err` describes why the text is not JSON.
pub fn json_to_v8(text: &str) -> Result<Vec<u8>, String> {
    let mut parser = JsonParser {
        text: text.as_bytes(),
        pos: 0,
    };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != parser.text.len() {
        return Err(parser.error("unexpected text after the value"));
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    out.push(tag::VERSION);
    write_varint(&mut out, FORMAT_VERSION);
    write_value(&mut out, &value);
    Ok(out)
}

fn write_varint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Undefined => out.push(tag::UNDEFINED),
        Value::Null => out.push(tag::NULL),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Number(n) => write_number(out, *n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(tag::BEGIN_DENSE_ARRAY);
            write_varint(out, items.len() as u32);
            // An array of numbers one of which is no Smi has V8's "double
            // elements" kind: every element is written as a double.
            let doubles = items.iter().all(|v| matches!(v, Value::Number(_)))
                && items
                    .iter()
                    .any(|v| matches!(v, Value::Number(n) if as_smi(*n).is_none()));
            for item in items.iter() {
                match item {
                    Value::Number(n) if doubles => write_double(out, *n),
                    item => write_value(out, item),
                }
            }
            out.push(tag::END_DENSE_ARRAY);
            write_varint(out, 0);
            write_varint(out, items.len() as u32);
        }
        Value::Object(members) => {
            out.push(tag::BEGIN_OBJECT);
            for (key, value) in js_property_order(members) {
                match array_index(key) {
                    // V8 keeps array-index keys as numbers: a Smi, or a heap
                    // number past the 32-bit Smi range.
                    Some(index) => write_number(out, f64::from(index)),
                    None => write_string(out, key),
                }
                write_value(out, value);
            }
            out.push(tag::END_OBJECT);
            write_varint(out, members.len() as u32);
        }
    }
}

/// A number as V8 writes it: integers that fit a (32-bit) Smi as `I`,
/// everything else (fractions, `-0`, large integers) as a double.
fn write_number(out: &mut Vec<u8>, n: f64) {
    match as_smi(n) {
        Some(small) => {
            out.push(tag::INT32);
            write_varint(out, ((small << 1) ^ (small >> 31)) as u32);
        }
        None => write_double(out, n),
    }
}

fn write_double(out: &mut Vec<u8>, n: f64) {
    out.push(tag::DOUBLE);
    out.extend_from_slice(&n.to_le_bytes());
}

/// The integer of a number V8 holds as a Smi (32 bits on 64-bit Node).
fn as_smi(n: f64) -> Option<i32> {
    let small = n as i32;
    (f64::from(small) == n && !(n == 0.0 && n.is_sign_negative())).then_some(small)
}

fn write_string(out: &mut Vec<u8>, s: &JsString) {
    match s {
        JsString::Text(text) if text.chars().all(|c| (c as u32) <= 0xFF) => {
            out.push(tag::ONE_BYTE_STRING);
            write_varint(out, text.chars().count() as u32);
            out.extend(text.chars().map(|c| c as u8));
        }
        JsString::Text(text) => {
            let units: Vec<u16> = text.encode_utf16().collect();
            write_two_byte_string(out, &units);
        }
        JsString::Units(units) => write_two_byte_string(out, units),
    }
}

fn write_two_byte_string(out: &mut Vec<u8>, units: &[u16]) {
    let byte_length = (units.len() * 2) as u32;
    // V8 aligns the characters on two bytes (counted from the buffer's start).
    if (out.len() + 1 + varint_len(byte_length)) % 2 == 1 {
        out.push(tag::PADDING);
    }
    out.push(tag::TWO_BYTE_STRING);
    write_varint(out, byte_length);
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

fn varint_len(mut n: u32) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// The members of an object in JavaScript's property order: array-index
/// keys ascending, then the other keys in insertion order (as V8 holds them,
/// so as `v8.serialize` writes them).
fn js_property_order(members: &[(JsString, Value)]) -> Vec<&(JsString, Value)> {
    let mut indexed: Vec<(u32, &(JsString, Value))> = members
        .iter()
        .filter_map(|m| array_index(&m.0).map(|i| (i, m)))
        .collect();
    if indexed.is_empty() {
        return members.iter().collect();
    }
    indexed.sort_by_key(|(i, _)| *i);
    let named = members.iter().filter(|m| array_index(&m.0).is_none());
    indexed.into_iter().map(|(_, m)| m).chain(named).collect()
}

/// The array index a property key denotes: canonical decimal digits (no
/// leading zero) of a number up to 2³² − 2, as ECMAScript defines it.
fn array_index(key: &JsString) -> Option<u32> {
    let JsString::Text(text) = key else {
        return None;
    };
    let bytes = text.as_bytes();
    if bytes.is_empty()
        || bytes.len() > 10
        || !bytes.iter().all(u8::is_ascii_digit)
        || (bytes.len() > 1 && bytes[0] == b'0')
    {
        return None;
    }
    let n: u64 = text.parse().ok()?;
    (n <= u64::from(u32::MAX - 1)).then_some(n as u32)
}

/// A small JSON parser that keeps what `serde_json::Value` would lose or
/// refuse: member order, duplicate members resolved as `JSON.parse` does,
/// and lone surrogates written as `\uD800` escapes.
struct JsonParser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn skip_whitespace(&mut self) {
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

    fn value(&mut self, depth: usize) -> Result<Value, String> {
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
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("bad number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.error("bad number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.error("bad number"));
            }
        }
        let text = std::str::from_utf8(&self.text[start..self.pos]).expect("ASCII");
        // Rust's parse rounds to the nearest double, as JSON.parse does;
        // out-of-range numbers become ±Infinity in both.
        text.parse::<f64>()
            .map(Value::Number)
            .map_err(|_| self.error("bad number"))
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
            b'"' => 0x22,
            b'\\' => 0x5C,
            b'/' => 0x2F,
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => 0x0A,
            b'r' => 0x0D,
            b't' => 0x09,
            b'u' => {
                let hex = self
                    .text
                    .get(self.pos..self.pos + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                    .ok_or_else(|| self.error("bad \\u escape"))?;
                self.pos += 4;
                hex
            }
            _ => return Err(self.error("bad escape")),
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

// ---------------------------------------------------------------------------
// V8 bytes → JSON text

/// The JSON text `JSON.stringify` would make of the value V8 deserializes
/// from `bytes`, or why there is none.
pub fn v8_to_json(bytes: &[u8]) -> Result<String, DecodeError> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        version: 0,
        objects: Vec::new(),
    };
    reader.header()?;
    let value = reader.value(0)?;
    let mut out = String::with_capacity(bytes.len() + 16);
    match value {
        Value::Undefined => Err(DecodeError::NotJson("undefined".into())),
        value => {
            write_json(&mut out, &value, 0)?;
            Ok(out)
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    version: u32,
    /// Objects by id, in the order V8 numbers them (arrays and objects when
    /// they begin); `None` while one is still being read, so that a
    /// reference to it is a cycle.
    objects: Vec<Option<Value>>,
}

impl Reader<'_> {
    fn truncated(&self) -> DecodeError {
        DecodeError::malformed(format!("the data ends early (at byte {})", self.pos))
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(b)
    }

    fn raw(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.truncated())?;
        let raw = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(raw)
    }

    fn varint(&mut self) -> Result<u32, DecodeError> {
        let mut n: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            n |= u32::from(b & 0x7F).wrapping_shl(shift);
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError::malformed("a varint is too long"))
    }

    fn double(&mut self) -> Result<f64, DecodeError> {
        let raw = self.raw(8)?;
        Ok(f64::from_le_bytes(raw.try_into().expect("8 bytes")))
    }

    fn header(&mut self) -> Result<(), DecodeError> {
        if self.bytes.first() != Some(&tag::VERSION) {
            return Err(DecodeError::malformed(
                "no V8 serialization header (0xFF and a version)",
            ));
        }
        self.pos = 1;
        self.version = self.varint()?;
        if self.version == 0 || self.version > FORMAT_VERSION {
            return Err(DecodeError::malformed(format!(
                "V8 serialization format version {} is not supported (1 to {FORMAT_VERSION} are)",
                self.version
            )));
        }
        Ok(())
    }

    /// The next tag, skipping padding.
    fn tag(&mut self) -> Result<u8, DecodeError> {
        loop {
            let t = self.byte()?;
            if t != tag::PADDING {
                return Ok(t);
            }
        }
    }

    fn peek_tag(&mut self) -> Result<u8, DecodeError> {
        while self.bytes.get(self.pos) == Some(&tag::PADDING) {
            self.pos += 1;
        }
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.truncated())
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::NotJson(format!(
                "a value nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let t = self.tag()?;
        Ok(match t {
            tag::VERIFY_OBJECT_COUNT => {
                self.varint()?;
                return self.value(depth);
            }
            tag::UNDEFINED => Value::Undefined,
            tag::NULL => Value::Null,
            tag::TRUE => Value::Bool(true),
            tag::FALSE => Value::Bool(false),
            tag::INT32 => {
                let n = self.varint()?;
                Value::Number(f64::from(((n >> 1) as i32) ^ -((n & 1) as i32)))
            }
            tag::UINT32 => Value::Number(f64::from(self.varint()?)),
            tag::DOUBLE => Value::Number(self.double()?),
            tag::ONE_BYTE_STRING | tag::TWO_BYTE_STRING | tag::UTF8_STRING => {
                Value::String(self.string_body(t)?)
            }
            tag::OBJECT_REFERENCE => {
                let id = self.varint()? as usize;
                match self.objects.get(id) {
                    Some(Some(object)) => object.clone(),
                    Some(None) => {
                        return Err(DecodeError::NotJson(
                            "a value that contains itself (a cycle)".into(),
                        ))
                    }
                    None => {
                        return Err(DecodeError::malformed(format!(
                            "a reference to object {id}, which does not exist"
                        )))
                    }
                }
            }
            tag::BEGIN_OBJECT => self.object(depth)?,
            tag::BEGIN_DENSE_ARRAY => self.dense_array(depth)?,
            tag::BEGIN_SPARSE_ARRAY => self.sparse_array(depth)?,
            tag::THE_HOLE => {
                return Err(DecodeError::malformed("an array hole outside of an array"))
            }
            other => return Err(self.not_json(other)),
        })
    }

    /// The error for a tag of a type JSON has no place for.
    fn not_json(&mut self, t: u8) -> DecodeError {
        let name = match t {
            b'Z' => "a BigInt",
            b'D' => "a Date",
            b'R' => "a RegExp",
            b';' => "a Map",
            b'\'' => "a Set",
            b'y' | b'x' => "a Boolean object",
            b'n' => "a Number object",
            b'z' => "a BigInt object",
            b's' => "a String object",
            b'r' => "an Error",
            tag::ARRAY_BUFFER => return self.array_buffer(),
            b'~' => "a resizable ArrayBuffer",
            b't' => "a transferred ArrayBuffer",
            b'u' => "a SharedArrayBuffer",
            b'V' => "a typed array",
            b'\\' => "a host object (a Deno or Node built-in written by the embedder)",
            b'p' => "a shared object",
            b'w' | b'm' => "a WebAssembly object",
            _ => {
                return DecodeError::malformed(format!(
                    "unknown tag 0x{t:02x} at byte {}",
                    self.pos - 1
                ))
            }
        };
        DecodeError::NotJson(name.into())
    }

    /// An ArrayBuffer, or the typed array over it that follows it.
    fn array_buffer(&mut self) -> DecodeError {
        let view = (|| {
            let len = self.varint()? as usize;
            self.raw(len)?;
            if self.peek_tag()? != tag::ARRAY_BUFFER_VIEW {
                return Ok(None);
            }
            self.tag()?;
            Ok::<_, DecodeError>(Some(self.byte()?))
        })();
        let name = match view {
            Ok(Some(b'b')) => "an Int8Array",
            Ok(Some(b'B')) => "a Uint8Array",
            Ok(Some(b'C')) => "a Uint8ClampedArray",
            Ok(Some(b'w')) => "an Int16Array",
            Ok(Some(b'W')) => "a Uint16Array",
            Ok(Some(b'd')) => "an Int32Array",
            Ok(Some(b'D')) => "a Uint32Array",
            Ok(Some(b'h')) => "a Float16Array",
            Ok(Some(b'f')) => "a Float32Array",
            Ok(Some(b'F')) => "a Float64Array",
            Ok(Some(b'q')) => "a BigInt64Array",
            Ok(Some(b'Q')) => "a BigUint64Array",
            Ok(Some(b'?')) => "a DataView",
            Ok(Some(_)) => "a typed array",
            Ok(None) | Err(_) => "an ArrayBuffer",
        };
        DecodeError::NotJson(name.into())
    }

    fn string_body(&mut self, t: u8) -> Result<JsString, DecodeError> {
        let len = self.varint()? as usize;
        let raw = self.raw(len)?;
        match t {
            tag::ONE_BYTE_STRING => Ok(JsString::Text(raw.iter().map(|&b| b as char).collect())),
            tag::UTF8_STRING => Ok(JsString::Text(String::from_utf8_lossy(raw).into_owned())),
            _ => {
                if !len.is_multiple_of(2) {
                    return Err(DecodeError::malformed(
                        "a two-byte string of an odd number of bytes",
                    ));
                }
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Ok(match String::from_utf16(&units) {
                    Ok(text) => JsString::Text(text),
                    Err(_) => JsString::Units(units),
                })
            }
        }
    }

    /// A property key: a string, or a number (array indexes), as its string.
    fn key(&mut self, depth: usize) -> Result<JsString, DecodeError> {
        match self.value(depth)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => {
                let mut text = String::new();
                write_js_number(&mut text, n);
                Ok(JsString::Text(text))
            }
            _ => Err(DecodeError::malformed(
                "a property key is not a string or number",
            )),
        }
    }

    fn begin_object(&mut self) -> usize {
        self.objects.push(None);
        self.objects.len() - 1
    }

    fn object(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let id = self.begin_object();
        let mut members = Vec::new();
        while self.peek_tag()? != tag::END_OBJECT {
            let key = self.key(depth + 1)?;
            let value = self.value(depth + 1)?;
            members.push((key, value));
        }
        self.tag()?;
        let count = self.varint()? as usize;
        if count != members.len() {
            return Err(DecodeError::malformed(
                "an object's property count does not match",
            ));
        }
        // JSON.stringify leaves out members whose value is undefined.
        members.retain(|(_, v)| !matches!(v, Value::Undefined));
        let object = Value::Object(Rc::new(members));
        self.objects[id] = Some(object.clone());
        Ok(object)
    }

    fn dense_array(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let length = self.varint()? as usize;
        if length > self.bytes.len() - self.pos {
            return Err(DecodeError::malformed("an array longer than its data"));
        }
        let id = self.begin_object();
        let mut items = Vec::with_capacity(length);
        for _ in 0..length {
            if self.peek_tag()? == tag::THE_HOLE {
                self.tag()?;
                items.push(Value::Undefined);
            } else {
                items.push(self.value(depth + 1)?);
            }
        }
        // Properties other than elements: JSON.stringify ignores them.
        let extra = self.properties(tag::END_DENSE_ARRAY, depth, |_, _| Ok(()))?;
        self.end_array(extra, length)?;
        let array = Value::Array(Rc::new(items));
        self.objects[id] = Some(array.clone());
        Ok(array)
    }

    fn sparse_array(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let length = self.varint()?;
        if length > MAX_SPARSE_LENGTH {
            return Err(DecodeError::NotJson(format!(
                "a sparse array of length {length} (more than {MAX_SPARSE_LENGTH})"
            )));
        }
        let id = self.begin_object();
        let mut items = vec![Value::Undefined; length as usize];
        let count = self.properties(tag::END_SPARSE_ARRAY, depth, |key, value| {
            if let Some(i) = array_index(&key).filter(|i| *i < length) {
                items[i as usize] = value;
            }
            Ok(())
        })?;
        self.end_array(count, length as usize)?;
        let array = Value::Array(Rc::new(items));
        self.objects[id] = Some(array.clone());
        Ok(array)
    }

    /// Reads key/value pairs up to `end`, handing each to `each`; returns
    /// how many there were.
    fn properties(
        &mut self,
        end: u8,
        depth: usize,
        mut each: impl FnMut(JsString, Value) -> Result<(), DecodeError>,
    ) -> Result<usize, DecodeError> {
        let mut count = 0;
        while self.peek_tag()? != end {
            let key = self.key(depth + 1)?;
            let value = self.value(depth + 1)?;
            each(key, value)?;
            count += 1;
        }
        self.tag()?;
        Ok(count)
    }

    fn end_array(&mut self, properties: usize, length: usize) -> Result<(), DecodeError> {
        let expected_properties = self.varint()? as usize;
        let expected_length = self.varint()? as usize;
        if properties != expected_properties || length != expected_length {
            return Err(DecodeError::malformed(
                "an array's property count or length does not match",
            ));
        }
        Ok(())
    }
}

fn write_json(out: &mut String, value: &Value, depth: usize) -> Result<(), DecodeError> {
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
        JsString::Text(text) => {
            for c in text.chars() {
                push_json_char(out, c);
            }
        }
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
