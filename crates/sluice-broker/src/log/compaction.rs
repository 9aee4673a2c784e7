//! Log compaction (`cleanup.policy=compact`), the part shared by both engines: when a log is due,
//! which records a round keeps, how a batch is rewritten, and the driver that runs a round
//! without holding the partition lock for its duration.
//!
//! # A cleaning round, as Kafka's log cleaner does it
//! - Only closed segments are cleaned; the active segment never is. The *clean offset* (Kafka's
//!   cleaner checkpoint) splits them into the clean part, already cleaned, and the dirty part
//!   after it. A segment whose largest timestamp is newer than `min.compaction.lag.ms` ends the
//!   cleanable range (it and everything after it wait).
//! - A log is due when its dirty bytes over clean plus dirty bytes exceed
//!   `min.cleanable.dirty.ratio`, when its first dirty batch is older than
//!   `max.compaction.lag.ms`, or when a tombstone's delete horizon has passed.
//! - The *offset map* (key → offset of its latest record) is built from the dirty part, up to
//!   [`CleanConfig::max_map_bytes`] (the last segment that crosses the limit is still taken whole;
//!   the range ends after it, the rest waits for the next round).
//! - Every closed segment below the end of the mapped range is then rewritten: a record is kept
//!   when it is the latest of its key. A tombstone (null value) is kept until its batch's *delete
//!   horizon*: the first round that keeps it stamps the horizon `now + delete.retention.ms` into
//!   the batch (KIP-534: attribute bit 0x40, the base timestamp holds the horizon and the
//!   records' timestamp deltas are re-encoded against it); a round after the horizon drops it.
//!   Records without a key are dropped, as Kafka drops them (a compacted topic refuses them on
//!   produce, see [`keyless_records`]).
//! - A rewritten batch keeps its base offset, last offset delta, producer id, epoch and base
//!   sequence (as Kafka's `MemoryRecords.filterTo` does): the sequence of every kept record is
//!   still base sequence + offset delta and the last sequence is unchanged, so idempotent producer
//!   state recovered from the log stays right without adjusting anything. Offsets of kept records
//!   never change; gaps appear where records went. The compression codec is kept, kept records'
//!   bytes are copied as they are (headers included). A batch emptied completely is dropped,
//!   except the last batch of each producer id in the round, kept empty so that the producer's
//!   last sequence survives (Kafka's `RETAIN_EMPTY`).
//! - Transactional batches and control batches (transaction markers) are kept as they are and
//!   their records do not enter the offset map, so they never remove older records either.
//!   Removing aborted transactions and markers is left for later (it needs the transaction
//!   index).
//! - A batch whose records cannot be decoded (unknown codec, corrupt or oversized compressed
//!   data, malformed records) is kept untouched with a warning: a decode problem never loses
//!   data.
//! - Consecutive cleaned segments are merged while the result stays within `segment.bytes`; a
//!   merged segment is named after its first segment, so segment base offsets do not move.
//!
//! # Locking
//! [`clean_partition`] takes the partition lock twice, briefly: to plan (which segments, the
//! clean offset, a handle on each closed segment) and to swap the result in. Reading segments,
//! building the map and writing the cleaned segments happens in between without the lock, so
//! produce and fetch go on; closed segments are immutable. If the segments changed meanwhile
//! (retention, DeleteRecords, topic deletion) the swap is abandoned and the cleaned files
//! removed. How the file engine swaps crash-safely is described in [`super::file`].

use super::{LogError, PartitionLog};
use crate::topic_config;
use sluice_wire::batch::{self, BatchHeader, HEADER_LEN, attributes};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Attribute bit of a batch whose base timestamp is its delete horizon (KIP-534).
pub const DELETE_HORIZON: i16 = 0x40;

pub use sluice_wire::records::{MAX_DECOMPRESSED_BYTES, RecordsError};
use sluice_wire::records::{Reader, decompress};

/// Largest offset span of one segment (relative offsets in the indexes are u32).
const MAX_SEGMENT_SPAN: i64 = i32::MAX as i64;

