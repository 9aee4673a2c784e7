//! `sluice schemas compile|decode|encode|register|list|get`: protobuf schema tools and a
//! schema-registry client.
//!
//! - `compile`: .proto files → FileDescriptorSet, in pure Rust.
//! - `decode`: Confluent-framed values (hex lines) → JSON rows, schemas from a registry.
//! - `encode`: JSON lines → Confluent-framed values (hex lines), the schema registered first.
//! - `register`: a .proto / .desc file (imports as their own subjects, as confluent-kafka
//!   registers them), or an Avro / JSON Schema file, under a subject.
//! - `list`, `get`: subjects with their latest schema; one schema by subject and version or id.

use crate::output::{OutputFormat, outln, print_json, table};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use sluice_formats::json;
use sluice_formats::protobuf::{FileDescriptor, ProtoSchema, indexes_of, json_to_protobuf};
use sluice_registry::client::{RegistryClient, SubjectVersion};
use sluice_registry::types::SchemaType;
use sluice_wire::confluent::encode_protobuf_prefix;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// `sluice schemas` subcommands.
#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SchemasCommand,
}

/// Schema tools.
#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Compile .proto files (imports and well-known types included) into a descriptor set, as
    /// `protoc --include_imports --descriptor_set_out` does; no protoc needed.
    Compile(CompileArgs),
    /// Decode Confluent-framed protobuf values (hex, one per line on stdin) into JSON rows,
    /// fetching their schemas from a registry.
    Decode(DecodeArgs),
    /// Encode JSON objects (one per line on stdin) as Confluent-framed protobuf values (hex, one
    /// per line), registering the .proto file and its imports as confluent-kafka does.
    Encode(EncodeArgs),
    /// Register a schema under a subject: a .proto or .desc file (each import under its own
    /// subject, as confluent-kafka does), an Avro (.avsc) or a JSON Schema (.json) file.
    Register(RegisterArgs),
    /// List a registry's subjects with their latest version, schema id and type.
    List(ListArgs),
    /// Show a schema: a subject's version (latest by default), or --id ID.
    Get(GetArgs),
}

/// `sluice schemas compile` flags.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The .proto files.
    #[arg(required = true, value_name = "FILE.proto")]
    pub files: Vec<PathBuf>,
    /// Where to write the FileDescriptorSet.
    #[arg(short, long, value_name = "FILE.desc")]
    pub output: PathBuf,
    /// Directories searched for imports (default: each file's directory).
    #[arg(short = 'I', long = "proto-path", value_name = "DIR")]
    pub include: Vec<PathBuf>,
}

/// `sluice schemas decode` flags.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The schema registry.
    #[arg(long, default_value = "http://127.0.0.1:8081", value_name = "URL", env = "SCHEMA_REGISTRY_URL")]
    pub schema_registry: String,
}

/// `sluice schemas encode` flags.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// The schema registry.
    #[arg(long, default_value = "http://127.0.0.1:8081", value_name = "URL", env = "SCHEMA_REGISTRY_URL")]
    pub schema_registry: String,
    /// Subject to register the schema under (e.g. TOPIC-value).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// The .proto file.
    #[arg(long, value_name = "FILE.proto")]
    pub proto: PathBuf,
    /// Message full name (e.g. protobuf.UserEvent).
    #[arg(long, value_name = "NAME")]
    pub message: String,
    /// Directories searched for imports (default: the file's directory).
    #[arg(short = 'I', long = "proto-path", value_name = "DIR")]
    pub include: Vec<PathBuf>,
}

/// The schema registry to talk to.
#[derive(Debug, Clone, Args)]
pub struct RegistryUrlArgs {
    /// The schema registry.
    #[arg(long, default_value = "http://127.0.0.1:8081", value_name = "URL", env = "SCHEMA_REGISTRY_URL")]
    pub schema_registry: String,
    /// Output for people (table) or scripts (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, value_name = "FORMAT")]
    pub format: OutputFormat,
}

/// `sluice schemas register` flags.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Registry and output.
    #[command(flatten)]
    pub registry: RegistryUrlArgs,
    /// Subject to register under (TopicNameStrategy: TOPIC-value or TOPIC-key).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// The schema: FILE.proto (compiled; imports registered as their own subjects, well-known
    /// types left to the registry), FILE.desc (a descriptor set), FILE.avsc (Avro) or a JSON
    /// Schema (.json).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Schema type [default: from the file's extension].
    #[arg(long = "type", value_name = "PROTOBUF|AVRO|JSON")]
    pub schema_type: Option<String>,
    /// For a .desc holding several files: register the file that declares this message.
    #[arg(long, value_name = "NAME")]
    pub message: Option<String>,
    /// Directories searched for imports of a .proto (default: the file's directory).
    #[arg(short = 'I', long = "proto-path", value_name = "DIR")]
    pub include: Vec<PathBuf>,
}

