//! [`Row`] → message bytes, over the same column plan as the decoder.

use super::ProtobufError;
use super::plan::{Col, Plan, Scalar};
use crate::row::{Row, RowSchema, Value};
use prost_reflect::{DynamicMessage, MessageDescriptor};

/// Encodes rows laid out as [`RowDecoder::schema`](super::RowDecoder::schema) says into one
/// message type. Build once per type.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    plan: Plan,
    /// Each slot's field key (number and wire type), varint-encoded once.
    keys: Vec<Key>,
}

/// A field key as written on the wire.
#[derive(Debug, Clone, Copy)]
struct Key {
    bytes: [u8; 5],
    len: u8,
}

impl Key {
    fn new(number: u32, wire: u8) -> Key {
        let mut v = (u64::from(number) << 3) | u64::from(wire);
        let mut bytes = [0u8; 5];
        let mut len = 0;
        while v >= 0x80 && len < 4 {
            bytes[len] = (v as u8) | 0x80;
            v >>= 7;
            len += 1;
        }
        bytes[len] = v as u8;
        Key { bytes, len: len as u8 + 1 }
    }

    #[inline]
    fn put(&self, out: &mut Vec<u8>) {
        // Fields 1-15 have one-byte keys: a push, not a memcpy call.
        if self.len == 1 {
            out.push(self.bytes[0]);
        } else {
            out.extend_from_slice(&self.bytes[..usize::from(self.len)]);
        }
    }
}

impl RowEncoder {
    /// Resolves the fields of `message`; the row layout is the decoder's for the same type.
    pub fn new(message: &MessageDescriptor) -> Result<Self, ProtobufError> {
        let plan = Plan::new(message)?;
        let keys = plan
            .slots
            .iter()
            .map(|slot| match &slot.col {
                Col::Scalar { scalar, .. } => Key::new(slot.number, scalar.wire_type()),
                _ => Key::new(slot.number, 2),
            })
            .collect();
        Ok(RowEncoder { plan, keys })
    }

    /// The columns rows must have.
    pub fn schema(&self) -> &RowSchema {
        &self.plan.schema
    }

    /// Encodes a row into a new buffer.
    pub fn encode_to_vec(&self, row: &Row) -> Result<Vec<u8>, ProtobufError> {
        let mut out = Vec::with_capacity(64);
        self.encode(row, &mut out)?;
        Ok(out)
    }

