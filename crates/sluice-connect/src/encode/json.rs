//! JSON objects, one per record: `{"column": value, ...}` in schema order, as Python's
//! `json.dumps(dict)` writes them (floats keep their fraction: `1000.0`).

use super::{EncodeError, Encoder};
use serde::ser::{SerializeMap, Serializer};
use sluice_formats::{Row, RowSchema, Value};

/// Encodes rows as JSON objects.
#[derive(Debug, Clone)]
pub struct JsonEncoder {
    schema: RowSchema,
}

impl JsonEncoder {
    /// An encoder for rows laid out as `schema`.
    pub fn new(schema: RowSchema) -> Self {
        JsonEncoder { schema }
    }
}

/// A cell as serde sees it. NaN and infinities become `null` (JSON has no spelling for them);
/// bytes become lowercase hex; timestamps their milliseconds.
struct Cell<'a>(&'a Value);

impl serde::Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) | Value::Timestamp(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_str(&crate::hex(b)),
        }
    }
}

/// Writes `row` as a JSON object into `out`.
pub fn write_object(schema: &RowSchema, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if row.values.len() != schema.len() {
        return Err(EncodeError::Width { expected: schema.len(), actual: row.values.len() });
    }
    let mut ser = serde_json::Serializer::new(&mut *out);
    let mut map = ser.serialize_map(Some(schema.len())).map_err(|e| EncodeError::Write(e.to_string()))?;
    for (field, value) in schema.fields.iter().zip(&row.values) {
        map.serialize_entry(&field.name, &Cell(value)).map_err(|e| EncodeError::Write(e.to_string()))?;
    }
    map.end().map_err(|e| EncodeError::Write(e.to_string()))
}

impl Encoder for JsonEncoder {
    fn encode(&mut self, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_object(&self.schema, row, out)
    }

    fn describe(&self) -> String {
        "JSON objects (UTF-8)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind};

    #[test]
    fn writes_python_style_json_in_schema_order() {
        let schema = RowSchema::new(vec![
            Field::new("name", Kind::Str),
            Field::new("amount", Kind::Float),
            Field::new("flag", Kind::Int),
            Field::new("whole", Kind::Float),
            Field::new("gone", Kind::Str),
            Field::new("nan", Kind::Float),
        ]);
        let row = Row::new(vec![
            Value::from("Jo \"the\" one"),
            Value::Float(221.45),
            Value::Int(1),
            Value::Float(1000.0),
            Value::Null,
            Value::Float(f64::NAN),
        ]);
        let mut out = Vec::new();
        JsonEncoder::new(schema).encode(&row, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"name":"Jo \"the\" one","amount":221.45,"flag":1,"whole":1000.0,"gone":null,"nan":null}"#
        );
    }

    #[test]
    fn width_mismatch_is_an_error() {
        let schema = RowSchema::new(vec![Field::new("a", Kind::Int)]);
        let err = JsonEncoder::new(schema).encode(&Row::new(vec![]), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("0 values"), "{err}");
    }
}
