//! Where records go: the [`Store`] trait, the Kafka topic ([`KafkaStore`]) and memory
//! ([`MemoryStore`], for tests of the core).

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A raw record: key and value bytes (`None` = tombstone).
pub type RawRecord = (Vec<u8>, Option<Vec<u8>>);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No broker answered in time.
    #[error(
        "no Kafka broker answered at {bootstrap} within {waited:?} ({cause}); start one with `sluice broker` or pass \
         --bootstrap-servers HOST:PORT"
    )]
    Unreachable {
        /// The bootstrap servers.
        bootstrap: String,
        /// How long we tried.
        waited: Duration,
        /// The client's last error.
        cause: String,
    },
    /// The schemas topic could not be created or described.
    #[error("cannot create the schemas topic {topic:?}: {cause}")]
    Topic {
        /// Topic name.
        topic: String,
        /// The broker's answer.
        cause: String,
    },
    /// A write was not acknowledged.
    #[error("the broker did not acknowledge a write to {topic:?}: {cause}")]
    Write {
        /// Topic name.
        topic: String,
        /// The error.
        cause: String,
    },
    /// Reading the topic failed.
    #[error("cannot read the schemas topic {topic:?}: {cause}")]
    Read {
        /// Topic name.
        topic: String,
        /// The error.
        cause: String,
    },
}

/// An append-only log of records, read back in full at start.
pub trait Store: Send + Sync {
    /// Appends records in order; resolves once all are durably acknowledged.
    fn append<'a>(&'a self, records: &'a [RawRecord]) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Every record from the beginning, in order.
    fn read_all(&self) -> BoxFuture<'_, Result<Vec<RawRecord>, StoreError>>;
}

/// Records in memory (lost on exit).
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<Vec<RawRecord>>,
}

impl Store for MemoryStore {
    fn append<'a>(&'a self, records: &'a [RawRecord]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.records.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(records);
            Ok(())
        })
    }

    fn read_all(&self) -> BoxFuture<'_, Result<Vec<RawRecord>, StoreError>> {
        Box::pin(async move { Ok(self.records.lock().unwrap_or_else(|p| p.into_inner()).clone()) })
    }
}

/// The compacted single-partition topic on a Kafka broker (sluice's or any Kafka).
///
/// Reads assign partition 0 directly; no consumer group is used.
pub struct KafkaStore {
    bootstrap: String,
    topic: String,
    producer: FutureProducer,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStore").field("bootstrap", &self.bootstrap).field("topic", &self.topic).finish()
    }
}

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "sluice-registry")
        // broker-unreachable noise is reported once, by us, not per retry by librdkafka
        .set("log_level", "3")
        .set("socket.connection.setup.timeout.ms", "5000");
    c
}

