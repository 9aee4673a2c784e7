//! The Parquet sink: result rows as Parquet files, optionally in hive-style partition
//! directories (`network_id=3/minute_timestamp=2026-11-23 10%3A05%3A00/part-000003-00000.parquet`,
//! see [`partition`]). As in Spark, partition columns live in the directory names only, not in
//! the files, and at least one column must stay in the files.
//!
//! Choices:
//! - **Compression: snappy** by default (`compression = "zstd"` or `"uncompressed"` to change
//!   it). Snappy is Spark's default, every Parquet reader has it, and it is the cheapest to
//!   encode, which matters more on a loaded 2-core machine than the 10–30 % smaller files zstd
//!   gives; zstd (level 3) is there for archives.
//! - **Row groups** close at 64 MiB of encoded data or 1 Mi rows, whichever comes first (Spark /
//!   parquet-mr use 128 MiB blocks; half of that bounds the memory of each open partition
//!   file, and streaming results rarely get there: a small result is one row group).
//! - **Files**: one per partition directory per epoch, rolled to `-00001` past 512 MiB so a
//!   publish (a server-side copy on S3, limited to 5 GB) stays fast.
//! - Types: bool → BOOLEAN, int → INT64, float → DOUBLE, string → UTF8 string, bytes → BINARY,
//!   timestamp → INT64 TIMESTAMP(MILLIS, adjusted to UTC); every column nullable.

pub mod partition;

use super::staged::StagedFiles;
use super::storage::Storage;
use super::{Epoch, Recovery, Sink, SinkError, Transactional, offload, part_name};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_formats::{Kind, Row, RowSchema, Value};
use sluice_stream::ResultBatch;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Row groups close at this many encoded bytes.
pub const ROW_GROUP_BYTES: usize = 64 << 20;
/// ... or at this many rows.
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// A partition's file of an epoch rolls over past this size.
pub const ROLL_BYTES: usize = 512 << 20;
/// Rows converted to Arrow at a time (bounds the size of one Arrow batch).
const CHUNK_ROWS: usize = 64 * 1024;
/// Bytes of string/binary data per Arrow batch (Arrow's 32-bit offsets stop at 2 GiB).
const CHUNK_VAR_BYTES: usize = 256 << 20;

/// How the Parquet files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    /// Snappy (the default).
    Snappy,
    /// Zstandard at level 3.
    Zstd,
    /// None.
    Uncompressed,
}

impl ParquetCompression {
    /// Parses the job file's `compression` option.
    pub fn parse(text: &str) -> Option<ParquetCompression> {
        match text.trim().to_ascii_lowercase().as_str() {
            "snappy" => Some(ParquetCompression::Snappy),
            "zstd" => Some(ParquetCompression::Zstd),
            "none" | "uncompressed" => Some(ParquetCompression::Uncompressed),
            _ => None,
        }
    }

    fn codec(self) -> Compression {
        match self {
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
            ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
        }
    }
}

/// Parquet sink settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Columns that become `col=value/` directories, in order.
    pub partition_by: Vec<String>,
    /// Compression codec.
    pub compression: ParquetCompression,
    /// Row groups close at this many encoded bytes (at least 1).
    pub row_group_bytes: usize,
    /// ... or rows (at least 1).
    pub row_group_rows: usize,
    /// Files roll over past this many bytes.
    pub roll_bytes: usize,
    /// Instance name for scale-out (in file names and the staging area).
    pub instance: Option<String>,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            partition_by: Vec::new(),
            compression: ParquetCompression::Snappy,
            row_group_bytes: ROW_GROUP_BYTES,
            row_group_rows: ROW_GROUP_ROWS,
            roll_bytes: ROLL_BYTES,
            instance: None,
        }
    }
}

/// The Arrow type of a column kind.
pub fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Bool => DataType::Boolean,
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Str => DataType::Utf8,
        Kind::Bytes => DataType::Binary,
        Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

/// One open file: its writer, where its bytes go, its sequence number in the epoch.
struct PartWriter {
    writer: ArrowWriter<Vec<u8>>,
    key: String,
    n: u64,
}

/// An instruction for the staged files, produced off the reactor and applied on it.
enum FileOp {
    Open(String),
    Data(String, Bytes),
    Close(String),
}

/// What an encoder needs to know, fixed when the sink is built.
#[derive(Clone)]
struct Layout {
    name: String,
    schema: RowSchema,
    /// Positions of the partition columns in the result schema.
    part_cols: Vec<usize>,
    /// Positions of the columns stored in the files.
    data_cols: Vec<usize>,
    arrow: SchemaRef,
    props: WriterProperties,
    roll_bytes: usize,
    instance: Option<String>,
}