/// The topic settings a cleaning round follows, by their Kafka names.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanConfig {
    /// How long a tombstone is kept after the round that first kept it (`delete.retention.ms`).
    pub delete_retention_ms: i64,
    /// Dirty bytes over all cleanable bytes above which a log is cleaned
    /// (`min.cleanable.dirty.ratio`).
    pub min_cleanable_dirty_ratio: f64,
    /// A segment whose largest timestamp is newer than this is not cleaned yet
    /// (`min.compaction.lag.ms`).
    pub min_compaction_lag_ms: i64,
    /// A log whose first dirty batch is older than this is cleaned whatever its dirty ratio
    /// (`max.compaction.lag.ms`).
    pub max_compaction_lag_ms: i64,
    /// Memory for the offset map of one round, about (`log.cleaner.dedupe.buffer.size`).
    pub max_map_bytes: usize,
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig {
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            max_map_bytes: 128 << 20,
        }
    }
}

impl CleanConfig {
    /// The settings of a topic from its overrides and the broker's defaults (Kafka's defaults
    /// when a value is missing or malformed).
    pub fn from_topic(overrides: &BTreeMap<String, String>, defaults: &BTreeMap<String, String>) -> Self {
        let d = CleanConfig::default();
        let int = |name, fallback| topic_config::int_of(overrides, defaults, name, fallback);
        let ratio = topic_config::effective(overrides, defaults, "min.cleanable.dirty.ratio")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|r| r.is_finite())
            .unwrap_or(d.min_cleanable_dirty_ratio);
        CleanConfig {
            delete_retention_ms: int("delete.retention.ms", d.delete_retention_ms).max(0),
            min_cleanable_dirty_ratio: ratio,
            min_compaction_lag_ms: int("min.compaction.lag.ms", d.min_compaction_lag_ms).max(0),
            max_compaction_lag_ms: int("max.compaction.lag.ms", d.max_compaction_lag_ms).max(1),
            max_map_bytes: d.max_map_bytes,
        }
    }
}

/// How long the active segment may stay open (`segment.ms`): for compacted topics at most
/// `max.compaction.lag.ms`, so that records become cleanable in time (Kafka's
/// `LogConfig.maxSegmentMs`, KIP-354).
pub fn roll_ms(overrides: &BTreeMap<String, String>, defaults: &BTreeMap<String, String>) -> i64 {
    let segment_ms = topic_config::int_of(overrides, defaults, "segment.ms", 604_800_000);
    let policy = topic_config::effective(overrides, defaults, "cleanup.policy").unwrap_or("delete");
    let max_lag = topic_config::int_of(overrides, defaults, "max.compaction.lag.ms", i64::MAX);
    if is_compacted(policy) && max_lag > 0 { segment_ms.min(max_lag) } else { segment_ms }
}

/// Whether a `cleanup.policy` value includes compaction (`compact` or `compact,delete`).
pub fn is_compacted(cleanup_policy: &str) -> bool {
    cleanup_policy.split(',').any(|p| p.trim() == "compact")
}

/// What one round did to one log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Segments rewritten.
    pub segments_before: u64,
    /// Segments they became.
    pub segments_after: u64,
    /// Bytes of the rewritten segments before.
    pub bytes_before: u64,
    /// Their bytes after.
    pub bytes_after: u64,
    /// Records removed (superseded, expired tombstones, without a key).
    pub records_removed: u64,
    /// Of those, tombstones removed after their delete horizon.
    pub tombstones_removed: u64,
    /// Batches written anew (fewer records or a delete horizon stamped).
    pub batches_rewritten: u64,
    /// Batches dropped whole.
    pub batches_removed: u64,
    /// Batches kept untouched because their records could not be decoded.
    pub undecodable_batches: u64,
    /// The clean offset after the round: everything below it is cleaned.
    pub clean_offset: i64,
}

/// The result of [`clean_partition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanOutcome {
    /// Nothing to do: not dirty enough, nothing closed, or a round already running.
    Idle,
    /// The log was cleaned.
    Cleaned(CleanStats),
    /// The log changed while the round ran (why); nothing was changed, the next round retries.
    Abandoned(String),
}

