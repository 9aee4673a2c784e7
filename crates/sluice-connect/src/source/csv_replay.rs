//! Any CSV file as rows, and the batch metadata seed 002's producer adds to each record.
//!
//! Column types are inferred over the whole column as pandas does: integers, then floats,
//! then `True`/`False`, else text; empty cells are null. Integers written with a leading zero
//! (`02108`) stay text, since they are codes, not numbers.

use crate::civil::format_datetime;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use std::path::{Path, PathBuf};

/// Why a CSV file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvReplayError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}; check the path (relative paths start at the working directory)")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line could not be parsed (bad quoting, wrong number of fields, not UTF-8).
    #[error("{path}: {reason}; every line needs as many fields as the header")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The csv crate's message, which names the line.
        reason: String,
    },
    /// No header line.
    #[error("{path} is empty: a CSV file needs a header line naming the columns")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// A CSV file read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Columns from the header, with inferred types.
    pub schema: RowSchema,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Reads at most `max_records` data rows of `path` (all when `None`).
pub fn read_csv(path: &Path, max_records: Option<usize>) -> Result<CsvTable, CsvReplayError> {
    let file = std::fs::File::open(path).map_err(|source| CsvReplayError::Open { path: path.into(), source })?;
    read_csv_from(file, path, max_records)
}

/// As [`read_csv`], from any reader; `path` only names it in errors.
pub fn read_csv_from<R: std::io::Read>(
    reader: R,
    path: &Path,
    max_records: Option<usize>,
) -> Result<CsvTable, CsvReplayError> {
    let parse = |e: csv::Error| CsvReplayError::Parse { path: path.into(), reason: e.to_string() };
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
    let header: Vec<String> =
        r.headers().map_err(parse)?.iter().map(|h| h.trim_start_matches('\u{feff}').to_string()).collect();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(CsvReplayError::Empty { path: path.into() });
    }
    let mut cells: Vec<Vec<String>> = Vec::new();
    for record in r.records() {
        if max_records.is_some_and(|m| cells.len() >= m) {
            break;
        }
        let record = record.map_err(parse)?;
        cells.push(record.iter().map(str::to_string).collect());
    }
    let kinds: Vec<Kind> = (0..header.len()).map(|c| infer_kind(cells.iter().map(|row| row[c].as_str()))).collect();
    let schema = RowSchema::new(header.into_iter().zip(&kinds).map(|(n, k)| Field::new(n, *k)).collect());
    let rows = cells
        .into_iter()
        .map(|row| Row::new(row.iter().zip(&kinds).map(|(text, kind)| parse_cell(text, *kind)).collect()))
        .collect();
    Ok(CsvTable { schema, rows })
}

/// `0123` or `-007.5`: a code written with a leading zero, not a number.
fn leading_zero(t: &str) -> bool {
    let b = t.strip_prefix('-').unwrap_or(t).as_bytes();
    b.len() > 1 && b[0] == b'0' && b[1].is_ascii_digit()
}

fn is_int(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !leading_zero(t) && t.parse::<i64>().is_ok()
}

fn is_float(t: &str) -> bool {
    t.bytes().any(|b| b.is_ascii_digit()) && !leading_zero(t) && t.parse::<f64>().is_ok_and(f64::is_finite)
}

fn bool_of(t: &str) -> Option<bool> {
    match t {
        "True" | "true" | "TRUE" => Some(true),
        "False" | "false" | "FALSE" => Some(false),
        _ => None,
    }
}

/// The narrowest type every non-empty cell of a column fits.
pub fn infer_kind<'a>(cells: impl Iterator<Item = &'a str> + Clone) -> Kind {
    let mut present = cells.filter(|c| !c.is_empty());
    if present.clone().next().is_none() {
        return Kind::Str;
    }
    if present.clone().all(is_int) {
        Kind::Int
    } else if present.clone().all(is_float) {
        Kind::Float
    } else if present.all(|c| bool_of(c).is_some()) {
        Kind::Bool
    } else {
        Kind::Str
    }
}

