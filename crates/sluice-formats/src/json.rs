//! JSON objects ↔ [`Row`]s.
//!
//! A record is one JSON object; columns are looked up by name. Missing keys and `null` become
//! null cells. Numbers go to `Int` / `Float` columns (an integral float such as `3.0` fits an
//! `Int` column, `3.5` does not); a `Str` column takes any JSON value (non-strings as their JSON
//! text, so nested objects survive); `Timestamp` takes integer milliseconds or date-time text;
//! `Bytes` takes base64 text.
//!
//! ```
//! use sluice_formats::json::{decode, encode, infer_schema};
//! let sample: serde_json::Value = serde_json::from_str(r#"{"name":"ann","amount":12.5,"flag":1}"#).unwrap();
//! let schema = infer_schema(std::slice::from_ref(&sample));
//! let row = decode(&schema, br#"{"name":"bob","amount":3,"flag":0}"#).unwrap();
//! assert_eq!(encode(&schema, &row).unwrap(), r#"{"name":"bob","amount":3.0,"flag":0}"#);
//! ```

use crate::row::{Field, Kind, Row, RowSchema, Value};
use crate::time;
use base64::Engine as _;
use compact_str::CompactString;
use serde_json::Value as J;

mod scan;

/// Why a JSON record does not fit the schema.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// Valid JSON but not an object.
    #[error("expected a JSON object per record, got {0}")]
    NotObject(&'static str),
    /// A value does not fit its column.
    #[error("column {column:?} is {kind} but the record has {value}")]
    Mismatch {
        /// Column name.
        column: String,
        /// Column kind.
        kind: Kind,
        /// The offending JSON value (shortened).
        value: String,
    },
    /// The row has more values than the schema has columns.
    #[error("the row has {values} values but the schema has {columns} columns")]
    Width {
        /// Values in the row.
        values: usize,
        /// Columns in the schema.
        columns: usize,
    },
}

/// Decodes one JSON object into a row laid out as `schema`. Keys not in the schema are ignored.
///
/// A flat object without escapes whose values fit their columns is read by a hand-written
/// scanner (`scan`, which leaves every other record to serde_json). Otherwise the object is read
/// in one pass straight into the row's cells (no intermediate `serde_json::Value`): keys not in
/// the schema are skipped without being built, and strings go to their cells without an owned
/// copy. The result, errors included, is what
/// [`decode_value`] gives for the parsed object: a repeated key's last value counts, and of
/// several cells that do not fit, the first column's is reported.
pub fn decode(schema: &RowSchema, bytes: &[u8]) -> Result<Row, JsonError> {
    decode_row(schema, &[], bytes)
}

/// [`decode`] into `values`, reusing its allocation; on success it holds one cell per column.
pub fn decode_into(schema: &RowSchema, bytes: &[u8], values: &mut Vec<Value>) -> Result<(), JsonError> {
    decode_keyed(schema, &[], 0, bytes, values)
}

/// A schema made ready for decoding many records: [`decode`] / [`decode_into`] with each
/// column's key prepared, so that keys written in the schema's order are recognised by one
/// comparison each.
///
/// A decoder may be told which columns its user reads ([`RecordDecoder::read_only`]): then
/// [`RecordDecoder::decode_into`] leaves the others null, after checking their values as
/// always (a record is refused for the same reasons, with the same error).
#[derive(Debug, Clone)]
pub struct RecordDecoder {
    schema: RowSchema,
    keys: Vec<Box<[u8]>>,
    /// Columns (of the first 64) `decode_into` leaves null.
    unread: u64,
}

impl RecordDecoder {
    /// The decoder of records laid out as `schema`.
    pub fn new(schema: RowSchema) -> Self {
        let keys = scan::quoted_keys(&schema);
        RecordDecoder { schema, keys, unread: 0 }
    }

    /// Declares the columns the rows of [`RecordDecoder::decode_into`] are read for:
    /// `read[i]` for column `i` (columns past `read`'s end count as read). The others' cells
    /// are left null. Of a wide schema, only the first 64 columns can be left out.
    pub fn read_only(&mut self, read: &[bool]) {
        self.unread =
            (0..self.schema.len().min(64)).filter(|&i| read.get(i) == Some(&false)).fold(0, |m, i| m | 1 << i);
    }

