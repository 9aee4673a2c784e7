//! Parsing schemas into their canonical form, per type.
//!
//! - PROTOBUF: `.proto` text or a base64 FileDescriptorProto, compiled with its references
//!   (and the well-known types, which clients do not register) by protox, then printed back as
//!   text by [`proto_text`]. [`CompiledProto`] keeps the descriptors for the compatibility
//!   checker and for `format=serialized`.
//! - AVRO and JSON: parsed as JSON, checked for the basic shape, kept in compact form.

pub mod proto_text;

use crate::types::{SchemaReference, SchemaType};
use base64::Engine as _;
use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorProto;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use std::collections::HashMap;

/// The file name a schema under compilation gets; imports never use it.
pub const MAIN_FILE: &str = "__sluice_registry_main__.proto";

/// Why a schema is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text does not parse or compile.
    #[error("Invalid schema: {0}")]
    Invalid(String),
}

/// A registered schema that another one depends on, with its text.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The reference (name = import path).
    pub reference: SchemaReference,
    /// The dependency's schema type.
    pub schema_type: SchemaType,
    /// Its canonical text.
    pub text: String,
}

/// A schema parsed and ready for comparisons.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// Protobuf with its descriptors.
    Protobuf(CompiledProto),
    /// Avro, as JSON.
    Avro(serde_json::Value),
    /// JSON Schema, as JSON.
    Json(serde_json::Value),
}

/// A compiled protobuf schema.
#[derive(Debug, Clone)]
pub struct CompiledProto {
    /// Every file: the schema ([`MAIN_FILE`]), its references, well-known types.
    pub pool: DescriptorPool,
    /// Which registered subject/version each file came from (imports by name); absent for the
    /// main file and for well-known types.
    pub file_refs: HashMap<String, (String, i32)>,
}

impl CompiledProto {
    /// The main file's descriptor.
    pub fn main(&self) -> FileDescriptorProto {
        self.pool.get_file_by_name(MAIN_FILE).map(|f| f.file_descriptor_proto().clone()).unwrap_or_default()
    }

    /// The main file as base64 of its serialized FileDescriptorProto (`format=serialized`),
    /// named `name`.
    pub fn serialized(&self, name: &str) -> String {
        let mut fd = self.main();
        fd.name = Some(name.to_string());
        fd.source_code_info = None;
        base64::engine::general_purpose::STANDARD.encode(fd.encode_to_vec())
    }
}

/// Parses `text` as `schema_type`, with `deps` (every transitive reference) available to it.
/// Returns the parsed form and the canonical text.
pub fn parse(schema_type: SchemaType, text: &str, deps: &[Dependency]) -> Result<(Parsed, String), SchemaError> {
    match schema_type {
        SchemaType::Protobuf => {
            let compiled = compile_proto(text, deps)?;
            let canonical = proto_text::print(&compiled.main()).map_err(|e| SchemaError::Invalid(e.to_string()))?;
            Ok((Parsed::Protobuf(compiled), canonical))
        }
        SchemaType::Avro => {
            let v = parse_json(text, "Avro")?;
            check_avro(&v, deps)?;
            let canonical = v.to_string();
            Ok((Parsed::Avro(v), canonical))
        }
        SchemaType::Json => {
            let v = parse_json(text, "JSON Schema")?;
            if !(v.is_object() || v.is_boolean()) {
                return Err(SchemaError::Invalid("a JSON Schema must be an object or a boolean".into()));
            }
            let canonical = v.to_string();
            Ok((Parsed::Json(v), canonical))
        }
    }
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, SchemaError> {
    serde_json::from_str(text).map_err(|e| SchemaError::Invalid(format!("the {what} schema is not valid JSON: {e}")))
}

/// Whether a text looks like a base64 FileDescriptorProto rather than `.proto` source; returns
/// the descriptor if so.
fn as_descriptor(text: &str) -> Option<FileDescriptorProto> {
    let t = text.trim();
    if t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == ';' || c == '{') {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    FileDescriptorProto::decode(bytes.as_slice()).ok()
}

struct MapResolver {
    files: HashMap<String, File>,
}

impl FileResolver for MapResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.files.get(name).cloned().ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// Compiles a protobuf schema (text or base64 descriptor) with its dependencies.
///
/// prost-reflect 0.16 can panic while describing what is wrong with a damaged descriptor (an
/// out-of-range file index in its error labels); a client's bytes must not take the server
/// down, so a panic inside the compiler becomes an invalid-schema error.
pub fn compile_proto(text: &str, deps: &[Dependency]) -> Result<CompiledProto, SchemaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compile_proto_inner(text, deps))).unwrap_or_else(|_| {
        Err(SchemaError::Invalid(
            "the protobuf descriptor is malformed (the compiler could not even describe the problem); send the \
             .proto text or a FileDescriptorProto produced by protoc"
                .into(),
        ))
    })
}

