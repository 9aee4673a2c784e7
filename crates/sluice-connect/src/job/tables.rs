//! Static tables for stream–static joins (seed 004's `campaigns.csv`), read once at start
//! from CSV or Parquet into the engine's [`StaticTable`].
//!
//! CSV files have a header line. The declared schema's columns are taken by name when the
//! header has every one of them, otherwise by position (the first N columns; extra columns are
//! left out). Parquet files carry their own schema; a declared schema selects and orders
//! columns by name.

use super::JobError;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use sluice_stream::StaticTable;
use sluice_stream::plan::{TableFormat, TablePlan};
use std::path::Path;

/// Loads one table; relative paths start at `base_dir` (or the working directory).
pub fn load_table(
    plan: &TablePlan,
    index: usize,
    job_file: &str,
    base_dir: Option<&Path>,
) -> Result<StaticTable, JobError> {
    let path = super::resolve(base_dir, &plan.path);
    let err = |message: String, fix: &str| JobError::Config {
        file: job_file.to_string(),
        field: format!("table[{index}] ({})", plan.name),
        message,
        fix: fix.to_string(),
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        err(
            format!("cannot read {}: {e}", path.display()),
            "check `path` (relative paths start at the working directory, or at --base-dir when given); `sluice generate campaigns` writes seed 004's table",
        )
    })?;
    match plan.format {
        TableFormat::Csv => {
            let Some(schema) = &plan.schema else {
                return Err(err("a CSV table needs a schema".into(), "add schema = \"col type, ...\" in column order"));
            };
            read_csv(&bytes, schema).map_err(|m| err(format!("{}: {m}", path.display()), "fix the file or the schema"))
        }
        TableFormat::Parquet => read_parquet(bytes.into(), plan.schema.as_ref())
            .map_err(|m| err(format!("{}: {m}", path.display()), "fix the file or the schema")),
    }
}

fn read_csv(bytes: &[u8], schema: &RowSchema) -> Result<StaticTable, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let header = rdr.headers().map_err(|e| format!("cannot read the header line: {e}"))?.clone();
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let by_name: Option<Vec<usize>> = schema.fields.iter().map(|f| names.iter().position(|n| *n == f.name)).collect();
    let columns: Vec<usize> = match by_name {
        Some(c) => c,
        None if names.len() >= schema.len() => (0..schema.len()).collect(),
        None => {
            return Err(format!(
                "the header has {} columns ({}) but the schema declares {}",
                names.len(),
                names.join(", "),
                schema.len()
            ));
        }
    };
    let codec = sluice_formats::csv::CsvCodec::new(schema.clone());
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("record {}: {e}", n + 1)),
        }
        n += 1;
        let mut picked = csv::StringRecord::new();
        for &c in &columns {
            let Some(cell) = rec.get(c) else {
                return Err(format!("record {n} has {} fields, fewer than the {} the schema needs", rec.len(), c + 1));
            };
            picked.push_field(cell);
        }
        rows.push(codec.decode_record(&picked, n).map_err(|e| e.to_string())?);
    }
    Ok(StaticTable { schema: schema.clone(), rows })
}

fn kind_of(t: &DataType) -> Option<Kind> {
    Some(match t {
        DataType::Boolean => Kind::Bool,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Kind::Int,
        DataType::Float32 | DataType::Float64 => Kind::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Str,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Kind::Bytes,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => Kind::Timestamp,
        _ => return None,
    })
}

