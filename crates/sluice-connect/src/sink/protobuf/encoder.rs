//! Result rows as protobuf messages: the [`RowEncoder`] trait and its implementation over
//! `prost-reflect` [`DynamicMessage`]s.
//!
//! Columns map to fields by name (the field's name, else its JSON name: a column `userId`
//! matches `string user_id = 1;`). Every column needs a field; fields without a column stay
//! unset. Allowed pairs, checked when the sink is built:
//!
//! | column | field |
//! |---|---|
//! | string | `string`, an enum (by value name) |
//! | int | any integer type (range-checked per value), `double`, `float`, an enum (by number) |
//! | float | `double`, `float` |
//! | bool | `bool` |
//! | bytes | `bytes` |
//! | timestamp | `google.protobuf.Timestamp`, `int64` / `sint64` / `sfixed64` (ms since the epoch) |
//!
//! Nulls leave the field unset. Repeated, map and other message fields are refused.
//!
//! Two implementations: [`FormatsEncoder`] (what the sink uses) puts each row into the
//! message's column layout and encodes it with `sluice-formats`' wire-level
//! [`RowEncoder`](sluice_formats::protobuf::RowEncoder), the same encoder the producers use;
//! [`ReflectEncoder`] builds a `prost-reflect` [`DynamicMessage`] per row (slower; kept as a
//! second implementation and for the mapping checks both share).

use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind as PKind, MessageDescriptor, Value as PValue};
use sluice_formats::{Kind, Row, RowSchema, Value};

/// Encodes one row as a length-delimited protobuf message (varint length, then the message:
/// what Java's `writeDelimitedTo` writes).
pub trait RowEncoder: Send + Sync {
    /// Appends the row's message to `out`.
    fn encode_delimited(&self, row: &Row, out: &mut Vec<u8>) -> Result<(), RowEncodeError>;
}

/// Encodes through `sluice-formats`: rows are rearranged into the message's column layout
/// (fields in declaration order, unmapped fields null) and written by its wire-level encoder.
#[derive(Debug, Clone)]
pub struct FormatsEncoder {
    inner: sluice_formats::protobuf::RowEncoder,
    /// For each field, in `message.fields()` order: the result column that fills it.
    sources: Vec<Option<usize>>,
}

impl FormatsEncoder {
    /// Maps the columns of `schema` to the fields of `message` (same rules as
    /// [`ReflectEncoder::new`]).
    pub fn new(message: MessageDescriptor, schema: &RowSchema) -> Result<FormatsEncoder, MappingError> {
        let checked = ReflectEncoder::new(message.clone(), schema)?;
        let inner = sluice_formats::protobuf::RowEncoder::new(&message).map_err(|e| MappingError {
            column: String::new(),
            message: e.to_string(),
            fix: "simplify the message".into(),
        })?;
        let numbers: Vec<u32> = message.fields().map(|f| f.number()).collect();
        let mut sources = vec![None; numbers.len()];
        for slot in &checked.slots {
            if let Some(pos) = numbers.iter().position(|n| *n == slot.field.number()) {
                sources[pos] = Some(slot.column);
            }
        }
        Ok(FormatsEncoder { inner, sources })
    }
}

impl RowEncoder for FormatsEncoder {
    fn encode_delimited(&self, row: &Row, out: &mut Vec<u8>) -> Result<(), RowEncodeError> {
        let laid_out =
            Row::new(self.sources.iter().map(|s| s.map(|c| row.get(c).clone()).unwrap_or(Value::Null)).collect());
        let mut body = Vec::with_capacity(32);
        self.inner.encode(&laid_out, &mut body).map_err(|e| RowEncodeError {
            column: String::new(),
            field: String::new(),
            message: e.to_string(),
        })?;
        let mut len = body.len() as u64;
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(&body);
        Ok(())
    }
}

/// A value that does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}` → field `{field}`: {message}")]
pub struct RowEncodeError {
    /// The column.
    pub column: String,
    /// The field.
    pub field: String,
    /// What is wrong (names the value).
    pub message: String,
}

/// A column that cannot map to the message (found when the sink is built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}`: {message}; {fix}")]
pub struct MappingError {
    /// The column.
    pub column: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    Str,
    EnumByName,
    EnumByNumber,
    I32,
    I64,
    U32,
    U64,
    F64,
    F32,
    Bool,
    Bytes,
    TimestampMessage,
}

