//! CSV records ↔ [`Row`]s (RFC 4180: quoted fields may hold the delimiter, quotes doubled as
//! `""`, and line breaks).
//!
//! An empty field is null (as Spark's CSV reader does by default). `Int`, `Float`, `Bool`
//! (`true`/`false`, any case) and `Timestamp` (date-time text or integer milliseconds) cells are
//! parsed; a cell that does not parse is an error naming the column, not a silent null.
//!
//! ```
//! use sluice_formats::csv::{CsvCodec, infer_schema};
//! let schema = infer_schema("id,name,price", &["1,\"Smith, J\",2.50"]).unwrap();
//! let codec = CsvCodec::new(schema);
//! let row = codec.decode_line("2,\"say \"\"hi\"\"\",").unwrap();
//! assert_eq!(row.get(1).as_str(), Some("say \"hi\""));
//! assert!(row.get(2).is_null());
//! assert_eq!(codec.encode(&row).unwrap(), "2,\"say \"\"hi\"\"\",");
//! ```

use crate::row::{Field, Kind, Row, RowSchema, Value};
use crate::time;
use compact_str::CompactString;
use std::io::Read;

/// Why a CSV record does not fit.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The csv reader failed (I/O or malformed quoting).
    #[error("cannot read CSV: {0}")]
    Read(#[from] csv::Error),
    /// A record has a different number of fields than the schema has columns.
    #[error("record {record} has {got} fields but the schema has {want} columns")]
    Width {
        /// 1-based record number (0 for a single line).
        record: u64,
        /// Fields in the record.
        got: usize,
        /// Columns expected.
        want: usize,
    },
    /// A cell does not parse as its column's kind.
    #[error("record {record}: column {column:?} is {kind} but the cell is {cell:?}")]
    Cell {
        /// 1-based record number (0 for a single line).
        record: u64,
        /// Column name.
        column: String,
        /// Column kind.
        kind: Kind,
        /// The cell text.
        cell: String,
    },
    /// No header line to take column names from.
    #[error("the CSV input is empty: expected a header line with column names")]
    NoHeader,
    /// A line holds no record at all.
    #[error("the line holds no CSV record")]
    Empty,
}

/// Decodes and encodes CSV records of one schema.
#[derive(Debug, Clone)]
pub struct CsvCodec {
    schema: RowSchema,
    delimiter: u8,
}

impl CsvCodec {
    /// A codec with `,` as delimiter.
    pub fn new(schema: RowSchema) -> Self {
        CsvCodec { schema, delimiter: b',' }
    }

    /// Uses another delimiter (`b'\t'`, `b';'`...).
    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The columns.
    pub fn schema(&self) -> &RowSchema {
        &self.schema
    }

    /// Decodes one record (a line, or several if quoted fields hold line breaks).
    pub fn decode_line(&self, line: &str) -> Result<Row, CsvError> {
        let mut rdr = self.reader(line.as_bytes(), false);
        let mut rec = csv::StringRecord::new();
        if !rdr.read_record(&mut rec)? {
            return Err(CsvError::Empty);
        }
        self.decode_record(&rec, 0)
    }

    /// Decodes a parsed record; `record` is its number for error messages.
    pub fn decode_record(&self, rec: &csv::StringRecord, record: u64) -> Result<Row, CsvError> {
        if rec.len() != self.schema.len() {
            return Err(CsvError::Width { record, got: rec.len(), want: self.schema.len() });
        }
        let mut values = Vec::with_capacity(rec.len());
        for (f, text) in self.schema.fields.iter().zip(rec.iter()) {
            values.push(parse_cell(f, text).ok_or_else(|| CsvError::Cell {
                record,
                column: f.name.clone(),
                kind: f.kind,
                cell: text.to_string(),
            })?);
        }
        Ok(Row::new(values))
    }

    /// Reads every record after a header line (the header is checked for width only; columns
    /// are taken in schema order).
    pub fn read_all(&self, input: impl Read) -> Result<Vec<Row>, CsvError> {
        let mut rdr = self.reader(input, true);
        let mut rows = Vec::new();
        let mut rec = csv::StringRecord::new();
        let mut n = 0;
        while rdr.read_record(&mut rec)? {
            n += 1;
            rows.push(self.decode_record(&rec, n)?);
        }
        Ok(rows)
    }