/// A round planned under the lock: run it with [`CleanJob::run`] (no lock), then hand the result
/// to [`PartitionLog::commit_clean`] (under the lock).
#[derive(Debug)]
pub enum CleanJob {
    /// Of the memory engine.
    Memory(super::memory::MemoryCleanJob),
    /// Of the file engine.
    File(super::file::FileCleanJob),
}

/// The result of [`CleanJob::run`], waiting to be swapped in.
#[derive(Debug)]
pub enum CleanOutput {
    /// Of the memory engine.
    Memory(super::memory::MemoryCleanOutput),
    /// Of the file engine.
    File(super::file::FileCleanOutput),
}

impl CleanJob {
    /// The heavy part of a round: reads the planned segments, builds the offset map and writes
    /// the cleaned segments. Runs without the partition lock.
    pub fn run(self) -> Result<CleanOutput, LogError> {
        self.run_observed(&mut |_| {})
    }

    /// [`CleanJob::run`], calling `on_segment(i)` before the `i`-th segment is rewritten (tests
    /// use it to act while a round is in progress).
    pub fn run_observed(self, on_segment: &mut dyn FnMut(usize)) -> Result<CleanOutput, LogError> {
        match self {
            CleanJob::Memory(j) => Ok(CleanOutput::Memory(j.run(on_segment)?)),
            CleanJob::File(j) => Ok(CleanOutput::File(j.run(on_segment)?)),
        }
    }
}

/// Runs one cleaning round of the log inside `state` (reached with `log`), taking the lock only
/// to plan and to swap. `now` is the current time in ms since the epoch.
pub fn clean_partition<S>(
    state: &Mutex<S>,
    log: impl Fn(&mut S) -> &mut PartitionLog,
    config: &CleanConfig,
    now: i64,
) -> Result<CleanOutcome, LogError> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let job = log(&mut lock()).prepare_clean(config, now)?;
    let Some(job) = job else { return Ok(CleanOutcome::Idle) };
    let output = job.run()?;
    log(&mut lock()).commit_clean(output)
}

/// Marks a log as having a round in progress; cleared when the job or its output is dropped.
#[derive(Debug)]
pub(crate) struct Busy(Arc<AtomicBool>);

