//! Protobuf without generated code: schemas loaded at run time from a descriptor set (`.desc`) or
//! compiled from `.proto` files in pure Rust (protox; no `protoc`), messages found by full name,
//! and fast conversion between message bytes and [`Row`](crate::Row)s.
//!
//! - [`ProtoSchema`]: a descriptor pool with its look-ups.
//! - [`RowDecoder`] / [`RowEncoder`]: bytes ↔ [`Row`](crate::Row) over a field table resolved
//!   once per message type; the decoder walks the wire format itself (the hot path).
//! - [`json_to_protobuf`] / [`protobuf_to_json`]: the canonical protobuf JSON mapping.
//!
//! ```
//! use sluice_formats::protobuf::{ProtoSchema, RowDecoder};
//! let schema = ProtoSchema::compile_source(
//!     "user_event.proto",
//!     r#"syntax = "proto3"; package protobuf;
//!        message UserEvent { string userId = 1; string action = 2; double value = 3; }"#,
//! ).unwrap();
//! let decoder = RowDecoder::new(&schema.message("protobuf.UserEvent").unwrap()).unwrap();
//! let row = decoder.decode(b"\x0a\x05user3\x12\x05click\x19\x00\x00\x00\x00\x00\x00\x24\x40").unwrap();
//! assert_eq!(row.get(0).as_str(), Some("user3"));
//! assert_eq!(row.get(2).as_f64(), Some(10.0));
//! ```

mod decode;
mod encode;
mod plan;

pub use decode::RowDecoder;
pub use encode::RowEncoder;
pub use prost_reflect::{DescriptorPool, DynamicMessage, FileDescriptor, MessageDescriptor};

use prost::Message as _;
use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};
use protox::file::{ChainFileResolver, DescriptorSetFileResolver, File, FileResolver, GoogleFileResolver};
use std::path::{Path, PathBuf};

/// What can go wrong loading schemas or converting messages.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `.proto` compilation failed (syntax, unknown import, unresolved type...).
    #[error("cannot compile {what}: {message}")]
    Compile {
        /// Which files.
        what: String,
        /// protox's diagnostic, with file and line.
        message: String,
    },
    /// A `.desc` file is not a valid FileDescriptorSet.
    #[error(
        "{what} is not a valid protobuf FileDescriptorSet ({message}); produce one with \
         `sluice schemas compile FILE.proto -o FILE.desc` or `protoc --include_imports --descriptor_set_out=...`"
    )]
    BadDescriptorSet {
        /// Which input.
        what: String,
        /// The decoder's or linker's complaint.
        message: String,
    },
    /// No message of that name.
    #[error("no message named {name:?} in the schema; it has: {available}")]
    NoSuchMessage {
        /// The name asked for.
        name: String,
        /// The full names that exist.
        available: String,
    },
    /// A field's type has no row column form.
    #[error("field {field:?} of {message} cannot become a row column: {why}")]
    Unsupported {
        /// Message full name.
        message: String,
        /// Field name.
        field: String,
        /// Why.
        why: String,
    },
    /// Message bytes do not parse.
    #[error("invalid {message} bytes at offset {offset}: {why}")]
    Decode {
        /// Message full name.
        message: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        why: String,
    },
    /// A row does not fit the message.
    #[error("cannot encode row as {message}: {why}")]
    Encode {
        /// Message full name.
        message: String,
        /// What is wrong.
        why: String,
    },
    /// JSON ↔ protobuf conversion failed.
    #[error("JSON conversion for {message} failed: {why}")]
    Json {
        /// Message full name.
        message: String,
        /// What is wrong.
        why: String,
    },
}

type Result<T, E = ProtobufError> = std::result::Result<T, E>;

/// A set of protobuf files with their dependencies, ready for look-ups.
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    pool: DescriptorPool,
    /// Files the user named (not their imports), in order.
    roots: Vec<String>,
}

