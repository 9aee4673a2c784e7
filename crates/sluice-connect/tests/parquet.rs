//! The Parquet sink, read back with the `parquet` crate's Arrow reader (pyarrow reads the same
//! files in interop/tests/test_sinks.py).

use crate::common::scenario::{self, batch};
use crate::common::{local, published};
use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use sluice_connect::sink::parquet::{ParquetCompression, ParquetOptions, ParquetSink};
use sluice_connect::sink::{Sink, SinkError, Transactional};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use std::path::Path;

fn cell(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return "null".into();
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        x.value(i).to_string()
    } else if let Some(x) = any.downcast_ref::<Float64Array>() {
        x.value(i).to_string()
    } else if let Some(x) = any.downcast_ref::<StringArray>() {
        format!("{:?}", x.value(i))
    } else if let Some(x) = any.downcast_ref::<BooleanArray>() {
        x.value(i).to_string()
    } else if let Some(x) = any.downcast_ref::<TimestampMillisecondArray>() {
        format!("ts{}", x.value(i))
    } else {
        panic!("unexpected array type {:?}", a.data_type())
    }
}

pub(crate) fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// Rows of a Parquet file as text cells.
pub(crate) fn read_rows(path: &Path) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in read_batches(path) {
        for i in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| cell(c.as_ref(), i)).collect());
        }
    }
    out
}

fn views_options() -> ParquetOptions {
    ParquetOptions { partition_by: vec!["network_id".into(), "minute_timestamp".into()], ..ParquetOptions::default() }
}

#[tokio::test]
async fn hive_partitions_as_spark_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ParquetSink::new("views", &scenario::views_schema(), local(dir.path()), views_options()).unwrap();
    s.recover(None).await.unwrap();
    let rows = scenario::views_rows(1);
    s.write(1, batch(0, 0, rows[..3].to_vec())).await.unwrap();
    s.write(1, batch(0, 1, rows[3..].to_vec())).await.unwrap();
    s.pre_commit(1).await.unwrap();
    assert!(published(dir.path()).is_empty(), "nothing is visible before commit");
    s.commit(1).await.unwrap();
    let files = published(dir.path());
    assert_eq!(
        files,
        [
            "network_id=1/minute_timestamp=2026-11-23 10%3A05%3A00/part-000001-00000.parquet",
            "network_id=2/minute_timestamp=2026-11-23 10%3A06%3A00/part-000001-00000.parquet",
            "network_id=__HIVE_DEFAULT_PARTITION__/minute_timestamp=2026-11-23 10%3A05%3A00/part-000001-00000.parquet",
        ]
    );
    // Partition columns are not in the files; the two writes went into one file per partition.
    let batches = read_batches(&dir.path().join(&files[1]));
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["campaign_id", "campaign_name", "avg_duration", "total_count"]);
    assert_eq!(schema.field(0).data_type(), &DataType::Int64);
    assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
    assert_eq!(schema.field(2).data_type(), &DataType::Float64);
    assert_eq!(
        read_rows(&dir.path().join(&files[1])),
        [["101", "\"beta\"", "1.25", "11"], ["103", "\"d/e=f\"", "1.75", "13"], ["105", "null", "2.25", "15"],]
    );
    assert_eq!(read_rows(&dir.path().join(&files[2])), [["104", "\"\"", "2", "14"]]);
    assert_eq!(
        read_rows(&dir.path().join(&files[0])),
        [["100", "\"alpha\"", "1", "10"], ["102", "\"ça \\\"va\\\"\"", "1.5", "12"]]
    );
    // Snappy by default; written by sluice.
    let file = std::fs::File::open(dir.path().join(&files[0])).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().metadata().clone();
    assert_eq!(meta.row_group(0).column(0).compression(), Compression::SNAPPY);
    assert!(meta.file_metadata().created_by().unwrap_or_default().starts_with("sluice"));
}