impl Busy {
    /// Claims `flag`; `None` when a round is already in progress.
    pub(crate) fn claim(flag: &Arc<AtomicBool>) -> Option<Busy> {
        (!flag.swap(true, Ordering::AcqRel)).then(|| Busy(flag.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

// --- planning ------------------------------------------------------------------------------

/// What planning needs to know about one closed segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentInfo {
    /// Base offset.
    pub(crate) base: i64,
    /// Bytes.
    pub(crate) size: u64,
    /// Largest timestamp, `None` when empty.
    pub(crate) max_ts: Option<i64>,
}

/// A round decided by [`plan`].
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Closed segments taking part (live ones below the uncleanable offset), as indexes into the
    /// slice given to [`plan`].
    pub(crate) segments: Range<usize>,
    /// First offset not yet cleaned.
    pub(crate) first_dirty: i64,
    /// Where cleaning must stop (active segment, or a segment within the minimum lag).
    pub(crate) uncleanable: i64,
    /// Why the round runs, for the log line.
    pub(crate) reason: &'static str,
}

/// The log-level state planning reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogView {
    /// Base offset of the active segment.
    pub(crate) active_base: i64,
    /// Log start offset.
    pub(crate) start: i64,
    /// The clean offset recorded by the last round.
    pub(crate) clean_offset: i64,
    /// Earliest delete horizon among the kept tombstones.
    pub(crate) next_horizon: Option<i64>,
}

/// Decides whether a round is due and over which segments. `closed` are the closed segments,
/// oldest first; `first_timestamp(i)` is the first batch timestamp of `closed[i]`.
pub(crate) fn plan(
    closed: &[SegmentInfo],
    view: LogView,
    config: &CleanConfig,
    now: i64,
    first_timestamp: impl FnOnce(usize) -> Option<i64>,
) -> Option<Plan> {
    let end_of = |i: usize| closed.get(i + 1).map_or(view.active_base, |s| s.base);
    let first = (0..closed.len()).find(|&i| end_of(i) > view.start)?;
    let first_dirty = view.clean_offset.max(view.start).min(view.active_base);
    let mut uncleanable = view.active_base;
    if config.min_compaction_lag_ms > 0 {
        let newest_allowed = now.saturating_sub(config.min_compaction_lag_ms);
        if let Some(i) = (first..closed.len())
            .find(|&i| end_of(i) > first_dirty && closed[i].max_ts.is_some_and(|t| t > newest_allowed))
        {
            uncleanable = closed[i].base;
        }
    }
    let last = (first..closed.len()).take_while(|&i| closed[i].base < uncleanable).last()?;
    let segments = first..last + 1;
    let (mut clean, mut dirty, mut first_dirty_segment) = (0u64, 0u64, None);
    for i in segments.clone() {
        if end_of(i) > first_dirty && closed[i].base < uncleanable && uncleanable > first_dirty {
            dirty += closed[i].size;
            first_dirty_segment.get_or_insert(i);
        } else {
            clean += closed[i].size;
        }
    }
    let ratio = if clean + dirty == 0 { 0.0 } else { dirty as f64 / (clean + dirty) as f64 };
    let reason = if dirty > 0 && ratio > config.min_cleanable_dirty_ratio {
        "dirty ratio"
    } else if dirty > 0
        && config.max_compaction_lag_ms < i64::MAX
        && first_dirty_segment
            .and_then(first_timestamp)
            .is_some_and(|ts| ts >= 0 && now.saturating_sub(ts) > config.max_compaction_lag_ms)
    {
        "max.compaction.lag.ms"
    } else if view.next_horizon.is_some_and(|h| h <= now) && clean > 0 {
        "tombstones past delete.retention.ms"
    } else {
        return None;
    };
    Some(Plan { segments, first_dirty, uncleanable, reason })
}

// --- the heavy part of a round ---------------------------------------------------------------

/// The closed segments of a planned round, as the engine gives access to them.
pub(crate) trait RoundSegments {
    /// Number of segments.
    fn count(&self) -> usize;
    /// Base offset, size and end (the next segment's base, or the uncleanable offset) of `i`.
    fn info(&self, i: usize) -> (i64, u64, i64);
    /// Visits the batches of segment `i`, oldest first.
    fn visit(&self, i: usize, f: &mut BatchVisitor<'_>) -> Result<(), LogError>;
    /// Visits only the batch headers of segment `i` (cheaper: no data read).
    fn visit_headers(&self, i: usize, f: &mut dyn FnMut(&BatchHeader)) -> Result<(), LogError>;
}

/// Where a round writes the cleaned segments.
pub(crate) trait RoundSink {
    /// Starts a cleaned segment replacing `old` segments, named after `base`.
    fn begin(&mut self, base: i64, old: Range<usize>) -> Result<(), LogError>;
    /// Appends a batch to the current cleaned segment.
    fn batch(&mut self, header: &BatchHeader, bytes: &[u8]) -> Result<(), LogError>;
    /// Ends the current cleaned segment.
    fn end(&mut self) -> Result<(), LogError>;
}

/// What [`run_round`] decided.
#[derive(Debug, Clone)]
pub(crate) struct RoundResult {
    /// The new clean offset: the end of the mapped dirty range.
    pub(crate) clean_offset: i64,
    /// Earliest delete horizon among the tombstones kept.
    pub(crate) next_horizon: Option<i64>,
    /// Counters.
    pub(crate) stats: CleanStats,
}

/// The parameters of a planned round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round<'a> {
    /// What [`plan`] decided.
    pub(crate) plan: &'a Plan,
    /// The log start offset at planning.
    pub(crate) start: i64,
    /// The topic's settings.
    pub(crate) config: &'a CleanConfig,
    /// The time of the round.
    pub(crate) now: i64,
    /// Largest size of a merged segment.
    pub(crate) cap: u64,
}

/// Visits one batch: its header and bytes.
pub(crate) type BatchVisitor<'a> = dyn FnMut(&BatchHeader, &[u8]) -> Result<(), LogError> + 'a;

/// Runs a planned round over `segments` into `sink`.
pub(crate) fn run_round(
    segments: &dyn RoundSegments,
    round: Round<'_>,
    sink: &mut dyn RoundSink,
    on_segment: &mut dyn FnMut(usize),
) -> Result<RoundResult, LogError> {
    let Round { plan, start, config, now, cap } = round;
    let n = segments.count();
    let mut cleaner = Cleaner::new(config, now, start, plan.first_dirty);

    // The offset map, from the dirty segments (whole segments, up to about max_map_bytes).
    let mut clean_offset = plan.first_dirty;
    let mut rewrite = 0;
    for i in 0..n {
        let (_, _, end) = segments.info(i);
        if end > plan.first_dirty {
            if cleaner.map.bytes >= config.max_map_bytes && clean_offset > plan.first_dirty {
                break;
            }
            segments.visit(i, &mut |h, bytes| {
                cleaner.index(h, bytes);
                Ok(())
            })?;
            clean_offset = end.min(plan.uncleanable);
        }
        rewrite = i + 1;
    }

    // The last batch of each producer id in the range, kept even when emptied.
    for i in 0..rewrite {
        segments.visit_headers(i, &mut |h| {
            if h.producer_id >= 0 && !h.is_control() && h.last_offset() >= start {
                cleaner.last_of_producer.insert(h.producer_id, h.last_offset());
            }
        })?;
    }

    // Rewrite, merging consecutive segments while they fit in one.
    let mut i = 0;
    while i < rewrite {
        let (base, size, _) = segments.info(i);
        let (mut total, mut j) = (size, i + 1);
        while j < rewrite {
            let (_, next_size, next_end) = segments.info(j);
            if total + next_size > cap || next_end - 1 - base > MAX_SEGMENT_SPAN {
                break;
            }
            total += next_size;
            j += 1;
        }
        sink.begin(base, i..j)?;
        for k in i..j {
            on_segment(k);
            let (_, size, _) = segments.info(k);
            cleaner.stats.bytes_before += size;
            segments.visit(k, &mut |h, bytes| match cleaner.filter(h, bytes) {
                Verdict::Keep => {
                    cleaner.stats.bytes_after += bytes.len() as u64;
                    sink.batch(h, bytes)
                }
                Verdict::Drop => {
                    cleaner.stats.batches_removed += 1;
                    Ok(())
                }
                Verdict::Replace(new) => {
                    cleaner.stats.batches_rewritten += 1;
                    cleaner.stats.bytes_after += new.len() as u64;
                    let header = batch::validate(&new)?;
                    sink.batch(&header, &new)
                }
            })?;
        }
        sink.end()?;
        cleaner.stats.segments_before += (j - i) as u64;
        cleaner.stats.segments_after += 1;
        i = j;
    }
    let mut stats = cleaner.stats;
    stats.clean_offset = clean_offset;
    Ok(RoundResult { clean_offset, next_horizon: cleaner.next_horizon, stats })
}

/// The key → latest offset map of a round.
#[derive(Debug, Default)]
struct OffsetMap {
    latest: HashMap<Vec<u8>, i64>,
    /// Approximate memory held.
    bytes: usize,
}

/// Per-entry overhead counted on top of the key.
const MAP_ENTRY_OVERHEAD: usize = 48;

impl OffsetMap {
    fn insert(&mut self, key: &[u8], offset: i64) {
        match self.latest.get_mut(key) {
            Some(o) => *o = (*o).max(offset),
            None => {
                self.bytes += key.len() + MAP_ENTRY_OVERHEAD;
                self.latest.insert(key.to_vec(), offset);
            }
        }
    }
}

enum Verdict {
    Keep,
    Drop,
    Replace(Vec<u8>),
}

struct Cleaner<'a> {
    config: &'a CleanConfig,
    now: i64,
    start: i64,
    first_dirty: i64,
    map: OffsetMap,
    last_of_producer: HashMap<i64, i64>,
    next_horizon: Option<i64>,
    stats: CleanStats,
}