/// `sluice schemas list` flags.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Registry and output.
    #[command(flatten)]
    pub registry: RegistryUrlArgs,
    /// Include soft-deleted subjects.
    #[arg(long)]
    pub deleted: bool,
}

/// `sluice schemas get` flags.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Registry and output.
    #[command(flatten)]
    pub registry: RegistryUrlArgs,
    /// The subject.
    #[arg(value_name = "SUBJECT", required_unless_present = "id", conflicts_with = "id")]
    pub subject: Option<String>,
    /// The subject's version: a number or `latest`.
    #[arg(long, default_value = "latest", value_name = "N|latest")]
    pub version: String,
    /// The schema with this id instead (as found in a value's Confluent prefix).
    #[arg(long, value_name = "ID")]
    pub id: Option<u32>,
}

pub(crate) async fn run(args: SchemasArgs) -> anyhow::Result<()> {
    match args.command {
        SchemasCommand::Compile(a) => compile(a),
        SchemasCommand::Decode(a) => decode(a).await,
        SchemasCommand::Encode(a) => encode(a).await,
        SchemasCommand::Register(a) => register(a).await,
        SchemasCommand::List(a) => list(a).await,
        SchemasCommand::Get(a) => get(a).await,
    }
}

/// The type a schema file holds, from `--type` or its extension.
fn schema_type_of(path: &Path, given: Option<&str>) -> anyhow::Result<SchemaType> {
    if let Some(t) = given {
        return SchemaType::parse(t)
            .with_context(|| format!("--type {t:?} is not a schema type; write PROTOBUF, AVRO or JSON"));
    }
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("proto" | "desc" | "pb" | "protoset") => Ok(SchemaType::Protobuf),
        Some("avsc" | "avro") => Ok(SchemaType::Avro),
        Some("json") => Ok(SchemaType::Json),
        _ => bail!(
            "cannot tell the schema type of {} from its extension; pass --type PROTOBUF, AVRO or JSON",
            path.display()
        ),
    }
}

/// The file of a descriptor set to register: the one declaring `message`, else the only one no
/// other file of the set imports.
fn main_file(schema: &ProtoSchema, message: Option<&str>, what: &Path) -> anyhow::Result<FileDescriptor> {
    if let Some(m) = message {
        return Ok(schema.message(m)?.parent_file());
    }
    let files: Vec<FileDescriptor> =
        schema.root_files().filter(|f| !f.name().starts_with("google/protobuf/")).collect();
    let tops: Vec<&FileDescriptor> =
        files.iter().filter(|f| !files.iter().any(|o| o.dependencies().any(|d| d.name() == f.name()))).collect();
    match tops.as_slice() {
        [one] => Ok((*one).clone()),
        _ => bail!(
            "{} holds several files that nothing imports ({}); pick the one to register with --message NAME",
            what.display(),
            tops.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
        ),
    }
}

async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let path = &args.file;
    let schema_type = schema_type_of(path, args.schema_type.as_deref())?;
    let client = RegistryClient::new(&args.registry.schema_registry);
    let subject = &args.subject;
    let id = match schema_type {
        SchemaType::Protobuf => {
            let is_proto = path.extension().is_some_and(|e| e == "proto");
            let schema = if is_proto {
                let files = vec![path.clone()];
                ProtoSchema::compile(&files, &includes_for(&files, &args.include))?
            } else {
                ProtoSchema::load(path).map_err(|e| anyhow::anyhow!("{e}"))?
            };
            let file = if is_proto && args.message.is_none() {
                schema.root_files().next().context("the .proto file compiled to nothing")?
            } else {
                main_file(&schema, args.message.as_deref(), path)?
            };
            client
                .register_proto_file(subject, &schema, file.name())
                .await
                .with_context(|| format!("cannot register {} under subject {subject}", path.display()))?
        }
        other => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read the schema {}", path.display()))?;
            client
                .register(subject, other, &text, &[])
                .await
                .with_context(|| format!("cannot register {} under subject {subject}", path.display()))?
        }
    };
    let (_, holders) = client.schema_by_id(id).await?;
    let version = holders.iter().find(|(s, _)| s == subject).map(|(_, v)| *v);
    let references = match version {
        Some(v) => client.subject_version(subject, &v.to_string()).await?.references,
        None => Vec::new(),
    };
    match args.registry.format {
        OutputFormat::Json => print_json(&json!({
            "subject": subject,
            "version": version,
            "id": id,
            "schemaType": schema_type.as_str(),
            "references": references,
        })),
        OutputFormat::Table => {
            let v = version.map_or_else(|| "?".to_string(), |v| v.to_string());
            outln!("registered {} under subject {subject}: schema id {id}, version {v}", path.display());
            for r in &references {
                outln!("  references {} (subject {}, version {})", r.name, r.subject, r.version);
            }
        }
    }
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let client = RegistryClient::new(&args.registry.schema_registry);
    let mut subjects = client.subjects(args.deleted).await?;
    subjects.sort();
    let mut latest: Vec<SubjectVersion> = Vec::with_capacity(subjects.len());
    for s in &subjects {
        match client.subject_version(s, "latest").await {
            Ok(v) => latest.push(v),
            // Soft-deleted subjects have no live latest version.
            Err(sluice_registry::client::ClientError::Status { status: 404, .. }) if args.deleted => {}
            Err(e) => return Err(e.into()),
        }
    }
    match args.registry.format {
        OutputFormat::Json => print_json(&json!(latest)),
        OutputFormat::Table => outln!(
            "{}",
            table(
                &["SUBJECT", "VERSION", "ID", "TYPE", "REFERENCES"],
                latest
                    .iter()
                    .map(|v| vec![
                        v.subject.clone(),
                        v.version.to_string(),
                        v.id.to_string(),
                        v.schema_type.clone(),
                        v.references.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "),
                    ])
                    .collect(),
            )
        ),
    }
    Ok(())
}

