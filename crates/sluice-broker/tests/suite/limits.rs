//! Limits that keep one request from exhausting the broker: a topic's partition count.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use sluice_broker::state::MAX_PARTITIONS_PER_TOPIC;
use sluice_testkit::TestBroker;
use sluice_testkit::client::KafkaConn;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn create(conn: &mut KafkaConn, name: &str, partitions: i32, validate_only: bool) -> (i16, Option<String>) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    req.validate_only = validate_only;
    let ResponseKind::CreateTopics(resp) = conn.request(5, RequestKind::CreateTopics(req)).await.unwrap() else {
        panic!("not a CreateTopics response")
    };
    let t = &resp.topics[0];
    (t.error_code, t.error_message.as_ref().map(|m| m.to_string()))
}

async fn grow(conn: &mut KafkaConn, name: &str, count: i32) -> (i16, Option<String>) {
    let mut t = create_partitions_request::CreatePartitionsTopic::default();
    t.name = TopicName(s(name));
    t.count = count;
    t.assignments = None;
    let mut req = CreatePartitionsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreatePartitions(resp) = conn.request(3, RequestKind::CreatePartitions(req)).await.unwrap()
    else {
        panic!("not a CreatePartitions response")
    };
    let r = &resp.results[0];
    (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
}

async fn partitions_of(conn: &mut KafkaConn, name: &str) -> usize {
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(s(name)));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    let ResponseKind::Metadata(resp) = conn.request(9, RequestKind::Metadata(req)).await.unwrap() else {
        panic!("not a Metadata response")
    };
    assert_eq!(resp.topics[0].error_code, 0, "{name} exists");
    resp.topics[0].partitions.len()
}

#[tokio::test]
async fn a_partition_count_beyond_the_limit_is_refused_by_name_and_creates_nothing() {
    let broker = TestBroker::start().await;
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    let limit = MAX_PARTITIONS_PER_TOPIC;
    // 16,777,219 is 3 with its high byte flipped: the count that exhausted a broker's memory.
    for (count, validate_only) in [(limit + 1, false), (16_777_219, false), (i32::MAX, true)] {
        let (code, message) = create(&mut conn, "huge", count, validate_only).await;
        assert_eq!(code, 37, "INVALID_PARTITIONS for {count}");
        let message = message.unwrap_or_default();
        assert!(message.contains(&count.to_string()) && message.contains(&limit.to_string()), "{message}");
    }
    let mut req = MetadataRequest::default();
    req.topics = None;
    let ResponseKind::Metadata(resp) = conn.request(9, RequestKind::Metadata(req)).await.unwrap() else {
        panic!("not a Metadata response")
    };
    assert!(resp.topics.iter().all(|t| t.name.as_ref().map(|n| n.0.as_str()) != Some("huge")), "nothing created");

    // Growing a topic past the limit: refused, the topic keeps its partitions; up to it: fine.
    assert_eq!(create(&mut conn, "small", 2, false).await.0, 0);
    let (code, message) = grow(&mut conn, "small", 16_777_219).await;
    assert_eq!(code, 37, "INVALID_PARTITIONS");
    assert!(message.unwrap_or_default().contains(&limit.to_string()));
    assert_eq!(partitions_of(&mut conn, "small").await, 2);
    assert_eq!(grow(&mut conn, "small", 5).await.0, 0);
    assert_eq!(partitions_of(&mut conn, "small").await, 5);
    broker.shutdown().await;
}
