//! What the engine emits: result batches, dead letters, and counters.

use serde::{Deserialize, Serialize};
use sluice_formats::Row;
use std::fmt;
use std::sync::Arc;

/// One item of engine output, in the order it was produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Result rows of one query.
    Results(ResultBatch),
    /// A record that was not used, with the reason.
    DeadLetter(DeadLetter),
    /// A row or mark for the merge stage of a scaled-out job (see [`crate::shuffle`]), to
    /// send to partition `partition` of the job's repartition topic.
    Shuffle {
        /// Repartition partition.
        partition: i32,
        /// The record.
        record: crate::shuffle::ShuffleRecord,
    },
}

/// Result rows of one query, emitted together (one micro-batch in Spark's terms).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultBatch {
    /// Index of the query in the plan.
    pub query: usize,
    /// Sequence number of this query's batches, from 0 (Spark's `Batch: N`).
    pub batch: u64,
    /// The watermark when the batch was emitted.
    pub watermark: Option<i64>,
    /// Processing time of the call that emitted it.
    pub processing_time: i64,
    /// The rows, laid out as the query's result schema.
    pub rows: Vec<Row>,
}

/// A record that went to the dead-letter output.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The query that refused it; `None` for records refused before any query (decode errors,
    /// missing event time).
    pub query: Option<String>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Kafka timestamp (ms).
    pub timestamp: i64,
    /// Why.
    pub reason: DeadLetterReason,
    /// The decoded row, when there was one.
    pub row: Option<Row>,
    /// The raw record value, when the caller passed it (decode errors).
    pub raw: Option<Arc<[u8]>>,
}

/// Why a record went to the dead-letter output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Every window the record belongs to had closed when it arrived.
    Late {
        /// Its event time.
        event_time: i64,
        /// The watermark at the time.
        watermark: i64,
        /// End of the latest window it belongs to.
        window_end: i64,
    },
    /// The event-time expression gave NULL or not a timestamp.
    MissingEventTime,
    /// The value could not be decoded.
    Decode(String),
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::time::SparkTimestamp as T;
        match self {
            DeadLetterReason::Late { event_time, watermark, window_end } => write!(
                f,
                "late: event time {} is behind the watermark {}; its last window ended at {}",
                T(*event_time),
                T(*watermark),
                T(*window_end)
            ),
            DeadLetterReason::MissingEventTime => f.write_str("no event time: the event-time expression is NULL"),
            DeadLetterReason::Decode(e) => write!(f, "cannot decode: {e}"),
        }
    }
}

/// Engine counters (kept in checkpoints, so a restored run continues them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Records handed to the engine (decoded).
    pub records_in: u64,
    /// Records that failed to decode.
    pub decode_errors: u64,
    /// Records without event time.
    pub missing_event_time: u64,
    /// Per query: records refused as late.
    pub late: Vec<u64>,
    /// Per query: records that counted only towards the sliding windows still open.
    pub partially_late: Vec<u64>,
    /// Per query: result rows emitted.
    pub rows_out: Vec<u64>,
    /// Dead letters emitted (all reasons).
    pub dead_letters: u64,
}