/// The delete horizon stamped in a batch, if any.
fn horizon_of(h: &BatchHeader) -> Option<i64> {
    (h.attributes & DELETE_HORIZON != 0).then_some(h.base_timestamp)
}

impl<'a> Cleaner<'a> {
    fn new(config: &'a CleanConfig, now: i64, start: i64, first_dirty: i64) -> Self {
        Cleaner {
            config,
            now,
            start,
            first_dirty,
            map: OffsetMap::default(),
            last_of_producer: HashMap::new(),
            next_horizon: None,
            stats: CleanStats::default(),
        }
    }

    /// Adds the keys of a dirty batch to the map.
    fn index(&mut self, h: &BatchHeader, bytes: &[u8]) {
        if h.last_offset() < self.first_dirty || h.is_control() || h.is_transactional() {
            return;
        }
        let data = match decompress(h, bytes) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(base_offset = h.base_offset, error = %e,
                    "log cleaner: cannot decode a batch; its records are kept as they are");
                return;
            }
        };
        let Ok(records) = parse_records(h, &data) else { return };
        for r in records {
            if let Some(key) = r.key
                && r.offset >= self.first_dirty
            {
                self.map.insert(key, r.offset);
            }
        }
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.next_horizon = Some(self.next_horizon.map_or(horizon, |h| h.min(horizon)));
    }

    fn filter(&mut self, h: &BatchHeader, bytes: &[u8]) -> Verdict {
        if h.last_offset() < self.start {
            return Verdict::Drop;
        }
        if h.is_control() || h.is_transactional() {
            return Verdict::Keep;
        }
        let records = match decompress(h, bytes).and_then(|data| {
            let records = parse_records(h, &data)?;
            Ok(records.iter().map(OwnedRecord::from).collect::<Vec<_>>())
        }) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(base_offset = h.base_offset, error = %e,
                    "log cleaner: cannot decode a batch; keeping it as it is");
                self.stats.undecodable_batches += 1;
                return Verdict::Keep;
            }
        };
        let horizon = horizon_of(h);
        let mut kept = Vec::with_capacity(records.len());
        let mut tombstones = false;
        for r in &records {
            let latest =
                r.key.as_deref().is_some_and(|k| self.map.latest.get(k).is_none_or(|&latest| r.offset >= latest));
            let live = r.has_value || horizon.is_none_or(|hz| self.now < hz);
            if latest && live {
                tombstones |= !r.has_value;
                kept.push(r);
            } else {
                self.stats.records_removed += 1;
                if latest {
                    self.stats.tombstones_removed += 1;
                }
            }
        }
        let stamp = tombstones && horizon.is_none();
        let horizon = if stamp { Some(self.now.saturating_add(self.config.delete_retention_ms)) } else { horizon };
        if tombstones && let Some(hz) = horizon {
            self.note_horizon(hz);
        }
        if kept.len() == records.len() && !stamp {
            return Verdict::Keep;
        }
        if kept.is_empty() {
            let last_of_producer =
                h.producer_id >= 0 && self.last_of_producer.get(&h.producer_id) == Some(&h.last_offset());
            return if last_of_producer { Verdict::Replace(empty_batch(h)) } else { Verdict::Drop };
        }
        match rebuild(h, &kept, if stamp { horizon } else { None }) {
            Ok(b) => Verdict::Replace(b),
            Err(e) => {
                tracing::warn!(base_offset = h.base_offset, error = %e,
                    "log cleaner: cannot rewrite a batch; keeping it as it is");
                self.stats.records_removed -= (records.len() - kept.len()) as u64;
                self.stats.undecodable_batches += 1;
                Verdict::Keep
            }
        }
    }
}

