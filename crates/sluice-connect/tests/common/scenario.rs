//! A fixed, deterministic workload for the sinks: three epochs of results of the seed jobs'
//! shapes (campaign views → Parquet, action counts and user totals → Protobuf, windows → JSON
//! lines, dead letters). Used by the integration tests and by `examples/sink_fixture.rs`, which
//! `interop/tests/test_sinks.py` runs and checks with pyarrow, boto3 and Python protobuf
//! (`interop/tests/test_sinks.py` computes the expected rows from the same formulas itself).

#![allow(dead_code, unreachable_pub)]

use sluice_connect::sink::console::ConsoleOut;
use sluice_connect::sink::storage::S3Options;
use sluice_connect::sink::{DeadLetterSink, Epoch, Recovery, Sink, SinkContext, SinkError};
use sluice_connect::sink::{build_dead_letter_sink, build_sink};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use sluice_stream::plan::{OptionValue, SinkKind, SinkPlan};
use sluice_stream::{DeadLetter, DeadLetterReason, ResultBatch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// 2026-11-23 10:05:00 UTC.
pub const BASE: i64 = 1_795_428_300_000;
/// Epochs of a full run.
pub const EPOCHS: u64 = 3;

pub fn views_schema() -> RowSchema {
    RowSchema::new(vec![
        Field::new("campaign_id", Kind::Int),
        Field::new("campaign_name", Kind::Str),
        Field::new("avg_duration", Kind::Float),
        Field::new("total_count", Kind::Int),
        Field::new("network_id", Kind::Int),
        Field::new("minute_timestamp", Kind::Timestamp),
    ])
}

const NAMES: [Option<&str>; 6] = [Some("alpha"), Some("beta"), Some("ça \"va\""), Some("d/e=f"), Some(""), None];

pub fn views_rows(e: u64) -> Vec<Row> {
    let e = e as i64;
    (0..6)
        .map(|i: i64| {
            Row::new(vec![
                Value::Int(100 * e + i),
                NAMES[i as usize].map(Value::from).unwrap_or(Value::Null),
                Value::Float(e as f64 + i as f64 * 0.25),
                Value::Int(10 * e + i),
                if i == 4 { Value::Null } else { Value::Int(i % 2 + 1) },
                Value::Timestamp(BASE + (e - 1) * 60_000 + (i % 2) * 60_000),
            ])
        })
        .collect()
}

pub fn actions_schema() -> RowSchema {
    RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("count", Kind::Int)])
}

pub const ACTIONS: [&str; 5] = ["click", "view", "purchase", "signup", "logout"];

pub fn actions_rows(e: u64) -> Vec<Row> {
    ACTIONS
        .iter()
        .enumerate()
        .map(|(j, a)| Row::new(vec![Value::from(*a), Value::Int(10 * e as i64 + j as i64)]))
        .collect()
}

pub fn users_schema() -> RowSchema {
    RowSchema::new(vec![Field::new("userId", Kind::Str), Field::new("totalValue", Kind::Float)])
}

pub fn users_rows(e: u64) -> Vec<Row> {
    (0..5)
        .map(|j| Row::new(vec![Value::from(format!("user{j}")), Value::Float(100.0 * e as f64 + j as f64 * 12.5)]))
        .collect()
}

pub fn tx_schema() -> RowSchema {
    RowSchema::new(vec![
        Field::new("window_start", Kind::Timestamp),
        Field::new("record_count", Kind::Int),
        Field::new("total", Kind::Float),
        Field::new("note", Kind::Str),
    ])
}

pub fn tx_rows(e: u64) -> Vec<Row> {
    let e = e as i64;
    vec![Row::new(vec![
        Value::Timestamp(BASE + e * 5_000),
        Value::Int(e),
        Value::Float(e as f64 * 1.5),
        if e == 2 { Value::Null } else { Value::from(format!("e{e}")) },
    ])]
}

pub fn input_schema() -> RowSchema {
    RowSchema::new(vec![
        Field::new("userId", Kind::Str),
        Field::new("action", Kind::Str),
        Field::new("value", Kind::Float),
    ])
}

pub fn dead_letters(e: u64) -> Vec<DeadLetter> {
    let e = e as i64;
    vec![
        DeadLetter {
            query: None,
            partition: 0,
            offset: e * 10,
            timestamp: BASE + e * 1000,
            reason: DeadLetterReason::Decode("truncated message".into()),
            row: None,
            raw: Some(vec![0xff, 0x00, e as u8].into()),
        },
        DeadLetter {
            query: Some("views_per_minute".into()),
            partition: 1,
            offset: e * 10 + 1,
            timestamp: BASE + e * 1000,
            reason: DeadLetterReason::Late { event_time: BASE - 120_000, watermark: BASE, window_end: BASE - 60_000 },
            row: Some(Row::new(vec![Value::from("user1"), Value::from("view"), Value::Float(2.5)])),
            raw: None,
        },
    ]
}

pub fn batch(query: usize, batch: u64, rows: Vec<Row>) -> Arc<ResultBatch> {
    Arc::new(ResultBatch { query, batch, watermark: None, processing_time: 0, rows })
}

