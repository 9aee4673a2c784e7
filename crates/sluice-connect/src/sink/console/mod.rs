//! The console sink: each result batch as Spark's console sink prints it, a banner with the
//! batch number and the `show()` table:
//!
//! ```text
//! -------------------------------------------
//! Batch: 0
//! -------------------------------------------
//! +------+-----+
//! |action|count|
//! +------+-----+
//! | click|   14|
//! +------+-----+
//!
//! ```
//!
//! It prints at `write`, not at commit: a console is for watching, and Spark's console sink
//! is not transactional either. After a crash the batches since the last checkpoint are
//! printed again.

use super::{Epoch, Recovery, Sink, SinkError, Transactional};
use async_trait::async_trait;
use sluice_formats::RowSchema;
use sluice_stream::ResultBatch;
use sluice_stream::show::{ShowOptions, console_batch};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where console output goes: standard output, or a shared writer (tests, the demo's UI).
#[derive(Clone)]
pub enum ConsoleOut {
    /// Standard output.
    Stdout,
    /// Any writer, shared.
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl std::fmt::Debug for ConsoleOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleOut::Stdout => f.write_str("Stdout"),
            ConsoleOut::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// Prints result tables.
#[derive(Debug)]
pub struct ConsoleSink {
    name: String,
    schema: RowSchema,
    options: ShowOptions,
    out: ConsoleOut,
}

impl ConsoleSink {
    /// A console sink for rows of `schema`.
    pub fn new(query: &str, schema: RowSchema, options: ShowOptions, out: ConsoleOut) -> ConsoleSink {
        ConsoleSink { name: format!("console sink of query `{query}`"), schema, options, out }
    }

    fn print(&self, text: &str) -> Result<(), SinkError> {
        // One write_all per batch, so tables of several queries do not interleave.
        let result = match &self.out {
            ConsoleOut::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            ConsoleOut::Writer(w) => {
                let mut w = w.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                w.write_all(text.as_bytes()).and_then(|()| w.flush())
            }
        };
        match result {
            Ok(()) => Ok(()),
            // Nobody is reading (`sluice run ... | head`): not the job's problem.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(SinkError::encode(&self.name, format!("cannot print: {e}"))),
        }
    }
}

#[async_trait]
impl Transactional for ConsoleSink {
    fn describe(&self) -> &str {
        &self.name
    }

    async fn recover(&mut self, _last_committed: Option<Epoch>) -> Result<Recovery, SinkError> {
        Ok(Recovery::default())
    }

    async fn pre_commit(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        Ok(())
    }

    async fn commit(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait]
impl Sink for ConsoleSink {
    async fn write(&mut self, _epoch: Epoch, batch: Arc<ResultBatch>) -> Result<(), SinkError> {
        // Rendering touches at most `num_rows` rows: cheap enough for the reactor.
        let text = console_batch(batch.batch, &self.schema, &batch.rows, &self.options);
        self.print(&text)
    }
}
