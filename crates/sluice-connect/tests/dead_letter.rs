//! The dead-letter sink writes one JSON line per record, with the reason and the raw bytes.

use crate::common::scenario;
use crate::common::{local, published, read};
use base64::Engine as _;
use sluice_connect::sink::dead_letter::DeadLetterFileSink;
use sluice_connect::sink::{DeadLetterSink, Transactional};

#[tokio::test]
async fn reasons_raw_bytes_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = DeadLetterFileSink::new("job", "user-events", &scenario::input_schema(), local(dir.path()), None);
    s.recover(None).await.unwrap();
    s.write_dead_letters(2, scenario::dead_letters(2)).await.unwrap();
    s.pre_commit(2).await.unwrap();
    s.commit(2).await.unwrap();
    assert_eq!(published(dir.path()), ["part-000002-00000.jsonl"]);
    let text = read(dir.path(), "part-000002-00000.jsonl");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let d = &lines[0];
    assert_eq!(d["topic"], "user-events");
    assert_eq!(d["partition"], 0);
    assert_eq!(d["offset"], 20);
    assert_eq!(d["timestamp"], "2026-11-23T10:05:02.000Z");
    assert_eq!(d["reason_kind"], "decode");
    assert_eq!(d["reason"], "cannot decode: truncated message");
    let raw = base64::engine::general_purpose::STANDARD.decode(d["value_base64"].as_str().unwrap()).unwrap();
    assert_eq!(raw, [0xff, 0x00, 2]);
    assert!(d["row"].is_null() && d["query"].is_null());
    let l = &lines[1];
    assert_eq!(l["reason_kind"], "late");
    assert_eq!(l["query"], "views_per_minute");
    assert_eq!(l["event_time"], "2026-11-23T10:03:00.000Z");
    assert_eq!(l["watermark"], "2026-11-23T10:05:00.000Z");
    assert_eq!(l["window_end"], "2026-11-23T10:04:00.000Z");
    assert!(l["value_base64"].is_null());
    assert_eq!(l["row"], serde_json::json!({"userId": "user1", "action": "view", "value": 2.5}));
}