async fn get(args: GetArgs) -> anyhow::Result<()> {
    let client = RegistryClient::new(&args.registry.schema_registry);
    let (found, holders) = match (&args.subject, args.id) {
        (_, Some(id)) => client.schema_by_id(id).await?,
        (Some(subject), None) => {
            if args.version != "latest" && args.version.parse::<i32>().map_or(true, |v| v < 1) {
                bail!("--version {:?} is not a version; write a number from 1 or `latest`", args.version);
            }
            let v = client.subject_version(subject, &args.version).await?;
            let holders = vec![(v.subject.clone(), v.version)];
            (v, holders)
        }
        (None, None) => bail!("name a SUBJECT or pass --id ID"),
    };
    match args.registry.format {
        OutputFormat::Json => {
            let mut v = json!(found);
            if let Some(o) = v.as_object_mut() {
                let subjects: Vec<_> = holders.iter().map(|(s, v)| json!({"subject": s, "version": v})).collect();
                o.insert("subjects".into(), json!(subjects));
            }
            print_json(&v);
        }
        OutputFormat::Table => {
            let at: Vec<String> = holders.iter().map(|(s, v)| format!("{s} version {v}")).collect();
            outln!("schema id {} ({}), {}", found.id, found.schema_type, at.join(", "));
            for r in &found.references {
                outln!("references {} (subject {}, version {})", r.name, r.subject, r.version);
            }
            outln!("{}", found.schema.trim_end());
        }
    }
    Ok(())
}

fn includes_for(files: &[PathBuf], given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let mut include = Vec::new();
    for f in files {
        let dir =
            f.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        if !include.contains(&dir) {
            include.push(dir);
        }
    }
    include
}

fn compile(args: CompileArgs) -> anyhow::Result<()> {
    let schema = ProtoSchema::compile(&args.files, &includes_for(&args.files, &args.include))?;
    let bytes = schema.descriptor_set_bytes();
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write the descriptor set to {}", args.output.display()))?;
    outln!(
        "wrote {} ({} bytes, {} files); messages: {}",
        args.output.display(),
        bytes.len(),
        schema.pool().files().len(),
        schema.message_names().join(", ")
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(line: &str, n: usize) -> anyhow::Result<Vec<u8>> {
    let s = line.trim();
    if !s.len().is_multiple_of(2) || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        bail!("line {n} is not hex bytes: {:.60}", s);
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(Into::into)).collect()
}

async fn decode(args: DecodeArgs) -> anyhow::Result<()> {
    let client = RegistryClient::new(&args.schema_registry);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let bytes = unhex(&line, i + 1)?;
        let (decoder, row) =
            client.decode_protobuf(&bytes).await.with_context(|| format!("value on line {}", i + 1))?;
        let frame = sluice_wire::confluent::decode_protobuf(&bytes)?;
        let row_json = json::encode(decoder.schema(), &row)?;
        writeln!(
            out,
            "{{\"schema_id\":{},\"message\":{},\"row\":{row_json}}}",
            frame.schema_id,
            serde_json::Value::String(decoder.message().full_name().to_string())
        )?;
    }
    Ok(())
}

async fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    let files = vec![args.proto.clone()];
    let schema = ProtoSchema::compile(&files, &includes_for(&files, &args.include))?;
    let message = schema.message(&args.message)?;
    let file_name = message.parent_file().name().to_string();
    let client = RegistryClient::new(&args.schema_registry);
    let id = client
        .register_proto_file(&args.subject, &schema, &file_name)
        .await
        .with_context(|| format!("cannot register {} under subject {}", args.proto.display(), args.subject))?;
    let indexes = indexes_of(&message);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let payload = json_to_protobuf(&message, &line).with_context(|| format!("line {}", i + 1))?;
        let mut value = Vec::with_capacity(payload.len() + 8);
        encode_protobuf_prefix(id, &indexes, &mut value);
        value.extend_from_slice(&payload);
        writeln!(out, "{}", hex(&value))?;
    }
    Ok(())
}
