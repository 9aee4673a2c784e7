//! Sinks from a job's [`SinkPlan`]s. Errors name the job file position of the sink (when the
//! plan came from a file), the option and the fix.
//!
//! Options, by kind (the job file validates their types; plans built in code are checked
//! here):
//!
//! | kind | options |
//! |---|---|
//! | `console` | `num_rows` (20), `truncate` (20; 0 = no truncation) |
//! | `json`, `file` | `path` |
//! | `parquet` | `path`, `partition_by`, `compression` (`snappy`, `zstd`, `uncompressed`) |
//! | `protobuf` | `path`, `proto` (`.proto` or `.desc`), `message` (full name) |
//!
//! Every `path` sink also takes `endpoint`, `region` and `allow_http` for S3 (see
//! [`S3Options`]). `kafka` sinks are built by the runtime, which owns the producer.

use super::console::{ConsoleOut, ConsoleSink};
use super::dead_letter::DeadLetterFileSink;
use super::json::JsonSink;
use super::parquet::{ParquetCompression, ParquetOptions, ParquetSink};
use super::protobuf::{ProtobufSink, load_message};
use super::storage::{S3Options, Storage, Target};
use super::{DeadLetterSink, Sink, SinkError};
use sluice_formats::RowSchema;
use sluice_stream::plan::{OptionValue, SinkKind, SinkPlan};
use sluice_stream::show::ShowOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a sink needs besides its plan.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The job's name.
    pub job: String,
    /// The query's name (for dead-letter sinks: unused).
    pub query: String,
    /// The rows' schema: the query's result schema, or for a dead-letter sink the source's
    /// decoded schema.
    pub schema: RowSchema,
    /// Relative `path`s and `proto` files start here (`None`: the working directory).
    pub base_dir: Option<PathBuf>,
    /// S3 settings from the environment (`S3Options::from_env()`); a sink's `endpoint`,
    /// `region` and `allow_http` options override them.
    pub s3: S3Options,
    /// Scale-out instance name, when several processes run the job into the same paths
    /// (letters, digits, `-` and `_`).
    pub instance: Option<String>,
    /// Where console sinks print.
    pub console: ConsoleOut,
}

impl SinkContext {
    /// A context with defaults: working directory, AWS settings from the process environment,
    /// one instance, console on standard output.
    pub fn new(job: &str, query: &str, schema: RowSchema) -> SinkContext {
        SinkContext {
            job: job.to_string(),
            query: query.to_string(),
            schema,
            base_dir: None,
            s3: S3Options::from_env(),
            instance: None,
            console: ConsoleOut::Stdout,
        }
    }
}

fn label(plan: &SinkPlan, what: &str) -> String {
    match &plan.origin {
        Some(o) => format!("{} sink of {what} ({}:{}:{} {})", plan.kind.name(), o.file, o.line, o.column, o.field),
        None => format!("{} sink of {what}", plan.kind.name()),
    }
}

struct Opts<'a> {
    plan: &'a SinkPlan,
    label: String,
}

