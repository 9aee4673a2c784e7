//! The dead-letter file sink: one JSON line per record the job could not use, one file per
//! epoch (`part-000003-00000.jsonl`), published with the epoch like the result sinks.
//!
//! ```json
//! {"topic":"view-logs","partition":0,"offset":42,"timestamp":"2026-11-23T10:05:00.000Z",
//!  "query":null,"reason_kind":"decode","reason":"cannot decode: ...","value_base64":"/wAB",
//!  "row":null}
//! ```
//!
//! - `reason_kind`: `decode`, `missing_event_time` or `late` (then also `event_time`,
//!   `watermark` and `window_end`);
//! - `value_base64`: the raw record value, when the engine kept it (decode errors); `null`
//!   otherwise;
//! - `row`: the decoded row as an object of the source's columns, when there was one.
//!
//! (Every line is one object; the example is wrapped here for reading.)

use super::json::LineFiles;
use super::storage::Storage;
use super::values::{JsonRows, iso_timestamp, write_json_str};
use super::{DeadLetterSink, Epoch, Recovery, SinkError, Transactional, offload};
use async_trait::async_trait;
use base64::Engine as _;
use sluice_formats::RowSchema;
use sluice_stream::{DeadLetter, DeadLetterReason};
use std::io::Write as _;
use std::sync::Arc;

/// Writes dead letters as JSON lines.
pub struct DeadLetterFileSink {
    lines: LineFiles,
    topic: Arc<str>,
    rows: Arc<JsonRows>,
}

impl DeadLetterFileSink {
    /// A sink for dead letters of `topic`, whose decoded rows have `input` columns.
    pub fn new(
        job: &str,
        topic: &str,
        input: &RowSchema,
        storage: Arc<dyn Storage>,
        instance: Option<String>,
    ) -> DeadLetterFileSink {
        let name = format!("dead-letter sink of job `{job}` ({})", storage.location("").trim_end_matches('/'));
        DeadLetterFileSink {
            lines: LineFiles::new(name, storage, instance, "jsonl"),
            topic: Arc::from(topic),
            rows: Arc::new(JsonRows::new(input)),
        }
    }
}

/// One dead letter as a JSON object (no newline).
pub fn dead_letter_json(out: &mut Vec<u8>, topic: &str, rows: &JsonRows, d: &DeadLetter) {
    out.extend_from_slice(b"{\"topic\":");
    write_json_str(out, topic);
    let _ = write!(out, ",\"partition\":{},\"offset\":{},\"timestamp\":", d.partition, d.offset);
    write_json_str(out, &iso_timestamp(d.timestamp));
    out.extend_from_slice(b",\"query\":");
    match &d.query {
        Some(q) => write_json_str(out, q),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"reason_kind\":");
    let kind = match &d.reason {
        DeadLetterReason::Late { .. } => "late",
        DeadLetterReason::MissingEventTime => "missing_event_time",
        DeadLetterReason::Decode(_) => "decode",
    };
    write_json_str(out, kind);
    out.extend_from_slice(b",\"reason\":");
    write_json_str(out, &d.reason.to_string());
    if let DeadLetterReason::Late { event_time, watermark, window_end } = &d.reason {
        for (k, v) in [("event_time", event_time), ("watermark", watermark), ("window_end", window_end)] {
            let _ = write!(out, ",\"{k}\":");
            write_json_str(out, &iso_timestamp(*v));
        }
    }
    out.extend_from_slice(b",\"value_base64\":");
    match &d.raw {
        Some(raw) => write_json_str(out, &base64::engine::general_purpose::STANDARD.encode(raw)),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"row\":");
    match &d.row {
        Some(r) => rows.write_object(out, &r.values),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

#[async_trait]
impl Transactional for DeadLetterFileSink {
    fn describe(&self) -> &str {
        &self.lines.name
    }

    async fn recover(&mut self, last_committed: Option<Epoch>) -> Result<Recovery, SinkError> {
        self.lines.recover(last_committed).await
    }

    async fn pre_commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.lines.pre_commit(epoch).await
    }

    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.lines.files.commit(epoch).await.map(|_| ())
    }
}

#[async_trait]
impl DeadLetterSink for DeadLetterFileSink {
    async fn write_dead_letters(&mut self, epoch: Epoch, letters: Vec<DeadLetter>) -> Result<(), SinkError> {
        self.lines.files.begin_write(epoch)?;
        let topic = self.topic.clone();
        let rows = self.rows.clone();
        let data = offload(&self.lines.name, letters.len(), move || {
            let mut out = Vec::with_capacity(letters.len() * 160);
            for d in &letters {
                dead_letter_json(&mut out, &topic, &rows, d);
                out.push(b'\n');
            }
            out
        })
        .await?;
        self.lines.append(epoch, data).await
    }
}
