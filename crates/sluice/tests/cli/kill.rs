//! Exactly once across `kill -9`: `sluice run` of a windowed job with a file sink and a Kafka
//! sink is killed (SIGKILL, by its PID) at random points 20 times while input keeps arriving,
//! restarted each time, and finally run to the end of its input. Its published files and the
//! records a `read_committed` reader sees on its result topic must equal those of one
//! uninterrupted run of the same job over the same input.

use super::{consume_json, published_json_lines as lines, sluice, sluice_with};
use sluice_broker::BrokerConfig;
use sluice_testkit::TestBroker;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const CHUNKS: usize = 20;
const PER_CHUNK: usize = 150;

fn job(name: &str, out: &Path, topic_out: &str) -> String {
    format!(
        r#"
name = "{name}"
[source]
topic = "kill-in"
format = {{ kind = "json", schema = "k string, v bigint, t bigint" }}
event_time = "timestamp_millis(t)"
watermark = "2 seconds"

[[query]]
name = "per_key"
[[query.step]]
window = {{ type = "tumbling", size = "10 seconds" }}
group_by = ["k"]
aggregates = ["count(*) AS n", "sum(v) AS total"]
[[query.sink]]
kind = "json"
path = "{out}"
[[query.sink]]
kind = "kafka"
topic = "{topic_out}"
key = "k"

[checkpoint]
interval = "200 ms"
location = "{cp}"
"#,
        out = out.join("out").display(),
        cp = out.join("checkpoints").display(),
    )
}

/// Input chunk `c`: JSON lines with event times moving forward (2026-11-23 10:00:00 UTC on).
fn chunk(c: usize) -> String {
    let mut s = String::new();
    for i in c * PER_CHUNK..(c + 1) * PER_CHUNK {
        let t = 1_795_428_000_000i64 + i as i64 * 97;
        s.push_str(&format!("{{\"k\":\"k{}\",\"v\":{},\"t\":{t}}}\n", i * 7 % 5, i % 13));
    }
    s
}

async fn kafka_values(dir: &Path, b: &str, topic: &str) -> Vec<String> {
    let mut v: Vec<String> = consume_json(dir, b, topic, &[]).await.iter().map(|r| r["value"].to_string()).collect();
    v.sort();
    v
}

/// A small deterministic generator for the kill points (seed printed, so a failure repeats).
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_twenty_times_then_finish_equals_one_uninterrupted_run() {
    let mut config = BrokerConfig::default();
    config.coordinator.limits.initial_rebalance_delay_ms = 0;
    let broker = TestBroker::start_with(config).await;
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let killed_dir = dir.path().join("killed");
    let ref_dir = dir.path().join("reference");
    std::fs::create_dir_all(&killed_dir).unwrap();
    std::fs::create_dir_all(&ref_dir).unwrap();
    std::fs::write(dir.path().join("killed.toml"), job("killed", &killed_dir, "kill-out")).unwrap();
    std::fs::write(dir.path().join("reference.toml"), job("reference", &ref_dir, "kill-ref")).unwrap();
    let produce = |c: usize| {
        let d = dir.path().to_path_buf();
        let b = b.clone();
        async move {
            let input = chunk(c);
            sluice_with(&d, &["produce", "lines", "kill-in", "-b", &b], &[], Some(input.as_bytes())).await.ok();
        }
    };
    sluice(dir.path(), &["topics", "create", "kill-in", "-b", &b, "--partitions", "3"]).await.ok();

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill points seed {seed}");
    let mut rng = seed;
    let started = Instant::now();
    for round in 0..CHUNKS {
        produce(round).await;
        let mut child = super::run_command(dir.path(), &b, "killed.toml").stderr(Stdio::piped()).spawn().unwrap();
        let wait = Duration::from_millis(300 + next(&mut rng) % 2200);
        tokio::time::sleep(wait).await;
        // Our own child, by its PID: SIGKILL, no chance to clean up.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "round {round}: sluice run exited on its own ({status}) before the kill");
    }
    let last =
        sluice(dir.path(), &["run", "killed.toml", "-b", &b, "--quiet", "--available-now", "--finish"]).await.ok();
    assert!(
        last.stderr.contains(&format!("{} records read in all", CHUNKS * PER_CHUNK)),
        "the final run did not account for every record once:\n{}",
        last.stderr
    );
    let reference =
        sluice(dir.path(), &["run", "reference.toml", "-b", &b, "--quiet", "--available-now", "--finish"]).await.ok();
    assert!(reference.stderr.contains(&format!("{} records read in all", CHUNKS * PER_CHUNK)), "{}", reference.stderr);

    let (got, want) = (lines(&killed_dir.join("out")), lines(&ref_dir.join("out")));
    assert!(want.len() > 40, "the reference run wrote only {} rows", want.len());
    assert_eq!(got, want, "the file sink's rows after 20 kills differ from an uninterrupted run's");
    let (got, want) = (kafka_values(dir.path(), &b, "kill-out").await, kafka_values(dir.path(), &b, "kill-ref").await);
    assert_eq!(got.len(), want.len(), "Kafka sink: {} rows after kills, {} uninterrupted", got.len(), want.len());
    assert_eq!(got, want, "the Kafka sink's committed records after 20 kills differ from an uninterrupted run's");
    assert!(started.elapsed() < Duration::from_secs(170), "took {:?}", started.elapsed());
}
