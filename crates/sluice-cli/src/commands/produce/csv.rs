//! `sluice produce csv FILE`: seed 002's batch producer for any CSV file.

use super::{check_topic_name, print_banner};
use crate::clients::{check_sink, interrupt_on_signal};
use crate::duration;
use crate::kafka_opts::KafkaConn;
use crate::output::outln;
use anyhow::{Context, bail};
use clap::Args;
use sluice_connect::kafka::KafkaSink;
use sluice_connect::pipeline::{BatchReport, ReplayPlan, replay_csv};
use sluice_connect::source::csv_replay::{CsvTable, read_csv};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `sluice produce csv` flags (seed 002's producer).
#[derive(Debug, Clone, Args)]
pub struct CsvArgs {
    /// The CSV file: a header line, then one record per line.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Topic to write to.
    #[arg(long, value_name = "NAME", default_value = "customer-transactions")]
    pub topic: String,
    /// Records per batch.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub batch_size: usize,
    /// Pause between batches, e.g. 10s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub sleep: String,
    /// Records to send at most, 0 = the whole file.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_records: usize,
    /// Resends of failed records per batch.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// Pause before a resend.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub retry_backoff: String,
    /// Column whose value keys the records (e.g. customer_id) [default: unkeyed].
    #[arg(long, value_name = "COLUMN")]
    pub key_column: Option<String>,
}

/// A replay, resolved and checked; the file already read.
#[derive(Debug)]
pub(crate) struct CsvConfig {
    table: CsvTable,
    topic: String,
    plan: ReplayPlan,
}

impl CsvConfig {
    pub(crate) fn resolve(args: &CsvArgs) -> anyhow::Result<Self> {
        check_topic_name(&args.topic, "--topic")?;
        if args.batch_size == 0 {
            bail!("--batch-size 0 must be at least 1");
        }
        let sleep = duration::parse("--sleep", &args.sleep)?;
        let retry_backoff = duration::parse("--retry-backoff", &args.retry_backoff)?;
        let max = (args.max_records > 0).then_some(args.max_records);
        let table = read_csv(&args.file, max)?;
        let key_column = match &args.key_column {
            None => None,
            Some(c) => Some(table.schema.index_of(c).with_context(|| {
                let names: Vec<&str> = table.schema.fields.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "--key-column {c:?} is not a column of {}; its columns are {}",
                    args.file.display(),
                    names.join(", ")
                )
            })?),
        };
        Ok(CsvConfig {
            table,
            topic: args.topic.clone(),
            plan: ReplayPlan { batch_size: args.batch_size, sleep, retries: args.retries, retry_backoff, key_column },
        })
    }
}

fn report_line(r: &BatchReport) -> String {
    let mut line = if r.failed == 0 {
        format!("batch {}/{}: {} records delivered", r.batch_number, r.batches, r.delivered)
    } else {
        format!(
            "batch {}/{}: {} of {} records delivered, {} failed after {} retries ({})",
            r.batch_number,
            r.batches,
            r.delivered,
            r.records,
            r.failed,
            r.retries_used,
            r.error.as_deref().unwrap_or("no delivery report")
        )
    };
    if r.failed == 0 && r.retries_used > 0 {
        line.push_str(&format!(" after {} retries", r.retries_used));
    }
    line.push_str(&format!(", total {}/{}", r.total_delivered, r.total_records));
    if let Some(next) = r.next_in {
        line.push_str(&format!("; next batch in {}", duration::show(next)));
    }
    line
}

pub(crate) async fn run(args: CsvArgs, conn: KafkaConn) -> anyhow::Result<()> {
    let config = CsvConfig::resolve(&args)?;
    let settings = conn.producer_settings();
    let sink = Arc::new(KafkaSink::new(&settings, &config.topic)?);
    check_sink(&sink, &conn).await?;
    let rows = config.table.rows.len();
    let batches = rows.div_ceil(config.plan.batch_size);
    let key = config.plan.key_column.map_or("none".to_string(), |c| config.table.schema.fields[c].name.clone());
    print_banner(
        "csv",
        &config.topic,
        &conn,
        &settings,
        &[
            format!("file       {} ({} columns, {rows} records)", args.file.display(), config.table.schema.len()),
            format!(
                "batches    {batches} of {}, {} apart; {} retries per batch",
                config.plan.batch_size,
                duration::show(config.plan.sleep),
                config.plan.retries
            ),
            format!("encoding   JSON objects + batch_number, batch_position, producer_timestamp(_str); key = {key}"),
        ],
    );
    let interrupt = interrupt_on_signal();
    let started = Instant::now();
    let run_sink = Arc::clone(&sink);
    let outcome = tokio::task::spawn_blocking(move || {
        replay_csv(&config.table, &run_sink, &config.plan, &interrupt, &mut sluice_connect::civil::now_ms, &mut |r| {
            outln!("{}", report_line(r))
        })
    })
    .await
    .context("the producer thread failed")??;
    let elapsed: Duration = started.elapsed();
    outln!(
        "{}: {} of {rows} records delivered in {} batches, {} failed, {:.1}s{}",
        args.topic,
        outcome.delivered,
        outcome.batches,
        outcome.failed,
        elapsed.as_secs_f64(),
        if outcome.interrupted { " (interrupted)" } else { "" }
    );
    if outcome.failed > 0 {
        bail!(
            "{} records were not delivered to {}; first error: {}",
            outcome.failed,
            args.topic,
            sink.stats().first_error().unwrap_or_else(|| "interrupted before delivery".to_string())
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        let r = BatchReport {
            batch_number: 1,
            batches: 100,
            records: 10,
            delivered: 10,
            failed: 0,
            retries_used: 0,
            total_delivered: 10,
            total_records: 1000,
            error: None,
            next_in: Some(Duration::from_secs(10)),
        };
        assert_eq!(report_line(&r), "batch 1/100: 10 records delivered, total 10/1000; next batch in 10s");
        let r = BatchReport {
            failed: 2,
            delivered: 8,
            retries_used: 3,
            error: Some("timed out".into()),
            next_in: None,
            ..r
        };
        assert_eq!(
            report_line(&r),
            "batch 1/100: 8 of 10 records delivered, 2 failed after 3 retries (timed out), total 10/1000"
        );
    }

    #[test]
    fn unknown_key_column_lists_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.csv");
        std::fs::write(&f, "a,b\n1,2\n").unwrap();
        let args = CsvArgs {
            file: f,
            topic: "t".into(),
            batch_size: 10,
            sleep: "1s".into(),
            max_records: 0,
            retries: 0,
            retry_backoff: "1s".into(),
            key_column: Some("c".into()),
        };
        let e = CsvConfig::resolve(&args).unwrap_err().to_string();
        assert!(e.contains("--key-column \"c\"") && e.contains("a, b"), "{e}");
        let e = CsvConfig::resolve(&CsvArgs { batch_size: 0, ..args.clone() }).unwrap_err().to_string();
        assert!(e.contains("--batch-size 0"), "{e}");
    }
}
