//! The job as plain data: what a job file (or, later, a SQL front end) turns into, and what
//! [`Pipeline::new`](crate::Pipeline::new) builds an engine from.
//!
//! A job reads one source topic and runs one or more queries over it; each query is an ordered
//! list of [`Operation`]s and writes to its sinks. Expressions stay as text here, each with the
//! place in the job file it came from, so that errors found when the pipeline is compiled
//! against the decoded schema can still name the file, line and field.

use sluice_formats::{Field, Kind, RowSchema};
use std::collections::BTreeMap;
use std::fmt;

/// Where a piece of the plan was written: file, line and column (1-based), and the field path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The job file.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1 (in characters).
    pub column: u32,
    /// The field, e.g. `query[0].step[2].aggregates[1]`.
    pub field: String,
}

impl Origin {
    /// The position `byte` bytes into `text`, where `text` starts at this origin (the value of
    /// a TOML string without escapes is the file's text, so this holds for multi-line strings).
    pub fn advance(&self, text: &str, byte: usize) -> Origin {
        let mut o = self.clone();
        for ch in text.get(..byte.min(text.len())).unwrap_or(text).chars() {
            if ch == '\n' {
                o.line += 1;
                o.column = 1;
            } else {
                o.column += 1;
            }
        }
        o
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.field)
    }
}

/// An expression's text and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprText {
    /// The expression (for named items, `expr [AS name]`).
    pub text: String,
    /// Where it came from, when it came from a file. The column points at the first character
    /// of the text, so an expression error's byte offset can be added to it.
    pub origin: Option<Origin>,
}

impl ExprText {
    /// Expression text with no origin (plans built in code).
    pub fn new(text: impl Into<String>) -> Self {
        ExprText { text: text.into(), origin: None }
    }
}

impl From<&str> for ExprText {
    fn from(s: &str) -> Self {
        ExprText::new(s)
    }
}

/// A whole job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// The job's name (used for the consumer group default and checkpoint paths).
    pub name: String,
    /// The one source topic.
    pub source: SourcePlan,
    /// Static tables that queries may join with, loaded by the caller.
    pub tables: Vec<TablePlan>,
    /// The queries, each with its own operations, output mode, trigger and sinks.
    pub queries: Vec<QueryPlan>,
    /// Where late records and records that fail to decode go; `None` keeps them only in the
    /// engine's dead-letter output (and the counters).
    pub dead_letter: Option<SinkPlan>,
    /// Checkpoint settings.
    pub checkpoint: CheckpointPlan,
}

/// The source topic and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePlan {
    /// Kafka topic.
    pub topic: String,
    /// How record values are encoded.
    pub format: FormatPlan,
    /// Where event time comes from.
    pub event_time: EventTime,
    /// Allowed lateness: watermark = max event time − this (ms).
    pub watermark_delay_ms: i64,
    /// A partition that has delivered nothing for this long (processing time, ms) stops
    /// holding the watermark back. `None`: partitions never count as idle.
    pub idle_timeout_ms: Option<i64>,
    /// Consumer group (for scale-out and visible lag); defaults to the job name.
    pub group: Option<String>,
    /// Where to start without a checkpoint.
    pub starting_offsets: StartingOffsets,
}

/// Where to start reading when there is no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingOffsets {
    /// The oldest retained record.
    #[default]
    Earliest,
    /// Only records produced from now on.
    Latest,
}

/// The encoding of record values.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatPlan {
    /// Protobuf with a local schema: a `.desc` descriptor set or a `.proto` file.
    Protobuf {
        /// Path of the `.desc` or `.proto` file.
        file: String,
        /// Fully qualified message name, e.g. `protobuf.UserEvent`.
        message: String,
    },
    /// Confluent wire format; the schema is fetched from a schema registry by id.
    Registry {
        /// Registry URL; `None` means the default (`SCHEMA_REGISTRY_URL` or the embedded one).
        url: Option<String>,
        /// Message name within the registered schema, when it has several.
        message: Option<String>,
    },
    /// One JSON object per record.
    Json {
        /// The columns to read.
        schema: RowSchema,
    },
    /// One CSV line per record.
    Csv {
        /// The columns, in order.
        schema: RowSchema,
        /// Field delimiter.
        delimiter: char,
    },
}

impl FormatPlan {
    /// The row schema when the format declares it (JSON, CSV); protobuf schemas come from
    /// the descriptor or registry.
    pub fn declared_schema(&self) -> Option<&RowSchema> {
        match self {
            FormatPlan::Json { schema } | FormatPlan::Csv { schema, .. } => Some(schema),
            _ => None,
        }
    }
}