#[derive(Debug, Clone)]
struct Slot {
    column: usize,
    name: String,
    field: FieldDescriptor,
    conv: Conv,
}

/// Encodes rows of a schema as messages of one type, through `prost-reflect`.
#[derive(Debug, Clone)]
pub struct ReflectEncoder {
    message: MessageDescriptor,
    slots: Vec<Slot>,
}

fn kind_name(k: &PKind) -> String {
    match k {
        PKind::Double => "double".into(),
        PKind::Float => "float".into(),
        PKind::Int32 => "int32".into(),
        PKind::Int64 => "int64".into(),
        PKind::Uint32 => "uint32".into(),
        PKind::Uint64 => "uint64".into(),
        PKind::Sint32 => "sint32".into(),
        PKind::Sint64 => "sint64".into(),
        PKind::Fixed32 => "fixed32".into(),
        PKind::Fixed64 => "fixed64".into(),
        PKind::Sfixed32 => "sfixed32".into(),
        PKind::Sfixed64 => "sfixed64".into(),
        PKind::Bool => "bool".into(),
        PKind::String => "string".into(),
        PKind::Bytes => "bytes".into(),
        PKind::Message(m) => m.full_name().to_string(),
        PKind::Enum(e) => format!("enum {}", e.full_name()),
    }
}

fn field_type_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "string",
        Kind::Int => "int64",
        Kind::Float => "double",
        Kind::Bool => "bool",
        Kind::Bytes => "bytes",
        Kind::Timestamp => "google.protobuf.Timestamp (import \"google/protobuf/timestamp.proto\") or int64",
    }
}

