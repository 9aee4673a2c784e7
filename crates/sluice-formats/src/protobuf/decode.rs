//! Message bytes → [`Row`]: a wire-format walker over the plan's field table.
//!
//! prost-reflect's `DynamicMessage` allocates a map entry per field and a `String` per text
//! field; for the engine's hot path we walk the bytes ourselves and write straight into the row's
//! cells (short strings stay inline in `CompactString`). Repeated fields, maps and nested
//! messages other than `Timestamp` and the wrappers take a slow path through `DynamicMessage`
//! and become JSON text.

use super::ProtobufError;
use super::plan::{Col, FastRead, Plan, Scalar};
use crate::row::{Row, RowSchema, Value, unseen_columns};
use compact_str::CompactString;
use prost_reflect::{DynamicMessage, MessageDescriptor, SerializeOptions};
use std::sync::Arc;

/// Decodes one message type into rows; build once per type, use for every message.
#[derive(Debug, Clone)]
pub struct RowDecoder {
    plan: Plan,
}

/// Where a decode failed and why; turned into [`ProtobufError::Decode`] with the message name.
struct Fail {
    offset: usize,
    why: String,
}

type Step<T> = Result<T, Fail>;

fn fail<T>(offset: usize, why: impl Into<String>) -> Step<T> {
    Err(Fail { offset, why: why.into() })
}

impl RowDecoder {
    /// Resolves the fields of `message` into columns: one column per field, in declaration order.
    ///
    /// | protobuf | column |
    /// |---|---|
    /// | `double`, `float` | `Float` |
    /// | integer types | `Int` (a `uint64`/`fixed64` over `i64::MAX` is a decode error) |
    /// | `bool` | `Bool` |
    /// | `string`, enum (value name) | `Str` |
    /// | `bytes` | `Bytes` |
    /// | `google.protobuf.Timestamp` | `Timestamp` (ms) |
    /// | `google.protobuf.*Value` wrappers | the wrapped kind, null when absent |
    /// | repeated, map, other messages | `Str` holding protobuf JSON, null when absent |
    ///
    /// Absent proto3 scalars read as their zero value; fields with presence (`optional`, oneof
    /// members, proto2) read as null.
    pub fn new(message: &MessageDescriptor) -> Result<Self, ProtobufError> {
        Ok(RowDecoder { plan: Plan::new(message)? })
    }

    /// The columns rows will have.
    pub fn schema(&self) -> &RowSchema {
        &self.plan.schema
    }

    /// The message type.
    pub fn message(&self) -> &MessageDescriptor {
        &self.plan.message
    }

    /// Decodes one message into a new row.
    pub fn decode(&self, bytes: &[u8]) -> Result<Row, ProtobufError> {
        // Nulls of the right width: `decode_into` then writes the fields present and the
        // defaults of the absent ones only (cloning the whole template first was 6% of the
        // user-events job's CPU).
        let mut row = Row::new(vec![Value::Null; self.plan.template.values.len()]);
        self.decode_into(bytes, &mut row)?;
        Ok(row)
    }

    /// Decodes one message into `row`, reusing its allocation.
    pub fn decode_into(&self, bytes: &[u8], row: &mut Row) -> Result<(), ProtobufError> {
        let template = &self.plan.template.values;
        // Cells of fields present in the message are overwritten by the walk, so only the
        // absent ones are reset to their defaults afterwards (tracked in a bit set for the first
        // 64 columns; wider messages are reset up front).
        let tracked = template.len() <= 64;
        if !tracked || row.values.len() != template.len() {
            row.values.clone_from(template);
        }
        let mut seen = 0u64;
        let mut json_fields: Option<Vec<u8>> = None;
        let walked = self.walk(bytes, &mut row.values, &mut json_fields, &mut seen);
        if tracked {
            for c in unseen_columns(template.len(), seen) {
                row.values[c] = template[c].clone();
            }
        }
        walked.map_err(|f| ProtobufError::Decode {
            message: self.plan.message.full_name().to_string(),
            offset: f.offset,
            why: f.why,
        })?;
        if let Some(raw) = json_fields {
            self.fill_json(&raw, &mut row.values)?;
        }
        Ok(())
    }

