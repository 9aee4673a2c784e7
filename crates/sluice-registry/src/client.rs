//! A client of any Confluent-compatible registry (sluice's or Confluent's), for sluice's own
//! producers and Kafka sources: fetch a schema by id with its references and decode
//! Confluent-framed protobuf values into rows, or register `.proto` files the way
//! confluent-kafka's serializer does (each import as its own subject, then the file with
//! references).
//!
//! ```no_run
//! # async fn run(value: &[u8]) -> Result<(), sluice_registry::client::ClientError> {
//! let client = sluice_registry::client::RegistryClient::new("http://127.0.0.1:8081");
//! let (decoder, row) = client.decode_protobuf(value).await?;
//! println!("{}: {:?}", decoder.message().full_name(), row);
//! # Ok(()) }
//! ```

use crate::schema::MAIN_FILE;
use crate::types::{SchemaReference, SchemaType};
use base64::Engine as _;
use prost::Message as _;
use serde_json::{Value as J, json};
use sluice_formats::protobuf::{FileDescriptor, ProtoSchema, ProtobufError, RowDecoder, message_at};
use sluice_formats::row::Row;
use sluice_wire::confluent::{ConfluentError, decode_protobuf};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The innermost cause of an HTTP client error ("Connection refused (os error 111)"): reqwest's
/// own text, "error sending request for url (...)", names the URL but not what went wrong.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(inner) = last.source() {
        last = inner;
    }
    last.to_string()
}

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer.
    #[error("no schema registry answered at {url} ({cause}); start one with `sluice registry` or check the URL")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The HTTP client's error.
        cause: String,
    },
    /// An error answer.
    #[error("the schema registry answered {status} to {url}: {message} (error {code})")]
    Status {
        /// The URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// Confluent error code.
        code: i64,
        /// The registry's message.
        message: String,
    },
    /// An answer that is not what the API promises.
    #[error("unexpected answer from {url}: {why}")]
    Body {
        /// The URL called.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The value is not Confluent-framed.
    #[error(transparent)]
    Frame(#[from] ConfluentError),
    /// The schema does not compile or the payload does not decode.
    #[error(transparent)]
    Protobuf(#[from] ProtobufError),
    /// The schema is not protobuf.
    #[error("schema {id} is {schema_type}, not PROTOBUF")]
    NotProtobuf {
        /// Schema id.
        id: u32,
        /// Its type.
        schema_type: String,
    },
    /// The message indexes name no message.
    #[error("schema {id} has no message at index path {indexes:?}")]
    NoMessage {
        /// Schema id.
        id: u32,
        /// The path from the value's prefix.
        indexes: Vec<u32>,
    },
}

/// A schema fetched with its references and compiled.
#[derive(Debug)]
pub struct FetchedSchema {
    /// Id.
    pub id: u32,
    /// Canonical text.
    pub text: String,
    /// Direct references.
    pub references: Vec<SchemaReference>,
    /// The compiled files (the schema itself is [`MAIN_FILE`]).
    pub proto: ProtoSchema,
}

impl FetchedSchema {
    /// The schema's own file.
    pub fn file(&self) -> Option<FileDescriptor> {
        self.proto.pool().get_file_by_name(MAIN_FILE)
    }
}

/// One version of a subject, as `GET /subjects/{s}/versions/{v}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SubjectVersion {
    /// Subject.
    pub subject: String,
    /// Version within the subject.
    pub version: i32,
    /// Schema id.
    pub id: u32,
    /// `PROTOBUF`, `AVRO` or `JSON` (Confluent leaves it out for Avro).
    #[serde(rename = "schemaType", default = "avro")]
    pub schema_type: String,
    /// The schema text.
    pub schema: String,
    /// Schemas it imports.
    #[serde(default)]
    pub references: Vec<SchemaReference>,
}

fn avro() -> String {
    "AVRO".to_string()
}

/// Schema id and message-index path.
type DecoderKey = (u32, Vec<u32>);

/// A registry client with caches by schema id (schemas never change under an id).
#[derive(Debug)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
    schemas: Mutex<HashMap<u32, Arc<FetchedSchema>>>,
    decoders: Mutex<HashMap<DecoderKey, Arc<RowDecoder>>>,
}

