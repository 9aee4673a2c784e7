//! The pipeline: a job's queries over one source, driven by decoded records, processing-time
//! ticks and checkpoints.
//!
//! It is a deterministic state machine in the shape of quinn-proto's connections: the caller
//! (the async driver with the Kafka source) hands it batches of decoded records with
//! [`Pipeline::process_batch`], calls [`Pipeline::handle_tick`] when
//! [`Pipeline::poll_timeout`] says a trigger or idle timeout is due, takes results and dead
//! letters from [`Pipeline::poll_output`], and checkpoints with [`Pipeline::checkpoint`]. Time is
//! always a parameter.
//!
//! Per record, in order: event time (field, expression or Kafka timestamp) → for every query:
//! filter → computed columns → join → aggregate (or straight to the output for queries without
//! one) → then the watermark is advanced with the record's event time, which may close windows.
//! A record is judged late against the watermark as it stood before the record, so the outcome
//! depends only on the order of records, never on how they were split into batches.

// Errors are built once, when a job is loaded; their size does not matter.
#![allow(clippy::result_large_err)]

use crate::agg::Aggregation;
use crate::aggregate::{Admission, AggregateOp, OpShared, VnodeSnap};
use crate::checkpoint::{self, Checkpoint, CheckpointError, VnodeSnapshot};
use crate::expr::{self, Compiled, ExprError};
use crate::join::{JoinOp, StaticTable};
use crate::key::{VNODES, hash_values, value_cmp};
use crate::output::{DeadLetter, DeadLetterReason, Metrics, Output, ResultBatch};
use crate::plan::{
    EventTime, ExprText, JobPlan, Operation, OptionValue, Origin, OutputMode, QueryPlan, Trigger, WindowPlan,
};
use crate::shuffle::{ShuffleRecord, ShuffledIn};
use crate::watermark::WatermarkTracker;
use crate::window::Windowing;
use serde::{Deserialize, Serialize};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// A decoded record from the source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Kafka timestamp (ms since the epoch).
    pub timestamp: i64,
    /// The decoded value, laid out as the pipeline's input schema.
    pub row: Row,
}

/// Static tables by name, as loaded by the caller.
pub type Tables = BTreeMap<String, StaticTable>;

