//! Helpers shared by the integration tests.

use sluice_formats::{Row, RowSchema, Value};
use sluice_stream::plan::parse_ddl_schema;
use sluice_stream::{DeadLetter, JobPlan, Output, Pipeline, SourceRecord, jobfile};
use std::path::PathBuf;

/// A record on `partition` at `offset` with Kafka timestamp `ts`.
pub(crate) fn rec(partition: i32, offset: i64, ts: i64, values: Vec<Value>) -> SourceRecord {
    SourceRecord { partition, offset, timestamp: ts, row: Row::new(values) }
}

/// A schema from Spark DDL.
pub(crate) fn schema(ddl: &str) -> RowSchema {
    parse_ddl_schema(ddl).unwrap_or_else(|(at, e)| panic!("bad test schema at {at}: {e}"))
}

/// A plan from job-file text.
pub(crate) fn plan(text: &str) -> JobPlan {
    jobfile::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A pipeline for a plan whose source format declares its schema.
pub(crate) fn pipeline(plan: &JobPlan) -> Pipeline {
    let schema = plan.source.format.declared_schema().expect("test plans declare a schema").clone();
    Pipeline::new(plan, schema, &Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Every queued output.
pub(crate) fn drain(p: &mut Pipeline) -> Vec<Output> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

/// The rows of query `q`, concatenated over its batches.
pub(crate) fn rows_of(outputs: &[Output], q: usize) -> Vec<Row> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Results(b) if b.query == q => Some(b.rows.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The result batches of query `q`.
pub(crate) fn batches_of(outputs: &[Output], q: usize) -> Vec<Vec<Row>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Results(b) if b.query == q => Some(b.rows.clone()),
            _ => None,
        })
        .collect()
}

/// The dead letters.
pub(crate) fn dead_letters(outputs: &[Output]) -> Vec<DeadLetter> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::DeadLetter(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// Milliseconds of `h:m:s` on 2025-07-27 (UTC).
pub(crate) fn at(h: i64, m: i64, s: i64) -> i64 {
    sluice_stream::time::parse_timestamp("2025-07-27").unwrap() + ((h * 60 + m) * 60 + s) * 1000
}

/// A timestamp value.
pub(crate) fn ts(ms: i64) -> Value {
    Value::Timestamp(ms)
}

/// The repository root (where `jobs/` lives).
pub(crate) fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Compares `actual` with `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the file instead.
/// A missing golden file fails the test (it is never treated as a pass).
pub(crate) fn check_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read golden file {}: {e}; create it with UPDATE_GOLDEN=1 and check it by hand", path.display())
    });
    if expected != actual {
        panic!(
            "output differs from {}\n--- expected\n{expected}\n--- actual\n{actual}\n\
             (if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff)",
            path.display()
        );
    }
}
