//! The job runtime end to end, in process: a real broker on 127.0.0.1:0, records produced with
//! librdkafka, `Job::run` consuming, sinks on temporary directories, Kafka results read back
//! with a `read_committed` consumer. Expected results are computed here from the records
//! produced, by plain arithmetic.

use crate::common::published;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice_broker::BrokerConfig;
use sluice_connect::job::{EndOfInput, Job, JobConfig, JobSummary};
use sluice_connect::sink::storage::S3Options;
use sluice_stream::jobfile;
use sluice_testkit::{TestBroker, TestRegistry};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;
/// 2026-11-23 10:00:00 UTC.
const T0: i64 = 1_795_428_000_000;

async fn broker() -> TestBroker {
    let mut config = BrokerConfig { num_partitions: PARTITIONS, ..BrokerConfig::default() };
    // One member per group here: no need to wait for others before the first rebalance.
    config.coordinator.limits.initial_rebalance_delay_ms = 0;
    TestBroker::start_with(config).await
}

/// One input record: key, value, event time; partition and Kafka timestamp follow from it.
#[derive(Debug, Clone, Copy)]
struct Ev {
    key: &'static str,
    v: i64,
    t: i64,
}

const KEYS: [&str; 4] = ["a", "b", "c", "d"];

/// Records with event times increasing per partition, `n` of them from index `from`.
fn events(from: usize, n: usize) -> Vec<(i32, Ev)> {
    (from..from + n)
        .map(|i| {
            let p = (i % PARTITIONS as usize) as i32;
            (p, Ev { key: KEYS[i * 7 % 4], v: (i % 13) as i64, t: T0 + (i as i64) * 250 })
        })
        .collect()
}

/// A record to produce: partition, key, value, Kafka timestamp (0: now).
type RawRecord = (i32, Option<Vec<u8>>, Vec<u8>, i64);

fn produce_raw(bootstrap: &str, topic: &str, records: &[RawRecord]) {
    let producer: ThreadedProducer<_> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("linger.ms", "5").create().expect("producer");
    for (p, key, value, ts) in records {
        let mut r = BaseRecord::to(topic).partition(*p).payload(value);
        // Event times live in the values; Kafka timestamps stay "now" unless given (a broker
        // refuses timestamps far in the future).
        if *ts > 0 {
            r = r.timestamp(*ts);
        }
        if let Some(k) = key {
            r = r.key(k);
        }
        producer.send(r).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(20)).expect("flush");
    // Delivery failures do not fail a flush: count what arrived instead.
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("consumer");
    let mut total = 0;
    for p in 0..PARTITIONS {
        let (lo, hi) = c.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks");
        total += hi - lo;
    }
    assert!(total >= records.len() as i64, "only {total} of {} records arrived", records.len());
}

async fn produce_events(bootstrap: &str, topic: &str, evs: &[(i32, Ev)]) {
    let records: Vec<_> = evs
        .iter()
        .map(|(p, e)| {
            let json = format!(r#"{{"k":"{}","v":{},"t":{}}}"#, e.key, e.v, e.t);
            (*p, Some(e.key.as_bytes().to_vec()), json.into_bytes(), 0)
        })
        .collect();
    let (b, t) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || produce_raw(&b, &t, &records)).await.unwrap();
}

/// Creates the topic with every partition (producing one record per partition would too, but
/// would add records).
async fn create_topic(bootstrap: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let t = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let r = admin.create_topics([&t], &AdminOptions::new()).await.unwrap();
    assert!(r.iter().all(|x| x.is_ok()), "{r:?}");
}

/// A windowed count per key into JSON files, plus `extra` sink tables.
fn windowed_job(name: &str, topic: &str, out: &Path, extra: &str) -> String {
    windowed_job_of("k string, v bigint, t timestamp", name, topic, out, extra)
}

