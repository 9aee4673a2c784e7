//! The Kafka source: a librdkafka consumer in the job's group, polled on a thread of its own
//! so that the engine's work never stalls fetching (as rust-rdkafka's
//! `asynchronous_processing` example keeps CPU work off the polling loop).
//!
//! - `isolation.level=read_committed`: only committed transactions are read.
//! - Offsets are the job's: auto commit is off; the runtime commits after each checkpoint (or
//!   inside its Kafka transaction). On assignment a partition starts where this process last
//!   delivered it, else at the checkpoint's offset, else at the group's committed offset, else
//!   at `starting_offsets` (`auto.offset.reset`). A job without a checkpoint does not resume
//!   at offsets an earlier run committed ([`KafkaSource::start_fresh`]).
//! - Static membership (`group.instance.id` = `sluice-<job>-<instance>`): a restarted instance
//!   takes its partitions back at once instead of waiting for the dead one's session to end.
//! - Records are read by sluice's own fetch client (`kafka::fetch`) when the connection is
//!   plaintext: the partitions librdkafka is assigned are paused there, and the client fetches
//!   them from their leaders from the offsets chosen at assignment ([`FETCH_ENV`]`=librdkafka`
//!   keeps librdkafka's fetching, as TLS and SASL do). With librdkafka fetching, records are
//!   read up to 1,024 at a time (the assigned partitions are forwarded to a queue of the
//!   source's own, `kafka::native::FetchQueue`). Either way they are handed to the runtime in
//!   batches (up to `max_records`, or what arrived within `linger`) with their bytes in one
//!   buffer per batch (a fetched record batch is decompressed straight into it, its records
//!   pointing into it; librdkafka's values are copied there), and the group's events are
//!   served by `BaseConsumer::poll` between reads.
//! - Assignments, revocations and batches reach the runtime in one channel, in the order they
//!   happened: a batch polled before a revocation arrives before it.

use super::JobError;
use crate::kafka::ClientSettings;
use crate::kafka::fetch::{FetchConfig, Fetcher, Handler, Start};
use crate::kafka::native::{FetchQueue, Fetched};
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use sluice_stream::plan::StartingOffsets;
use sluice_wire::batch::BatchHeader;
use sluice_wire::records::{self, RecordsError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The prefix of the metadata the runtime commits with offsets: `sluice epoch=<n>`.
pub const EPOCH_METADATA: &str = "sluice epoch=";

/// Records polled together, their bytes in one buffer.
///
/// A batch the source handed over goes back to it when dropped: its buffers are kept (up to
/// [`MAX_SPARES`]) for the batches polled next, so that a batch neither grows from nothing
/// (copying itself at every doubling) nor faults in fresh pages (together ~3% of a job's CPU).
#[derive(Debug, Default)]
pub struct RawBatch {
    /// The records' bytes, in `data[..used]`; the rest is room kept from earlier batches
    /// (written over, never zeroed again).
    data: Vec<u8>,
    used: usize,
    records: Vec<RawRecord>,
    spares: Option<Spares>,
}

/// Buffers of dropped batches, for the next ones.
type Spares = Arc<Mutex<Vec<(Vec<u8>, Vec<RawRecord>)>>>;

/// Most spare buffers kept: as many batches as circulate (the pending one, the channel's
/// [`EVENTS_CAPACITY`], the one the runtime works on). The runtime and the source run in
/// bursts, so the spares come back several at a time: with two kept, a tenth of the batches of
/// the bench's transactions job were fresh buffers (a third of its page faults, 1% of its CPU).
/// A source without records for [`SPARES_IDLE`] keeps one ([`trim_spares`]).
const MAX_SPARES: usize = EVENTS_CAPACITY + 2;

/// Events the channel to the runtime holds. Two batches of read-ahead keep the runtime busy as
/// well as four did (same wall time) with fewer batch buffers to fault in and keep in cache:
/// the bench's transactions job took 1.5–3% less CPU (sixteen took 4–6% more).
const EVENTS_CAPACITY: usize = 2;

/// How long a source reads no record before its spare buffers but one are let go.
const SPARES_IDLE: Duration = Duration::from_secs(1);

/// Lets the spare buffers but one go once the source has read nothing for [`SPARES_IDLE`]
/// (`last`: when it last read a record).
fn trim_spares(spares: &Spares, records: usize, last: &mut Instant) {
    if records > 0 {
        *last = Instant::now();
    } else if last.elapsed() >= SPARES_IDLE {
        let mut spares = lock(spares);
        if spares.len() > 1 {
            spares.truncate(1);
        }
    }
}

impl Drop for RawBatch {
    fn drop(&mut self) {
        let Some(spares) = self.spares.take() else { return };
        // A buffer far above the usual (an unusually large batch) is let go, and none is kept.
        if self.data.capacity() > 2 * MAX_BATCH_BYTES || self.records.capacity() == 0 {
            return;
        }
        let (data, mut records) = (std::mem::take(&mut self.data), std::mem::take(&mut self.records));
        records.clear();
        let mut spares = lock(&spares);
        if spares.len() < MAX_SPARES {
            spares.push((data, records));
        }
    }
}

/// One record of a [`RawBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Kafka timestamp (ms).
    pub timestamp: i64,
    /// The value's range in the batch buffer; `None` for a tombstone.
    value: Option<(u32, u32)>,
}