fn cell(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int8 => Value::Int(a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Value::Int(a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Value::Int(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::Int(a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Value::Int(a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Value::Int(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => {
            i64::try_from(a.as_primitive::<UInt64Type>().value(i)).map(Value::Int).unwrap_or(Value::Null)
        }
        DataType::Float32 => Value::Float(a.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => Value::Float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::from(a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Value::from(a.as_string::<i64>().value(i)),
        DataType::Utf8View => Value::from(a.as_string_view().value(i)),
        DataType::Binary => Value::Bytes(a.as_binary::<i32>().value(i).into()),
        DataType::LargeBinary => Value::Bytes(a.as_binary::<i64>().value(i).into()),
        DataType::BinaryView => Value::Bytes(a.as_binary_view().value(i).into()),
        DataType::Timestamp(unit, _) => Value::Timestamp(match unit {
            TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i).saturating_mul(1000),
            TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
            TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i).div_euclid(1000),
            TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i).div_euclid(1_000_000),
        }),
        DataType::Date32 => Value::Timestamp(i64::from(a.as_primitive::<Date32Type>().value(i)) * 86_400_000),
        DataType::Date64 => Value::Timestamp(a.as_primitive::<Date64Type>().value(i)),
        _ => Value::Null,
    }
}

fn read_parquet(bytes: bytes::Bytes, declared: Option<&RowSchema>) -> Result<StaticTable, String> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| format!("not a Parquet file: {e}"))?;
    let arrow = builder.schema().clone();
    // Which file column fills each table column, and the table's schema.
    let (columns, schema): (Vec<usize>, RowSchema) = match declared {
        Some(s) => {
            let mut cols = Vec::new();
            for f in &s.fields {
                let Ok(i) = arrow.index_of(&f.name) else {
                    let have: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
                    return Err(format!("no column `{}`; the file has: {}", f.name, have.join(", ")));
                };
                let k = kind_of(arrow.field(i).data_type());
                if k != Some(f.kind) {
                    return Err(format!(
                        "column `{}` is {} in the file, not {}",
                        f.name,
                        arrow.field(i).data_type(),
                        f.kind
                    ));
                }
                cols.push(i);
            }
            (cols, s.clone())
        }
        None => {
            let mut cols = Vec::new();
            let mut fields = Vec::new();
            for (i, f) in arrow.fields().iter().enumerate() {
                let Some(k) = kind_of(f.data_type()) else {
                    return Err(format!(
                        "column `{}` has type {}, which a table cannot hold; declare a schema without it",
                        f.name(),
                        f.data_type()
                    ));
                };
                cols.push(i);
                fields.push(Field::new(f.name().as_str(), k));
            }
            (cols, RowSchema::new(fields))
        }
    };
    let reader = builder.build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| format!("cannot read: {e}"))?;
        for i in 0..batch.num_rows() {
            rows.push(Row::new(columns.iter().map(|&c| cell(batch.column(c).as_ref(), i)).collect()));
        }
    }
    Ok(StaticTable { schema, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn csv_by_name_or_position() {
        let schema = RowSchema::new(vec![
            Field::new("campaign_id", Kind::Int),
            Field::new("network_id", Kind::Int),
            Field::new("campaign_name", Kind::Str),
        ]);
        // `sluice generate campaigns` writes `name` and more columns: taken by position.
        let t = read_csv(b"campaign_id,network_id,name,advertiser\n10,3,Summer Sale,Acme\n", &schema).unwrap();
        assert_eq!(t.rows, vec![Row::new(vec![Value::Int(10), Value::Int(3), Value::from("Summer Sale")])]);
        // Named columns in another order: taken by name.
        let t = read_csv(b"campaign_name,x,network_id,campaign_id\nS,1,2,30\n", &schema).unwrap();
        assert_eq!(t.rows, vec![Row::new(vec![Value::Int(30), Value::Int(2), Value::from("S")])]);
        assert!(read_csv(b"a,b\n1,2\n", &schema).unwrap_err().contains("header has 2 columns"));
        assert!(read_csv(b"a,b,c\nx,2,3\n", &schema).unwrap_err().contains("\"x\""));
        assert!(read_csv(b"a,b,c\n1,2\n", &schema).unwrap_err().contains("fewer"));
    }

    #[test]
    fn parquet_round_trip() {
        use arrow_array::{Int64Array, StringArray};
        let a = arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("id", DataType::Int64, false),
            arrow_schema::Field::new("name", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(a.clone()),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec![Some("x"), None]))],
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, Arc::new(a), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let t = read_parquet(buf.clone().into(), None).unwrap();
        assert_eq!(t.schema.fields[0].kind, Kind::Int);
        assert_eq!(t.rows[1], Row::new(vec![Value::Int(2), Value::Null]));
        let only = RowSchema::new(vec![Field::new("name", Kind::Str)]);
        assert_eq!(read_parquet(buf.clone().into(), Some(&only)).unwrap().rows[0], Row::new(vec![Value::from("x")]));
        let wrong = RowSchema::new(vec![Field::new("id", Kind::Str)]);
        assert!(read_parquet(buf.into(), Some(&wrong)).unwrap_err().contains("not string"));
        assert!(read_parquet(b"nope".to_vec().into(), None).is_err());
    }
}
