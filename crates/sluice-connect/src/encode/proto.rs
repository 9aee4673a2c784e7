//! INTERIM protobuf encoder for flat proto3 messages (`UserEvent`, `MyEvent`).
//!
//! To be replaced by the `sluice-formats` protobuf encoder (prost-reflect over a descriptor or
//! a registry schema) when that lands: it will implement [`Encoder`] and take this one's place
//! in `sluice produce user-events|numbers`. Until then this writes the same bytes Python's and
//! Java's protobuf runtimes write for a message of scalar fields: fields in number order,
//! proto3 defaults (0, "", false) omitted.

use super::{EncodeError, Encoder, kind_name};
use sluice_formats::{Row, RowSchema, Value};

/// A scalar protobuf type this interim encoder can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoType {
    /// `string` (length-delimited UTF-8).
    String,
    /// `bytes`.
    Bytes,
    /// `double` (fixed 64-bit).
    Double,
    /// `float` (fixed 32-bit).
    Float,
    /// `int32` (varint; negative values take 10 bytes, as in every runtime).
    Int32,
    /// `int64` (varint).
    Int64,
    /// `bool` (varint 0/1).
    Bool,
}

/// One field of a message: its number and type; the row column with the same position feeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoField {
    /// Field name, as in the `.proto`.
    pub name: String,
    /// Field number.
    pub number: u32,
    /// Scalar type.
    pub ty: ProtoType,
}

/// A flat message layout: full name and fields in row-column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoMessage {
    /// Fully qualified name, e.g. `protobuf.UserEvent`.
    pub full_name: String,
    /// Fields, one per row column.
    pub fields: Vec<ProtoField>,
}

impl ProtoMessage {
    /// `protobuf.UserEvent { string userId = 1; string action = 2; double value = 3; }` from
    /// seed 000's `user_event.proto`.
    pub fn user_event() -> Self {
        ProtoMessage {
            full_name: "protobuf.UserEvent".into(),
            fields: vec![
                ProtoField { name: "userId".into(), number: 1, ty: ProtoType::String },
                ProtoField { name: "action".into(), number: 2, ty: ProtoType::String },
                ProtoField { name: "value".into(), number: 3, ty: ProtoType::Double },
            ],
        }
    }

    /// `MyEvent { int32 number = 1; }` from `proto/my_event.proto` (seed 001's message as
    /// sluice ships it; the seed's own `.proto` is not part of its text).
    pub fn my_event() -> Self {
        ProtoMessage {
            full_name: "MyEvent".into(),
            fields: vec![ProtoField { name: "number".into(), number: 1, ty: ProtoType::Int32 }],
        }
    }
}

/// Encodes rows as one flat proto3 message each.
#[derive(Debug, Clone)]
pub struct ProtoEncoder {
    message: ProtoMessage,
}

