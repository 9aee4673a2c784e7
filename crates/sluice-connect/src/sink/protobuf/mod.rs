//! The Protobuf sink: each result batch as one file of length-delimited messages
//! (`part-<epoch>-<batch>.pb`: varint length + message, repeated; Java's `writeDelimitedTo` /
//! `parseDelimitedFrom`, Python's `_DecodeVarint32` + `ParseFromString`). The message type
//! comes from a `.proto` file (compiled with `protox`) or a `.desc` descriptor set, by its full
//! name (`results.ActionCount`); columns map to fields as [`encoder`] describes.
//!
//! A batch with no rows gives an empty file: the batch happened, and had nothing.

pub mod encoder;

use super::staged::StagedFiles;
use super::storage::Storage;
use super::{Epoch, Recovery, Sink, SinkError, Transactional, offload, part_name};
use async_trait::async_trait;
use bytes::Bytes;
pub use encoder::{FormatsEncoder, MappingError, ReflectEncoder, RowEncodeError, RowEncoder};
use prost_reflect::MessageDescriptor;
use sluice_formats::RowSchema;
use sluice_formats::protobuf::{ProtoSchema, ProtobufError};
use sluice_stream::ResultBatch;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Why a message type could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}; {fix}")]
pub struct LoadError {
    /// What went wrong (names the file).
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// Loads message `name` from a `.proto` file (imports resolved next to it, and the
/// `google/protobuf/*` well-known types) or from a serialized `FileDescriptorSet`
/// (`.desc`, `.pb`, `.bin`: what `protoc --descriptor_set_out --include_imports` writes), through
/// `sluice-formats`' [`ProtoSchema`] (which also survives damaged descriptor sets).
pub fn load_message(path: &Path, name: &str) -> Result<MessageDescriptor, LoadError> {
    let shown = path.display();
    if !path.is_file() {
        return Err(LoadError {
            message: format!("cannot read {shown}: no such file"),
            fix: "give the path of a .proto or .desc file (relative paths start at the working directory, or at --base-dir when given)".into(),
        });
    }
    let schema = ProtoSchema::load(path).map_err(|e| {
        let fix = match &e {
            ProtobufError::Compile { .. } => "fix the .proto file (imports are looked up next to it)",
            ProtobufError::BadDescriptorSet { .. } => {
                "give a .proto file, or a descriptor set written as the message says"
            }
            _ => "check the path and its permissions",
        };
        LoadError { message: e.to_string(), fix: fix.into() }
    })?;
    schema.message(name).map_err(|e| LoadError {
        message: format!("{shown}: {e}"),
        fix: "use a message's full name, with its package (`results.ActionCount`)".into(),
    })
}

/// Writes length-delimited protobuf files, one per batch.
pub struct ProtobufSink {
    name: String,
    files: StagedFiles,
    encoder: Arc<dyn RowEncoder>,
    instance: Option<String>,
    /// (epoch, batch) already written, so a repeated batch number cannot overwrite a file.
    written: BTreeSet<(Epoch, u64)>,
}

impl ProtobufSink {
    /// A sink writing messages of `message` for rows of `schema` (the mapping is checked here).
    pub fn new(
        query: &str,
        schema: &RowSchema,
        message: MessageDescriptor,
        storage: Arc<dyn Storage>,
        instance: Option<String>,
    ) -> Result<ProtobufSink, SinkError> {
        let name = format!("protobuf sink of query `{query}` ({})", storage.location("").trim_end_matches('/'));
        let encoder = FormatsEncoder::new(message, schema).map_err(|e| SinkError::Column {
            sink: name.clone(),
            column: e.column,
            message: e.message,
            fix: e.fix,
        })?;
        Ok(Self::with_encoder(name, Arc::new(encoder), storage, instance))
    }

    /// A sink with any row encoder.
    pub fn with_encoder(
        name: String,
        encoder: Arc<dyn RowEncoder>,
        storage: Arc<dyn Storage>,
        instance: Option<String>,
    ) -> ProtobufSink {
        ProtobufSink {
            files: StagedFiles::new(storage, name.clone(), instance.as_deref()),
            name,
            encoder,
            instance,
            written: BTreeSet::new(),
        }
    }
}

#[async_trait]
impl Transactional for ProtobufSink {
    fn describe(&self) -> &str {
        &self.name
    }

    async fn recover(&mut self, last_committed: Option<Epoch>) -> Result<Recovery, SinkError> {
        self.written.clear();
        self.files.recover(last_committed).await
    }

    async fn pre_commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.written.retain(|(e, _)| *e > epoch);
        self.files.pre_commit(epoch).await
    }

    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.files.commit(epoch).await.map(|_| ())
    }
}

#[async_trait]
impl Sink for ProtobufSink {
    async fn write(&mut self, epoch: Epoch, batch: Arc<ResultBatch>) -> Result<(), SinkError> {
        self.files.begin_write(epoch)?;
        if !self.written.insert((epoch, batch.batch)) {
            return Err(SinkError::protocol(
                &self.name,
                format!("batch {} was written twice in epoch {epoch}", batch.batch),
            ));
        }
        let encoder = self.encoder.clone();
        let n = batch.rows.len();
        let b = batch.clone();
        let data = offload(&self.name, n, move || {
            let mut out = Vec::with_capacity(b.rows.len() * 24);
            for (i, r) in b.rows.iter().enumerate() {
                encoder.encode_delimited(r, &mut out).map_err(|e| (i, e))?;
            }
            Ok::<_, (usize, RowEncodeError)>(out)
        })
        .await?
        .map_err(|(i, e)| {
            let fix = "change the field's type in the .proto, or the column in the query";
            if e.column.is_empty() {
                SinkError::encode(&self.name, format!("row {i} of batch {}: {}; {fix}", batch.batch, e.message))
            } else {
                SinkError::Column {
                    sink: self.name.clone(),
                    column: e.column.clone(),
                    message: format!("row {i} of batch {}: {e}", batch.batch),
                    fix: fix.into(),
                }
            }
        })?;
        let key = part_name(self.instance.as_deref(), epoch, batch.batch, "pb");
        self.files.open(epoch, &key).await?;
        self.files.append(&key, Bytes::from(data)).await?;
        self.files.close(&key).await
    }
}