fn parse_cell(text: &str, kind: Kind) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match kind {
        Kind::Int => text.parse().map(Value::Int).unwrap_or_else(|_| Value::from(text)),
        Kind::Float => text.parse().map(Value::Float).unwrap_or_else(|_| Value::from(text)),
        Kind::Bool => bool_of(text).map(Value::Bool).unwrap_or_else(|| Value::from(text)),
        _ => Value::from(text),
    }
}

/// The columns seed 002's producer adds to every record.
pub const BATCH_COLUMNS: [(&str, Kind); 4] = [
    ("batch_number", Kind::Int),
    ("batch_position", Kind::Int),
    ("producer_timestamp", Kind::Float),
    ("producer_timestamp_str", Kind::Str),
];

/// `schema` plus [`BATCH_COLUMNS`]. A CSV column of the same name is replaced, as a Python
/// dict update would.
pub fn enriched_schema(schema: &RowSchema) -> RowSchema {
    let mut fields: Vec<Field> =
        schema.fields.iter().filter(|f| !BATCH_COLUMNS.iter().any(|(n, _)| *n == f.name)).cloned().collect();
    fields.extend(BATCH_COLUMNS.iter().map(|(n, k)| Field::new(*n, *k)));
    RowSchema::new(fields)
}

/// `row` (laid out as `schema`) with the batch metadata appended, laid out as
/// [`enriched_schema`]: batch and position count from 1, `producer_timestamp` is Unix seconds
/// with milliseconds (Python's `time.time()`), `producer_timestamp_str` the same instant as
/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn enrich(schema: &RowSchema, row: &Row, batch_number: u64, batch_position: u64, now_ms: i64) -> Row {
    let mut values: Vec<Value> = schema
        .fields
        .iter()
        .zip(&row.values)
        .filter(|(f, _)| !BATCH_COLUMNS.iter().any(|(n, _)| *n == f.name))
        .map(|(_, v)| v.clone())
        .collect();
    values.push(Value::Int(batch_number as i64));
    values.push(Value::Int(batch_position as i64));
    values.push(Value::Float(now_ms as f64 / 1000.0));
    values.push(Value::from(format_datetime(now_ms, ' ')));
    Row::new(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> CsvTable {
        read_csv_from(text.as_bytes(), Path::new("t.csv"), None).unwrap()
    }

    #[test]
    fn infers_types_like_pandas() {
        let t = table("id,price,premium,zip,name,empty,mixed\n1,2.5,True,02108,a,,1\n2,3,False,90001,b,,x\n");
        let kinds: Vec<Kind> = t.schema.fields.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [Kind::Int, Kind::Float, Kind::Bool, Kind::Str, Kind::Str, Kind::Str, Kind::Str]);
        assert_eq!(t.rows[1].values[1], Value::Float(3.0));
        assert_eq!(t.rows[0].values[3], Value::from("02108"));
        assert_eq!(t.rows[0].values[5], Value::Null);
        assert_eq!(t.rows[1].values[2], Value::Bool(false));
    }

    #[test]
    fn max_records_and_errors() {
        let t = read_csv_from("a\n1\n2\n3\n".as_bytes(), Path::new("t.csv"), Some(2)).unwrap();
        assert_eq!(t.rows.len(), 2);
        let err = read_csv_from("a,b\n1\n".as_bytes(), Path::new("bad.csv"), None).unwrap_err().to_string();
        assert!(err.contains("bad.csv") && err.contains("line"), "{err}");
        let err = read_csv_from("".as_bytes(), Path::new("e.csv"), None).unwrap_err().to_string();
        assert!(err.contains("e.csv is empty"), "{err}");
        let err = read_csv(Path::new("/nonexistent/x.csv"), None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/x.csv"), "{err}");
    }

    #[test]
    fn enrich_appends_seed_metadata() {
        let t = table("customer_id,final_amount\nCUST_10001,354.38\n");
        let schema = enriched_schema(&t.schema);
        let row = enrich(&t.schema, &t.rows[0], 1, 1, 1_690_454_489_123);
        let mut out = Vec::new();
        crate::encode::json::write_object(&schema, &row, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"customer_id":"CUST_10001","final_amount":354.38,"batch_number":1,"batch_position":1,"producer_timestamp":1690454489.123,"producer_timestamp_str":"2023-07-27 10:41:29"}"#
        );
    }
}