impl RawBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The `i`th record.
    pub fn record(&self, i: usize) -> RawRecord {
        self.records[i]
    }

    /// The `i`th record's value.
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        let (a, b) = self.records.get(i)?.value?;
        self.data.get(a as usize..b as usize)
    }

    /// Appends a record.
    pub fn push(&mut self, partition: i32, offset: i64, timestamp: i64, value: Option<&[u8]>) {
        let value = value.map(|v| {
            let (start, end) = (self.used, self.used + v.len());
            if self.data.len() >= end {
                self.data[start..end].copy_from_slice(v);
            } else {
                self.data.truncate(start);
                self.data.extend_from_slice(v);
            }
            self.used = end;
            (start as u32, end as u32)
        });
        self.records.push(RawRecord { partition, offset, timestamp, value });
    }

    /// Appends the records at or after `from` of one record batch of `partition` (`h`,
    /// `bytes`: the whole batch, validated): its records section is decompressed (or copied)
    /// into the buffer whole and the records point into it, so no value is copied on its own.
    /// Returns the offset of the last record appended. A malformed batch appends nothing.
    fn push_batch(
        &mut self,
        partition: i32,
        h: &BatchHeader,
        bytes: &[u8],
        from: i64,
    ) -> Result<Option<i64>, RecordsError> {
        let at = self.used;
        let range = records::decompress_at(h, bytes, &mut self.data, at)?;
        let section = &self.data[range.clone()];
        // A value is a slice of `section`: its place in the buffer is its distance from the
        // section's start.
        let base = section.as_ptr() as usize;
        let first = self.records.len();
        let mut last = None;
        for r in records::records(h, section) {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    self.records.truncate(first);
                    return Err(e);
                }
            };
            if r.offset < from {
                continue;
            }
            let value = r.value.map(|v| {
                let start = at + (v.as_ptr() as usize - base);
                (start as u32, (start + v.len()) as u32)
            });
            self.records.push(RawRecord { partition, offset: r.offset, timestamp: r.timestamp, value });
            last = Some(r.offset);
        }
        if last.is_some() {
            self.used = range.end;
        }
        Ok(last)
    }

    fn bytes(&self) -> usize {
        self.used
    }

    /// Whether the batch goes to the runtime now: `max_records` records or
    /// [`MAX_BATCH_BYTES`] of values.
    fn is_full(&self, max_records: usize) -> bool {
        self.len() >= max_records || self.bytes() >= MAX_BATCH_BYTES
    }
}

/// The pending batch, to be handed over (it comes back to `spares` when dropped); replaced by
/// an empty one with spare buffers, or else buffers a quarter larger than its (rather than
/// growing from nothing).
fn take_batch(pending: &mut RawBatch, spares: &Spares) -> RawBatch {
    let (data, records) = lock(spares).pop().unwrap_or_else(|| {
        let (d, r) = (pending.used, pending.records.len());
        (Vec::with_capacity(d + d / 4), Vec::with_capacity(r + r / 4))
    });
    let mut taken = std::mem::replace(pending, RawBatch { data, used: 0, records, spares: None });
    taken.spares = Some(spares.clone());
    taken
}

/// Longest a revocation waits for the runtime's checkpoint before the partitions go anyway.
pub const HANDOFF_TIMEOUT: Duration = Duration::from_secs(60);

/// What the source tells the runtime.
#[derive(Debug)]
pub enum SourceEvent {
    /// The group gave this instance these partitions (the whole assignment).
    Assigned(Vec<i32>),
    /// The group takes these partitions away. The group's rebalance waits (up to
    /// [`HANDOFF_TIMEOUT`]) until the runtime answers on the channel: it checkpoints first, so
    /// that the next owner starts where this instance's published output ends.
    Revoked(Vec<i32>, Option<std::sync::mpsc::SyncSender<()>>),
    /// Records.
    Records(RawBatch),
    /// Every assigned partition has been read to its end.
    CaughtUp,
    /// The source cannot go on.
    Fatal(String),
}

/// How the source reads.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// `group.instance.id` (static membership).
    pub instance_id: String,
    /// Client settings: bootstrap servers and `-X` overrides.
    pub settings: ClientSettings,
    /// Where to start without a checkpoint or committed offset.
    pub starting: StartingOffsets,
    /// Most records per batch.
    pub max_records: usize,
    /// Most time to wait for a batch to fill.
    pub linger: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    /// Per partition, the next offset to hand to the runtime.
    positions: Mutex<BTreeMap<i32, i64>>,
    /// Per partition, the last stable offset the broker reported (statistics).
    stable: Mutex<BTreeMap<i32, i64>>,
    /// The current assignment.
    assigned: Mutex<Vec<i32>>,
    /// Records polled but not yet handed over.
    pending: Mutex<RawBatch>,
    /// Buffers of batches the runtime is done with.
    spares: Spares,
    /// The last error librdkafka reported.
    last_error: Mutex<Option<String>>,
    /// [`KafkaSource::start_fresh`], until the first assignment.
    fresh: AtomicBool,
    /// The queue the source thread reads; partitions are forwarded to it as they are assigned.
    fetch: Mutex<Option<Arc<FetchQueue>>>,
    /// With sluice's own fetch client: the assignments and revocations for it, in order.
    direct: Mutex<Vec<Change>>,
}

/// A change of what sluice's own fetch client reads.
#[derive(Debug)]
enum Change {
    Assign(Vec<(i32, Start)>),
    Revoke(Vec<i32>),
}

/// Set to `librdkafka` to have librdkafka fetch the records (sluice's own fetch client is used
/// for plaintext connections otherwise).
pub const FETCH_ENV: &str = "SLUICE_FETCH";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The consumer's context: rebalances with the runtime's start offsets, statistics for lag,
/// librdkafka's logs at debug level.
struct SourceContext {
    topic: String,
    /// Where a partition starts without a position of its own (`auto.offset.reset`).
    starting: StartingOffsets,
    shared: Arc<Shared>,
    events: mpsc::Sender<SourceEvent>,
    /// sluice's own fetch client reads the partitions; librdkafka's are paused.
    direct: bool,
}