fn compile_proto_inner(text: &str, deps: &[Dependency]) -> Result<CompiledProto, SchemaError> {
    let mut files = HashMap::new();
    let mut file_refs = HashMap::new();
    for d in deps {
        if d.schema_type != SchemaType::Protobuf {
            return Err(SchemaError::Invalid(format!(
                "reference {:?} (subject {:?} version {}) is a {} schema; a protobuf schema can only import protobuf \
                 schemas",
                d.reference.name, d.reference.subject, d.reference.version, d.schema_type
            )));
        }
        let file = match as_descriptor(&d.text) {
            Some(mut fd) => {
                fd.name = Some(d.reference.name.clone());
                File::from_file_descriptor_proto(fd)
            }
            None => File::from_source(&d.reference.name, &d.text).map_err(|e| {
                SchemaError::Invalid(format!("referenced schema {:?} does not parse: {e}", d.reference.name))
            })?,
        };
        files.insert(d.reference.name.clone(), file);
        file_refs.insert(d.reference.name.clone(), (d.reference.subject.clone(), d.reference.version));
    }
    let main = match as_descriptor(text) {
        Some(mut fd) => {
            fd.name = Some(MAIN_FILE.to_string());
            File::from_file_descriptor_proto(fd)
        }
        None => File::from_source(MAIN_FILE, text).map_err(|e| SchemaError::Invalid(describe(&e)))?,
    };
    files.insert(MAIN_FILE.to_string(), main);
    let mut chain = ChainFileResolver::new();
    chain.add(MapResolver { files });
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true);
    compiler.open_file(MAIN_FILE).map_err(|e| {
        let mut msg = describe(&e);
        if e.is_file_not_found() || msg.contains("not found") {
            let names: Vec<&str> = deps.iter().map(|d| d.reference.name.as_str()).collect();
            msg.push_str(&format!(
                "; every import must be registered as its own subject and passed in \"references\" with the import \
                 path as its name (references given: [{}])",
                names.join(", ")
            ));
        }
        SchemaError::Invalid(msg)
    })?;
    Ok(CompiledProto { pool: compiler.descriptor_pool(), file_refs })
}

fn describe(e: &protox::Error) -> String {
    e.to_string().replace(MAIN_FILE, "the schema")
}

const AVRO_PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// The basic shape of an Avro schema: primitives, records with named fields, enums with symbols,
/// arrays with items, maps with values, fixed with size, unions; named types may refer to types
/// defined earlier or in references.
fn check_avro(v: &serde_json::Value, deps: &[Dependency]) -> Result<(), SchemaError> {
    let mut named: Vec<String> = deps.iter().map(|d| d.reference.name.clone()).collect();
    check_avro_node(v, &mut named, "")
}

fn check_avro_node(v: &serde_json::Value, named: &mut Vec<String>, ns: &str) -> Result<(), SchemaError> {
    use serde_json::Value as J;
    let bad = |why: String| Err(SchemaError::Invalid(format!("Avro: {why}")));
    match v {
        J::String(t) => {
            if AVRO_PRIMITIVES.contains(&t.as_str())
                || named.iter().any(|n| n == t || (!ns.is_empty() && *n == format!("{ns}.{t}")))
            {
                Ok(())
            } else {
                bad(format!("unknown type {t:?}; define it before use or pass it in \"references\""))
            }
        }
        J::Array(branches) => {
            for b in branches {
                check_avro_node(b, named, ns)?;
            }
            Ok(())
        }
        J::Object(o) => {
            let Some(t) = o.get("type") else { return bad("an object schema needs a \"type\"".into()) };
            let t = match t {
                J::String(t) => t.as_str(),
                other => return check_avro_node(other, named, ns),
            };
            let name_of = |o: &serde_json::Map<String, J>| -> Result<(String, String), SchemaError> {
                let Some(J::String(name)) = o.get("name") else {
                    return Err(SchemaError::Invalid(format!("Avro: a {t} needs a \"name\"")));
                };
                let space = match o.get("namespace") {
                    Some(J::String(s)) => s.clone(),
                    _ => ns.to_string(),
                };
                let full =
                    if name.contains('.') || space.is_empty() { name.clone() } else { format!("{space}.{name}") };
                let inner_ns = full.rsplit_once('.').map(|(a, _)| a.to_string()).unwrap_or_default();
                Ok((full, inner_ns))
            };
            match t {
                "record" | "error" => {
                    let (full, inner_ns) = name_of(o)?;
                    named.push(full);
                    let Some(J::Array(fields)) = o.get("fields") else {
                        return bad("a record needs a \"fields\" array".into());
                    };
                    for f in fields {
                        let (Some(J::String(_)), Some(ft)) = (f.get("name"), f.get("type")) else {
                            return bad(format!("every record field needs a \"name\" and a \"type\" ({f})"));
                        };
                        check_avro_node(ft, named, &inner_ns)?;
                    }
                    Ok(())
                }
                "enum" => {
                    let (full, _) = name_of(o)?;
                    named.push(full);
                    match o.get("symbols") {
                        Some(J::Array(s)) if s.iter().all(|x| x.is_string()) => Ok(()),
                        _ => bad("an enum needs a \"symbols\" array of strings".into()),
                    }
                }
                "fixed" => {
                    let (full, _) = name_of(o)?;
                    named.push(full);
                    match o.get("size") {
                        Some(J::Number(n)) if n.is_u64() => Ok(()),
                        _ => bad("a fixed needs a non-negative integer \"size\"".into()),
                    }
                }
                "array" => match o.get("items") {
                    Some(items) => check_avro_node(items, named, ns),
                    None => bad("an array needs \"items\"".into()),
                },
                "map" => match o.get("values") {
                    Some(values) => check_avro_node(values, named, ns),
                    None => bad("a map needs \"values\"".into()),
                },
                other => check_avro_node(&J::String(other.to_string()), named, ns),
            }
        }
        other => bad(format!("{other} is not a schema")),
    }
}

#[cfg(test)]
mod tests;
