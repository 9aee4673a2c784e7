//! What a running job reports: counters that a status line (`sluice run` on a terminal) or
//! the demo reads while the job runs. Updated by the runtime after every batch, tick and
//! checkpoint.

use std::sync::Mutex;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Connecting, loading tables, recovering.
    #[default]
    Starting,
    /// Reading and processing.
    Running,
    /// Writing the final checkpoint.
    Stopping,
    /// Done.
    Stopped,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// Phase.
    pub phase: Phase,
    /// Records read (decoded or not) since the job's first start (kept in checkpoints).
    pub records_in: u64,
    /// Records that failed to decode.
    pub decode_errors: u64,
    /// Dead letters (all reasons).
    pub dead_letters: u64,
    /// Result rows written, all queries.
    pub rows_out: u64,
    /// The engine's watermark (ms since the epoch).
    pub watermark: Option<i64>,
    /// Records on the broker not processed yet (assigned partitions, from the last stable
    /// offsets the broker reported).
    pub lag: Option<i64>,
    /// The epoch being written (the last committed checkpoint is this minus one).
    pub epoch: u64,
    /// Partitions assigned to this instance.
    pub partitions: Vec<i32>,
    /// Whether every assigned partition has been read to its end.
    pub caught_up: bool,
}

/// Shared counters of one job.
#[derive(Debug, Default)]
pub struct JobStatus {
    inner: Mutex<StatusSnapshot>,
}

impl JobStatus {
    /// A copy of the counters.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut StatusSnapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }
}
