//! `sluice consume --group` and `sluice groups` against the broker's group coordinator.

use super::{consume_json, sluice};
use serde_json::Value;
use sluice_testkit::TestBroker;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn offsets(records: &str) -> BTreeSet<(i64, i64)> {
    records
        .lines()
        .map(|l| {
            let v = json(l);
            (v["partition"].as_i64().unwrap(), v["offset"].as_i64().unwrap())
        })
        .collect()
}

/// (sum of committed offsets, sum of lag) from `groups describe --format json`.
async fn committed_and_lag(dir: &std::path::Path, b: &str, group: &str) -> (i64, i64, Value) {
    let d = json(&sluice(dir, &["groups", "describe", group, "-b", b, "--format", "json"]).await.ok().stdout);
    let rows = d["offsets"].as_array().unwrap();
    let sum = |k: &str| rows.iter().map(|r| r[k].as_i64().unwrap_or(0)).sum::<i64>();
    (sum("committed_offset"), sum("lag"), d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consumers_resume_and_offsets_can_be_reset() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = broker.bootstrap();
    sluice(d, &["produce", "user-events", "-b", &b, "--count", "30", "--seed", "9"]).await.ok();

    // A group reads 12, then the rest: together every record exactly once. (--from-beginning
    // only applies to partitions without a committed offset, as in kafka-console-consumer.)
    let first = sluice(
        d,
        &["consume", "user-events", "-b", &b, "--group", "g1", "--from-beginning", "--count", "12", "--format", "json"],
    )
    .await
    .ok();
    let second = sluice(
        d,
        &["consume", "user-events", "-b", &b, "--group", "g1", "--from-beginning", "--exit-at-end", "--format", "json"],
    )
    .await
    .ok();
    let (a, z) = (offsets(&first.stdout), offsets(&second.stdout));
    assert_eq!((a.len(), z.len()), (12, 18), "first:\n{}\nsecond:\n{}", first.stdout, second.stdout);
    assert!(a.is_disjoint(&z));

    let listed = json(&sluice(d, &["groups", "list", "-b", &b, "--format", "json"]).await.ok().stdout);
    assert_eq!(
        listed,
        serde_json::json!([{"group": "g1", "state": "Empty", "members": 0, "protocol_type": "consumer"}])
    );
    let (committed, lag, described) = committed_and_lag(d, &b, "g1").await;
    assert_eq!((committed, lag), (30, 0), "{described}");
    let table = sluice(d, &["groups", "describe", "g1", "-b", &b]).await.ok().stdout;
    assert!(table.starts_with("group g1: Empty, 0 members"), "{table}");
    assert!(table.lines().nth(1).unwrap().split_whitespace().eq([
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID"
    ]));

    // Dry run changes nothing; --execute moves every partition back to the start.
    let dry = sluice(d, &["groups", "reset-offsets", "g1", "-b", &b, "--to-earliest"]).await.ok();
    assert!(dry.stdout.trim_end().ends_with("dry run: nothing changed; add --execute to apply"), "{}", dry.stdout);
    assert_eq!(committed_and_lag(d, &b, "g1").await.1, 0);
    let done =
        sluice(d, &["groups", "reset-offsets", "g1", "-b", &b, "--to-earliest", "--execute", "--format", "json"])
            .await
            .ok();
    let plan = json(&done.stdout);
    assert_eq!(plan["executed"], true);
    assert!(plan["offsets"].as_array().unwrap().iter().all(|o| o["new_offset"] == 0));
    assert_eq!(committed_and_lag(d, &b, "g1").await.1, 30);
    let again = consume_json(d, &b, "user-events", &[]).await;
    assert_eq!(again.len(), 30);
    let replay = sluice(d, &["consume", "user-events", "-b", &b, "--group", "g1", "--exit-at-end", "--format", "json"])
        .await
        .ok();
    assert_eq!(offsets(&replay.stdout).len(), 30);

    // --shift-by on one partition, clamped to what is stored.
    let (_, _, before) = committed_and_lag(d, &b, "g1").await;
    let p0 = before["offsets"].as_array().unwrap().iter().find(|o| o["partition"] == 0).unwrap()["committed_offset"]
        .as_i64()
        .unwrap();
    let shifted = json(
        &sluice(
            d,
            &[
                "groups",
                "reset-offsets",
                "g1",
                "-b",
                &b,
                "--topic",
                "user-events",
                "--partition",
                "0",
                "--shift-by",
                "-2",
                "--execute",
                "--format",
                "json",
            ],
        )
        .await
        .ok()
        .stdout,
    );
    assert_eq!(shifted["offsets"][0]["previous_offset"], p0);
    assert_eq!(shifted["offsets"][0]["new_offset"], (p0 - 2).max(0));
    let too_far = json(
        &sluice(
            d,
            &[
                "groups",
                "reset-offsets",
                "g1",
                "-b",
                &b,
                "--topic",
                "user-events",
                "--shift-by",
                "-1000",
                "--format",
                "json",
            ],
        )
        .await
        .ok()
        .stdout,
    );
    assert!(too_far["offsets"].as_array().unwrap().iter().all(|o| o["new_offset"] == 0));

    let missing = sluice(d, &["groups", "describe", "nope", "-b", &b]).await.failed();
    assert_eq!(missing.stderr.trim(), format!("error: group nope does not exist at {b}; see `sluice groups list`"));
    let deleted = sluice(d, &["groups", "delete", "g1", "-b", &b]).await.ok();
    assert_eq!(deleted.stdout.trim(), "deleted group g1");
    let listed = json(&sluice(d, &["groups", "list", "-b", &b, "--format", "json"]).await.ok().stdout);
    assert_eq!(listed, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_groups_show_their_members_and_refuse_a_reset() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = broker.bootstrap();
    sluice(d, &["produce", "user-events", "-b", &b, "--count", "10"]).await.ok();
    // A member that stays: no --count, no --exit-at-end. Stopped below by its PID.
    let mut member = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["consume", "user-events", "-b", &b, "--group", "live", "--from-beginning", "-X", "client.id=watcher"])
        .current_dir(d)
        .env_remove("KAFKA_SERVER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let described = loop {
        // Until the member has joined, the group does not exist yet and describe fails.
        let run = sluice(d, &["groups", "describe", "live", "-b", &b, "--format", "json"]).await;
        let v = if run.code == Some(0) { json(&run.stdout) } else { Value::Null };
        if v["state"] == "Stable" && v["members"].as_array().is_some_and(|m| m.len() == 1) {
            break v;
        }
        assert!(Instant::now() < deadline, "the member never became stable: {v} {}", run.stderr);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let m = &described["members"][0];
    assert_eq!(m["client_id"], "watcher");
    assert_eq!(m["assignment"], serde_json::json!([{"topic": "user-events", "partitions": [0, 1, 2]}]));
    assert!(described["offsets"].as_array().unwrap().iter().all(|o| o["member_id"] == m["member_id"]));

    let refused =
        sluice(d, &["groups", "reset-offsets", "live", "-b", &b, "--to-earliest", "--execute"]).await.failed();
    assert!(refused.stderr.contains("group live has 1 active members"), "{}", refused.stderr);

    let _ = Command::new("kill").args(["-INT", &member.id().to_string()]).status();
    let status = tokio::task::spawn_blocking(move || member.wait()).await.unwrap().unwrap();
    assert!(status.success(), "Ctrl-C should end consume cleanly: {status:?}");
}