impl SourceContext {
    /// Sends an event in order. librdkafka runs callbacks on the thread that polls: the
    /// source's thread (blocking send: the runtime must take events in order) or, while the
    /// consumer is dropped, whichever thread drops it (never blocking there).
    fn send(&self, event: SourceEvent) {
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = self.events.try_send(event);
        } else {
            let _ = self.events.blocking_send(event);
        }
    }

    fn flush_pending(&self) {
        let batch = {
            let mut pending = lock(&self.shared.pending);
            if pending.is_empty() {
                return;
            }
            take_batch(&mut pending, &self.shared.spares)
        };
        self.send(SourceEvent::Records(batch));
    }

    /// A job without a checkpoint ([`KafkaSource::start_fresh`]) at its first assignment: the
    /// offsets an earlier run committed are dropped from `committed` and their partitions set
    /// to start at `starting_offsets` (left unset, librdkafka would look the group's offset up
    /// itself).
    fn start_over(&self, committed: &mut BTreeMap<i32, (i64, bool)>, tpl: &mut TopicPartitionList) {
        let earlier: BTreeMap<i32, i64> =
            committed.iter().filter(|(_, (_, ours))| *ours).map(|(&p, &(o, _))| (p, o)).collect();
        if earlier.is_empty() {
            return;
        }
        tracing::warn!(
            topic = %self.topic,
            "the group has offsets an earlier run of this job committed ({earlier:?}) but there is no \
             checkpoint to resume from: starting over at the job's starting_offsets; to resume an \
             earlier run, give this job its [checkpoint] location back"
        );
        committed.retain(|_, (_, ours)| !*ours);
        let start = match self.starting {
            StartingOffsets::Earliest => Offset::Beginning,
            StartingOffsets::Latest => Offset::End,
        };
        for &p in earlier.keys() {
            let _ = tpl.set_partition_offset(&self.topic, p, start);
        }
    }

    /// Where sluice's fetch client starts partition `p` of an assignment: its offset there, else
    /// `starting_offsets`.
    fn start_of(&self, tpl: &TopicPartitionList, p: i32) -> Start {
        let default = match self.starting {
            StartingOffsets::Earliest => Start::Earliest,
            StartingOffsets::Latest => Start::Latest,
        };
        match tpl.find_partition(&self.topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o >= 0 => Start::At(o),
            Some(Offset::Beginning) => Start::Earliest,
            Some(Offset::End) => Start::Latest,
            _ => default,
        }
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        let mut p: Vec<i32> = tpl.elements_for_topic(&self.topic).iter().map(|e| e.partition()).collect();
        p.sort_unstable();
        p
    }
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, "{fac}: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "error: {error}: {reason}");
        *lock(&self.shared.last_error) = Some(reason.to_string());
    }

    fn stats(&self, statistics: Statistics) {
        if self.direct {
            // The fetch client reports the stable offsets; librdkafka's paused partitions do not.
            return;
        }
        if let Some(t) = statistics.topics.get(&self.topic) {
            let mut stable = lock(&self.shared.stable);
            for (p, s) in &t.partitions {
                if *p >= 0 && s.ls_offset >= 0 {
                    stable.insert(*p, s.ls_offset);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts = self.partitions(tpl);
                // A partition starts at the furthest of where this process left it (delivered,
                // or its checkpoint) and the group's committed offset: another instance may
                // have owned it since (scale-out), and offsets only move forward.
                // librdkafka looks the group's offsets up itself when it fetches; sluice's own
                // client must know them: a few more tries before the job stops.
                let tries = if self.direct { 3 } else { 1 };
                let mut read = committed_of(consumer, &self.topic, &parts);
                for _ in 1..tries {
                    if read.is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                    read = committed_of(consumer, &self.topic, &parts);
                }
                let mut committed = match read {
                    Ok(c) => c,
                    Err(e) if self.direct => {
                        self.send(SourceEvent::Fatal(format!(
                            "cannot read the group's committed offsets of topic {}: {e}",
                            self.topic
                        )));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(topic = %self.topic, "cannot read the group's committed offsets at assignment: {e}");
                        BTreeMap::new()
                    }
                };
                if self.shared.fresh.swap(false, Ordering::Relaxed) {
                    self.start_over(&mut committed, tpl);
                }
                {
                    let positions = lock(&self.shared.positions);
                    for &p in &parts {
                        let start = match (positions.get(&p).copied(), committed.get(&p).map(|&(o, _)| o)) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            (a, b) => a.or(b),
                        };
                        if let Some(o) = start {
                            let _ = tpl.set_partition_offset(&self.topic, p, Offset::Offset(o));
                        }
                    }
                }
                // Their records go to the source thread's batch queue (before the assignment, so
                // that librdkafka does not start them on the consumer's queue).
                if let Some(fetch) = lock(&self.shared.fetch).as_ref() {
                    for &p in &parts {
                        fetch.forward(p);
                    }
                }
                if let Err(e) = consumer.assign(tpl) {
                    self.send(SourceEvent::Fatal(format!("cannot take the assigned partitions: {e}")));
                    return;
                }
                if self.direct {
                    // librdkafka keeps the group; sluice's client reads the partitions.
                    if let Err(e) = consumer.pause(tpl) {
                        self.send(SourceEvent::Fatal(format!("cannot pause librdkafka's fetching: {e}")));
                        return;
                    }
                    let starts = parts.iter().map(|&p| (p, self.start_of(tpl, p))).collect();
                    lock(&self.shared.direct).push(Change::Assign(starts));
                }
                let fetched_by = if self.direct { "sluice" } else { "librdkafka" };
                tracing::info!(topic = %self.topic, partitions = ?parts, "partitions assigned (fetched by {fetched_by})");
                *lock(&self.shared.assigned) = parts.clone();
                self.flush_pending();
                self.send(SourceEvent::Assigned(parts));
            }
            _ => {
                if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    tracing::warn!("rebalance error: {}", RDKafkaErrorCode::from(err));
                }
                let parts = self.partitions(tpl);
                // Records polled before the revocation go first.
                self.flush_pending();
                lock(&self.shared.assigned).clear();
                tracing::info!(topic = %self.topic, partitions = ?parts, "partitions revoked");
                if tokio::runtime::Handle::try_current().is_ok() {
                    // The consumer is being closed (the job is stopping): nobody to wait for.
                    self.send(SourceEvent::Revoked(parts.clone(), None));
                } else {
                    // The source thread: hold the rebalance until the runtime has checkpointed.
                    let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
                    self.send(SourceEvent::Revoked(parts.clone(), Some(ack_tx)));
                    if ack_rx.recv_timeout(HANDOFF_TIMEOUT).is_err() {
                        tracing::warn!(topic = %self.topic, partitions = ?parts, "partitions handed over without a checkpoint");
                    }
                }
                {
                    let mut positions = lock(&self.shared.positions);
                    for p in &parts {
                        positions.remove(p);
                    }
                }
                if self.direct {
                    lock(&self.shared.direct).push(Change::Revoke(parts));
                }
                let _ = consumer.unassign();
            }
        }
    }
}

