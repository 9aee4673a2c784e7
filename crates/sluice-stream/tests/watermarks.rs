//! Watermarks, late records, idle partitions and the dead-letter output, through the pipeline.

use crate::util::*;
use sluice_formats::{Row, Value};
use sluice_stream::{DeadLetterReason, Output};

/// Tumbling 10 s windows, 5 s allowed delay, an idle timeout of 1 minute.
fn job() -> String {
    r#"
name = "wm"
[source]
topic = "t"
format = { kind = "json", schema = "k string, t timestamp" }
event_time = "t"
watermark = "5 seconds"
idle_timeout = "1 minute"
[[query]]
name = "counts"
[[query.step]]
window = { type = "tumbling", size = "10 seconds" }
group_by = ["k"]
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "console"
[[query]]
name = "all_rows"
[[query.step]]
select = ["k"]
[[query.sink]]
kind = "console"
"#
    .to_string()
}

fn r(partition: i32, offset: i64, k: &str, s: i64) -> sluice_stream::SourceRecord {
    rec(partition, offset, 0, vec![Value::from(k), ts(at(12, 0, s))])
}

fn w(s: i64, k: &str, n: i64) -> Row {
    Row::new(vec![ts(at(12, 0, s)), ts(at(12, 0, s + 10)), Value::from(k), Value::Int(n)])
}

#[test]
fn a_late_record_goes_to_the_dead_letters_with_its_reason_and_is_counted() {
    let mut p = pipeline(&plan(&job()));
    p.process_batch(&[r(0, 0, "a", 1), r(0, 1, "a", 16)], 0);
    // Watermark 11 s: [0, 10) closed with one row.
    assert_eq!(rows_of(&drain(&mut p), 0), vec![w(0, "a", 1)]);
    assert_eq!(p.watermark(), Some(at(12, 0, 11)));
    p.process_batch(&[r(0, 2, "b", 9), r(0, 3, "b", 10)], 0);
    let out = drain(&mut p);
    let dead = dead_letters(&out);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].query.as_deref(), Some("counts"));
    assert_eq!((dead[0].partition, dead[0].offset), (0, 2));
    assert_eq!(
        dead[0].reason,
        DeadLetterReason::Late { event_time: at(12, 0, 9), watermark: at(12, 0, 11), window_end: at(12, 0, 10) }
    );
    assert_eq!(dead[0].row, Some(Row::new(vec![Value::from("b"), ts(at(12, 0, 9))])));
    assert_eq!(
        dead[0].reason.to_string(),
        "late: event time 2025-07-27 12:00:09 is behind the watermark 2025-07-27 12:00:11; \
         its last window ended at 2025-07-27 12:00:10"
    );
    // The stateless query is not affected by lateness: it sees every record.
    assert_eq!(rows_of(&out, 1).len(), 2);
    assert_eq!(p.metrics().late, vec![1, 0]);
    assert_eq!(p.metrics().dead_letters, 1);
    p.finish(0);
    assert_eq!(rows_of(&drain(&mut p), 0), vec![w(10, "a", 1), w(10, "b", 1)]);
}

#[test]
fn a_slow_partition_holds_the_watermark_and_an_idle_one_stops_holding_it() {
    let mut p = pipeline(&plan(&job()));
    p.assign_partitions(&[0, 1], 0);
    p.process_batch(&[r(0, 0, "a", 1), r(0, 1, "a", 30)], 1_000);
    // Partition 1 has not delivered: no watermark, nothing closes, nothing is late.
    assert_eq!(p.watermark(), None);
    assert!(rows_of(&drain(&mut p), 0).is_empty());
    p.process_batch(&[r(1, 0, "b", 2)], 2_000);
    // The watermark is the minimum: partition 1's 2 s − 5 s.
    assert_eq!(p.watermark(), Some(at(12, 0, -3)));
    p.process_batch(&[r(1, 1, "b", 5)], 3_000);
    assert!(dead_letters(&drain(&mut p)).is_empty(), "5 s is not late: partition 1 holds the watermark");
    // Partition 0 keeps delivering; partition 1 falls silent. After the idle timeout the
    // watermark follows partition 0.
    p.process_batch(&[r(0, 2, "c", 30)], 50_000);
    assert!(rows_of(&drain(&mut p), 0).is_empty());
    assert_eq!(p.watermark(), Some(at(12, 0, 0)));
    assert_eq!(p.poll_timeout(), Some(63_000));
    p.handle_tick(62_999);
    assert!(drain(&mut p).is_empty());
    p.handle_tick(63_000);
    assert_eq!(p.watermark(), Some(at(12, 0, 25)));
    assert_eq!(rows_of(&drain(&mut p), 0), vec![w(0, "a", 1), w(0, "b", 2)]);
    // Partition 1 wakes up behind the watermark: its old record is late, and the watermark
    // does not go back.
    p.process_batch(&[r(1, 2, "b", 12)], 64_000);
    assert_eq!(dead_letters(&drain(&mut p)).len(), 1);
    assert_eq!(p.watermark(), Some(at(12, 0, 25)));
    assert_eq!(p.offsets().get(&0), Some(&3));
    assert_eq!(p.offsets().get(&1), Some(&3));
}