impl ReflectEncoder {
    /// Maps the columns of `schema` to the fields of `message`.
    pub fn new(message: MessageDescriptor, schema: &RowSchema) -> Result<ReflectEncoder, MappingError> {
        let mut slots = Vec::with_capacity(schema.len());
        for (i, col) in schema.fields.iter().enumerate() {
            let field =
                message.get_field_by_name(&col.name).or_else(|| message.fields().find(|f| f.json_name() == col.name));
            let Some(field) = field else {
                let names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
                let close = message.fields().find(|f| f.name().eq_ignore_ascii_case(&col.name));
                let fix = match close {
                    Some(f) => format!("did you mean field `{}`? (names are case-sensitive)", f.name()),
                    None => format!(
                        "add `{} {} = N;` to message {}, or leave the column out with a select step (fields: {})",
                        field_type_for(col.kind).split(' ').next().unwrap_or("string"),
                        col.name,
                        message.full_name(),
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                };
                return Err(MappingError {
                    column: col.name.clone(),
                    message: format!("message {} has no field `{}`", message.full_name(), col.name),
                    fix,
                });
            };
            let mismatch = |why: &str| MappingError {
                column: col.name.clone(),
                message: format!(
                    "the column is {} but field `{}` of {} is {}{why}",
                    col.kind,
                    field.name(),
                    message.full_name(),
                    if field.is_map() {
                        "a map".to_string()
                    } else if field.is_list() {
                        format!("repeated {}", kind_name(&field.kind()))
                    } else {
                        kind_name(&field.kind())
                    },
                ),
                fix: format!("declare the field as {} (or cast the column in a select step)", field_type_for(col.kind)),
            };
            if field.is_list() || field.is_map() {
                return Err(mismatch(""));
            }
            let fk = field.kind();
            let conv = match (col.kind, &fk) {
                (Kind::Str, PKind::String) => Conv::Str,
                (Kind::Str, PKind::Enum(_)) => Conv::EnumByName,
                (Kind::Int, PKind::Enum(_)) => Conv::EnumByNumber,
                (Kind::Int | Kind::Timestamp, PKind::Int64 | PKind::Sint64 | PKind::Sfixed64) => Conv::I64,
                (Kind::Int, PKind::Int32 | PKind::Sint32 | PKind::Sfixed32) => Conv::I32,
                (Kind::Int, PKind::Uint32 | PKind::Fixed32) => Conv::U32,
                (Kind::Int, PKind::Uint64 | PKind::Fixed64) => Conv::U64,
                (Kind::Int | Kind::Float, PKind::Double) => Conv::F64,
                (Kind::Int | Kind::Float, PKind::Float) => Conv::F32,
                (Kind::Bool, PKind::Bool) => Conv::Bool,
                (Kind::Bytes, PKind::Bytes) => Conv::Bytes,
                (Kind::Timestamp, PKind::Message(m)) if m.full_name() == "google.protobuf.Timestamp" => {
                    Conv::TimestampMessage
                }
                _ => return Err(mismatch("")),
            };
            slots.push(Slot { column: i, name: col.name.clone(), field, conv });
        }
        Ok(ReflectEncoder { message, slots })
    }

    /// The message type.
    pub fn message(&self) -> &MessageDescriptor {
        &self.message
    }

    fn value(slot: &Slot, v: &Value) -> Result<Option<PValue>, RowEncodeError> {
        let bad = |what: String| RowEncodeError {
            column: slot.name.clone(),
            field: slot.field.name().to_string(),
            message: what,
        };
        let int = |v: &Value| v.as_i64();
        Ok(Some(match (slot.conv, v) {
            (_, Value::Null) => return Ok(None),
            (Conv::Str, Value::Str(s)) => PValue::String(s.to_string()),
            (Conv::EnumByName, Value::Str(s)) => {
                let PKind::Enum(e) = slot.field.kind() else { return Err(bad("not an enum field".into())) };
                match e.get_value_by_name(s) {
                    Some(ev) => PValue::EnumNumber(ev.number()),
                    None => {
                        let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                        return Err(bad(format!(
                            "\"{s}\" is not a value of enum {} ({})",
                            e.full_name(),
                            names.join(", ")
                        )));
                    }
                }
            }
            (Conv::EnumByNumber, Value::Int(i)) => match i32::try_from(*i) {
                Ok(n) => PValue::EnumNumber(n),
                Err(_) => return Err(bad(format!("{i} does not fit an enum number (32 bits)"))),
            },
            (Conv::I64, v) if int(v).is_some() => PValue::I64(int(v).unwrap_or_default()),
            (Conv::I32, Value::Int(i)) => match i32::try_from(*i) {
                Ok(n) => PValue::I32(n),
                Err(_) => return Err(bad(format!("{i} does not fit a 32-bit field; declare it int64"))),
            },
            (Conv::U32, Value::Int(i)) => match u32::try_from(*i) {
                Ok(n) => PValue::U32(n),
                Err(_) => return Err(bad(format!("{i} does not fit an unsigned 32-bit field; declare it int64"))),
            },
            (Conv::U64, Value::Int(i)) => match u64::try_from(*i) {
                Ok(n) => PValue::U64(n),
                Err(_) => return Err(bad(format!("{i} is negative but the field is unsigned; declare it int64"))),
            },
            (Conv::F64, v) if v.as_f64().is_some() => PValue::F64(v.as_f64().unwrap_or_default()),
            (Conv::F32, v) if v.as_f64().is_some() => PValue::F32(v.as_f64().unwrap_or_default() as f32),
            (Conv::Bool, Value::Bool(b)) => PValue::Bool(*b),
            (Conv::Bytes, Value::Bytes(b)) => PValue::Bytes(bytes::Bytes::copy_from_slice(b)),
            (Conv::TimestampMessage, Value::Timestamp(ms)) => {
                let PKind::Message(m) = slot.field.kind() else { return Err(bad("not a message field".into())) };
                let mut ts = DynamicMessage::new(m);
                let secs = ms.div_euclid(1000);
                let nanos = (ms.rem_euclid(1000) * 1_000_000) as i32;
                ts.try_set_field_by_name("seconds", PValue::I64(secs)).map_err(|e| bad(e.to_string()))?;
                ts.try_set_field_by_name("nanos", PValue::I32(nanos)).map_err(|e| bad(e.to_string()))?;
                PValue::Message(ts)
            }
            (_, other) => {
                return Err(bad(format!(
                    "a {} value ({other:?}) in a column declared for this field; the engine's rows disagree with its schema (a bug in sluice)",
                    other.kind().map(|k| k.to_string()).unwrap_or_default()
                )));
            }
        }))
    }
}

impl RowEncoder for ReflectEncoder {
    fn encode_delimited(&self, row: &Row, out: &mut Vec<u8>) -> Result<(), RowEncodeError> {
        let mut msg = DynamicMessage::new(self.message.clone());
        for slot in &self.slots {
            if let Some(v) = Self::value(slot, row.get(slot.column))? {
                msg.try_set_field(&slot.field, v).map_err(|e| RowEncodeError {
                    column: slot.name.clone(),
                    field: slot.field.name().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        msg.encode_length_delimited(out).map_err(|e| RowEncodeError {
            column: String::new(),
            field: String::new(),
            message: e.to_string(),
        })
    }
}