// --- records ---------------------------------------------------------------------------------

fn compress(codec: i16, raw: Vec<u8>) -> Result<Vec<u8>, RecordsError> {
    use bytes::BytesMut;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    fn with<C: Compressor<BytesMut, BufMut = BytesMut>>(raw: &[u8]) -> Result<Vec<u8>, RecordsError> {
        let mut out = BytesMut::new();
        C::compress(&mut out, |buf: &mut BytesMut| {
            buf.extend_from_slice(raw);
            Ok(())
        })
        .map_err(|e| RecordsError::Compress(format!("{e:#}")))?;
        Ok(out.to_vec())
    }
    match codec {
        0 => Ok(raw),
        1 => with::<Gzip>(&raw),
        2 => with::<Snappy>(&raw),
        3 => with::<Lz4>(&raw),
        4 => with::<Zstd>(&raw),
        other => Err(RecordsError::Codec(other)),
    }
}

/// One record of a batch, borrowed from the uncompressed records section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    /// The whole record, its length prefix included.
    bytes: &'a [u8],
    /// The record after its timestamp delta (offset delta, key, value, headers).
    after_timestamp: &'a [u8],
    attributes: u8,
    timestamp_delta: i64,
    /// Absolute offset.
    offset: i64,
    key: Option<&'a [u8]>,
    has_value: bool,
}