/// The Kafka source of one job.
pub struct KafkaSource {
    consumer: Arc<BaseConsumer<SourceContext>>,
    shared: Arc<Shared>,
    config: SourceConfig,
    /// sluice's own fetch client's settings, when it reads the partitions.
    direct: Option<FetchConfig>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    events: Option<mpsc::Receiver<SourceEvent>>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource").field("topic", &self.config.topic).field("group", &self.config.group).finish()
    }
}

impl KafkaSource {
    /// Creates the consumer (not subscribed yet).
    pub fn create(config: SourceConfig) -> Result<KafkaSource, JobError> {
        let mut s = config.settings.clone();
        for (k, v) in [
            ("group.id", config.group.as_str()),
            ("group.instance.id", config.instance_id.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("isolation.level", "read_committed"),
            ("enable.partition.eof", "true"),
            ("statistics.interval.ms", "1000"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            // librdkafka pauses fetching for fetch.queue.backoff.ms (default 1 s) whenever its
            // queue holds queued.min.messages (100,000); the engine drains that queue in
            // milliseconds, so the default left the job idle most of the time on a backlog
            // (bench/stream: 3M events in 16.8 s instead of 3.4 s at the same CPU).
            ("fetch.queue.backoff.ms", "10"),
            (
                "auto.offset.reset",
                match config.starting {
                    StartingOffsets::Earliest => "earliest",
                    StartingOffsets::Latest => "latest",
                },
            ),
        ] {
            if config.settings.get(k).is_none() {
                s.set(k, v);
            }
        }
        if s.get("client.id").is_none_or(|c| c == "sluice") {
            s.set("client.id", &config.instance_id);
        }
        let reset = match config.starting {
            StartingOffsets::Earliest => Start::Earliest,
            StartingOffsets::Latest => Start::Latest,
        };
        let direct = if std::env::var(FETCH_ENV).is_ok_and(|v| v == "librdkafka") {
            None
        } else {
            FetchConfig::from_settings(&s, &config.topic, s.get("client.id").unwrap_or("sluice"), reset)
        };
        if direct.is_some() {
            // librdkafka's partitions are paused right after they are assigned; a fetch it makes
            // before then brings one batch per partition (Kafka always returns at least one),
            // which the source thread discards.
            s.set("max.partition.fetch.bytes", "1");
        }
        let (tx, rx) = mpsc::channel(EVENTS_CAPACITY);
        let shared = Arc::new(Shared::default());
        let context = SourceContext {
            topic: config.topic.clone(),
            starting: config.starting,
            shared: shared.clone(),
            events: tx,
            direct: direct.is_some(),
        };
        let consumer: BaseConsumer<SourceContext> =
            s.client_config().create_with_context(context).map_err(|e| JobError::Kafka {
                what: format!("the consumer of topic {}", config.topic),
                message: e.to_string(),
                fix: "check the -X key=value settings against librdkafka's CONFIGURATION.md".into(),
            })?;
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            shared,
            config,
            direct,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            events: Some(rx),
        })
    }

