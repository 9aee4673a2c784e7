//! Scale-out: the shuffle stage on several instances, then one merge pipeline per repartition
//! partition, gives the results of a single pipeline; marks and lateness in the merge stage.

use crate::util::*;
use proptest::prelude::*;
use sluice_formats::{Row, Value};
use sluice_stream::key::values_cmp;
use sluice_stream::{DeadLetterReason, Output, Pipeline, ShuffleRecord, ShuffledIn, SourceRecord};

const JOB: &str = r#"
name = "so"
[source]
topic = "t"
format = { kind = "json", schema = "k string, v double, n bigint, t timestamp" }
event_time = "t"
watermark = "1 hour"

[[query]]
name = "sliding"
[[query.step]]
window = { type = "sliding", size = "10 seconds", slide = "4 seconds" }
group_by = ["k"]
aggregates = ["count(*) AS c", "sum(v) AS s", "count(DISTINCT n) AS d", "avg(v) AS a"]
[[query.sink]]
kind = "console"

[[query]]
name = "top"
output_mode = "complete"
[[query.step]]
filter = "n % 7 != 0"
[[query.step]]
group_by = ["k"]
aggregates = ["round(sum(v), 2) AS total"]
[[query.step]]
top_n = 2
by = "total"
[[query.sink]]
kind = "console"

[[query]]
name = "per_window"
[[query.step]]
window = { type = "tumbling", size = "5 seconds" }
aggregates = ["count(*) AS c", "max(n) AS hi"]
[[query.sink]]
kind = "console"

[[query]]
name = "rows"
[[query.step]]
columns = ["k", "n * 2 AS twice"]
[[query.sink]]
kind = "console"
"#;

const SOURCE_PARTITIONS: i32 = 3;

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| values_cmp(&a.values, &b.values));
    rows
}

fn last_batch(outputs: &[Output], q: usize) -> Vec<Row> {
    batches_of(outputs, q).pop().unwrap_or_default()
}

/// Runs `records` (per partition in offset order) through two shuffle instances (partitions
/// {0, 1} and {2}), batch by batch with marks after each batch and end marks at the end, then
/// each repartition partition's stream through its own merge pipeline. Returns the shuffle
/// stages' outputs and each merge pipeline's outputs.
fn scaled(batches: &[Vec<SourceRecord>], repartitions: u32) -> (Vec<Output>, Vec<Vec<Output>>) {
    let plan = plan(JOB);
    let schema = plan.source.format.declared_schema().unwrap().clone();
    let owner = |p: i32| usize::from(p == 2);
    let mut shufflers: Vec<Pipeline> = (0..2)
        .map(|_| Pipeline::new_shuffle(&plan, schema.clone(), &Default::default(), repartitions).unwrap())
        .collect();
    shufflers[0].assign_partitions(&[0, 1], 0);
    shufflers[1].assign_partitions(&[2], 0);
    let mut topic: Vec<Vec<ShuffleRecord>> = vec![Vec::new(); repartitions as usize];
    let mut direct = Vec::new();
    let route = |outputs: Vec<Output>, direct: &mut Vec<Output>, topic: &mut Vec<Vec<ShuffleRecord>>| {
        for o in outputs {
            match o {
                Output::Shuffle { partition, record } => topic[partition as usize].push(record),
                other => direct.push(other),
            }
        }
    };
    let mark_all = |s: &Pipeline, topic: &mut Vec<Vec<ShuffleRecord>>, end: bool| {
        let marks: Vec<(i32, i64)> =
            if end { s.source_partitions().into_iter().map(|p| (p, i64::MAX)).collect() } else { s.source_progress() };
        for (p, t) in marks {
            for rp in topic.iter_mut() {
                rp.push(ShuffleRecord::Mark { source_partition: p, max_event_time: t });
            }
        }
    };
    for (i, batch) in batches.iter().enumerate() {
        for (n, s) in shufflers.iter_mut().enumerate() {
            let mine: Vec<SourceRecord> = batch.iter().filter(|r| owner(r.partition) == n).cloned().collect();
            s.process_batch(&mine, 1_000 + i as i64);
            route(drain(s), &mut direct, &mut topic);
            mark_all(s, &mut topic, false);
        }
    }
    for s in &shufflers {
        mark_all(s, &mut topic, true);
    }
    let parts: Vec<i32> = (0..SOURCE_PARTITIONS).collect();
    let merged = topic
        .into_iter()
        .enumerate()
        .map(|(rp, records)| {
            let mut m = Pipeline::new_merge(&plan, schema.clone(), &Default::default(), &parts, 0).unwrap();
            let input: Vec<ShuffledIn> = records
                .into_iter()
                .enumerate()
                .map(|(o, record)| ShuffledIn { partition: rp as i32, offset: o as i64, timestamp: 0, record })
                .collect();
            // Two halves, so that state and watermark carry across calls.
            let half = input.len() / 2;
            let (a, b) = (input[..half].to_vec(), input[half..].to_vec());
            m.process_shuffled(a, 2_000);
            let mut out = drain(&mut m);
            m.process_shuffled(b, 2_001);
            assert!(m.input_ended(), "every source partition sent its end mark");
            m.finish(2_002);
            out.extend(drain(&mut m));
            out
        })
        .collect();
    (direct, merged)
}