    /// Encodes a row as one CSV line (no line terminator); nulls are empty fields; fields are
    /// quoted only when they must be.
    pub fn encode(&self, row: &Row) -> Result<String, CsvError> {
        if row.values.len() > self.schema.len() {
            return Err(CsvError::Width { record: 0, got: row.values.len(), want: self.schema.len() });
        }
        let mut wtr = csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let cells: Vec<String> = (0..self.schema.len())
            .map(|i| match row.get(i) {
                Value::Null => String::new(),
                Value::Timestamp(ms) => time::format_ms(*ms),
                v => v.to_string(),
            })
            .collect();
        wtr.write_record(&cells)?;
        let bytes = wtr.into_inner().map_err(|e| CsvError::Read(e.into_error().into()))?;
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        if s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    fn reader<R: Read>(&self, input: R, has_headers: bool) -> csv::Reader<R> {
        csv::ReaderBuilder::new().delimiter(self.delimiter).has_headers(has_headers).flexible(true).from_reader(input)
    }
}

fn parse_cell(f: &Field, text: &str) -> Option<Value> {
    if text.is_empty() {
        return Some(Value::Null);
    }
    Some(match f.kind {
        Kind::Str => Value::Str(CompactString::from(text)),
        Kind::Int => Value::Int(text.trim().parse().ok()?),
        Kind::Float => Value::Float(text.trim().parse().ok()?),
        Kind::Bool => Value::Bool(parse_bool(text)?),
        Kind::Timestamp => Value::Timestamp(time::parse_ms(text).or_else(|| text.trim().parse().ok())?),
        Kind::Bytes => Value::Bytes(text.as_bytes().into()),
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A schema from a header line and sample lines: a column whose non-empty cells all parse as
/// integers is `Int`, as numbers `Float`, as `true`/`false` `Bool`, as date-times `Timestamp`;
/// anything else is `Str`.
pub fn infer_schema(header: &str, samples: &[&str]) -> Result<RowSchema, CsvError> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(header.as_bytes());
    let mut names = csv::StringRecord::new();
    if !rdr.read_record(&mut names)? {
        return Err(CsvError::NoHeader);
    }
    let mut kinds: Vec<Option<Kind>> = vec![None; names.len()];
    for (i, line) in samples.iter().enumerate() {
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line.as_bytes());
        let mut rec = csv::StringRecord::new();
        if !rdr.read_record(&mut rec)? {
            continue;
        }
        if rec.len() != names.len() {
            return Err(CsvError::Width { record: i as u64 + 1, got: rec.len(), want: names.len() });
        }
        for (k, cell) in kinds.iter_mut().zip(rec.iter()) {
            if cell.is_empty() {
                continue;
            }
            let this = if cell.trim().parse::<i64>().is_ok() {
                Kind::Int
            } else if cell.trim().parse::<f64>().is_ok() {
                Kind::Float
            } else if parse_bool(cell).is_some() {
                Kind::Bool
            } else if time::parse_ms(cell).is_some() {
                Kind::Timestamp
            } else {
                Kind::Str
            };
            *k = Some(match (*k, this) {
                (None, t) => t,
                (Some(a), b) if a == b => a,
                (Some(Kind::Int), Kind::Float) | (Some(Kind::Float), Kind::Int) => Kind::Float,
                _ => Kind::Str,
            });
        }
    }
    Ok(RowSchema::new(names.iter().zip(kinds).map(|(n, k)| Field::new(n.trim(), k.unwrap_or(Kind::Str))).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_and_decodes() {
        let schema = infer_schema(
            "id,price,ok,when,name",
            &["1,2,true,2024-01-01 10:00:00,a", "2,2.5,FALSE,2024-01-01T10:00:05Z,\"b,c\"", "3,,,,"],
        )
        .unwrap();
        let kinds: Vec<Kind> = schema.fields.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![Kind::Int, Kind::Float, Kind::Bool, Kind::Timestamp, Kind::Str]);
        let codec = CsvCodec::new(schema);
        let row = codec.decode_line("7,1e3,True,2024-01-01T00:00:00Z,\"multi\nline\"").unwrap();
        assert_eq!(
            row.values,
            vec![
                Value::Int(7),
                Value::Float(1000.0),
                Value::Bool(true),
                Value::Timestamp(1_704_067_200_000),
                Value::from("multi\nline")
            ]
        );
        assert_eq!(codec.decode_line(",,,,").unwrap().values, vec![Value::Null; 5]);
    }

    #[test]
    fn errors_name_the_column() {
        let schema = RowSchema::new(vec![Field::new("id", Kind::Int), Field::new("name", Kind::Str)]);
        let codec = CsvCodec::new(schema);
        let e = codec.decode_line("x1,a").unwrap_err();
        assert_eq!(e.to_string(), r#"record 0: column "id" is int but the cell is "x1""#);
        assert!(matches!(codec.decode_line("1,a,b"), Err(CsvError::Width { got: 3, want: 2, .. })));
        assert!(matches!(codec.decode_line(""), Err(CsvError::Empty)));
        assert!(matches!(infer_schema("", &[]), Err(CsvError::NoHeader)));
    }

    #[test]
    fn encode_quotes_only_when_needed_and_round_trips() {
        let schema = RowSchema::new(vec![
            Field::new("a", Kind::Str),
            Field::new("b", Kind::Float),
            Field::new("c", Kind::Str),
            Field::new("t", Kind::Timestamp),
        ]);
        let codec = CsvCodec::new(schema);
        let row = Row::new(vec![Value::from("x,y"), Value::Float(0.5), Value::Null, Value::Timestamp(0)]);
        let line = codec.encode(&row).unwrap();
        assert_eq!(line, "\"x,y\",0.5,,1970-01-01T00:00:00.000Z");
        assert_eq!(codec.decode_line(&line).unwrap(), row);
    }

    #[test]
    fn reads_a_file_with_header() {
        let schema = RowSchema::new(vec![Field::new("k", Kind::Str), Field::new("v", Kind::Int)]);
        let rows = CsvCodec::new(schema.clone()).read_all("k,v\na,1\nb,2\n".as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].values, vec![Value::from("b"), Value::Int(2)]);
        let e = CsvCodec::new(schema).read_all("k,v\na,zz\n".as_bytes()).unwrap_err();
        assert!(e.to_string().starts_with("record 1: column \"v\""), "{e}");
    }
}
