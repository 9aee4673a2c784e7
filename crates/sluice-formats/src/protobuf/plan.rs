//! The column plan of a message type: which row column each field becomes, resolved once.

use super::ProtobufError;
use crate::row::{Field, Kind, Row, RowSchema, Value};
use compact_str::CompactString;
use prost_reflect::{FieldDescriptor, Kind as PKind, MessageDescriptor};
use std::sync::Arc;

/// A protobuf scalar as it appears on the wire.
#[derive(Debug, Clone)]
pub(crate) enum Scalar {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    /// Enum values by number, as names; numbers outside are rendered as digits.
    Enum(Arc<EnumNames>),
}

/// Names of an enum's values, for numbers → names and back.
#[derive(Debug)]
pub(crate) struct EnumNames {
    /// Dense table for numbers `0..dense.len()`.
    pub(crate) dense: Vec<Option<CompactString>>,
    /// Every (number, name), for sparse numbers and for encoding.
    pub(crate) all: Vec<(i32, CompactString)>,
}

impl EnumNames {
    pub(crate) fn name(&self, number: i32) -> CompactString {
        if let Some(Some(n)) = usize::try_from(number).ok().and_then(|i| self.dense.get(i)) {
            return n.clone();
        }
        match self.all.iter().find(|(k, _)| *k == number) {
            Some((_, n)) => n.clone(),
            None => CompactString::from(number.to_string()),
        }
    }

    pub(crate) fn number(&self, name: &str) -> Option<i32> {
        self.all.iter().find(|(_, n)| n == name).map(|(k, _)| *k)
    }
}

impl Scalar {
    /// Wire type the scalar is written with.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Scalar::Double | Scalar::Fixed64 | Scalar::Sfixed64 => 1,
            Scalar::Float | Scalar::Fixed32 | Scalar::Sfixed32 => 5,
            Scalar::String | Scalar::Bytes => 2,
            _ => 0,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Scalar::Double | Scalar::Float => Kind::Float,
            Scalar::Bool => Kind::Bool,
            Scalar::String | Scalar::Enum(_) => Kind::Str,
            Scalar::Bytes => Kind::Bytes,
            _ => Kind::Int,
        }
    }

    fn default_value(&self) -> Value {
        match self {
            Scalar::Double | Scalar::Float => Value::Float(0.0),
            Scalar::Bool => Value::Bool(false),
            Scalar::String => Value::Str(CompactString::default()),
            Scalar::Bytes => Value::Bytes(Arc::from(&[][..])),
            Scalar::Enum(names) => Value::Str(names.name(0)),
            _ => Value::Int(0),
        }
    }

    fn from_kind(kind: &PKind) -> Option<Scalar> {
        Some(match kind {
            PKind::Double => Scalar::Double,
            PKind::Float => Scalar::Float,
            PKind::Int32 => Scalar::Int32,
            PKind::Int64 => Scalar::Int64,
            PKind::Uint32 => Scalar::Uint32,
            PKind::Uint64 => Scalar::Uint64,
            PKind::Sint32 => Scalar::Sint32,
            PKind::Sint64 => Scalar::Sint64,
            PKind::Fixed32 => Scalar::Fixed32,
            PKind::Fixed64 => Scalar::Fixed64,
            PKind::Sfixed32 => Scalar::Sfixed32,
            PKind::Sfixed64 => Scalar::Sfixed64,
            PKind::Bool => Scalar::Bool,
            PKind::String => Scalar::String,
            PKind::Bytes => Scalar::Bytes,
            PKind::Enum(e) => {
                let all: Vec<(i32, CompactString)> =
                    e.values().map(|v| (v.number(), CompactString::from(v.name()))).collect();
                let max_dense = all.iter().map(|(n, _)| *n).filter(|n| (0..256).contains(n)).max().unwrap_or(-1);
                let mut dense = vec![None; (max_dense + 1) as usize];
                for (n, name) in &all {
                    if let Some(slot) = usize::try_from(*n).ok().and_then(|i| dense.get_mut(i))
                        && slot.is_none()
                    {
                        *slot = Some(name.clone());
                    }
                }
                Scalar::Enum(Arc::new(EnumNames { dense, all }))
            }
            PKind::Message(_) => return None,
        })
    }
}

/// How one field maps to its column.
#[derive(Debug, Clone)]
pub(crate) enum Col {
    /// A singular scalar or enum; `presence` fields default to null, others to the zero value.
    Scalar { scalar: Scalar, presence: bool },
    /// `google.protobuf.Timestamp` → milliseconds since the epoch.
    Timestamp,
    /// `google.protobuf.*Value` wrappers → their inner value, null when absent.
    Wrapper(Scalar),
    /// Repeated fields, maps and other messages: their protobuf JSON as text (slow path).
    Json { field: FieldDescriptor },
}

/// One field of the plan.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) number: u32,
    pub(crate) column: usize,
    pub(crate) col: Col,
}

