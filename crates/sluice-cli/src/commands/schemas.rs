//! `sluice schemas compile`: .proto files → FileDescriptorSet, in pure Rust.

use crate::args::{CompileArgs, SchemasArgs, SchemasCommand};
use anyhow::Context;
use sluice_formats::protobuf::ProtoSchema;
use std::path::PathBuf;

pub(crate) fn run(args: SchemasArgs) -> anyhow::Result<()> {
    match args.command {
        SchemasCommand::Compile(a) => compile(a),
    }
}

fn compile(args: CompileArgs) -> anyhow::Result<()> {
    let mut include = args.include.clone();
    if include.is_empty() {
        for f in &args.files {
            let dir =
                f.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
            if !include.contains(&dir) {
                include.push(dir);
            }
        }
    }
    let schema = ProtoSchema::compile(&args.files, &include)?;
    let bytes = schema.descriptor_set_bytes();
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write the descriptor set to {}", args.output.display()))?;
    let messages = schema.message_names();
    println!(
        "wrote {} ({} bytes, {} files); messages: {}",
        args.output.display(),
        bytes.len(),
        schema.pool().files().len(),
        messages.join(", ")
    );
    Ok(())
}
