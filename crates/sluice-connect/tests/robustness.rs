//! Any rows, any values, any partition columns: the sinks return errors, never panic.

use crate::common::local;
use crate::common::scenario::{batch, results_proto};
use proptest::prelude::*;
use sluice_connect::sink::json::JsonSink;
use sluice_connect::sink::parquet::{ParquetOptions, ParquetSink};
use sluice_connect::sink::protobuf::{ProtobufSink, load_message};
use sluice_connect::sink::{Sink, Transactional};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Bool),
        Just(Kind::Int),
        Just(Kind::Float),
        Just(Kind::Str),
        Just(Kind::Bytes),
        Just(Kind::Timestamp)
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        ".{0,12}".prop_map(Value::from),
        "[/=%:. \\\\\u{0}-\u{1f}\u{7f}-\u{9f}]{0,6}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::Bytes(b.into())),
        any::<i64>().prop_map(Value::Timestamp),
    ]
}

/// A value of the column's kind (or null) most of the time, anything at all otherwise.
fn value_for(k: Kind) -> BoxedStrategy<Value> {
    let typed = match k {
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Int => prop_oneof![any::<i64>(), -3i64..3].prop_map(Value::Int).boxed(),
        Kind::Float => any::<f64>().prop_map(Value::Float).boxed(),
        Kind::Str => prop_oneof![".{0,12}", "[/=%:. \\\\\u{0}-\u{1f}\u{7f}-\u{9f}]{0,6}"].prop_map(Value::from).boxed(),
        Kind::Bytes => proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::Bytes(b.into())).boxed(),
        Kind::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
    };
    prop_oneof![6 => typed, 1 => Just(Value::Null), 1 => value()].boxed()
}

fn case() -> impl Strategy<Value = (Vec<Kind>, Vec<Vec<Value>>, Vec<bool>)> {
    proptest::collection::vec(kind(), 1..4).prop_flat_map(|kinds| {
        let n = kinds.len();
        let row: Vec<BoxedStrategy<Value>> = kinds.iter().map(|k| value_for(*k)).collect();
        (Just(kinds), proptest::collection::vec(row, 0..6), proptest::collection::vec(any::<bool>(), n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sinks_never_panic((kinds, rows, part) in case()) {
        let schema = RowSchema::new(kinds.iter().enumerate().map(|(i, k)| Field::new(format!("c{i}"), *k)).collect());
        let rows: Vec<Row> = rows.into_iter().map(Row::new).collect();
        let partition_by: Vec<String> =
            part.iter().enumerate().filter(|(_, p)| **p).map(|(i, _)| format!("c{i}")).collect();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let options = ParquetOptions { partition_by, ..ParquetOptions::default() };
            if let Ok(mut s) = ParquetSink::new("q", &schema, local(&dir.path().join("pq")), options) {
                s.recover(None).await.unwrap();
                let _ = s.write(1, batch(0, 0, rows.clone())).await;
                let _ = s.pre_commit(1).await;
                let _ = s.commit(1).await;
            }
            let mut s = JsonSink::new("q", &schema, local(&dir.path().join("json")), None);
            s.recover(None).await.unwrap();
            s.write(1, batch(0, 0, rows.clone())).await.unwrap();
            s.pre_commit(1).await.unwrap();
            s.commit(1).await.unwrap();
            // ActionCount { string action; int64 count } fed values of any kind.
            let pschema = RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("count", Kind::Int)]);
            let desc = load_message(&results_proto(), "results.ActionCount").unwrap();
            let mut s = ProtobufSink::new("q", &pschema, desc, local(&dir.path().join("pb")), None).unwrap();
            s.recover(None).await.unwrap();
            let _ = s.write(1, batch(0, 0, rows)).await;
            s.pre_commit(1).await.unwrap();
            s.commit(1).await.unwrap();
        });
    }
}
