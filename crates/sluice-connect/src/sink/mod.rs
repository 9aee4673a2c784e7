//! Sinks: where a job's results and dead letters go, written per checkpoint epoch and published
//! only when the checkpoint commits.
//!
//! # The protocol
//!
//! The runtime numbers checkpoints 1, 2, 3, ... and calls every sink like this:
//!
//! ```text
//! recover(last)                    once, at start: last = the epoch of the checkpoint restored
//!                                  from (None on a fresh start)
//! epoch = last + 1
//! loop {
//!     write(epoch, batch) ...      results produced since the previous checkpoint
//!     pre_commit(epoch)            on every sink: staged output made durable
//!     <write checkpoint `epoch` (offsets + state) durably>
//!     commit(epoch)                on every sink: staged output published
//!     epoch += 1
//! }
//! ```
//!
//! Why a crash neither loses nor repeats output (for the file sinks, see [`staged`]):
//! - Output of epoch `e` is written under temporary names in a `_sluice_staging/` directory that
//!   readers skip. `pre_commit(e)` completes the files and writes a manifest (staged name →
//!   final name) atomically; only then is checkpoint `e` written.
//! - Final names are a function of the epoch (`part-<epoch>-<n>`), so publishing an epoch twice
//!   writes the same names with the same bytes: no duplicates.
//! - `commit(e)` publishes every file of the manifest (local: `rename`; S3: server-side copy),
//!   deletes the staged copies, and deletes the manifest last.
//! - After a crash the runtime restores checkpoint `c` and calls `recover(c)`: epochs `≤ c`
//!   whose manifest still exists are published (their checkpoint is durable, so their output
//!   must appear; copies already made are harmless), and everything staged for epochs `> c`
//!   is deleted (their input is re-read from `c`'s offsets and produces them again).
//!
//! The console sink is the exception: it prints at `write`, as Spark's console sink does, so
//! after a crash the batches since the last checkpoint are printed again.
//!
//! Encoding (Parquet, Protobuf, JSON) runs on tokio's blocking pool when a batch is large
//! enough to matter, so the reactor keeps serving sockets.
//!
//! A sink's futures are not cancel-safe: if one is dropped halfway (or returns an error), stop
//! using the sink and restart from the last checkpoint (a new sink, `recover`).
//!
//! ```
//! use std::sync::Arc;
//! use sluice_connect::sink::{Sink, Transactional, json::JsonSink, storage::LocalStorage};
//! use sluice_formats::{Field, Kind, Row, RowSchema, Value};
//! use sluice_stream::ResultBatch;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let schema = RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("count", Kind::Int)]);
//! let storage = Arc::new(LocalStorage::open(dir.path()).unwrap());
//! let batch = |n| Arc::new(ResultBatch {
//!     query: 0, batch: 0, watermark: None, processing_time: 0,
//!     rows: vec![Row::new(vec![Value::from("click"), Value::Int(n)])],
//! });
//!
//! let mut sink = JsonSink::new("per_action", &schema, storage.clone(), None);
//! sink.recover(None).await.unwrap();                  // fresh start: no checkpoint yet
//! sink.write(1, batch(14)).await.unwrap();
//! sink.pre_commit(1).await.unwrap();                  // staged and durable, not visible
//! assert!(!dir.path().join("part-000001-00000.jsonl").exists());
//! // ... the runtime writes checkpoint 1 here ...
//! sink.commit(1).await.unwrap();                      // published
//! let text = std::fs::read_to_string(dir.path().join("part-000001-00000.jsonl")).unwrap();
//! assert_eq!(text, "{\"action\":\"click\",\"count\":14}\n");
//!
//! sink.write(2, batch(15)).await.unwrap();
//! sink.pre_commit(2).await.unwrap();
//! drop(sink);                                         // crash before checkpoint 2
//! let mut sink = JsonSink::new("per_action", &schema, storage, None);
//! let report = sink.recover(Some(1)).await.unwrap();  // restored from checkpoint 1
//! assert_eq!(report.discarded, vec![(2, 1)]);         // epoch 2 will be recomputed
//! assert!(!dir.path().join("part-000002-00000.jsonl").exists());
//! # });
//! ```
//!
//! # Layout
//! - [`storage`]: local directory or S3 (`object_store`) behind one small trait.
//! - [`staged`]: the staging / manifest / publish protocol shared by the file sinks.
//! - [`console`]: Spark `show()` tables per batch.
//! - [`json`]: JSON lines files.
//! - [`parquet`]: Parquet files with hive-style partition directories.
//! - [`protobuf`]: length-delimited protobuf messages, one file per batch.
//! - [`dead_letter`]: dead letters as JSON lines.
//! - [`build`]: sinks from a job's [`SinkPlan`](sluice_stream::plan::SinkPlan)s.
//! - [`values`]: cell rendering shared by the text formats (timestamps, JSON values).

