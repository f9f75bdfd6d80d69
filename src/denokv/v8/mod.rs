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

mod json;
mod read;
mod write;

use std::rc::Rc;

pub use json::write_js_number;

/// The format version written: V8's `v8.serialize` writes it on Node 20 to
/// 26 and Deno 2.9, and every Deno reads it.
pub const FORMAT_VERSION: u32 = 15;

/// The newest format version read. Deno 2.9's KV writes 16 (V8 15); for
/// every tag this codec knows, its bytes are those of version 15 (the
/// values of `tests::deno_kv_version_16` were compared byte for byte).
pub const NEWEST_READ_VERSION: u32 = 16;

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

/// The V8 serialization of the value of a JSON text, as `v8.serialize(
/// JSON.parse(text))` writes it. `Err` describes why the text is not JSON.
pub fn json_to_v8(text: &str) -> Result<Vec<u8>, String> {
    let mut parser = json::Parser::new(text);
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if !parser.at_end() {
        return Err(parser.error("unexpected text after the value"));
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    out.push(tag::VERSION);
    write::write_varint(&mut out, FORMAT_VERSION);
    write::write_value(&mut out, &value);
    Ok(out)
}

/// The JSON text `JSON.stringify` would make of the value V8 deserializes
/// from `bytes`, or why there is none.
pub fn v8_to_json(bytes: &[u8]) -> Result<String, DecodeError> {
    let mut reader = read::Reader::new(bytes);
    reader.header()?;
    let value = reader.value(0)?;
    let mut out = String::with_capacity(bytes.len() + 16);
    match value {
        Value::Undefined => Err(DecodeError::NotJson("undefined".into())),
        value => {
            json::write_json(&mut out, &value, 0)?;
            Ok(out)
        }
    }
}
