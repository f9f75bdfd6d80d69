//! JSON values → V8 bytes, as `v8.serialize` writes them.

use super::{tag, JsString, Value};

pub(super) fn write_varint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn write_value(out: &mut Vec<u8>, value: &Value) {
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
pub(super) fn array_index(key: &JsString) -> Option<u32> {
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
