//! The seed job files' sinks build against the queries' real result schemas: the shipped
//! proto/results.proto fits jobs/user-events.toml, the Parquet partition columns of
//! jobs/campaign-views.toml exist, every option is understood.

use sluice_connect::sink::storage::S3Options;
use sluice_connect::sink::{SinkContext, build_dead_letter_sink, build_sink};
use sluice_formats::{Field, Kind, RowSchema};
use sluice_stream::plan::{OptionValue, SinkKind};
use sluice_stream::{Pipeline, StaticTable, Tables, jobfile};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds every console / file sink of a job (paths moved into `out`; S3 paths too).
fn build_all(job: &str, input: RowSchema, tables: Tables) -> Vec<String> {
    let path = repo().join("jobs").join(job);
    let text = std::fs::read_to_string(&path).unwrap();
    let plan = jobfile::parse(&text, &format!("jobs/{job}")).unwrap();
    let pipeline = Pipeline::new(&plan, input.clone(), &tables).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut built = Vec::new();
    for (qi, q) in plan.queries.iter().enumerate() {
        for sink in &q.sinks {
            if sink.kind == SinkKind::Kafka {
                continue;
            }
            let mut sink = sink.clone();
            if let Some(OptionValue::Str(p)) = sink.options.get("path") {
                let local = p.trim_start_matches("s3://").to_string();
                sink.options.insert("path".into(), OptionValue::Str(out.path().join(local).display().to_string()));
            }
            let mut ctx = SinkContext::new(&plan.name, &q.name, pipeline.result_schema(qi).unwrap().clone());
            ctx.base_dir = Some(repo());
            ctx.s3 = S3Options::default();
            let s = build_sink(&sink, &ctx).unwrap_or_else(|e| panic!("{job}: {e}"));
            built.push(s.describe().to_string());
        }
    }
    if let Some(dl) = plan.dead_letter.as_ref().filter(|d| d.kind != SinkKind::Kafka) {
        let mut dl = dl.clone();
        dl.options.insert("path".into(), OptionValue::Str(out.path().join("dead").display().to_string()));
        let mut ctx = SinkContext::new(&plan.name, "", input);
        ctx.s3 = S3Options::default();
        let s = build_dead_letter_sink(&dl, &ctx, &plan.source.topic).unwrap_or_else(|e| panic!("{job}: {e}"));
        built.push(s.describe().to_string());
    }
    built
}

#[test]
fn user_events_protobuf_sinks_fit_results_proto() {
    let input = RowSchema::new(vec![
        Field::new("userId", Kind::Str),
        Field::new("action", Kind::Str),
        Field::new("value", Kind::Float),
    ]);
    let built = build_all("user-events.toml", input, Tables::new());
    assert_eq!(built.len(), 4, "{built:?}");
    assert!(built[1].starts_with("protobuf sink of query `events_per_action`"), "{built:?}");
    assert!(built[3].starts_with("protobuf sink of query `top_users`"), "{built:?}");
}

#[test]
fn campaign_views_parquet_and_dead_letter_sinks_build() {
    let input = RowSchema::new(vec![
        Field::new("view_id", Kind::Str),
        Field::new("start_timestamp", Kind::Timestamp),
        Field::new("end_timestamp", Kind::Timestamp),
        Field::new("banner_id", Kind::Int),
        Field::new("campaign_id", Kind::Int),
    ]);
    let campaigns = StaticTable {
        schema: RowSchema::new(vec![
            Field::new("campaign_id", Kind::Int),
            Field::new("network_id", Kind::Int),
            Field::new("campaign_name", Kind::Str),
        ]),
        rows: vec![],
    };
    let tables: Tables = [("campaigns".to_string(), campaigns)].into_iter().collect();
    let built = build_all("campaign-views.toml", input, tables);
    assert_eq!(built.len(), 2, "{built:?}");
    assert!(built[0].starts_with("parquet sink of query `views_per_minute`"), "{built:?}");
    assert!(built[1].starts_with("dead-letter sink of job `campaign-views`"), "{built:?}");
}

#[test]
fn the_json_seed_jobs_build() {
    let mut n = 0;
    for job in ["numbers.toml", "people.toml", "transactions.toml"] {
        let text = std::fs::read_to_string(repo().join("jobs").join(job)).unwrap();
        let plan = jobfile::parse(&text, job).unwrap();
        if let Some(input) = plan.source.format.declared_schema().cloned() {
            n += build_all(job, input, Tables::new()).len();
        }
    }
    assert!(n > 0, "no sink was built: the seed jobs changed format, update this test");
}
