//! Windows, panes, sessions, output modes and triggers, against naive recomputation and by hand.

use crate::util::*;
use proptest::prelude::*;
use sluice_formats::{Row, Value};
use sluice_stream::key::values_cmp;
use sluice_stream::{Output, SourceRecord};
use std::collections::BTreeMap;

const KEYS: [&str; 4] = ["a", "b", "c", "d"];

fn sliding_job(size_ms: i64, slide_ms: i64, delay_ms: i64, mode: &str) -> String {
    format!(
        r#"
name = "w"
[source]
topic = "t"
format = {{ kind = "json", schema = "k string, v double, t timestamp" }}
event_time = "t"
watermark = "{delay_ms} ms"
[[query]]
name = "q"
output_mode = "{mode}"
[[query.step]]
window = {{ type = "sliding", size = "{size_ms} ms", slide = "{slide_ms} ms" }}
group_by = ["k"]
aggregates = ["count(*) AS n", "sum(v) AS total", "min(v) AS lo", "max(v) AS hi",
              "count(DISTINCT v) AS distinct_v", "avg(v) AS mean", "first(v) AS first_v", "last(v) AS last_v"]
[[query.sink]]
kind = "console"
"#
    )
}

/// One input record for the property tests: key index, value (a multiple of 1/4, so sums are
/// exact in any order), event time.
#[derive(Debug, Clone)]
struct Ev {
    key: usize,
    v: f64,
    t: i64,
}

fn to_records(evs: &[Ev]) -> Vec<SourceRecord> {
    evs.iter()
        .enumerate()
        .map(|(i, e)| rec(0, i as i64, 0, vec![Value::from(KEYS[e.key]), Value::Float(e.v), ts(e.t)]))
        .collect()
}

/// Windows `[s, s+size)` with `s` a multiple of `slide` that hold `t`, computed directly.
fn naive_windows(t: i64, size: i64, slide: i64) -> Vec<i64> {
    let mut s = t.div_euclid(slide) * slide;
    let mut out = Vec::new();
    while s + size > t {
        out.push(s);
        s -= slide;
    }
    out.reverse();
    out
}

/// The expected result rows for records that each count towards `windows_of(index)`.
fn naive_rows(evs: &[Ev], size: i64, windows_of: impl Fn(usize) -> Vec<i64>) -> Vec<Row> {
    // (window start, key) -> arrival-ordered records
    let mut groups: BTreeMap<(i64, usize), Vec<&Ev>> = BTreeMap::new();
    for (i, e) in evs.iter().enumerate() {
        for s in windows_of(i) {
            groups.entry((s, e.key)).or_default().push(e);
        }
    }
    groups
        .into_iter()
        .map(|((s, k), recs)| {
            let n = recs.len() as i64;
            let total: f64 = recs.iter().map(|e| e.v).sum();
            let lo = recs.iter().map(|e| e.v).fold(f64::INFINITY, f64::min);
            let hi = recs.iter().map(|e| e.v).fold(f64::NEG_INFINITY, f64::max);
            let mut distinct: Vec<f64> = recs.iter().map(|e| e.v).collect();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            // first: smallest event time, earliest arrival; last: largest, latest arrival.
            let first = recs.iter().fold(None::<&Ev>, |b, e| match b {
                Some(b) if b.t <= e.t => Some(b),
                _ => Some(e),
            });
            let last = recs.iter().fold(None::<&Ev>, |b, e| match b {
                Some(b) if b.t > e.t => Some(b),
                _ => Some(e),
            });
            Row::new(vec![
                ts(s),
                ts(s + size),
                Value::from(KEYS[k]),
                Value::Int(n),
                Value::Float(total),
                Value::Float(lo),
                Value::Float(hi),
                Value::Int(distinct.len() as i64),
                Value::Float(total / n as f64),
                Value::Float(first.map_or(f64::NAN, |e| e.v)),
                Value::Float(last.map_or(f64::NAN, |e| e.v)),
            ])
        })
        .collect()
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| values_cmp(&a.values[..3], &b.values[..3]));
    rows
}

/// Feeds records in the given batch sizes, then ends the input.
fn run_in_batches(p: &mut sluice_stream::Pipeline, records: &[SourceRecord], cuts: &[usize]) -> Vec<Output> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut c = 0;
    while i < records.len() {
        let n = cuts.get(c).copied().unwrap_or(7).max(1);
        let end = (i + n).min(records.len());
        p.process_batch(&records[i..end], 0);
        out.extend(drain(p));
        i = end;
        c += 1;
    }
    p.finish(0);
    out.extend(drain(p));
    out
}

