//! Engine throughput on decoded rows (no Kafka, no decoding): how many rows per second one core
//! pushes through a pipeline.
//!
//! - `count_per_action`: seed 000's events per action: a running count grouped by action over
//!   5 M synthetic `UserEvent` rows (10 users, 5 actions).
//! - `sliding_10s_5s_wm30s`: a 10 s window sliding every 5 s with a 30 s watermark, count and
//!   sum per action, over 5 M rows whose event times advance 1 ms per row with up to 2 s of
//!   disorder (so windows keep closing and state keeps expiring during the run).
//!
//! Run with `cargo bench -p sluice-stream --bench engine`; criterion prints elements/s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_formats::{Row, Value};
use sluice_stream::{Output, Pipeline, SourceRecord, jobfile};
use std::hint::black_box;

const ROWS: usize = 5_000_000;
const BATCH: usize = 8_192;
const ACTIONS: [&str; 5] = ["view", "click", "purchase", "signup", "logout"];

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn user_events(with_time: bool) -> Vec<SourceRecord> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let users: Vec<Value> = (0..10).map(|i| Value::from(format!("user{i}"))).collect();
    let base = 1_753_610_880_000i64;
    (0..ROWS)
        .map(|i| {
            let r = rng.next();
            let user = (r % 10) as usize;
            let action = ACTIONS[((r >> 8) % 5) as usize];
            let value = ((r >> 16) % 50_000) as f64 / 100.0;
            let mut values = vec![users[user].clone(), Value::from(action), Value::Float(value)];
            if with_time {
                let jitter = ((r >> 40) % 2_000) as i64;
                values.push(Value::Timestamp(base + i as i64 - jitter));
            }
            SourceRecord {
                partition: user as i32 % 3,
                offset: i as i64,
                timestamp: base + i as i64,
                row: Row::new(values),
            }
        })
        .collect()
}

/// CPU time this thread has used (ns), from the kernel's scheduler statistics: on a shared
/// machine it measures the work per core better than wall time.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// One run outside criterion, reporting rows per wall second and per CPU second.
fn report(name: &str, plan: &sluice_stream::JobPlan, records: &[SourceRecord]) {
    let cpu0 = thread_cpu_ns();
    let t0 = std::time::Instant::now();
    let out = run(plan, records);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns().zip(cpu0).map(|(b, a)| (b - a) as f64 / 1e9);
    let per_cpu =
        cpu.map_or("n/a".to_string(), |c| format!("{:.1} M rows per CPU second", records.len() as f64 / c / 1e6));
    println!(
        "{name}: {} rows in {wall:.3} s wall: {:.1} M rows/s; {per_cpu}; {out} result rows",
        records.len(),
        records.len() as f64 / wall / 1e6
    );
}

fn run(plan: &sluice_stream::JobPlan, records: &[SourceRecord]) -> usize {
    let schema = plan.source.format.declared_schema().cloned().unwrap_or_default();
    let mut p = Pipeline::new(plan, schema, &Default::default()).expect("bench plan builds");
    let mut rows = 0;
    for chunk in records.chunks(BATCH) {
        p.process_batch(chunk, 0);
        while let Some(o) = p.poll_output() {
            if let Output::Results(b) = o {
                rows += b.rows.len();
            }
        }
    }
    p.finish(0);
    while let Some(o) = p.poll_output() {
        if let Output::Results(b) = o {
            rows += b.rows.len();
        }
    }
    rows
}

fn count_per_action(c: &mut Criterion) {
    let plan = jobfile::parse(
        r#"
name = "bench"
[source]
topic = "user-events"
format = { kind = "json", schema = "userId string, action string, value double" }
[[query]]
name = "events_per_action"
output_mode = "complete"
trigger = "5 seconds"
[[query.step]]
group_by = ["action"]
aggregates = ["count(*) AS count"]
[[query.sink]]
kind = "console"
"#,
        "bench.toml",
    )
    .expect("bench job parses");
    let records = user_events(false);
    report("count_per_action", &plan, &records);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("count_per_action", |b| b.iter(|| black_box(run(&plan, &records))));
    g.finish();
}

fn sliding_window(c: &mut Criterion) {
    let plan = jobfile::parse(
        r#"
name = "bench"
[source]
topic = "user-events"
format = { kind = "json", schema = "userId string, action string, value double, ts timestamp" }
event_time = "ts"
watermark = "30 seconds"
[[query]]
name = "sliding"
[[query.step]]
window = { type = "sliding", size = "10 seconds", slide = "5 seconds" }
group_by = ["action"]
aggregates = ["count(*) AS n", "sum(value) AS total"]
[[query.sink]]
kind = "console"
"#,
        "bench.toml",
    )
    .expect("bench job parses");
    let records = user_events(true);
    report("sliding_10s_5s_wm30s", &plan, &records);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("sliding_10s_5s_wm30s", |b| b.iter(|| black_box(run(&plan, &records))));
    g.finish();
}

criterion_group!(benches, count_per_action, sliding_window);
criterion_main!(benches);
