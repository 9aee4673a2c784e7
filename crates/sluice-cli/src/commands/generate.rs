//! `sluice generate`: the seeds' CSV files (seed 002's transactions, seed 004's campaigns).

use crate::output::errln;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use sluice_connect::civil::{format_date, now_ms, parse_date};
use sluice_connect::encode::csv::write_csv;
use sluice_connect::rng::Rng;
use sluice_connect::source::generator::{campaigns, transactions};
use sluice_formats::{Row, RowSchema};
use std::io::Write;
use std::path::PathBuf;

/// `sluice generate` flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write.
    #[command(subcommand)]
    pub what: GenerateWhat,
}

/// The files.
#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// Seed 002's customer transactions: 1,200 rows, 23 columns, totals consistent.
    Transactions(TransactionsArgs),
    /// Seed 004's campaigns.csv: campaign_id 10..140, network_id, name, advertiser, channel,
    /// daily_budget.
    Campaigns(CampaignsArgs),
}

/// `sluice generate transactions` flags.
#[derive(Debug, Args)]
pub struct TransactionsArgs {
    /// File to write, `-` for stdout.
    #[arg(short, long, value_name = "FILE", default_value = "customer_transactions_1200.csv")]
    pub output: PathBuf,
    /// Number of rows.
    #[arg(long, value_name = "N", default_value_t = transactions::DEFAULT_ROWS)]
    pub rows: usize,
    /// Seed of the random generator [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Last day of the 90 days the transactions span, YYYY-MM-DD [default: today, UTC]. Give it
    /// with --seed for byte-identical files.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// `sluice generate campaigns` flags.
#[derive(Debug, Args)]
pub struct CampaignsArgs {
    /// File to write, `-` for stdout.
    #[arg(short, long, value_name = "FILE", default_value = "campaigns.csv")]
    pub output: PathBuf,
    /// Seed of the random generator [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

fn write(output: &PathBuf, schema: &RowSchema, rows: &[Row]) -> anyhow::Result<()> {
    if output.as_os_str() == "-" {
        // Rendered first so a closed pipe (`| head`) is told apart from an encoding error.
        let mut text = Vec::new();
        write_csv(schema, rows, &mut text)?;
        let mut lock = std::io::stdout().lock();
        if let Err(e) = lock.write_all(&text).and_then(|()| lock.flush()) {
            crate::output::exit_on_write_error(&e);
        }
        return Ok(());
    }
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {} for --output", dir.display()))?;
    }
    let file = std::fs::File::create(output)
        .with_context(|| format!("cannot write --output {}; pick a writable path", output.display()))?;
    write_csv(schema, rows, std::io::BufWriter::new(file))?;
    Ok(())
}

fn seed_note(seed: Option<u64>) -> (u64, &'static str) {
    match seed {
        Some(s) => (s, ""),
        None => (Rng::entropy_seed(), " (random; pass --seed to repeat)"),
    }
}

pub(crate) async fn run(args: GenerateArgs) -> anyhow::Result<()> {
    match args.what {
        GenerateWhat::Transactions(a) => {
            if a.rows == 0 {
                bail!("--rows 0 must be at least 1");
            }
            let as_of_days = match &a.as_of {
                Some(d) => parse_date(d)
                    .with_context(|| format!("--as-of {d:?} is not a date; write YYYY-MM-DD, e.g. 2025-07-27"))?,
                None => now_ms().div_euclid(86_400_000),
            };
            let (seed, note) = seed_note(a.seed);
            let rows = transactions::generate(&transactions::TransactionsSpec { rows: a.rows, seed, as_of_days });
            let schema = transactions::schema();
            write(&a.output, &schema, &rows)?;
            errln!(
                "wrote {} rows × {} columns to {} (transactions up to {}, seed {seed}{note})",
                rows.len(),
                schema.len(),
                a.output.display(),
                format_date(as_of_days)
            );
        }
        GenerateWhat::Campaigns(a) => {
            let (seed, note) = seed_note(a.seed);
            let rows = campaigns::generate(seed);
            let schema = campaigns::schema();
            write(&a.output, &schema, &rows)?;
            errln!(
                "wrote {} rows × {} columns to {} (seed {seed}{note})",
                rows.len(),
                schema.len(),
                a.output.display()
            );
        }
    }
    Ok(())
}
