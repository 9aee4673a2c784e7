//! `sluice schemas compile|decode|encode`: protobuf schema tools.
//!
//! - `compile`: .proto files → FileDescriptorSet, in pure Rust.
//! - `decode`: Confluent-framed values (hex lines) → JSON rows, schemas from a registry.
//! - `encode`: JSON lines → Confluent-framed values (hex lines), the schema registered first.

use crate::args::{CompileArgs, DecodeArgs, EncodeArgs, SchemasArgs, SchemasCommand};
use anyhow::{Context, bail};
use sluice_formats::json;
use sluice_formats::protobuf::{ProtoSchema, indexes_of, json_to_protobuf};
use sluice_registry::client::RegistryClient;
use sluice_wire::confluent::encode_protobuf_prefix;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

pub(crate) async fn run(args: SchemasArgs) -> anyhow::Result<()> {
    match args.command {
        SchemasCommand::Compile(a) => compile(a),
        SchemasCommand::Decode(a) => decode(a).await,
        SchemasCommand::Encode(a) => encode(a).await,
    }
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
    println!(
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
