use prost::Message as _;
use sluice_connect::encode::Encoder;
use sluice_connect::encode::json::JsonEncoder;
use sluice_connect::encode::protobuf::ProtoEncoder;
use sluice_connect::kafka::{ClientSettings, KafkaSink};
use sluice_connect::pipeline::{Interrupt, Pace, ReplayPlan, replay_csv, run_generator};
use sluice_connect::source::csv_replay::read_csv;
use sluice_connect::source::generator::transactions::{TransactionsSpec, generate, schema as tx_schema};
use sluice_connect::source::generator::{Generator, Numbers, People, UserEvents, Views};
use sluice_formats::protobuf::ProtoSchema;
use sluice_formats::seeds;
use sluice_testkit::seed_messages::{MyEvent, UserEvent};
use sluice_testkit::{ConsumedRecord, TestBroker, read_topic};
use sluice_wire::partitioner::partition_for_key;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The seed's UserEvent encoder, from the embedded descriptor set.
fn user_event_encoder() -> ProtoEncoder {
    let s = ProtoSchema::from_descriptor_set(seeds::USER_EVENT_DESC, "user_event.desc").unwrap();
    ProtoEncoder::new(&UserEvents::schema(), &s.message(seeds::USER_EVENT).unwrap(), "test").unwrap()
}

/// The seed's MyEvent encoder, from the embedded .proto.
fn my_event_encoder() -> ProtoEncoder {
    let s = ProtoSchema::compile_source("my_event.proto", seeds::MY_EVENT_PROTO).unwrap();
    ProtoEncoder::new(&Numbers::schema(), &s.message(seeds::MY_EVENT).unwrap(), "test").unwrap()
}

const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a generator to `topic` on a blocking thread; returns (produced, delivered, failed).
async fn produce(
    bootstrap: String,
    topic: &str,
    mut generator: Box<dyn Generator>,
    mut encoder: Box<dyn Encoder>,
    pace: Pace,
) -> (u64, u64, u64) {
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let sink = KafkaSink::new(&ClientSettings::producer(&bootstrap), &topic).unwrap();
        sink.check_broker(Duration::from_secs(10), true).unwrap();
        let stop = Interrupt::new();
        let out =
            run_generator(&mut *generator, &mut *encoder, &sink, pace, &stop, &mut || sluice_connect::civil::now_ms())
                .unwrap();
        assert!(out.flushed && !out.interrupted);
        (out.produced, sink.stats().delivered(), sink.stats().failed())
    })
    .await
    .unwrap()
}

async fn read(bootstrap: String, topic: &str) -> Vec<ConsumedRecord> {
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, READ_TIMEOUT)).await.unwrap()
}