    /// The group's committed offsets (and their metadata) for `partitions`.
    pub async fn committed(&self, partitions: &[i32]) -> Result<BTreeMap<i32, (i64, String)>, JobError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&self.config.topic, p);
        }
        let consumer = self.consumer.clone();
        let topic = self.config.topic.clone();
        let group = self.config.group.clone();
        let got = tokio::task::spawn_blocking(move || consumer.committed_offsets(tpl, Duration::from_secs(30)))
            .await
            .map_err(|e| JobError::internal(format!("the offset fetch task failed: {e}")))?
            .map_err(|e| JobError::Kafka {
                what: format!("the committed offsets of group {group} on topic {topic}"),
                message: e.to_string(),
                fix: "check that the broker is up (--bootstrap-servers)".into(),
            })?;
        let mut out = BTreeMap::new();
        for e in got.elements_for_topic(&self.config.topic) {
            if let Offset::Offset(o) = e.offset() {
                out.insert(e.partition(), (o, metadata_of(&e)));
            }
        }
        Ok(out)
    }

    /// Commits `offsets` to the group with the epoch in their metadata (the plain commit made
    /// after a checkpoint when no Kafka transaction carries the offsets).
    pub async fn commit(&self, offsets: &BTreeMap<i32, i64>, epoch: u64) -> Result<(), JobError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let tpl = offsets_tpl(&self.config.topic, offsets, epoch);
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| JobError::internal(format!("the commit task failed: {e}")))?
            .map_err(|e| JobError::Kafka {
                what: format!("the offsets commit of group {}", self.config.group),
                message: e.to_string(),
                fix: "another process may be using the group; give each job its own `group`".into(),
            })
    }

    /// The group metadata a transactional producer needs to commit offsets for this group.
    pub fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        self.consumer.group_metadata()
    }

    /// Per partition, records after the position this process has delivered up to (from the
    /// broker's last stable offsets, refreshed every second).
    pub fn lag(&self, processed: &BTreeMap<i32, i64>) -> Option<i64> {
        let stable = lock(&self.shared.stable);
        let assigned = lock(&self.shared.assigned);
        if stable.is_empty() {
            return None;
        }
        Some(
            assigned
                .iter()
                .filter_map(|p| Some((stable.get(p)? - processed.get(p).copied().unwrap_or(0)).max(0)))
                .sum(),
        )
    }

    /// The last error librdkafka reported (for status and messages).
    pub fn last_error(&self) -> Option<String> {
        lock(&self.shared.last_error).clone()
    }

    /// The job starts without a checkpoint and no other instance shares its partitions: at the
    /// first assignment, offsets an earlier sluice run committed to the group (whose checkpoint,
    /// and so whose state, is gone) are not resumed from; the job starts at its
    /// `starting_offsets`, as Spark starts a query without a checkpoint at its
    /// `startingOffsets`. Offsets committed by anything else (a reset with `sluice groups` or
    /// Kafka's tools) are still where it starts. Call before [`KafkaSource::start`].
    pub fn start_fresh(&self) {
        self.shared.fresh.store(true, Ordering::Relaxed);
    }

    /// Subscribes and starts polling. `positions` are where to resume each partition (the
    /// checkpoint's offsets). Events come from [`KafkaSource::events`].
    pub fn start(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), JobError> {
        lock(&self.shared.positions).clone_from(positions);
        self.consumer.subscribe(&[&self.config.topic]).map_err(|e| JobError::Kafka {
            what: format!("the subscription to topic {}", self.config.topic),
            message: e.to_string(),
            fix: "check the topic name".into(),
        })?;
        let consumer = self.consumer.clone();
        let shared = self.shared.clone();
        let stop = self.stop.clone();
        let config = self.config.clone();
        let direct = self.direct.clone();
        let thread = std::thread::Builder::new()
            .name(format!("source-{}", config.topic))
            .spawn(move || match direct {
                Some(fetch) => direct_loop(&consumer, &shared, &stop, &config, Fetcher::new(fetch)),
                None => poll_loop(&consumer, &shared, &stop, &config),
            })
            .map_err(|e| JobError::internal(format!("cannot start the source thread: {e}")))?;
        self.thread = Some(thread);
        Ok(())
    }

    /// The event channel (taken once).
    pub fn events(&mut self) -> Option<mpsc::Receiver<SourceEvent>> {
        self.events.take()
    }

    /// Stops polling and leaves the subscription (waits for the thread).
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        // Closed on a blocking thread: the close polls and may run callbacks.
        let consumer = self.consumer.clone();
        drop(self);
        let _ = tokio::task::spawn_blocking(move || close(consumer)).await;
    }
}

/// Leaves the group and closes the consumer. rdkafka's `Drop` does the same but waits for the
/// close in polls of 100 ms, and the close often ends without an event to end the poll early:
/// up to 100 ms longer at every stop. Here the polls are short, and bounded in all; `Drop`
/// then finds the consumer closed. One that has not closed by [`CLOSE_TIMEOUT`], or whose
/// callback panicked, is left undropped (its memory and connections go with the process):
/// rdkafka's `Drop` would poll for its close without end, and the job could never stop.
fn close(consumer: Arc<BaseConsumer<SourceContext>>) {
    if consumer.close_queue().is_ok() {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while !consumer.closed() && Instant::now() < deadline {
            // A panic in a callback (a bug) must not unwind into `Drop`'s endless wait either.
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                consumer.poll(CLOSE_POLL);
            }));
            if polled.is_err() {
                break;
            }
        }
        if !consumer.closed() {
            tracing::warn!(
                topic = %consumer.context().topic,
                "the consumer's close did not finish (within {} s, or a callback failed); its group \
                 drops it after the session timeout",
                CLOSE_TIMEOUT.as_secs()
            );
            std::mem::forget(consumer);
        }
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The group's committed offsets of `partitions`, each with whether a sluice run committed it
/// (its metadata names a checkpoint epoch).
fn committed_of(
    consumer: &BaseConsumer<SourceContext>,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, (i64, bool)>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(got
        .elements_for_topic(topic)
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), (o, metadata_of(e).starts_with(EPOCH_METADATA)))),
            _ => None,
        })
        .collect())
}

/// The metadata committed with an offset. rdkafka panics on metadata that is not UTF-8
/// (another client may have committed any bytes): such metadata is not sluice's, so empty.
fn metadata_of(e: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>) -> String {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.metadata().to_string())).unwrap_or_default()
}

/// Offsets with the epoch as metadata.
pub fn offsets_tpl(topic: &str, offsets: &BTreeMap<i32, i64>, epoch: u64) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    let meta = format!("{EPOCH_METADATA}{epoch}");
    for (&p, &o) in offsets {
        let mut e = tpl.add_partition(topic, p);
        let _ = e.set_offset(Offset::Offset(o));
        e.set_metadata(meta.as_str());
    }
    tpl
}

