//! Kafka sinks: a job's results (and dead letters) written to topics by one transactional
//! producer, one transaction per checkpoint epoch.
//!
//! The transaction of epoch `e` holds every record the job wrote in `e` and, through
//! `send_offsets_to_transaction`, the source offsets of checkpoint `e` for the job's group.
//! Committing it is the epoch's commit point: a `read_committed` reader sees the epoch's
//! records exactly when the group's offsets moved to the checkpoint's. The transactional id is
//! `sluice-<job>-<instance>`, so a restarted instance fences its predecessor (whose open
//! transaction the broker aborts) before it writes anything.

use super::JobError;
use crate::kafka::ClientSettings;
use crate::sink::dead_letter::dead_letter_json;
use crate::sink::protobuf::encoder::{FormatsEncoder, RowEncoder as _};
use crate::sink::protobuf::load_message;
use crate::sink::values::JsonRows;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::topic_partition_list::TopicPartitionList;
use sluice_formats::{Row, RowSchema, Value};
use sluice_stream::plan::{OptionValue, SinkPlan};
use sluice_stream::{DeadLetter, ResultBatch};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts failed deliveries (a failed record makes the transaction's commit fail anyway; the
/// first error names the cause).
#[derive(Default)]
struct TxnContext {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for TxnContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, "{fac}: {message}");
    }
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "error: {error}: {reason}");
    }
}

impl ProducerContext for TxnContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Serves a producer's events (delivery reports) on a thread of its own, every
/// [`SERVE_EVERY`], until dropped. Not rdkafka's `ThreadedProducer`: its thread polls with
/// 100 ms timeouts, and rdkafka hands librdkafka the time left in whole milliseconds, so the
/// last millisecond of every timeout was a busy loop (4% of the bench's user-events job's CPU).
/// [`TxnProducer::flush`] serves the reports it waits for itself, so this interval adds no
/// latency to a checkpoint.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const SERVE_EVERY: Duration = Duration::from_millis(5);

/// Handles the events that have arrived (each poll takes at most one: one produce response's
/// delivery reports, an error), without waiting.
fn serve(producer: &BaseProducer<TxnContext>) {
    for _ in 0..8 {
        producer.poll(Duration::ZERO);
    }
}

impl Server {
    fn start(producer: Arc<BaseProducer<TxnContext>>) -> std::io::Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("producer events".into()).spawn(move || {
            while !flag.load(Ordering::Acquire) {
                serve(&producer);
                std::thread::park_timeout(SERVE_EVERY);
            }
            serve(&producer);
        })?;
        Ok(Server { stop, thread: Some(thread) })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The job's transactional producer.
pub struct TxnProducer {
    producer: Arc<BaseProducer<TxnContext>>,
    _server: Server,
    transactional_id: String,
    open: bool,
    sent: u64,
}

impl std::fmt::Debug for TxnProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnProducer").field("transactional_id", &self.transactional_id).finish()
    }
}

const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new transactional producer waits for a broker before init_transactions.
const BROKER_UP_WAIT: Duration = Duration::from_secs(10);

fn kafka_err(what: &str, e: &KafkaError) -> JobError {
    let fenced = matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced));
    JobError::Kafka {
        what: what.to_string(),
        message: e.to_string(),
        fix: if fenced {
            "another process runs this job with the same --instance-id; stop it, or give each its own".into()
        } else {
            "check that the broker is up and supports transactions; the job resumes from its last checkpoint \
             when restarted"
                .into()
        },
    }
}

