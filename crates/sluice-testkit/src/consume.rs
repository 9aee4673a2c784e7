//! Reading a topic back through librdkafka, the way any Kafka consumer would.

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Record timestamp (ms).
    pub timestamp: Option<i64>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl ConsumedRecord {
    fn of<M: Message>(m: &M) -> ConsumedRecord {
        ConsumedRecord {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            timestamp: m.timestamp().to_millis(),
            headers: m
                .headers()
                .map(|h| h.iter().map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec))).collect())
                .unwrap_or_default(),
        }
    }
}

/// A consumer with isolation level `isolation`, assigned every partition of `topic` from the
/// beginning, and those partitions. librdkafka's assign() needs a group handle even though
/// nothing is committed; the group is never joined, so a broker without a group coordinator
/// works too.
fn reader_from_beginning(bootstrap: &str, topic: &str, isolation: &str, timeout: Duration) -> (BaseConsumer, Vec<i32>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "false")
        .set("group.id", "sluice-testkit-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .expect("create consumer");
    let md = consumer.fetch_metadata(Some(topic), timeout).expect("metadata");
    let t = md.topics().iter().find(|t| t.name() == topic).expect("topic in metadata");
    assert!(t.error().is_none(), "topic {topic}: {:?}", t.error());
    let partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning).expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    (consumer, partitions)
}

/// Every record of `topic` from the beginning up to the high watermark of each partition at
/// the time of the call, in partition then offset order. Blocking; panics (it is a test helper)
/// when the topic does not exist or the records do not arrive within `timeout`.
pub fn read_topic(bootstrap: &str, topic: &str, timeout: Duration) -> Vec<ConsumedRecord> {
    let (consumer, partitions) = reader_from_beginning(bootstrap, topic, "read_committed", timeout);
    let mut highs = Vec::new();
    let mut remaining = 0usize;
    for p in partitions {
        let (_, high) = consumer.fetch_watermarks(topic, p, timeout).expect("watermarks");
        highs.push((p, high));
        remaining += usize::from(high > 0);
    }
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut done: Vec<i32> = highs.iter().filter(|(_, h)| *h == 0).map(|(p, _)| *p).collect();
    while remaining > 0 {
        assert!(Instant::now() < deadline, "timed out reading {topic}: got {} records so far", out.len());
        let Some(m) = consumer.poll(Duration::from_millis(100)) else { continue };
        let m = m.expect("consume");
        let high = highs.iter().find(|(p, _)| *p == m.partition()).map(|(_, h)| *h).unwrap_or(0);
        if m.offset() >= high || done.contains(&m.partition()) {
            continue;
        }
        out.push(ConsumedRecord::of(&m));
        if m.offset() + 1 >= high {
            done.push(m.partition());
            remaining -= 1;
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// The records of `topic`, from the beginning of every partition, that a consumer with
/// `isolation.level = isolation` (`"read_committed"` or `"read_uncommitted"`) has received once
/// it has `min` of them, or when `wait` is over (then possibly fewer). Blocking.
pub fn poll_topic(bootstrap: &str, topic: &str, isolation: &str, min: usize, wait: Duration) -> Vec<ConsumedRecord> {
    let deadline = Instant::now() + wait;
    let (consumer, _) = reader_from_beginning(bootstrap, topic, isolation, wait);
    let mut out = Vec::new();
    while out.len() < min && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else { continue };
        out.push(ConsumedRecord::of(&m.expect("consume")));
    }
    out
}