/// Where a record's event time comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum EventTime {
    /// The Kafka record timestamp.
    KafkaTimestamp,
    /// An expression over the decoded row that yields a timestamp (usually a column name).
    Expr(ExprText),
}

/// A static table for joins.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePlan {
    /// Name used by join steps.
    pub name: String,
    /// File path (CSV or Parquet).
    pub path: String,
    /// File format.
    pub format: TableFormat,
    /// Columns; required for CSV, optional for Parquet (which carries its own).
    pub schema: Option<RowSchema>,
}

/// File format of a static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// CSV with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// One query: operations, then results to sinks.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// Name, unique within the job.
    pub name: String,
    /// Operations in order.
    pub ops: Vec<Operation>,
    /// How aggregate results are emitted.
    pub output_mode: OutputMode,
    /// When results are emitted (for update and complete modes).
    pub trigger: Trigger,
    /// Where results go.
    pub sinks: Vec<SinkPlan>,
    /// Where the query was declared.
    pub origin: Option<Origin>,
}

/// One operation of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Keep rows for which the predicate is true (after an aggregate: SQL's HAVING).
    Filter(ExprText),
    /// Append computed columns, each `expr AS name`.
    Compute(Vec<ExprText>),
    /// Join with a static table.
    Join(JoinPlan),
    /// Group and aggregate, optionally over event-time windows. At most one per query.
    Aggregate(AggregatePlan),
    /// Keep the top N rows by a column (per window when windowed).
    TopN(TopNPlan),
    /// Replace the columns by these, each `expr [AS name]`.
    Select(Vec<ExprText>),
}

/// A stream–static join.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinPlan {
    /// The static table's name.
    pub table: String,
    /// Pairs of (stream column, table column) that must be equal.
    pub on: Vec<(String, String)>,
    /// Inner or left outer.
    pub kind: JoinKind,
    /// Prefix for the table's columns in the output (to avoid name clashes).
    pub prefix: Option<String>,
    /// Where the step was declared.
    pub origin: Option<Origin>,
}

/// Join kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only stream rows with a match.
    Inner,
    /// Every stream row; table columns are null without a match.
    Left,
}

/// Grouping and aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatePlan {
    /// Event-time windows; `None` for a running aggregate over the whole stream.
    pub window: Option<WindowPlan>,
    /// Group keys, each `expr [AS name]`.
    pub group_by: Vec<ExprText>,
    /// Result columns, each `expr [AS name]` where `expr` uses aggregate calls, e.g.
    /// `count(*) AS n`, `sum(value) / count(*) AS mean`.
    pub aggregates: Vec<ExprText>,
    /// Where the step was declared.
    pub origin: Option<Origin>,
}

/// Event-time windows (sizes in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowPlan {
    /// Fixed, non-overlapping windows.
    Tumbling {
        /// Window length.
        size_ms: i64,
        /// Shift of window starts from the epoch.
        offset_ms: i64,
    },
    /// Overlapping windows of `size_ms` starting every `slide_ms`.
    Sliding {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts; at most `size_ms`.
        slide_ms: i64,
        /// Shift of window starts from the epoch.
        offset_ms: i64,
    },
    /// Per key, a window that grows while records arrive less than `gap_ms` apart.
    Session {
        /// Inactivity gap that ends a session.
        gap_ms: i64,
    },
}

/// Top-N selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopNPlan {
    /// How many rows to keep.
    pub n: usize,
    /// The column to rank by.
    pub by: String,
    /// Largest first (the default) or smallest first.
    pub descending: bool,
    /// Where the step was declared.
    pub origin: Option<Origin>,
}

/// How aggregate results are emitted (Spark's output modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Each result row once, final: a window's row when the watermark passes its end; every
    /// row of a query without aggregate.
    Append,
    /// At each trigger, the rows whose aggregates changed since the previous trigger.
    Update,
    /// At each trigger, the whole result table.
    Complete,
}

impl fmt::Display for OutputMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputMode::Append => "append",
            OutputMode::Update => "update",
            OutputMode::Complete => "complete",
        })
    }
}

/// When a query emits results in update and complete modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// At the end of every batch handed to the engine (Spark's default trigger).
    EachBatch,
    /// Every `interval_ms` of processing time, on the engine's tick (Spark's
    /// `trigger(processingTime=...)`).
    ProcessingTime {
        /// Interval in ms.
        interval_ms: i64,
    },
}

