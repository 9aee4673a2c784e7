//! Checkpoint → restore → continue equals an uninterrupted run; vnode snapshots are independent.

use crate::util::*;
use proptest::prelude::*;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use sluice_stream::key::{VNODES, hash_values, vnode_of};
use sluice_stream::{Checkpoint, CheckpointError, Output, Pipeline, RestoreError, SourceRecord, StaticTable, Tables};

const HEADER: &str = r#"
name = "cp"
[source]
topic = "t"
format = { kind = "json", schema = "k string, v double, n bigint, t timestamp" }
event_time = "t"
watermark = "3 seconds"
idle_timeout = "20 seconds"
"#;

/// Jobs whose state covers every store: panes, sessions, running aggregates, plus a join.
fn jobs() -> Vec<(&'static str, String)> {
    vec![
        (
            "sliding",
            format!(
                r#"{HEADER}
[[query]]
name = "q"
[[query.step]]
window = {{ type = "sliding", size = "10 seconds", slide = "4 seconds" }}
group_by = ["k"]
aggregates = ["count(*) AS c", "sum(v) AS s", "count(DISTINCT n) AS d", "first(n) AS f", "last(n) AS l",
              "max_by(n, v) AS best", "avg(v) AS a"]
[[query.sink]]
kind = "console"
"#
            ),
        ),
        (
            "sessions-update",
            format!(
                r#"{HEADER}
[[query]]
name = "q"
output_mode = "update"
trigger = "2 seconds"
[[query.step]]
window = {{ type = "session", gap = "3 seconds" }}
group_by = ["k"]
aggregates = ["count(*) AS c", "min(n) AS lo", "max(n) AS hi"]
[[query.sink]]
kind = "console"
"#
            ),
        ),
        (
            "running-complete-top",
            format!(
                r#"{HEADER}
[[query]]
name = "totals"
output_mode = "complete"
trigger = "3 seconds"
[[query.step]]
filter = "n % 5 != 0"
[[query.step]]
group_by = ["k", "n % 3 AS bucket"]
aggregates = ["sum(v) AS total", "count(*) AS c"]
[[query.step]]
top_n = 4
by = "total"
[[query.sink]]
kind = "console"
[[query]]
name = "rows"
[[query.step]]
columns = ["n * 2 AS twice"]
[[query.sink]]
kind = "console"
"#
            ),
        ),
        (
            "join-tumbling",
            format!(
                r#"{HEADER}
[[table]]
name = "dims"
path = "dims.csv"
schema = "k string, region string"
[[query]]
name = "q"
[[query.step]]
join = "dims"
on = ["k"]
how = "left"
[[query.step]]
window = {{ type = "tumbling", size = "5 seconds" }}
group_by = ["region"]
aggregates = ["count(*) AS c", "sum(n) AS total"]
[[query.sink]]
kind = "console"
"#
            ),
        ),
    ]
}

fn tables() -> Tables {
    let t = StaticTable {
        schema: RowSchema::new(vec![Field::new("k", Kind::Str), Field::new("region", Kind::Str)]),
        rows: vec![
            Row::new(vec![Value::from("k0"), Value::from("north")]),
            Row::new(vec![Value::from("k1"), Value::from("south")]),
            Row::new(vec![Value::from("k2"), Value::from("north")]),
        ],
    };
    Tables::from([("dims".to_string(), t)])
}

fn build(text: &str) -> Pipeline {
    let plan = plan(text);
    let schema = plan.source.format.declared_schema().unwrap().clone();
    Pipeline::new(&plan, schema, &tables()).unwrap()
}

#[derive(Debug, Clone)]
enum Event {
    Batch(Vec<SourceRecord>, i64),
    Tick(i64),
}

fn apply(p: &mut Pipeline, events: &[Event], out: &mut Vec<Output>) {
    for e in events {
        match e {
            Event::Batch(records, now) => p.process_batch(records, *now),
            Event::Tick(now) => p.handle_tick(*now),
        }
        out.extend(drain(p));
    }
}