/// The encoder state, moved to the blocking pool and back for each batch.
struct Encoder {
    layout: Layout,
    /// Open writers by (epoch, partition directory).
    writers: BTreeMap<(Epoch, String), PartWriter>,
}

impl std::ops::Deref for Encoder {
    type Target = Layout;
    fn deref(&self) -> &Layout {
        &self.layout
    }
}

/// Writes Parquet files.
pub struct ParquetSink {
    name: String,
    files: StagedFiles,
    /// `None` while a batch is being encoded, or after an encoding task died.
    encoder: Option<Box<Encoder>>,
    /// To start over at recovery.
    layout: Layout,
}

impl ParquetSink {
    /// A Parquet sink for rows of `schema`; checks the partition columns.
    pub fn new(
        query: &str,
        schema: &RowSchema,
        storage: Arc<dyn Storage>,
        options: ParquetOptions,
    ) -> Result<ParquetSink, SinkError> {
        let name = format!("parquet sink of query `{query}` ({})", storage.location("").trim_end_matches('/'));
        let columns = || schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
        let mut part_cols = Vec::new();
        for p in &options.partition_by {
            let Some(i) = schema.index_of(p) else {
                return Err(SinkError::config(
                    &name,
                    "partition_by",
                    format!("`{p}` is not a result column"),
                    format!("partition by some of: {}", columns()),
                ));
            };
            if part_cols.contains(&i) {
                return Err(SinkError::config(
                    &name,
                    "partition_by",
                    format!("`{p}` is listed twice"),
                    "list each column once",
                ));
            }
            if schema.fields[i].kind == Kind::Bytes {
                return Err(SinkError::config(
                    &name,
                    "partition_by",
                    format!("`{p}` is binary, which cannot name a directory"),
                    "partition by a string, integer, boolean, float or timestamp column (or hex(...) it first)",
                ));
            }
            part_cols.push(i);
        }
        let data_cols: Vec<usize> = (0..schema.len()).filter(|i| !part_cols.contains(i)).collect();
        if data_cols.is_empty() {
            return Err(SinkError::config(
                &name,
                "partition_by",
                "every column is a partition column, so the files would have no columns",
                "leave at least one column out of partition_by (Spark refuses this too)",
            ));
        }
        if options.row_group_bytes == 0 || options.row_group_rows == 0 || options.roll_bytes == 0 {
            return Err(SinkError::config(&name, "row groups", "sizes must be at least 1", "use the defaults"));
        }
        let arrow: SchemaRef = Arc::new(Schema::new(
            data_cols
                .iter()
                .map(|&i| Field::new(schema.fields[i].name.clone(), arrow_type(schema.fields[i].kind), true))
                .collect::<Vec<_>>(),
        ));
        let props = WriterProperties::builder()
            .set_compression(options.compression.codec())
            .set_max_row_group_bytes(Some(options.row_group_bytes))
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_created_by(format!("sluice {}", env!("CARGO_PKG_VERSION")))
            .build();
        let layout = Layout {
            name: name.clone(),
            schema: schema.clone(),
            part_cols,
            data_cols,
            arrow,
            props,
            roll_bytes: options.roll_bytes,
            instance: options.instance.clone(),
        };
        Ok(ParquetSink {
            files: StagedFiles::new(storage, name.clone(), options.instance.as_deref()),
            name,
            encoder: Some(Box::new(Encoder { layout: layout.clone(), writers: BTreeMap::new() })),
            layout,
        })
    }

    /// Runs `f` on the encoder (off the reactor when `rows` is large) and applies the file
    /// operations it produced.
    async fn with_encoder(
        &mut self,
        epoch: Epoch,
        rows: usize,
        f: impl FnOnce(&mut Encoder) -> Result<Vec<FileOp>, SinkError> + Send + 'static,
    ) -> Result<(), SinkError> {
        let Some(mut enc) = self.encoder.take() else {
            return Err(SinkError::protocol(
                &self.name,
                "an earlier encoding task failed; recover from the last checkpoint before writing again",
            ));
        };
        let (enc, ops) = offload(&self.name, rows, move || {
            let ops = f(&mut enc);
            (enc, ops)
        })
        .await?;
        self.encoder = Some(enc);
        for op in ops? {
            match op {
                FileOp::Open(k) => self.files.open(epoch, &k).await?,
                FileOp::Data(k, b) => self.files.append(&k, b).await?,
                FileOp::Close(k) => self.files.close(&k).await?,
            }
        }
        Ok(())
    }
}

fn parquet_err(name: &str, what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::encode(name, format!("cannot {what}: {e}"))
}

