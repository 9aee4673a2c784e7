//! The JSON lines sink and sinks built from job files.

use crate::common::scenario::{self, batch};
use crate::common::{published, read};
use sluice_connect::sink::storage::S3Options;
use sluice_connect::sink::{SinkContext, build_dead_letter_sink, build_sink};
use sluice_stream::jobfile;

#[tokio::test]
async fn lines_with_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = SinkContext::new("job", "windows", scenario::tx_schema());
    ctx.base_dir = Some(dir.path().to_path_buf());
    ctx.s3 = S3Options::default();
    let p = scenario::plan(sluice_stream::plan::SinkKind::Json, &[("path", scenario::s("out"))]);
    let mut s = build_sink(&p, &ctx).unwrap();
    s.recover(None).await.unwrap();
    for e in 1..=3 {
        s.write(e, batch(0, e - 1, scenario::tx_rows(e))).await.unwrap();
    }
    s.pre_commit(3).await.unwrap();
    s.commit(3).await.unwrap();
    let out = dir.path().join("out");
    assert_eq!(published(&out), ["part-000001-00000.jsonl", "part-000002-00000.jsonl", "part-000003-00000.jsonl"]);
    assert_eq!(
        read(&out, "part-000002-00000.jsonl"),
        "{\"window_start\":\"2026-11-23T10:05:10.000Z\",\"record_count\":2,\"total\":3.0,\"note\":null}\n"
    );
}

const JOB: &str = r#"
name = "campaign-views"
[source]
topic = "view-logs"
format = { kind = "json", schema = "campaign_id bigint, network_id bigint, t timestamp" }
event_time = "t"

[[query]]
name = "views"
output_mode = "append"
[[query.step]]
select = ["campaign_id", "network_id", "t AS minute_timestamp"]

[[query.sink]]
kind = "parquet"
path = "out/views"
partition_by = ["network_id", "minute_timestamp"]
compression = "zstd"

[[query.sink]]
kind = "parquet"
path = "out/bad"
partition_by = ["network"]

[[query.sink]]
kind = "parquet"
path = "s3://bucket/views"
endpoint = "http://127.0.0.1:9"

[dead_letter]
kind = "file"
path = "out/dead"
"#;

#[test]
fn sinks_from_a_job_file_and_errors_that_point_into_it() {
    let plan = jobfile::parse(JOB, "jobs/cv.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schema = sluice_formats::RowSchema::new(vec![
        sluice_formats::Field::new("campaign_id", sluice_formats::Kind::Int),
        sluice_formats::Field::new("network_id", sluice_formats::Kind::Int),
        sluice_formats::Field::new("minute_timestamp", sluice_formats::Kind::Timestamp),
    ]);
    let mut ctx = SinkContext::new("campaign-views", "views", schema.clone());
    ctx.base_dir = Some(dir.path().to_path_buf());
    ctx.s3 = S3Options::default();
    let sinks = &plan.queries[0].sinks;
    let ok = build_sink(&sinks[0], &ctx).unwrap();
    assert!(ok.describe().starts_with("parquet sink of query `views` ("), "{}", ok.describe());
    assert!(dir.path().join("out/views").is_dir(), "the local directory is created at build");

    let e = build_sink(&sinks[1], &ctx).err().unwrap().to_string();
    assert!(e.starts_with("parquet sink of query `views` (jobs/cv.toml:"), "{e}");
    assert!(
        e.contains("`network` is not a result column") && e.contains("campaign_id, network_id, minute_timestamp"),
        "{e}"
    );

    let e = build_sink(&sinks[2], &ctx).err().unwrap().to_string();
    assert!(e.contains("http://127.0.0.1:9 is plain http") && e.contains("add allow_http = true"), "{e}");

    let dl = plan.dead_letter.as_ref().unwrap();
    let d = build_dead_letter_sink(dl, &ctx, "view-logs").unwrap();
    assert!(d.describe().contains("dead-letter sink of job `campaign-views`"), "{}", d.describe());
    let e = build_sink(dl, &ctx).err().unwrap().to_string();
    assert!(e.contains("a file sink holds dead letters"), "{e}");
}