fn window_params() -> impl Strategy<Value = (i64, i64, i64)> {
    // Coarse grids (1 s windows, 0.5 s delays, 0.25 s event times) make boundary cases, where
    // a window ends exactly at the watermark, common.
    (1i64..=8, 1i64..=8, 0i64..=8).prop_map(|(a, b, d)| {
        let size = a * 1000;
        let slide = b.min(a) * 1000;
        (size, slide, d * 500)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Records arrive out of order but never behind the watermark: the pane-based windows
    /// equal a naive recompute over all records, whatever the order and batch split.
    #[test]
    fn sliding_panes_equal_naive_recompute(
        (size, slide, delay) in window_params(),
        raw in prop::collection::vec((0usize..4, -40i32..40, 0i64..6, 0i64..40), 1..150),
        cuts in prop::collection::vec(1usize..20, 0..20),
    ) {
        // Base times rise; each record is pulled back by less than the delay, so it is never
        // behind the watermark (max earlier event time − delay).
        let mut base = 1_000_000i64;
        let evs: Vec<Ev> = raw.iter().map(|&(key, v, step, jitter)| {
            base += 250 * step;
            let back = if delay == 0 { 0 } else { (250 * jitter) % delay };
            Ev { key, v: v as f64 / 4.0, t: base - back }
        }).collect();
        let plan = plan(&sliding_job(size, slide, delay, "append"));
        let mut p = pipeline(&plan);
        let out = run_in_batches(&mut p, &to_records(&evs), &cuts);
        prop_assert!(dead_letters(&out).is_empty());
        let expected = naive_rows(&evs, size, |i| naive_windows(evs[i].t, size, slide));
        prop_assert_eq!(sorted(rows_of(&out, 0)), expected);
        prop_assert_eq!(p.state_entries(), 0, "closed windows leave no state");
    }

    /// Any order: a record behind the watermark for all its windows is a dead letter; one
    /// behind it for some windows counts only towards the windows still open (Spark's rule).
    #[test]
    fn late_records_follow_the_watermark(
        (size, slide, delay) in window_params(),
        raw in prop::collection::vec((0usize..4, -40i32..40, 0i64..160), 1..150),
        cuts in prop::collection::vec(1usize..20, 0..20),
    ) {
        let evs: Vec<Ev> = raw.iter().map(|&(key, v, t)| Ev { key, v: v as f64 / 4.0, t: 1_000_000 + 250 * t }).collect();
        // The watermark before each record: the largest earlier event time minus the delay.
        let mut wm_before = Vec::new();
        let mut max_t: Option<i64> = None;
        for e in &evs {
            wm_before.push(max_t.map(|m| m - delay));
            max_t = Some(max_t.map_or(e.t, |m| m.max(e.t)));
        }
        let open = |i: usize| -> Vec<i64> {
            naive_windows(evs[i].t, size, slide)
                .into_iter()
                .filter(|s| wm_before[i].is_none_or(|wm| s + size > wm))
                .collect()
        };
        let expected_late: Vec<i64> = (0..evs.len()).filter(|&i| open(i).is_empty()).map(|i| i as i64).collect();
        let plan = plan(&sliding_job(size, slide, delay, "append"));
        let mut p = pipeline(&plan);
        let out = run_in_batches(&mut p, &to_records(&evs), &cuts);
        let late: Vec<i64> = dead_letters(&out).iter().map(|d| d.offset).collect();
        prop_assert_eq!(&late, &expected_late);
        prop_assert_eq!(p.metrics().late[0], expected_late.len() as u64);
        let expected_partial = (0..evs.len())
            .filter(|&i| !open(i).is_empty() && open(i).len() < naive_windows(evs[i].t, size, slide).len())
            .count();
        prop_assert_eq!(p.metrics().partially_late[0], expected_partial as u64);
        let expected = naive_rows(&evs, size, open);
        prop_assert_eq!(sorted(rows_of(&out, 0)), expected);
    }

    /// Session windows, in any arrival order (no record late), equal sessionizing the sorted
    /// records: a record within `gap` of a session's last event (inclusive) extends it.
    #[test]
    fn sessions_equal_naive_sessionizing(
        gap_s in 1i64..10,
        raw in prop::collection::vec((0usize..3, -8i32..8, 0i64..120), 1..80),
        cuts in prop::collection::vec(1usize..20, 0..10),
    ) {
        let gap = gap_s * 1000;
        // Half-second grid: sessions that touch exactly are common.
        let evs: Vec<Ev> = raw.iter().map(|&(key, v, t)| Ev { key, v: v as f64 / 4.0, t: 500 * t }).collect();
        let text = format!(r#"
name = "s"
[source]
topic = "t"
format = {{ kind = "json", schema = "k string, v double, t timestamp" }}
event_time = "t"
watermark = "1 day"
[[query]]
name = "q"
[[query.step]]
window = {{ type = "session", gap = "{gap} ms" }}
group_by = ["k"]
aggregates = ["count(*) AS n", "sum(v) AS total"]
[[query.sink]]
kind = "console"
"#);
        let mut p = pipeline(&plan(&text));
        let out = run_in_batches(&mut p, &to_records(&evs), &cuts);
        let mut expected = Vec::new();
        for (k, key) in KEYS.iter().enumerate().take(3) {
            let mut ts_: Vec<&Ev> = evs.iter().filter(|e| e.key == k).collect();
            ts_.sort_by_key(|e| e.t);
            let mut cur: Option<(i64, i64, i64, f64)> = None;
            for e in ts_ {
                cur = match cur {
                    Some((s, end, n, tot)) if e.t <= end => Some((s, end.max(e.t + gap), n + 1, tot + e.v)),
                    other => {
                        if let Some((s, end, n, tot)) = other {
                            expected.push(Row::new(vec![ts(s), ts(end), Value::from(*key), Value::Int(n), Value::Float(tot)]));
                        }
                        Some((e.t, e.t + gap, 1, e.v))
                    }
                };
            }
            if let Some((s, end, n, tot)) = cur {
                expected.push(Row::new(vec![ts(s), ts(end), Value::from(*key), Value::Int(n), Value::Float(tot)]));
            }
        }
        prop_assert_eq!(sorted(rows_of(&out, 0)), sorted(expected));
    }
}

fn tumbling_update_job() -> String {
    r#"
name = "u"
[source]
topic = "t"
format = { kind = "json", schema = "k string, v bigint, t timestamp" }
event_time = "t"
watermark = "5 seconds"
[[query]]
name = "q"
output_mode = "update"
trigger = "5 seconds"
[[query.step]]
window = { type = "tumbling", size = "10 seconds" }
group_by = ["k"]
aggregates = ["count(*) AS n", "sum(v) AS total"]
[[query.sink]]
kind = "console"
"#
    .to_string()
}

#[test]
fn update_mode_emits_changed_rows_at_each_trigger() {
    let mut p = pipeline(&plan(&tumbling_update_job()));
    let r = |o: i64, k: &str, v: i64, t: i64| rec(0, o, 0, vec![Value::from(k), Value::Int(v), ts(at(10, 0, t))]);
    let w = |s: i64, k: &str, n: i64, total: i64| {
        Row::new(vec![ts(at(10, 0, s)), ts(at(10, 0, s + 10)), Value::from(k), Value::Int(n), Value::Int(total)])
    };
    // Processing time starts at 1000 s; the first tick fires at once.
    p.handle_tick(1_000_000);
    assert!(drain(&mut p).is_empty(), "nothing to report yet");
    assert_eq!(p.poll_timeout(), Some(1_005_000));

    p.process_batch(&[r(0, "a", 1, 1), r(1, "b", 2, 2), r(2, "a", 3, 3)], 1_001_000);
    assert!(drain(&mut p).is_empty(), "update mode waits for the trigger");
    p.handle_tick(1_005_000);
    let out = drain(&mut p);
    assert_eq!(batches_of(&out, 0), vec![vec![w(0, "a", 2, 4), w(0, "b", 1, 2)]]);

    // Only `b` changes, and a record in the next window arrives.
    p.process_batch(&[r(3, "b", 10, 4), r(4, "a", 5, 12)], 1_006_000);
    p.handle_tick(1_010_000);
    let out = drain(&mut p);
    assert_eq!(batches_of(&out, 0), vec![vec![w(0, "b", 2, 12), w(10, "a", 1, 5)]]);

    // No change: the trigger emits nothing.
    p.handle_tick(1_015_000);
    assert!(drain(&mut p).is_empty());

    // Event time 16 s moves the watermark to 11 s: window [0, 10) closes. A change to it in the
    // same batch (before the watermark moved) is emitted as it closes; its state is dropped.
    p.process_batch(&[r(5, "a", 100, 9), r(6, "c", 1, 16)], 1_016_000);
    let out = drain(&mut p);
    assert_eq!(batches_of(&out, 0), vec![vec![w(0, "a", 3, 104)]]);
    // A record for the closed window is late.
    p.process_batch(&[r(7, "a", 1000, 8)], 1_017_000);
    let out = drain(&mut p);
    assert_eq!(dead_letters(&out).len(), 1);
    p.handle_tick(1_020_000);
    let out = drain(&mut p);
    assert_eq!(batches_of(&out, 0), vec![vec![w(10, "c", 1, 1)]]);
    assert_eq!(p.metrics().late, vec![1]);
}

#[test]
fn complete_mode_with_top_n_per_window_and_overall() {
    let text = r#"
name = "c"
[source]
topic = "t"
format = { kind = "json", schema = "userId string, value double, t timestamp" }
event_time = "t"
[[query]]
name = "top_overall"
output_mode = "complete"
[[query.step]]
group_by = ["userId"]
aggregates = ["sum(value) AS totalValue"]
[[query.step]]
top_n = 2
by = "totalValue"
[[query.sink]]
kind = "console"
[[query]]
name = "top_per_window"
output_mode = "complete"
[[query.step]]
window = { type = "tumbling", size = "1 minute" }
group_by = ["userId"]
aggregates = ["sum(value) AS totalValue"]
[[query.step]]
top_n = 1
by = "totalValue"
[[query.sink]]
kind = "console"
"#;
    let mut p = pipeline(&plan(text));
    let r = |o: i64, u: &str, v: f64, s: i64| rec(0, o, 0, vec![Value::from(u), Value::Float(v), ts(at(9, 0, s))]);
    p.process_batch(&[r(0, "u1", 5.0, 1), r(1, "u2", 7.0, 2), r(2, "u3", 1.0, 3), r(3, "u1", 4.0, 61)], 0);
    let out = drain(&mut p);
    let row = |u: &str, v: f64| Row::new(vec![Value::from(u), Value::Float(v)]);
    assert_eq!(batches_of(&out, 0), vec![vec![row("u1", 9.0), row("u2", 7.0)]]);
    let wrow =
        |m: i64, u: &str, v: f64| Row::new(vec![ts(at(9, m, 0)), ts(at(9, m + 1, 0)), Value::from(u), Value::Float(v)]);
    assert_eq!(batches_of(&out, 1), vec![vec![wrow(0, "u2", 7.0), wrow(1, "u1", 4.0)]]);
    // Complete mode repeats the whole table at every trigger, updated.
    p.process_batch(&[r(4, "u3", 100.0, 4)], 0);
    let out = drain(&mut p);
    assert_eq!(batches_of(&out, 0), vec![vec![row("u3", 101.0), row("u1", 9.0)]]);
    assert_eq!(batches_of(&out, 1), vec![vec![wrow(0, "u3", 101.0), wrow(1, "u1", 4.0)]]);
}

#[test]
fn sessions_merge_when_a_record_bridges_them_and_close_on_the_watermark() {
    let text = r#"
name = "s"
[source]
topic = "t"
format = { kind = "json", schema = "k string, t timestamp" }
event_time = "t"
watermark = "30 seconds"
[[query]]
name = "q"
[[query.step]]
window = { type = "session", gap = "10 seconds" }
group_by = ["k"]
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "console"
"#;
    let mut p = pipeline(&plan(text));
    let r = |o: i64, k: &str, s: i64| rec(0, o, 0, vec![Value::from(k), ts(at(8, 0, s))]);
    let row = |k: &str, s: i64, e: i64, n: i64| {
        Row::new(vec![ts(at(8, 0, s)), ts(at(8, 0, e)), Value::from(k), Value::Int(n)])
    };
    // a: [0,10) and [20,30); then 10 touches both ends: one session [0,30).
    p.process_batch(&[r(0, "a", 0), r(1, "a", 20), r(2, "b", 3)], 0);
    assert!(drain(&mut p).is_empty());
    p.process_batch(&[r(3, "a", 10)], 0);
    assert!(drain(&mut p).is_empty());
    // 43 s moves the watermark to 13 s: b's session [3, 13) closes.
    p.process_batch(&[r(4, "c", 24), r(5, "d", 43)], 0);
    assert_eq!(rows_of(&drain(&mut p), 0), vec![row("b", 3, 13, 1)]);
    // Watermark 34 s: a's merged session closes, and c's [24, 34).
    p.process_batch(&[r(6, "e", 64)], 0);
    assert_eq!(rows_of(&drain(&mut p), 0), vec![row("a", 0, 30, 3), row("c", 24, 34, 1)]);
    // A record whose session would end at or before the watermark is late.
    p.process_batch(&[r(7, "a", 23)], 0);
    let out = drain(&mut p);
    assert_eq!(dead_letters(&out).len(), 1);
    assert!(rows_of(&out, 0).is_empty());
    p.finish(0);
    assert_eq!(rows_of(&drain(&mut p), 0), vec![row("d", 43, 53, 1), row("e", 64, 74, 1)]);
    assert_eq!(p.state_entries(), 0);
}

#[test]
fn running_aggregates_in_update_mode_emit_only_changed_groups() {
    let text = r#"
name = "r"
[source]
topic = "t"
format = { kind = "json", schema = "action string" }
[[query]]
name = "q"
output_mode = "update"
[[query.step]]
group_by = ["action"]
aggregates = ["count(*) AS count"]
[[query.sink]]
kind = "console"
"#;
    let mut p = pipeline(&plan(text));
    let r = |o: i64, a: &str| rec(0, o, 0, vec![Value::from(a)]);
    let row = |a: &str, n: i64| Row::new(vec![Value::from(a), Value::Int(n)]);
    p.process_batch(&[r(0, "view"), r(1, "click"), r(2, "view")], 0);
    assert_eq!(batches_of(&drain(&mut p), 0), vec![vec![row("click", 1), row("view", 2)]]);
    p.process_batch(&[r(3, "click")], 0);
    assert_eq!(batches_of(&drain(&mut p), 0), vec![vec![row("click", 2)]]);
    p.process_batch(&[], 0);
    assert!(drain(&mut p).is_empty());
}

#[test]
fn stateless_queries_pass_rows_through_filters_and_columns() {
    let text = r#"
name = "n"
[source]
topic = "t"
format = { kind = "json", schema = "number bigint" }
[[query]]
name = "q"
[[query.step]]
filter = "number > 2"
[[query.step]]
columns = ["number * number AS square", "square + 1 AS next"]
[[query.step]]
select = ["number", "next"]
[[query.sink]]
kind = "console"
"#;
    let mut p = pipeline(&plan(text));
    p.process_batch(&[rec(0, 0, 0, vec![Value::Int(2)]), rec(0, 1, 0, vec![Value::Int(3)])], 0);
    p.process_batch(&[rec(0, 2, 0, vec![Value::Null]), rec(0, 3, 0, vec![Value::Int(4)])], 0);
    let out = drain(&mut p);
    assert_eq!(
        batches_of(&out, 0),
        vec![vec![Row::new(vec![Value::Int(3), Value::Int(10)])], vec![Row::new(vec![Value::Int(4), Value::Int(17)])]]
    );
    let names: Vec<&str> = p.result_schema(0).unwrap().fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["number", "next"]);
}

/// `fire_triggers` emits what a due processing-time trigger would, early, and leaves the
/// watermark and open windows alone.
#[test]
fn fire_triggers_is_an_early_trigger_that_closes_nothing() {
    let plan = plan(
        r#"
name = "f"
[source]
topic = "t"
format = { kind = "json", schema = "k string, t timestamp" }
event_time = "t"
watermark = "1 s"
[[query]]
name = "q"
output_mode = "update"
trigger = "1 hour"
[[query.step]]
window = { type = "tumbling", size = "10 s" }
group_by = ["k"]
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "console"
"#,
    );
    let mut p = pipeline(&plan);
    p.handle_tick(0);
    drain(&mut p);
    p.process_batch(
        &[rec(0, 0, 0, vec![Value::from("a"), ts(1_000)]), rec(0, 1, 0, vec![Value::from("a"), ts(2_000)])],
        1,
    );
    assert!(rows_of(&drain(&mut p), 0).is_empty(), "the hourly trigger is not due");
    let wm = p.watermark();
    p.fire_triggers(2);
    let rows = rows_of(&drain(&mut p), 0);
    assert_eq!(rows, vec![Row::new(vec![ts(0), ts(10_000), Value::from("a"), Value::Int(2)])]);
    assert_eq!(p.watermark(), wm);
    p.fire_triggers(3);
    assert!(rows_of(&drain(&mut p), 0).is_empty(), "update mode: nothing changed since");
    // The window is still open: a record for it still counts.
    p.process_batch(&[rec(0, 2, 0, vec![Value::from("a"), ts(3_000)])], 4);
    p.fire_triggers(5);
    assert_eq!(rows_of(&drain(&mut p), 0), vec![Row::new(vec![ts(0), ts(10_000), Value::from("a"), Value::Int(3)])]);
}
