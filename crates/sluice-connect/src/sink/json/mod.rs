//! The JSON lines sink: one JSON object per result row, one file per epoch
//! (`part-000003-00000.jsonl`, rolled to `-00001` past 128 MiB). Values are rendered as
//! described in [`values`](super::values).

use super::staged::StagedFiles;
use super::storage::Storage;
use super::values::JsonRows;
use super::{Epoch, Recovery, Sink, SinkError, Transactional, offload, part_name};
use async_trait::async_trait;
use bytes::Bytes;
use sluice_formats::RowSchema;
use sluice_stream::ResultBatch;
use std::sync::Arc;

/// A file of lines grows to about this size before the next one starts.
pub const ROLL_BYTES: u64 = 128 << 20;

/// Line-oriented files, one (or a few, rolled) per epoch; shared by the JSON and dead-letter
/// sinks.
pub(crate) struct LineFiles {
    pub(crate) name: String,
    pub(crate) files: StagedFiles,
    instance: Option<String>,
    ext: &'static str,
    roll_bytes: u64,
    /// The open file: epoch, sequence number in the epoch, key, bytes so far.
    current: Option<(Epoch, u64, String, u64)>,
}

impl LineFiles {
    pub(crate) fn new(name: String, storage: Arc<dyn Storage>, instance: Option<String>, ext: &'static str) -> Self {
        LineFiles {
            files: StagedFiles::new(storage, name.clone(), instance.as_deref()),
            name,
            instance,
            ext,
            roll_bytes: ROLL_BYTES,
            current: None,
        }
    }

    pub(crate) fn set_roll_bytes(&mut self, bytes: u64) {
        self.roll_bytes = bytes.max(1);
    }

    pub(crate) async fn append(&mut self, epoch: Epoch, data: Vec<u8>) -> Result<(), SinkError> {
        self.files.begin_write(epoch)?;
        if data.is_empty() {
            return Ok(());
        }
        let (n, key, bytes) = match self.current.take() {
            Some((e, n, key, bytes)) if e == epoch && bytes < self.roll_bytes => (n, key, bytes),
            Some((e, n, key, _)) if e == epoch => {
                self.files.close(&key).await?;
                let key = part_name(self.instance.as_deref(), epoch, n + 1, self.ext);
                self.files.open(epoch, &key).await?;
                (n + 1, key, 0)
            }
            // A new epoch: the previous epoch's file stays open until its pre_commit.
            _ => {
                let key = part_name(self.instance.as_deref(), epoch, 0, self.ext);
                self.files.open(epoch, &key).await?;
                (0, key, 0)
            }
        };
        let len = data.len() as u64;
        self.files.append(&key, Bytes::from(data)).await?;
        self.current = Some((epoch, n, key, bytes + len));
        Ok(())
    }

    pub(crate) async fn recover(&mut self, last: Option<Epoch>) -> Result<Recovery, SinkError> {
        self.current = None;
        self.files.recover(last).await
    }

    pub(crate) async fn pre_commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if self.current.as_ref().is_some_and(|(e, ..)| *e <= epoch) {
            self.current = None;
        }
        self.files.pre_commit(epoch).await
    }
}

/// Writes result rows as JSON lines.
pub struct JsonSink {
    lines: LineFiles,
    rows: Arc<JsonRows>,
}

impl JsonSink {
    /// A JSON lines sink for rows of `schema` on `storage`.
    pub fn new(query: &str, schema: &RowSchema, storage: Arc<dyn Storage>, instance: Option<String>) -> JsonSink {
        let name = format!("json sink of query `{query}` ({})", storage.location("").trim_end_matches('/'));
        JsonSink { lines: LineFiles::new(name, storage, instance, "jsonl"), rows: Arc::new(JsonRows::new(schema)) }
    }

    /// Rolls to a new file past this many bytes (default [`ROLL_BYTES`]).
    pub fn with_roll_bytes(mut self, bytes: u64) -> JsonSink {
        self.lines.set_roll_bytes(bytes);
        self
    }
}

#[async_trait]
impl Transactional for JsonSink {
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
impl Sink for JsonSink {
    async fn write(&mut self, epoch: Epoch, batch: Arc<ResultBatch>) -> Result<(), SinkError> {
        self.lines.files.begin_write(epoch)?;
        let rows = self.rows.clone();
        let n = batch.rows.len();
        let data = offload(&self.lines.name, n, move || {
            let mut out = Vec::with_capacity(batch.rows.len() * 64);
            for r in &batch.rows {
                rows.write_object(&mut out, &r.values);
                out.push(b'\n');
            }
            out
        })
        .await?;
        self.lines.append(epoch, data).await
    }
}
