//! The job runtime: runs a [`JobPlan`] against Kafka: consumes its source topic, decodes,
//! drives the engine ([`sluice_stream::Pipeline`]), writes results to the sinks and
//! checkpoints, exactly once across crashes.
//!
//! # The commit protocol
//!
//! Checkpoints are numbered by epoch; the output produced after checkpoint `e - 1` belongs to
//! epoch `e`. Every `checkpoint.interval`, at most `checkpoint.publish_within` after the first
//! output of an epoch when that is set, and when the job stops:
//!
//! ```text
//! 1. pipeline.checkpoint()            offsets + state, all output already handed to the sinks
//! 2. sink.pre_commit(e) for every sink; the Kafka producer flushes (records acknowledged)
//! 3. checkpoint e written as PREPARED (atomic put)
//! 4. the commit point:
//!      with a Kafka sink:    send_offsets_to_transaction(offsets, metadata "sluice epoch=e")
//!                            + commit_transaction
//!      without:              (step 5 is the commit point)
//! 5. checkpoint e marked COMMITTED (published under its committed name: a rename)
//! 6. sink.commit(e) for every sink (files published)
//! 7. without a Kafka sink: the offsets are committed to the group (plain commit, for lag)
//! ```
//!
//! On start: the newest committed checkpoint `c`; a prepared checkpoint `p > c` counts as
//! committed iff its commit point was reached, that is (Kafka sink) the group's committed
//! offsets are `p`'s offsets with metadata `sluice epoch=p` (the transactional producer is
//! initialized first, which aborts a transaction the crashed process left open); without a
//! Kafka sink a prepared checkpoint never counts. Then `sink.recover(c)` (publishes staged
//! output of epochs ≤ `c`, deletes the rest), `Pipeline::restore(c)`, and every partition is
//! read again from `c`'s offsets. Output of epochs after `c` was never visible (staged files,
//! aborted transactions) and is produced again from the same input.
//!
//! # Layout
//! - [`source`]: the Kafka consumer thread: group membership, start offsets on assignment,
//!   batches of raw records, lag.
//! - [`decode`]: record values to rows by the source format (protobuf, registry, JSON, CSV).
//! - [`tables`]: static tables from CSV or Parquet.
//! - [`checkpoint`]: the checkpoint store (local directory or S3), prepared / committed files.
//! - [`kafka_sink`]: the transactional producer and the Kafka result and dead-letter sinks.
//! - [`status`]: counters a status line or a dashboard reads while the job runs.
//! - `driver`: [`Job`]: set-up, recovery, the event loop, checkpoints, stop.

pub mod checkpoint;
pub mod decode;
mod driver;
mod engine;
pub mod kafka_sink;
mod scale;
pub mod source;
pub mod status;
pub mod tables;

pub use driver::{EndOfInput, Job, JobConfig, JobSummary};
pub use status::{JobStatus, StatusSnapshot};

use sluice_stream::JobPlan;
use std::path::{Path, PathBuf};

/// Why a job cannot start or had to stop. Each names the thing, what is wrong and the fix.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job file does not fit (its queries, tables, sinks or formats).
    #[error("{file}: {field}: {message}; {fix}")]
    Config {
        /// The job file.
        file: String,
        /// The field (`source.format.file`, `table[0] (campaigns)`, ...).
        field: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// The engine refused the plan (the message names file, line and field).
    #[error("{0}")]
    Plan(String),
    /// Kafka (broker, consumer, producer, transactions).
    #[error("{what}: {message}; {fix}")]
    Kafka {
        /// What was attempted.
        what: String,
        /// librdkafka's error.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// No broker answered the start-up check (the error names the address and the fix).
    #[error("{what}: {error}")]
    NoBroker {
        /// The job.
        what: String,
        /// What the check met.
        error: crate::kafka::ProbeError,
    },
    /// The schema registry.
    #[error("schema registry {url}: {message}; {fix}")]
    Registry {
        /// Its URL.
        url: String,
        /// What went wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// The checkpoint store.
    #[error("checkpoints at {location}: {message}; {fix}")]
    Checkpoint {
        /// The location.
        location: String,
        /// What went wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A sink failed.
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    /// A bug in sluice (a task died).
    #[error("internal error: {0}; please report it")]
    Internal(String),
}

impl JobError {
    pub(crate) fn internal(message: impl Into<String>) -> JobError {
        JobError::Internal(message.into())
    }
}

/// A path from a job file: relative to `base` when given and relative.
pub(crate) fn resolve(base: Option<&Path>, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    }
}

/// The consumer group of a job: `source.group`, else `sluice-<job name>`.
pub fn group_of(plan: &JobPlan) -> String {
    plan.source.group.clone().unwrap_or_else(|| format!("sluice-{}", plan.name))
}