/// Most records one batch read takes from librdkafka.
const READ_BATCH: usize = 1024;
/// How often the assigned partitions are forwarded to the fetch queue again while records flow
/// (librdkafka drops a forward when it stops fetching a partition; see [`FetchQueue`]).
const REFORWARD_EVERY: Duration = Duration::from_millis(100);
/// The longest the source thread waits for records (or, with no partitions, for the group)
/// before it looks at the stop flag again.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// The same wait once every partition has been read to its end.
const CAUGHT_UP_WAIT: Duration = Duration::from_millis(20);
/// The longest a stopping source waits for its consumer to leave the group.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The consumer's close is polled in steps of this.
const CLOSE_POLL: Duration = Duration::from_millis(2);
/// Most bytes of records in one batch handed to the runtime.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// The poll loop's bookkeeping between reads.
struct Reader<'a> {
    ctx: &'a SourceContext,
    shared: &'a Shared,
    config: &'a SourceConfig,
    /// Partitions read to their end (and nothing after).
    at_end: BTreeSet<i32>,
    caught_up_sent: bool,
    topic_warned: bool,
    /// A partition reached its end in the last read: check whether all did.
    check_caught_up: bool,
}

impl<'a> Reader<'a> {
    fn new(ctx: &'a SourceContext, shared: &'a Shared, config: &'a SourceConfig) -> Self {
        Reader {
            ctx,
            shared,
            config,
            at_end: BTreeSet::new(),
            caught_up_sent: false,
            topic_warned: false,
            check_caught_up: false,
        }
    }

    /// Records one record, holding both locks (batch reads take them once).
    // Inlined: the tuple, stored field by field by the caller and read back whole, stalled on
    // store forwarding once per record.
    #[inline(always)]
    fn record(
        &mut self,
        pending: &mut RawBatch,
        positions: &mut BTreeMap<i32, i64>,
        r: (i32, i64, i64, Option<&[u8]>),
    ) {
        let (p, o, ts, value) = r;
        pending.push(p, o, ts, value);
        positions.insert(p, o + 1);
        self.delivered(p);
    }

    /// Records of `partition` were read: it is not at its end (until told again).
    #[inline]
    fn delivered(&mut self, partition: i32) {
        if !self.at_end.is_empty() {
            self.at_end.remove(&partition);
        }
        self.caught_up_sent = false;
    }

    /// An end of partition or an error that is not fatal.
    fn error(&mut self, partition: Option<i32>, code: Option<RDKafkaErrorCode>, e: &dyn std::fmt::Display) {
        match code {
            Some(RDKafkaErrorCode::PartitionEOF) => {
                if let Some(p) = partition {
                    self.at_end.insert(p);
                    self.check_caught_up = true;
                }
            }
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                if !self.topic_warned {
                    tracing::warn!(topic = %self.config.topic, "topic {} does not exist yet; waiting for it", self.config.topic);
                    self.topic_warned = true;
                }
            }
            _ => tracing::debug!(topic = %self.config.topic, "consumer error: {e}"),
        }
    }

    /// After a read: tells the runtime once every assigned partition is at its end (what was
    /// read before goes first).
    fn maybe_caught_up(&mut self) -> bool {
        if !std::mem::take(&mut self.check_caught_up) || self.caught_up_sent {
            return false;
        }
        let assigned = lock(&self.shared.assigned).clone();
        if !assigned.is_empty() && assigned.iter().all(|a| self.at_end.contains(a)) {
            self.ctx.flush_pending();
            self.ctx.send(SourceEvent::CaughtUp);
            self.caught_up_sent = true;
            return true;
        }
        false
    }
}

/// The fetcher's records into the pending batch.
struct Collect<'r, 'a> {
    reader: &'r mut Reader<'a>,
    pending: &'r mut RawBatch,
    positions: &'r mut BTreeMap<i32, i64>,
    /// Records collected.
    records: usize,
}

impl Handler for Collect<'_, '_> {
    /// A batch's records section goes into the pending batch whole (see
    /// [`RawBatch::push_batch`]). One response holds up to fetch.max.bytes: the runtime gets it
    /// in batches of `max_records` (rounded up to whole record batches) rather than as one
    /// (batches of a million records had the allocator map and zero fresh pages for each).
    fn batch(&mut self, partition: i32, h: &BatchHeader, bytes: &[u8], from: i64) -> Result<(), RecordsError> {
        let before = self.pending.len();
        let Some(last) = self.pending.push_batch(partition, h, bytes, from)? else { return Ok(()) };
        self.positions.insert(partition, last + 1);
        self.reader.delivered(partition);
        self.records += self.pending.len() - before;
        if self.pending.is_full(self.reader.config.max_records) {
            self.reader.ctx.send(SourceEvent::Records(take_batch(self.pending, &self.reader.shared.spares)));
        }
        Ok(())
    }

    fn end(&mut self, partition: i32) {
        self.reader.error(Some(partition), Some(RDKafkaErrorCode::PartitionEOF), &"end of partition");
    }
}

