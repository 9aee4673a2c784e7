//! The Protobuf sink: files decoded back with a wire-format reader written in the test (not the
//! encoder's library), mapping checks, and descriptor loading errors.

use crate::common::scenario::{self, batch, results_proto};
use crate::common::{Wire, fields, local, published, split_delimited};
use sluice_connect::sink::protobuf::{ProtobufSink, load_message};
use sluice_connect::sink::{Sink, SinkError, Transactional};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use std::path::Path;

fn sink(dir: &Path, message: &str, schema: &RowSchema) -> Result<ProtobufSink, SinkError> {
    let desc = load_message(&results_proto(), message)
        .map_err(|e| SinkError::Encode { sink: "test".into(), message: e.to_string() })?;
    ProtobufSink::new("q", schema, desc, local(dir), None)
}

fn text(w: &Wire) -> String {
    match w {
        Wire::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("not bytes: {other:?}"),
    }
}

#[tokio::test]
async fn one_file_per_batch_of_delimited_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "results.ActionCount", &scenario::actions_schema()).unwrap();
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, scenario::actions_rows(1))).await.unwrap();
    s.write(1, batch(0, 1, vec![])).await.unwrap();
    s.write(2, batch(0, 2, scenario::actions_rows(2))).await.unwrap();
    s.pre_commit(2).await.unwrap();
    s.commit(2).await.unwrap();
    assert_eq!(published(dir.path()), ["part-000001-00000.pb", "part-000001-00001.pb", "part-000002-00002.pb"]);
    assert!(std::fs::read(dir.path().join("part-000001-00001.pb")).unwrap().is_empty());

    let data = std::fs::read(dir.path().join("part-000002-00002.pb")).unwrap();
    let msgs = split_delimited(&data);
    assert_eq!(msgs.len(), 5);
    // ActionCount { string action = 1; int64 count = 2; }
    let decoded: Vec<(String, u64)> = msgs
        .iter()
        .map(|m| {
            let f = fields(m);
            assert_eq!(f.len(), 2, "{f:?}");
            assert_eq!(f[0].0, 1);
            assert_eq!(f[1].0, 2);
            let Wire::Varint(n) = f[1].1 else { panic!("{f:?}") };
            (text(&f[0].1), n)
        })
        .collect();
    assert_eq!(
        decoded,
        [
            ("click".into(), 20),
            ("view".into(), 21),
            ("purchase".into(), 22),
            ("signup".into(), 23),
            ("logout".into(), 24)
        ]
    );
}

#[tokio::test]
async fn doubles_and_json_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "results.UserTotal", &scenario::users_schema()).unwrap();
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, scenario::users_rows(1))).await.unwrap();
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    let data = std::fs::read(dir.path().join("part-000001-00000.pb")).unwrap();
    let got: Vec<(String, f64)> = split_delimited(&data)
        .iter()
        .map(|m| {
            let f = fields(m);
            let Wire::Fixed64(bits) = f[1].1 else { panic!("{f:?}") };
            (text(&f[0].1), f64::from_bits(bits))
        })
        .collect();
    assert_eq!(got[0], ("user0".to_string(), 100.0));
    assert_eq!(got[4], ("user4".to_string(), 150.0));
}

fn temp_proto(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("t.proto");
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn timestamps_enums_narrow_ints_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let proto = temp_proto(
        dir.path(),
        r#"syntax = "proto3";
        package t;
        import "google/protobuf/timestamp.proto";
        enum Action { UNKNOWN = 0; VIEW = 1; CLICK = 2; }
        message R {
          google.protobuf.Timestamp window_start = 1;
          Action action = 2;
          int32 small = 3;
          int64 ms = 4;
          string user_id = 5;
          optional string note = 6;
        }"#,
    );
    let schema = RowSchema::new(vec![
        Field::new("window_start", Kind::Timestamp),
        Field::new("action", Kind::Str),
        Field::new("small", Kind::Int),
        Field::new("ms", Kind::Timestamp),
        Field::new("userId", Kind::Str),
        Field::new("note", Kind::Str),
    ]);
    let desc = load_message(&proto, "t.R").unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut s = ProtobufSink::new("q", &schema, desc, local(out.path()), None).unwrap();
    s.recover(None).await.unwrap();
    let ts = scenario::BASE + 250;
    let row = |action: &str, small: i64| {
        Row::new(vec![
            Value::Timestamp(ts),
            Value::from(action),
            Value::Int(small),
            Value::Timestamp(ts),
            Value::from("u1"),
            Value::Null,
        ])
    };
    s.write(1, batch(0, 0, vec![row("CLICK", -5)])).await.unwrap();
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    let data = std::fs::read(out.path().join("part-000001-00000.pb")).unwrap();
    let msgs = split_delimited(&data);
    let f = fields(&msgs[0]);
    let nums: Vec<u32> = f.iter().map(|(n, _)| *n).collect();
    assert_eq!(nums, [1, 2, 3, 4, 5], "the null note is not written: {f:?}");
    let Wire::Bytes(ts_msg) = &f[0].1 else { panic!() };
    assert_eq!(fields(ts_msg), [(1, Wire::Varint((ts / 1000) as u64)), (2, Wire::Varint(250_000_000))]);
    assert_eq!(f[1].1, Wire::Varint(2));
    assert_eq!(f[2].1, Wire::Varint(-5i64 as u64), "int32 negatives are 10-byte varints");
    assert_eq!(f[3].1, Wire::Varint(ts as u64));
    assert_eq!(text(&f[4].1), "u1");

    // Values that do not fit: named, not panicking, and nothing written.
    let e = s.write(2, batch(0, 1, vec![row("JUMP", 1)])).await.unwrap_err().to_string();
    assert!(
        e.contains("row 0 of batch 1") && e.contains("\"JUMP\"") && e.contains("known: UNKNOWN, VIEW, CLICK"),
        "{e}"
    );
    let e = s.write(2, batch(0, 2, vec![row("VIEW", 1 << 40)])).await.unwrap_err().to_string();
    assert!(e.contains("column \"small\"") && e.contains("out of range for a int32 field"), "{e}");
}