    /// Whether [`RecordDecoder::decode_into`] leaves some columns null.
    pub fn leaves_out(&self) -> bool {
        self.unread != 0
    }

    /// [`decode`]: the same row, or the same error (every column, whatever
    /// [`RecordDecoder::read_only`] said).
    pub fn decode(&self, bytes: &[u8]) -> Result<Row, JsonError> {
        decode_row(&self.schema, &self.keys, bytes)
    }

    /// [`decode_into`]: the same cells, or the same error; the cells of columns
    /// [`RecordDecoder::read_only`] left out are null.
    pub fn decode_into(&self, bytes: &[u8], values: &mut Vec<Value>) -> Result<(), JsonError> {
        decode_keyed(&self.schema, &self.keys, self.unread, bytes, values)
    }
}

fn decode_row(schema: &RowSchema, keys: &[Box<[u8]>], bytes: &[u8]) -> Result<Row, JsonError> {
    let mut values: Vec<Value> = Vec::with_capacity(schema.len());
    decode_keyed(schema, keys, 0, bytes, &mut values)?;
    Ok(Row::new(values))
}

/// Most records are flat objects without escapes whose values fit: one hand-written pass
/// (`keys`: [`scan::quoted_keys`] or none); serde_json reads the others. Cells of `unread`
/// columns (bits of the first 64) are left null.
fn decode_keyed(
    schema: &RowSchema,
    keys: &[Box<[u8]>],
    unread: u64,
    bytes: &[u8],
    values: &mut Vec<Value>,
) -> Result<(), JsonError> {
    if scan::object(schema, keys, unread, bytes, values) {
        return Ok(());
    }
    *values = decode_with_serde_json(schema, bytes)?.values;
    for (i, v) in values.iter_mut().enumerate().take(64) {
        if unread & 1 << i != 0 {
            *v = Value::Null;
        }
    }
    Ok(())
}

/// [`decode`] without its fast path: serde_json reads every record. `decode` gives what this
/// gives, for any input (the fast path's reference in tests).
#[doc(hidden)]
pub fn decode_with_serde_json(schema: &RowSchema, bytes: &[u8]) -> Result<Row, JsonError> {
    use serde::Deserializer as _;
    let mut values: Vec<Value> = Vec::with_capacity(schema.len());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut bad: Vec<(usize, J)> = Vec::new();
    let mut not_object = None;
    de.deserialize_any(RowVisitor { schema, values: &mut values, bad: &mut bad, not_object: &mut not_object })?;
    de.end()?;
    if let Some(kind) = not_object {
        return Err(JsonError::NotObject(kind));
    }
    if let Some((i, j)) = bad.iter().min_by_key(|(i, _)| *i) {
        cell(&schema.fields[*i], j)?;
    }
    Ok(Row::new(values))
}

/// Visits the top-level value: an object fills `cells` (one per schema column); anything else
/// sets `not_object`.
struct RowVisitor<'s> {
    schema: &'s RowSchema,
    /// Per column, its cell.
    values: &'s mut Vec<Value>,
    /// The columns whose (last) value does not fit, with that value (for the error).
    bad: &'s mut Vec<(usize, J)>,
    not_object: &'s mut Option<&'static str>,
}

impl RowVisitor<'_> {
    fn other<E>(self, v: &J) -> Result<(), E> {
        *self.not_object = Some(type_name(v));
        Ok(())
    }
}

