//! Record values → rows of the job's input schema, by the source's [`FormatPlan`]: protobuf from
//! a `.desc` / `.proto` file, protobuf in Confluent's wire format with schemas from a registry,
//! JSON objects, CSV lines.
//!
//! Decoding is synchronous and runs with the engine off the reactor. The one thing that needs
//! the network, fetching a registry schema the first time an id shows up, is done before, by
//! [`Decoder::prepare`] on the batch. A value that does not decode is not an error of the job:
//! its reason goes to the engine's dead-letter output (`handle_decode_error`).

use super::JobError;
use super::source::RawBatch;
use sluice_formats::json::RecordDecoder;
use sluice_formats::protobuf::{MessageDescriptor, ProtoSchema, RowDecoder, indexes_of, message_at};
use sluice_formats::{Row, RowSchema, Value};
use sluice_registry::client::RegistryClient;
use sluice_stream::plan::FormatPlan;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The registry sluice's own `sluice broker` serves when nothing else is configured.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:8081";

/// Decodes the values of one source.
#[derive(Debug)]
pub struct Decoder {
    kind: Kind,
    input: RowSchema,
}

#[derive(Debug)]
enum Kind {
    Protobuf(Box<RowDecoder>),
    Registry(Box<Registry>),
    Json(RecordDecoder),
    Csv(sluice_formats::csv::CsvCodec),
}

/// A message of a registered schema, with its columns mapped onto the job's input schema.
#[derive(Debug)]
struct Mapped {
    decoder: Arc<RowDecoder>,
    /// For each input column, the decoded column that fills it; `None` when the layouts are the
    /// same.
    map: Option<Vec<Option<usize>>>,
}

#[derive(Debug)]
struct Registry {
    client: RegistryClient,
    url: String,
    /// By (schema id, message indexes): the decoder, or why values of that schema cannot be
    /// decoded (the schema is not protobuf, does not compile, does not fit the input).
    cache: HashMap<(u32, Vec<u32>), Result<Arc<Mapped>, String>>,
}

impl Decoder {
    /// Builds the decoder of a source format. Protobuf files are read from `base_dir` when
    /// relative; a registry source takes the schema registered last under `<topic>-value` as
    /// the job's input schema (waiting for it while `wait_for_schema` allows).
    pub async fn build(
        format: &FormatPlan,
        topic: &str,
        job_file: &str,
        base_dir: Option<&Path>,
        registry_url: Option<&str>,
        wait_for_schema: Duration,
    ) -> Result<Decoder, JobError> {
        match format {
            FormatPlan::Protobuf { file, message } => {
                let path = super::resolve(base_dir, file);
                let schema = ProtoSchema::load(&path).map_err(|e| JobError::Config {
                    file: job_file.to_string(),
                    field: "source.format.file".into(),
                    message: e.to_string(),
                    fix: "give the path of a .desc descriptor set or a .proto file (relative paths start at the \
                          working directory, or at --base-dir when given)"
                        .into(),
                })?;
                let desc = schema.message(message).map_err(|e| JobError::Config {
                    file: job_file.to_string(),
                    field: "source.format.message".into(),
                    message: format!("{}: {e}", path.display()),
                    fix: "use the message's full name with its package, e.g. protobuf.UserEvent".into(),
                })?;
                let decoder = row_decoder(&desc, job_file, "source.format.message")?;
                let input = decoder.schema().clone();
                Ok(Decoder { kind: Kind::Protobuf(Box::new(decoder)), input })
            }
            FormatPlan::Json { schema } => {
                Ok(Decoder { kind: Kind::Json(RecordDecoder::new(schema.clone())), input: schema.clone() })
            }
            FormatPlan::Csv { schema, delimiter } => {
                let Ok(d) = u8::try_from(u32::from(*delimiter)) else {
                    return Err(JobError::Config {
                        file: job_file.to_string(),
                        field: "source.format.delimiter".into(),
                        message: format!("the delimiter {delimiter:?} is not a single-byte character"),
                        fix: "use an ASCII delimiter such as \",\", \";\" or \"\\t\"".into(),
                    });
                };
                let codec = sluice_formats::csv::CsvCodec::new(schema.clone()).with_delimiter(d);
                Ok(Decoder { kind: Kind::Csv(codec), input: schema.clone() })
            }
            FormatPlan::Registry { url, message } => {
                let url = url.as_deref().or(registry_url).unwrap_or(DEFAULT_REGISTRY_URL).trim_end_matches('/');
                let (input, first) = latest_schema(url, topic, message.as_deref(), job_file, wait_for_schema).await?;
                let client = RegistryClient::new(url);
                let mut cache = HashMap::new();
                cache.insert(first.0, Ok(Arc::new(Mapped { decoder: first.1, map: None })));
                let registry = Registry { client, url: url.to_string(), cache };
                Ok(Decoder { kind: Kind::Registry(Box::new(registry)), input })
            }
        }
    }

