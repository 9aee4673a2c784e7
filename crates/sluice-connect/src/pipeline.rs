//! The producer loop (generator → encoder → sink, paced) and the batched CSV replay.
//!
//! Both run on the caller's thread with blocking waits: librdkafka does the network work on
//! its own threads, and a plain loop is what reaches a million records a second. Waits serve
//! the sink's delivery reports ([`KafkaSink::wait_until`]). The [`Interrupt`] is checked
//! between records and during every wait, so Ctrl-C ends a run within ~100 ms: the first stops
//! producing and waits for the deliveries in flight, the second drops them.

use crate::encode::json::write_object;
use crate::encode::{EncodeError, Encoder};
use crate::kafka::{KafkaSink, SinkError};
use crate::source::csv_replay::{CsvTable, enrich, enriched_schema};
use crate::source::generator::Generator;
use sluice_formats::{Row, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A row could not be encoded.
    #[error("cannot encode record {index}: {source}")]
    Encode {
        /// Position of the record in the run.
        index: u64,
        /// The encoder's error.
        source: EncodeError,
    },
    /// The sink refused a record.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// When a generator run ends and how fast it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pace {
    /// Stop after this many records (`--count`).
    pub count: Option<u64>,
    /// Stop after this long (`--duration`).
    pub duration: Option<Duration>,
    /// Records per second (`--rate`); `None` = as fast as the broker takes them.
    pub rate: Option<f64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    /// Records handed to the sink.
    pub produced: u64,
    /// Whether an interrupt ended it (Ctrl-C) rather than the count or duration.
    pub interrupted: bool,
    /// Whether every record was acknowledged or failed before returning.
    pub flushed: bool,
    /// Wall time.
    pub elapsed: Duration,
}

/// Ctrl-C as the pipelines see it.
#[derive(Debug, Default)]
pub struct Interrupt {
    stop: AtomicBool,
    abort: AtomicBool,
}

impl Interrupt {
    /// Neither stopped nor aborted.
    pub fn new() -> Self {
        Self::default()
    }
    /// First Ctrl-C: stop producing, wait for deliveries in flight. Second: abort.
    pub fn signal(&self) {
        if self.stop.swap(true, Ordering::Relaxed) {
            self.abort.store(true, Ordering::Relaxed);
        }
    }
    /// Stop producing new records.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
    /// Stop and drop what is not delivered yet.
    pub fn request_abort(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.abort.store(true, Ordering::Relaxed);
    }
    /// Whether producing should stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    /// Whether undelivered records should be dropped.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// The key bytes of `row`'s key column (text as is, other values as displayed).
pub fn key_of(row: &Row, column: Option<usize>, buf: &mut Vec<u8>) -> bool {
    let Some(c) = column else { return false };
    buf.clear();
    match row.get(c) {
        Value::Null => return false,
        Value::Str(s) => buf.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => buf.extend_from_slice(b),
        other => buf.extend_from_slice(other.to_string().as_bytes()),
    }
    true
}

/// Runs `generator` → `encoder` → `sink` until the count, the duration or a stop, then waits
/// for every delivery report. `now_ms` is the clock rows are stamped with.
pub fn run_generator(
    generator: &mut dyn Generator,
    encoder: &mut dyn Encoder,
    sink: &KafkaSink,
    pace: Pace,
    stop: &Interrupt,
    now_ms: &mut dyn FnMut() -> i64,
) -> Result<RunOutcome, PipelineError> {
    let start = Instant::now();
    let key_column = generator.key_column();
    let uses_clock = generator.uses_clock();
    // Paces slower than one record a year are treated as one a year rather than overflowing.
    let interval = pace
        .rate
        .filter(|r| *r > 0.0 && r.is_finite())
        .map(|r| Duration::try_from_secs_f64(1.0 / r).unwrap_or(YEAR).min(YEAR));
    let mut row = Row::default();
    let mut value = Vec::with_capacity(256);
    let mut key = Vec::with_capacity(32);
    let mut produced: u64 = 0;
    let mut interrupted = false;
    loop {
        if pace.count.is_some_and(|c| produced >= c) {
            break;
        }
        if let Some(step) = interval {
            // Record n is due at start + n·interval: no drift, however long sends take.
            let offset = Duration::try_from_secs_f64(step.as_secs_f64() * produced as f64).ok();
            let due = offset.and_then(|d| start.checked_add(d));
            let Some(due) = due else { break };
            if let Some(d) = pace.duration
                && due > start + d
            {
                break;
            }
            if !sink.wait_until(due, &|| stop.stopped()) {
                interrupted = true;
                break;
            }
        }
        if pace.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if stop.stopped() {
            interrupted = true;
            break;
        }
        // The clock costs a system-call-free but not free read per record: skipped for
        // generators that do not stamp their rows.
        generator.next_row(if uses_clock { now_ms() } else { 0 }, &mut row);
        value.clear();
        encoder.encode(&row, &mut value).map_err(|source| PipelineError::Encode { index: produced, source })?;
        let has_key = key_of(&row, key_column, &mut key);
        sink.send(has_key.then_some(key.as_slice()), &value, produced as usize)?;
        produced += 1;
    }
    let flushed = sink.flush(&|| stop.aborted());
    Ok(RunOutcome { produced, interrupted, flushed, elapsed: start.elapsed() })
}

/// How a CSV file is replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlan {
    /// Records per batch (`--batch-size`, seed: 10).
    pub batch_size: usize,
    /// Pause between batches (`--sleep`, seed: 10 s).
    pub sleep: Duration,
    /// Resends of records that failed, per batch (`--retries`).
    pub retries: u32,
    /// Pause before a resend.
    pub retry_backoff: Duration,
    /// Column whose text keys the records (`--key-column`); unkeyed when `None`.
    pub key_column: Option<usize>,
}

