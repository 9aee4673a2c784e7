//! `[checkpoint] publish_within`: a closed window's row reaches `read_committed` readers of a
//! Kafka sink soon after it is emitted, not at the next checkpoint interval. Two runs of the same
//! job over the same input, with a 10-minute interval: one with `publish_within`, one without
//! (which must not have published the row, though it has written it in its open transaction).

use super::{Running, sluice, spawn_run};
use sluice_broker::BrokerConfig;
use sluice_testkit::{ConsumedRecord, TestBroker, poll_topic};
use std::path::Path;
use std::time::{Duration, Instant};

fn job(name: &str, dir: &Path, topic_out: &str, publish_within: Option<&str>) -> String {
    let publish = publish_within.map(|w| format!("publish_within = \"{w}\"\n")).unwrap_or_default();
    format!(
        r#"
name = "{name}"
[source]
topic = "publish-in"
format = {{ kind = "json", schema = "k string, t bigint" }}
event_time = "timestamp_millis(t)"

[[query]]
name = "per_second"
output_mode = "append"
[[query.step]]
window = {{ type = "tumbling", size = "1 second" }}
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "kafka"
topic = "{topic_out}"

[checkpoint]
interval = "10 minutes"
{publish}location = "{cp}"
"#,
        cp = dir.join("checkpoints").join(name).display(),
    )
}

async fn poll(b: &str, topic: &str, isolation: &'static str, wait: Duration) -> Vec<ConsumedRecord> {
    let (b, topic) = (b.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || poll_topic(&b, &topic, isolation, 1, wait)).await.unwrap()
}

async fn produce(dir: &Path, b: &str, line: &str) {
    super::sluice_with(dir, &["produce", "lines", "publish-in", "-b", b], &[], Some(line.as_bytes())).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_within_shows_a_closed_window_to_read_committed_readers_before_the_interval() {
    let mut config = BrokerConfig::default();
    config.coordinator.limits.initial_rebalance_delay_ms = 0;
    let broker = TestBroker::start_with(config).await;
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    for topic in ["publish-in", "publish-fast", "publish-slow"] {
        sluice(dir.path(), &["topics", "create", topic, "-b", &b, "--partitions", "1"]).await.ok();
    }
    std::fs::write(dir.path().join("fast.toml"), job("fast", dir.path(), "publish-fast", Some("50 milliseconds")))
        .unwrap();
    std::fs::write(dir.path().join("slow.toml"), job("slow", dir.path(), "publish-slow", None)).unwrap();
    let log = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.toml.log"))).unwrap_or_default();

    // 2026-11-23 10:00:00.100 UTC: opens the window [10:00:00, 10:00:01).
    produce(dir.path(), &b, "{\"k\":\"a\",\"t\":1795428000100}\n").await;
    let _fast = Running(spawn_run(dir.path(), &b, "fast.toml", &[], "fast.toml.log"));
    let _slow = Running(spawn_run(dir.path(), &b, "slow.toml", &[], "slow.toml.log"));
    // Five seconds later in event time: the watermark passes the window's end, which emits its row.
    produce(dir.path(), &b, "{\"k\":\"a\",\"t\":1795428005100}\n").await;
    let produced = Instant::now();

    let fast = poll(&b, "publish-fast", "read_committed", Duration::from_secs(20)).await;
    let took = produced.elapsed();
    assert_eq!(fast.len(), 1, "no committed row on publish-fast within 20 s\nfast.toml:\n{}", log("fast"));
    let row: serde_json::Value = serde_json::from_slice(fast[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(row["n"], 1, "{row}");
    eprintln!("publish_within: committed row seen {took:?} after the closing record");

    // Without the option the row is written (inside the open transaction) but not published
    // before the 10-minute interval.
    let slow = poll(&b, "publish-slow", "read_uncommitted", Duration::from_secs(30)).await;
    assert_eq!(slow.len(), 1, "the job without publish_within wrote no row\nslow.toml:\n{}", log("slow"));
    let slow = poll(&b, "publish-slow", "read_committed", Duration::from_secs(3)).await;
    assert!(slow.is_empty(), "without publish_within the row was published before the interval: {slow:?}");
    assert!(produced.elapsed() < Duration::from_secs(300), "took {:?}", produced.elapsed());
}
