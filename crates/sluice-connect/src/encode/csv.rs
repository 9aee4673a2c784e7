//! CSV files: a header line, then one line per row, as pandas' `to_csv(index=False)` writes
//! them (`True`/`False` for booleans, empty for null, shortest float text).

use super::EncodeError;
use sluice_formats::{Row, RowSchema, Value};
use std::io::Write;

/// Writes a header and `rows` to `out`.
pub fn write_csv<W: Write>(schema: &RowSchema, rows: &[Row], out: W) -> Result<(), EncodeError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(schema.fields.iter().map(|f| f.name.as_str())).map_err(|e| EncodeError::Write(e.to_string()))?;
    let mut cells: Vec<String> = Vec::with_capacity(schema.len());
    for row in rows {
        if row.values.len() != schema.len() {
            return Err(EncodeError::Width { expected: schema.len(), actual: row.values.len() });
        }
        cells.clear();
        cells.extend(row.values.iter().map(cell_text));
        w.write_record(&cells).map_err(|e| EncodeError::Write(e.to_string()))?;
    }
    w.flush().map_err(|e| EncodeError::Write(e.to_string()))
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        // Debug keeps the fraction of whole floats (`12.0`), as pandas does.
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
        Value::Float(_) => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind};

    #[test]
    fn header_quoting_and_pandas_spellings() {
        let schema = RowSchema::new(vec![
            Field::new("name", Kind::Str),
            Field::new("price", Kind::Float),
            Field::new("premium", Kind::Bool),
            Field::new("note", Kind::Str),
        ]);
        let rows = vec![
            Row::new(vec![Value::from("Home & Garden"), Value::Float(12.0), Value::Bool(true), Value::Null]),
            Row::new(vec![Value::from("a,b"), Value::Float(0.1), Value::Bool(false), Value::from("x")]),
        ];
        let mut out = Vec::new();
        write_csv(&schema, &rows, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,price,premium,note\nHome & Garden,12.0,True,\n\"a,b\",0.1,False,x\n"
        );
    }
}
