//! Scale-out of a job with aggregates: two `sluice run --instance-id` processes share the
//! source partitions (shuffle stage) and the `<job>-repartition` partitions (merge stage, state
//! per partition in the shared checkpoint location). One is stopped mid-way (SIGTERM): the
//! other takes over its partitions and their state. Then one instance finishes the input. The
//! published rows (files and a read_committed Kafka sink) must equal one single-instance run.

use super::{consume_json, published_json_lines as lines, sluice, sluice_with, spawn_run};
use sluice_broker::BrokerConfig;
use sluice_testkit::TestBroker;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const CHUNKS: usize = 6;
const PER_CHUNK: usize = 400;

fn job(name: &str, out: &Path, topic_out: &str) -> String {
    format!(
        r#"
name = "{name}"
[source]
topic = "so-in"
format = {{ kind = "json", schema = "k string, v bigint, t bigint" }}
event_time = "timestamp_millis(t)"
watermark = "2 seconds"

[[query]]
name = "per_key"
[[query.step]]
window = {{ type = "tumbling", size = "10 seconds" }}
group_by = ["k"]
aggregates = ["count(*) AS n", "sum(v) AS total", "count(DISTINCT v) AS kinds"]
[[query.sink]]
kind = "json"
path = "{out}/per_key"
[[query.sink]]
kind = "kafka"
topic = "{topic_out}"
key = "k"

[[query]]
name = "sliding_all"
[[query.step]]
window = {{ type = "sliding", size = "20 seconds", slide = "5 seconds" }}
aggregates = ["count(*) AS n", "max(v) AS top"]
[[query.sink]]
kind = "json"
path = "{out}/sliding_all"

[[query]]
name = "big"
[[query.step]]
filter = "v > 10"
[[query.sink]]
kind = "json"
path = "{out}/big"

[checkpoint]
interval = "300 ms"
location = "{out}/checkpoints"
"#,
        out = out.display(),
    )
}

/// Input chunk `c`: keyed JSON lines (`key<TAB>value`) with event times moving forward
/// (2026-11-23 10:00:00 UTC on). The Kafka keys `p0`..`p11` reach all four partitions (murmur2),
/// so every partition moves the watermark on and windows close while the instances stream.
fn chunk(c: usize) -> String {
    let mut s = String::new();
    for i in c * PER_CHUNK..(c + 1) * PER_CHUNK {
        let t = 1_795_428_000_000i64 + i as i64 * 53;
        s.push_str(&format!("p{}\t{{\"k\":\"k{}\",\"v\":{},\"t\":{t}}}\n", i % 12, i * 7 % 11, i % 13));
    }
    s
}

/// The result rows a run reports on stopping.
fn rows_written(log: &str) -> u64 {
    let n = log.lines().rev().find_map(|l| {
        let (head, _) = l.split_once(" result rows")?;
        head.rsplit(' ').next()?.parse().ok()
    });
    n.unwrap_or_else(|| panic!("no \"result rows\" in the log:\n{log}"))
}

fn start(dir: &Path, b: &str, n: u32) -> Child {
    spawn_run(dir, b, "scaled.toml", &["--instance-id", &n.to_string()], &format!("instance-{n}.log"))
}