#[tokio::test]
async fn unpartitioned_with_every_type_row_groups_and_zstd() {
    let schema = RowSchema::new(vec![
        Field::new("b", Kind::Bool),
        Field::new("i", Kind::Int),
        Field::new("f", Kind::Float),
        Field::new("s", Kind::Str),
        Field::new("x", Kind::Bytes),
        Field::new("t", Kind::Timestamp),
    ]);
    let rows: Vec<Row> = (0..25)
        .map(|i| {
            Row::new(vec![
                Value::Bool(i % 2 == 0),
                if i == 3 { Value::Null } else { Value::Int(i) },
                Value::Int(i * 2), // an int in a float column widens
                Value::from(format!("s{i}")),
                Value::Bytes(vec![i as u8, 0xff].into()),
                Value::Timestamp(scenario::BASE + i),
            ])
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let options =
        ParquetOptions { compression: ParquetCompression::Zstd, row_group_rows: 10, ..ParquetOptions::default() };
    let mut s = ParquetSink::new("all", &schema, local(dir.path()), options).unwrap();
    s.recover(None).await.unwrap();
    s.write(7, batch(0, 0, rows)).await.unwrap();
    s.pre_commit(7).await.unwrap();
    s.commit(7).await.unwrap();
    assert_eq!(published(dir.path()), ["part-000007-00000.parquet"]);
    let path = dir.path().join("part-000007-00000.parquet");
    let meta =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap().metadata().clone();
    assert_eq!(meta.num_row_groups(), 3, "25 rows in groups of at most 10");
    assert!(matches!(meta.row_group(0).column(0).compression(), Compression::ZSTD(_)));
    let batches = read_batches(&path);
    let schema = batches[0].schema();
    assert_eq!(schema.field(4).data_type(), &DataType::Binary);
    assert_eq!(schema.field(5).data_type(), &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())));
    let rows = read_rows_untyped(&batches);
    assert_eq!(rows.len(), 25);
    assert_eq!(rows[3][..4], ["false", "null", "6", "\"s3\""]);
    assert_eq!(rows[3][5], format!("ts{}", scenario::BASE + 3));
}

fn read_rows_untyped(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| if c.data_type() == &DataType::Binary { "bin".into() } else { cell(c.as_ref(), i) })
                    .collect(),
            );
        }
    }
    out
}

#[tokio::test]
async fn big_partitions_roll_into_more_files() {
    let schema = RowSchema::new(vec![Field::new("k", Kind::Str), Field::new("v", Kind::Str)]);
    let rows: Vec<Row> = (0..2000)
        .map(|i| Row::new(vec![Value::from("a"), Value::from(format!("value number {i:05} padded"))]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let options = ParquetOptions {
        partition_by: vec!["k".into()],
        compression: ParquetCompression::Uncompressed,
        row_group_rows: 100,
        roll_bytes: 8 * 1024,
        ..ParquetOptions::default()
    };
    let mut s = ParquetSink::new("big", &schema, local(dir.path()), options).unwrap();
    s.recover(None).await.unwrap();
    for chunk in rows.chunks(100) {
        s.write(1, batch(0, 0, chunk.to_vec())).await.unwrap();
    }
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    let files = published(dir.path());
    assert!(files.len() > 2, "{files:?}");
    assert!(files.iter().all(|f| f.starts_with("k=a/part-000001-")), "{files:?}");
    let mut all: Vec<String> =
        files.iter().flat_map(|f| read_rows(&dir.path().join(f))).map(|r| r[0].clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2000, "every row once");
}

#[tokio::test]
async fn large_batches_encode_off_the_reactor() {
    // Above the offload threshold, with a current-thread runtime: must not deadlock or panic.
    let schema = RowSchema::new(vec![Field::new("i", Kind::Int)]);
    let rows: Vec<Row> = (0..10_000).map(|i| Row::new(vec![Value::Int(i)])).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut s = ParquetSink::new("big", &schema, local(dir.path()), ParquetOptions::default()).unwrap();
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, rows)).await.unwrap();
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    assert_eq!(read_rows(&dir.path().join("part-000001-00000.parquet")).len(), 10_000);
}

#[tokio::test]
async fn bad_partition_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let schema = scenario::views_schema();
    let err = |p: Vec<&str>| {
        let options =
            ParquetOptions { partition_by: p.into_iter().map(String::from).collect(), ..ParquetOptions::default() };
        match ParquetSink::new("views", &schema, local(dir.path()), options) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    };
    let e = err(vec!["network"]);
    assert!(e.contains("`network` is not a result column") && e.contains("network_id"), "{e}");
    assert!(err(vec!["network_id", "network_id"]).contains("listed twice"));
    let every: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert!(err(every).contains("leave at least one column out"));
    let bin = RowSchema::new(vec![Field::new("x", Kind::Bytes), Field::new("y", Kind::Int)]);
    let options = ParquetOptions { partition_by: vec!["x".into()], ..ParquetOptions::default() };
    assert!(ParquetSink::new("q", &bin, local(dir.path()), options).err().unwrap().to_string().contains("binary"));
}

#[tokio::test]
async fn a_row_that_contradicts_the_schema_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let schema = RowSchema::new(vec![Field::new("k", Kind::Int), Field::new("n", Kind::Int)]);
    let options = ParquetOptions { partition_by: vec!["k".into()], ..ParquetOptions::default() };
    let mut s = ParquetSink::new("q", &schema, local(dir.path()), options).unwrap();
    s.recover(None).await.unwrap();
    let rows = vec![Row::new(vec![Value::Int(1), Value::Int(1)]), Row::new(vec![Value::Int(2), Value::from("x")])];
    let e = s.write(1, batch(0, 0, rows)).await.unwrap_err();
    assert!(matches!(&e, SinkError::Column { column, .. } if column == "n"), "{e}");
    // Nothing of the bad batch was written.
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    assert!(published(dir.path()).is_empty(), "{:?}", published(dir.path()));
}