/// Random records on 3 partitions (offsets rising per partition), cut into batches and
/// interleaved with ticks; processing time rises by a second per event.
fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0i32..3, 0usize..6, -8i32..8, 0i64..40, 0i64..120, 0u8..4), 1..120).prop_map(|raw| {
        let mut offsets = [0i64; 3];
        let mut events = Vec::new();
        let mut batch = Vec::new();
        let mut now = 1_000_000;
        for (part, key, v, n, t, action) in raw {
            let off = offsets[part as usize];
            offsets[part as usize] += 1;
            batch.push(rec(
                part,
                off,
                0,
                vec![Value::from(format!("k{key}")), Value::Float(v as f64 / 4.0), Value::Int(n), ts(500 * t)],
            ));
            if action == 0 {
                now += 1_000;
                events.push(Event::Batch(std::mem::take(&mut batch), now));
            } else if action == 1 {
                now += 1_000;
                events.push(Event::Batch(std::mem::take(&mut batch), now));
                now += 1_500;
                events.push(Event::Tick(now));
            }
        }
        now += 1_000;
        events.push(Event::Batch(batch, now));
        events
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn restore_and_replay_equals_an_uninterrupted_run(
        job in 0usize..4,
        events in events(),
        split in any::<prop::sample::Index>(),
    ) {
        let (_, text) = &jobs()[job];
        let mut whole = build(text);
        let mut expected = Vec::new();
        apply(&mut whole, &events, &mut expected);
        whole.finish(9_000_000);
        expected.extend(drain(&mut whole));

        let k = split.index(events.len() + 1);
        let mut first = build(text);
        let mut actual = Vec::new();
        apply(&mut first, &events[..k], &mut actual);
        let bytes = first.checkpoint().unwrap().to_bytes();
        drop(first);
        let cp = Checkpoint::from_bytes(&bytes).unwrap();
        let plan = plan(text);
        let schema = plan.source.format.declared_schema().unwrap().clone();
        let mut second = Pipeline::restore(&plan, schema, &tables(), &cp).unwrap();
        prop_assert_eq!(second.checkpoint().unwrap(), cp.clone(), "a restored pipeline checkpoints the same state");
        apply(&mut second, &events[k..], &mut actual);
        second.finish(9_000_000);
        actual.extend(drain(&mut second));
        prop_assert_eq!(actual, expected);
        prop_assert_eq!(second.metrics(), whole.metrics());
    }

    /// The state of a vnode depends on its keys only: a pipeline restored with half of the
    /// vnodes gives, for the keys of that half, the same output as the whole pipeline.
    #[test]
    fn vnode_snapshots_are_independent(events in events(), split in any::<prop::sample::Index>()) {
        let text = &jobs()[0].1;
        let k = split.index(events.len() + 1);
        let mut p = build(text);
        let mut sink = Vec::new();
        apply(&mut p, &events[..k], &mut sink);
        let cp = p.checkpoint().unwrap();
        let mut expected = Vec::new();
        apply(&mut p, &events[k..], &mut expected);
        p.finish(0);
        expected.extend(drain(&mut p));

        let plan = plan(text);
        let schema = plan.source.format.declared_schema().unwrap().clone();
        let key_vnode = |r: &Row| vnode_of(hash_values([r.get(2)]));
        for lower in [true, false] {
            let keep = |v: u16| (v < VNODES / 2) == lower;
            let mut half = cp.clone();
            half.vnodes.retain(|s| keep(s.vnode));
            let mut q = Pipeline::restore(&plan, schema.clone(), &tables(), &half).unwrap();
            let mut got = Vec::new();
            apply(&mut q, &events[k..], &mut got);
            q.finish(0);
            got.extend(drain(&mut q));
            let mine = |out: &[Output]| -> Vec<Row> {
                rows_of(out, 0).into_iter().filter(|r| keep(key_vnode(r))).collect()
            };
            prop_assert_eq!(mine(&got), mine(&expected));
        }
    }
}

#[test]
fn vnodes_can_be_moved_between_running_pipelines() {
    let text = &jobs()[2].1;
    let mut a = build(text);
    let r = |o: i64, k: &str, n: i64| rec(0, o, 0, vec![Value::from(k), Value::Float(1.0), Value::Int(n), ts(0)]);
    a.process_batch(&[r(0, "x", 1), r(1, "y", 1), r(2, "x", 4)], 0);
    drain(&mut a);
    // The group key is (k, n % 3).
    let vx = vnode_of(hash_values([&Value::from("x"), &Value::Int(1)]));
    assert_ne!(vx, vnode_of(hash_values([&Value::from("y"), &Value::Int(1)])), "pick keys in different vnodes");
    let moved = a.snapshot_vnodes(&[vx]);
    assert_eq!(moved.len(), 1);
    assert!(a.snapshot_vnodes(&[(vx + 1) % VNODES, (vx + 2) % VNODES]).iter().all(|s| s.vnode != vx));
    let mut b = build(text);
    b.restore_vnodes(&moved).unwrap();
    b.handle_tick(0);
    // b now holds x's groups only: (x, 1) with 2 rows (n=1, n=4), and nothing of y.
    let out = drain(&mut b);
    assert_eq!(
        rows_of(&out, 0),
        vec![Row::new(vec![Value::from("x"), Value::Int(1), Value::Float(2.0), Value::Int(2)])]
    );
    // The donor drops what it handed over.
    a.drop_vnodes(&[vx]);
    a.handle_tick(0);
    assert_eq!(
        rows_of(&drain(&mut a), 0),
        vec![Row::new(vec![Value::from("y"), Value::Int(1), Value::Float(1.0), Value::Int(1)])]
    );
}

#[test]
fn checkpoints_refuse_what_does_not_fit() {
    let text = &jobs()[0].1;
    let mut p = build(text);
    p.process_batch(&[rec(0, 0, 0, vec![Value::from("k"), Value::Float(1.0), Value::Int(1), ts(0)])], 0);
    p.finish(0);
    assert_eq!(p.checkpoint().unwrap_err(), CheckpointError::OutputPending { pending: 1 });
    drain(&mut p);
    let cp = p.checkpoint().unwrap();
    let schema = || plan(text).source.format.declared_schema().unwrap().clone();

    let other_job = plan(&text.replace("name = \"cp\"", "name = \"other\""));
    let e = Pipeline::restore(&other_job, schema(), &tables(), &cp).unwrap_err();
    assert_eq!(e, RestoreError::Checkpoint(CheckpointError::WrongJob { found: "cp".into(), expected: "other".into() }));

    let changed = plan(&text.replace("slide = \"4 seconds\"", "slide = \"5 seconds\""));
    let e = Pipeline::restore(&changed, schema(), &tables(), &cp).unwrap_err();
    assert!(e.to_string().contains("changed since this checkpoint"), "{e}");
    assert!(e.fix().starts_with("run the job file the checkpoint was taken with"), "{}", e.fix());

    // The watermark is not part of the state's shape: changing it keeps the checkpoint usable.
    let relaxed = plan(&text.replace("watermark = \"3 seconds\"", "watermark = \"1 minute\""));
    assert!(Pipeline::restore(&relaxed, schema(), &tables(), &cp).is_ok());
    // ... and the new delay applies: 30 s − 1 minute does not pass the checkpointed −3 s.
    let mut fresh = build(text);
    fresh.process_batch(&[rec(0, 0, 0, vec![Value::from("k"), Value::Float(1.0), Value::Int(1), ts(0)])], 0);
    drain(&mut fresh);
    let mut r = Pipeline::restore(&relaxed, schema(), &tables(), &fresh.checkpoint().unwrap()).unwrap();
    assert_eq!(r.watermark(), Some(-3_000));
    r.process_batch(&[rec(0, 1, 0, vec![Value::from("k"), Value::Float(1.0), Value::Int(1), ts(30_000)])], 0);
    assert_eq!(r.watermark(), Some(-3_000));

    let mut damaged = cp.clone();
    damaged.shared.truncate(2);
    let e = Pipeline::restore(&plan(text), schema(), &tables(), &damaged).unwrap_err();
    assert!(matches!(e, RestoreError::Checkpoint(CheckpointError::Corrupt(_))), "{e}");
}