impl Encoder {
    fn column_error(&self, col: usize, row: &Row, found: &Value) -> SinkError {
        let f = &self.schema.fields[col];
        SinkError::Column {
            sink: self.name.clone(),
            column: f.name.clone(),
            message: format!(
                "the result schema says {} but a row holds {} ({found:?}); row: {:?}",
                f.kind,
                found.kind().map(|k| k.to_string()).unwrap_or_default(),
                row.values
            ),
            fix: "the engine's rows disagree with its schema: a bug in sluice, please report it with the job file"
                .to_string(),
        }
    }

    /// Converts rows (the data columns) to one Arrow batch.
    fn to_arrow(&self, rows: &[&Row]) -> Result<RecordBatch, SinkError> {
        let n = rows.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.data_cols.len());
        for &c in &self.data_cols {
            let kind = self.schema.fields[c].kind;
            let array: ArrayRef = match kind {
                Kind::Bool => {
                    let mut b = BooleanBuilder::with_capacity(n);
                    for r in rows {
                        match r.get(c) {
                            Value::Null => b.append_null(),
                            Value::Bool(v) => b.append_value(*v),
                            other => return Err(self.column_error(c, r, other)),
                        }
                    }
                    Arc::new(b.finish())
                }
                Kind::Int => {
                    let mut b = Int64Builder::with_capacity(n);
                    for r in rows {
                        match r.get(c) {
                            Value::Null => b.append_null(),
                            Value::Int(v) => b.append_value(*v),
                            other => return Err(self.column_error(c, r, other)),
                        }
                    }
                    Arc::new(b.finish())
                }
                Kind::Float => {
                    let mut b = Float64Builder::with_capacity(n);
                    for r in rows {
                        match r.get(c) {
                            Value::Null => b.append_null(),
                            Value::Float(v) => b.append_value(*v),
                            Value::Int(v) => b.append_value(*v as f64),
                            other => return Err(self.column_error(c, r, other)),
                        }
                    }
                    Arc::new(b.finish())
                }
                Kind::Str => {
                    let mut b = StringBuilder::with_capacity(n, n * 8);
                    for r in rows {
                        match r.get(c) {
                            Value::Null => b.append_null(),
                            Value::Str(v) => b.append_value(v.as_str()),
                            other => return Err(self.column_error(c, r, other)),
                        }
                    }
                    Arc::new(b.finish())
                }
                Kind::Bytes => {
                    let mut b = BinaryBuilder::with_capacity(n, n * 8);
                    for r in rows {
                        match r.get(c) {
                            Value::Null => b.append_null(),
                            Value::Bytes(v) => b.append_value(&v[..]),
                            other => return Err(self.column_error(c, r, other)),
                        }
                    }
                    Arc::new(b.finish())
                }
                Kind::Timestamp => {
                    let mut b = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
                    for r in rows {
                        match r.get(c) {
                            Value::Null => b.append_null(),
                            Value::Timestamp(v) => b.append_value(*v),
                            other => return Err(self.column_error(c, r, other)),
                        }
                    }
                    Arc::new(b.finish())
                }
            };
            columns.push(array);
        }
        RecordBatch::try_new(self.arrow.clone(), columns)
            .map_err(|e| parquet_err(&self.name, "build an Arrow batch", e))
    }

    /// Splits rows into chunks small enough for one Arrow batch each.
    fn chunks<'a>(&self, rows: &[&'a Row]) -> Result<Vec<Vec<&'a Row>>, SinkError> {
        let mut out = Vec::new();
        let mut cur: Vec<&Row> = Vec::new();
        let mut var = 0usize;
        for r in rows {
            let mut size = 0usize;
            for &c in &self.data_cols {
                size += match r.get(c) {
                    Value::Str(s) => s.len(),
                    Value::Bytes(b) => b.len(),
                    _ => 0,
                };
            }
            if size > i32::MAX as usize / 2 {
                return Err(SinkError::encode(
                    &self.name,
                    format!("a row holds {size} bytes of text/binary; Parquet cells here are limited to 1 GiB"),
                ));
            }
            if !cur.is_empty() && (cur.len() >= CHUNK_ROWS || var + size > CHUNK_VAR_BYTES) {
                out.push(std::mem::take(&mut cur));
                var = 0;
            }
            var += size;
            cur.push(r);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        Ok(out)
    }

    fn new_writer(&self, epoch: Epoch, dir: &str, n: u64) -> Result<PartWriter, SinkError> {
        let key = format!("{dir}{}", part_name(self.instance.as_deref(), epoch, n, "parquet"));
        let writer = ArrowWriter::try_new(Vec::new(), self.arrow.clone(), Some(self.props.clone()))
            .map_err(|e| parquet_err(&self.name, "start a Parquet file", e))?;
        Ok(PartWriter { writer, key, n })
    }

    /// Writes a batch's rows into the epoch's partition files.
    fn write(&mut self, epoch: Epoch, batch: &ResultBatch) -> Result<Vec<FileOp>, SinkError> {
        // Group rows by partition directory first, and convert everything before writing
        // anything, so that a bad row leaves no half-written batch behind.
        let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for r in &batch.rows {
            let mut dir = String::new();
            for &c in &self.part_cols {
                partition::push_segment(&mut dir, &self.schema.fields[c].name, r.get(c));
            }
            groups.entry(dir).or_default().push(r);
        }
        let mut converted: Vec<(String, Vec<RecordBatch>)> = Vec::with_capacity(groups.len());
        for (dir, rows) in groups {
            let mut batches = Vec::new();
            for chunk in self.chunks(&rows)? {
                batches.push(self.to_arrow(&chunk)?);
            }
            converted.push((dir, batches));
        }
        let mut ops = Vec::new();
        for (dir, batches) in converted {
            let slot = (epoch, dir);
            if !self.writers.contains_key(&slot) {
                let w = self.new_writer(epoch, &slot.1, 0)?;
                ops.push(FileOp::Open(w.key.clone()));
                self.writers.insert(slot.clone(), w);
            }
            for b in batches {
                let Some(w) = self.writers.get_mut(&slot) else { break };
                w.writer.write(&b).map_err(|e| parquet_err(&self.layout.name, "write Parquet", e))?;
                w.writer.sync().map_err(|e| parquet_err(&self.layout.name, "write Parquet", e))?;
                let data = std::mem::take(w.writer.inner_mut());
                if !data.is_empty() {
                    ops.push(FileOp::Data(w.key.clone(), Bytes::from(data)));
                }
                if w.writer.bytes_written() + w.writer.in_progress_size() >= self.layout.roll_bytes {
                    let n = w.n + 1;
                    if let Some(old) = self.writers.remove(&slot) {
                        self.finish(old, &mut ops)?;
                    }
                    let w = self.new_writer(epoch, &slot.1, n)?;
                    ops.push(FileOp::Open(w.key.clone()));
                    self.writers.insert(slot.clone(), w);
                }
            }
        }
        Ok(ops)
    }

    fn finish(&self, mut w: PartWriter, ops: &mut Vec<FileOp>) -> Result<(), SinkError> {
        w.writer.finish().map_err(|e| parquet_err(&self.name, "finish a Parquet file", e))?;
        let data = std::mem::take(w.writer.inner_mut());
        ops.push(FileOp::Data(w.key.clone(), Bytes::from(data)));
        ops.push(FileOp::Close(w.key));
        Ok(())
    }

    /// Finishes every file of the epochs up to `epoch`.
    fn finish_epochs(&mut self, epoch: Epoch) -> Result<Vec<FileOp>, SinkError> {
        let slots: Vec<(Epoch, String)> = self.writers.keys().filter(|(e, _)| *e <= epoch).cloned().collect();
        let mut ops = Vec::new();
        for s in slots {
            if let Some(w) = self.writers.remove(&s) {
                self.finish(w, &mut ops)?;
            }
        }
        Ok(ops)
    }

    fn open_rows(&self, epoch: Epoch) -> usize {
        self.writers.iter().filter(|((e, _), _)| *e <= epoch).map(|(_, w)| w.writer.in_progress_rows()).sum()
    }
}

#[async_trait]
impl Transactional for ParquetSink {
    fn describe(&self) -> &str {
        &self.name
    }

    async fn recover(&mut self, last_committed: Option<Epoch>) -> Result<Recovery, SinkError> {
        // Unfinished files of the crashed attempt are dropped with their writers.
        self.encoder = Some(Box::new(Encoder { layout: self.layout.clone(), writers: BTreeMap::new() }));
        self.files.recover(last_committed).await
    }

    async fn pre_commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        let rows = self.encoder.as_ref().map(|e| e.open_rows(epoch)).unwrap_or(0);
        self.with_encoder(epoch, rows, move |enc| enc.finish_epochs(epoch)).await?;
        self.files.pre_commit(epoch).await
    }

    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.files.commit(epoch).await.map(|_| ())
    }
}

#[async_trait]
impl Sink for ParquetSink {
    async fn write(&mut self, epoch: Epoch, batch: Arc<ResultBatch>) -> Result<(), SinkError> {
        self.files.begin_write(epoch)?;
        let rows = batch.rows.len();
        self.with_encoder(epoch, rows, move |enc| enc.write(epoch, &batch)).await
    }
}