/// How the walk reads a field found through [`Plan::fast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FastRead {
    /// Not in the table: the general path (field lookup, wire-type check, any column kind).
    #[default]
    Miss,
    Str,
    Double,
    Float,
    Int64,
    Int32,
    Uint32,
    Bool,
}

/// An entry of [`Plan::fast`]: how to read the field and the column (below 64) it fills.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fast {
    pub(crate) read: FastRead,
    pub(crate) column: u8,
}

/// Largest field number looked up through the dense table.
const DENSE_LIMIT: u32 = 1024;

/// The plan of a message type.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) message: MessageDescriptor,
    pub(crate) schema: RowSchema,
    pub(crate) template: Row,
    pub(crate) slots: Vec<Slot>,
    /// `dense[number]` = slot index + 1 (0 = unknown field) for numbers below [`DENSE_LIMIT`].
    dense: Box<[u16]>,
    /// By one-byte field key (numbers 1–15 with their wire type): the common scalar fields of
    /// the first 64 columns. A key holds the wire type, so a hit is a field of the expected
    /// type; every other key, wrong wire types included, is a [`FastRead::Miss`].
    pub(crate) fast: [Fast; 128],
}

impl Plan {
    pub(crate) fn new(message: &MessageDescriptor) -> Result<Plan, ProtobufError> {
        if message.fields().len() >= u16::MAX as usize {
            return Err(ProtobufError::Unsupported {
                message: message.full_name().into(),
                field: String::new(),
                why: "more than 65534 fields".into(),
            });
        }
        let mut fields = Vec::new();
        let mut values = Vec::new();
        let mut slots = Vec::new();
        for (column, f) in message.fields().enumerate() {
            let (col, kind, default) = column_of(&f);
            fields.push(Field::new(f.name(), kind));
            values.push(default);
            slots.push(Slot { number: f.number(), column, col });
        }
        let max = slots.iter().map(|s| s.number).filter(|n| *n < DENSE_LIMIT).max().unwrap_or(0);
        let mut dense = vec![0u16; max as usize + 1].into_boxed_slice();
        for (i, s) in slots.iter().enumerate() {
            if let Some(d) = dense.get_mut(s.number as usize) {
                *d = i as u16 + 1;
            }
        }
        let mut fast = [Fast::default(); 128];
        for s in &slots {
            let Col::Scalar { scalar, .. } = &s.col else { continue };
            let read = match scalar {
                Scalar::String => FastRead::Str,
                Scalar::Double => FastRead::Double,
                Scalar::Float => FastRead::Float,
                Scalar::Int64 => FastRead::Int64,
                Scalar::Int32 => FastRead::Int32,
                Scalar::Uint32 => FastRead::Uint32,
                Scalar::Bool => FastRead::Bool,
                _ => continue,
            };
            let key = (s.number << 3) as usize | scalar.wire_type() as usize;
            if let (Some(entry), Ok(column @ 0..64)) = (fast.get_mut(key), u8::try_from(s.column)) {
                *entry = Fast { read, column };
            }
        }
        Ok(Plan {
            message: message.clone(),
            schema: RowSchema::new(fields),
            template: Row::new(values),
            slots,
            dense,
            fast,
        })
    }

    /// The slot of a field number.
    #[inline]
    pub(crate) fn slot(&self, number: u32) -> Option<&Slot> {
        if let Some(&i) = self.dense.get(number as usize) {
            return if i == 0 { None } else { self.slots.get(i as usize - 1) };
        }
        if number < DENSE_LIMIT {
            return None;
        }
        self.slots.iter().find(|s| s.number == number)
    }
}

fn column_of(f: &FieldDescriptor) -> (Col, Kind, Value) {
    let json = || (Col::Json { field: f.clone() }, Kind::Str, Value::Null);
    if f.is_list() || f.is_map() {
        return json();
    }
    match f.kind() {
        PKind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => (Col::Timestamp, Kind::Timestamp, Value::Null),
            "google.protobuf.DoubleValue" => wrapper(Scalar::Double),
            "google.protobuf.FloatValue" => wrapper(Scalar::Float),
            "google.protobuf.Int64Value" => wrapper(Scalar::Int64),
            "google.protobuf.UInt64Value" => wrapper(Scalar::Uint64),
            "google.protobuf.Int32Value" => wrapper(Scalar::Int32),
            "google.protobuf.UInt32Value" => wrapper(Scalar::Uint32),
            "google.protobuf.BoolValue" => wrapper(Scalar::Bool),
            "google.protobuf.StringValue" => wrapper(Scalar::String),
            "google.protobuf.BytesValue" => wrapper(Scalar::Bytes),
            _ => json(),
        },
        other => match Scalar::from_kind(&other) {
            Some(scalar) => {
                let presence = f.supports_presence();
                let kind = scalar.kind();
                let default = if presence { Value::Null } else { scalar.default_value() };
                (Col::Scalar { scalar, presence }, kind, default)
            }
            None => json(),
        },
    }
}

fn wrapper(s: Scalar) -> (Col, Kind, Value) {
    let kind = s.kind();
    (Col::Wrapper(s), kind, Value::Null)
}