impl<'de> serde::de::Visitor<'de> for RowVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = &self.schema.fields;
        self.values.clear();
        self.values.resize(fields.len(), Value::Null);
        // Keys mostly come in schema order: try the column after the last one first.
        let mut next = 0usize;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let key: &str = &key;
            let at = if fields.get(next).is_some_and(|f| f.name == key) {
                Some(next)
            } else {
                fields.iter().position(|f| f.name == key)
            };
            match at {
                Some(i) => {
                    if !self.bad.is_empty() {
                        self.bad.retain(|(c, _)| *c != i);
                    }
                    match map.next_value_seed(CellSeed(&fields[i]))? {
                        Ok(v) => self.values[i] = v,
                        Err(j) => self.bad.push((i, j)),
                    }
                    next = i + 1;
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.other(&J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.other(&J::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.other(&J::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.other(&J::from(v))
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.other(&J::String(String::new()))
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.other(&J::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        self.other(&J::Array(Vec::new()))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = std::borrow::Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v))
    }
}

/// One column's value: its cell, or (when it does not fit) the JSON value for [`cell`]'s error.
struct CellSeed<'f>(&'f Field);

impl<'de> serde::de::DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Result<Value, J>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl CellSeed<'_> {
    /// The cell of a JSON value, as [`decode_value`] makes it.
    fn of(&self, v: J) -> Result<Value, J> {
        match v {
            J::Null => Ok(Value::Null),
            v => cell(self.0, &v).map_err(|_| v),
        }
    }
}

impl<'de> serde::de::Visitor<'de> for CellSeed<'_> {
    type Value = Result<Value, J>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(Value::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.of(J::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(match self.0.kind {
            Kind::Int => Ok(Value::Int(v)),
            Kind::Float => Ok(Value::Float(v as f64)),
            Kind::Timestamp => Ok(Value::Timestamp(v)),
            _ => self.of(J::from(v)),
        })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match (self.0.kind, i64::try_from(v)) {
            (Kind::Int, Ok(i)) => Ok(Value::Int(i)),
            (Kind::Float, _) => Ok(Value::Float(v as f64)),
            (Kind::Timestamp, Ok(i)) => Ok(Value::Timestamp(i)),
            _ => self.of(J::from(v)),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(match self.0.kind {
            Kind::Float => Ok(Value::Float(v)),
            _ => self.of(J::from(v)),
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match self.0.kind {
            Kind::Str => Ok(Value::Str(CompactString::from(v))),
            Kind::Timestamp => match time::parse_ms(v) {
                Some(ms) => Ok(Value::Timestamp(ms)),
                None => Err(J::String(v.to_string())),
            },
            _ => self.of(J::String(v.to_string())),
        })
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        use serde::Deserialize as _;
        let v = J::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(self.of(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        use serde::Deserialize as _;
        let v = J::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(self.of(v))
    }
}

/// Like [`decode`], from parsed JSON.
pub fn decode_value(schema: &RowSchema, value: &J) -> Result<Row, JsonError> {
    let J::Object(obj) = value else { return Err(JsonError::NotObject(type_name(value))) };
    let mut values = Vec::with_capacity(schema.len());
    for f in &schema.fields {
        values.push(match obj.get(&f.name) {
            None | Some(J::Null) => Value::Null,
            Some(v) => cell(f, v)?,
        });
    }
    Ok(Row::new(values))
}

fn cell(f: &Field, v: &J) -> Result<Value, JsonError> {
    let mismatch = || JsonError::Mismatch { column: f.name.clone(), kind: f.kind, value: shorten(v) };
    Ok(match f.kind {
        Kind::Bool => Value::Bool(v.as_bool().ok_or_else(mismatch)?),
        Kind::Int => match v {
            J::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(x)) if x.fract() == 0.0 && x.abs() < 9.2e18 => Value::Int(x as i64),
                _ => return Err(mismatch()),
            },
            _ => return Err(mismatch()),
        },
        Kind::Float => Value::Float(v.as_f64().ok_or_else(mismatch)?),
        Kind::Str => match v {
            J::String(s) => Value::Str(CompactString::from(s.as_str())),
            other => Value::Str(CompactString::from(other.to_string())),
        },
        Kind::Bytes => match v {
            J::String(s) => {
                Value::Bytes(base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| mismatch())?.into())
            }
            _ => return Err(mismatch()),
        },
        Kind::Timestamp => match v {
            J::Number(n) => Value::Timestamp(n.as_i64().ok_or_else(mismatch)?),
            J::String(s) => Value::Timestamp(time::parse_ms(s).ok_or_else(mismatch)?),
            _ => return Err(mismatch()),
        },
    })
}

/// Encodes a row as a JSON object, keys in schema order. Non-finite floats become `null`,
/// bytes base64, timestamps RFC 3339 text.
pub fn encode(schema: &RowSchema, row: &Row) -> Result<String, JsonError> {
    if row.values.len() > schema.len() {
        return Err(JsonError::Width { values: row.values.len(), columns: schema.len() });
    }
    let mut out = String::with_capacity(16 * schema.len() + 2);
    out.push('{');
    for (i, f) in schema.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&J::String(f.name.clone()).to_string());
        out.push(':');
        match row.get(i) {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::Float(x) => match serde_json::Number::from_f64(*x) {
                Some(_) if x.fract() == 0.0 && x.abs() < 1e15 => out.push_str(&format!("{x:.1}")),
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            Value::Str(s) => out.push_str(&J::String(s.to_string()).to_string()),
            Value::Bytes(b) => {
                out.push('"');
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
                out.push('"');
            }
            Value::Timestamp(ms) => {
                out.push('"');
                out.push_str(&time::format_ms(*ms));
                out.push('"');
            }
        }
    }
    out.push('}');
    Ok(out)
}

/// A schema from sample records: keys in order of first appearance; a column holding only
/// integers is `Int`, integers and fractions `Float`, booleans `Bool`, anything else (text,
/// nested values, mixtures) `Str`. Columns only ever null are `Str`.
pub fn infer_schema(samples: &[J]) -> RowSchema {
    let mut fields: Vec<(String, Option<Kind>)> = Vec::new();
    for s in samples {
        let J::Object(obj) = s else { continue };
        for (k, v) in obj {
            let kind = match v {
                J::Null => None,
                J::Bool(_) => Some(Kind::Bool),
                J::Number(n) if n.is_i64() || n.is_u64() => Some(Kind::Int),
                J::Number(_) => Some(Kind::Float),
                _ => Some(Kind::Str),
            };
            match fields.iter_mut().find(|(n, _)| n == k) {
                None => fields.push((k.clone(), kind)),
                Some((_, seen)) => *seen = merge(*seen, kind),
            }
        }
    }
    RowSchema::new(fields.into_iter().map(|(n, k)| Field::new(n, k.unwrap_or(Kind::Str))).collect())
}

fn merge(a: Option<Kind>, b: Option<Kind>) -> Option<Kind> {
    match (a, b) {
        (None, k) | (k, None) => k,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(Kind::Int), Some(Kind::Float)) | (Some(Kind::Float), Some(Kind::Int)) => Some(Kind::Float),
        _ => Some(Kind::Str),
    }
}

