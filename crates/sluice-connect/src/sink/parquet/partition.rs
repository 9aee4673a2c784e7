//! Hive-style partition directories, as Spark writes them: `col=value/` per partition column,
//! values cast to text as Spark casts them (timestamps `2026-11-23 10:05:00` in UTC, doubles as
//! Java prints them), nulls and empty strings as `__HIVE_DEFAULT_PARTITION__`, and the
//! characters Spark escapes written as `%XX` (Spark's `ExternalCatalogUtils.escapePathName`:
//! control characters, `" # % ' * / : = ? \ { [ ] ^` and DEL; we also escape non-ASCII control
//! characters, as the `%XX` of their UTF-8 bytes).
//!
//! So a minute is `minute_timestamp=2026-11-23 10%3A05%3A00`: Hadoop's `Path` cannot take a
//! `:` in a name, and every hive reader (Spark, pyarrow, DuckDB, Trino) decodes `%XX`.

use sluice_formats::Value;
use sluice_stream::show::java_double;
use sluice_stream::time::SparkTimestamp;
use std::fmt::Write as _;

/// What Hive, Spark and pyarrow call a null partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

fn needs_escape(c: char) -> bool {
    // Spark's set, plus the non-ASCII control characters (which no file system or object store
    // takes kindly, and which Spark would leave as they are).
    c.is_control() || matches!(c, '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^')
}

/// Escapes a path segment as Spark does: `%XX` per UTF-8 byte of each escaped character (for
/// the ASCII ones Spark escapes, exactly Spark's text).
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A partition value as text (before escaping); `None` for the default partition.
pub fn partition_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => java_double(*x),
        Value::Str(s) => s.to_string(),
        Value::Timestamp(ms) => SparkTimestamp(*ms).to_string(),
        // Refused when the sink is built (Spark refuses binary partition columns too).
        Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    };
    if s.is_empty() { None } else { Some(s) }
}

/// Appends `name=value/` for one partition column.
pub fn push_segment(out: &mut String, name: &str, v: &Value) {
    out.push_str(&escape_path_name(name));
    out.push('=');
    match partition_text(v) {
        Some(t) => out.push_str(&escape_path_name(&t)),
        None => out.push_str(DEFAULT_PARTITION),
    }
    out.push('/');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_spark() {
        let mut d = String::new();
        push_segment(&mut d, "network_id", &Value::Int(3));
        push_segment(&mut d, "minute_timestamp", &Value::Timestamp(1_795_428_300_000));
        assert_eq!(d, "network_id=3/minute_timestamp=2026-11-23 10%3A05%3A00/");
        let mut d = String::new();
        push_segment(&mut d, "c", &Value::Null);
        push_segment(&mut d, "e", &Value::from(""));
        push_segment(&mut d, "s", &Value::from("a/b=c%d é"));
        push_segment(&mut d, "f", &Value::Float(1e7));
        assert_eq!(d, "c=__HIVE_DEFAULT_PARTITION__/e=__HIVE_DEFAULT_PARTITION__/s=a%2Fb%3Dc%25d é/f=1.0E7/");
        assert_eq!(escape_path_name("..\n"), "..%0A");
        assert_eq!(escape_path_name("a\u{85}b\u{7f}"), "a%C2%85b%7F");
    }
}