/// [`windowed_job`] over records of `schema` (which has `k`, `v` and `t`).
fn windowed_job_of(schema: &str, name: &str, topic: &str, out: &Path, extra: &str) -> String {
    format!(
        r#"
name = "{name}"
[source]
topic = "{topic}"
format = {{ kind = "json", schema = "{schema}" }}
event_time = "t"
watermark = "2 seconds"

[[query]]
name = "per_key"
output_mode = "append"
[[query.step]]
window = {{ type = "tumbling", size = "10 seconds" }}
group_by = ["k"]
aggregates = ["count(*) AS n", "sum(v) AS total"]
[[query.sink]]
kind = "json"
path = "{out}"
{extra}

[checkpoint]
interval = "300 ms"
location = "{cp}"
"#,
        out = out.join("per_key").display(),
        cp = out.join("checkpoints").display(),
    )
}

fn config(text: &str, bootstrap: &str, end: EndOfInput) -> JobConfig {
    let plan = jobfile::parse(text, "test-job.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut c = JobConfig::new(plan, "test-job.toml", bootstrap);
    c.end = end;
    c.s3 = S3Options::default();
    c.broker_wait = Duration::from_secs(10);
    c
}

async fn run_job(config: JobConfig) -> JobSummary {
    let job = Job::new(config);
    tokio::time::timeout(Duration::from_secs(60), job.run(std::future::pending()))
        .await
        .expect("the job ends within 60 s")
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Expected rows of `per_key`: (window start, key) → (count, sum), for the windows whose end is
/// at most `closed_before` (all of them when `None`).
fn expected(evs: &[(i32, Ev)], closed_before: Option<i64>) -> BTreeMap<(i64, String), (i64, i64)> {
    let mut m: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
    for (_, e) in evs {
        let start = e.t - (e.t - T0).rem_euclid(10_000);
        if closed_before.is_some_and(|c| start + 10_000 > c) {
            continue;
        }
        let x = m.entry((start, e.key.to_string())).or_default();
        x.0 += 1;
        x.1 += e.v;
    }
    m
}

/// The rows of the published JSON files under `dir`: (window start, key) → (count, sum).
fn json_rows(dir: &Path) -> Vec<((i64, String), (i64, i64))> {
    let mut rows = Vec::new();
    for f in published(dir) {
        if !f.ends_with(".jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(dir.join(&f)).unwrap().lines() {
            rows.push(parse_row(line));
        }
    }
    rows.sort();
    rows
}

fn parse_row(line: &str) -> ((i64, String), (i64, i64)) {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let start = v["window_start"].as_str().unwrap_or_else(|| panic!("{line}"));
    let ms = sluice_formats::time::parse_ms(start).unwrap_or_else(|| panic!("{start}"));
    ((ms, v["k"].as_str().unwrap().to_string()), (v["n"].as_i64().unwrap(), v["total"].as_i64().unwrap()))
}

/// Every record of `topic` a `read_committed` consumer sees, values only, sorted.
async fn read_committed(bootstrap: &str, topic: &str) -> Vec<String> {
    let (b, t) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .set("group.id", "runtime-test-reader")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let md = c.fetch_metadata(Some(&t), Duration::from_secs(10)).unwrap();
        let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
        assert!(!parts.is_empty(), "topic {t} has no partitions");
        let mut tpl = TopicPartitionList::new();
        for p in &parts {
            tpl.add_partition_offset(&t, *p, Offset::Beginning).unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut eof = BTreeSet::new();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while eof.len() < parts.len() {
            assert!(Instant::now() < deadline, "timed out reading {t}");
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap()),
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    eof.insert(p);
                }
                Some(Err(e)) => panic!("{e}"),
                None => {}
            }
        }
        out.sort();
        out
    })
    .await
    .unwrap()
}

/// The group's committed offsets.
async fn committed(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let (b, g, t) = (bootstrap.to_string(), group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &b).set("group.id", &g).create().unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(&t, p);
        }
        let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
        got.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    })
    .await
    .unwrap()
}

fn end_offsets(evs: &[(i32, Ev)]) -> BTreeMap<i32, i64> {
    let mut m = BTreeMap::new();
    for (p, _) in evs {
        *m.entry(*p).or_insert(0) += 1;
    }
    m
}