impl KafkaStore {
    /// Connects, creating the topic (`cleanup.policy=compact`, 1 partition) if it is missing.
    /// Waits up to `timeout` for a broker to answer.
    pub async fn connect(bootstrap: &str, topic: &str, timeout: Duration) -> Result<KafkaStore, StoreError> {
        let admin: AdminClient<DefaultClientContext> = base_config(bootstrap).create().map_err(|e| {
            StoreError::Unreachable { bootstrap: bootstrap.into(), waited: Duration::ZERO, cause: e.to_string() }
        })?;
        let start = Instant::now();
        let new_topic = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
        loop {
            // one attempt never outlives the overall timeout
            let left =
                timeout.saturating_sub(start.elapsed()).clamp(Duration::from_millis(500), Duration::from_secs(10));
            let opts = AdminOptions::new().operation_timeout(Some(left)).request_timeout(Some(left));
            let attempt = tokio::time::timeout(left, admin.create_topics([&new_topic], &opts)).await;
            let cause = match attempt {
                Ok(Ok(results)) => match results.into_iter().next() {
                    Some(Ok(_)) | None => break,
                    Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => break,
                    Some(Err((_, code))) => {
                        let transient = matches!(
                            code,
                            RDKafkaErrorCode::BrokerTransportFailure
                                | RDKafkaErrorCode::AllBrokersDown
                                | RDKafkaErrorCode::OperationTimedOut
                                | RDKafkaErrorCode::RequestTimedOut
                                | RDKafkaErrorCode::NotController
                                | RDKafkaErrorCode::LeaderNotAvailable
                        );
                        if !transient {
                            return Err(StoreError::Topic { topic: topic.into(), cause: code.to_string() });
                        }
                        code.to_string()
                    }
                },
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer".to_string(),
            };
            if start.elapsed() >= timeout {
                return Err(StoreError::Unreachable { bootstrap: bootstrap.into(), waited: start.elapsed(), cause });
            }
            tracing::debug!("waiting for the broker at {bootstrap}: {cause}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let producer: FutureProducer = base_config(bootstrap)
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(|e| StoreError::Write { topic: topic.into(), cause: e.to_string() })?;
        Ok(KafkaStore { bootstrap: bootstrap.into(), topic: topic.into(), producer, timeout })
    }

    fn read_blocking(bootstrap: String, topic: String, timeout: Duration) -> Result<Vec<RawRecord>, StoreError> {
        let err = |e: KafkaError| StoreError::Read { topic: topic.clone(), cause: e.to_string() };
        // librdkafka refuses assign() without a group.id; the group is never joined or committed
        // to (partition 0 is assigned from the beginning), so no group coordinator is needed.
        let consumer: BaseConsumer = base_config(&bootstrap)
            .set("group.id", format!("sluice-registry-reader-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(err)?;
        let start = Instant::now();
        let (low, high) = loop {
            match consumer.fetch_watermarks(&topic, 0, Duration::from_secs(5)) {
                Ok(w) => break w,
                Err(e) if start.elapsed() < timeout => {
                    tracing::debug!("waiting for the watermarks of {topic}: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(err(e)),
            }
        };
        let mut out = Vec::new();
        if high <= low {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning).map_err(err)?;
        consumer.assign(&tpl).map_err(err)?;
        let start = Instant::now();
        loop {
            if start.elapsed() > timeout {
                return Err(StoreError::Read {
                    topic,
                    cause: format!(
                        "read {} records but the topic ends at offset {high}; gave up after {timeout:?}",
                        out.len()
                    ),
                });
            }
            match consumer.poll(Duration::from_millis(500)) {
                None => continue,
                // a compacted topic may have gaps; the end of the partition is what counts
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => return Err(err(e)),
                Some(Ok(m)) => {
                    let offset = m.offset();
                    let key = m.key().map(<[u8]>::to_vec).unwrap_or_default();
                    out.push((key, m.payload().map(<[u8]>::to_vec)));
                    if offset + 1 >= high {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Store for KafkaStore {
    fn append<'a>(&'a self, records: &'a [RawRecord]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            for (key, value) in records {
                let mut rec: FutureRecord<'_, [u8], [u8]> =
                    FutureRecord::to(&self.topic).partition(0).key(key.as_slice());
                if let Some(v) = value {
                    rec = rec.payload(v.as_slice());
                }
                self.producer
                    .send(rec, self.timeout)
                    .await
                    .map_err(|(e, _)| StoreError::Write { topic: self.topic.clone(), cause: e.to_string() })?;
            }
            Ok(())
        })
    }

    fn read_all(&self) -> BoxFuture<'_, Result<Vec<RawRecord>, StoreError>> {
        let (bootstrap, topic, timeout) = (self.bootstrap.clone(), self.topic.clone(), self.timeout);
        Box::pin(async move {
            let t2 = topic.clone();
            tokio::task::spawn_blocking(move || Self::read_blocking(bootstrap, topic, timeout))
                .await
                .map_err(|e| StoreError::Read { topic: t2, cause: e.to_string() })?
        })
    }
}
