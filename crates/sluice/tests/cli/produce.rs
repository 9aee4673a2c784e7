//! The seed producers and the CSV tools, end to end.

use super::{consume_json, sluice, sluice_with, unhex};
use prost::Message as _;
use sluice_testkit::seed_messages::{MyEvent, UserEvent};
use sluice_testkit::{TestBroker, TestRegistry};
use sluice_wire::partitioner::partition_for_key;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_events_print_seed_settings_and_arrive_keyed_by_user() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let run = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--count", "60", "--seed", "4"]).await.ok();
    assert!(run.stdout.contains("user-events: 60 records produced"), "{}", run.stdout);
    assert!(run.stdout.contains("60 delivered, 0 failed"), "{}", run.stdout);
    // The seed's producer settings, printed at start.
    for (k, v) in [
        ("linger.ms", "20"),
        ("batch.size", "32768"),
        ("compression.type", "lz4"),
        ("enable.idempotence", "true"),
        ("acks", "all"),
    ] {
        assert!(
            run.stderr.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [k, v]),
            "{k} {v} missing from:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("seed       4\n"), "{}", run.stderr);

    let records = consume_json(dir.path(), &b, "user-events", &["--value-format", "hex"]).await;
    assert_eq!(records.len(), 60);
    let mut users: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for r in &records {
        assert_eq!(r["value_format"], "hex");
        let ev = UserEvent::decode(unhex(r["value"].as_str().unwrap()).as_slice()).unwrap();
        assert_eq!(r["key"].as_str(), Some(ev.user_id.as_str()));
        let p = r["partition"].as_i64().unwrap();
        assert_eq!(p as u32, partition_for_key(ev.user_id.as_bytes(), 3));
        assert!(["view", "click", "purchase", "signup", "logout"].contains(&ev.action.as_str()));
        assert!((0.0..=500.0).contains(&ev.value));
        users.entry(ev.user_id).or_default().insert(p);
    }
    assert!(users.len() >= 8, "{users:?}");
    assert!(users.values().all(|p| p.len() == 1));

    // --seed makes the run reproducible: same events again, in the same per-partition order.
    let again = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--count", "60", "--seed", "4"]).await.ok();
    assert!(again.stdout.contains("60 delivered"));
    let all = consume_json(dir.path(), &b, "user-events", &["--value-format", "hex"]).await;
    let per_partition = |rs: &[serde_json::Value]| {
        let mut m: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for r in rs {
            m.entry(r["partition"].as_i64().unwrap()).or_default().push(r["value"].as_str().unwrap().to_string());
        }
        m
    };
    let (first, both) = (per_partition(&records), per_partition(&all));
    for (p, vals) in first {
        assert_eq!(both[&p][..vals.len()], vals[..]);
        assert_eq!(both[&p][vals.len()..], vals[..], "second seeded run differs on partition {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_overrides_are_applied_and_bad_ones_named() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let run = sluice(
        dir.path(),
        &["produce", "user-events", "-b", &b, "--count", "5", "-X", "linger.ms=5", "-X", "compression.type=zstd"],
    )
    .await
    .ok();
    let line = |k: &str| run.stderr.lines().find(|l| l.trim_start().starts_with(k)).unwrap_or("").to_string();
    assert_eq!(line("linger.ms").split_whitespace().collect::<Vec<_>>(), ["linger.ms", "5", "(-X)"]);
    assert_eq!(line("compression.type").split_whitespace().collect::<Vec<_>>(), ["compression.type", "zstd", "(-X)"]);
    assert_eq!(line("batch.size").split_whitespace().collect::<Vec<_>>(), ["batch.size", "32768"]);

    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "-X", "no.such.setting=1"]).await.failed();
    assert!(bad.stderr.contains("no.such.setting") && bad.stderr.contains("-X"), "{}", bad.stderr);
    // librdkafka's own consistency checks come through with the fix.
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "-X", "acks=1"]).await.failed();
    assert!(bad.stderr.contains("`acks` must be set to `all` when `enable.idempotence` is true"), "{}", bad.stderr);
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "-X", "linger.ms"]).await.failed();
    assert_eq!(bad.stderr.trim(), "error: -X \"linger.ms\" is not KEY=VALUE; write e.g. -X linger.ms=5");
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--rate", "-3"]).await.failed();
    assert!(bad.stderr.contains("--rate -3"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_and_people_create_their_partitioned_topics() {
    let broker = TestBroker::start().await;
    let registry = TestRegistry::start(&broker.bootstrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let url = registry.url().to_string();
    let run = sluice(
        dir.path(),
        &["produce", "numbers", "-b", &b, "--count", "3", "--interval", "100ms", "--schema-registry", &url],
    )
    .await
    .ok();
    assert!(run.stderr.contains("Confluent wire format (schema id"), "{}", run.stderr);
    assert!(run.stdout.contains("3 delivered, 0 failed"), "{}", run.stdout);
    assert!(run.elapsed >= Duration::from_millis(200), "3 records 100ms apart took {:?}", run.elapsed);
    assert!(run.stderr.contains("created with 3 partitions"), "{}", run.stderr);
    let records = consume_json(dir.path(), &b, "numbers", &["--value-format", "hex"]).await;
    assert_eq!(records.len(), 3);
    for r in &records {
        let value = unhex(r["value"].as_str().unwrap());
        // Confluent's wire format: magic byte 0, the schema id, message indexes [0] as one 0.
        assert_eq!((value[0], value[5]), (0, 0), "{value:?}");
        let n = MyEvent::decode(&value[6..]).unwrap().number;
        assert!((1..=100).contains(&n));
        assert!(r["key"].is_null());
    }

    // Seed 003: 20 records by default, to a 2-partition topic (--rate 0 skips the 0.25 s pauses).
    let run = sluice(dir.path(), &["produce", "people", "-b", &b, "--rate", "0"]).await.ok();
    assert!(run.stdout.contains("a_partitioned_topic: 20 records produced"), "{}", run.stdout);
    let described =
        sluice(dir.path(), &["topics", "describe", "a_partitioned_topic", "-b", &b, "--format", "json"]).await.ok();
    let v: serde_json::Value = serde_json::from_str(&described.stdout).unwrap();
    assert_eq!(v[0]["partitions"].as_array().unwrap().len(), 2);
    let people = consume_json(dir.path(), &b, "a_partitioned_topic", &[]).await;
    assert_eq!(people.len(), 20);
    for p in &people {
        assert_eq!(p["value_format"], "json");
        let keys: Vec<&str> = p["value"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "surname", "amount", "delta_t", "flag"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_producer_interval_from_dotenv() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), format!("KAFKA_SERVER={}\nPRODUCER_INTERVAL=0.1\n", broker.bootstrap()))
        .unwrap();
    let run = sluice(dir.path(), &["produce", "views", "--count", "4"]).await.ok();
    assert!(run.stderr.contains("one every 100ms"), "{}", run.stderr);
    assert!(run.elapsed >= Duration::from_millis(300), "{:?}", run.elapsed);
    let views = consume_json(dir.path(), &broker.bootstrap(), "views", &[]).await;
    assert_eq!(views.len(), 4);
    for v in &views {
        let o = v["value"].as_object().unwrap();
        assert_eq!(
            o.keys().map(String::as_str).collect::<Vec<_>>(),
            ["view_id", "start_timestamp", "end_timestamp", "banner_id", "campaign_id"]
        );
        assert!(o["end_timestamp"].as_str() > o["start_timestamp"].as_str());
    }
}

fn cents(s: &str) -> i64 {
    (s.parse::<f64>().unwrap() * 100.0).round() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_transactions_then_replay_in_batches() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let run =
        sluice(dir.path(), &["generate", "transactions", "-o", "data/tx.csv", "--seed", "1", "--as-of", "2025-07-27"])
            .await
            .ok();
    assert!(run.stderr.contains("wrote 1200 rows × 23 columns"), "{}", run.stderr);
    let path = dir.path().join("data/tx.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "customer_id",
            "transaction_id",
            "transaction_date",
            "first_name",
            "last_name",
            "email",
            "phone",
            "age",
            "gender",
            "city",
            "state",
            "zip_code",
            "product_category",
            "quantity",
            "unit_price",
            "total_amount",
            "discount",
            "final_amount",
            "payment_method",
            "is_premium_customer",
            "customer_since",
            "loyalty_points",
            "record_id"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1200);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 23);
        let q: i64 = r[13].parse().unwrap();
        assert_eq!(cents(&r[15]), q * cents(&r[14]), "row {i}: total_amount != quantity × unit_price");
        assert_eq!(cents(&r[17]), cents(&r[15]) - cents(&r[16]), "row {i}: final_amount != total − discount");
        assert_eq!(r[22].parse::<usize>().unwrap(), i + 1);
        assert!(matches!(&r[19], "True" | "False"));
    }
    // Same seed and date, same bytes.
    sluice(dir.path(), &["generate", "transactions", "-o", "again.csv", "--seed", "1", "--as-of", "2025-07-27"])
        .await
        .ok();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(dir.path().join("again.csv")).unwrap());

    let run = sluice(
        dir.path(),
        &["produce", "csv", "data/tx.csv", "-b", &b, "--batch-size", "10", "--sleep", "50ms", "--max-records", "25"],
    )
    .await
    .ok();
    let batch_lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("batch ")).collect();
    assert_eq!(
        batch_lines,
        [
            "batch 1/3: 10 records delivered, total 10/25; next batch in 50ms",
            "batch 2/3: 10 records delivered, total 20/25; next batch in 50ms",
            "batch 3/3: 5 records delivered, total 25/25",
        ]
    );
    assert!(run.stdout.contains("customer-transactions: 25 of 25 records delivered in 3 batches, 0 failed"));
    let records = consume_json(dir.path(), &b, "customer-transactions", &[]).await;
    assert_eq!(records.len(), 25);
    let mut ids = BTreeSet::new();
    for r in &records {
        let o = r["value"].as_object().unwrap();
        assert_eq!(o.len(), 27);
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        assert_eq!(keys[..23], header.iter().map(String::as_str).collect::<Vec<_>>()[..]);
        assert_eq!(keys[23..], ["batch_number", "batch_position", "producer_timestamp", "producer_timestamp_str"]);
        let id = o["record_id"].as_i64().unwrap();
        assert!(ids.insert(id));
        assert_eq!(o["batch_number"].as_i64(), Some((id - 1) / 10 + 1));
        assert_eq!(o["batch_position"].as_i64(), Some((id - 1) % 10 + 1));
        let row = &rows[(id - 1) as usize];
        assert_eq!(o["transaction_id"].as_str(), Some(&row[1]));
        assert_eq!(o["final_amount"].as_f64(), Some(row[17].parse::<f64>().unwrap()));
        assert!(o["producer_timestamp"].as_f64().unwrap() > 1.6e9);
        assert_eq!(o["producer_timestamp_str"].as_str().unwrap().len(), 19);
    }
    assert_eq!(ids, (1..=25).collect());

    let campaigns = sluice(dir.path(), &["generate", "campaigns", "-o", "-", "--seed", "2"]).await.ok();
    let lines: Vec<&str> = campaigns.stdout.lines().collect();
    assert_eq!(lines[0], "campaign_id,network_id,name,advertiser,channel,daily_budget");
    assert_eq!(lines.len(), 15);
    assert!(lines[1].starts_with("10,") && lines[14].starts_with("140,"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_records_fail_the_run() {
    let config = sluice_broker::BrokerConfig { auto_create_topics: false, ..Default::default() };
    let broker = TestBroker::start_with(config).await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let run = sluice_with(
        dir.path(),
        &["produce", "lines", "missing-topic", "-b", &b, "-X", "message.timeout.ms=300"],
        &[],
        Some(b"one\ntwo\n"),
    )
    .await
    .failed();
    assert!(run.stdout.contains("0 delivered, 2 failed"), "{}", run.stdout);
    let last = run.stderr.lines().last().unwrap();
    assert!(last.starts_with("error: 2 of 2 records were not delivered to missing-topic"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_deliveries_and_a_second_one_drops_them() {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let log = dir.path().join("produce.log");
    let mut child = super::Running(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["produce", "user-events", "-b", &b, "--count", "0", "--rate", "200"])
            .current_dir(dir.path())
            .env_remove("KAFKA_SERVER")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id().to_string();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The broker goes away: what is produced from now on cannot be delivered.
    broker.shutdown().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // The first stop says what it waits for, and waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("stopping: waiting for the records in flight to be delivered (Ctrl-C again to drop them)") {
            break;
        }
        assert!(Instant::now() < deadline, "no stopping message:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(child.0.try_wait().unwrap().is_none(), "exited without waiting for the records in flight");
    // The second drops them: the run ends at once, failed, naming what was lost.
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running 10 s after the second stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("were not delivered to user-events"), "{text}");
}