/// A bounded run of `topic` gives every window once and commits the end offsets; `spawned`:
/// the job runs as a task on a runtime worker (as the demo's jobs do) rather than in the
/// test's own `block_on`.
async fn bounded_run(topic: &str, spawned: bool) {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let evs = events(0, 600);
    produce_events(&b.bootstrap(), topic, &evs).await;
    let text = windowed_job(topic, topic, dir.path(), "");
    let cfg = config(&text, &b.bootstrap(), EndOfInput::Finish);
    let summary = if spawned { tokio::spawn(run_job(cfg)).await.unwrap() } else { run_job(cfg).await };
    assert_eq!(summary.records_in, 600);
    let want: Vec<_> = expected(&evs, None).into_iter().collect();
    assert_eq!(json_rows(&dir.path().join("per_key")), want);
    // Without a Kafka sink the offsets are committed to the group after each checkpoint.
    assert_eq!(committed(&b.bootstrap(), &format!("sluice-{topic}"), topic).await, end_offsets(&evs));
}

// The engine runs each batch inline here (`sluice run`'s way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_run_writes_every_window_once() {
    bounded_run("bounded", false).await;
}

// On a worker the engine runs each batch through `block_in_place`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_run_on_a_runtime_worker_writes_every_window_once() {
    bounded_run("bounded-worker", true).await;
}