fn count(n: u64) -> Pace {
    Pace { count: Some(n), ..Pace::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_events_are_protobuf_keyed_by_user_on_murmur2_partitions() {
    let broker = TestBroker::start().await;
    let g = UserEvents::new(7);
    let enc = user_event_encoder();
    let (produced, delivered, failed) =
        produce(broker.bootstrap(), "user-events", Box::new(g), Box::new(enc), count(300)).await;
    assert_eq!((produced, delivered, failed), (300, 300, 0));

    let records = read(broker.bootstrap(), "user-events").await;
    assert_eq!(records.len(), 300);
    let mut partition_of_user: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut actions = BTreeSet::new();
    for r in &records {
        let ev = UserEvent::decode(r.value.as_deref().unwrap()).expect("value decodes as UserEvent");
        assert_eq!(r.key.as_deref(), Some(ev.user_id.as_bytes()), "key must be the userId");
        // The broker auto-creates topics with 3 partitions; Java's murmur2 picks the partition.
        assert_eq!(r.partition as u32, partition_for_key(ev.user_id.as_bytes(), 3), "user {}", ev.user_id);
        assert!(ev.user_id.starts_with("user") && ev.user_id.len() == 5);
        assert!((0.0..=500.0).contains(&ev.value));
        partition_of_user.entry(ev.user_id).or_default().insert(r.partition);
        actions.insert(ev.action);
    }
    assert_eq!(partition_of_user.len(), 10, "all 10 users appear in 300 events");
    assert!(partition_of_user.values().all(|ps| ps.len() == 1));
    assert_eq!(actions, ["click", "logout", "purchase", "signup", "view"].map(String::from).into());

    // Same seed, same events: the decoded sequence per partition is reproducible.
    let mut again = UserEvents::new(7);
    let mut enc = user_event_encoder();
    let mut expected: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    let mut row = Default::default();
    for _ in 0..300 {
        again.next_row(0, &mut row);
        let mut v = Vec::new();
        enc.encode(&row, &mut v).unwrap();
        let key = row.get(0).as_str().unwrap().as_bytes().to_vec();
        expected.entry(partition_for_key(&key, 3) as i32).or_default().push(v);
    }
    let mut got: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    for r in records {
        got.entry(r.partition).or_default().push(r.value.unwrap());
    }
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_are_my_event_protobuf_paced_by_rate() {
    let broker = TestBroker::start().await;
    let enc = my_event_encoder();
    let started = Instant::now();
    let pace = Pace { count: Some(4), rate: Some(20.0), ..Pace::default() };
    let (produced, delivered, _) =
        produce(broker.bootstrap(), "numbers", Box::new(Numbers::new(1)), Box::new(enc), pace).await;
    // Four records at 20/s: due at 0, 50, 100, 150 ms.
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    assert_eq!((produced, delivered), (4, 4));
    let records = read(broker.bootstrap(), "numbers").await;
    assert_eq!(records.len(), 4);
    let now = sluice_connect::civil::now_ms();
    for r in records {
        assert_eq!(r.key, None);
        let ev = MyEvent::decode(r.value.as_deref().unwrap()).unwrap();
        assert!((1..=100).contains(&ev.number), "{}", ev.number);
        // created_at: the time the number was drawn, whole milliseconds.
        let t = ev.created_at.expect("created_at is set");
        let ms = t.seconds * 1000 + i64::from(t.nanos / 1_000_000);
        assert_eq!(t.nanos % 1_000_000, 0);
        assert!((now - 60_000..=now).contains(&ms), "created_at {ms} is not within the last minute of {now}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_counted_when_only_errors_are_reported() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let (produced, delivered, failed) = tokio::task::spawn_blocking(move || {
        let mut settings = ClientSettings::producer(&bootstrap);
        settings.set("delivery.report.only.error", "true");
        let sink = KafkaSink::new(&settings, "only-errors").unwrap();
        sink.check_broker(Duration::from_secs(10), true).unwrap();
        let out = run_generator(
            &mut UserEvents::new(3),
            &mut user_event_encoder(),
            &sink,
            count(500),
            &Interrupt::new(),
            &mut || 0,
        )
        .unwrap();
        (out.produced, sink.stats().delivered(), sink.stats().failed())
    })
    .await
    .unwrap();
    assert_eq!((produced, delivered, failed), (500, 500, 0));
    assert_eq!(read(broker.bootstrap(), "only-errors").await.len(), 500);
}

/// librdkafka's queue holds 16 records here, so almost every `send` finds it full and has to
/// serve delivery reports (and pause) until there is room; nothing may be lost or reordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_local_queue_makes_send_wait_not_drop() {
    const N: usize = 5_000;
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let (delivered, failed, in_flight) = tokio::task::spawn_blocking(move || {
        let mut settings = ClientSettings::producer(&bootstrap);
        settings.set("queue.buffering.max.messages", "16");
        settings.set("linger.ms", "1");
        let sink = KafkaSink::new(&settings, "queue-full").unwrap();
        sink.check_broker(Duration::from_secs(10), true).unwrap();
        for i in 0..N {
            sink.send_to(Some(0), None, format!("{i}").as_bytes(), i).unwrap();
        }
        assert!(sink.flush(&|| false));
        (sink.stats().delivered(), sink.stats().failed(), sink.in_flight())
    })
    .await
    .unwrap();
    assert_eq!((delivered, failed, in_flight), (N as u64, 0, 0));
    let values: Vec<String> = read(broker.bootstrap(), "queue-full")
        .await
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    assert_eq!(values, (0..N).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_seed_003_json_spread_over_partitions() {
    let broker = TestBroker::start().await;
    let enc = JsonEncoder::new(People::schema());
    let (produced, delivered, failed) =
        produce(broker.bootstrap(), "a_partitioned_topic", Box::new(People::new(3)), Box::new(enc), count(400)).await;
    assert_eq!((produced, delivered, failed), (400, 400, 0));
    let records = read(broker.bootstrap(), "a_partitioned_topic").await;
    assert_eq!(records.len(), 400);
    let mut partitions = BTreeSet::new();
    let mut flags = 0;
    for r in &records {
        partitions.insert(r.partition);
        let v: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        let o = v.as_object().unwrap();
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5);
        for k in ["name", "surname", "amount", "delta_t", "flag"] {
            assert!(o.contains_key(k), "missing {k} in {v}");
        }
        assert!(["John", "Andy", "Joe", "Alice"].contains(&o["name"].as_str().unwrap()));
        assert!(["Johnson", "Smith", "Jones", "Millers"].contains(&o["surname"].as_str().unwrap()));
        let amount = o["amount"].as_f64().unwrap();
        assert!((0.0..=1000.0).contains(&amount));
        assert!((0.0..=10.0).contains(&o["delta_t"].as_f64().unwrap()));
        let flag = o["flag"].as_i64().unwrap();
        assert!(flag == 0 || flag == 1);
        flags += flag;
    }
    // Unkeyed records: librdkafka's sticky partitioner keeps a burst on one partition, so only
    // the partitions' existence is checked, not the spread.
    assert!(partitions.iter().all(|p| (0..3).contains(p)), "{partitions:?}");
    // 400 draws with p = 0.2: mean 80, sd 8.
    assert!((40..=120).contains(&flags), "{flags} records with flag 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_seed_004_json() {
    let broker = TestBroker::start().await;
    let enc = JsonEncoder::new(Views::schema());
    let (produced, delivered, _) =
        produce(broker.bootstrap(), "views", Box::new(Views::new(4)), Box::new(enc), count(20)).await;
    assert_eq!((produced, delivered), (20, 20));
    let records = read(broker.bootstrap(), "views").await;
    let mut ids = BTreeSet::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        assert!(ids.insert(v["view_id"].as_str().unwrap().to_string()));
        let start = v["start_timestamp"].as_str().unwrap();
        let end = v["end_timestamp"].as_str().unwrap();
        assert_eq!(start.len(), 19);
        assert!(end > start);
        assert_eq!(v["campaign_id"].as_i64().unwrap() % 10, 0);
        assert!((1..=100_000).contains(&v["banner_id"].as_i64().unwrap()));
    }
    assert_eq!(ids.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_replay_batches_and_metadata_are_exact() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tx.csv");
    let rows = generate(&TransactionsSpec { rows: 25, seed: 2, as_of_days: 20_000 });
    sluice_connect::encode::csv::write_csv(&tx_schema(), &rows, std::fs::File::create(&path).unwrap()).unwrap();

    let bootstrap = broker.bootstrap();
    let p = path.clone();
    let (outcome, reports, elapsed) = tokio::task::spawn_blocking(move || {
        let table = read_csv(&p, Some(23)).unwrap();
        let sink = KafkaSink::new(&ClientSettings::producer(&bootstrap), "customer-transactions").unwrap();
        sink.check_broker(Duration::from_secs(10), true).unwrap();
        let plan = ReplayPlan {
            batch_size: 10,
            sleep: Duration::from_millis(100),
            retries: 2,
            retry_backoff: Duration::from_millis(10),
            key_column: table.schema.index_of("customer_id"),
        };
        let mut reports = Vec::new();
        let started = Instant::now();
        let outcome =
            replay_csv(&table, &sink, &plan, &Interrupt::new(), &mut sluice_connect::civil::now_ms, &mut |r| {
                reports.push(r.clone())
            })
            .unwrap();
        (outcome, reports, started.elapsed())
    })
    .await
    .unwrap();
    assert_eq!((outcome.delivered, outcome.failed, outcome.batches), (23, 0, 3));
    assert_eq!(reports.iter().map(|r| r.records).collect::<Vec<_>>(), [10, 10, 3]);
    assert_eq!(reports.iter().map(|r| r.total_delivered).collect::<Vec<_>>(), [10, 20, 23]);
    assert_eq!(reports[2].next_in, None);
    assert_eq!(reports[0].next_in, Some(Duration::from_millis(100)));
    // Two pauses between three batches, none after the last.
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");

    let records = read(broker.bootstrap(), "customer-transactions").await;
    assert_eq!(records.len(), 23);
    let mut seen = BTreeSet::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), 23 + 4);
        let record_id = o["record_id"].as_i64().unwrap();
        let (batch, pos) = (o["batch_number"].as_i64().unwrap(), o["batch_position"].as_i64().unwrap());
        // record_id is 1..=23 in file order: batch and position follow from it.
        assert_eq!((batch, pos), ((record_id - 1) / 10 + 1, (record_id - 1) % 10 + 1));
        assert!(seen.insert(record_id));
        assert_eq!(r.key.as_deref(), Some(o["customer_id"].as_str().unwrap().as_bytes()));
        let ts = o["producer_timestamp"].as_f64().unwrap();
        let ts_ms = (ts * 1000.0).round() as i64;
        assert_eq!(o["producer_timestamp_str"].as_str().unwrap(), sluice_connect::civil::format_datetime(ts_ms, ' '));
        // The CSV's values come back typed as pandas would: numbers as numbers.
        let expected = &rows[(record_id - 1) as usize];
        assert_eq!(o["transaction_id"].as_str(), expected.get(1).as_str());
        assert_eq!(o["final_amount"].as_f64(), expected.get(17).as_f64());
        assert_eq!(o["quantity"].as_i64(), expected.get(13).as_i64());
        assert_eq!(
            o["is_premium_customer"].as_bool(),
            Some(matches!(expected.get(19), sluice_formats::Value::Bool(true)))
        );
    }
    assert_eq!(seen.len(), 23);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_counted_retried_and_reported() {
    // No auto-creation: records to an unknown topic fail after message.timeout.ms.
    let config = sluice_broker::BrokerConfig { auto_create_topics: false, ..Default::default() };
    let broker = TestBroker::start_with(config).await;
    let bootstrap = broker.bootstrap();
    let (outcome, reports, failed_total, first_error) = tokio::task::spawn_blocking(move || {
        let mut settings = ClientSettings::producer(&bootstrap);
        settings.set("message.timeout.ms", "300");
        let sink = KafkaSink::new(&settings, "no-such-topic").unwrap();
        sink.check_broker(Duration::from_secs(10), true).unwrap();
        let table = sluice_connect::source::csv_replay::read_csv_from(
            "a,b\n1,x\n2,y\n3,z\n".as_bytes(),
            std::path::Path::new("t.csv"),
            None,
        )
        .unwrap();
        let plan = ReplayPlan {
            batch_size: 2,
            sleep: Duration::from_millis(1),
            retries: 1,
            retry_backoff: Duration::from_millis(1),
            key_column: None,
        };
        let mut reports = Vec::new();
        let outcome =
            replay_csv(&table, &sink, &plan, &Interrupt::new(), &mut || 0, &mut |r| reports.push(r.clone())).unwrap();
        (outcome, reports, sink.stats().failed(), sink.stats().first_error())
    })
    .await
    .unwrap();
    assert_eq!((outcome.delivered, outcome.failed), (0, 3));
    assert_eq!(
        reports.iter().map(|r| (r.records, r.failed, r.retries_used)).collect::<Vec<_>>(),
        [(2, 2, 1), (1, 1, 1)]
    );
    // Every attempt's failure is counted by the sink: 3 records × 2 attempts.
    assert_eq!(failed_total, 6);
    let e = first_error.unwrap();
    assert!(e.contains("no-such-topic"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_is_one_clear_error_quickly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let err = tokio::task::spawn_blocking(move || {
        let sink = KafkaSink::new(&ClientSettings::producer(&address), "t").unwrap();
        sink.check_broker(Duration::from_secs(10), false).unwrap_err().to_string()
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(
        err,
        format!(
            "no broker answered at 127.0.0.1:{port} (Connection refused); start one with `sluice broker` or pass \
             --bootstrap-servers HOST:PORT, or wait for it with --wait-for-broker 30s"
        )
    );
}