pub fn plan(kind: SinkKind, opts: &[(&str, OptionValue)]) -> SinkPlan {
    SinkPlan {
        kind,
        options: opts.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        origin: None,
    }
}

pub fn s(v: &str) -> OptionValue {
    OptionValue::Str(v.to_string())
}

/// The repository's `proto/results.proto`.
pub fn results_proto() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/results.proto")
}

/// The five sinks of the workload, under `root` (a directory or `s3://bucket/prefix`).
pub struct Sinks {
    pub views: Box<dyn Sink>,
    pub actions: Box<dyn Sink>,
    pub users: Box<dyn Sink>,
    pub tx: Box<dyn Sink>,
    pub dead: Box<dyn DeadLetterSink>,
}

impl Sinks {
    /// `storage`: extra options for every path sink (endpoint, allow_http).
    pub fn open(root: &str, s3: S3Options, storage: &[(&str, OptionValue)]) -> Result<Sinks, SinkError> {
        let ctx = |query: &str, schema: RowSchema| SinkContext {
            job: "fixture".into(),
            query: query.into(),
            schema,
            base_dir: None,
            s3: s3.clone(),
            instance: None,
            console: ConsoleOut::Stdout,
        };
        let with = |extra: Vec<(&'static str, OptionValue)>| {
            let mut v: Vec<(&str, OptionValue)> = storage.to_vec();
            v.extend(extra);
            v
        };
        let proto = results_proto().display().to_string();
        Ok(Sinks {
            views: build_sink(
                &plan(
                    SinkKind::Parquet,
                    &with(vec![
                        ("path", s(&format!("{root}/views"))),
                        ("partition_by", OptionValue::List(vec!["network_id".into(), "minute_timestamp".into()])),
                    ]),
                ),
                &ctx("views_per_minute", views_schema()),
            )?,
            actions: build_sink(
                &plan(
                    SinkKind::Protobuf,
                    &with(vec![
                        ("path", s(&format!("{root}/actions"))),
                        ("proto", s(&proto)),
                        ("message", s("results.ActionCount")),
                    ]),
                ),
                &ctx("events_per_action", actions_schema()),
            )?,
            users: build_sink(
                &plan(
                    SinkKind::Protobuf,
                    &with(vec![
                        ("path", s(&format!("{root}/users"))),
                        ("proto", s(&proto)),
                        ("message", s("results.UserTotal")),
                    ]),
                ),
                &ctx("top_users", users_schema()),
            )?,
            tx: build_sink(
                &plan(SinkKind::Json, &with(vec![("path", s(&format!("{root}/transactions")))])),
                &ctx("windows", tx_schema()),
            )?,
            dead: build_dead_letter_sink(
                &plan(SinkKind::File, &with(vec![("path", s(&format!("{root}/dead_letters")))])),
                &ctx("", input_schema()),
                "user-events",
            )?,
        })
    }

    pub async fn recover(&mut self, last: Option<Epoch>) -> Result<Vec<Recovery>, SinkError> {
        Ok(vec![
            self.views.recover(last).await?,
            self.actions.recover(last).await?,
            self.users.recover(last).await?,
            self.tx.recover(last).await?,
            self.dead.recover(last).await?,
        ])
    }

    /// Writes epoch `e`'s output; `upto` of the five sinks only (a crash in the middle).
    pub async fn write(&mut self, e: Epoch, upto: usize) -> Result<(), SinkError> {
        let b = e - 1;
        if upto > 0 {
            // Two batches for the Parquet sink, so files hold several writes.
            let rows = views_rows(e);
            self.views.write(e, batch(0, b, rows[..3].to_vec())).await?;
            self.views.write(e, batch(0, b, rows[3..].to_vec())).await?;
        }
        if upto > 1 {
            self.actions.write(e, batch(1, b, actions_rows(e))).await?;
        }
        if upto > 2 {
            self.users.write(e, batch(2, b, users_rows(e))).await?;
        }
        if upto > 3 {
            self.tx.write(e, batch(3, b, tx_rows(e))).await?;
        }
        if upto > 4 {
            self.dead.write_dead_letters(e, dead_letters(e)).await?;
        }
        Ok(())
    }

    pub async fn pre_commit(&mut self, e: Epoch) -> Result<(), SinkError> {
        self.views.pre_commit(e).await?;
        self.actions.pre_commit(e).await?;
        self.users.pre_commit(e).await?;
        self.tx.pre_commit(e).await?;
        self.dead.pre_commit(e).await
    }

    pub async fn commit(&mut self, e: Epoch) -> Result<(), SinkError> {
        self.views.commit(e).await?;
        self.actions.commit(e).await?;
        self.users.commit(e).await?;
        self.tx.commit(e).await?;
        self.dead.commit(e).await
    }

    /// One whole epoch: write, pre-commit, commit.
    pub async fn epoch(&mut self, e: Epoch) -> Result<(), SinkError> {
        self.write(e, 5).await?;
        self.pre_commit(e).await?;
        self.commit(e).await
    }
}
