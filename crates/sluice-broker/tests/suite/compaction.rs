//! Log compaction through the real broker: keyed records produced to a compacted topic with small
//! segments, a cleaning pass, then a fetch that sees only the latest value of each key; the same
//! after a restart; keyless records refused on produce; the background cleaner.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use sluice_broker::BrokerConfig;
use sluice_testkit::TestBroker;
use sluice_testkit::client::KafkaConn;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn create_compacted(conn: &mut KafkaConn, name: &str, extra: &[(&str, &str)]) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut configs = vec![("cleanup.policy", "compact"), ("segment.ms", "100"), ("min.cleanable.dirty.ratio", "0.01")];
    configs.extend_from_slice(extra);
    for (k, v) in configs {
        let mut c = create_topics_request::CreatableTopicConfig::default();
        c.name = s(k);
        c.value = Some(s(v));
        t.configs.push(c);
    }
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreateTopics(resp) = conn.request(5, RequestKind::CreateTopics(req)).await.unwrap() else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0].error_message);
}

async fn produce(
    conn: &mut KafkaConn,
    topic: &str,
    version: i16,
    batch: Vec<u8>,
) -> produce_response::PartitionProduceResponse {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = 0;
    p.records = Some(Bytes::from(batch));
    let mut t = produce_request::TopicProduceData::default();
    t.name = TopicName(s(topic));
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![t];
    let ResponseKind::Produce(mut resp) = conn.request(version, RequestKind::Produce(req)).await.unwrap() else {
        panic!("not a Produce response")
    };
    resp.responses.remove(0).partition_responses.remove(0)
}

/// One batch per produce, keyed; `ts` steps past segment.ms so that each batch rolls a segment.
async fn produce_kv(conn: &mut KafkaConn, topic: &str, ts: i64, records: &[(&str, Option<&str>)]) -> i64 {
    let recs: Vec<sluice_wire::batch::SimpleRecord<'_>> =
        records.iter().map(|(k, v)| (Some(k.as_bytes()), v.map(str::as_bytes), ts)).collect();
    let r = produce(conn, topic, 9, sluice_wire::batch::build(0, &recs, (-1, -1, -1), 0)).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.base_offset
}

/// Everything fetchable from offset 0: (offset, key, value).
async fn fetch_all(conn: &mut KafkaConn, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let mut p = fetch_request::FetchPartition::default();
        p.partition = 0;
        p.fetch_offset = offset;
        p.partition_max_bytes = 1 << 20;
        p.last_fetched_epoch = -1;
        p.current_leader_epoch = -1;
        let mut t = fetch_request::FetchTopic::default();
        t.topic = TopicName(s(topic));
        t.partitions = vec![p];
        let mut req = FetchRequest::default();
        req.max_wait_ms = 0;
        req.min_bytes = 0;
        req.max_bytes = 1 << 20;
        req.session_epoch = -1;
        req.topics = vec![t];
        let ResponseKind::Fetch(resp) = conn.request(12, RequestKind::Fetch(req)).await.unwrap() else {
            panic!("not a Fetch response")
        };
        let part = &resp.responses[0].partitions[0];
        assert_eq!(part.error_code, 0);
        let Some(mut records) = part.records.clone().filter(|r| !r.is_empty()) else { return out };
        let mut next = offset;
        for (_, h) in sluice_wire::batch::walk(&records.clone()).flatten() {
            next = next.max(h.last_offset() + 1);
        }
        for set in RecordBatchDecoder::decode_all(&mut records).unwrap() {
            for r in set.records.into_iter().filter(|r| r.offset >= offset) {
                let text = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
                out.push((r.offset, text(r.key.unwrap()), r.value.map(text)));
            }
        }
        if next >= part.high_watermark {
            return out;
        }
        offset = next;
    }
}

fn kv(offset: i64, k: &str, v: Option<&str>) -> (i64, String, Option<String>) {
    (offset, k.to_string(), v.map(str::to_string))
}