/// An instance's log without terminal colours.
fn log_of(dir: &Path, n: u32) -> String {
    let raw = std::fs::read_to_string(dir.join(format!("instance-{n}.log"))).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

async fn wait_for(dir: &Path, what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\ninstance 0:\n{}\ninstance 1:\n{}",
            log_of(dir, 0),
            log_of(dir, 1)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // Our own child, by its PID.
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    child.wait().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_stopped_equal_one_instance() {
    let mut config = BrokerConfig::default();
    config.coordinator.limits.initial_rebalance_delay_ms = 0;
    let broker = TestBroker::start_with(config).await;
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (scaled_dir, ref_dir) = (d.join("scaled"), d.join("reference"));
    std::fs::create_dir_all(&scaled_dir).unwrap();
    std::fs::create_dir_all(&ref_dir).unwrap();
    std::fs::write(d.join("scaled.toml"), job("scaled", &scaled_dir, "so-out")).unwrap();
    std::fs::write(d.join("reference.toml"), job("reference", &ref_dir, "so-ref")).unwrap();
    sluice(d, &["topics", "create", "so-in", "-b", &b, "--partitions", "4"]).await.ok();
    let produce = |c: usize| {
        let b = b.clone();
        async move {
            let input = chunk(c);
            sluice_with(
                d,
                &["produce", "lines", "so-in", "-b", &b, "--key-separator", "\t"],
                &[],
                Some(input.as_bytes()),
            )
            .await
            .ok();
        }
    };

    produce(0).await;
    let mut i0 = start(d, &b, 0);
    let mut i1 = start(d, &b, 1);
    // Both instances own partitions of both stages (each stage logs its assignments).
    wait_for(d, "both instances to own partitions in both stages", 60, || {
        (0..2).all(|n| log_of(d, n).matches("partitions assigned").count() >= 2)
    })
    .await;
    for c in 1..CHUNKS / 2 {
        produce(c).await;
    }
    wait_for(d, "instance 1 to checkpoint its merge partitions", 60, || {
        std::fs::read_dir(scaled_dir.join("checkpoints/merge")).is_ok_and(|r| r.count() >= 3)
    })
    .await;
    let status = terminate(&mut i1);
    assert_eq!(status.code(), Some(0), "instance 1 did not stop cleanly:\n{}", log_of(d, 1));
    for c in CHUNKS / 2..CHUNKS {
        produce(c).await;
    }
    // Instance 1 was a static member: its partitions move when its session (10 s) ends.
    wait_for(d, "instance 0 to take every partition of both stages", 60, || {
        log_of(d, 0).matches("partitions=[0, 1, 2, 3]").count() >= 2
    })
    .await;
    // Windows close while the instances stream: every tumbling window that ends at or before
    // the last event time less the 2 s watermark delay, for each of the 11 keys, is published
    // before the input is finished.
    let last_event = (CHUNKS * PER_CHUNK - 1) as i64 * 53;
    let closed_windows = ((last_event - 2_000) / 10_000) as usize;
    wait_for(d, "the closed windows to be published while streaming", 60, || {
        lines(&scaled_dir.join("per_key")).len() >= closed_windows * 11
    })
    .await;
    let status = terminate(&mut i0);
    assert_eq!(status.code(), Some(0), "instance 0 did not stop cleanly:\n{}", log_of(d, 0));
    assert_eq!(lines(&scaled_dir.join("per_key")).len(), closed_windows * 11, "rows of windows still open");
    assert!(log_of(d, 0).contains("resuming from checkpoint"), "instance 0 never took over a partition's state");
    let streamed = rows_written(&log_of(d, 0)) + rows_written(&log_of(d, 1));

    let last =
        sluice(d, &["run", "scaled.toml", "-b", &b, "--quiet", "--instance-id", "0", "--available-now", "--finish"])
            .await
            .ok();
    let reference =
        sluice(d, &["run", "reference.toml", "-b", &b, "--quiet", "--available-now", "--finish"]).await.ok();
    assert!(reference.stderr.contains(&format!("{} records read in all", CHUNKS * PER_CHUNK)), "{}", reference.stderr);
    let (all, at_end) = (rows_written(&reference.stderr), rows_written(&last.stderr));
    assert_eq!(streamed + at_end, all, "the streaming instances and the last run wrote every row once");
    for q in ["per_key", "sliding_all", "big"] {
        let (got, want) = (lines(&scaled_dir.join(q)), lines(&ref_dir.join(q)));
        assert!(want.len() > 10, "the reference run wrote only {} rows of {q}", want.len());
        assert_eq!(got, want, "query {q}: the scaled-out rows differ from one instance's\nlast run:\n{}", last.stderr);
    }
    let values = |topic: &'static str| {
        let b = b.clone();
        async move {
            let mut v: Vec<String> = consume_json(d, &b, topic, &["-X", "isolation.level=read_committed"])
                .await
                .iter()
                .map(|r| r["value"].to_string())
                .collect();
            v.sort();
            v
        }
    };
    let (got, want) = (values("so-out").await, values("so-ref").await);
    assert_eq!(got, want, "the Kafka sink's committed records differ from one instance's");
}