impl ProtoEncoder {
    /// An encoder writing `message`; fails when the schema's columns do not line up with it.
    pub fn new(schema: &RowSchema, message: ProtoMessage) -> Result<Self, EncodeError> {
        if schema.len() != message.fields.len() {
            return Err(EncodeError::Width { expected: message.fields.len(), actual: schema.len() });
        }
        Ok(ProtoEncoder { message })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

impl Encoder for ProtoEncoder {
    fn encode(&mut self, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if row.values.len() != self.message.fields.len() {
            return Err(EncodeError::Width { expected: self.message.fields.len(), actual: row.values.len() });
        }
        let mut order: Vec<usize> = (0..self.message.fields.len()).collect();
        order.sort_by_key(|i| self.message.fields[*i].number);
        for i in order {
            let field = &self.message.fields[i];
            let value = &row.values[i];
            let mismatch = || EncodeError::Mismatch {
                column: field.name.clone(),
                expected: format!("{:?}", field.ty).to_lowercase(),
                actual: kind_name(value),
            };
            match (field.ty, value) {
                (_, Value::Null) => {}
                (ProtoType::String, Value::Str(s)) => {
                    if !s.is_empty() {
                        put_tag(out, field.number, 2);
                        put_varint(out, s.len() as u64);
                        out.extend_from_slice(s.as_bytes());
                    }
                }
                (ProtoType::Bytes, Value::Bytes(b)) => {
                    if !b.is_empty() {
                        put_tag(out, field.number, 2);
                        put_varint(out, b.len() as u64);
                        out.extend_from_slice(b);
                    }
                }
                (ProtoType::Double, v @ (Value::Float(_) | Value::Int(_))) => {
                    let x = v.as_f64().unwrap_or(0.0);
                    // proto3 omits 0.0 but keeps -0.0 (bit pattern differs), as protobuf does.
                    if x.to_bits() != 0 {
                        put_tag(out, field.number, 1);
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                (ProtoType::Float, v @ (Value::Float(_) | Value::Int(_))) => {
                    let x = v.as_f64().unwrap_or(0.0) as f32;
                    if x.to_bits() != 0 {
                        put_tag(out, field.number, 5);
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                (ProtoType::Int32, Value::Int(i)) => {
                    let v = i32::try_from(*i).map_err(|_| EncodeError::Mismatch {
                        column: field.name.clone(),
                        expected: "int32".into(),
                        actual: format!("{i} (out of the int32 range)"),
                    })?;
                    if v != 0 {
                        put_tag(out, field.number, 0);
                        put_varint(out, i64::from(v) as u64);
                    }
                }
                (ProtoType::Int64, Value::Int(i)) => {
                    if *i != 0 {
                        put_tag(out, field.number, 0);
                        put_varint(out, *i as u64);
                    }
                }
                (ProtoType::Bool, Value::Bool(b)) => {
                    if *b {
                        put_tag(out, field.number, 0);
                        out.push(1);
                    }
                }
                _ => return Err(mismatch()),
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("protobuf {} (interim flat encoder)", self.message.full_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind};

    fn user_event_schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("userId", Kind::Str),
            Field::new("action", Kind::Str),
            Field::new("value", Kind::Float),
        ])
    }

    #[test]
    fn user_event_bytes_match_protobuf_runtimes() {
        // Bytes of UserEvent(userId="user5", action="purchase", value=412.63) as Python's
        // protobuf writes them: 0a 05 "user5" 12 08 "purchase" 19 <412.63 as LE double>.
        let mut enc = ProtoEncoder::new(&user_event_schema(), ProtoMessage::user_event()).unwrap();
        let mut out = Vec::new();
        enc.encode(&Row::new(vec!["user5".into(), "purchase".into(), Value::Float(412.63)]), &mut out).unwrap();
        let mut expected = vec![0x0a, 5];
        expected.extend_from_slice(b"user5");
        expected.extend_from_slice(&[0x12, 8]);
        expected.extend_from_slice(b"purchase");
        expected.push(0x19);
        expected.extend_from_slice(&412.63f64.to_le_bytes());
        assert_eq!(out, expected);
    }

    #[test]
    fn defaults_are_omitted_and_negative_int32_takes_ten_bytes() {
        let mut enc = ProtoEncoder::new(&user_event_schema(), ProtoMessage::user_event()).unwrap();
        let mut out = Vec::new();
        enc.encode(&Row::new(vec!["".into(), "view".into(), Value::Float(0.0)]), &mut out).unwrap();
        assert_eq!(out, [&[0x12u8, 4][..], b"view"].concat());

        let schema = RowSchema::new(vec![Field::new("number", Kind::Int)]);
        let mut enc = ProtoEncoder::new(&schema, ProtoMessage::my_event()).unwrap();
        out.clear();
        enc.encode(&Row::new(vec![Value::Int(-1)]), &mut out).unwrap();
        assert_eq!(out, [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        out.clear();
        enc.encode(&Row::new(vec![Value::Int(300)]), &mut out).unwrap();
        assert_eq!(out, [0x08, 0xac, 0x02]);
    }

    #[test]
    fn type_mismatch_names_the_column() {
        let mut enc = ProtoEncoder::new(&user_event_schema(), ProtoMessage::user_event()).unwrap();
        let err = enc.encode(&Row::new(vec![Value::Int(3), "view".into(), Value::Float(1.0)]), &mut Vec::new());
        let msg = err.unwrap_err().to_string();
        assert!(msg.contains("userId") && msg.contains("string") && msg.contains("int"), "{msg}");
        let schema = RowSchema::new(vec![Field::new("number", Kind::Int)]);
        let mut enc = ProtoEncoder::new(&schema, ProtoMessage::my_event()).unwrap();
        assert!(enc.encode(&Row::new(vec![Value::Int(1 << 40)]), &mut Vec::new()).is_err());
    }
}
