//! The TOML job-file front end: `jobs/*.toml` → [`JobPlan`].
//!
//! The format is documented in `jobs/README.md`. Parsing is in two passes: serde with
//! [`toml::Spanned`] values checks the structure (unknown keys, wrong types, missing fields),
//! then every value is validated with its span, so each error names the file, the line and
//! column, the field (`query[0].step[2].aggregates[1]`), what is wrong and how to fix it.
//! Expressions are parsed here (syntax); they are type-checked against the decoded schema when
//! the [`Pipeline`](crate::Pipeline) is built, and those errors carry the same positions.

// Errors are built once, when a job is loaded; their size does not matter.
#![allow(clippy::result_large_err)]

use crate::expr;
use crate::plan::{
    AggregatePlan, CheckpointPlan, EventTime, ExprText, FormatPlan, JobPlan, JoinKind, JoinPlan, Operation,
    OptionValue, Origin, OutputMode, QueryPlan, SinkKind, SinkPlan, SourcePlan, StartingOffsets, TableFormat,
    TablePlan, TopNPlan, Trigger, WindowPlan, parse_ddl_schema,
};
use crate::time::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// A job file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFileError {
    /// The file.
    pub file: String,
    /// Line, from 1 (0 when the error is about the whole file).
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// The field, e.g. `query[0].step[1].window.size`; empty at the top level.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

impl fmt::Display for JobFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for JobFileError {}

/// Reads and parses a job file.
pub fn load(path: &Path) -> Result<JobPlan, JobFileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| JobFileError {
        file: file.clone(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the job file: {e}"),
        fix: Some("check the path; job files live under jobs/".to_string()),
    })?;
    parse(&text, &file)
}

/// Parses job-file text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<JobPlan, JobFileError> {
    let ctx = Ctx { text, file };
    let raw: RawJob = toml::from_str(text).map_err(|e| ctx.serde_error(&e))?;
    ctx.job(raw)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    source: Spanned<RawSource>,
    #[serde(default)]
    table: Vec<Spanned<RawTable>>,
    #[serde(default)]
    query: Vec<Spanned<RawQuery>>,
    dead_letter: Option<Spanned<BTreeMap<String, Spanned<RawOpt>>>>,
    checkpoint: Option<Spanned<RawCheckpoint>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    topic: Spanned<String>,
    format: Spanned<RawFormat>,
    event_time: Option<Spanned<String>>,
    watermark: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    starting_offsets: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFormat {
    kind: Spanned<String>,
    file: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    schema: Option<Spanned<String>>,
    delimiter: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Spanned<String>,
    path: Spanned<String>,
    format: Option<Spanned<String>>,
    schema: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: Spanned<String>,
    output_mode: Option<Spanned<String>>,
    trigger: Option<Spanned<String>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    sink: Vec<Spanned<BTreeMap<String, Spanned<RawOpt>>>>,
}