/// What happened to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// 1-based batch number.
    pub batch_number: u64,
    /// Total batches of the run.
    pub batches: u64,
    /// Records in the batch.
    pub records: usize,
    /// Records acknowledged.
    pub delivered: usize,
    /// Records still failed after every retry.
    pub failed: usize,
    /// Resend rounds used.
    pub retries_used: u32,
    /// Records acknowledged so far in the run.
    pub total_delivered: u64,
    /// Records in the run.
    pub total_records: usize,
    /// The first error of the batch.
    pub error: Option<String>,
    /// Pause before the next batch (`None` after the last one).
    pub next_in: Option<Duration>,
}

/// How a replay ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Records acknowledged.
    pub delivered: u64,
    /// Records failed after retries, or dropped from the batch in flight by an interrupt
    /// (later batches are not sent and not counted).
    pub failed: u64,
    /// Batches sent.
    pub batches: u64,
    /// Whether an interrupt ended it.
    pub interrupted: bool,
}

/// Replays `table` as JSON records in batches, each record enriched with seed 002's batch
/// metadata; every batch is flushed (and its failures resent) before the pause.
pub fn replay_csv(
    table: &CsvTable,
    sink: &KafkaSink,
    plan: &ReplayPlan,
    stop: &Interrupt,
    now_ms: &mut dyn FnMut() -> i64,
    on_batch: &mut dyn FnMut(&BatchReport),
) -> Result<ReplayOutcome, PipelineError> {
    let schema = enriched_schema(&table.schema);
    let batch_size = plan.batch_size.max(1);
    let batches = table.rows.len().div_ceil(batch_size) as u64;
    let mut outcome = ReplayOutcome { delivered: 0, failed: 0, batches: 0, interrupted: false };
    let mut key = Vec::new();
    for (b, chunk) in table.rows.chunks(batch_size).enumerate() {
        let batch_number = b as u64 + 1;
        let mut payloads: Vec<(Option<Vec<u8>>, Vec<u8>)> = Vec::with_capacity(chunk.len());
        for (p, row) in chunk.iter().enumerate() {
            let enriched = enrich(&table.schema, row, batch_number, p as u64 + 1, now_ms());
            let mut value = Vec::with_capacity(512);
            write_object(&schema, &enriched, &mut value)
                .map_err(|source| PipelineError::Encode { index: (b * batch_size + p) as u64, source })?;
            let k = key_of(row, plan.key_column, &mut key).then(|| key.clone());
            payloads.push((k, value));
        }
        let _ = sink.stats().take_failed_tags();
        let mut pending: Vec<usize> = (0..payloads.len()).collect();
        let mut retries_used = 0;
        let mut error = None;
        loop {
            for &i in &pending {
                let (k, v) = &payloads[i];
                sink.send(k.as_deref(), v, i)?;
            }
            let flushed = sink.flush(&|| stop.aborted());
            pending = sink.stats().take_failed_tags();
            pending.sort_unstable();
            pending.dedup();
            if !pending.is_empty() && error.is_none() {
                error = sink.stats().first_error();
            }
            if !flushed {
                outcome.interrupted = true;
                break;
            }
            if pending.is_empty() || retries_used >= plan.retries {
                break;
            }
            retries_used += 1;
            if !sink.wait_until(Instant::now() + plan.retry_backoff, &|| stop.stopped()) {
                outcome.interrupted = true;
                break;
            }
        }
        let failed = pending.len();
        let delivered = payloads.len() - failed;
        outcome.delivered += delivered as u64;
        outcome.failed += failed as u64;
        outcome.batches += 1;
        let last = batch_number == batches || outcome.interrupted;
        on_batch(&BatchReport {
            batch_number,
            batches,
            records: payloads.len(),
            delivered,
            failed,
            retries_used,
            total_delivered: outcome.delivered,
            total_records: table.rows.len(),
            error,
            next_in: (!last).then_some(plan.sleep),
        });
        if outcome.interrupted {
            break;
        }
        if !last && !sink.wait_until(Instant::now() + plan.sleep, &|| stop.stopped()) {
            outcome.interrupted = true;
            break;
        }
    }
    Ok(outcome)
}