#![warn(missing_docs)]

pub mod build;
pub mod console;
pub mod dead_letter;
mod error;
pub mod json;
pub mod parquet;
pub mod protobuf;
pub mod staged;
pub mod storage;
pub mod values;

pub use build::{SinkContext, build_dead_letter_sink, build_sink};
pub use error::SinkError;

use async_trait::async_trait;
use sluice_stream::{DeadLetter, ResultBatch};
use std::sync::Arc;

/// A checkpoint epoch: output written with epoch `e` is published when checkpoint `e` commits.
pub type Epoch = u64;

/// What [`Transactional::recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Epochs published now (committed before the crash, not yet published), with their file
    /// counts.
    pub published: Vec<(Epoch, usize)>,
    /// Epochs whose staged output was deleted (not committed), with their file counts.
    pub discarded: Vec<(Epoch, usize)>,
}

/// The epoch lifecycle every sink follows (see the module docs for the order of calls).
#[async_trait]
pub trait Transactional: Send {
    /// The sink, for messages: `parquet sink of query `views` (s3://bucket/out)`.
    fn describe(&self) -> &str;

    /// Called once before the first write: publishes staged output of epochs up to
    /// `last_committed` and deletes staged output of later epochs.
    async fn recover(&mut self, last_committed: Option<Epoch>) -> Result<Recovery, SinkError>;

    /// Makes everything written for epochs up to `epoch` durable (still unpublished). Must
    /// return before checkpoint `epoch` is written.
    async fn pre_commit(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// Checkpoint `epoch` is durable: publishes epochs up to `epoch`. Calling it again is
    /// harmless.
    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError>;
}

/// A sink of one query's result batches.
#[async_trait]
pub trait Sink: Transactional {
    /// Adds a result batch to `epoch` (epochs never go back; several batches per epoch are
    /// fine).
    async fn write(&mut self, epoch: Epoch, batch: Arc<ResultBatch>) -> Result<(), SinkError>;
}

/// A sink of dead letters.
#[async_trait]
pub trait DeadLetterSink: Transactional {
    /// Adds dead letters to `epoch`.
    async fn write_dead_letters(&mut self, epoch: Epoch, letters: Vec<DeadLetter>) -> Result<(), SinkError>;
}

/// Rows above which encoding moves to the blocking pool (below, the hop costs more than the
/// work).
pub(crate) const OFFLOAD_ROWS: usize = 2048;

/// Runs CPU-heavy work on the blocking pool when `rows` is large, inline otherwise.
pub(crate) async fn offload<T: Send + 'static>(
    sink: &str,
    rows: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SinkError> {
    if rows < OFFLOAD_ROWS {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f).await.map_err(|e| SinkError::encode(sink, format!("the encoding task failed: {e}")))
}

/// The final file name of the `n`th file of an epoch: `part-000003-00000.parquet`, with the
/// instance (`part-<instance>-000003-00000.parquet`) when several processes share a directory.
pub(crate) fn part_name(instance: Option<&str>, epoch: Epoch, n: u64, ext: &str) -> String {
    match instance {
        Some(i) => format!("part-{i}-{epoch:06}-{n:05}.{ext}"),
        None => format!("part-{epoch:06}-{n:05}.{ext}"),
    }
}
