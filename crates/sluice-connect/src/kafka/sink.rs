//! The Kafka producer sink: records in, delivery counts out.
//!
//! A `BaseProducer` with [`SluiceContext`] counting every delivery report. Delivery reports are
//! served on the producing thread, every [`POLL_EVERY`] records and while it waits (as
//! librdkafka's own `rdkafka_performance` does): librdkafka allocates each message on the
//! thread that produces it and frees it where its report is served, and a separate polling
//! thread (`ThreadedProducer`) made the two threads fight over glibc's malloc arena lock, which
//! cost a third of the throughput. `send` never blocks on the network; when librdkafka's queue
//! is full it serves reports until there is room, so any `--rate 0` run is limited by the
//! broker, not by memory.

use super::context::{BrokerUnreachable, DeliveryStats, SluiceContext, wait_for_broker_serving};
use super::native::TopicHandle;
use super::settings::ClientSettings;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Delivery reports are served every this many records sent.
pub const POLL_EVERY: u32 = 256;

/// How long `send` sleeps when librdkafka's queue is still full after serving reports.
const QUEUE_FULL_PAUSE: Duration = Duration::from_micros(200);

/// Why the sink could not be created or a record not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// librdkafka rejected a setting (unknown key, bad value).
    #[error("invalid producer setting: {0}; check the -X key=value pairs against librdkafka's CONFIGURATION.md")]
    Config(String),
    /// The broker could not be reached.
    #[error(transparent)]
    Unreachable(#[from] BrokerUnreachable),
    /// librdkafka refused a record (too large, unknown partition...).
    #[error("cannot produce to {topic}: {error}")]
    Produce {
        /// Topic.
        topic: String,
        /// librdkafka's error.
        error: KafkaError,
    },
}

/// A producer writing to one topic.
pub struct KafkaSink {
    /// The topic's librdkafka handle (see [`TopicHandle`]), made at the first send: making it
    /// asks the broker for the topic's metadata, which would create the topic with the broker's
    /// default partitions before `produce --partitions` creates it. `None` when librdkafka
    /// refused the name. Declared before `producer` so it is dropped first.
    handle: OnceLock<Option<TopicHandle>>,
    producer: BaseProducer<SluiceContext>,
    topic: String,
    address: String,
    /// Records sent since delivery reports were last served.
    unpolled: AtomicU32,
    /// `delivery.report.only.error=true`: successes are not reported, only counted at flush.
    only_errors: bool,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").field("topic", &self.topic).field("address", &self.address).finish()
    }
}

impl KafkaSink {
    /// Creates the producer (no network I/O yet).
    pub fn new(settings: &ClientSettings, topic: &str) -> Result<Self, SinkError> {
        let producer: BaseProducer<SluiceContext> = settings
            .client_config()
            .create_with_context(SluiceContext::default())
            .map_err(|e| SinkError::Config(e.to_string()))?;
        Ok(KafkaSink {
            handle: OnceLock::new(),
            producer,
            topic: topic.to_string(),
            address: settings.get("bootstrap.servers").unwrap_or_default().to_string(),
            unpolled: AtomicU32::new(0),
            only_errors: settings.get("delivery.report.only.error").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    /// Checks that a broker answers (see [`wait_for_broker`](super::wait_for_broker)); returns
    /// the cluster metadata.
    pub fn check_broker(&self, wait: Duration, patient: bool) -> Result<Metadata, SinkError> {
        let serve = || self.producer.poll(Duration::ZERO);
        Ok(wait_for_broker_serving(self.producer.client(), &self.address, wait, patient, &serve)?)
    }

    /// Serves delivery reports (and librdkafka's other events) for up to `timeout`.
    pub fn poll(&self, timeout: Duration) {
        self.unpolled.store(0, Ordering::Relaxed);
        self.producer.poll(timeout);
    }

    /// Waits until `until`, serving delivery reports meanwhile; returns `false` as soon as
    /// `stop()` turns true.
    pub fn wait_until(&self, until: Instant, stop: &dyn Fn() -> bool) -> bool {
        loop {
            if stop() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            self.poll((until - now).min(Duration::from_millis(50)));
        }
    }

    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Delivery counters.
    pub fn stats(&self) -> &DeliveryStats {
        &self.producer.context().state.deliveries
    }

    /// Hands one record to librdkafka; `tag` comes back in
    /// [`DeliveryStats::take_failed_tags`] if it fails. Waits while the local queue is full.
    pub fn send(&self, key: Option<&[u8]>, value: &[u8], tag: usize) -> Result<(), SinkError> {
        self.send_to(None, key, value, tag)
    }

    /// As [`send`](Self::send), to a given partition when `partition` is set.
    pub fn send_to(
        &self,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: &[u8],
        tag: usize,
    ) -> Result<(), SinkError> {
        let handle = self.handle.get_or_init(|| TopicHandle::new(self.producer.client(), &self.topic));
        let Some(handle) = handle else {
            let error = KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTopic);
            return Err(SinkError::Produce { topic: self.topic.clone(), error });
        };
        let mut was_full = false;
        loop {
            // Not `BaseProducer::send`: it looks the topic up by name for every record (see
            // `native`), a fifth of the producing thread's time at a million records a second.
            match handle.produce(partition, key, value, tag) {
                Ok(()) => {
                    self.stats().note_sent();
                    if self.unpolled.fetch_add(1, Ordering::Relaxed) + 1 >= POLL_EVERY {
                        self.poll(Duration::ZERO);
                    }
                    return Ok(());
                }
                Err(RDKafkaErrorCode::QueueFull) => {
                    // Room comes back as deliveries are reported. rdkafka's `poll(t)` keeps
                    // polling until `t` has passed and hands librdkafka whole milliseconds, so
                    // its last millisecond is a busy loop on the clock (`poll(1 ms)` here cost a
                    // third of the CPU against Kafka). Serve what is ready instead, and when that
                    // did not make room, sleep a little: the queue holds far more than a pause's
                    // worth of records.
                    if was_full {
                        std::thread::sleep(QUEUE_FULL_PAUSE);
                    }
                    was_full = true;
                    self.poll(Duration::ZERO);
                }
                Err(code) => {
                    return Err(SinkError::Produce {
                        topic: self.topic.clone(),
                        error: KafkaError::MessageProduction(code),
                    });
                }
            }
        }
    }

    /// Waits until every record handed over is delivered or failed. Returns `false` when
    /// `abort()` turned true first; then the records still queued are dropped and counted
    /// failed.
    pub fn flush(&self, abort: &dyn Fn() -> bool) -> bool {
        loop {
            if self.producer.flush(Duration::from_millis(100)).is_ok() && self.producer.in_flight_count() == 0 {
                if self.only_errors {
                    self.stats().settle_unreported();
                }
                return true;
            }
            if abort() {
                self.producer.purge(PurgeConfig::default().queue().inflight());
                // The purged records' delivery reports (failures) arrive on the next poll.
                let _ = self.producer.flush(Duration::from_millis(500));
                return false;
            }
        }
    }

    /// Records handed over but not yet acknowledged or failed.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }
}