    fn walk(&self, buf: &[u8], values: &mut [Value], json: &mut Option<Vec<u8>>, seen: &mut u64) -> Step<()> {
        let mut pos = 0;
        while let Some(&k) = buf.get(pos) {
            if let Some(f) = self.plan.fast.get(k as usize)
                && f.read != FastRead::Miss
            {
                pos += 1;
                *seen |= 1 << f.column;
                read_fast(f.read, buf, &mut pos, u32::from(k >> 3), &mut values[f.column as usize])?;
                continue;
            }
            let field_start = pos;
            let key = read_varint(buf, &mut pos)?;
            let wire = (key & 7) as u8;
            let number = u32::try_from(key >> 3).unwrap_or(0);
            if number == 0 {
                return fail(field_start, "field number 0 is not allowed");
            }
            if wire > 5 {
                return fail(field_start, format!("invalid wire type {wire} for field {number}"));
            }
            let Some(slot) = self.plan.slot(number) else {
                skip(buf, &mut pos, wire, number)?;
                continue;
            };
            if slot.column < 64 {
                *seen |= 1 << slot.column;
            }
            let cell = &mut values[slot.column];
            match &slot.col {
                Col::Scalar { scalar, .. } => {
                    check_wire(scalar.wire_type(), wire, number, field_start)?;
                    read_scalar_into(scalar, buf, &mut pos, number, cell)?;
                }
                Col::Timestamp => {
                    check_wire(2, wire, number, field_start)?;
                    let body = read_len(buf, &mut pos)?;
                    *cell = Value::Timestamp(timestamp_ms(body, pos - body.len())?);
                }
                Col::Wrapper(inner) => {
                    check_wire(2, wire, number, field_start)?;
                    let body = read_len(buf, &mut pos)?;
                    *cell = unwrap_wrapper(inner, body, pos - body.len())?;
                }
                Col::Json { .. } => {
                    // Filled by `fill_json` when the field holds a value; the default until then.
                    if slot.column < 64 {
                        *seen &= !(1u64 << slot.column);
                    }
                    skip(buf, &mut pos, wire, number)?;
                    json.get_or_insert_with(Vec::new).extend_from_slice(&buf[field_start..pos]);
                }
            }
        }
        Ok(())
    }

    /// The slow path: the raw bytes of the repeated / map / message fields, decoded with
    /// prost-reflect and rendered as protobuf JSON.
    fn fill_json(&self, raw: &[u8], values: &mut [Value]) -> Result<(), ProtobufError> {
        let name = || self.plan.message.full_name().to_string();
        let msg = DynamicMessage::decode(self.plan.message.clone(), raw).map_err(|e| ProtobufError::Decode {
            message: name(),
            offset: 0,
            why: e.to_string(),
        })?;
        let options = SerializeOptions::new().skip_default_fields(false);
        for slot in &self.plan.slots {
            let Col::Json { field } = &slot.col else { continue };
            if !msg.has_field(field) {
                continue;
            }
            let mut one = DynamicMessage::new(self.plan.message.clone());
            one.set_field(field, msg.get_field(field).into_owned());
            let obj = one
                .serialize_with_options(serde_json::value::Serializer, &options)
                .map_err(|e| ProtobufError::Json { message: name(), why: e.to_string() })?;
            if let Some(v) = obj.get(field.json_name()) {
                values[slot.column] = Value::Str(CompactString::from(v.to_string()));
            }
        }
        Ok(())
    }
}

#[inline]
fn check_wire(expected: u8, got: u8, number: u32, at: usize) -> Step<()> {
    if expected == got {
        Ok(())
    } else {
        fail(
            at,
            format!(
                "field {number} has wire type {got} but the schema says {expected}; the bytes were written with a \
                 different schema (check the descriptor or the registry subject)"
            ),
        )
    }
}

#[inline(always)]
fn read_varint(buf: &[u8], pos: &mut usize) -> Step<u64> {
    // fast path: one byte
    if let Some(&b) = buf.get(*pos)
        && b < 0x80
    {
        *pos += 1;
        return Ok(u64::from(b));
    }
    read_varint_slow(buf, pos)
}

#[cold]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> Step<u64> {
    let start = *pos;
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return fail(start, "varint runs past the end of the message");
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return fail(start, "varint longer than 64 bits");
        }
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
    }
    fail(start, "varint longer than 10 bytes")
}

#[inline(always)]
fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Step<[u8; N]> {
    match buf.get(*pos..*pos + N) {
        Some(b) => {
            *pos += N;
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            Ok(a)
        }
        None => fail(*pos, format!("{N}-byte value runs past the end of the message")),
    }
}