/// Percent-encodes a subject for a URL path (`/` and everything but unreserved characters).
pub fn encode_subject(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RegistryClient {
    /// A client of the registry at `url` (`http://host:port`).
    pub fn new(url: &str) -> Self {
        RegistryClient {
            base: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            schemas: Mutex::new(HashMap::new()),
            decoders: Mutex::new(HashMap::new()),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<J>) -> Result<J, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.header("content-type", "application/vnd.schemaregistry.v1+json").body(b.to_string());
        }
        let resp =
            req.send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), cause: root_cause(&e) })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| ClientError::Body { url: url.clone(), why: e.to_string() })?;
        let v: J = serde_json::from_str(&text)
            .map_err(|e| ClientError::Body { url: url.clone(), why: format!("not JSON ({e}): {text:.200}") })?;
        if status >= 400 {
            return Err(ClientError::Status {
                url,
                status,
                code: v["error_code"].as_i64().unwrap_or(i64::from(status)),
                message: v["message"].as_str().unwrap_or(&text).to_string(),
            });
        }
        Ok(v)
    }

    /// A schema by id, its references fetched and everything compiled (cached).
    pub async fn schema(&self, id: u32) -> Result<Arc<FetchedSchema>, ClientError> {
        if let Some(s) = self.schemas.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(s.clone());
        }
        let v = self.call(reqwest::Method::GET, &format!("/schemas/ids/{id}"), None).await?;
        let schema_type = v["schemaType"].as_str().unwrap_or("AVRO").to_string();
        if schema_type != "PROTOBUF" {
            return Err(ClientError::NotProtobuf { id, schema_type });
        }
        let text = v["schema"].as_str().unwrap_or_default().to_string();
        let references: Vec<SchemaReference> = serde_json::from_value(v["references"].clone()).unwrap_or_default();
        let mut files: Vec<(String, String)> = Vec::new();
        let mut pending = references.clone();
        while let Some(r) = pending.pop() {
            if files.iter().any(|(n, _)| *n == r.name) {
                continue;
            }
            let path = format!("/subjects/{}/versions/{}?deleted=true", encode_subject(&r.subject), r.version);
            let dep = self.call(reqwest::Method::GET, &path, None).await?;
            pending
                .extend(serde_json::from_value::<Vec<SchemaReference>>(dep["references"].clone()).unwrap_or_default());
            files.push((r.name.clone(), dep["schema"].as_str().unwrap_or_default().to_string()));
        }
        files.push((MAIN_FILE.to_string(), text.clone()));
        let sources: Vec<(&str, &str)> = files.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
        let proto = ProtoSchema::compile_sources(MAIN_FILE, &sources)?;
        let fetched = Arc::new(FetchedSchema { id, text, references, proto });
        self.schemas.lock().unwrap_or_else(|p| p.into_inner()).insert(id, fetched.clone());
        Ok(fetched)
    }

    /// The row decoder for a message of schema `id` (cached).
    pub async fn decoder(&self, id: u32, indexes: &[u32]) -> Result<Arc<RowDecoder>, ClientError> {
        let key = (id, indexes.to_vec());
        if let Some(d) = self.decoders.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(d.clone());
        }
        let schema = self.schema(id).await?;
        let file = schema.file().ok_or(ClientError::NoMessage { id, indexes: indexes.to_vec() })?;
        let message = message_at(&file, indexes).ok_or(ClientError::NoMessage { id, indexes: indexes.to_vec() })?;
        let decoder = Arc::new(RowDecoder::new(&message)?);
        self.decoders.lock().unwrap_or_else(|p| p.into_inner()).insert(key, decoder.clone());
        Ok(decoder)
    }

    /// Decodes a Confluent-framed protobuf value into a row of its message type.
    pub async fn decode_protobuf(&self, value: &[u8]) -> Result<(Arc<RowDecoder>, Row), ClientError> {
        let frame = decode_protobuf(value)?;
        let decoder = self.decoder(frame.schema_id, frame.indexes.as_slice()).await?;
        let row = decoder.decode(frame.payload)?;
        Ok((decoder, row))
    }

    /// Registers a schema; returns its id.
    pub async fn register(
        &self,
        subject: &str,
        schema_type: SchemaType,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<u32, ClientError> {
        let path = format!("/subjects/{}/versions", encode_subject(subject));
        let body = json!({ "schemaType": schema_type.as_str(), "schema": schema, "references": references });
        let v = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        v["id"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| ClientError::Body { url: format!("{}{path}", self.base), why: format!("no id in {v}") })
    }

    /// `GET /subjects`: the subjects (soft-deleted ones too when `deleted`).
    pub async fn subjects(&self, deleted: bool) -> Result<Vec<String>, ClientError> {
        let path = if deleted { "/subjects?deleted=true" } else { "/subjects" };
        let v = self.call(reqwest::Method::GET, path, None).await?;
        serde_json::from_value(v.clone())
            .map_err(|e| ClientError::Body { url: format!("{}{path}", self.base), why: format!("{e}: {v:.200}") })
    }

    /// `GET /subjects/{subject}/versions`: the subject's versions, oldest first.
    pub async fn versions(&self, subject: &str) -> Result<Vec<i32>, ClientError> {
        let path = format!("/subjects/{}/versions", encode_subject(subject));
        let v = self.call(reqwest::Method::GET, &path, None).await?;
        serde_json::from_value(v.clone())
            .map_err(|e| ClientError::Body { url: format!("{}{path}", self.base), why: format!("{e}: {v:.200}") })
    }

    /// `GET /subjects/{subject}/versions/{version}`; `version` is a number or `latest`.
    pub async fn subject_version(&self, subject: &str, version: &str) -> Result<SubjectVersion, ClientError> {
        let path = format!("/subjects/{}/versions/{}", encode_subject(subject), encode_subject(version));
        let v = self.call(reqwest::Method::GET, &path, None).await?;
        serde_json::from_value(v.clone())
            .map_err(|e| ClientError::Body { url: format!("{}{path}", self.base), why: format!("{e}: {v:.200}") })
    }

    /// `GET /schemas/ids/{id}` and `GET /schemas/ids/{id}/versions`: the schema with every
    /// (subject, version) that holds it.
    pub async fn schema_by_id(&self, id: u32) -> Result<(SubjectVersion, Vec<(String, i32)>), ClientError> {
        let path = format!("/schemas/ids/{id}");
        let v = self.call(reqwest::Method::GET, &path, None).await?;
        let holders = self.call(reqwest::Method::GET, &format!("{path}/versions"), None).await?;
        let holders: Vec<(String, i32)> = holders
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| {
                        Some((h["subject"].as_str()?.to_string(), i32::try_from(h["version"].as_i64()?).ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (subject, version) = holders.first().cloned().unwrap_or_default();
        let schema = SubjectVersion {
            subject,
            version,
            id,
            schema_type: v["schemaType"].as_str().unwrap_or("AVRO").to_string(),
            schema: v["schema"].as_str().unwrap_or_default().to_string(),
            references: serde_json::from_value(v["references"].clone()).unwrap_or_default(),
        };
        Ok((schema, holders))
    }

    /// The version of `subject` holding a schema.
    pub async fn lookup_version(
        &self,
        subject: &str,
        schema_type: SchemaType,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<i32, ClientError> {
        let path = format!("/subjects/{}", encode_subject(subject));
        let body = json!({ "schemaType": schema_type.as_str(), "schema": schema, "references": references });
        let v = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        v["version"]
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| ClientError::Body { url: format!("{}{path}", self.base), why: format!("no version in {v}") })
    }

    /// Registers the file `file` of `schema` under `subject` as confluent-kafka's serializer
    /// does: each import (well-known types excepted) under a subject named by its path,
    /// recursively, then the file with references. Files go as base64 FileDescriptorProtos.
    /// Returns the schema id.
    pub async fn register_proto_file(
        &self,
        subject: &str,
        schema: &ProtoSchema,
        file: &str,
    ) -> Result<u32, ClientError> {
        let mut registered: HashMap<String, SchemaReference> = HashMap::new();
        let Some(fd) = schema.pool().get_file_by_name(file) else {
            return Err(ClientError::Body { url: self.base.clone(), why: format!("no file {file} in the schema") });
        };
        // dependencies first (the pool's files are in topological order)
        let order: Vec<FileDescriptor> = schema.pool().files().collect();
        for dep in order.iter().filter(|f| f.name() != fd.name() && !f.name().starts_with("google/protobuf/")) {
            if !depends_on(&fd, dep.name()) {
                continue;
            }
            let refs = direct_refs(dep, &registered);
            let text = descriptor_b64(dep);
            self.register(dep.name(), SchemaType::Protobuf, &text, &refs).await?;
            let version = self.lookup_version(dep.name(), SchemaType::Protobuf, &text, &refs).await?;
            registered.insert(
                dep.name().to_string(),
                SchemaReference { name: dep.name().to_string(), subject: dep.name().to_string(), version },
            );
        }
        let refs = direct_refs(&fd, &registered);
        self.register(subject, SchemaType::Protobuf, &descriptor_b64(&fd), &refs).await
    }
}

fn descriptor_b64(f: &FileDescriptor) -> String {
    let mut proto = f.file_descriptor_proto().clone();
    proto.source_code_info = None;
    base64::engine::general_purpose::STANDARD.encode(proto.encode_to_vec())
}

fn direct_refs(f: &FileDescriptor, registered: &HashMap<String, SchemaReference>) -> Vec<SchemaReference> {
    f.dependencies().filter_map(|d| registered.get(d.name()).cloned()).collect()
}

fn depends_on(f: &FileDescriptor, name: &str) -> bool {
    f.dependencies().any(|d| d.name() == name || depends_on(&d, name))
}

#[cfg(test)]
mod tests {
    use super::{ClientError, RegistryClient, encode_subject};

    #[tokio::test]
    async fn an_unreachable_registry_is_named_with_the_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let err = RegistryClient::new(&url).schema(1).await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("at {url}/schemas/ids/1 (Connection refused")), "{text}");
    }

    #[test]
    fn subjects_are_path_encoded() {
        assert_eq!(encode_subject("user-events-value"), "user-events-value");
        assert_eq!(encode_subject("common/money.proto"), "common%2Fmoney.proto");
        assert_eq!(encode_subject("a b?"), "a%20b%3F");
    }
}