#[test]
fn mapping_mismatches_name_column_field_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = |schema: RowSchema| match sink(dir.path(), "results.ActionCount", &schema) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    let e = err(RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("total", Kind::Int)]));
    assert!(
        e.contains("message results.ActionCount has no field `total`") && e.contains("add `int64 total = N;`"),
        "{e}"
    );
    let e = err(RowSchema::new(vec![Field::new("Action", Kind::Str)]));
    assert!(e.contains("did you mean field `action`?"), "{e}");
    let e = err(RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("count", Kind::Float)]));
    assert!(
        e.contains("column `count`: the column is float but field `count` of results.ActionCount is int64")
            && e.contains("declare the field as double"),
        "{e}"
    );
    let e = err(RowSchema::new(vec![Field::new("action", Kind::Int)]));
    assert!(e.contains("the column is int but field `action` of results.ActionCount is string"), "{e}");
    // Fewer columns than fields is fine: the rest stay unset.
    assert!(sink(dir.path(), "results.ActionCount", &RowSchema::new(vec![Field::new("count", Kind::Int)])).is_ok());
}

#[test]
fn descriptor_loading_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_message(&results_proto(), "results.Nope").unwrap_err().to_string();
    assert!(e.contains("results.Nope") && e.contains("results.ActionCount, results.UserTotal"), "{e}");
    assert_eq!(load_message(&results_proto(), "ActionCount").unwrap().full_name(), "results.ActionCount");
    let e = load_message(&dir.path().join("missing.proto"), "x.Y").unwrap_err().to_string();
    assert!(e.contains("missing.proto: no such file"), "{e}");
    let bad = temp_proto(dir.path(), "syntax = \"proto3\"; message { }");
    let e = load_message(&bad, "x.Y").unwrap_err().to_string();
    assert!(e.contains("cannot compile") && e.contains("t.proto") && e.contains("fix the .proto file"), "{e}");
    let desc = dir.path().join("x.desc");
    std::fs::write(&desc, b"\xff\xff not a descriptor").unwrap();
    let e = load_message(&desc, "x.Y").unwrap_err().to_string();
    assert!(e.contains("is not a valid protobuf FileDescriptorSet") && e.contains("--descriptor_set_out"), "{e}");
}

#[test]
fn both_encoders_write_the_same_bytes() {
    use sluice_connect::sink::protobuf::{FormatsEncoder, ReflectEncoder, RowEncoder};
    for (name, schema, rows) in [
        ("results.ActionCount", scenario::actions_schema(), scenario::actions_rows(3)),
        ("results.UserTotal", scenario::users_schema(), scenario::users_rows(2)),
    ] {
        let m = load_message(&results_proto(), name).unwrap();
        let (a, b) = (FormatsEncoder::new(m.clone(), &schema).unwrap(), ReflectEncoder::new(m, &schema).unwrap());
        for r in &rows {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.encode_delimited(r, &mut x).unwrap();
            b.encode_delimited(r, &mut y).unwrap();
            assert_eq!(x, y, "{name} {r:?}");
        }
    }
}

#[test]
fn descriptor_sets_load_too() {
    // A .desc written by protox (as `protoc --descriptor_set_out --include_imports` would).
    let dir = tempfile::tempdir().unwrap();
    let fds = protox::compile([results_proto()], [results_proto().parent().unwrap()]).unwrap();
    let desc = dir.path().join("results.desc");
    std::fs::write(&desc, prost::Message::encode_to_vec(&fds)).unwrap();
    let m = load_message(&desc, "results.UserTotal").unwrap();
    assert_eq!(m.fields().map(|f| f.name().to_string()).collect::<Vec<_>>(), ["userId", "totalValue"]);
}