    /// Appends the encoding of `row` to `out`. Nulls and proto3 zero values are left out, as
    /// protobuf writers do. A row shorter than the schema is padded with nulls; a longer one is
    /// an error.
    pub fn encode(&self, row: &Row, out: &mut Vec<u8>) -> Result<(), ProtobufError> {
        if row.values.len() > self.plan.slots.len() {
            return Err(self.err(format!(
                "the row has {} values but the message has {} fields",
                row.values.len(),
                self.plan.slots.len()
            )));
        }
        for (slot, key) in self.plan.slots.iter().zip(&self.keys) {
            let value = row.get(slot.column);
            // The producers' hot path (about 100 million fields a second on one core): the
            // common scalars written straight from the cell, the key pre-encoded. Everything
            // else, range checks included, takes the general path below.
            if let Col::Scalar { scalar, presence } = &slot.col {
                match (scalar, value) {
                    (Scalar::String, Value::Str(s)) => {
                        if *presence || !s.is_empty() {
                            key.put(out);
                            put_varint(s.len() as u64, out);
                            out.extend_from_slice(s.as_bytes());
                        }
                        continue;
                    }
                    (Scalar::Double, Value::Float(f)) => {
                        // -0.0 is not the zero value (its bits differ), as protobuf writers agree
                        if *presence || f.to_bits() != 0 {
                            key.put(out);
                            out.extend_from_slice(&f.to_le_bytes());
                        }
                        continue;
                    }
                    (Scalar::Int64, Value::Int(i)) => {
                        if *presence || *i != 0 {
                            key.put(out);
                            put_varint(*i as u64, out);
                        }
                        continue;
                    }
                    (Scalar::Int32, Value::Int(i)) if i32::try_from(*i).is_ok() => {
                        if *presence || *i != 0 {
                            key.put(out);
                            put_varint(*i as u64, out);
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            if value.is_null() {
                continue;
            }
            let column = &self.plan.schema.fields[slot.column].name;
            match &slot.col {
                Col::Scalar { scalar, presence } => {
                    let w = Wire::of(scalar, value).map_err(|why| self.col_err(column, slot.number, value, why))?;
                    if *presence || !w.is_zero() {
                        key.put(out);
                        w.put(out);
                    }
                }
                Col::Timestamp => {
                    let ms = match value {
                        Value::Timestamp(ms) | Value::Int(ms) => *ms,
                        _ => return Err(self.col_err(column, slot.number, value, "expected a timestamp (ms)".into())),
                    };
                    let mut body = Vec::with_capacity(16);
                    let (secs, nanos) = (ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000);
                    if secs != 0 {
                        put_key(1, 0, &mut body);
                        put_varint(secs as u64, &mut body);
                    }
                    if nanos != 0 {
                        put_key(2, 0, &mut body);
                        put_varint(nanos as u64, &mut body);
                    }
                    put_key(slot.number, 2, out);
                    put_varint(body.len() as u64, out);
                    out.extend_from_slice(&body);
                }
                Col::Wrapper(inner) => {
                    let w = Wire::of(inner, value).map_err(|why| self.col_err(column, slot.number, value, why))?;
                    let mut body = Vec::with_capacity(16);
                    if !w.is_zero() {
                        put_key(1, inner.wire_type(), &mut body);
                        w.put(&mut body);
                    }
                    put_key(slot.number, 2, out);
                    put_varint(body.len() as u64, out);
                    out.extend_from_slice(&body);
                }
                Col::Json { field } => {
                    let Value::Str(text) = value else {
                        return Err(self.col_err(column, slot.number, value, "expected protobuf JSON text".into()));
                    };
                    let inner: serde_json::Value = serde_json::from_str(text)
                        .map_err(|e| self.col_err(column, slot.number, value, format!("not JSON ({e})")))?;
                    let mut obj = serde_json::Map::new();
                    obj.insert(field.json_name().to_string(), inner);
                    let msg = DynamicMessage::deserialize(self.plan.message.clone(), serde_json::Value::Object(obj))
                        .map_err(|e| self.col_err(column, slot.number, value, e.to_string()))?;
                    prost::Message::encode_raw(&msg, out);
                }
            }
        }
        Ok(())
    }

    fn err(&self, why: String) -> ProtobufError {
        ProtobufError::Encode { message: self.plan.message.full_name().to_string(), why }
    }

    fn col_err(&self, column: &str, number: u32, value: &Value, why: String) -> ProtobufError {
        let shown = match value {
            Value::Str(s) if s.len() > 40 => format!("{:?}...", &s[..s.floor_char_boundary(40)]),
            v => format!("{v:?}"),
        };
        self.err(format!("column {column:?} (field {number}) holds {shown}: {why}"))
    }
}

/// A scalar ready to be written.
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn of(scalar: &Scalar, v: &'a Value) -> Result<Wire<'a>, String> {
        let int = |lo: i64, hi: i64, what: &str| -> Result<i64, String> {
            let i = match v {
                Value::Int(i) | Value::Timestamp(i) => *i,
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => *f as i64,
                Value::Bool(b) => i64::from(*b),
                _ => return Err(format!("expected an integer for a {what} field")),
            };
            if i < lo || i > hi {
                return Err(format!("{i} is out of range for a {what} field"));
            }
            Ok(i)
        };
        let float = || -> Result<f64, String> {
            match v {
                Value::Float(f) => Ok(*f),
                Value::Int(i) => Ok(*i as f64),
                _ => Err("expected a number for a floating-point field".into()),
            }
        };
        Ok(match scalar {
            Scalar::Double => Wire::Fixed64(float()?.to_bits()),
            Scalar::Float => Wire::Fixed32((float()? as f32).to_bits()),
            Scalar::Int32 => Wire::Varint(int(i32::MIN.into(), i32::MAX.into(), "int32")? as u64),
            Scalar::Int64 => Wire::Varint(int(i64::MIN, i64::MAX, "int64")? as u64),
            Scalar::Uint32 => Wire::Varint(int(0, u32::MAX.into(), "uint32")? as u64),
            Scalar::Uint64 => Wire::Varint(int(0, i64::MAX, "uint64")? as u64),
            Scalar::Sint32 => {
                let i = int(i32::MIN.into(), i32::MAX.into(), "sint32")? as i32;
                Wire::Varint(u64::from(((i << 1) ^ (i >> 31)) as u32))
            }
            Scalar::Sint64 => {
                let i = int(i64::MIN, i64::MAX, "sint64")?;
                Wire::Varint(((i << 1) ^ (i >> 63)) as u64)
            }
            Scalar::Fixed32 => Wire::Fixed32(int(0, u32::MAX.into(), "fixed32")? as u32),
            Scalar::Sfixed32 => Wire::Fixed32(int(i32::MIN.into(), i32::MAX.into(), "sfixed32")? as i32 as u32),
            Scalar::Fixed64 => Wire::Fixed64(int(0, i64::MAX, "fixed64")? as u64),
            Scalar::Sfixed64 => Wire::Fixed64(int(i64::MIN, i64::MAX, "sfixed64")? as u64),
            Scalar::Bool => match v {
                Value::Bool(b) => Wire::Varint(u64::from(*b)),
                _ => return Err("expected a bool".into()),
            },
            Scalar::String => match v {
                Value::Str(s) => Wire::Bytes(s.as_bytes()),
                _ => return Err("expected text for a string field".into()),
            },
            Scalar::Bytes => match v {
                Value::Bytes(b) => Wire::Bytes(b),
                Value::Str(s) => Wire::Bytes(s.as_bytes()),
                _ => return Err("expected bytes".into()),
            },
            Scalar::Enum(names) => match v {
                Value::Str(s) => match names.number(s).or_else(|| s.parse().ok()) {
                    Some(n) => Wire::Varint(i64::from(n) as u64),
                    None => {
                        let known: Vec<&str> = names.all.iter().map(|(_, n)| n.as_str()).collect();
                        return Err(format!("not a value of the enum (known: {})", known.join(", ")));
                    }
                },
                Value::Int(_) => Wire::Varint(int(i32::MIN.into(), i32::MAX.into(), "enum")? as u64),
                _ => return Err("expected an enum value name or number".into()),
            },
        })
    }

    fn is_zero(&self) -> bool {
        match self {
            Wire::Varint(v) | Wire::Fixed64(v) => *v == 0,
            Wire::Fixed32(v) => *v == 0,
            Wire::Bytes(b) => b.is_empty(),
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Wire::Varint(v) => put_varint(*v, out),
            Wire::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Wire::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Wire::Bytes(b) => {
                put_varint(b.len() as u64, out);
                out.extend_from_slice(b);
            }
        }
    }
}

#[inline]
fn put_key(number: u32, wire: u8, out: &mut Vec<u8>) {
    put_varint((u64::from(number) << 3) | u64::from(wire), out);
}

/// Writes a varint with one capacity check (a loop of `push`es checks on every byte).
#[inline]
fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut buf = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 && n < 9 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    out.extend_from_slice(&buf[..=n]);
}