#[inline(always)]
fn read_len<'a>(buf: &'a [u8], pos: &mut usize) -> Step<&'a [u8]> {
    let at = *pos;
    let len = read_varint(buf, pos)?;
    let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l));
    match end.and_then(|end| buf.get(*pos..end).map(|b| (b, end))) {
        Some((b, end)) => {
            *pos = end;
            Ok(b)
        }
        None => fail(at, format!("length {len} runs past the end of the message ({} bytes left)", buf.len() - *pos)),
    }
}

/// [`read_scalar`] into `cell`: a string goes into the buffer of the string the cell holds
/// (no new string per record: building one on the stack and moving it into the row stalled on
/// reloading the bytes just stored, a third of its cost).
#[inline(always)]
fn read_scalar_into(scalar: &Scalar, buf: &[u8], pos: &mut usize, number: u32, cell: &mut Value) -> Step<()> {
    match scalar {
        Scalar::String => {
            let at = *pos;
            let b = read_len(buf, pos)?;
            cell.set_utf8(b).or_else(|e| fail(at, invalid_utf8(number, e)))?
        }
        _ => *cell = read_scalar(scalar, buf, pos, number)?,
    }
    Ok(())
}

/// Reads a field found through the plan's fast table into its cell. The same reads as
/// [`read_scalar_into`]'s, matched on the one-byte `FastRead`: going through `read_scalar_into`
/// with the kind as a `&'static Scalar` kept a second match per field (user-events job +20M
/// instructions, cachegrind).
#[inline(always)]
fn read_fast(read: FastRead, buf: &[u8], pos: &mut usize, number: u32, cell: &mut Value) -> Step<()> {
    *cell = match read {
        FastRead::Str => {
            let at = *pos;
            let b = read_len(buf, pos)?;
            return cell.set_utf8(b).or_else(|e| fail(at, invalid_utf8(number, e)));
        }
        FastRead::Double => Value::Float(f64::from_le_bytes(read_fixed(buf, pos)?)),
        FastRead::Float => Value::Float(f64::from(f32::from_le_bytes(read_fixed(buf, pos)?))),
        FastRead::Int64 => Value::Int(read_varint(buf, pos)? as i64),
        FastRead::Int32 => Value::Int(i64::from(read_varint(buf, pos)? as i32)),
        FastRead::Uint32 => Value::Int(i64::from(read_varint(buf, pos)? as u32)),
        FastRead::Bool => Value::Bool(read_varint(buf, pos)? != 0),
        FastRead::Miss => return Ok(()),
    };
    Ok(())
}

/// A string field's text.
#[inline(always)]
fn read_str<'a>(buf: &'a [u8], pos: &mut usize, number: u32) -> Step<&'a str> {
    let at = *pos;
    let b = read_len(buf, pos)?;
    std::str::from_utf8(b).or_else(|e| fail(at, invalid_utf8(number, e)))
}

fn invalid_utf8(number: u32, e: std::str::Utf8Error) -> String {
    format!("field {number} is a string but holds invalid UTF-8 ({e})")
}

#[inline(always)]
fn read_scalar(scalar: &Scalar, buf: &[u8], pos: &mut usize, number: u32) -> Step<Value> {
    let at = *pos;
    Ok(match scalar {
        Scalar::String => Value::from(read_str(buf, pos, number)?),
        Scalar::Double => Value::Float(f64::from_le_bytes(read_fixed(buf, pos)?)),
        Scalar::Float => Value::Float(f64::from(f32::from_le_bytes(read_fixed(buf, pos)?))),
        Scalar::Int32 => Value::Int(i64::from(read_varint(buf, pos)? as i32)),
        Scalar::Int64 => Value::Int(read_varint(buf, pos)? as i64),
        Scalar::Uint32 => Value::Int(i64::from(read_varint(buf, pos)? as u32)),
        Scalar::Uint64 => Value::Int(u64_to_i64(read_varint(buf, pos)?, number, at)?),
        Scalar::Sint32 => {
            let v = read_varint(buf, pos)? as u32;
            Value::Int(i64::from(((v >> 1) as i32) ^ -((v & 1) as i32)))
        }
        Scalar::Sint64 => {
            let v = read_varint(buf, pos)?;
            Value::Int(((v >> 1) as i64) ^ -((v & 1) as i64))
        }
        Scalar::Fixed32 => Value::Int(i64::from(u32::from_le_bytes(read_fixed(buf, pos)?))),
        Scalar::Sfixed32 => Value::Int(i64::from(i32::from_le_bytes(read_fixed(buf, pos)?))),
        Scalar::Fixed64 => Value::Int(u64_to_i64(u64::from_le_bytes(read_fixed(buf, pos)?), number, at)?),
        Scalar::Sfixed64 => Value::Int(i64::from_le_bytes(read_fixed(buf, pos)?)),
        Scalar::Bool => Value::Bool(read_varint(buf, pos)? != 0),
        Scalar::Bytes => Value::Bytes(Arc::from(read_len(buf, pos)?)),
        Scalar::Enum(names) => Value::Str(names.name(read_varint(buf, pos)? as i32)),
    })
}