/// A record kept for a rewrite (owned: the decompressed data does not outlive the filter).
#[derive(Debug, Clone)]
struct OwnedRecord {
    bytes: Vec<u8>,
    /// Where the part after the timestamp delta starts in `bytes`.
    after_timestamp: usize,
    attributes: u8,
    timestamp_delta: i64,
    offset: i64,
    key: Option<Vec<u8>>,
    has_value: bool,
}

impl From<&RawRecord<'_>> for OwnedRecord {
    fn from(r: &RawRecord<'_>) -> Self {
        OwnedRecord {
            bytes: r.bytes.to_vec(),
            after_timestamp: r.bytes.len() - r.after_timestamp.len(),
            attributes: r.attributes,
            timestamp_delta: r.timestamp_delta,
            offset: r.offset,
            key: r.key.map(<[u8]>::to_vec),
            has_value: r.has_value,
        }
    }
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Parses the records of a batch (`data`: the uncompressed records section), checking each
/// against the header: offsets within the batch, count as announced.
pub(crate) fn parse_records<'a>(h: &BatchHeader, data: &'a [u8]) -> Result<Vec<RawRecord<'a>>, RecordsError> {
    let mut out = Vec::with_capacity((h.records_count.max(0) as usize).min(data.len()));
    let mut r = Reader::new(data);
    while r.position() < data.len() {
        let index = out.len();
        let bad = |why| RecordsError::Record { index, why };
        let begin = r.position();
        let len = r.varint().filter(|&l| l >= 0).ok_or(bad("bad length"))?;
        let body = r.take(len as usize).ok_or(bad("runs past the end of the batch"))?;
        let bytes = &data[begin..r.position()];
        let mut b = Reader::new(body);
        let attributes = *b.take(1).ok_or(bad("truncated"))?.first().ok_or(bad("truncated"))?;
        let timestamp_delta = b.varlong().ok_or(bad("bad timestamp delta"))?;
        let after_timestamp = &body[b.position()..];
        let offset_delta = b.varint().ok_or(bad("bad offset delta"))?;
        let offset = h.base_offset.checked_add(i64::from(offset_delta)).ok_or(bad("bad offset delta"))?;
        if offset_delta < 0 || offset > h.last_offset() {
            return Err(bad("offset outside the batch"));
        }
        let key = b.bytes().ok_or(bad("bad key"))?;
        let value = b.bytes().ok_or(bad("bad value"))?;
        let headers = b.varint().filter(|&n| n >= 0).ok_or(bad("bad header count"))?;
        for _ in 0..headers {
            b.bytes().flatten().ok_or(bad("bad header key"))?;
            b.bytes().ok_or(bad("bad header value"))?;
        }
        if b.position() != body.len() {
            return Err(bad("length does not match its fields"));
        }
        out.push(RawRecord {
            bytes,
            after_timestamp,
            attributes,
            timestamp_delta,
            offset,
            key,
            has_value: value.is_some(),
        });
    }
    if out.len() != h.records_count.max(0) as usize || h.records_count < 0 {
        return Err(RecordsError::Count { announced: h.records_count, found: out.len() });
    }
    Ok(out)
}

