//! sluice's stream engine: the job plan, expressions, event time and watermarks, windows,
//! aggregates, stream–static joins, keyed state with checkpoints, and the pipeline that chains
//! them. Deterministic and I/O-free: decoded records, ticks and checkpoints in; result rows
//! and dead letters out; time is always a parameter.
//!
//! # Layout
//! - [`plan`]: the job as plain data ([`JobPlan`]): source, tables, queries, sinks, trigger,
//!   checkpoint settings.
//! - [`jobfile`]: the TOML job-file front end; errors name the file, line and field.
//! - [`expr`]: the expression language: parse, compile against a schema, evaluate.
//! - [`time`]: milliseconds, interval strings, Spark's timestamp text, calendar truncation.
//! - [`key`]: group keys, their stable hash and the virtual node ([`key::VNODES`]) owning them.
//! - [`watermark`]: per-partition watermarks with idle partitions.
//! - [`window`]: tumbling / sliding windows as panes, session windows.
//! - `agg`: aggregate functions and their mergeable partial states (internal).
//! - `aggregate`: the aggregate operator: keyed state per vnode, window closing, triggers,
//!   expiry, per-vnode snapshots (internal).
//! - [`join`]: joins with static tables.
//! - [`pipeline`]: [`Pipeline`], which chains a job's operators and is driven by records, ticks
//!   and checkpoints.
//! - [`output`]: result batches, dead letters, counters.
//! - [`checkpoint`]: the versioned checkpoint format.
//! - [`show`]: Spark `show()` tables for the console sink.
//!
//! ```
//! use sluice_formats::{Field, Kind, Row, RowSchema, Value};
//! use sluice_stream::{Output, Pipeline, SourceRecord, jobfile};
//!
//! let plan = jobfile::parse(r#"
//!     name = "counts"
//!     [source]
//!     topic = "user-events"
//!     format = { kind = "json", schema = "userId string, action string, value double" }
//!     [[query]]
//!     name = "per_action"
//!     output_mode = "complete"
//!     [[query.step]]
//!     group_by = ["action"]
//!     aggregates = ["count(*) AS count"]
//!     [[query.sink]]
//!     kind = "console"
//! "#, "counts.toml").unwrap();
//! let schema = plan.source.format.declared_schema().unwrap().clone();
//! let mut p = Pipeline::new(&plan, schema, &Default::default()).unwrap();
//! let rec = |o, a: &str| SourceRecord {
//!     partition: 0, offset: o, timestamp: 0,
//!     row: Row::new(vec![Value::from("user1"), Value::from(a), Value::Float(1.0)]),
//! };
//! p.process_batch(&[rec(0, "view"), rec(1, "click"), rec(2, "view")], 0);
//! let Some(Output::Results(batch)) = p.poll_output() else { panic!() };
//! assert_eq!(batch.rows, vec![
//!     Row::new(vec![Value::from("click"), Value::Int(1)]),
//!     Row::new(vec![Value::from("view"), Value::Int(2)]),
//! ]);
//! ```

#![warn(missing_docs)]

mod agg;
mod aggregate;
pub mod checkpoint;
pub mod expr;
pub mod jobfile;
pub mod join;
pub mod key;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod show;
pub mod shuffle;
pub mod time;
pub mod watermark;
pub mod window;

pub use checkpoint::{Checkpoint, CheckpointError, VnodeSnapshot};
pub use join::StaticTable;
pub use output::{DeadLetter, DeadLetterReason, Metrics, Output, ResultBatch};
pub use pipeline::{BuildError, Pipeline, RestoreError, SourceRecord, Tables};
pub use plan::JobPlan;
pub use shuffle::{ShuffleRecord, ShuffledIn};