fn u64_to_i64(v: u64, number: u32, at: usize) -> Step<i64> {
    i64::try_from(v).or_else(|_| fail(at, format!("field {number} holds {v}, beyond the row's 64-bit signed integers")))
}

/// `google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }` → milliseconds.
fn timestamp_ms(body: &[u8], base: usize) -> Step<i64> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    let mut pos = 0;
    while pos < body.len() {
        let key = read_varint(body, &mut pos).map_err(|f| Fail { offset: f.offset + base, ..f })?;
        let (number, wire) = ((key >> 3) as u32, (key & 7) as u8);
        match (number, wire) {
            (1, 0) => seconds = read_varint(body, &mut pos).map_err(|f| Fail { offset: f.offset + base, ..f })? as i64,
            (2, 0) => {
                nanos =
                    i64::from(read_varint(body, &mut pos).map_err(|f| Fail { offset: f.offset + base, ..f })? as i32)
            }
            _ => skip(body, &mut pos, wire, number).map_err(|f| Fail { offset: f.offset + base, ..f })?,
        }
    }
    Ok(seconds.saturating_mul(1000).saturating_add(nanos.div_euclid(1_000_000)))
}

fn unwrap_wrapper(inner: &Scalar, body: &[u8], base: usize) -> Step<Value> {
    let mut value = match inner {
        Scalar::Double | Scalar::Float => Value::Float(0.0),
        Scalar::Bool => Value::Bool(false),
        Scalar::String => Value::Str(CompactString::default()),
        Scalar::Bytes => Value::Bytes(Arc::from(&[][..])),
        _ => Value::Int(0),
    };
    let mut pos = 0;
    while pos < body.len() {
        let start = pos;
        let key = read_varint(body, &mut pos).map_err(|f| Fail { offset: f.offset + base, ..f })?;
        let (number, wire) = ((key >> 3) as u32, (key & 7) as u8);
        if number == 1 {
            check_wire(inner.wire_type(), wire, 1, start + base)?;
            value = read_scalar(inner, body, &mut pos, 1).map_err(|f| Fail { offset: f.offset + base, ..f })?;
        } else {
            skip(body, &mut pos, wire, number).map_err(|f| Fail { offset: f.offset + base, ..f })?;
        }
    }
    Ok(value)
}

/// Skips one field's value (after its key).
fn skip(buf: &[u8], pos: &mut usize, wire: u8, number: u32) -> Step<()> {
    match wire {
        0 => {
            read_varint(buf, pos)?;
        }
        1 => {
            read_fixed::<8>(buf, pos)?;
        }
        2 => {
            read_len(buf, pos)?;
        }
        5 => {
            read_fixed::<4>(buf, pos)?;
        }
        3 => skip_group(buf, pos, number)?,
        4 => return fail(*pos, format!("unexpected end-group for field {number}")),
        w => return fail(*pos, format!("invalid wire type {w} for field {number}")),
    }
    Ok(())
}

/// Skips a proto2 group up to its matching end-group key.
fn skip_group(buf: &[u8], pos: &mut usize, number: u32) -> Step<()> {
    let start = *pos;
    let mut depth = vec![number];
    while let Some(&open) = depth.last() {
        if *pos >= buf.len() {
            return fail(start, format!("group {number} is not closed"));
        }
        let key = read_varint(buf, pos)?;
        let (n, wire) = ((key >> 3) as u32, (key & 7) as u8);
        match wire {
            3 => {
                if depth.len() >= 100 {
                    return fail(*pos, "groups nested more than 100 deep");
                }
                depth.push(n);
            }
            4 if n == open => {
                depth.pop();
            }
            4 => return fail(*pos, format!("end-group {n} does not close group {open}")),
            _ => skip(buf, pos, wire, n)?,
        }
    }
    Ok(())
}
