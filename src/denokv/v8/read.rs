//! V8 bytes → values, as V8's `ValueDeserializer` reads them, for the
//! JSON subset; every other type is an error naming it.

use super::json::write_js_number;
use super::write::array_index;
use super::{tag, DecodeError, JsString, Value, MAX_DEPTH, MAX_SPARSE_LENGTH, NEWEST_READ_VERSION};
use std::rc::Rc;

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    version: u32,
    /// Objects by id, in the order V8 numbers them (arrays and objects when
    /// they begin); `None` while one is still being read, so that a
    /// reference to it is a cycle.
    objects: Vec<Option<Value>>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            version: 0,
            objects: Vec::new(),
        }
    }

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

    pub(super) fn header(&mut self) -> Result<(), DecodeError> {
        if self.bytes.first() != Some(&tag::VERSION) {
            return Err(DecodeError::malformed(
                "no V8 serialization header (0xFF and a version)",
            ));
        }
        self.pos = 1;
        self.version = self.varint()?;
        if self.version == 0 || self.version > NEWEST_READ_VERSION {
            return Err(DecodeError::malformed(format!(
                "V8 serialization format version {} is not supported (1 to {NEWEST_READ_VERSION} are)",
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

    pub(super) fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
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
            // Latin-1: ASCII (most text) is already UTF-8, copied at once.
            tag::ONE_BYTE_STRING if raw.is_ascii() => Ok(JsString::Text(
                String::from_utf8(raw.to_vec()).expect("ASCII is UTF-8"),
            )),
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