fn type_name(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    }
}

fn shorten(v: &J) -> String {
    let s = v.to_string();
    if s.len() > 60 { format!("{}...", &s[..s.floor_char_boundary(60)]) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("name", Kind::Str),
            Field::new("amount", Kind::Float),
            Field::new("n", Kind::Int),
            Field::new("flag", Kind::Bool),
            Field::new("at", Kind::Timestamp),
            Field::new("raw", Kind::Bytes),
        ])
    }

    #[test]
    fn decodes_each_kind_and_nulls() {
        let row = decode(
            &schema(),
            br#"{"name":"x","amount":2,"n":3.0,"flag":true,"at":"1970-01-01T00:00:01Z","raw":"AAE=","extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            row.values,
            vec![
                Value::from("x"),
                Value::Float(2.0),
                Value::Int(3),
                Value::Bool(true),
                Value::Timestamp(1000),
                Value::Bytes(vec![0u8, 1].into())
            ]
        );
        let row = decode(&schema(), br#"{"name":null,"at":5}"#).unwrap();
        assert_eq!(row.values[0], Value::Null);
        assert_eq!(row.values[4], Value::Timestamp(5));
        assert!(row.values[1].is_null() && row.values[5].is_null());
    }

    #[test]
    fn numbers_and_strings_are_kept_apart() {
        let e = decode(&schema(), br#"{"n":"7"}"#).unwrap_err();
        assert_eq!(e.to_string(), r#"column "n" is int but the record has "7""#);
        assert!(decode(&schema(), br#"{"n":7.5}"#).is_err());
        assert!(decode(&schema(), br#"{"amount":"1.5"}"#).is_err());
        // a string column keeps a number's text and a nested object's JSON
        let s = RowSchema::new(vec![Field::new("v", Kind::Str)]);
        assert_eq!(decode(&s, br#"{"v":12}"#).unwrap().values[0], Value::from("12"));
        assert_eq!(decode(&s, br#"{"v":{"a":[1]}}"#).unwrap().values[0], Value::from(r#"{"a":[1]}"#));
        assert!(matches!(decode(&s, b"[1]"), Err(JsonError::NotObject("an array"))));
        assert!(matches!(decode(&s, b"{"), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn one_pass_decode_agrees_with_parsed_value() {
        let s = schema();
        let cases: &[&[u8]] = &[
            br#"{"n":1,"n":"x"}"#,
            br#"{"n":"x","n":2}"#,
            br#"{"amount":"a","n":"b"}"#,
            br#"{"n":"b","amount":"a"}"#,
            br#"{"n":18446744073709551615,"amount":18446744073709551615,"name":-0.0}"#,
            br#"{"n":-9,"amount":-9,"at":-9,"name":[1,{"b":null,"a":2.50}],"flag":null}"#,
            br#"{"at":1.5}"#,
            br#"{"at":"nope"}"#,
            br#"{"flag":1}"#,
            br#"{"raw":"!!"}"#,
            br#"{"raw":7}"#,
            br#"{"name":true,"x":{"deep":[1,2,{"y":null}]},"n":1e3}"#,
            br#"{"na\u006de":"esc\"aped","n":2.0}"#,
            br#"{"name":"x"} trailing"#,
            br#"{"name":"x",}"#,
            br#"[1,2]"#,
            br#""text""#,
            b"12",
            b"null",
            b"true",
            b" { } ",
        ];
        let prepared = RecordDecoder::new(s.clone());
        for case in cases {
            let old = serde_json::from_slice::<J>(case).map_err(JsonError::from).and_then(|v| decode_value(&s, &v));
            let mut values = vec![Value::from("left over")];
            let with_keys = prepared.decode_into(case, &mut values).map(|()| Row::new(values));
            for new in [decode(&s, case), with_keys] {
                match (&old, &new) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(case)),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{}", String::from_utf8_lossy(case)),
                    _ => panic!("{}: {old:?} vs {new:?}", String::from_utf8_lossy(case)),
                }
            }
        }
    }

    #[test]
    fn decode_into_a_reused_row_leaves_nothing_of_the_last_record() {
        let s = schema();
        let mut reused = Vec::new();
        // Full, sparse, out of order, escaped (serde's path), a failure, then the fast path again.
        let cases: &[&[u8]] = &[
            br#"{"name":"x","amount":2,"n":3.0,"flag":true,"at":"1970-01-01T00:00:01Z","raw":"AAE="}"#,
            br#"{"n":4}"#,
            br#"{"flag":false,"name":"y"}"#,
            br#"{"na\u006de":"esc\"aped","amount":7}"#,
            br#"{"n":"not a number"}"#,
            br#"{"amount":1}"#,
            b" { } ",
        ];
        for case in cases {
            let fresh = decode(&s, case);
            let into = decode_into(&s, case, &mut reused).map(|()| Row::new(reused.clone()));
            match (&fresh, &into) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(case)),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                _ => panic!("{}: {fresh:?} vs {into:?}", String::from_utf8_lossy(case)),
            }
        }
    }

    #[test]
    fn encode_round_trips() {
        let row = Row::new(vec![
            Value::from("q\"uote"),
            Value::Float(1.25),
            Value::Int(-4),
            Value::Null,
            Value::Timestamp(1500),
            Value::Bytes(vec![255u8].into()),
        ]);
        let text = encode(&schema(), &row).unwrap();
        assert_eq!(
            text,
            r#"{"name":"q\"uote","amount":1.25,"n":-4,"flag":null,"at":"1970-01-01T00:00:01.500Z","raw":"/w=="}"#
        );
        assert_eq!(decode(&schema(), text.as_bytes()).unwrap(), row);
        let nan = Row::new(vec![Value::Null, Value::Float(f64::NAN)]);
        assert!(encode(&schema(), &nan).unwrap().contains(r#""amount":null"#));
    }

    #[test]
    fn infers_kinds() {
        let samples: Vec<J> = [r#"{"a":1,"b":"x","c":true,"d":null}"#, r#"{"a":2.5,"b":3,"e":{"k":1}}"#]
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        let s = infer_schema(&samples);
        let got: Vec<(&str, Kind)> = s.fields.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            got,
            vec![("a", Kind::Float), ("b", Kind::Str), ("c", Kind::Bool), ("d", Kind::Str), ("e", Kind::Str)]
        );
    }
}