// A current-thread runtime cannot run `block_in_place`: the engine goes to the blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn a_bounded_run_on_a_current_thread_runtime_writes_every_window_once() {
    bounded_run("bounded-current", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_checkpoint_without_double_counting() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let text = windowed_job("resume", "resume", dir.path(), "");
    let first = events(0, 400);
    produce_events(&b.bootstrap(), "resume", &first).await;
    let s1 = run_job(config(&text, &b.bootstrap(), EndOfInput::AvailableNow)).await;
    assert_eq!((s1.resumed_from, s1.records_in), (None, 400));
    // The first run emitted the windows its watermark closed, no more: watermark = the minimum
    // over partitions of (largest event time - 2 s).
    let wm = (0..PARTITIONS)
        .map(|p| first.iter().filter(|(q, _)| *q == p).map(|(_, e)| e.t).max().unwrap())
        .min()
        .map(|t| t - 2_000);
    let after_first: Vec<_> = expected(&first, wm).into_iter().collect();
    assert_eq!(json_rows(&dir.path().join("per_key")), after_first);

    let second = events(400, 500);
    produce_events(&b.bootstrap(), "resume", &second).await;
    let s2 = run_job(config(&text, &b.bootstrap(), EndOfInput::Finish)).await;
    assert_eq!(s2.resumed_from, s1.last_epoch);
    assert_eq!(s2.records_in, 900, "the second run read only the new records (the count is kept in checkpoints)");
    let all: Vec<_> = first.iter().chain(&second).copied().collect();
    let want: Vec<_> = expected(&all, None).into_iter().collect();
    assert_eq!(json_rows(&dir.path().join("per_key")), want, "each window once, counted once");
    assert_eq!(committed(&b.bootstrap(), "sluice-resume", "resume").await, end_offsets(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_sinks_write_each_epoch_in_one_transaction() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[[query.sink]]
kind = "kafka"
topic = "per-key-results"
key = "k"
"#;
    let text = windowed_job("txn", "txn-in", dir.path(), extra);
    create_topic(&b.bootstrap(), "per-key-results").await;
    let first = events(0, 300);
    produce_events(&b.bootstrap(), "txn-in", &first).await;
    run_job(config(&text, &b.bootstrap(), EndOfInput::AvailableNow)).await;
    let second = events(300, 300);
    produce_events(&b.bootstrap(), "txn-in", &second).await;
    run_job(config(&text, &b.bootstrap(), EndOfInput::Finish)).await;

    let all: Vec<_> = first.iter().chain(&second).copied().collect();
    let want = expected(&all, None);
    let mut from_kafka: Vec<_> =
        read_committed(&b.bootstrap(), "per-key-results").await.iter().map(|l| parse_row(l)).collect();
    from_kafka.sort();
    assert_eq!(from_kafka, want.clone().into_iter().collect::<Vec<_>>());
    assert_eq!(json_rows(&dir.path().join("per_key")), want.into_iter().collect::<Vec<_>>());
    // The transactions carried the offsets to the group.
    assert_eq!(committed(&b.bootstrap(), "sluice-txn", "txn-in").await, end_offsets(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_records_become_dead_letters() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        r#"
[dead_letter]
kind = "file"
path = "{}"
"#,
        dir.path().join("dead").display()
    );
    let text = windowed_job("dead", "dead-in", dir.path(), &extra);
    let evs = events(0, 60);
    produce_events(&b.bootstrap(), "dead-in", &evs).await;
    let bad: Vec<RawRecord> = vec![
        (0, None, b"{not json".to_vec(), 0),
        (1, None, br#"{"k":"a","v":"seven","t":1}"#.to_vec(), 0),
        (2, None, vec![0xff, 0x00], 0),
    ];
    let bs = b.bootstrap();
    tokio::task::spawn_blocking(move || produce_raw(&bs, "dead-in", &bad)).await.unwrap();
    let summary = run_job(config(&text, &b.bootstrap(), EndOfInput::Finish)).await;
    assert_eq!((summary.records_in, summary.dead_letters), (63, 3));
    let mut letters = Vec::new();
    for f in published(&dir.path().join("dead")) {
        for line in std::fs::read_to_string(dir.path().join("dead").join(f)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["reason_kind"], "decode", "{line}");
            letters.push((v["partition"].as_i64().unwrap(), v["offset"].as_i64().unwrap()));
        }
    }
    letters.sort();
    assert_eq!(letters, vec![(0, 20), (1, 20), (2, 20)]);
    let want: Vec<_> = expected(&evs, None).into_iter().collect();
    assert_eq!(json_rows(&dir.path().join("per_key")), want);
}

/// The decoder leaves out columns the job does not read (`note`, `extra` here), but checks
/// their values as before, and a dead letter's row has them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_nothing_reads_are_still_checked_and_kept_in_dead_letters() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("\n[dead_letter]\nkind = \"file\"\npath = \"{}\"\n", dir.path().join("dead").display());
    let schema = "k string, v bigint, t timestamp, note string, extra bigint";
    let text = windowed_job_of(schema, "unread", "unread-in", dir.path(), &extra);
    let evs = events(0, 60);
    let records: Vec<RawRecord> = evs
        .iter()
        .enumerate()
        .map(|(i, (p, e))| {
            let json = format!(r#"{{"k":"{}","v":{},"t":{},"note":"note {i}","extra":{i}}}"#, e.key, e.v, e.t);
            (*p, None, json.into_bytes(), 0)
        })
        .collect();
    let bs = b.bootstrap();
    tokio::task::spawn_blocking(move || produce_raw(&bs, "unread-in", &records)).await.unwrap();
    // The first run's watermark (restored by the second) makes the first window closed.
    run_job(config(&text, &b.bootstrap(), EndOfInput::AvailableNow)).await;
    let more: Vec<RawRecord> = vec![
        (0, None, format!(r#"{{"k":"a","v":5,"t":{},"note":"late one","extra":99}}"#, T0 + 1_000).into_bytes(), 0),
        (1, None, br#"{"k":"b","v":1,"note":"no time","extra":7}"#.to_vec(), 0),
        (2, None, format!(r#"{{"k":"c","v":1,"t":{},"note":"bad","extra":"seven"}}"#, T0 + 14_000).into_bytes(), 0),
    ];
    let bs = b.bootstrap();
    tokio::task::spawn_blocking(move || produce_raw(&bs, "unread-in", &more)).await.unwrap();
    let summary = run_job(config(&text, &b.bootstrap(), EndOfInput::Finish)).await;
    assert_eq!(summary.dead_letters, 3);
    let mut letters = BTreeMap::new();
    for f in published(&dir.path().join("dead")) {
        for line in std::fs::read_to_string(dir.path().join("dead").join(f)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            letters.insert(v["reason_kind"].as_str().unwrap().to_string(), v);
        }
    }
    let row = |kind: &str| letters.get(kind).map(|v| v["row"].clone()).unwrap_or_else(|| panic!("no {kind} letter"));
    let late = row("late");
    assert_eq!(
        (&late["k"], &late["v"], &late["note"], &late["extra"]),
        (&"a".into(), &5.into(), &"late one".into(), &99.into())
    );
    let untimed = row("missing_event_time");
    assert_eq!((&untimed["note"], &untimed["extra"]), (&"no time".into(), &7.into()));
    assert!(untimed["t"].is_null());
    // A value of a column nothing reads that does not fit it is refused as before.
    let bad = &letters["decode"];
    assert!(bad["reason"].as_str().unwrap().contains("extra"), "{bad}");
    assert!(bad["value_base64"].is_string());
    let want: Vec<_> = expected(&evs, None).into_iter().collect();
    assert_eq!(json_rows(&dir.path().join("per_key")), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_framed_protobuf_is_decoded_with_the_registered_schema() {
    use sluice_formats::protobuf::{ProtoSchema, RowEncoder};
    use sluice_formats::{Row, Value};
    let b = broker().await;
    let registry = TestRegistry::start(&b.bootstrap()).await;
    let proto = ProtoSchema::compile_source(
        "num.proto",
        "syntax = \"proto3\"; package numbers; message MyEvent { int32 number = 1; }",
    )
    .unwrap();
    let client = sluice_registry::client::RegistryClient::new(registry.url());
    let id = client.register_proto_file("numbers-in-value", &proto, "num.proto").await.unwrap();
    let encoder = RowEncoder::new(&proto.message("numbers.MyEvent").unwrap()).unwrap();
    let mut records = Vec::new();
    for n in 1..=30i64 {
        let mut value = Vec::new();
        sluice_wire::confluent::encode_protobuf_prefix(id, &[0], &mut value);
        encoder.encode(&Row::new(vec![Value::Int(n)]), &mut value).unwrap();
        records.push(((n % 3) as i32, None, value, 0));
    }
    records.push((0, None, vec![0, 0, 0, 0, 99, 0, 8, 1], 0)); // an unknown schema id
    let bs = b.bootstrap();
    tokio::task::spawn_blocking(move || produce_raw(&bs, "numbers-in", &records)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
name = "numbers"
[source]
topic = "numbers-in"
format = {{ kind = "registry" }}
[[query]]
name = "square"
[[query.step]]
select = ["number", "number * number AS square", "is_prime(number) AS is_prime"]
[[query.sink]]
kind = "json"
path = "{}"
[checkpoint]
location = "{}"
"#,
        dir.path().join("out").display(),
        dir.path().join("cp").display()
    );
    let mut c = config(&text, &b.bootstrap(), EndOfInput::Finish);
    c.registry_url = Some(registry.url().to_string());
    let summary = run_job(c).await;
    assert_eq!(summary.dead_letters, 1, "the value of an unknown schema id is a dead letter");
    let mut got = Vec::new();
    for f in published(&dir.path().join("out")) {
        for line in std::fs::read_to_string(dir.path().join("out").join(f)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            got.push((v["number"].as_i64().unwrap(), v["square"].as_i64().unwrap(), v["is_prime"].as_bool().unwrap()));
        }
    }
    got.sort();
    let primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29];
    let want: Vec<_> = (1..=30i64).map(|n| (n, n * n, primes.contains(&n))).collect();
    assert_eq!(got, want);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_are_named_before_anything_runs() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let text =
        windowed_job("oops", "oops", dir.path(), "[[query.sink]]\nkind = \"kafka\"\ntopic = \"x\"\nkey = \"nope\"");
    let job = Job::new(config(&text, &b.bootstrap(), EndOfInput::Finish));
    let e = job.run(std::future::pending()).await.unwrap_err().to_string();
    assert!(e.contains("test-job.toml") && e.contains("`nope`") && e.contains("window_start"), "{e}");

    let unreachable = config(&windowed_job("x", "x", dir.path(), ""), "127.0.0.1:9", EndOfInput::Finish);
    let e = Job::new(unreachable).run(std::future::pending()).await.unwrap_err().to_string();
    assert!(e.contains("127.0.0.1:9") && e.contains("--bootstrap-servers"), "{e}");
}