/// A batch with `header`'s offsets, producer fields and timestamps, holding `records`
/// (uncompressed record bytes, already encoded) compressed with `codec`.
#[allow(clippy::too_many_arguments)]
fn assemble(
    h: &BatchHeader,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&h.base_offset.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // batch length: written by `seal`
    out.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&max_timestamp.to_be_bytes());
    out.extend_from_slice(&h.producer_id.to_be_bytes());
    out.extend_from_slice(&h.producer_epoch.to_be_bytes());
    out.extend_from_slice(&h.base_sequence.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(payload);
    batch::seal(&mut out);
    out
}

/// The batch emptied of all its records, kept for its producer fields (no codec: no payload).
fn empty_batch(h: &BatchHeader) -> Vec<u8> {
    let attributes = h.attributes & !attributes::COMPRESSION_MASK;
    assemble(h, attributes, h.base_timestamp, h.max_timestamp, 0, &[])
}

/// The batch with only `kept` records; with `stamp_horizon`, the delete horizon is stamped in.
fn rebuild(h: &BatchHeader, kept: &[&OwnedRecord], stamp_horizon: Option<i64>) -> Result<Vec<u8>, RecordsError> {
    let mut raw = Vec::new();
    let (base_timestamp, attrs) = match stamp_horizon {
        Some(hz) => (hz, h.attributes | DELETE_HORIZON),
        None => (h.base_timestamp, h.attributes),
    };
    let mut max_timestamp = None::<i64>;
    let mut body = Vec::new();
    for r in kept {
        let ts = h.base_timestamp.wrapping_add(r.timestamp_delta);
        max_timestamp = Some(max_timestamp.map_or(ts, |m| m.max(ts)));
        if stamp_horizon.is_some() {
            body.clear();
            body.push(r.attributes);
            put_varlong(&mut body, ts.wrapping_sub(base_timestamp));
            body.extend_from_slice(&r.bytes[r.after_timestamp..]);
            put_varlong(&mut raw, body.len() as i64);
            raw.extend_from_slice(&body);
        } else {
            raw.extend_from_slice(&r.bytes);
        }
    }
    let max_timestamp = if h.attributes & attributes::LOG_APPEND_TIME != 0 {
        h.max_timestamp
    } else {
        max_timestamp.unwrap_or(h.max_timestamp)
    };
    let payload = compress(h.compression(), raw)?;
    Ok(assemble(h, attrs, base_timestamp, max_timestamp, kept.len() as i32, &payload))
}

// --- produce-time check ----------------------------------------------------------------------

/// The positions in the batch (`batch_index`) of records without a key: a compacted topic
/// refuses them on produce, as Kafka's `LogValidator` does. `bytes` holds one validated batch.
pub fn keyless_records(h: &BatchHeader, bytes: &[u8]) -> Result<Vec<i32>, RecordsError> {
    if h.is_control() {
        return Ok(Vec::new());
    }
    let data = decompress(h, bytes)?;
    let records = parse_records(h, &data)?;
    Ok(records.iter().enumerate().filter(|(_, r)| r.key.is_none()).map(|(i, _)| i as i32).collect())
}

/// Kafka's words for refusing records without a key (`indexes`, positions in the batch) in a
/// compacted topic: the error message of the partition (`RecordValidationException`) and one
/// message per record (`RecordError`).
pub fn keyless_rejection(topic: &str, partition: i32, indexes: &[i32]) -> (String, Vec<(i32, String)>) {
    let message = format!("Compacted topic cannot accept message without key in topic partition {topic}-{partition}");
    let errors: Vec<(i32, String)> = indexes.iter().map(|&i| (i, message.clone())).collect();
    let shown: Vec<String> =
        errors.iter().take(3).map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')")).collect();
    let summary = format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        errors.len(),
        shown.join(", ")
    );
    (summary, errors)
}

#[cfg(test)]
mod tests;