    /// Declares which input columns the rows of [`Decoder::decode_into`] are read for
    /// (`read[i]` for column `i`): a decoder may leave the others' cells null. JSON decoders do
    /// (building strings nothing reads was a few per cent of a job's CPU); the others decode
    /// every column.
    pub fn read_only(&mut self, read: &[bool]) {
        if let Kind::Json(d) = &mut self.kind {
            d.read_only(read);
        }
    }

    /// Whether [`Decoder::decode_into`] leaves some columns null ([`Decoder::decode`] never does).
    pub fn leaves_out(&self) -> bool {
        matches!(&self.kind, Kind::Json(d) if d.leaves_out())
    }

    /// The columns decoded rows have (the engine's input schema).
    pub fn input_schema(&self) -> &RowSchema {
        &self.input
    }

    /// Fetches the registry schemas this batch needs that are not cached yet. Schemas that do
    /// not exist or do not fit are remembered as such (their records become dead letters); an
    /// unreachable registry is retried until `stop` says to give up.
    pub async fn prepare(&mut self, batch: &RawBatch, stop: &(dyn Fn() -> bool + Sync)) -> Result<(), JobError> {
        let Kind::Registry(reg) = &mut self.kind else { return Ok(()) };
        for i in 0..batch.len() {
            let Some(value) = batch.value(i) else { continue };
            let Ok(frame) = sluice_wire::confluent::decode_protobuf(value) else { continue };
            let key = (frame.schema_id, frame.indexes.as_slice().to_vec());
            if reg.cache.contains_key(&key) {
                continue;
            }
            let mut backoff = Duration::from_millis(200);
            let entry = loop {
                match reg.client.decoder(key.0, &key.1).await {
                    Ok(decoder) => break map_onto(&self.input, decoder, key.0),
                    Err(sluice_registry::client::ClientError::Unreachable { url, cause }) => {
                        if stop() {
                            return Err(JobError::Registry {
                                url: reg.url.clone(),
                                message: format!("cannot fetch schema {} from {url}: {cause}", key.0),
                                fix: "start the registry (`sluice broker` serves one) or pass --schema-registry".into(),
                            });
                        }
                        tracing::warn!(url = %url, "schema registry unreachable ({cause}); retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => break Err(format!("schema {} from {}: {e}", key.0, reg.url)),
                }
            };
            reg.cache.insert(key, entry);
        }
        Ok(())
    }

    /// [`Decoder::decode`] into `row` (but for the columns [`Decoder::read_only`] left out),
    /// reusing its allocation (the engine recycles the rows of a batch: a fresh row per record
    /// was ~10% of the user-events job's CPU in malloc and free).
    /// On success `row` is the decoded row, whatever it held before.
    pub fn decode_into(&self, value: Option<&[u8]>, row: &mut Row) -> Result<(), String> {
        match (&self.kind, value) {
            (Kind::Protobuf(d), Some(v)) => d.decode_into(v, row).map_err(|e| e.to_string()),
            (Kind::Json(d), Some(v)) => d.decode_into(v, &mut row.values).map_err(|e| e.to_string()),
            _ => {
                *row = self.decode(value)?;
                Ok(())
            }
        }
    }

    /// Decodes one value into a row of the input schema, or says why it cannot be.
    pub fn decode(&self, value: Option<&[u8]>) -> Result<Row, String> {
        let Some(value) = value else {
            return Err("the record has no value (a tombstone)".to_string());
        };
        match &self.kind {
            Kind::Protobuf(d) => d.decode(value).map_err(|e| e.to_string()),
            Kind::Json(d) => d.decode(value).map_err(|e| e.to_string()),
            Kind::Csv(codec) => {
                let text = std::str::from_utf8(value).map_err(|e| format!("not UTF-8 text: {e}"))?;
                codec.decode_line(text.trim_end_matches(['\r', '\n'])).map_err(|e| e.to_string())
            }
            Kind::Registry(reg) => {
                let frame = sluice_wire::confluent::decode_protobuf(value).map_err(|e| e.to_string())?;
                let key = (frame.schema_id, frame.indexes.as_slice().to_vec());
                let mapped = match reg.cache.get(&key) {
                    Some(Ok(m)) => m,
                    Some(Err(why)) => return Err(why.clone()),
                    None => return Err(format!("schema {} was not fetched from {}", key.0, reg.url)),
                };
                let row = mapped.decoder.decode(frame.payload).map_err(|e| e.to_string())?;
                Ok(match &mapped.map {
                    None => row,
                    Some(map) => Row::new(map.iter().map(|m| m.map_or(Value::Null, |c| row.get(c).clone())).collect()),
                })
            }
        }
    }
}

fn row_decoder(desc: &MessageDescriptor, job_file: &str, field: &str) -> Result<RowDecoder, JobError> {
    RowDecoder::new(desc).map_err(|e| JobError::Config {
        file: job_file.to_string(),
        field: field.to_string(),
        message: e.to_string(),
        fix: "use a message whose fields are scalars, Timestamps, wrappers, repeated fields or nested messages".into(),
    })
}

/// Maps the columns of a registered message onto the input schema by name; a column of another
/// type, or an input column the message lacks, is refused (the values would not fit the queries).
fn map_onto(input: &RowSchema, decoder: Arc<RowDecoder>, id: u32) -> Result<Arc<Mapped>, String> {
    let decoded = decoder.schema();
    if decoded == input {
        return Ok(Arc::new(Mapped { decoder, map: None }));
    }
    let mut map = Vec::with_capacity(input.len());
    for f in &input.fields {
        match decoded.index_of(&f.name) {
            Some(i) if decoded.fields[i].kind == f.kind => map.push(Some(i)),
            Some(i) => {
                return Err(format!(
                    "schema {id} ({}) has field `{}` as {}, but the job reads it as {}",
                    decoder.message().full_name(),
                    f.name,
                    decoded.fields[i].kind,
                    f.kind
                ));
            }
            None => map.push(None),
        }
    }
    Ok(Arc::new(Mapped { decoder, map: Some(map) }))
}

type First = ((u32, Vec<u32>), Arc<RowDecoder>);

/// How often a source still waiting for its schema says so.
const WAIT_REMINDER: Duration = Duration::from_secs(10);

/// The schema registered last under `<topic>-value`, as the job's input schema.
async fn latest_schema(
    url: &str,
    topic: &str,
    message: Option<&str>,
    job_file: &str,
    wait: Duration,
) -> Result<(RowSchema, First), JobError> {
    let subject = format!("{topic}-value");
    let endpoint = format!("{url}/subjects/{}/versions/latest", sluice_registry::client::encode_subject(&subject));
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + wait;
    // What the wait was last logged as, and when: said again when it changes or every
    // WAIT_REMINDER, not at every attempt.
    let mut said: Option<(String, tokio::time::Instant)> = None;
    let reg_err = |message: String, fix: &str| JobError::Registry { url: url.to_string(), message, fix: fix.into() };
    let id = loop {
        let answer = http.get(&endpoint).send().await;
        let waiting_for = match answer {
            Ok(resp) if resp.status().is_success() => {
                let v: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(|e| reg_err(format!("{endpoint} answered with no JSON: {e}"), "check the registry URL"))?;
                match v["id"].as_u64().and_then(|i| u32::try_from(i).ok()) {
                    Some(id) => break id,
                    None => return Err(reg_err(format!("{endpoint} answered without an id: {v}"), "check the URL")),
                }
            }
            Ok(resp) if resp.status().as_u16() == 404 => format!("no schema is registered under subject {subject}"),
            Ok(resp) => {
                return Err(reg_err(format!("{endpoint} answered {}", resp.status()), "check the registry URL"));
            }
            Err(e) => format!("no schema registry answered ({})", sluice_registry::client::root_cause(&e)),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(reg_err(
                format!("{waiting_for}, so the job cannot learn the columns of topic {topic}"),
                "start the producer first (it registers the schema), point --schema-registry / format.url at \
                 the registry that holds it, or wait longer with --wait-for-schema",
            ));
        }
        let now = tokio::time::Instant::now();
        if said.as_ref().is_none_or(|(text, at)| *text != waiting_for || now >= *at + WAIT_REMINDER) {
            let left = deadline.saturating_duration_since(now).as_millis().div_ceil(1000);
            tracing::info!("{waiting_for}; waiting for it at {url} (up to {left} s more)");
            said = Some((waiting_for, now));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let client = RegistryClient::new(url);
    let fetched = client.schema(id).await.map_err(|e| reg_err(e.to_string(), "check the registered schema"))?;
    let desc = match message {
        Some(name) => fetched.proto.message(name).map_err(|e| JobError::Config {
            file: job_file.to_string(),
            field: "source.format.message".into(),
            message: format!("schema {id} of subject {subject}: {e}"),
            fix: "name a message of the registered schema, with its package".into(),
        })?,
        None => fetched.file().and_then(|f| message_at(&f, &[0])).ok_or_else(|| {
            reg_err(format!("schema {id} of subject {subject} holds no message"), "register a schema with a message")
        })?,
    };
    let decoder = Arc::new(row_decoder(&desc, job_file, "source.format.message")?);
    Ok((decoder.schema().clone(), ((id, indexes_of(&desc)), decoder)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind as K};

    #[test]
    fn json_csv_and_tombstones() {
        let schema = RowSchema::new(vec![Field::new("a", K::Str), Field::new("n", K::Int)]);
        let json = Decoder { kind: Kind::Json(RecordDecoder::new(schema.clone())), input: schema.clone() };
        assert_eq!(json.decode(Some(br#"{"a":"x","n":3}"#)).unwrap(), Row::new(vec![Value::from("x"), Value::Int(3)]));
        assert!(json.decode(Some(b"{not json")).is_err());
        assert!(json.decode(None).unwrap_err().contains("tombstone"));
        let csv = Decoder { kind: Kind::Csv(sluice_formats::csv::CsvCodec::new(schema.clone())), input: schema };
        assert_eq!(csv.decode(Some(b"y,4\n")).unwrap(), Row::new(vec![Value::from("y"), Value::Int(4)]));
        assert!(csv.decode(Some(b"y,four")).unwrap_err().contains("four"));
        assert!(csv.decode(Some(&[0xff, 0xfe])).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn registry_columns_map_by_name() {
        let proto = ProtoSchema::compile_source(
            "m.proto",
            "syntax = \"proto3\"; package p; message M { string b = 1; int64 a = 2; }",
        )
        .unwrap();
        let d = Arc::new(RowDecoder::new(&proto.message("p.M").unwrap()).unwrap());
        let input = RowSchema::new(vec![Field::new("a", K::Int), Field::new("c", K::Str)]);
        let m = map_onto(&input, d.clone(), 1).unwrap();
        assert_eq!(m.map, Some(vec![Some(1), None]));
        let wrong = RowSchema::new(vec![Field::new("a", K::Str)]);
        assert!(map_onto(&wrong, d, 1).unwrap_err().contains("field `a` as int"));
    }
}