#[tokio::test]
async fn compacted_topic_keeps_the_latest_value_per_key_across_a_restart() {
    let config = BrokerConfig { log_cleaner_backoff: Duration::from_secs(3600), ..BrokerConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path(), config.clone()).await;
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    create_compacted(&mut conn, "users", &[("delete.retention.ms", "100000")]).await;
    let t0 = now_ms() - 60_000;
    produce_kv(&mut conn, "users", t0, &[("alice", Some("a1")), ("bob", Some("b1"))]).await;
    produce_kv(&mut conn, "users", t0 + 1_000, &[("alice", Some("a2")), ("carol", Some("c1"))]).await;
    produce_kv(&mut conn, "users", t0 + 2_000, &[("bob", None), ("dave", Some("d1"))]).await;
    produce_kv(&mut conn, "users", t0 + 3_000, &[("alice", Some("a3")), ("carol", Some("c2"))]).await;
    // The active segment: never cleaned.
    produce_kv(&mut conn, "users", t0 + 4_000, &[("dave", Some("d2"))]).await;
    let all = fetch_all(&mut conn, "users").await;
    assert_eq!(all.len(), 9, "{all:?}");

    let before = broker.broker().cleaner.totals();
    assert_eq!(broker.broker().clean_logs(now_ms()), 1, "{:?}", broker.broker().cleaner.totals());
    let after = broker.broker().cleaner.totals();
    assert_eq!(after.partitions_cleaned - before.partitions_cleaned, 1);
    assert_eq!(after.records_removed - before.records_removed, 4, "a1, b1, a2, c1");
    assert!(after.bytes_after - before.bytes_after < after.bytes_before - before.bytes_before);
    let expected = [
        kv(4, "bob", None),
        kv(5, "dave", Some("d1")),
        kv(6, "alice", Some("a3")),
        kv(7, "carol", Some("c2")),
        kv(8, "dave", Some("d2")),
    ];
    assert_eq!(fetch_all(&mut conn, "users").await, expected);

    // A restart reopens the compacted segments (gaps included) and keeps appending after them.
    drop(conn);
    broker.shutdown().await;
    let broker = TestBroker::start_in(dir.path(), config).await;
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    assert_eq!(fetch_all(&mut conn, "users").await, expected);
    assert_eq!(produce_kv(&mut conn, "users", t0 + 5_000, &[("erin", Some("e1"))]).await, 9);
    // The next pass removes d1 (superseded by d2, whose segment is closed now).
    assert_eq!(broker.broker().clean_logs(now_ms()), 1);
    let mut tail = expected[..].to_vec();
    tail.remove(1);
    tail.push(kv(9, "erin", Some("e1")));
    assert_eq!(fetch_all(&mut conn, "users").await, tail);
    broker.shutdown().await;
}

#[tokio::test]
async fn keyless_records_are_refused_by_a_compacted_topic() {
    let broker = TestBroker::start().await;
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    create_compacted(&mut conn, "keys", &[]).await;
    let ts = now_ms();
    let batch = sluice_wire::batch::build(
        0,
        &[(None, Some(&b"x"[..]), ts), (Some(&b"k"[..]), Some(&b"y"[..]), ts), (None, Some(&b"z"[..]), ts)],
        (-1, -1, -1),
        0,
    );
    let r = produce(&mut conn, "keys", 9, batch.clone()).await;
    assert_eq!(r.error_code, 87, "INVALID_RECORD");
    assert_eq!(r.log_start_offset, 0, "as Kafka, the log start offset comes with the error");
    let one = "Compacted topic cannot accept message without key in topic partition keys-0";
    let errors: Vec<(i32, String)> = r
        .record_errors
        .iter()
        .map(|e| (e.batch_index, e.batch_index_error_message.as_ref().unwrap().to_string()))
        .collect();
    assert_eq!(errors, [(0, one.to_string()), (2, one.to_string())]);
    assert_eq!(
        r.error_message.as_deref(),
        Some(
            format!(
                "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=0, message='{one}'), RecordError(batchIndex=2, message='{one}')]"
            )
            .as_str()
        )
    );
    // Versions before 8 have no record errors: the code alone.
    let r = produce(&mut conn, "keys", 7, batch).await;
    assert_eq!((r.error_code, r.record_errors.len()), (87, 0));
    // Nothing was appended; keyed records are.
    assert_eq!(produce_kv(&mut conn, "keys", ts, &[("k", Some("v"))]).await, 0);
    // A topic that does not compact takes keyless records.
    let plain = sluice_wire::batch::build(0, &[(None, Some(&b"x"[..]), ts)], (-1, -1, -1), 0);
    let mut md = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(s("plain")));
    md.topics = Some(vec![t]);
    md.allow_auto_topic_creation = true;
    conn.request(9, RequestKind::Metadata(md)).await.unwrap();
    assert_eq!(produce(&mut conn, "plain", 9, plain).await.error_code, 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_background_cleaner_compacts_on_its_own() {
    // Memory engine this time; a pass every 20 ms.
    let config = BrokerConfig { log_cleaner_backoff: Duration::from_millis(20), ..BrokerConfig::default() };
    let broker = TestBroker::start_with(config).await;
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    create_compacted(&mut conn, "bg", &[]).await;
    let t0 = now_ms() - 60_000;
    for i in 0..6 {
        produce_kv(&mut conn, "bg", t0 + 1_000 * i, &[("same", Some(&format!("v{i}")))]).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while broker.broker().cleaner.totals().records_removed < 4 {
        assert!(Instant::now() < deadline, "no cleaning pass within 20 s: {:?}", broker.broker().cleaner.totals());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fetch_all(&mut conn, "bg").await, [kv(4, "same", Some("v4")), kv(5, "same", Some("v5"))]);
    assert!(broker.broker().cleaner.totals().passes > 0);
    broker.shutdown().await;
}