impl ProtoSchema {
    /// Loads `path`: a `.proto` file is compiled (its directory is the include path), anything else
    /// is read as a FileDescriptorSet.
    pub fn load(path: &Path) -> Result<Self> {
        if path.extension().is_some_and(|e| e == "proto") {
            let include = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            let include = if include.as_os_str().is_empty() { PathBuf::from(".") } else { include };
            Self::compile(&[path.to_path_buf()], &[include])
        } else {
            let bytes = std::fs::read(path).map_err(|source| ProtobufError::Read { path: path.into(), source })?;
            Self::from_descriptor_set(&bytes, &path.display().to_string())
        }
    }

    /// Reads a FileDescriptorSet. Well-known types (`google/protobuf/*.proto`) missing from the set
    /// are supplied, so sets written without `--include_imports` for them still load.
    ///
    /// A damaged set is an error; prost-reflect 0.16 can panic while describing some damage,
    /// and that panic is turned into [`ProtobufError::BadDescriptorSet`] too.
    pub fn from_descriptor_set(bytes: &[u8], what: &str) -> Result<Self> {
        std::panic::catch_unwind(|| Self::from_descriptor_set_inner(bytes, what)).unwrap_or_else(|_| {
            Err(ProtobufError::BadDescriptorSet { what: what.into(), message: "the descriptors are malformed".into() })
        })
    }

    fn from_descriptor_set_inner(bytes: &[u8], what: &str) -> Result<Self> {
        let set = FileDescriptorSet::decode(bytes)
            .map_err(|e| ProtobufError::BadDescriptorSet { what: what.into(), message: e.to_string() })?;
        if set.file.is_empty() {
            return Err(ProtobufError::BadDescriptorSet { what: what.into(), message: "it holds no files".into() });
        }
        let roots: Vec<String> = set.file.iter().map(|f| f.name().to_string()).collect();
        let mut chain = ChainFileResolver::new();
        chain.add(DescriptorSetFileResolver::new(set));
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.include_imports(true);
        for name in &roots {
            compiler
                .open_file(name)
                .map_err(|e| ProtobufError::BadDescriptorSet { what: what.into(), message: e.to_string() })?;
        }
        Ok(ProtoSchema { pool: compiler.descriptor_pool(), roots })
    }

    /// Compiles `.proto` files; imports are searched in `includes` (well-known types built in).
    pub fn compile(files: &[PathBuf], includes: &[PathBuf]) -> Result<Self> {
        let what = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
        let compile_err = |e: protox::Error| ProtobufError::Compile { what: what.clone(), message: e.to_string() };
        let mut compiler = protox::Compiler::new(includes).map_err(compile_err)?;
        compiler.include_imports(true).include_source_info(false);
        compiler.open_files(files).map_err(compile_err)?;
        let roots = compiler.files().filter(|f| !f.is_import()).map(|f| f.name().to_string()).collect();
        Ok(ProtoSchema { pool: compiler.descriptor_pool(), roots })
    }

    /// Compiles one `.proto` file given as text (imports limited to the well-known types).
    pub fn compile_source(name: &str, source: &str) -> Result<Self> {
        Self::compile_sources(name, &[(name, source)])
    }

    /// Compiles in-memory `.proto` files; `main` names the one to open (its imports come from
    /// `files` or the well-known types).
    pub fn compile_sources(main: &str, files: &[(&str, &str)]) -> Result<Self> {
        let what = main.to_string();
        let mut resolver = MemoryResolver::default();
        for (name, source) in files {
            let file = File::from_source(name, source)
                .map_err(|e| ProtobufError::Compile { what: (*name).to_string(), message: e.to_string() })?;
            resolver.files.push(file);
        }
        let mut chain = ChainFileResolver::new();
        chain.add(resolver);
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.include_imports(true);
        compiler.open_file(main).map_err(|e| ProtobufError::Compile { what, message: e.to_string() })?;
        Ok(ProtoSchema { pool: compiler.descriptor_pool(), roots: vec![main.to_string()] })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: DescriptorPool) -> Self {
        let roots = pool.files().map(|f| f.name().to_string()).collect();
        ProtoSchema { pool, roots }
    }