#[test]
fn records_without_event_time_and_undecodable_values_are_dead_letters() {
    let mut p = pipeline(&plan(&job()));
    p.process_batch(&[rec(3, 7, 0, vec![Value::from("a"), Value::Null])], 0);
    p.handle_decode_error(3, 8, 1234, "protobuf: truncated varint", Some(vec![0x08, 0x96].into()));
    let out = drain(&mut p);
    let dead = dead_letters(&out);
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].reason, DeadLetterReason::MissingEventTime);
    assert_eq!(dead[0].query, None);
    assert_eq!(dead[1].reason, DeadLetterReason::Decode("protobuf: truncated varint".into()));
    assert_eq!(dead[1].raw.as_deref(), Some(&[0x08u8, 0x96][..]));
    assert_eq!((dead[1].offset, dead[1].timestamp), (8, 1234));
    assert!(rows_of(&out, 1).is_empty(), "a record without event time reaches no query");
    let m = p.metrics();
    assert_eq!((m.records_in, m.missing_event_time, m.decode_errors, m.dead_letters), (1, 1, 1, 2));
    assert_eq!(p.offsets().get(&3), Some(&9), "both offsets count as consumed");
}

#[test]
fn the_outcome_does_not_depend_on_how_records_are_batched() {
    let records: Vec<_> = [1, 16, 9, 30, 3, 44, 12, 50, 41, 70]
        .iter()
        .enumerate()
        .map(|(i, s)| r(0, i as i64, ["a", "b", "c"][i % 3], *s))
        .collect();
    let run = |size: usize| {
        let mut p = pipeline(&plan(&job()));
        for chunk in records.chunks(size) {
            p.process_batch(chunk, 0);
        }
        p.finish(0);
        let out = drain(&mut p);
        let dead: Vec<i64> = dead_letters(&out).iter().map(|d| d.offset).collect();
        (rows_of(&out, 0), dead)
    };
    let one = run(1);
    assert!(!one.1.is_empty(), "the input has late records");
    for size in [2, 3, 4, 10] {
        assert_eq!(run(size), one, "batches of {size}");
    }
}

#[test]
fn kafka_timestamps_as_event_time() {
    let text = r#"
name = "k"
[source]
topic = "t"
format = { kind = "json", schema = "action string" }
[[query]]
name = "q"
[[query.step]]
window = { type = "tumbling", size = "1 second" }
group_by = ["action"]
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "console"
"#;
    let mut p = pipeline(&plan(text));
    p.process_batch(&[rec(0, 0, 100, vec![Value::from("view")]), rec(0, 1, 1_500, vec![Value::from("view")])], 0);
    let out = drain(&mut p);
    assert_eq!(rows_of(&out, 0), vec![Row::new(vec![ts(0), ts(1_000), Value::from("view"), Value::Int(1)])]);
    assert!(out.iter().all(|o| matches!(o, Output::Results(b) if b.watermark == Some(1_500))));
}

#[test]
fn an_outside_watermark_closes_windows() {
    let mut p = pipeline(&plan(&job()));
    p.process_batch(&[r(0, 0, "a", 1), r(0, 1, "a", 12)], 0);
    assert!(rows_of(&drain(&mut p), 0).is_empty());
    // A lower watermark than the source's changes nothing; a higher one closes [0, 10).
    p.handle_watermark(at(12, 0, 0), 0);
    assert!(drain(&mut p).is_empty());
    p.handle_watermark(at(12, 0, 10), 0);
    assert_eq!(rows_of(&drain(&mut p), 0), vec![w(0, "a", 1)]);
    assert_eq!(p.watermark(), Some(at(12, 0, 10)));
}