fn batches_strategy() -> impl Strategy<Value = Vec<Vec<SourceRecord>>> {
    prop::collection::vec((0..SOURCE_PARTITIONS, 0usize..7, -8i32..8, 0i64..40, 0i64..100, any::<bool>()), 1..150)
        .prop_map(|raw| {
            let mut offsets = [0i64; SOURCE_PARTITIONS as usize];
            let mut batches = vec![Vec::new()];
            for (part, key, v, n, t, cut) in raw {
                let off = offsets[part as usize];
                offsets[part as usize] += 1;
                let values =
                    vec![Value::from(format!("k{key}")), Value::Float(f64::from(v) / 4.0), Value::Int(n), ts(500 * t)];
                batches.last_mut().unwrap().push(rec(part, off, 0, values));
                if cut {
                    batches.push(Vec::new());
                }
            }
            batches
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn shuffle_then_merge_per_partition_equals_one_pipeline(batches in batches_strategy(), repartitions in 1u32..5) {
        let plan = plan(JOB);
        let mut single = pipeline(&plan);
        let mut expected = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            single.process_batch(b, 1_000 + i as i64);
            expected.extend(drain(&mut single));
        }
        single.finish(2_002);
        expected.extend(drain(&mut single));
        prop_assert!(dead_letters(&expected).is_empty(), "nothing is late with a 1 hour delay");

        let (direct, merged) = scaled(&batches, repartitions);
        // Queries without aggregate run in the shuffle stage.
        prop_assert_eq!(sorted(rows_of(&direct, 3)), sorted(rows_of(&expected, 3)));
        for q in 0..3 {
            prop_assert!(rows_of(&direct, q).is_empty());
        }
        // Windowed append queries: the union over the repartition partitions.
        for q in [0, 2] {
            let got: Vec<Row> = merged.iter().flat_map(|m| rows_of(m, q)).collect();
            prop_assert_eq!(sorted(got), sorted(rows_of(&expected, q)), "query {}", q);
        }
        // top_n ranks over every group: one repartition partition has them all.
        prop_assert_eq!(last_batch(&merged[0], 1), last_batch(&expected, 1));
        for m in &merged[1..] {
            prop_assert!(rows_of(m, 1).is_empty());
        }
        for m in &merged {
            prop_assert!(dead_letters(m).is_empty());
        }
    }
}

#[test]
fn rows_are_late_only_against_their_own_partitions_progress() {
    let plan = plan(&JOB.replace("watermark = \"1 hour\"", "watermark = \"2 seconds\""));
    let schema = plan.source.format.declared_schema().unwrap().clone();
    let mut m = Pipeline::new_merge(&plan, schema, &Default::default(), &[0, 1], 0).unwrap();
    let row = |p: i32, o: i64, secs: i64| ShuffleRecord::Row {
        query: 2,
        source_partition: p,
        source_offset: o,
        event_time: secs * 1000,
        row: Row::new(vec![Value::from("k"), Value::Float(1.0), Value::Int(o), ts(secs * 1000)]),
    };
    let mark = |p: i32, secs: i64| ShuffleRecord::Mark { source_partition: p, max_event_time: secs * 1000 };
    let input = |records: Vec<ShuffleRecord>, from: i64| -> Vec<ShuffledIn> {
        records
            .into_iter()
            .enumerate()
            .map(|(i, record)| ShuffledIn { partition: 0, offset: from + i as i64, timestamp: 0, record })
            .collect()
    };
    // Partition 1 has not delivered: nothing closes, nothing is late.
    m.process_shuffled(input(vec![row(0, 0, 1), mark(0, 30)], 0), 10);
    assert_eq!(m.watermark(), None);
    assert!(drain(&mut m).is_empty());
    // Partition 1 at 20 s: watermark = min(30, 20) - 2 = 18 s; windows [0, 5), [5, 10), [10, 15) close.
    m.process_shuffled(input(vec![mark(1, 20)], 2), 11);
    assert_eq!(m.watermark(), Some(18_000));
    let out = drain(&mut m);
    assert_eq!(rows_of(&out, 2).len(), 1, "only [0, 5) held rows");
    // A row of partition 1 at 12 s is late; one at 19 s is not.
    m.process_shuffled(input(vec![row(1, 5, 12), row(1, 6, 19)], 3), 12);
    let out = drain(&mut m);
    let late = dead_letters(&out);
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].partition, late[0].offset), (1, 5), "the dead letter names the source record");
    assert!(matches!(late[0].reason, DeadLetterReason::Late { .. }));
    assert_eq!(m.offsets().get(&0), Some(&5), "the repartition offsets are the pipeline's offsets");
    // A record for a query without aggregate is refused with a reason, not dropped.
    let stray = ShuffleRecord::Row {
        query: 3,
        source_partition: 0,
        source_offset: 9,
        event_time: 40_000,
        row: Row::new(vec![Value::from("k"), Value::Int(18)]),
    };
    m.process_shuffled(input(vec![stray], 5), 13);
    let out = drain(&mut m);
    assert!(matches!(&dead_letters(&out)[0].reason, DeadLetterReason::Decode(r) if r.contains("no aggregate step")));
}
