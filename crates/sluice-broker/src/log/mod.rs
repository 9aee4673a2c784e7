//! Partition logs: batches stored exactly as produced, addressed by offset.
//!
//! Two engines share one interface, [`PartitionLog`]:
//! - [`memory::MemoryLog`]: a vector of batches, for tests and `--data-dir` left out;
//! - [`file::FileLog`]: append-only segment files with a sparse offset index and a time index,
//!   recovered on open (a torn tail is truncated at the last valid batch).
//!
//! The caller has validated every batch (CRC, magic) and decided the offsets are to be
//! assigned; the log stamps base offsets, stores, and serves whole batches: a read at an
//! offset inside a batch returns that whole batch, as Kafka does.

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
    /// Bytes between sparse index entries (`index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// fsync policy.
    pub flush: FlushPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { segment_bytes: 1 << 30, index_interval_bytes: 4096, flush: FlushPolicy::Os }
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
}
