//! Cells as text: JSON values (as Spark's JSON writer renders them) and timestamps.
//!
//! JSON rendering, per kind: integers and finite floats as numbers (`221.45`, `1.0`); NaN and
//! infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no literal for
//! them; Spark writes the same); timestamps as ISO-8601 UTC with milliseconds
//! (`"2026-11-23T10:05:00.000Z"`, Spark's default `timestampFormat`); bytes as base64; nulls as
//! `null` (kept, not omitted, so every line has every column).

use base64::Engine as _;
use sluice_formats::{RowSchema, Value};
use sluice_stream::time::civil_from_days;
use std::fmt::Write as _;

const DAY_MS: i64 = 86_400_000;

/// `2026-11-23T10:05:00.000Z` for a timestamp in ms since the epoch (UTC).
pub fn iso_timestamp(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, frac) = (in_day / 3_600_000, in_day % 3_600_000 / 60_000, in_day % 60_000 / 1000, in_day % 1000);
    let mut out = String::with_capacity(24);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}");
    } else {
        let _ = write!(out, "{y:+}");
    }
    let _ = write!(out, "-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z");
    out
}

/// Appends a JSON string.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = std::io::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Appends one cell as a JSON value.
pub fn write_json_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => {
            let _ = std::io::Write::write_fmt(out, format_args!("{i}"));
        }
        Value::Float(x) if x.is_finite() => {
            // serde_json writes the shortest text that reads back as the same f64 ("1.0").
            let _ = serde_json::to_writer(&mut *out, x);
        }
        Value::Float(x) if x.is_nan() => out.extend_from_slice(b"\"NaN\""),
        Value::Float(x) if *x > 0.0 => out.extend_from_slice(b"\"Infinity\""),
        Value::Float(_) => out.extend_from_slice(b"\"-Infinity\""),
        Value::Str(s) => write_json_str(out, s),
        Value::Bytes(b) => {
            out.push(b'"');
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        Value::Timestamp(ms) => {
            out.push(b'"');
            out.extend_from_slice(iso_timestamp(*ms).as_bytes());
            out.push(b'"');
        }
    }
}

/// Writes rows as JSON objects, the column names escaped once.
#[derive(Debug, Clone)]
pub struct JsonRows {
    keys: Vec<Vec<u8>>,
}

impl JsonRows {
    /// For rows of `schema`.
    pub fn new(schema: &RowSchema) -> JsonRows {
        let keys = schema
            .fields
            .iter()
            .map(|f| {
                let mut k = Vec::new();
                write_json_str(&mut k, &f.name);
                k.push(b':');
                k
            })
            .collect();
        JsonRows { keys }
    }

    /// Appends `{"col":value,...}` (no newline). Missing cells are null.
    pub fn write_object(&self, out: &mut Vec<u8>, values: &[Value]) {
        out.push(b'{');
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(k);
            write_json_value(out, values.get(i).unwrap_or(&Value::Null));
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind};

    fn json(v: &Value) -> String {
        let mut out = Vec::new();
        write_json_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_timestamp(1_795_428_300_123), "2026-11-23T10:05:00.123Z");
        assert_eq!(iso_timestamp(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn values() {
        assert_eq!(json(&Value::Null), "null");
        assert_eq!(json(&Value::Float(1.0)), "1.0");
        assert_eq!(json(&Value::Float(221.45)), "221.45");
        assert_eq!(json(&Value::Float(f64::NAN)), "\"NaN\"");
        assert_eq!(json(&Value::Float(f64::NEG_INFINITY)), "\"-Infinity\"");
        assert_eq!(json(&Value::Int(-7)), "-7");
        assert_eq!(json(&Value::from("a\"b\\c\nd\u{1}é")), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(json(&Value::Bytes(vec![0xff, 0, 1].into())), "\"/wAB\"");
        assert_eq!(json(&Value::Timestamp(1_795_428_300_000)), "\"2026-11-23T10:05:00.000Z\"");
        let schema = RowSchema::new(vec![Field::new("a\"", Kind::Int), Field::new("b", Kind::Bool)]);
        let mut out = Vec::new();
        JsonRows::new(&schema).write_object(&mut out, &[Value::Int(1)]);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a\"":1,"b":null}"#);
    }
}