fn poll_loop(consumer: &BaseConsumer<SourceContext>, shared: &Shared, stop: &AtomicBool, config: &SourceConfig) {
    let ctx = consumer.context().clone();
    let Some(fetch) = FetchQueue::new(consumer.client(), &config.topic).map(Arc::new) else {
        ctx.send(SourceEvent::Fatal(format!("reading topic {}: librdkafka gave the consumer no queue", config.topic)));
        return;
    };
    *lock(&shared.fetch) = Some(fetch.clone());
    let mut fetched = Fetched::default();
    let mut reader = Reader::new(&ctx, shared, config);
    // When the first record of the pending batch came (the batch goes at `linger` after it).
    let mut started: Option<Instant> = None;
    let mut forwarded = Instant::now();
    let mut last_read = Instant::now();
    'poll: while !stop.load(Ordering::Relaxed) {
        // The group's events (rebalances run their callbacks here) and errors; records only
        // if librdkafka queued some before their partition was forwarded.
        for _ in 0..8 {
            match consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) => {
                    let ts = m.timestamp().to_millis().unwrap_or(-1);
                    let (mut pending, mut positions) = (lock(&shared.pending), lock(&shared.positions));
                    reader.record(&mut pending, &mut positions, (m.partition(), m.offset(), ts, m.payload()));
                    started.get_or_insert_with(Instant::now);
                }
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    ctx.send(SourceEvent::Fatal(format!("reading topic {}: {code}", config.topic)));
                    break 'poll;
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    reader.error(Some(p), Some(RDKafkaErrorCode::PartitionEOF), &"end of partition");
                }
                Some(Err(e)) => {
                    reader.error(None, e.rdkafka_error_code(), &e);
                }
            }
        }
        if reader.maybe_caught_up() {
            started = None;
        }
        let now = Instant::now();
        let (timeout, max) = match started {
            // Waiting for a first record: the read returns with it.
            None => (Duration::from_millis(100), 1),
            Some(s) => {
                let room = config.max_records.saturating_sub(lock(&shared.pending).len()).max(1);
                (config.linger.saturating_sub(now.duration_since(s)), room.min(READ_BATCH))
            }
        };
        let n = fetch.consume(timeout, max, &mut fetched);
        if n == 0 || now.duration_since(forwarded) >= REFORWARD_EVERY {
            let assigned = lock(&shared.assigned).clone();
            for p in assigned {
                fetch.forward(p);
            }
            forwarded = now;
        }
        let mut full = false;
        let mut fatal = None;
        let mut records = 0;
        if n > 0 {
            let (mut pending, mut positions) = (lock(&shared.pending), lock(&shared.positions));
            for r in fetched.iter() {
                match r.error {
                    None => {
                        reader.record(
                            &mut pending,
                            &mut positions,
                            (r.partition, r.offset, r.timestamp.unwrap_or(-1), r.value),
                        );
                        records += 1;
                    }
                    Some(RDKafkaErrorCode::Fatal) => fatal = Some(RDKafkaErrorCode::Fatal),
                    Some(code) => reader.error(Some(r.partition), Some(code), &code),
                }
            }
            if records > 0 && started.is_none() {
                started = Some(Instant::now());
            }
            full = pending.is_full(config.max_records);
        }
        fetched.clear();
        trim_spares(&shared.spares, records, &mut last_read);
        if let Some(code) = fatal {
            ctx.flush_pending();
            ctx.send(SourceEvent::Fatal(format!("reading topic {}: {code}", config.topic)));
            break;
        }
        if reader.maybe_caught_up() {
            started = None;
        }
        if full || started.is_some_and(|s| s.elapsed() >= config.linger) {
            ctx.flush_pending();
            started = None;
        }
    }
    lock(&shared.fetch).take();
    drop(fetched);
    drop(fetch);
    consumer.unsubscribe();
}

