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
pub use encoder::{MappingError, ReflectEncoder, RowEncodeError, RowEncoder};
use prost_reflect::{DescriptorPool, MessageDescriptor};
use sluice_formats::RowSchema;
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
/// (`.desc`, `.pb`, `.bin`: what `protoc --descriptor_set_out --include_imports` writes).
pub fn load_message(path: &Path, name: &str) -> Result<MessageDescriptor, LoadError> {
    let shown = path.display();
    if !path.is_file() {
        return Err(LoadError {
            message: format!("cannot read {shown}: no such file"),
            fix: "give the path of a .proto or .desc file (relative paths start at the working directory)".into(),
        });
    }
    let is_proto = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("proto"));
    let pool = if is_proto {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let file = path.file_name().map(Path::new).unwrap_or(path);
        let mut compiler = protox::Compiler::new([dir])
            .map_err(|e| LoadError { message: format!("cannot compile {shown}: {e}"), fix: "check the file".into() })?;
        compiler.include_imports(true);
        compiler.open_file(file).map_err(|e| LoadError {
            message: format!("cannot compile {shown}: {e}"),
            fix: "fix the .proto file (imports are looked up next to it)".into(),
        })?;
        compiler.descriptor_pool()
    } else {
        let bytes = std::fs::read(path).map_err(|e| LoadError {
            message: format!("cannot read {shown}: {e}"),
            fix: "check the path and its permissions".into(),
        })?;
        DescriptorPool::decode(bytes.as_slice()).map_err(|e| LoadError {
            message: format!("{shown} is not a FileDescriptorSet: {e}"),
            fix: "write it with `protoc --include_imports --descriptor_set_out=FILE`, or give the .proto file".into(),
        })?
    };
    pool.get_message_by_name(name).ok_or_else(|| {
        let mut names: Vec<String> = pool
            .all_messages()
            .map(|m| m.full_name().to_string())
            .filter(|n| !n.starts_with("google.protobuf."))
            .collect();
        names.sort();
        LoadError {
            message: format!("{shown} has no message `{name}`"),
            fix: if names.is_empty() {
                "the file defines no messages".to_string()
            } else {
                format!("use the full name, with the package: one of {}", names.join(", "))
            },
        }
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
        let encoder = ReflectEncoder::new(message, schema).map_err(|e| SinkError::Column {
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
        .map_err(|(i, e)| SinkError::Column {
            sink: self.name.clone(),
            column: e.column.clone(),
            message: format!("row {i} of batch {}: {e}", batch.batch),
            fix: "change the field's type in the .proto, or the column in the query".into(),
        })?;
        let key = part_name(self.instance.as_deref(), epoch, batch.batch, "pb");
        self.files.open(epoch, &key).await?;
        self.files.append(&key, Bytes::from(data)).await?;
        self.files.close(&key).await
    }
}