impl Opts<'_> {
    fn check_known(&self, allowed: &[&str]) -> Result<(), SinkError> {
        for k in self.plan.options.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(SinkError::config(
                    &self.label,
                    k,
                    format!("unknown option for a {} sink", self.plan.kind.name()),
                    format!("a {} sink takes: {}", self.plan.kind.name(), allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn str(&self, key: &str) -> Result<Option<&str>, SinkError> {
        match self.plan.options.get(key) {
            None => Ok(None),
            Some(OptionValue::Str(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
            Some(_) => {
                Err(SinkError::config(&self.label, key, "must be non-empty text", format!("write {key} = \"...\"")))
            }
        }
    }

    fn required_str(&self, key: &str, example: &str) -> Result<&str, SinkError> {
        self.str(key)?
            .ok_or_else(|| SinkError::config(&self.label, key, "is required", format!("add {key} = \"{example}\"")))
    }

    fn int(&self, key: &str) -> Result<Option<i64>, SinkError> {
        match self.plan.options.get(key) {
            None => Ok(None),
            Some(OptionValue::Int(i)) if *i >= 0 => Ok(Some(*i)),
            Some(_) => {
                Err(SinkError::config(&self.label, key, "must be a non-negative integer", format!("write {key} = 20")))
            }
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, SinkError> {
        match self.plan.options.get(key) {
            None => Ok(None),
            Some(OptionValue::Bool(b)) => Ok(Some(*b)),
            Some(OptionValue::Str(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(SinkError::config(&self.label, key, "must be true or false", format!("write {key} = true"))),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<String>, SinkError> {
        match self.plan.options.get(key) {
            None => Ok(Vec::new()),
            Some(OptionValue::List(l)) => Ok(l.clone()),
            Some(OptionValue::Str(s)) => Ok(vec![s.clone()]),
            Some(_) => Err(SinkError::config(
                &self.label,
                key,
                "must be a list of column names",
                format!("write {key} = [\"col\"]"),
            )),
        }
    }

    fn storage(&self, ctx: &SinkContext) -> Result<Arc<dyn Storage>, SinkError> {
        let path = self.required_str("path", "out/results")?;
        let target = Target::parse(path, ctx.base_dir.as_deref()).map_err(|e| {
            SinkError::config(
                &self.label,
                "path",
                e.message.clone(),
                e.fix.clone().unwrap_or_else(|| "give a directory or s3://bucket/prefix".into()),
            )
        })?;
        let mut s3 = ctx.s3.clone();
        if let Some(e) = self.str("endpoint")? {
            s3.endpoint = Some(e.to_string());
        }
        if let Some(r) = self.str("region")? {
            s3.region = Some(r.to_string());
        }
        if let Some(b) = self.bool("allow_http")? {
            s3.allow_http = Some(b);
        }
        if matches!(target, Target::Local(_)) {
            for k in ["endpoint", "region", "allow_http"] {
                if self.plan.options.contains_key(k) {
                    return Err(SinkError::config(
                        &self.label,
                        k,
                        format!("applies to s3:// paths, but the path is the local directory {target}"),
                        format!("remove `{k}`, or write path = \"s3://bucket/prefix\""),
                    ));
                }
            }
        }
        target.open(&s3).map_err(|e| SinkError::storage(&self.label, e))
    }
}

/// Build-time errors name the sink by its place in the job file rather than its path.
fn relabel(e: SinkError, label: &str) -> SinkError {
    match e {
        SinkError::Config { option, message, fix, .. } => {
            SinkError::Config { sink: label.to_string(), option, message, fix }
        }
        SinkError::Column { column, message, fix, .. } => {
            SinkError::Column { sink: label.to_string(), column, message, fix }
        }
        other => other,
    }
}

const STORAGE_OPTS: [&str; 3] = ["endpoint", "region", "allow_http"];

fn with_storage_opts(own: &[&'static str]) -> Vec<&'static str> {
    own.iter().copied().chain(STORAGE_OPTS).collect()
}

fn check_instance(label: &str, instance: &Option<String>) -> Result<(), SinkError> {
    if let Some(i) = instance
        && (i.is_empty() || !i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(SinkError::config(
            label,
            "instance",
            format!("`{i}` cannot be part of a file name"),
            "use letters, digits, `-` and `_`",
        ));
    }
    Ok(())
}

fn resolve(base: Option<&Path>, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    }
}

/// Builds the sink of one query. Opens storage (creating a local directory) and loads the
/// protobuf message; sends no request to S3.
pub fn build_sink(plan: &SinkPlan, ctx: &SinkContext) -> Result<Box<dyn Sink>, SinkError> {
    let o = Opts { plan, label: label(plan, &format!("query `{}`", ctx.query)) };
    check_instance(&o.label, &ctx.instance)?;
    match plan.kind {
        SinkKind::Console => {
            o.check_known(&["num_rows", "truncate"])?;
            let mut show = ShowOptions::default();
            if let Some(n) = o.int("num_rows")? {
                show.num_rows = usize::try_from(n).unwrap_or(usize::MAX);
            }
            if let Some(t) = o.int("truncate")? {
                show.truncate = usize::try_from(t).unwrap_or(usize::MAX);
            }
            Ok(Box::new(ConsoleSink::new(&ctx.query, ctx.schema.clone(), show, ctx.console.clone())))
        }
        SinkKind::Json => {
            o.check_known(&with_storage_opts(&["path"]))?;
            let storage = o.storage(ctx)?;
            Ok(Box::new(JsonSink::new(&ctx.query, &ctx.schema, storage, ctx.instance.clone())))
        }
        SinkKind::Parquet => {
            o.check_known(&with_storage_opts(&["path", "partition_by", "compression"]))?;
            let mut options = ParquetOptions { partition_by: o.list("partition_by")?, ..ParquetOptions::default() };
            if let Some(c) = o.str("compression")? {
                options.compression = ParquetCompression::parse(c).ok_or_else(|| {
                    SinkError::config(
                        &o.label,
                        "compression",
                        format!("unknown codec \"{c}\""),
                        "use \"snappy\" (the default), \"zstd\" or \"uncompressed\"",
                    )
                })?;
            }
            options.instance = ctx.instance.clone();
            let storage = o.storage(ctx)?;
            Ok(Box::new(ParquetSink::new(&ctx.query, &ctx.schema, storage, options).map_err(|e| relabel(e, &o.label))?))
        }
        SinkKind::Protobuf => {
            o.check_known(&with_storage_opts(&["path", "proto", "message"]))?;
            let proto = o.required_str("proto", "proto/results.proto")?;
            let message = o.required_str("message", "results.ActionCount")?;
            let desc = load_message(&resolve(ctx.base_dir.as_deref(), proto), message)
                .map_err(|e| SinkError::config(&o.label, "proto", e.message, e.fix))?;
            let storage = o.storage(ctx)?;
            Ok(Box::new(
                ProtobufSink::new(&ctx.query, &ctx.schema, desc, storage, ctx.instance.clone())
                    .map_err(|e| relabel(e, &o.label))?,
            ))
        }
        SinkKind::File => Err(SinkError::config(
            &o.label,
            "kind",
            "a file sink holds dead letters, not query results",
            "use kind = \"json\" for JSON lines of results, or move this sink to [dead_letter]",
        )),
        SinkKind::Kafka => Err(SinkError::config(
            &o.label,
            "kind",
            "kafka sinks are built by the runtime (they share its producer)",
            "build it with the runtime's Kafka sink",
        )),
    }
}

/// Builds a dead-letter sink (`kind = "file"`, or `"json"` as a synonym) for records of
/// `topic`; `ctx.schema` is the source's decoded schema.
pub fn build_dead_letter_sink(
    plan: &SinkPlan,
    ctx: &SinkContext,
    topic: &str,
) -> Result<Box<dyn DeadLetterSink>, SinkError> {
    let o = Opts { plan, label: label(plan, &format!("dead letters of job `{}`", ctx.job)) };
    check_instance(&o.label, &ctx.instance)?;
    match plan.kind {
        SinkKind::File | SinkKind::Json => {
            o.check_known(&with_storage_opts(&["path"]))?;
            let storage = o.storage(ctx)?;
            Ok(Box::new(DeadLetterFileSink::new(&ctx.job, topic, &ctx.schema, storage, ctx.instance.clone())))
        }
        SinkKind::Kafka => Err(SinkError::config(
            &o.label,
            "kind",
            "kafka dead-letter sinks are built by the runtime (they share its producer)",
            "build it with the runtime's Kafka sink",
        )),
        other => Err(SinkError::config(
            &o.label,
            "kind",
            format!("dead letters cannot go to a {} sink", other.name()),
            "use kind = \"file\" with a path, or kind = \"kafka\" with a topic",
        )),
    }
}