    /// The descriptor pool.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// The files named by the user (not their imports).
    pub fn root_files(&self) -> impl Iterator<Item = FileDescriptor> + '_ {
        self.roots.iter().filter_map(|n| self.pool.get_file_by_name(n))
    }

    /// The FileDescriptorSet of every file, imports included (what `protoc --include_imports
    /// --descriptor_set_out` writes).
    pub fn descriptor_set_bytes(&self) -> Vec<u8> {
        FileDescriptorSet { file: self.pool.file_descriptor_protos().cloned().map(strip_source_info).collect() }
            .encode_to_vec()
    }

    /// A message by full name (`protobuf.UserEvent`; a leading dot is accepted). A bare name that
    /// matches exactly one message (`UserEvent`) is accepted too.
    pub fn message(&self, name: &str) -> Result<MessageDescriptor> {
        let name = name.strip_prefix('.').unwrap_or(name);
        if let Some(m) = self.pool.get_message_by_name(name) {
            return Ok(m);
        }
        let mut matches = self.pool.all_messages().filter(|m| m.name() == name);
        if let (Some(m), None) = (matches.next(), matches.next()) {
            return Ok(m);
        }
        Err(ProtobufError::NoSuchMessage { name: name.to_string(), available: self.message_names().join(", ") })
    }

    /// Full names of the messages declared in the root files (map entries left out).
    pub fn message_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.root_files() {
            for m in f.messages() {
                collect_names(&m, &mut out);
            }
        }
        out
    }
}

fn collect_names(m: &MessageDescriptor, out: &mut Vec<String>) {
    if m.is_map_entry() {
        return;
    }
    out.push(m.full_name().to_string());
    for c in m.child_messages() {
        collect_names(&c, out);
    }
}

fn strip_source_info(f: FileDescriptorProto) -> FileDescriptorProto {
    FileDescriptorProto { source_code_info: None, ..f }
}

/// Files held in memory for protox.
#[derive(Default)]
struct MemoryResolver {
    files: Vec<File>,
}

impl FileResolver for MemoryResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.files.iter().find(|f| f.name() == name).cloned().ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// The message that a Confluent message-index path names inside `file` (`[0]` = first top-level
/// message, `[1, 0]` = first message nested in the second). Map entries count, as in the
/// descriptor that confluent-kafka's serializers index.
pub fn message_at(file: &FileDescriptor, indexes: &[u32]) -> Option<MessageDescriptor> {
    let (first, rest) = indexes.split_first()?;
    let mut m = file.messages().nth(*first as usize)?;
    for i in rest {
        let next = m.child_messages().nth(*i as usize)?;
        m = next;
    }
    Some(m)
}

/// The Confluent message-index path of `message` within its file (inverse of [`message_at`]).
pub fn indexes_of(message: &MessageDescriptor) -> Vec<u32> {
    let path = message.path();
    // descriptor paths: [4, i] for a top-level message, then [3, j] per nesting level
    path.chunks(2).filter_map(|c| c.get(1).map(|&i| i as u32)).collect()
}

/// JSON text (protobuf's canonical JSON mapping; field names or JSON names) to message bytes.
pub fn json_to_protobuf(message: &MessageDescriptor, json: &str) -> Result<Vec<u8>> {
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(message.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| ProtobufError::Json { message: message.full_name().into(), why: e.to_string() })?;
    Ok(msg.encode_to_vec())
}

/// Message bytes to JSON text (canonical mapping: JSON names, defaults left out).
pub fn protobuf_to_json(message: &MessageDescriptor, bytes: &[u8]) -> Result<String> {
    let msg = DynamicMessage::decode(message.clone(), bytes).map_err(|e| ProtobufError::Decode {
        message: message.full_name().into(),
        offset: 0,
        why: e.to_string(),
    })?;
    serde_json::to_string(&msg)
        .map_err(|e| ProtobufError::Json { message: message.full_name().into(), why: e.to_string() })
}

#[cfg(test)]
mod tests;
