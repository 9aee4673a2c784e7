//! Partition logs: batches stored exactly as produced, addressed by offset.
//!
//! Two engines share one interface, [`PartitionLog`]:
//! - [`memory::MemoryLog`]: a vector of batches, for tests and `--data-dir` left out;
//! - [`file::FileLog`]: append-only segment files with a sparse offset index and a time index,
//!   recovered on open (a torn tail is truncated at the last valid batch).
//!
//! Both roll segments the same way ([`LogConfig`]: `segment.bytes`, `segment.ms`) and compact
//! the same way ([`compaction`]: `cleanup.policy=compact`).
//!
//! The caller has validated every batch (CRC, magic) and decided the offsets are to be
//! assigned; the log stamps base offsets, stores, and serves whole batches: a read at an
//! offset inside a batch returns that whole batch, as Kafka does.

pub mod compaction;
pub mod file;
pub mod memory;

use bytes::Bytes;
use sluice_wire::batch::BatchHeader;
use std::path::PathBuf;

/// When written data is forced to disk with fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// Written to the OS before the acknowledgement (survives a process crash, not a power
    /// loss); fsync only on segment roll and shutdown. Kafka's default with one replica.
    #[default]
    Os,
    /// fsync after every append, before the acknowledgement.
    EveryAppend,
    /// fsync when this many milliseconds have passed since the last one.
    IntervalMs(u64),
}

/// Settings of one partition's log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll to a new segment once the active one reaches this size (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll to a new segment once a batch's largest timestamp is this much later than the
    /// active segment's first batch's (`segment.ms`); by wall clock when batches carry no
    /// timestamps.
    pub segment_ms: i64,
    /// Bytes between sparse index entries (`index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// fsync policy.
    pub flush: FlushPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 604_800_000,
            index_interval_bytes: 4096,
            flush: FlushPolicy::Os,
        }
    }
}

/// The active segment, as far as rolling is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollState {
    /// Base offset.
    pub(crate) base: i64,
    /// Bytes held.
    pub(crate) size: u64,
    /// Largest timestamp of its first batch (Kafka's rolling-based timestamp).
    pub(crate) first_ts: Option<i64>,
    /// Milliseconds since it was created (used when batches carry no timestamp).
    pub(crate) age_ms: u64,
}

impl RollState {
    /// Whether a batch of `len` bytes, `last_offset` and `max_ts` must start a new segment, as
    /// Kafka's `LogSegment.shouldRoll` decides: never into an empty segment; when it would pass
    /// `cap` bytes or the offset span an index can address; or when `segment_ms` has passed.
    pub(crate) fn must_roll(&self, len: u64, last_offset: i64, max_ts: i64, cap: u64, segment_ms: i64) -> bool {
        if self.size == 0 {
            return false;
        }
        let waited = match self.first_ts {
            Some(t) if t >= 0 => max_ts.saturating_sub(t),
            _ => i64::try_from(self.age_ms).unwrap_or(i64::MAX),
        };
        self.size + len > cap || last_offset - self.base > i32::MAX as i64 || waited > segment_ms
    }
}

/// Errors of the log engines.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Disk I/O failed.
    #[error("log I/O error at {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The requested offset is outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// Asked for.
        offset: i64,
        /// First offset held.
        start: i64,
        /// Next offset to be written.
        end: i64,
    },
    /// Bytes handed to append are not valid batches.
    #[error("invalid batch: {0}")]
    Batch(#[from] sluice_wire::batch::BatchError),
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// A read: whole batches starting with the one containing the requested offset.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// Concatenated batches, as stored.
    pub bytes: Bytes,
}

/// One partition's log, in memory or on disk.
#[derive(Debug)]
pub enum PartitionLog {
    /// Memory engine.
    Memory(memory::MemoryLog),
    /// Segment files.
    File(file::FileLog),
}

macro_rules! dispatch {
    ($self:ident, $log:ident => $e:expr) => {
        match $self {
            PartitionLog::Memory($log) => $e,
            PartitionLog::File($log) => $e,
        }
    };
}

impl PartitionLog {
    /// Appends validated batches (one or more, laid end to end), assigning offsets from the
    /// log end offset. `buf` is rewritten in place with the assigned base offsets.
    pub fn append(&mut self, buf: &mut [u8]) -> Result<AppendInfo, LogError> {
        dispatch!(self, l => l.append(buf))
    }

    /// Reads whole batches from the one containing `offset`, up to about `max_bytes` but always
    /// at least one whole batch when any exists at or after `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, LogError> {
        dispatch!(self, l => l.read(offset, max_bytes))
    }

    /// First offset still held.
    pub fn log_start_offset(&self) -> i64 {
        dispatch!(self, l => l.log_start_offset())
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        dispatch!(self, l => l.log_end_offset())
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> u64 {
        dispatch!(self, l => l.size_bytes())
    }

    /// The first batch whose max timestamp is at or after `timestamp`: its base offset and max
    /// timestamp (ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        dispatch!(self, l => l.offset_for_timestamp(timestamp))
    }

    /// The largest timestamp held and the offset of its batch's last record (ListOffsets -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        dispatch!(self, l => l.max_timestamp())
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords), dropping whole
    /// segments / batches that end before it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        dispatch!(self, l => l.delete_records_before(offset))
    }

    /// Deletes whole segments older than `retention_ms` (by their largest timestamp) or beyond
    /// `retention_bytes` from the oldest; negative means unlimited. The active segment is kept.
    /// Returns how many segments were deleted.
    pub fn enforce_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<usize, LogError> {
        dispatch!(self, l => l.enforce_retention(now_ms, retention_ms, retention_bytes))
    }

    /// Forces written data to disk.
    pub fn flush(&mut self) -> Result<(), LogError> {
        dispatch!(self, l => l.flush())
    }

    /// Visits every batch header held, oldest first (recovery of producer state).
    pub fn for_each_header(&self, f: &mut dyn FnMut(&BatchHeader)) -> Result<(), LogError> {
        dispatch!(self, l => l.for_each_header(f))
    }

    /// Removes all data files of this log (topic deletion).
    pub fn destroy(self) -> Result<(), LogError> {
        dispatch!(self, l => l.destroy())
    }

    /// Plans a compaction round if one is due ([`compaction`]); `None` when there is nothing to
    /// do or a round is already in progress. Call under the partition lock, run the job without
    /// it, then [`PartitionLog::commit_clean`] under it again.
    pub fn prepare_clean(
        &mut self,
        config: &compaction::CleanConfig,
        now_ms: i64,
    ) -> Result<Option<compaction::CleanJob>, LogError> {
        match self {
            PartitionLog::Memory(l) => Ok(l.prepare_clean(config, now_ms).map(compaction::CleanJob::Memory)),
            PartitionLog::File(l) => Ok(l.prepare_clean(config, now_ms)?.map(compaction::CleanJob::File)),
        }
    }

    /// Swaps the result of a compaction round in, unless the log changed meanwhile.
    pub fn commit_clean(&mut self, output: compaction::CleanOutput) -> Result<compaction::CleanOutcome, LogError> {
        match (self, output) {
            (PartitionLog::Memory(l), compaction::CleanOutput::Memory(o)) => Ok(l.commit_clean(o)),
            (PartitionLog::File(l), compaction::CleanOutput::File(o)) => l.commit_clean(o),
            _ => Ok(compaction::CleanOutcome::Abandoned("the output belongs to another log engine".into())),
        }
    }

    /// Everything below this offset has been compacted (Kafka's cleaner checkpoint).
    pub fn clean_offset(&self) -> i64 {
        dispatch!(self, l => l.clean_offset())
    }
}
