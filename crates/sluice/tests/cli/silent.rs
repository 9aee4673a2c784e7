//! A source partition that delivers nothing holds the watermark back (the watermark is the least
//! over the partitions), so windows stay open. Without `[source] idle_timeout` the log says so,
//! naming the partition and the fix; with it, the silent partition is let go and windows close
//! while the job streams. Two runs of one job over one input, side by side.

use super::{Running, published_json_lines, sluice, sluice_with, spawn_run};
use sluice_testkit::TestBroker;
use std::path::Path;
use std::time::{Duration, Instant};

fn job(name: &str, dir: &Path, idle_timeout: Option<&str>) -> String {
    let idle = idle_timeout.map(|t| format!("idle_timeout = \"{t}\"\n")).unwrap_or_default();
    format!(
        r#"
name = "{name}"
[source]
topic = "silent-in"
format = {{ kind = "json", schema = "k string, t bigint" }}
event_time = "timestamp_millis(t)"
watermark = "1 second"
{idle}
[[query]]
name = "per_second"
[[query.step]]
window = {{ type = "tumbling", size = "1 second" }}
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "json"
path = "{out}"

[checkpoint]
interval = "200 ms"
location = "{cp}"
"#,
        out = dir.join(name).join("out").display(),
        cp = dir.join(name).join("checkpoints").display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_partition_is_named_and_idle_timeout_lets_it_go() {
    let broker = TestBroker::start().await;
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sluice(d, &["topics", "create", "silent-in", "-b", &b, "--partitions", "2"]).await.ok();
    // Ten seconds of event time (2026-11-23 10:00:00 UTC on), all in partition 0.
    let input: String =
        (0..100).map(|i| format!("{{\"k\":\"a\",\"t\":{}}}\n", 1_795_428_000_000i64 + i * 100)).collect();
    sluice_with(d, &["produce", "lines", "silent-in", "-b", &b, "--partition", "0"], &[], Some(input.as_bytes()))
        .await
        .ok();
    std::fs::write(d.join("held.toml"), job("held", d, None)).unwrap();
    std::fs::write(d.join("idle.toml"), job("idle", d, Some("1 second"))).unwrap();
    let log = |name: &str| std::fs::read_to_string(d.join(format!("{name}.log"))).unwrap_or_default();
    let rows = |name: &str| published_json_lines(&d.join(name).join("out"));
    let start = |name: &str| Running(spawn_run(d, &b, &format!("{name}.toml"), &[], &format!("{name}.log")));
    let (_held, _idle) = (start("held"), start("idle"));

    // With idle_timeout: partition 1 is let go, the watermark follows partition 0 (9.9 s less
    // the 1 s delay) and the windows [0 s, 1 s) .. [7 s, 8 s) close while the job runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows("idle").len() < 8 {
        assert!(Instant::now() < deadline, "no windows closed with idle_timeout\n{}", log("idle"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Without it, the log names the silent partition and the fix, and no window closes.
    while !log("held").contains("held back by partition(s) [1] of topic silent-in") {
        assert!(Instant::now() < deadline, "no warning about the silent partition\n{}", log("held"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(log("held").contains("idle_timeout"), "the warning does not name the fix\n{}", log("held"));
    assert!(rows("held").is_empty(), "windows closed while partition 1 held the watermark: {:?}", rows("held"));
    assert_eq!(rows("idle").len(), 8, "{:?}", rows("idle"));
    assert!(!log("idle").contains("held back"), "{}", log("idle"));
}