/// Why a pipeline cannot be built from a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// Where in the job file, when known.
    pub origin: Option<Origin>,
    /// The query, when the error is in one.
    pub query: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, &self.query) {
            (Some(o), _) => write!(f, "{o}: ")?,
            (None, Some(q)) => write!(f, "query `{q}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

#[derive(Debug, Clone)]
enum Step {
    Filter(Compiled),
    /// `(column to replace, expression)`; `None` appends.
    Compute(Vec<(Option<usize>, Compiled)>),
    Join(JoinOp),
    Select(Vec<Compiled>),
    TopN {
        n: usize,
        by: usize,
        descending: bool,
        window: Option<(usize, usize)>,
    },
}

#[derive(Debug, Clone)]
struct Query {
    name: String,
    pre: Vec<Step>,
    pre_filters_only: bool,
    agg: Option<AggregateOp>,
    post: Vec<Step>,
    schema: RowSchema,
    /// A `top_n` step ranks across every group: in a scaled-out job all of the query's rows
    /// go to one repartition partition.
    ranks_all: bool,
    trigger: Trigger,
    next_fire: i64,
    batch: u64,
    pending: Vec<Row>,
    buf: Vec<Row>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct QueryShared {
    op: Option<OpShared>,
    next_fire: i64,
    batch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Shared {
    tracker: WatermarkTracker,
    queries: Vec<QueryShared>,
    metrics: Metrics,
}

/// What a pipeline does with its aggregates (see [`crate::shuffle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One instance: everything here.
    Single,
    /// First stage of a scaled-out job: aggregate inputs go out as shuffle records to this
    /// many repartition partitions.
    Shuffle { partitions: u32 },
    /// Second stage: the aggregates of one repartition partition.
    Merge,
}

/// A job's engine.
#[derive(Debug, Clone)]
pub struct Pipeline {
    mode: Mode,
    job: String,
    fingerprint: u64,
    input: RowSchema,
    event_time: Option<Compiled>,
    tracker: WatermarkTracker,
    queries: Vec<Query>,
    offsets: BTreeMap<i32, i64>,
    output: VecDeque<Output>,
    metrics: Metrics,
}

fn expr_error(text: &ExprText, e: ExprError, query: &str) -> BuildError {
    let origin = text.origin.as_ref().map(|o| o.advance(&text.text, e.pos));
    BuildError {
        origin,
        query: Some(query.to_string()),
        message: format!("in `{}`: {}", text.text, e.message),
        fix: e.fix,
    }
}

fn parse_named(text: &ExprText, query: &str) -> Result<(expr::Expr, String), BuildError> {
    let (e, alias) = expr::parse_named(&text.text).map_err(|err| expr_error(text, err, query))?;
    let name = expr::output_name(&e, alias.as_deref(), &text.text);
    Ok((e, name))
}

fn compile_expr(text: &ExprText, schema: &RowSchema, query: &str) -> Result<Compiled, BuildError> {
    let e = expr::parse(&text.text).map_err(|err| expr_error(text, err, query))?;
    expr::compile(&e, schema).map_err(|err| expr_error(text, err, query))
}

/// Stable fingerprint of what shapes state: query names, operations, output modes.
fn fingerprint(plan: &JobPlan) -> u64 {
    let mut canon = String::new();
    for q in &plan.queries {
        canon.push_str(&format!("query {:?} {:?}\n", q.name, q.output_mode));
        for op in &q.ops {
            let line = match op {
                Operation::Filter(e) => format!("filter {:?}", e.text),
                Operation::Compute(items) => format!("compute {:?}", texts(items)),
                Operation::Join(j) => format!("join {:?} {:?} {:?} {:?}", j.table, j.on, j.kind, j.prefix),
                Operation::Aggregate(a) => {
                    format!("aggregate {:?} {:?} {:?}", a.window, texts(&a.group_by), texts(&a.aggregates))
                }
                Operation::TopN(t) => format!("top {} {:?} {}", t.n, t.by, t.descending),
                Operation::Select(items) => format!("select {:?}", texts(items)),
            };
            canon.push_str(&line);
            canon.push('\n');
        }
    }
    hash_values([&Value::from(canon)])
}

fn texts(items: &[ExprText]) -> Vec<&str> {
    items.iter().map(|e| e.text.as_str()).collect()
}

fn window_columns(schema: &RowSchema) -> Option<(usize, usize)> {
    Some((schema.index_of("window_start")?, schema.index_of("window_end")?))
}

fn build_query(q: &QueryPlan, input: &RowSchema, tables: &Tables, declared: &[String]) -> Result<Query, BuildError> {
    let name = q.name.as_str();
    let err = |origin: Option<&Origin>, message: String, fix: Option<&str>| BuildError {
        origin: origin.or(q.origin.as_ref()).cloned(),
        query: Some(name.to_string()),
        message,
        fix: fix.map(str::to_string),
    };
    let mut schema = input.clone();
    let mut pre = Vec::new();
    let mut post = Vec::new();
    let mut agg: Option<AggregateOp> = None;
    let mut window: Option<WindowPlan> = None;
    let mut has_top = false;
    for op in &q.ops {
        let step = match op {
            Operation::Filter(text) => {
                let c = compile_expr(text, &schema, name)?;
                if !matches!(c.kind(), Some(Kind::Bool) | None) {
                    let k = c.kind().map_or("NULL".to_string(), |k| k.to_string());
                    return Err(err(
                        text.origin.as_ref(),
                        format!("the filter `{}` is a {k}, not a condition", text.text),
                        Some("compare it, e.g. `x > 0`"),
                    ));
                }
                Step::Filter(c)
            }
            Operation::Compute(items) => {
                let mut out = Vec::new();
                for text in items {
                    let (e, col) = parse_named(text, name)?;
                    let c = expr::compile(&e, &schema).map_err(|x| expr_error(text, x, name))?;
                    let Some(kind) = c.kind() else {
                        return Err(err(
                            text.origin.as_ref(),
                            format!("`{}` is always NULL, so its type is unknown", text.text),
                            Some("CAST it to a type, e.g. CAST(NULL AS string)"),
                        ));
                    };
                    match schema.index_of(&col) {
                        Some(i) => {
                            schema.fields[i].kind = kind;
                            out.push((Some(i), c));
                        }
                        None => {
                            schema.fields.push(Field::new(col, kind));
                            out.push((None, c));
                        }
                    }
                }
                Step::Compute(out)
            }
            Operation::Join(j) => {
                let Some(table) = tables.get(&j.table) else {
                    if declared.contains(&j.table) {
                        return Err(err(
                            j.origin.as_ref(),
                            format!("table `{}` is declared but was not loaded", j.table),
                            Some("load its rows and pass them to Pipeline::new"),
                        ));
                    }
                    let names: Vec<&str> = tables.keys().map(String::as_str).collect();
                    return Err(err(
                        j.origin.as_ref(),
                        format!("no table named `{}`", j.table),
                        Some(&format!("declare it in a [[table]] section; the tables are: {}", names.join(", "))),
                    ));
                };
                let op = JoinOp::new(&schema, &j.table, table, &j.on, j.kind, j.prefix.as_deref())
                    .map_err(|e| err(j.origin.as_ref(), e.message, e.fix.as_deref()))?;
                schema = op.schema.clone();
                Step::Join(op)
            }
            Operation::Aggregate(a) => {
                if agg.is_some() {
                    return Err(err(
                        a.origin.as_ref(),
                        "a query has at most one aggregate step".to_string(),
                        Some("split the work into two queries"),
                    ));
                }
                if let Some(w) = &a.window {
                    validate_window(w).map_err(|m| err(a.origin.as_ref(), m, None))?;
                }
                let group_by = a.group_by.iter().map(|t| parse_named(t, name)).collect::<Result<Vec<_>, _>>()?;
                let aggregates = a.aggregates.iter().map(|t| parse_named(t, name)).collect::<Result<Vec<_>, _>>()?;
                if aggregates.is_empty() {
                    return Err(err(
                        a.origin.as_ref(),
                        "an aggregate step needs at least one aggregate".to_string(),
                        Some("e.g. aggregates = [\"count(*) AS count\"]"),
                    ));
                }
                let compiled =
                    Aggregation::compile(&schema, a.window.is_some(), &group_by, &aggregates).map_err(|e| {
                        let text = if e.list == "group_by" { &a.group_by[e.index] } else { &a.aggregates[e.index] };
                        expr_error(text, e.error, name)
                    })?;
                let op = AggregateOp::new(compiled, Windowing::from_plan(a.window.as_ref()), q.output_mode);
                schema = op.schema().clone();
                window = a.window;
                agg = Some(op);
                continue;
            }
            Operation::TopN(t) => {
                if agg.is_none() {
                    return Err(err(
                        t.origin.as_ref(),
                        "top_n ranks aggregate results, but no aggregate step comes before it".to_string(),
                        Some("put an aggregate step before it"),
                    ));
                }
                let Some(by) = schema.index_of(&t.by) else {
                    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
                    return Err(err(
                        t.origin.as_ref(),
                        format!("top_n ranks by `{}`, which is not a result column", t.by),
                        Some(&format!("the result columns are: {}", names.join(", "))),
                    ));
                };
                if t.n == 0 {
                    return Err(err(t.origin.as_ref(), "top_n must keep at least 1 row".to_string(), None));
                }
                has_top = true;
                Step::TopN { n: t.n, by, descending: t.descending, window: window_columns(&schema) }
            }
            Operation::Select(items) => {
                let mut fields = Vec::new();
                let mut out = Vec::new();
                for text in items {
                    let (e, col) = parse_named(text, name)?;
                    let c = expr::compile(&e, &schema).map_err(|x| expr_error(text, x, name))?;
                    let kind = c.kind().unwrap_or(Kind::Str);
                    if fields.iter().any(|f: &Field| f.name == col) {
                        return Err(err(
                            text.origin.as_ref(),
                            format!("column `{col}` is selected twice"),
                            Some("rename one with `AS other_name`"),
                        ));
                    }
                    fields.push(Field::new(col, kind));
                    out.push(c);
                }
                schema = RowSchema::new(fields);
                Step::Select(out)
            }
        };
        if agg.is_some() { post.push(step) } else { pre.push(step) }
    }
    match (&agg, q.output_mode) {
        (None, OutputMode::Update | OutputMode::Complete) => {
            return Err(err(
                None,
                format!(
                    "output mode `{}` needs an aggregate step; a query without one only appends rows",
                    q.output_mode
                ),
                Some("set output_mode = \"append\", or add an aggregate step"),
            ));
        }
        (Some(_), OutputMode::Append) if window.is_none() => {
            return Err(err(
                None,
                "output mode `append` emits a row once it is final, but a running aggregate without a window is never final"
                    .to_string(),
                Some("use output_mode = \"update\" or \"complete\", or aggregate over a window"),
            ));
        }
        (Some(_), OutputMode::Update) if has_top => {
            return Err(err(
                None,
                "top_n needs the whole result to rank, which output mode `update` does not have".to_string(),
                Some("use output_mode = \"complete\" (or \"append\" with a window)"),
            ));
        }
        _ => {}
    }
    // Sinks that name result columns.
    for sink in &q.sinks {
        let mut cols: Vec<(&str, &str)> = Vec::new();
        for (opt, v) in &sink.options {
            match (opt.as_str(), v) {
                ("partition_by", OptionValue::List(l)) => cols.extend(l.iter().map(|c| (opt.as_str(), c.as_str()))),
                ("key", OptionValue::Str(c)) => cols.push((opt.as_str(), c.as_str())),
                _ => {}
            }
        }
        for (opt, col) in cols {
            if schema.index_of(col).is_none() {
                let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
                let mut origin = sink.origin.clone();
                if let Some(o) = &mut origin {
                    o.field = format!("{}.{opt}", o.field);
                }
                return Err(BuildError {
                    origin,
                    query: Some(name.to_string()),
                    message: format!(
                        "the {} sink's `{opt}` names `{col}`, which is not a result column",
                        sink.kind.name()
                    ),
                    fix: Some(format!("the result columns are: {}", names.join(", "))),
                });
            }
        }
    }
    let pre_filters_only = pre.iter().all(|s| matches!(s, Step::Filter(_)));
    Ok(Query {
        name: name.to_string(),
        pre,
        pre_filters_only,
        agg,
        post,
        schema,
        ranks_all: has_top,
        trigger: q.trigger,
        next_fire: i64::MIN,
        batch: 0,
        pending: Vec::new(),
        buf: Vec::new(),
    })
}

fn validate_window(w: &WindowPlan) -> Result<(), String> {
    match *w {
        WindowPlan::Tumbling { size_ms, .. } if size_ms <= 0 => Err("the window size must be positive".into()),
        WindowPlan::Sliding { size_ms, slide_ms, .. } if size_ms <= 0 || slide_ms <= 0 => {
            Err("the window size and slide must be positive".into())
        }
        WindowPlan::Sliding { size_ms, slide_ms, .. } if slide_ms > size_ms => {
            Err("the slide must not exceed the window size (Spark has the same rule)".into())
        }
        WindowPlan::Session { gap_ms } if gap_ms <= 0 => Err("the session gap must be positive".into()),
        _ => Ok(()),
    }
}

/// Counts what became of a row of query `qi` with event time `t`; the dead-letter reason when
/// it was late.
#[inline(always)]
fn counted(
    metrics: &mut Metrics,
    watermark: Option<i64>,
    qi: usize,
    t: i64,
    admission: Admission,
) -> Option<DeadLetterReason> {
    match admission {
        Admission::Accepted { partially_late } => {
            metrics.partially_late[qi] += u64::from(partially_late);
            None
        }
        Admission::Late { window_end } => {
            metrics.late[qi] += 1;
            Some(DeadLetterReason::Late { event_time: t, watermark: watermark.unwrap_or(i64::MIN), window_end })
        }
    }
}

fn run_steps(steps: &[Step], rows: &mut Vec<Row>) {
    for step in steps {
        if rows.is_empty() {
            return;
        }
        match step {
            Step::Filter(c) => rows.retain(|r| c.test(&r.values)),
            Step::Compute(items) => {
                for r in rows.iter_mut() {
                    for (replace, c) in items {
                        let v = c.eval(&r.values);
                        match replace {
                            Some(i) if *i < r.values.len() => r.values[*i] = v,
                            _ => r.values.push(v),
                        }
                    }
                }
            }
            Step::Join(j) => {
                let input = std::mem::take(rows);
                for r in input {
                    j.apply(r, rows);
                }
            }
            Step::Select(items) => {
                for r in rows.iter_mut() {
                    *r = Row::new(items.iter().map(|c| c.eval(&r.values)).collect());
                }
            }
            Step::TopN { n, by, descending, window } => top_n(rows, *n, *by, *descending, *window),
        }
    }
}

/// Keeps the top `n` rows by column `by`, per window when the rows have window columns.
/// Nulls rank last; ties keep their incoming (key) order.
fn top_n(rows: &mut Vec<Row>, n: usize, by: usize, descending: bool, window: Option<(usize, usize)>) {
    let part = |a: &Row, b: &Row| match window {
        Some((s, e)) => value_cmp(a.get(s), b.get(s)).then_with(|| value_cmp(a.get(e), b.get(e))),
        None => Ordering::Equal,
    };
    let rank = |a: &Row, b: &Row| {
        let (x, y) = (a.get(by), b.get(by));
        match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if descending => value_cmp(y, x),
            _ => value_cmp(x, y),
        }
    };
    rows.sort_by(|a, b| part(a, b).then_with(|| rank(a, b)));
    let mut out = Vec::with_capacity(rows.len().min(n));
    let mut taken = 0;
    for r in rows.drain(..) {
        if out.last().is_some_and(|prev: &Row| part(prev, &r) != Ordering::Equal) {
            taken = 0;
        }
        if taken < n {
            out.push(r);
            taken += 1;
        }
    }
    *rows = out;
}

impl Query {
    fn on_watermark(&mut self, wm: i64) {
        if let Some(op) = &mut self.agg {
            let mut rows = Vec::new();
            op.handle_watermark(wm, &mut rows);
            if !rows.is_empty() {
                run_steps(&self.post, &mut rows);
                self.pending.extend(rows);
            }
        }
    }

    fn fire(&mut self) {
        if let Some(op) = &mut self.agg {
            let mut rows = Vec::new();
            op.handle_trigger(&mut rows);
            if !rows.is_empty() {
                run_steps(&self.post, &mut rows);
                self.pending.extend(rows);
            }
        }
    }
}

impl Pipeline {
    /// Builds the engine for a plan. `input` is the decoded row schema (for protobuf sources,
    /// the one the descriptor gives); `tables` are the static tables the plan joins with.
    pub fn new(plan: &JobPlan, input: RowSchema, tables: &Tables) -> Result<Pipeline, BuildError> {
        let event_time = match &plan.source.event_time {
            EventTime::KafkaTimestamp => None,
            EventTime::Expr(text) => {
                let c = compile_expr(text, &input, "source.event_time").map_err(|mut e| {
                    e.query = None;
                    e
                })?;
                if c.kind() != Some(Kind::Timestamp) {
                    let fix = match c.kind() {
                        Some(Kind::Int) => {
                            "for epoch milliseconds use timestamp_millis(x); for seconds timestamp_seconds(x)"
                        }
                        Some(Kind::Float) => "for epoch seconds use timestamp_seconds(x)",
                        Some(Kind::Str) => "parse text with to_timestamp(x)",
                        _ => "use a timestamp column, or event_time = \"kafka_timestamp\"",
                    };
                    let k = c.kind().map_or("NULL".to_string(), |k| k.to_string());
                    return Err(BuildError {
                        origin: text.origin.clone(),
                        query: None,
                        message: format!("the event time `{}` is a {k}, not a timestamp", text.text),
                        fix: Some(fix.to_string()),
                    });
                }
                Some(c)
            }
        };
        let mut queries = Vec::new();
        for q in &plan.queries {
            if queries.iter().any(|x: &Query| x.name == q.name) {
                return Err(BuildError {
                    origin: q.origin.clone(),
                    query: Some(q.name.clone()),
                    message: format!("two queries are named `{}`", q.name),
                    fix: Some("give each query its own name".to_string()),
                });
            }
            let declared: Vec<String> = plan.tables.iter().map(|t| t.name.clone()).collect();
            queries.push(build_query(q, &input, tables, &declared)?);
        }
        let n = queries.len();
        Ok(Pipeline {
            mode: Mode::Single,
            job: plan.name.clone(),
            fingerprint: fingerprint(plan),
            input,
            event_time,
            tracker: WatermarkTracker::new(plan.source.watermark_delay_ms, plan.source.idle_timeout_ms),
            queries,
            offsets: BTreeMap::new(),
            output: VecDeque::new(),
            metrics: Metrics {
                late: vec![0; n],
                partially_late: vec![0; n],
                rows_out: vec![0; n],
                ..Metrics::default()
            },
        })
    }

    /// The first stage of a scaled-out job (see [`crate::shuffle`]): queries without an
    /// aggregate run here as in [`Pipeline::new`]; the rows that reach a query's aggregate step
    /// come out as [`Output::Shuffle`] records for `partitions` repartition partitions.
    pub fn new_shuffle(
        plan: &JobPlan,
        input: RowSchema,
        tables: &Tables,
        partitions: u32,
    ) -> Result<Pipeline, BuildError> {
        let mut p = Pipeline::new(plan, input, tables)?;
        p.mode = Mode::Shuffle { partitions: partitions.max(1) };
        Ok(p)
    }

    /// The second stage of a scaled-out job, for one repartition partition: takes
    /// [`crate::ShuffledIn`] records with [`Pipeline::process_shuffled`] and runs the queries'
    /// aggregates and the steps after them. `source_partitions` are all partitions of the
    /// source topic: each holds the watermark back until it has delivered (or gone idle).
    pub fn new_merge(
        plan: &JobPlan,
        input: RowSchema,
        tables: &Tables,
        source_partitions: &[i32],
        now: i64,
    ) -> Result<Pipeline, BuildError> {
        let mut p = Pipeline::new(plan, input, tables)?;
        p.mode = Mode::Merge;
        p.fingerprint ^= 0x6d65_7267_6500_0000;
        for q in &mut p.queries {
            q.pre.clear();
            q.pre_filters_only = true;
        }
        p.tracker.assign(source_partitions, now);
        Ok(p)
    }

    /// The input schema.
    pub fn input_schema(&self) -> &RowSchema {
        &self.input
    }

    /// Number of queries.
    pub fn query_count(&self) -> usize {
        self.queries.len()
    }

    /// A query's name.
    pub fn query_name(&self, query: usize) -> Option<&str> {
        self.queries.get(query).map(|q| q.name.as_str())
    }

    /// A query's result schema.
    pub fn result_schema(&self, query: usize) -> Option<&RowSchema> {
        self.queries.get(query).map(|q| &q.schema)
    }

    /// The source watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.tracker.watermark()
    }

    /// Source partitions that have been silent for `silent_for` ms while behind another
    /// partition, and so hold the watermark back.
    pub fn watermark_held_back_by(&self, now: i64, silent_for: i64) -> Vec<i32> {
        self.tracker.held_back_by(now, silent_for)
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Per partition, the next offset to read (what a checkpoint would record).
    pub fn offsets(&self) -> &BTreeMap<i32, i64> {
        &self.offsets
    }

    /// Entries of keyed state held, over all queries (groups × panes, sessions).
    pub fn state_entries(&self) -> usize {
        self.queries.iter().filter_map(|q| q.agg.as_ref()).map(AggregateOp::state_entries).sum()
    }

    /// Whether a query keeps keyed state (an aggregate step): such state is keyed by group key,
    /// not by source partition, so it cannot follow a partition to another instance.
    pub fn is_stateful(&self) -> bool {
        self.queries.iter().any(|q| q.agg.is_some())
    }

    /// Forgets the offsets of partitions the group gave to another instance, so that later
    /// checkpoints (and the offsets they commit to the group) do not carry this instance's stale
    /// positions over the new owner's progress.
    pub fn release_partitions(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.offsets.remove(p);
        }
    }

    /// Whether query `query` has an aggregate step (in a scaled-out job, it runs in the merge
    /// stage).
    pub fn query_has_aggregate(&self, query: usize) -> bool {
        self.queries.get(query).is_some_and(|q| q.agg.is_some())
    }

    /// Which columns of the input the job reads: `read[i]` for input column `i`. A column no
    /// filter, computed column, join, aggregate or event time reads need not be decoded (its
    /// cells may be left null). Rows that reach a sink whole (a query without an aggregate or
    /// a select step) and the shuffle stage's rows, which leave this instance, read them all.
    pub fn columns_read(&self) -> Vec<bool> {
        let n = self.input.len();
        if matches!(self.mode, Mode::Shuffle { .. }) {
            return vec![true; n];
        }
        let mut read = vec![false; n];
        let mut mark = |i: usize| {
            if let Some(r) = read.get_mut(i) {
                *r = true;
            }
        };
        if let Some(c) = &self.event_time {
            c.columns(&mut mark);
        }
        for q in &self.queries {
            // Until a select step, the first columns are the input's (computed columns and
            // joined ones are appended; one computed over an input column is counted as read).
            let mut whole = true;
            for step in &q.pre {
                match step {
                    Step::Filter(c) => c.columns(&mut mark),
                    Step::Compute(items) => items.iter().for_each(|(_, c)| c.columns(&mut mark)),
                    Step::Join(op) => op.stream_columns().iter().for_each(|&i| mark(i)),
                    Step::Select(items) => {
                        items.iter().for_each(|c| c.columns(&mut mark));
                        whole = false;
                        break;
                    }
                    Step::TopN { .. } => {}
                }
            }
            match &q.agg {
                Some(op) if whole => op.agg.columns(&mut mark),
                None if whole => return vec![true; n],
                _ => {}
            }
        }
        read
    }

    /// From now on, sends aggregate inputs to `partitions` repartition partitions (the shuffle
    /// stage; see [`Pipeline::new_shuffle`]), e.g. after a restore.
    pub fn shuffle_to(&mut self, partitions: u32) {
        self.mode = Mode::Shuffle { partitions: partitions.max(1) };
    }

    /// Per source partition read so far, the largest event time: the shuffle stage sends
    /// these as [`crate::ShuffleRecord::Mark`]s at each checkpoint.
    pub fn source_progress(&self) -> Vec<(i32, i64)> {
        self.tracker.maxima()
    }

    /// The source partitions known to the watermark (assigned, or delivered records).
    pub fn source_partitions(&self) -> Vec<i32> {
        self.tracker.partitions()
    }

    /// Whether every source partition's input has ended (merge stage: each sent the end mark).
    pub fn input_ended(&self) -> bool {
        self.tracker.all_ended()
    }

    /// Declares the source partitions this instance reads (see [`WatermarkTracker::assign`]).
    pub fn assign_partitions(&mut self, partitions: &[i32], now: i64) {
        self.tracker.assign(partitions, now);
    }

    /// Processes a batch of decoded records received at processing time `now`.
    pub fn process_batch(&mut self, records: &[SourceRecord], now: i64) {
        // Records come in runs per partition: track the next offset of the current run and
        // write it back when the partition changes.
        let mut run: Option<(i32, i64)> = None;
        for rec in records {
            self.metrics.records_in += 1;
            let next = rec.offset.saturating_add(1);
            match &mut run {
                Some((p, n)) if *p == rec.partition => *n = (*n).max(next),
                _ => {
                    if let Some((p, n)) = run {
                        self.note_offset(p, n);
                    }
                    run = Some((rec.partition, next));
                }
            }
            let t = match &self.event_time {
                None => rec.timestamp,
                Some(c) => match c.eval_timestamp(&rec.row.values) {
                    Some(t) => t,
                    None => {
                        self.metrics.missing_event_time += 1;
                        self.dead_letter(None, rec, DeadLetterReason::MissingEventTime);
                        continue;
                    }
                },
            };
            for qi in 0..self.queries.len() {
                if let Some(reason) = self.process_in_query(qi, rec, t) {
                    let name = self.queries[qi].name.clone();
                    self.dead_letter(Some(name), rec, reason);
                }
            }
            if let Some(wm) = self.tracker.observe(rec.partition, t, now) {
                for q in &mut self.queries {
                    q.on_watermark(wm);
                }
            }
        }
        if let Some((p, n)) = run {
            self.note_offset(p, n);
        }
        for q in &mut self.queries {
            if q.trigger == Trigger::EachBatch {
                q.fire();
            }
        }
        self.flush(now);
    }

    fn note_offset(&mut self, partition: i32, next: i64) {
        let e = self.offsets.entry(partition).or_insert(next);
        *e = (*e).max(next);
    }

    /// Runs one record through one query; returns a dead-letter reason when it is late.
    #[inline(always)]
    fn process_in_query(&mut self, qi: usize, rec: &SourceRecord, t: i64) -> Option<DeadLetterReason> {
        let q = &mut self.queries[qi];
        if q.pre_filters_only {
            // Filters are tested on the record in place; then, in the common shape (an aggregate
            // in a single instance), it goes straight to the operator, without the row buffer
            // of the general path.
            let pass = q.pre.iter().all(|s| match s {
                Step::Filter(c) => c.test(&rec.row.values),
                _ => true,
            });
            if !pass {
                return None;
            }
            if let (Some(op), Mode::Single | Mode::Merge) = (&mut q.agg, self.mode) {
                let admission = op.process_row(&rec.row.values, t);
                return counted(&mut self.metrics, self.tracker.watermark(), qi, t, admission);
            }
        }
        self.process_in_query_general(qi, rec, t)
    }

    /// [`Pipeline::process_in_query`] for the other shapes: a query's steps before its aggregate
    /// may turn one record into several rows, and a scaled-out first stage ships rows on. A
    /// record of a query with only filters before its aggregate comes here having passed them.
    #[inline(never)]
    fn process_in_query_general(&mut self, qi: usize, rec: &SourceRecord, t: i64) -> Option<DeadLetterReason> {
        let q = &mut self.queries[qi];
        let mut buf = std::mem::take(&mut q.buf);
        buf.clear();
        buf.push(rec.row.clone());
        if !q.pre_filters_only {
            run_steps(&q.pre, &mut buf);
        }
        let mut late = None;
        let shuffle_to = match self.mode {
            Mode::Shuffle { partitions } => Some(partitions as i32),
            Mode::Single | Mode::Merge => None,
        };
        match (&mut q.agg, shuffle_to) {
            (None, _) => q.pending.append(&mut buf),
            (Some(op), Some(partitions)) => {
                let mut send = |row: Row| {
                    let partition = if q.ranks_all { 0 } else { i32::from(op.vnode_of_row(&row.values)) % partitions };
                    self.output.push_back(Output::Shuffle {
                        partition,
                        record: ShuffleRecord::Row {
                            query: qi as u16,
                            source_partition: rec.partition,
                            source_offset: rec.offset,
                            event_time: t,
                            row,
                        },
                    });
                };
                buf.drain(..).for_each(&mut send);
            }
            (Some(op), None) => {
                for r in &buf {
                    let admission = op.process_row(&r.values, t);
                    late = counted(&mut self.metrics, self.tracker.watermark(), qi, t, admission);
                    // Rows of one record share its event time: late for one, late for all.
                    if late.is_some() {
                        break;
                    }
                }
            }
        }
        q.buf = buf;
        late
    }

    fn dead_letter(&mut self, query: Option<String>, rec: &SourceRecord, reason: DeadLetterReason) {
        self.metrics.dead_letters += 1;
        self.output.push_back(Output::DeadLetter(DeadLetter {
            query,
            partition: rec.partition,
            offset: rec.offset,
            timestamp: rec.timestamp,
            reason,
            row: Some(rec.row.clone()),
            raw: None,
        }));
    }

    /// Merge stage: processes records of the repartition topic received at processing time
    /// `now` (rows to their query's aggregate, marks to the watermark).
    pub fn process_shuffled(&mut self, records: Vec<ShuffledIn>, now: i64) {
        for r in records {
            self.note_offset(r.partition, r.offset.saturating_add(1));
            match r.record {
                ShuffleRecord::Mark { source_partition, max_event_time } => {
                    if let Some(wm) = self.tracker.observe(source_partition, max_event_time, now) {
                        for q in &mut self.queries {
                            q.on_watermark(wm);
                        }
                    }
                }
                ShuffleRecord::Row { query, source_partition, source_offset, event_time, row } => {
                    self.metrics.records_in += 1;
                    let qi = usize::from(query);
                    let rec = SourceRecord {
                        partition: source_partition,
                        offset: source_offset,
                        timestamp: r.timestamp,
                        row,
                    };
                    if self.queries.get(qi).is_none_or(|q| q.agg.is_none()) {
                        let reason = format!(
                            "a repartition record for query #{qi}, which has no aggregate step in this job file \
                             (the instances of a job must run the same job file)"
                        );
                        self.metrics.decode_errors += 1;
                        self.dead_letter(None, &rec, DeadLetterReason::Decode(reason));
                        continue;
                    }
                    if let Some(reason) = self.process_in_query(qi, &rec, event_time) {
                        let name = self.queries[qi].name.clone();
                        self.dead_letter(Some(name), &rec, reason);
                    }
                    if let Some(wm) = self.tracker.observe(source_partition, event_time, now) {
                        for q in &mut self.queries {
                            q.on_watermark(wm);
                        }
                    }
                }
            }
        }
        for q in &mut self.queries {
            if q.trigger == Trigger::EachBatch {
                q.fire();
            }
        }
        self.flush(now);
    }

    /// Records a value that could not be decoded: it goes to the dead-letter output, and its
    /// offset counts as consumed.
    pub fn handle_decode_error(
        &mut self,
        partition: i32,
        offset: i64,
        timestamp: i64,
        reason: impl Into<String>,
        raw: Option<std::sync::Arc<[u8]>>,
    ) {
        self.note_offset(partition, offset.saturating_add(1));
        self.metrics.decode_errors += 1;
        self.metrics.dead_letters += 1;
        self.output.push_back(Output::DeadLetter(DeadLetter {
            query: None,
            partition,
            offset,
            timestamp,
            reason: DeadLetterReason::Decode(reason.into()),
            row: None,
            raw,
        }));
    }

    /// Processing time passed: idle partitions may release the watermark, and processing-time
    /// triggers that are due fire.
    pub fn handle_tick(&mut self, now: i64) {
        if let Some(wm) = self.tracker.tick(now) {
            for q in &mut self.queries {
                q.on_watermark(wm);
            }
        }
        for q in &mut self.queries {
            if let Trigger::ProcessingTime { interval_ms } = q.trigger
                && now >= q.next_fire
            {
                q.fire();
                let interval = interval_ms.max(1);
                q.next_fire = now.div_euclid(interval).saturating_add(1).saturating_mul(interval);
            }
        }
        self.flush(now);
    }

    /// Fires every query with a processing-time trigger now, whether or not it is due, without
    /// moving the watermark: the last micro-batch of a run that stops when it has caught up
    /// (Spark's `Trigger.AvailableNow`). State stays; windows stay open.
    pub fn fire_triggers(&mut self, now: i64) {
        for q in &mut self.queries {
            if matches!(q.trigger, Trigger::ProcessingTime { .. }) {
                q.fire();
            }
        }
        self.flush(now);
    }

    /// A watermark from outside the source (e.g. the minimum over the instances of a scaled-out
    /// job): moves the watermark to at least `watermark`, closing what it passes.
    pub fn handle_watermark(&mut self, watermark: i64, now: i64) {
        if let Some(wm) = self.tracker.force(watermark) {
            for q in &mut self.queries {
                q.on_watermark(wm);
            }
        }
        self.flush(now);
    }

    /// When [`Pipeline::handle_tick`] should next be called: the earliest processing-time
    /// trigger or idle-partition deadline.
    pub fn poll_timeout(&self) -> Option<i64> {
        let triggers = self.queries.iter().filter_map(|q| match q.trigger {
            Trigger::ProcessingTime { .. } => Some(q.next_fire),
            Trigger::EachBatch => None,
        });
        triggers.chain(self.tracker.next_idle_deadline()).min()
    }

    /// End of a bounded input: the watermark moves past every window, all windows and sessions
    /// close, and every update / complete query fires once more.
    pub fn finish(&mut self, now: i64) {
        if let Some(wm) = self.tracker.force(i64::MAX) {
            for q in &mut self.queries {
                q.on_watermark(wm);
            }
        }
        for q in &mut self.queries {
            q.fire();
        }
        self.flush(now);
    }

    fn flush(&mut self, now: i64) {
        let watermark = self.tracker.watermark();
        for (qi, q) in self.queries.iter_mut().enumerate() {
            if q.pending.is_empty() {
                continue;
            }
            let rows = std::mem::take(&mut q.pending);
            self.metrics.rows_out[qi] += rows.len() as u64;
            self.output.push_back(Output::Results(ResultBatch {
                query: qi,
                batch: q.batch,
                watermark,
                processing_time: now,
                rows,
            }));
            q.batch += 1;
        }
    }

    /// The next output, in the order produced.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.output.pop_front()
    }

    /// Snapshots the pipeline (the checkpoint hook). Outputs must have been polled first: a checkpoint marks the
    /// point after which output is not yet committed.
    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        if !self.output.is_empty() {
            return Err(CheckpointError::OutputPending { pending: self.output.len() });
        }
        let shared = Shared {
            tracker: self.tracker.clone(),
            queries: self
                .queries
                .iter()
                .map(|q| QueryShared {
                    op: q.agg.as_ref().map(AggregateOp::shared),
                    next_fire: q.next_fire,
                    batch: q.batch,
                })
                .collect(),
            metrics: self.metrics.clone(),
        };
        Ok(Checkpoint {
            job: self.job.clone(),
            fingerprint: self.fingerprint,
            offsets: self.offsets.clone(),
            shared: checkpoint::encode(&shared),
            vnodes: self.snapshot_vnodes(&(0..VNODES).collect::<Vec<_>>()),
        })
    }

    /// The keyed state of some virtual nodes (empty ones are left out), e.g. to move them to
    /// another instance.
    pub fn snapshot_vnodes(&self, vnodes: &[u16]) -> Vec<VnodeSnapshot> {
        let mut out = Vec::new();
        for &v in vnodes {
            let snaps: Vec<Option<VnodeSnap>> =
                self.queries.iter().map(|q| q.agg.as_ref().map(|op| op.snapshot_vnode(v))).collect();
            let empty = snaps.iter().all(|s| match s {
                None => true,
                Some(VnodeSnap::Global(g)) => g.is_empty(),
                Some(VnodeSnap::Panes(p)) => p.is_empty(),
                Some(VnodeSnap::Sessions(s)) => s.is_empty(),
            });
            if !empty {
                out.push(VnodeSnapshot { vnode: v, bytes: checkpoint::encode(&snaps) });
            }
        }
        out
    }

    /// Drops the keyed state of some virtual nodes (after handing them to another instance).
    pub fn drop_vnodes(&mut self, vnodes: &[u16]) {
        for q in &mut self.queries {
            if let Some(op) = &mut q.agg {
                for &v in vnodes {
                    op.clear_vnode(v);
                }
            }
        }
    }

    /// Replaces the keyed state of the given virtual nodes by their snapshots.
    pub fn restore_vnodes(&mut self, snapshots: &[VnodeSnapshot]) -> Result<(), CheckpointError> {
        for s in snapshots {
            let snaps: Vec<Option<VnodeSnap>> = checkpoint::decode(&s.bytes, &format!("vnode {}", s.vnode))?;
            if snaps.len() != self.queries.len() {
                return Err(CheckpointError::Corrupt(format!(
                    "vnode {} holds state of {} queries, the job has {}",
                    s.vnode,
                    snaps.len(),
                    self.queries.len()
                )));
            }
            for (q, snap) in self.queries.iter_mut().zip(snaps) {
                if let (Some(op), Some(snap)) = (&mut q.agg, snap) {
                    op.restore_vnode(s.vnode, snap)
                        .map_err(|e| CheckpointError::Corrupt(format!("vnode {}, query `{}`: {e}", s.vnode, q.name)))?;
                }
            }
        }
        Ok(())
    }

    /// Builds a pipeline and restores a checkpoint into it; replaying the source from
    /// `checkpoint.offsets` then continues exactly where the checkpointed run was.
    pub fn restore(
        plan: &JobPlan,
        input: RowSchema,
        tables: &Tables,
        checkpoint: &Checkpoint,
    ) -> Result<Pipeline, RestoreError> {
        let p = Pipeline::new(plan, input, tables)?;
        p.restored(plan, checkpoint)
    }

    /// [`Pipeline::new_merge`] restored from a checkpoint of the same repartition partition.
    pub fn restore_merge(
        plan: &JobPlan,
        input: RowSchema,
        tables: &Tables,
        source_partitions: &[i32],
        now: i64,
        checkpoint: &Checkpoint,
    ) -> Result<Pipeline, RestoreError> {
        let mut p = Pipeline::new_merge(plan, input, tables, source_partitions, now)?.restored(plan, checkpoint)?;
        // Partitions added to the source since the checkpoint hold the watermark back too.
        let mut known: Vec<i32> = p.tracker.maxima().into_iter().map(|(id, _)| id).collect();
        known.extend_from_slice(source_partitions);
        known.sort_unstable();
        known.dedup();
        p.tracker.assign(&known, now);
        Ok(p)
    }

    fn restored(self, plan: &JobPlan, checkpoint: &Checkpoint) -> Result<Pipeline, RestoreError> {
        let mut p = self;
        if checkpoint.job != p.job {
            return Err(CheckpointError::WrongJob { found: checkpoint.job.clone(), expected: p.job.clone() }.into());
        }
        if checkpoint.fingerprint != p.fingerprint {
            return Err(CheckpointError::PlanChanged { job: p.job.clone() }.into());
        }
        let shared: Shared = checkpoint::decode(&checkpoint.shared, "shared state")?;
        if shared.queries.len() != p.queries.len() || shared.metrics.late.len() != p.queries.len() {
            return Err(CheckpointError::Corrupt("query count differs from the plan".to_string()).into());
        }
        p.tracker = shared.tracker;
        // The plan's current delay and idle timeout apply, not the checkpointed ones.
        p.tracker.configure(plan.source.watermark_delay_ms, plan.source.idle_timeout_ms);
        p.metrics = shared.metrics;
        for (q, s) in p.queries.iter_mut().zip(&shared.queries) {
            q.next_fire = s.next_fire;
            q.batch = s.batch;
            if let (Some(op), Some(os)) = (&mut q.agg, &s.op) {
                op.restore_shared(os);
            }
        }
        p.offsets = checkpoint.offsets.clone();
        p.restore_vnodes(&checkpoint.vnodes)?;
        Ok(p)
    }
}

/// Why a checkpoint could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The plan does not build.
    #[error("{0}")]
    Build(#[from] BuildError),
    /// The checkpoint does not fit.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl RestoreError {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            RestoreError::Checkpoint(e) => e.fix(),
            RestoreError::Build(_) => {
                "run the job file the checkpoint was taken with, or start with a new [checkpoint] location"
            }
        }
    }
}