/// The source thread with sluice's own fetch client: librdkafka serves the group (polled
/// between fetches: rebalances run their callbacks here, which queue the fetcher's changes).
fn direct_loop(
    consumer: &BaseConsumer<SourceContext>,
    shared: &Shared,
    stop: &AtomicBool,
    config: &SourceConfig,
    mut fetcher: Fetcher,
) {
    let ctx = consumer.context().clone();
    let mut reader = Reader::new(&ctx, shared, config);
    let mut started: Option<Instant> = None;
    let mut last_read = Instant::now();
    'poll: while !stop.load(Ordering::Relaxed) {
        // Up to 8 events; records librdkafka fetched before its partitions were paused are
        // discarded without counting (a rebalance queued behind them must not wait).
        // With no partitions, the wait is for the group: librdkafka returns from this poll as
        // soon as an assignment's callback has run.
        let idle = fetcher.is_idle();
        let (mut events, mut discarded) = (0, 0);
        while events < 8 && discarded < 100_000 {
            let wait = if idle && events == 0 && discarded == 0 { IDLE_WAIT } else { Duration::ZERO };
            match consumer.poll(wait) {
                None => break,
                Some(Ok(_) | Err(KafkaError::PartitionEOF(_))) => {
                    discarded += 1;
                    continue;
                }
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    ctx.send(SourceEvent::Fatal(format!("reading topic {}: {code}", config.topic)));
                    break 'poll;
                }
                Some(Err(e)) => reader.error(None, e.rdkafka_error_code(), &e),
            }
            events += 1;
        }
        for change in std::mem::take(&mut *lock(&shared.direct)) {
            match change {
                Change::Assign(starts) => fetcher.assign(&starts),
                Change::Revoke(parts) => {
                    fetcher.revoke(&parts);
                    for p in &parts {
                        reader.at_end.remove(p);
                    }
                }
            }
        }
        if reader.maybe_caught_up() {
            started = None;
        }
        let timeout = match started {
            // No partitions: the wait was in the consumer's poll above.
            None if idle => Duration::ZERO,
            // Caught up, the job may be about to stop (`--available-now`): it waits for this
            // thread, which sees the stop flag only between fetch waits.
            None if reader.caught_up_sent => CAUGHT_UP_WAIT,
            None => IDLE_WAIT,
            Some(s) => config.linger.saturating_sub(s.elapsed()),
        };
        let (result, records, full) = {
            let (mut pending, mut positions) = (lock(&shared.pending), lock(&shared.positions));
            let mut collect =
                Collect { reader: &mut reader, pending: &mut pending, positions: &mut positions, records: 0 };
            let result = fetcher.poll(timeout, &mut collect);
            let records = collect.records;
            (result, records, pending.is_full(config.max_records))
        };
        trim_spares(&shared.spares, records, &mut last_read);
        lock(&shared.stable).clone_from(fetcher.stable());
        if let Some(e) = fetcher.last_error() {
            let mut last = lock(&shared.last_error);
            if last.as_deref() != Some(e) {
                *last = Some(e.to_string());
            }
        }
        if let Err(e) = result {
            ctx.flush_pending();
            ctx.send(SourceEvent::Fatal(format!("reading topic {}: {e}", config.topic)));
            break;
        }
        if records > 0 && started.is_none() {
            started = Some(Instant::now());
        }
        if reader.maybe_caught_up() {
            started = None;
        }
        if full || started.is_some_and(|s| s.elapsed() >= config.linger) {
            ctx.flush_pending();
            started = None;
        }
    }
    consumer.unsubscribe();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_values_apart() {
        let mut b = RawBatch::default();
        b.push(0, 5, 10, Some(b"abc"));
        b.push(1, 7, 11, None);
        b.push(0, 6, 12, Some(b""));
        assert_eq!(b.len(), 3);
        assert_eq!(b.value(0), Some(&b"abc"[..]));
        assert_eq!(b.value(1), None);
        assert_eq!(b.value(2), Some(&b""[..]));
        assert_eq!(b.value(3), None);
        assert_eq!(b.record(1).offset, 7);
    }

    #[test]
    fn a_record_batch_goes_in_whole_and_its_records_point_into_it() {
        use sluice_wire::batch::{build, validate};
        let recs = [
            (Some(&b"k"[..]), Some(&b"first"[..]), 10),
            (None, None, 11),
            (None, Some(&b""[..]), 12),
            (None, Some(&b"last"[..]), 13),
        ];
        let bytes = build(100, &recs, (-1, -1, -1), 0);
        let h = validate(&bytes).unwrap();
        // A reused buffer: stale bytes past what the batch uses are written over.
        let mut b = RawBatch { data: vec![0xEE; 64], used: 0, records: Vec::new(), spares: None };
        b.push(2, 7, 1, Some(b"before"));
        // Offset 100 is before `from`: left out.
        assert_eq!(b.push_batch(0, &h, &bytes, 101).unwrap(), Some(103));
        assert_eq!(b.len(), 4);
        assert_eq!(b.value(0), Some(&b"before"[..]));
        assert_eq!((b.record(1).offset, b.record(1).timestamp, b.value(1)), (101, 11, None));
        assert_eq!(b.value(2), Some(&b""[..]));
        assert_eq!((b.record(3).partition, b.record(3).offset, b.value(3)), (0, 103, Some(&b"last"[..])));
        let used = b.bytes();
        // Nothing at or after `from`, or a malformed batch: nothing appended.
        assert_eq!(b.push_batch(0, &h, &bytes, 104).unwrap(), None);
        let mut bad = h;
        bad.records_count = 9;
        assert!(b.push_batch(0, &bad, &bytes, 0).is_err());
        assert_eq!((b.len(), b.bytes()), (4, used));
        b.push(1, 1, 1, Some(b"after"));
        assert_eq!((b.value(3), b.value(4)), (Some(&b"last"[..]), Some(&b"after"[..])));
    }

    #[test]
    fn a_dropped_batch_gives_its_buffers_to_the_next_one_and_nothing_of_its_records() {
        let spares = Spares::default();
        let mut pending = RawBatch::default();
        pending.push(0, 1, 10, Some(&[7u8; 1000]));
        pending.push(0, 2, 11, None);
        let first = take_batch(&mut pending, &spares);
        assert_eq!((first.len(), first.value(0).map(<[u8]>::len)), (2, Some(1000)));
        // The pending batch starts with room for a batch like the last one.
        assert!(pending.is_empty() && pending.data.capacity() >= 1000 && pending.records.capacity() >= 2);
        let buffer = first.data.as_ptr();
        drop(first);
        assert_eq!(lock(&spares).len(), 1);
        // The next pending batch takes the spare buffers, empty.
        pending.push(1, 3, 12, Some(b"x"));
        let second = take_batch(&mut pending, &spares);
        assert_eq!(pending.data.as_ptr(), buffer, "the dropped batch's buffer is reused");
        assert!(pending.is_empty() && pending.bytes() == 0);
        assert_eq!((second.len(), second.value(0), second.record(0).offset), (1, Some(&b"x"[..]), 3));
        drop(second);
        // At most MAX_SPARES are kept; an empty flush keeps none.
        for _ in 0..MAX_SPARES + 2 {
            let mut b = RawBatch::default();
            b.spares = Some(spares.clone());
            b.push(0, 0, 0, Some(b"y"));
            drop(b);
        }
        assert_eq!(lock(&spares).len(), MAX_SPARES);
        let before = lock(&spares).len();
        let mut empty = RawBatch::default();
        empty.spares = Some(spares.clone());
        drop(empty);
        assert_eq!(lock(&spares).len(), before);
        // A source reading records keeps them; one idle for SPARES_IDLE keeps one.
        let mut last = Instant::now() - SPARES_IDLE;
        trim_spares(&spares, 3, &mut last);
        trim_spares(&spares, 0, &mut last);
        assert_eq!(lock(&spares).len(), MAX_SPARES);
        last = Instant::now() - SPARES_IDLE;
        trim_spares(&spares, 0, &mut last);
        assert_eq!(lock(&spares).len(), 1);
    }

    #[test]
    fn epoch_metadata_goes_with_offsets() {
        let tpl = offsets_tpl("t", &BTreeMap::from([(0, 10), (2, 7)]), 4);
        let e = tpl.elements();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].offset(), Offset::Offset(7));
        assert_eq!(e[0].metadata(), "sluice epoch=4");
    }
}