impl TxnProducer {
    /// Creates the producer and initializes its transactions (fencing an earlier incarnation
    /// of the same transactional id, whose open transaction the broker aborts).
    pub async fn create(
        settings: &ClientSettings,
        transactional_id: &str,
        checkpoint_interval: Duration,
    ) -> Result<TxnProducer, JobError> {
        let mut s = settings.clone();
        let timeout_ms = (checkpoint_interval.as_millis() as u64).saturating_mul(3).clamp(60_000, 900_000);
        for (k, v) in [
            ("transactional.id", transactional_id.to_string()),
            ("enable.idempotence", "true".into()),
            ("acks", "all".into()),
            ("linger.ms", "5".into()),
            ("compression.type", "lz4".into()),
            ("partitioner", "murmur2_random".into()),
            ("transaction.timeout.ms", timeout_ms.to_string()),
        ] {
            if settings.get(k).is_none() || k == "transactional.id" {
                s.set(k, &v);
            }
        }
        // Consumer-only settings given with -X would make librdkafka warn on every start.
        let mut config = s.client_config();
        for k in ["group.id", "isolation.level", "auto.offset.reset", "enable.auto.commit"] {
            config.remove(k);
        }
        let producer: BaseProducer<TxnContext> =
            config.create_with_context(TxnContext::default()).map_err(|e| JobError::Kafka {
                what: format!("the transactional producer {transactional_id}"),
                message: e.to_string(),
                fix: "check the -X key=value settings against librdkafka's CONFIGURATION.md".into(),
            })?;
        let producer = Arc::new(producer);
        let server = Server::start(producer.clone())
            .map_err(|e| JobError::internal(format!("cannot start the producer's event thread: {e}")))?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || {
            // A broker connected first: librdkafka looks for the transaction coordinator the
            // moment init_transactions starts, and with no broker up yet it tries again only
            // after 500 ms. The metadata request returns once a broker is up; if none comes,
            // init_transactions reports it.
            let _ = p.client().fetch_metadata(None, BROKER_UP_WAIT);
            p.init_transactions(TXN_CALL_TIMEOUT)
        })
        .await
        .map_err(|e| JobError::internal(format!("the producer task failed: {e}")))?
        .map_err(|e| kafka_err(&format!("initializing transactions of {transactional_id}"), &e))?;
        Ok(TxnProducer {
            producer,
            _server: server,
            transactional_id: transactional_id.to_string(),
            open: false,
            sent: 0,
        })
    }

    /// The transactional id.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    fn begin(&mut self) -> Result<(), JobError> {
        if !self.open {
            self.producer.begin_transaction().map_err(|e| kafka_err("beginning a transaction", &e))?;
            self.open = true;
        }
        Ok(())
    }

    /// Sends one record in the open transaction (opening one if needed); waits while
    /// librdkafka's queue is full.
    pub async fn send(&mut self, topic: &str, key: Option<&[u8]>, value: &[u8]) -> Result<(), JobError> {
        self.send_record(topic, None, key, value).await
    }

    /// Sends one value to one partition in the open transaction (the shuffle stage's records).
    pub async fn send_to(&mut self, topic: &str, partition: i32, value: &[u8]) -> Result<(), JobError> {
        self.send_record(topic, Some(partition), None, value).await
    }

    async fn send_record(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), JobError> {
        self.begin()?;
        loop {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(value);
            if let Some(k) = key {
                record = record.key(k);
            }
            if let Some(p) = partition {
                record = record.partition(p);
            }
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => return Err(kafka_err(&format!("producing to topic {topic}"), &e)),
            }
        }
    }

    /// Waits until every record sent is acknowledged (the Kafka sinks' `pre_commit`).
    pub async fn flush(&mut self) -> Result<(), JobError> {
        // Not `Producer::flush(timeout)`: while records are in flight it blocks in `poll` for up
        // to 100 ms at a time, so a checkpoint with one record in flight took ~100 ms (the
        // read_committed latency's tail). `flush(0)` only tells librdkafka to send now
        // (linger.ms ignored) and says whether anything is left (delivery reports not yet
        // served count as left: they are served here, not only by the `Server`); the wait is ours.
        let started = tokio::time::Instant::now();
        loop {
            serve(&self.producer);
            match self.producer.flush(Duration::ZERO) {
                Ok(()) => break,
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
                Err(e) => return Err(kafka_err("flushing the transaction's records", &e)),
            }
            if started.elapsed() > TXN_CALL_TIMEOUT {
                return Err(kafka_err(
                    "flushing the transaction's records",
                    &KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let ctx = self.producer.context();
        if ctx.failed.load(Ordering::Relaxed) > 0 {
            let first = ctx.first_error.lock().ok().and_then(|f| f.clone()).unwrap_or_default();
            return Err(JobError::Kafka {
                what: "the records of the transaction".into(),
                message: format!("{} records were not delivered: {first}", ctx.failed.load(Ordering::Relaxed)),
                fix: "check the sink topics (do they exist? is the broker's message size limit enough?)".into(),
            });
        }
        Ok(())
    }

    /// The commit point of an epoch: sends the source offsets (with the epoch as metadata)
    /// to the group within the transaction and commits it.
    pub async fn commit(
        &mut self,
        offsets: TopicPartitionList,
        group: Option<ConsumerGroupMetadata>,
    ) -> Result<(), JobError> {
        self.begin()?;
        let p = self.producer.clone();
        let group = match group {
            Some(g) => Some(g),
            None if offsets.count() == 0 => None,
            None => {
                return Err(JobError::Kafka {
                    what: "committing the epoch's transaction".into(),
                    message: "the consumer has no group membership to commit the offsets for".into(),
                    fix: "check that the broker runs the group coordinator; the job resumes from its last \
                          checkpoint when restarted"
                        .into(),
                });
            }
        };
        tokio::task::spawn_blocking(move || {
            if let Some(group) = group {
                p.send_offsets_to_transaction(&offsets, &group, TXN_CALL_TIMEOUT)?;
            }
            p.commit_transaction(TXN_CALL_TIMEOUT)
        })
        .await
        .map_err(|e| JobError::internal(format!("the producer task failed: {e}")))?
        .map_err(|e| kafka_err("committing the epoch's transaction", &e))?;
        self.open = false;
        Ok(())
    }

    /// Records sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// How a Kafka sink turns a result row into a record value.
enum ValueEncoder {
    Json(JsonRows),
    Csv(sluice_formats::csv::CsvCodec),
    Protobuf(Box<FormatsEncoder>),
}

/// One query's Kafka sink: a topic, the key column and the value encoding.
pub struct KafkaResultSink {
    name: String,
    topic: String,
    key: Option<usize>,
    encoder: ValueEncoder,
}

impl std::fmt::Debug for KafkaResultSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

fn opt<'a>(plan: &'a SinkPlan, key: &str) -> Option<&'a str> {
    match plan.options.get(key) {
        Some(OptionValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

impl KafkaResultSink {
    /// Builds the sink of `query` from its plan, for rows of `schema`.
    pub fn new(
        plan: &SinkPlan,
        query: &str,
        schema: &RowSchema,
        job_file: &str,
        base_dir: Option<&Path>,
    ) -> Result<KafkaResultSink, JobError> {
        let field = plan.origin.as_ref().map_or_else(|| format!("query `{query}` kafka sink"), |o| o.field.clone());
        let err = |f: &str, message: String, fix: &str| JobError::Config {
            file: job_file.to_string(),
            field: format!("{field}.{f}"),
            message,
            fix: fix.into(),
        };
        let Some(topic) = opt(plan, "topic") else {
            return Err(err("topic", "a kafka sink needs a topic".into(), "add topic = \"results\""));
        };
        let key = match opt(plan, "key") {
            None => None,
            Some(k) => Some(schema.index_of(k).ok_or_else(|| {
                let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
                err("key", format!("`{k}` is not a result column"), &format!("use one of: {}", names.join(", ")))
            })?),
        };
        let format = opt(plan, "format").unwrap_or("json");
        let encoder = match format {
            "json" => ValueEncoder::Json(JsonRows::new(schema)),
            "csv" => ValueEncoder::Csv(sluice_formats::csv::CsvCodec::new(schema.clone())),
            "protobuf" => {
                let (Some(proto), Some(message)) = (opt(plan, "proto"), opt(plan, "message")) else {
                    return Err(err(
                        "format",
                        "format \"protobuf\" needs the result message".into(),
                        "add proto = \"proto/results.proto\" and message = \"pkg.Message\"",
                    ));
                };
                let desc = load_message(&super::resolve(base_dir, proto), message)
                    .map_err(|e| err("proto", e.message, &e.fix))?;
                ValueEncoder::Protobuf(Box::new(
                    FormatsEncoder::new(desc, schema).map_err(|e| err("message", e.to_string(), "match the fields"))?,
                ))
            }
            other => {
                return Err(err(
                    "format",
                    format!("unknown format \"{other}\""),
                    "use \"json\", \"csv\" or \"protobuf\"",
                ));
            }
        };
        Ok(KafkaResultSink {
            name: format!("kafka sink of query `{query}` (topic {topic}, {format})"),
            topic: topic.to_string(),
            key,
            encoder,
        })
    }

    /// The sink, for messages.
    pub fn describe(&self) -> &str {
        &self.name
    }

    /// Encodes one row's value.
    pub fn encode(&self, row: &Row, out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        match &self.encoder {
            ValueEncoder::Json(j) => j.write_object(out, &row.values),
            ValueEncoder::Csv(c) => out.extend_from_slice(c.encode(row).map_err(|e| e.to_string())?.as_bytes()),
            ValueEncoder::Protobuf(p) => {
                p.encode_delimited(row, out).map_err(|e| e.to_string())?;
                // Kafka values are single messages: drop the varint length prefix.
                let prefix = out.iter().position(|b| b & 0x80 == 0).map_or(0, |i| i + 1);
                out.drain(..prefix);
            }
        }
        Ok(())
    }

    /// Writes a batch in the open transaction.
    pub async fn write(&self, producer: &mut TxnProducer, batch: &ResultBatch) -> Result<(), JobError> {
        let mut value = Vec::with_capacity(128);
        for row in &batch.rows {
            self.encode(row, &mut value)
                .map_err(|m| JobError::Sink(crate::sink::SinkError::Encode { sink: self.name.clone(), message: m }))?;
            let k = self.key.and_then(|c| match row.get(c) {
                Value::Null => None,
                Value::Str(s) => Some(s.as_bytes().to_vec()),
                Value::Bytes(b) => Some(b.to_vec()),
                other => Some(other.to_string().into_bytes()),
            });
            producer.send(&self.topic, k.as_deref(), &value).await?;
        }
        Ok(())
    }
}

/// Dead letters to a topic, as the JSON objects of the dead-letter file sink.
pub struct KafkaDeadLetterSink {
    topic: String,
    source_topic: String,
    rows: JsonRows,
}

impl std::fmt::Debug for KafkaDeadLetterSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kafka dead-letter sink (topic {})", self.topic)
    }
}

impl KafkaDeadLetterSink {
    /// Dead letters of records of `source_topic` (decoded as `input`) to the plan's topic.
    pub fn new(plan: &SinkPlan, source_topic: &str, input: &RowSchema, job_file: &str) -> Result<Self, JobError> {
        let Some(topic) = opt(plan, "topic") else {
            return Err(JobError::Config {
                file: job_file.to_string(),
                field: "dead_letter.topic".into(),
                message: "a kafka dead-letter sink needs a topic".into(),
                fix: "add topic = \"<job>-dead-letters\"".into(),
            });
        };
        Ok(KafkaDeadLetterSink {
            topic: topic.to_string(),
            source_topic: source_topic.to_string(),
            rows: JsonRows::new(input),
        })
    }

    /// Writes dead letters in the open transaction, keyed by `partition-offset` of the
    /// source record.
    pub async fn write(&self, producer: &mut TxnProducer, letters: &[DeadLetter]) -> Result<(), JobError> {
        let mut value = Vec::with_capacity(256);
        for d in letters {
            value.clear();
            dead_letter_json(&mut value, &self.source_topic, &self.rows, d);
            let key = format!("{}-{}", d.partition, d.offset);
            producer.send(&self.topic, Some(key.as_bytes()), &value).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind};
    use std::collections::BTreeMap;

    fn plan(opts: &[(&str, &str)]) -> SinkPlan {
        SinkPlan {
            kind: sluice_stream::plan::SinkKind::Kafka,
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), OptionValue::Str(v.to_string())))
                .collect::<BTreeMap<_, _>>(),
            origin: None,
        }
    }

    #[test]
    fn encodings() {
        let schema = RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("count", Kind::Int)]);
        let row = Row::new(vec![Value::from("click"), Value::Int(14)]);
        let mut out = Vec::new();
        let json =
            KafkaResultSink::new(&plan(&[("topic", "t"), ("key", "action")]), "q", &schema, "j.toml", None).unwrap();
        json.encode(&row, &mut out).unwrap();
        assert_eq!(out, br#"{"action":"click","count":14}"#);
        let csv =
            KafkaResultSink::new(&plan(&[("topic", "t"), ("format", "csv")]), "q", &schema, "j.toml", None).unwrap();
        csv.encode(&row, &mut out).unwrap();
        assert_eq!(out, b"click,14");
        let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/results.proto");
        let pb = KafkaResultSink::new(
            &plan(&[
                ("topic", "t"),
                ("format", "protobuf"),
                ("proto", proto.to_str().unwrap()),
                ("message", "results.ActionCount"),
            ]),
            "q",
            &schema,
            "j.toml",
            None,
        )
        .unwrap();
        pb.encode(&row, &mut out).unwrap();
        assert_eq!(out, b"\x0a\x05click\x10\x0e");
        let e = KafkaResultSink::new(&plan(&[("topic", "t"), ("key", "nope")]), "q", &schema, "j.toml", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("j.toml") && e.contains("`nope`") && e.contains("action, count"), "{e}");
        let e = KafkaResultSink::new(&plan(&[("topic", "t"), ("format", "protobuf")]), "q", &schema, "j.toml", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("proto ="), "{e}");
    }
}