type SpannedList = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    filter: Option<Spanned<String>>,
    columns: Option<SpannedList>,
    join: Option<Spanned<String>>,
    on: Option<SpannedList>,
    how: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    window: Option<Spanned<RawWindow>>,
    group_by: Option<SpannedList>,
    aggregates: Option<SpannedList>,
    top_n: Option<Spanned<i64>>,
    by: Option<Spanned<String>>,
    order: Option<Spanned<String>>,
    select: Option<SpannedList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    size: Option<Spanned<String>>,
    slide: Option<Spanned<String>>,
    offset: Option<Spanned<String>>,
    gap: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    interval: Option<Spanned<String>>,
    publish_within: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawOpt {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

fn sp<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

impl Ctx<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() as u32 + 1;
        (line, column)
    }

    fn err(&self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) -> JobFileError {
        let (line, column) = self.line_col(span.start);
        JobFileError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            fix: None,
        }
    }

    fn err_fix(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> JobFileError {
        let mut e = self.err(span, field, message);
        e.fix = Some(fix.into());
        e
    }

    fn origin(&self, span: Range<usize>, field: &str) -> Origin {
        // Point at the first character inside the quotes.
        let rest = &self.text[span.start.min(self.text.len())..];
        let mut skip = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
            3
        } else if rest.starts_with('"') || rest.starts_with('\'') {
            1
        } else {
            0
        };
        // TOML drops a newline right after the opening `"""`.
        if skip == 3 {
            if rest[3..].starts_with('\n') {
                skip += 1;
            } else if rest[3..].starts_with("\r\n") {
                skip += 2;
            }
        }
        let (line, column) = self.line_col(span.start + skip);
        Origin { file: self.file.to_string(), line, column, field: field.to_string() }
    }

    fn expr_text(&self, s: &Spanned<String>, field: &str) -> ExprText {
        ExprText { text: s.get_ref().clone(), origin: Some(self.origin(sp(s), field)) }
    }

    /// Checks an expression's syntax now, so that typos surface when the file is loaded.
    fn check_expr(&self, s: &Spanned<String>, field: &str, named: bool) -> Result<ExprText, JobFileError> {
        let text = self.expr_text(s, field);
        let result =
            if named { expr::parse_named(&text.text).map(|_| ()) } else { expr::parse(&text.text).map(|_| ()) };
        if let Err(e) = result {
            let at = text.origin.clone().unwrap_or_default().advance(&text.text, e.pos);
            return Err(JobFileError {
                file: self.file.to_string(),
                line: at.line,
                column: at.column,
                field: field.to_string(),
                message: format!("in `{}`: {}", text.text, e.message),
                fix: e.fix,
            });
        }
        Ok(text)
    }

    fn duration(&self, s: &Spanned<String>, field: &str) -> Result<i64, JobFileError> {
        parse_duration(s.get_ref()).map_err(|e| {
            self.err_fix(
                sp(s),
                field,
                format!("`{}` is not a duration: {}", s.get_ref(), e.reason),
                "write e.g. \"10 seconds\", \"500 ms\", \"1 minute\"",
            )
        })
    }

    fn positive_duration(&self, s: &Spanned<String>, field: &str) -> Result<i64, JobFileError> {
        let d = self.duration(s, field)?;
        if d <= 0 {
            return Err(self.err_fix(sp(s), field, "must be longer than zero", "write e.g. \"10 seconds\""));
        }
        Ok(d)
    }

    fn non_empty(&self, s: &Spanned<String>, field: &str) -> Result<String, JobFileError> {
        if s.get_ref().trim().is_empty() {
            return Err(self.err(sp(s), field, "must not be empty"));
        }
        Ok(s.get_ref().clone())
    }

    fn choice<T: Copy>(&self, s: &Spanned<String>, field: &str, options: &[(&str, T)]) -> Result<T, JobFileError> {
        let v = s.get_ref().to_ascii_lowercase();
        options.iter().find(|(n, _)| *n == v).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            self.err_fix(
                sp(s),
                field,
                format!("unknown value \"{}\"", s.get_ref()),
                format!("use one of {}", names.join(", ")),
            )
        })
    }

    fn serde_error(&self, e: &toml::de::Error) -> JobFileError {
        let span = e.span().unwrap_or(0..0);
        let field = path_at(self.text, span.start).unwrap_or_default();
        let message = e.message().trim().to_string();
        let mut err = self.err(span, field, message.clone());
        // Suggest the intended key for a typo.
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((name, expected)) = rest.split_once('`')
        {
            let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            err.fix = Some(match expr::closest(name, candidates.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("the keys allowed here are: {}", candidates.join(", ")),
            });
        } else if message.starts_with("missing field") {
            err.fix = Some("add it; jobs/README.md lists every key".to_string());
        }
        err
    }

    fn job(&self, raw: RawJob) -> Result<JobPlan, JobFileError> {
        let name = self.non_empty(&raw.name, "name")?;
        let source = self.source(raw.source.into_inner())?;
        let mut tables: Vec<TablePlan> = Vec::new();
        for (i, t) in raw.table.iter().enumerate() {
            let field = format!("table[{i}]");
            let t_span = sp(t);
            let t = t.get_ref();
            let name = self.non_empty(&t.name, &format!("{field}.name"))?;
            if tables.iter().any(|x| x.name == name) {
                return Err(self.err_fix(
                    sp(&t.name),
                    format!("{field}.name"),
                    format!("table `{name}` is declared twice"),
                    "give each table its own name",
                ));
            }
            let path = self.non_empty(&t.path, &format!("{field}.path"))?;
            let format = match &t.format {
                Some(f) => self.choice(
                    f,
                    &format!("{field}.format"),
                    &[("csv", TableFormat::Csv), ("parquet", TableFormat::Parquet)],
                )?,
                None if path.ends_with(".parquet") => TableFormat::Parquet,
                None => TableFormat::Csv,
            };
            let schema = match &t.schema {
                Some(s) => Some(self.schema(s, &format!("{field}.schema"))?),
                None if format == TableFormat::Csv => {
                    return Err(self.err_fix(
                        t_span,
                        field,
                        format!("CSV table `{name}` has no schema"),
                        "add e.g. schema = \"campaign_id bigint, network_id bigint, name string\"",
                    ));
                }
                None => None,
            };
            tables.push(TablePlan { name, path, format, schema });
        }
        if raw.query.is_empty() {
            return Err(self.err_fix(
                0..0,
                "query",
                "the job has no query",
                "add a [[query]] section with a name, steps and sinks",
            ));
        }
        let mut queries: Vec<QueryPlan> = Vec::new();
        for (i, q) in raw.query.iter().enumerate() {
            let plan = self.query(q, i, &tables)?;
            if queries.iter().any(|x| x.name == plan.name) {
                return Err(self.err_fix(
                    sp(&q.get_ref().name),
                    format!("query[{i}].name"),
                    format!("two queries are named `{}`", plan.name),
                    "give each query its own name",
                ));
            }
            queries.push(plan);
        }
        let dead_letter = match &raw.dead_letter {
            Some(d) => {
                let sink = self.sink(d, "dead_letter")?;
                if !matches!(sink.kind, SinkKind::Kafka | SinkKind::File | SinkKind::Json) {
                    return Err(self.err_fix(
                        sp(d),
                        "dead_letter.kind",
                        format!("dead letters cannot go to a {} sink", sink.kind.name()),
                        "use kind = \"kafka\" (with topic) or \"file\" (with path)",
                    ));
                }
                Some(sink)
            }
            None => None,
        };
        let mut checkpoint = CheckpointPlan::default();
        if let Some(c) = &raw.checkpoint {
            let c = c.get_ref();
            if let Some(i) = &c.interval {
                checkpoint.interval_ms = self.positive_duration(i, "checkpoint.interval")?;
            }
            if let Some(w) = &c.publish_within {
                checkpoint.publish_within_ms = Some(self.positive_duration(w, "checkpoint.publish_within")?);
            }
            if let Some(l) = &c.location {
                checkpoint.location = Some(self.non_empty(l, "checkpoint.location")?);
            }
        }
        Ok(JobPlan { name, source, tables, queries, dead_letter, checkpoint })
    }

    fn schema(&self, s: &Spanned<String>, field: &str) -> Result<sluice_formats::RowSchema, JobFileError> {
        parse_ddl_schema(s.get_ref()).map_err(|(at, msg)| {
            let o = self.origin(sp(s), field).advance(s.get_ref(), at);
            JobFileError {
                file: self.file.to_string(),
                line: o.line,
                column: o.column,
                field: field.to_string(),
                message: msg,
                fix: Some("write the schema as Spark DDL: \"name string, amount double, ts timestamp\"".to_string()),
            }
        })
    }

    fn source(&self, s: RawSource) -> Result<SourcePlan, JobFileError> {
        let topic = self.non_empty(&s.topic, "source.topic")?;
        let f_span = sp(&s.format);
        let f = s.format.into_inner();
        let kind = f.kind.get_ref().to_ascii_lowercase();
        let reject = |v: &Option<Spanned<String>>, key: &str, why: &str| -> Result<(), JobFileError> {
            match v {
                Some(x) => Err(self.err_fix(
                    sp(x),
                    format!("source.format.{key}"),
                    format!("`{key}` does not apply to format \"{kind}\""),
                    why.to_string(),
                )),
                None => Ok(()),
            }
        };
        let required = |v: &Option<Spanned<String>>, key: &str, example: &str| -> Result<String, JobFileError> {
            match v {
                Some(x) => self.non_empty(x, &format!("source.format.{key}")),
                None => Err(self.err_fix(
                    f_span.clone(),
                    "source.format",
                    format!("format \"{kind}\" needs `{key}`"),
                    format!("add {key} = {example}"),
                )),
            }
        };
        let format = match kind.as_str() {
            "protobuf" => {
                reject(&f.schema, "schema", "a protobuf source's columns come from its descriptor; remove it")?;
                reject(&f.url, "url", "use kind = \"registry\" to read schemas from a registry")?;
                reject(&f.delimiter, "delimiter", "remove it")?;
                FormatPlan::Protobuf {
                    file: required(
                        &f.file,
                        "file",
                        "\"proto/user_event.desc\" (a .desc descriptor set or a .proto file)",
                    )?,
                    message: required(&f.message, "message", "\"protobuf.UserEvent\"")?,
                }
            }
            "registry" => {
                reject(&f.schema, "schema", "the registry's schema is used; remove it")?;
                reject(&f.file, "file", "use kind = \"protobuf\" for a local descriptor")?;
                reject(&f.delimiter, "delimiter", "remove it")?;
                FormatPlan::Registry {
                    url: f.url.as_ref().map(|u| self.non_empty(u, "source.format.url")).transpose()?,
                    message: f.message.as_ref().map(|m| self.non_empty(m, "source.format.message")).transpose()?,
                }
            }
            "json" | "csv" => {
                reject(&f.file, "file", "remove it")?;
                reject(&f.message, "message", "remove it")?;
                reject(&f.url, "url", "remove it")?;
                let Some(schema_text) = &f.schema else {
                    return Err(self.err_fix(
                        f_span,
                        "source.format",
                        format!("format \"{kind}\" needs `schema`"),
                        "add schema = \"name string, amount double, ts timestamp\"",
                    ));
                };
                let schema = self.schema(schema_text, "source.format.schema")?;
                if kind == "json" {
                    reject(&f.delimiter, "delimiter", "only CSV has a delimiter")?;
                    FormatPlan::Json { schema }
                } else {
                    let delimiter = match &f.delimiter {
                        None => ',',
                        Some(d) => {
                            let mut chars = d.get_ref().chars();
                            match (chars.next(), chars.next()) {
                                (Some(c), None) => c,
                                _ => {
                                    return Err(self.err_fix(
                                        sp(d),
                                        "source.format.delimiter",
                                        "must be one character",
                                        "e.g. delimiter = \";\"",
                                    ));
                                }
                            }
                        }
                    };
                    FormatPlan::Csv { schema, delimiter }
                }
            }
            _ => {
                return Err(self.err_fix(
                    sp(&f.kind),
                    "source.format.kind",
                    format!("unknown format \"{}\"", f.kind.get_ref()),
                    "use \"protobuf\", \"registry\", \"json\" or \"csv\"",
                ));
            }
        };
        let event_time = match &s.event_time {
            None => EventTime::KafkaTimestamp,
            Some(e) if matches!(e.get_ref().as_str(), "kafka_timestamp" | "timestamp()") => EventTime::KafkaTimestamp,
            Some(e) => EventTime::Expr(self.check_expr(e, "source.event_time", false)?),
        };
        let watermark_delay_ms = match &s.watermark {
            Some(w) => self.duration(w, "source.watermark")?,
            None => 0,
        };
        let idle_timeout_ms =
            s.idle_timeout.as_ref().map(|d| self.positive_duration(d, "source.idle_timeout")).transpose()?;
        let group = s.group.as_ref().map(|g| self.non_empty(g, "source.group")).transpose()?;
        let starting_offsets = match &s.starting_offsets {
            Some(o) => self.choice(
                o,
                "source.starting_offsets",
                &[("earliest", StartingOffsets::Earliest), ("latest", StartingOffsets::Latest)],
            )?,
            None => StartingOffsets::Earliest,
        };
        Ok(SourcePlan { topic, format, event_time, watermark_delay_ms, idle_timeout_ms, group, starting_offsets })
    }

    fn list(&self, l: &SpannedList, field: &str, named: bool) -> Result<Vec<ExprText>, JobFileError> {
        if l.get_ref().is_empty() {
            return Err(self.err(sp(l), field, "the list is empty"));
        }
        l.get_ref().iter().enumerate().map(|(i, s)| self.check_expr(s, &format!("{field}[{i}]"), named)).collect()
    }

    fn query(&self, q: &Spanned<RawQuery>, qi: usize, tables: &[TablePlan]) -> Result<QueryPlan, JobFileError> {
        let field = format!("query[{qi}]");
        let q_span = sp(q);
        let q = q.get_ref();
        let name = self.non_empty(&q.name, &format!("{field}.name"))?;
        let output_mode = match &q.output_mode {
            Some(m) => self.choice(
                m,
                &format!("{field}.output_mode"),
                &[("append", OutputMode::Append), ("update", OutputMode::Update), ("complete", OutputMode::Complete)],
            )?,
            None => OutputMode::Append,
        };
        let trigger = match &q.trigger {
            None => Trigger::EachBatch,
            Some(t) if matches!(t.get_ref().as_str(), "each_batch" | "default") => Trigger::EachBatch,
            Some(t) => Trigger::ProcessingTime { interval_ms: self.positive_duration(t, &format!("{field}.trigger"))? },
        };
        let mut ops = Vec::new();
        for (si, step) in q.step.iter().enumerate() {
            ops.push(self.step(step, &format!("{field}.step[{si}]"), tables)?);
        }
        if q.sink.is_empty() {
            return Err(self.err_fix(
                q_span,
                field,
                format!("query `{name}` has no sink"),
                "add a [[query.sink]] with kind = \"console\" (or json, parquet, protobuf, kafka)",
            ));
        }
        let sinks = q
            .sink
            .iter()
            .enumerate()
            .map(|(i, s)| self.sink(s, &format!("{field}.sink[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let (line, column) = self.line_col(q_span.start);
        let origin = Some(Origin { file: self.file.to_string(), line, column, field });
        Ok(QueryPlan { name, ops, output_mode, trigger, sinks, origin })
    }

    fn step(&self, s: &Spanned<RawStep>, field: &str, tables: &[TablePlan]) -> Result<Operation, JobFileError> {
        let span = sp(s);
        let s = s.get_ref();
        let mut kinds: Vec<&str> = Vec::new();
        if s.filter.is_some() {
            kinds.push("filter");
        }
        if s.columns.is_some() {
            kinds.push("columns");
        }
        if s.join.is_some() {
            kinds.push("join");
        }
        if s.aggregates.is_some() || s.group_by.is_some() || s.window.is_some() {
            kinds.push("aggregates");
        }
        if s.top_n.is_some() {
            kinds.push("top_n");
        }
        if s.select.is_some() {
            kinds.push("select");
        }
        let kind = match kinds.as_slice() {
            [one] => *one,
            [] => {
                return Err(self.err_fix(
                    span,
                    field,
                    "this step does nothing",
                    "give it one of filter, columns, join, aggregates, top_n or select",
                ));
            }
            [a, b, ..] => {
                return Err(self.err_fix(
                    span,
                    field,
                    format!("a step does one thing, but this one has both `{a}` and `{b}`"),
                    "split it into two [[query.step]] tables, in the order they should run",
                ));
            }
        };
        let origin = {
            let (line, column) = self.line_col(span.start);
            Some(Origin { file: self.file.to_string(), line, column, field: field.to_string() })
        };
        // Keys that belong to another kind of step.
        let stray: [(&str, bool, &str); 6] = [
            ("on", s.on.is_some(), "join"),
            ("how", s.how.is_some(), "join"),
            ("prefix", s.prefix.is_some(), "join"),
            ("by", s.by.is_some(), "top_n"),
            ("order", s.order.is_some(), "top_n"),
            ("window", s.window.is_some(), "aggregates"),
        ];
        for (key, present, owner) in stray {
            if present && owner != kind {
                return Err(self.err_fix(
                    span.clone(),
                    format!("{field}.{key}"),
                    format!("`{key}` belongs to a {owner} step, not a {kind} step"),
                    format!("move it to the {owner} step, or remove it"),
                ));
            }
        }
        Ok(match kind {
            "filter" => Operation::Filter(self.check_expr(
                s.filter.as_ref().ok_or_else(|| self.err(span.clone(), field, "no filter"))?,
                &format!("{field}.filter"),
                false,
            )?),
            "columns" => Operation::Compute(self.list(
                s.columns.as_ref().ok_or_else(|| self.err(span.clone(), field, "no columns"))?,
                &format!("{field}.columns"),
                true,
            )?),
            "select" => Operation::Select(self.list(
                s.select.as_ref().ok_or_else(|| self.err(span.clone(), field, "no select"))?,
                &format!("{field}.select"),
                true,
            )?),
            "join" => {
                let table = s.join.as_ref().ok_or_else(|| self.err(span.clone(), field, "no join"))?;
                let tname = table.get_ref();
                if !tables.iter().any(|t| &t.name == tname) {
                    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
                    let fix = if names.is_empty() {
                        "declare it in a [[table]] section with name, path and schema".to_string()
                    } else {
                        format!("the tables are: {}", names.join(", "))
                    };
                    return Err(self.err_fix(
                        sp(table),
                        format!("{field}.join"),
                        format!("no table named `{tname}`"),
                        fix,
                    ));
                }
                let Some(on) = &s.on else {
                    return Err(self.err_fix(
                        span,
                        format!("{field}.on"),
                        "a join needs `on`",
                        "add on = [\"campaign_id\"] (or [\"stream_col = table_col\"])",
                    ));
                };
                if on.get_ref().is_empty() {
                    return Err(self.err(sp(on), format!("{field}.on"), "the list is empty"));
                }
                let mut pairs = Vec::new();
                for (i, item) in on.get_ref().iter().enumerate() {
                    let text = item.get_ref();
                    let (a, b) = match text.split_once('=') {
                        Some((a, b)) => (a.trim(), b.trim()),
                        None => (text.trim(), text.trim()),
                    };
                    if a.is_empty() || b.is_empty() || a.contains(' ') || b.contains(' ') {
                        return Err(self.err_fix(
                            sp(item),
                            format!("{field}.on[{i}]"),
                            format!("`{text}` is not a column pair"),
                            "write \"column\" (same name on both sides) or \"stream_col = table_col\"",
                        ));
                    }
                    pairs.push((a.to_string(), b.to_string()));
                }
                let kind = match &s.how {
                    Some(h) => self.choice(
                        h,
                        &format!("{field}.how"),
                        &[("inner", JoinKind::Inner), ("left", JoinKind::Left), ("left_outer", JoinKind::Left)],
                    )?,
                    None => JoinKind::Inner,
                };
                let prefix = s.prefix.as_ref().map(|p| p.get_ref().clone());
                Operation::Join(JoinPlan { table: tname.clone(), on: pairs, kind, prefix, origin })
            }
            "aggregates" => {
                let Some(aggs) = &s.aggregates else {
                    return Err(self.err_fix(
                        span,
                        format!("{field}.aggregates"),
                        "a step with `group_by` or `window` needs `aggregates`",
                        "add aggregates = [\"count(*) AS count\"]",
                    ));
                };
                let aggregates = self.list(aggs, &format!("{field}.aggregates"), true)?;
                let group_by = match &s.group_by {
                    Some(g) if g.get_ref().is_empty() => Vec::new(),
                    Some(g) => self.list(g, &format!("{field}.group_by"), true)?,
                    None => Vec::new(),
                };
                let window = s.window.as_ref().map(|w| self.window(w, &format!("{field}.window"))).transpose()?;
                Operation::Aggregate(AggregatePlan { window, group_by, aggregates, origin })
            }
            _ => {
                let n = s.top_n.as_ref().ok_or_else(|| self.err(span.clone(), field, "no top_n"))?;
                if *n.get_ref() < 1 {
                    return Err(self.err_fix(sp(n), format!("{field}.top_n"), "must be at least 1", "e.g. top_n = 5"));
                }
                let Some(by) = &s.by else {
                    return Err(self.err_fix(
                        span,
                        format!("{field}.by"),
                        "top_n needs `by`, the column to rank by",
                        "add by = \"totalValue\"",
                    ));
                };
                let descending = match &s.order {
                    Some(o) => self.choice(
                        o,
                        &format!("{field}.order"),
                        &[("desc", true), ("descending", true), ("asc", false), ("ascending", false)],
                    )?,
                    None => true,
                };
                Operation::TopN(TopNPlan {
                    n: *n.get_ref() as usize,
                    by: self.non_empty(by, &format!("{field}.by"))?,
                    descending,
                    origin,
                })
            }
        })
    }

    fn window(&self, w: &Spanned<RawWindow>, field: &str) -> Result<WindowPlan, JobFileError> {
        let span = sp(w);
        let w = w.get_ref();
        let kind =
            self.choice(&w.kind, &format!("{field}.type"), &[("tumbling", 0u8), ("sliding", 1), ("session", 2)])?;
        let need = |v: &Option<Spanned<String>>, key: &str, example: &str| -> Result<i64, JobFileError> {
            match v {
                Some(x) => self.positive_duration(x, &format!("{field}.{key}")),
                None => Err(self.err_fix(
                    span.clone(),
                    format!("{field}.{key}"),
                    format!("a {} window needs `{key}`", w.kind.get_ref()),
                    format!("add {key} = \"{example}\""),
                )),
            }
        };
        let stray = |v: &Option<Spanned<String>>, key: &str| -> Result<(), JobFileError> {
            match v {
                Some(x) => Err(self.err_fix(
                    sp(x),
                    format!("{field}.{key}"),
                    format!("a {} window has no `{key}`", w.kind.get_ref()),
                    "remove it",
                )),
                None => Ok(()),
            }
        };
        let offset = match &w.offset {
            Some(o) => self.duration(o, &format!("{field}.offset"))?,
            None => 0,
        };
        Ok(match kind {
            0 => {
                stray(&w.slide, "slide")?;
                stray(&w.gap, "gap")?;
                WindowPlan::Tumbling { size_ms: need(&w.size, "size", "1 minute")?, offset_ms: offset }
            }
            1 => {
                stray(&w.gap, "gap")?;
                let size_ms = need(&w.size, "size", "10 seconds")?;
                let slide_ms = need(&w.slide, "slide", "5 seconds")?;
                if slide_ms > size_ms {
                    let s = w.slide.as_ref().map_or(span.clone(), sp);
                    return Err(self.err_fix(
                        s,
                        format!("{field}.slide"),
                        "the slide is longer than the window size",
                        "make slide ≤ size (equal sizes give a tumbling window)",
                    ));
                }
                WindowPlan::Sliding { size_ms, slide_ms, offset_ms: offset }
            }
            _ => {
                stray(&w.size, "size")?;
                stray(&w.slide, "slide")?;
                stray(&w.offset, "offset")?;
                WindowPlan::Session { gap_ms: need(&w.gap, "gap", "5 minutes")? }
            }
        })
    }

    fn sink(&self, s: &Spanned<BTreeMap<String, Spanned<RawOpt>>>, field: &str) -> Result<SinkPlan, JobFileError> {
        let span = sp(s);
        let map = s.get_ref();
        let Some(kind_v) = map.get("kind") else {
            return Err(self.err_fix(
                span,
                format!("{field}.kind"),
                "a sink needs `kind`",
                "add kind = \"console\" (or json, parquet, protobuf, kafka, file)",
            ));
        };
        let RawOpt::Str(kind_text) = kind_v.get_ref() else {
            return Err(self.err(sp(kind_v), format!("{field}.kind"), "must be text"));
        };
        let kinds = [
            ("console", SinkKind::Console),
            ("json", SinkKind::Json),
            ("parquet", SinkKind::Parquet),
            ("protobuf", SinkKind::Protobuf),
            ("kafka", SinkKind::Kafka),
            ("file", SinkKind::File),
        ];
        let kind = self.choice(&Spanned::new(sp(kind_v), kind_text.clone()), &format!("{field}.kind"), &kinds)?;
        // (option, required, expected type)
        let allowed: &[(&str, bool, &str)] = match kind {
            SinkKind::Console => &[("num_rows", false, "int"), ("truncate", false, "int_or_bool")],
            // Path sinks also take the S3 settings `endpoint`, `region`, `allow_http`.
            SinkKind::Json | SinkKind::File => &[
                ("path", true, "str"),
                ("endpoint", false, "str"),
                ("region", false, "str"),
                ("allow_http", false, "bool"),
            ],
            SinkKind::Parquet => &[
                ("path", true, "str"),
                ("partition_by", false, "list"),
                ("compression", false, "str"),
                ("endpoint", false, "str"),
                ("region", false, "str"),
                ("allow_http", false, "bool"),
            ],
            SinkKind::Protobuf => &[
                ("path", true, "str"),
                ("proto", true, "str"),
                ("message", true, "str"),
                ("endpoint", false, "str"),
                ("region", false, "str"),
                ("allow_http", false, "bool"),
            ],
            SinkKind::Kafka => &[
                ("topic", true, "str"),
                ("key", false, "str"),
                ("format", false, "str"),
                ("proto", false, "str"),
                ("message", false, "str"),
            ],
        };
        let mut options = BTreeMap::new();
        for (key, v) in map {
            if key == "kind" {
                continue;
            }
            let Some((_, _, ty)) = allowed.iter().find(|(k, _, _)| k == key) else {
                let names: Vec<&str> = allowed.iter().map(|(k, _, _)| *k).collect();
                let fix = match expr::closest(key, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None if names.is_empty() => format!("a {} sink takes no options", kind.name()),
                    None => format!("a {} sink takes: {}", kind.name(), names.join(", ")),
                };
                return Err(self.err_fix(
                    sp(v),
                    format!("{field}.{key}"),
                    format!("unknown option `{key}` for a {} sink", kind.name()),
                    fix,
                ));
            };
            let value = match (v.get_ref().clone(), *ty) {
                (RawOpt::Str(s), "str") if !s.trim().is_empty() => OptionValue::Str(s),
                (RawOpt::Int(i), "int") if i > 0 => OptionValue::Int(i),
                (RawOpt::Int(i), "int_or_bool") if i >= 0 => OptionValue::Int(i),
                (RawOpt::Bool(b), "int_or_bool") => OptionValue::Int(if b { 20 } else { 0 }),
                (RawOpt::Bool(b), "bool") => OptionValue::Bool(b),
                (RawOpt::List(l), "list") => OptionValue::List(l),
                (RawOpt::Str(s), "list") => OptionValue::List(vec![s]),
                (_, ty) => {
                    let want = match ty {
                        "str" => "non-empty text",
                        "int" => "a positive integer",
                        "int_or_bool" => "a non-negative integer or true/false",
                        "bool" => "true or false",
                        _ => "a list of column names",
                    };
                    return Err(self.err(sp(v), format!("{field}.{key}"), format!("must be {want}")));
                }
            };
            if kind == SinkKind::Kafka
                && key == "format"
                && let OptionValue::Str(f) = &value
                && !matches!(f.as_str(), "json" | "csv" | "protobuf")
            {
                return Err(self.err_fix(
                    sp(v),
                    format!("{field}.format"),
                    format!("unknown format \"{f}\""),
                    "use \"json\", \"csv\" or \"protobuf\"",
                ));
            }
            options.insert(key.clone(), value);
        }
        for (key, required, _) in allowed {
            if *required && !options.contains_key(*key) {
                let example = match *key {
                    "path" => "path = \"out/results\"",
                    "topic" => "topic = \"results\"",
                    "proto" => "proto = \"proto/results.proto\"",
                    _ => "message = \"pkg.Result\"",
                };
                return Err(self.err_fix(
                    span,
                    format!("{field}.{key}"),
                    format!("a {} sink needs `{key}`", kind.name()),
                    format!("add {example}"),
                ));
            }
        }
        let (line, column) = self.line_col(span.start);
        Ok(SinkPlan {
            kind,
            options,
            origin: Some(Origin { file: self.file.to_string(), line, column, field: field.to_string() }),
        })
    }
}

/// The dotted path of the key whose value holds byte `offset` (for serde's errors).
fn path_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    fn search(table: &toml::de::DeTable<'_>, offset: usize) -> Option<String> {
        for (k, v) in table.iter() {
            let here = k.span().contains(&offset) || v.span().contains(&offset) || v.span().start == offset;
            let deeper = search_value(v, offset);
            match (here, deeper) {
                (_, Some(d)) if d.starts_with('[') => return Some(format!("{}{d}", k.get_ref())),
                (_, Some(d)) => return Some(format!("{}.{d}", k.get_ref())),
                (true, None) => return Some(k.get_ref().to_string()),
                _ => {}
            }
        }
        None
    }
    fn search_value(v: &Spanned<toml::de::DeValue<'_>>, offset: usize) -> Option<String> {
        match v.get_ref() {
            toml::de::DeValue::Table(t) => search(t, offset),
            toml::de::DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let here = item.span().contains(&offset) || item.span().start == offset;
                    match (here, search_value(item, offset)) {
                        (_, Some(d)) if d.starts_with('[') => return Some(format!("[{i}]{d}")),
                        (_, Some(d)) => return Some(format!("[{i}].{d}")),
                        (true, None) => return Some(format!("[{i}]")),
                        _ => {}
                    }
                }
                None
            }
            _ => None,
        }
    }
    search(doc.get_ref(), offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"

[source]
topic = "customer-transactions"
format = { kind = "json", schema = "customer_id string, final_amount double, ts timestamp" }
event_time = "ts"
watermark = "30 seconds"

[[query]]
name = "w"
output_mode = "update"
trigger = "5 seconds"

[[query.step]]
window = { type = "sliding", size = "10 seconds", slide = "5 seconds" }
aggregates = ["count(*) AS record_count"]

[[query.sink]]
kind = "console"
truncate = false
"#;

    fn fails(text: &str) -> JobFileError {
        match parse(text, "jobs/t.toml") {
            Ok(_) => panic!("parsed:\n{text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn good_file() {
        let plan = parse(GOOD, "jobs/t.toml").unwrap();
        assert_eq!(plan.source.watermark_delay_ms, 30_000);
        assert_eq!(plan.queries[0].trigger, Trigger::ProcessingTime { interval_ms: 5_000 });
        let Operation::Aggregate(a) = &plan.queries[0].ops[0] else { panic!() };
        assert_eq!(a.window, Some(WindowPlan::Sliding { size_ms: 10_000, slide_ms: 5_000, offset_ms: 0 }));
        let o = a.aggregates[0].origin.as_ref().unwrap();
        assert_eq!((o.line, o.column, o.field.as_str()), (17, 16, "query[0].step[0].aggregates[0]"));
        assert_eq!(plan.queries[0].sinks[0].options["truncate"], OptionValue::Int(0));
    }

    #[test]
    fn structural_errors_name_line_and_field() {
        let e = fails(&GOOD.replace("window = {", "windw = {"));
        assert_eq!((e.line, e.field.as_str()), (16, "query[0].step[0].windw"), "{e}");
        assert!(e.message.contains("unknown field `windw`"), "{e}");
        assert_eq!(e.fix.as_deref(), Some("did you mean `window`?"));

        let e = fails(&GOOD.replace("topic = \"customer-transactions\"\n", ""));
        assert_eq!(e.line, 4, "{e}");
        assert_eq!(e.field, "source");
        assert!(e.message.contains("missing field `topic`"), "{e}");

        let e = fails(&GOOD.replace("watermark = \"30 seconds\"", "watermark = 30"));
        assert_eq!((e.line, e.field.as_str()), (8, "source.watermark"), "{e}");

        let e = fails("name = \"x\"\n[source\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn value_errors_name_line_field_and_fix() {
        let e = fails(&GOOD.replace("\"30 seconds\"", "\"30 parsecs\""));
        assert_eq!((e.line, e.column, e.field.as_str()), (8, 13, "source.watermark"));
        assert!(e.to_string().starts_with("jobs/t.toml:8:13: source.watermark: `30 parsecs` is not a duration"), "{e}");

        let e = fails(&GOOD.replace("count(*) AS record_count", "count(*) AS record_count AS x"));
        assert_eq!((e.line, e.column), (17, 41), "{e}");
        assert_eq!(e.field, "query[0].step[0].aggregates[0]");

        let e = fails(&GOOD.replace("slide = \"5 seconds\"", "slide = \"50 seconds\""));
        assert_eq!(e.field, "query[0].step[0].window.slide");

        let e = fails(&GOOD.replace("\"sliding\"", "\"hopping\""));
        assert!(e.fix.unwrap().contains("\"tumbling\", \"sliding\", \"session\""));

        let e = fails(&GOOD.replace("truncate = false", "trunc = false"));
        assert_eq!(e.field, "query[0].sink[0].trunc");
        assert_eq!(e.fix.as_deref(), Some("did you mean `truncate`?"));

        let e = fails(&GOOD.replace("kind = \"console\"\ntruncate = false", "kind = \"parquet\""));
        assert!(e.message.contains("a parquet sink needs `path`"), "{e}");

        let e = fails(&GOOD.replace("final_amount double", "final_amount dbl"));
        assert_eq!(e.field, "source.format.schema");
        assert_eq!(e.column, 57, "{e}"); // the `f` of final_amount

        let e =
            fails(&GOOD.replace(
                "aggregates = [\"count(*) AS record_count\"]",
                "aggregates = [\"count(*)\"]\nfilter = \"x > 1\"",
            ));
        assert!(e.message.contains("both `filter` and `aggregates`"), "{e}");

        let e = fails(&GOOD.replace("[[query.sink]]\nkind = \"console\"\ntruncate = false\n", ""));
        assert!(e.message.contains("has no sink"), "{e}");

        let e = fails(&GOOD.replace("output_mode = \"update\"", "output_mode = \"upsert\""));
        assert_eq!((e.line, e.field.as_str()), (12, "query[0].output_mode"));
    }

    #[test]
    fn joins_and_tables() {
        let text = format!(
            "{GOOD}\n[[table]]\nname = \"campaigns\"\npath = \"c.csv\"\nschema = \"id bigint\"\n\n[[query.step]]\njoin = \"campaignz\"\non = [\"customer_id = id\"]\n"
        );
        let e = fails(&text);
        assert_eq!(e.message, "no table named `campaignz`");
        assert_eq!(e.fix.as_deref(), Some("the tables are: campaigns"));
        let ok = parse(&text.replace("campaignz", "campaigns"), "t.toml").unwrap();
        let Operation::Join(j) = &ok.queries[0].ops[1] else { panic!() };
        assert_eq!(j.on, vec![("customer_id".to_string(), "id".to_string())]);
        let e = fails(&text.replace("campaignz", "campaigns").replace("on = [", "order = \"asc\"\non = ["));
        assert!(e.message.contains("`order` belongs to a top_n step"), "{e}");
        let e = fails(&format!("{GOOD}\n[[table]]\nname = \"c\"\npath = \"c.csv\"\n"));
        assert!(e.message.contains("has no schema"));
    }

    #[test]
    fn checkpoint_publish_within() {
        assert_eq!(parse(GOOD, "jobs/t.toml").unwrap().checkpoint.publish_within_ms, None);
        let text = format!("{GOOD}\n[checkpoint]\ninterval = \"1 minute\"\npublish_within = \"20 milliseconds\"\n");
        let c = parse(&text, "jobs/t.toml").unwrap().checkpoint;
        assert_eq!((c.interval_ms, c.publish_within_ms), (60_000, Some(20)));

        let e = fails(&text.replace("\"20 milliseconds\"", "\"0 seconds\""));
        assert_eq!((e.line, e.column, e.field.as_str()), (25, 18, "checkpoint.publish_within"), "{e}");
        assert!(e.message.contains("longer than zero"), "{e}");
        let e = fails(&text.replace("\"20 milliseconds\"", "\"20 ms please\""));
        assert_eq!((e.line, e.field.as_str()), (25, "checkpoint.publish_within"), "{e}");
        assert!(
            e.to_string().starts_with("jobs/t.toml:25:18: checkpoint.publish_within: `20 ms please` is not a duration"),
            "{e}"
        );
    }

    #[test]
    fn read_errors() {
        let e = load(Path::new("/nonexistent/job.toml")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.to_string().starts_with("/nonexistent/job.toml: cannot read the job file"), "{e}");
    }
}