/// A sink: its kind and its options.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkPlan {
    /// Sink kind.
    pub kind: SinkKind,
    /// Options by name (`path`, `topic`, `partition_by`, ...), validated per kind.
    pub options: BTreeMap<String, OptionValue>,
    /// Where the sink was declared.
    pub origin: Option<Origin>,
}

/// Sink kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// Spark-style tables on standard output.
    Console,
    /// JSON lines files.
    Json,
    /// Parquet files, optionally hive-partitioned.
    Parquet,
    /// Length-delimited protobuf messages, one file per batch.
    Protobuf,
    /// A Kafka topic.
    Kafka,
    /// A directory of files (used for dead letters).
    File,
}

impl SinkKind {
    /// The kind's name in job files.
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Console => "console",
            SinkKind::Json => "json",
            SinkKind::Parquet => "parquet",
            SinkKind::Protobuf => "protobuf",
            SinkKind::Kafka => "kafka",
            SinkKind::File => "file",
        }
    }
}

/// A sink option's value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// List of text.
    List(Vec<String>),
}

/// Checkpoint settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPlan {
    /// How often to checkpoint (processing time, ms).
    pub interval_ms: i64,
    /// `publish_within` (ms): once an epoch has output (result rows or dead letters), the
    /// checkpoint that publishes it is taken at most this long after the first of it, instead
    /// of waiting for the interval. `None`: only the interval.
    pub publish_within_ms: Option<i64>,
    /// Directory or `s3://bucket/prefix`; `None` means a default under the working directory.
    pub location: Option<String>,
}

impl Default for CheckpointPlan {
    fn default() -> Self {
        CheckpointPlan { interval_ms: 10_000, publish_within_ms: None, location: None }
    }
}

/// Parses a schema written as Spark DDL: `"name string, amount double, ts timestamp"`.
/// Returns the byte offset of the bad item with the message on error.
pub fn parse_ddl_schema(text: &str) -> Result<RowSchema, (usize, String)> {
    let mut fields: Vec<Field> = Vec::new();
    let mut offset = 0;
    for item in text.split(',') {
        let lead = item.len() - item.trim_start().len();
        let trimmed = item.trim();
        let at = offset + lead;
        offset += item.len() + 1;
        if trimmed.is_empty() {
            return Err((at, "empty column definition".to_string()));
        }
        let mut parts = trimmed.split_whitespace();
        let name = parts.next().unwrap_or_default().trim_matches('`');
        let Some(type_name) = parts.next() else {
            return Err((at, format!("column `{name}` has no type; write `{name} string` (or int, double, ...)")));
        };
        if let Some(extra) = parts.next() {
            return Err((at, format!("unexpected `{extra}` after `{name} {type_name}`; separate columns with commas")));
        }
        let Some(kind) = crate::expr::kind_by_name(type_name) else {
            return Err((
                at,
                format!(
                    "unknown type `{type_name}` for column `{name}`; use string, int, bigint, double, boolean, timestamp or binary"
                ),
            ));
        };
        if fields.iter().any(|f| f.name == name) {
            return Err((at, format!("column `{name}` is declared twice")));
        }
        fields.push(Field::new(name, kind));
    }
    Ok(RowSchema::new(fields))
}

/// Renders a schema as Spark DDL (the inverse of [`parse_ddl_schema`]).
pub fn ddl(schema: &RowSchema) -> String {
    let names: Vec<String> = schema
        .fields
        .iter()
        .map(|f| {
            let t = match f.kind {
                Kind::Bool => "boolean",
                Kind::Int => "bigint",
                Kind::Float => "double",
                Kind::Str => "string",
                Kind::Bytes => "binary",
                Kind::Timestamp => "timestamp",
            };
            format!("{} {t}", f.name)
        })
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_round_trip_and_errors() {
        let s = parse_ddl_schema("name string, amount double,flag int , ts timestamp").unwrap();
        assert_eq!(ddl(&s), "name string, amount double, flag bigint, ts timestamp");
        assert_eq!(parse_ddl_schema("a string, b").unwrap_err().0, 10);
        assert!(parse_ddl_schema("a string, b strnig").unwrap_err().1.contains("unknown type `strnig`"));
        assert!(parse_ddl_schema("a string, a int").unwrap_err().1.contains("twice"));
        assert!(parse_ddl_schema("a string b int").unwrap_err().1.contains("commas"));
        assert!(parse_ddl_schema("a string,").is_err());
    }
}
