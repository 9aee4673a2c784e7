//! `sluice run JOB.toml`: runs one job file against Kafka until Ctrl-C / SIGTERM, `--duration`
//! or (with `--available-now`) the end of its input, then writes a final checkpoint.
//!
//! Flags are resolved into a [`JobConfig`] before anything connects; the job file is loaded
//! and checked first, so a mistake in it is one line naming the file, the line, the field and
//! the fix. On a terminal a status line on stderr shows records per second, the watermark,
//! the lag and the checkpoint epoch; console sinks' tables print above it.

use crate::duration;
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn};
use crate::output::errln;
use anyhow::{Context, bail};
use clap::Args;
use sluice_connect::job::{EndOfInput, Job, JobConfig, JobStatus};
use sluice_connect::sink::console::ConsoleOut;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `sluice run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (see jobs/README.md), e.g. jobs/user-events.toml.
    #[arg(value_name = "JOB.toml")]
    pub job: PathBuf,
    /// Connection.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Schema registry of `kind = "registry"` sources without their own url. Default:
    /// SCHEMA_REGISTRY_URL from the environment or ./.env, else http://127.0.0.1:8081.
    #[arg(long, value_name = "URL")]
    pub schema_registry: Option<String>,
    /// How long a `kind = "registry"` source waits at start for its topic's schema to be
    /// registered (and for the registry to answer), e.g. 2m [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub wait_for_schema: Option<String>,
    /// Stop after this long (e.g. 60s, 5m), with a final checkpoint.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// This process's number when several run the job in one group (0, 1, ...): names its
    /// transactional id and group membership (`sluice-<job>-<N>`) and, above 0, its checkpoint
    /// directory and output file names. A job with aggregates given an instance id runs as two
    /// stages, a shuffle and a merge over the `<job>-repartition` topic, so that its state
    /// moves with the partitions between the instances.
    #[arg(long, value_name = "N")]
    pub instance_id: Option<u32>,
    /// Stop once every partition is read to its end (Spark's availableNow): triggers fire once
    /// more, then the final checkpoint. State is kept for the next run.
    #[arg(long)]
    pub available_now: bool,
    /// With --available-now: treat the input as ended, closing every window (a bounded run).
    #[arg(long, requires = "available_now")]
    pub finish: bool,
    /// Where relative paths of the job file start (tables, .proto files, sink paths,
    /// checkpoints) [default: the working directory].
    #[arg(long, value_name = "DIR")]
    pub base_dir: Option<PathBuf>,
    /// No status line, even on a terminal.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `sluice run`, resolved.
#[derive(Debug)]
pub(crate) struct RunConfig {
    pub(crate) job: JobConfig,
    pub(crate) conn: KafkaConn,
    pub(crate) duration: Option<Duration>,
}

pub(crate) fn resolve(args: &RunArgs, env: &Environment) -> anyhow::Result<RunConfig> {
    let conn = KafkaConn::resolve(&args.connect, env)?;
    let shown = args.job.display().to_string();
    if !args.job.is_file() {
        bail!(
            "cannot read the job file {shown}: no such file; give the path of a job file such as jobs/user-events.toml"
        );
    }
    let plan = sluice_stream::jobfile::load(&args.job).map_err(|e| anyhow::anyhow!("{e}"))?;
    let duration = args.duration.as_deref().map(|d| duration::parse("--duration", d)).transpose()?;
    let schema_wait = args.wait_for_schema.as_deref().map(|d| duration::parse("--wait-for-schema", d)).transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        bail!("--duration 0 would stop the job before it starts; give e.g. --duration 60s");
    }
    let registry = match &args.schema_registry {
        Some(u) => Some(u.clone()),
        None => env.get("SCHEMA_REGISTRY_URL").map(|(v, _)| v),
    };
    if let Some(u) = &registry
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--schema-registry {u:?} is not an http:// or https:// URL; write e.g. http://127.0.0.1:8081");
    }
    if let Some(b) = &args.base_dir
        && !b.is_dir()
    {
        bail!("--base-dir {} is not a directory", b.display());
    }
    let mut job = JobConfig::new(plan, &shown, &conn.bootstrap);
    job.kafka = conn.client_settings();
    job.registry_url = registry;
    if let Some(w) = schema_wait {
        job.schema_wait = w;
    }
    job.instance = args.instance_id.unwrap_or(0);
    job.scale_out = args.instance_id.is_some();
    job.base_dir = args.base_dir.clone();
    job.broker_wait = conn.wait;
    job.patient = conn.patient;
    job.end = match (args.available_now, args.finish) {
        (false, _) => EndOfInput::Never,
        (true, false) => EndOfInput::AvailableNow,
        (true, true) => EndOfInput::Finish,
    };
    Ok(RunConfig { job, conn, duration })
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let env = Environment::load()?;
    let mut config = resolve(&args, &env)?;
    let plan = &config.job.plan;
    errln!(
        "sluice run {} → job {} reading topic {} (group {}) at {}",
        config.job.job_file,
        plan.name,
        plan.source.topic,
        sluice_connect::job::group_of(plan),
        config.conn.describe()
    );
    if config.job.runs_in_stages() {
        let base = config.job.checkpoint_base();
        errln!(
            "  scaled out: aggregates merged through topic {}-repartition; checkpoints under {base} \
             (shuffle/instance-{n}, merge/instance-{n}, merge/partition-*) every {} ms",
            plan.name,
            plan.checkpoint.interval_ms,
            n = config.job.instance
        );
    } else {
        errln!("  checkpoints in {} every {} ms", config.job.checkpoint_location(), plan.checkpoint.interval_ms);
    }
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let line = Arc::new(StatusLine::default());
    if tty {
        config.job.console = ConsoleOut::Writer(Arc::new(Mutex::new(ConsoleAbove { line: line.clone() })));
    }
    let job = Job::new(config.job);
    let status = job.status();
    let drawer = tty.then(|| tokio::spawn(draw_status(status, line.clone())));
    let duration = config.duration;
    let stop = async move {
        let timer = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = super::shutdown_signal() => {
                errln!("stopping: writing the final checkpoint (Ctrl-C again to quit at once)");
                tokio::spawn(async {
                    super::shutdown_signal().await;
                    std::process::exit(130);
                });
            }
            _ = timer => {}
        }
    };
    let result = job.run(stop).await;
    if let Some(d) = drawer {
        d.abort();
        line.clear();
    }
    let summary = result.context("the job stopped")?;
    errln!(
        "stopped: {} records read in all, {} result rows and {} dead letters written by this run; last checkpoint {}",
        summary.records_in,
        summary.rows_out,
        summary.dead_letters,
        summary.last_epoch.map_or("none".to_string(), |e| e.to_string())
    );
    Ok(())
}

/// The status line on stderr, redrawn below whatever the console sinks print.
#[derive(Debug, Default)]
struct StatusLine {
    text: Mutex<String>,
}

impl StatusLine {
    fn draw(&self) {
        let text = self.text.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }

    fn clear(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// Console output that first clears the status line, then redraws it.
struct ConsoleAbove {
    line: Arc<StatusLine>,
}

impl Write for ConsoleAbove {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.clear();
        let mut out = std::io::stdout().lock();
        out.write_all(buf)?;
        out.flush()?;
        self.line.draw();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

async fn draw_status(status: Arc<JobStatus>, line: Arc<StatusLine>) {
    let mut last = (Instant::now(), 0u64);
    let mut rate = 0.0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = status.snapshot();
        let now = Instant::now();
        let dt = now.duration_since(last.0).as_secs_f64();
        if dt >= 1.0 {
            rate = s.records_in.saturating_sub(last.1) as f64 / dt;
            last = (now, s.records_in);
        }
        *line.text.lock().unwrap_or_else(|p| p.into_inner()) = status_text(&s, rate);
        line.draw();
    }
}

/// `1,234 records (560/s) · watermark 2026-11-23 10:05:00 · lag 0 · epoch 7 · partitions 0,1,2`.
pub(crate) fn status_text(s: &sluice_connect::job::StatusSnapshot, rate: f64) -> String {
    let wm = s.watermark.map_or("none".to_string(), |w| sluice_stream::time::SparkTimestamp(w).to_string());
    let lag = s.lag.map_or("?".to_string(), |l| l.to_string());
    let parts: Vec<String> = s.partitions.iter().map(i32::to_string).collect();
    let mut t = format!(
        "{} records ({rate:.0}/s) · {} rows out · watermark {wm} · lag {lag} · epoch {} · partitions {}",
        s.records_in,
        s.rows_out,
        s.epoch,
        if parts.is_empty() { "-".to_string() } else { parts.join(",") }
    );
    if s.dead_letters > 0 {
        t.push_str(&format!(" · {} dead letters", s.dead_letters));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(job: &std::path::Path) -> RunArgs {
        RunArgs {
            job: job.to_path_buf(),
            connect: ConnectArgs::default(),
            schema_registry: None,
            wait_for_schema: None,
            duration: None,
            instance_id: None,
            available_now: false,
            finish: false,
            base_dir: None,
            quiet: false,
        }
    }

    #[test]
    fn flags_resolve_and_errors_name_the_fix() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let env = Environment::default();
        let a = args(&repo.join("jobs/people.toml"));
        let c = resolve(&a, &env).unwrap();
        assert_eq!(c.job.plan.name, "people");
        assert_eq!(c.job.end, EndOfInput::Never);
        assert_eq!(c.job.instance_name(), "sluice-people-0");
        assert_eq!(c.job.schema_wait, Duration::from_secs(30));
        let mut patient = args(&repo.join("jobs/people.toml"));
        patient.wait_for_schema = Some("2m".into());
        assert_eq!(resolve(&patient, &env).unwrap().job.schema_wait, Duration::from_secs(120));

        let e = resolve(&args(&repo.join("jobs/nope.toml")), &env).unwrap_err().to_string();
        assert!(e.contains("nope.toml") && e.contains("no such file"), "{e}");
        let mut bad = args(&repo.join("jobs/people.toml"));
        bad.duration = Some("soon".into());
        assert!(resolve(&bad, &env).unwrap_err().to_string().contains("--duration"));
        bad.duration = None;
        bad.schema_registry = Some("localhost:8081".into());
        assert!(resolve(&bad, &env).unwrap_err().to_string().contains("http://"));

        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("j.toml");
        std::fs::write(&broken, "name = \"x\"\n[source]\ntopik = \"t\"\n").unwrap();
        let e = resolve(&args(&broken), &env).unwrap_err().to_string();
        assert!(e.contains("j.toml:3") && e.contains("topik"), "{e}");
    }

    #[test]
    fn status_text_shows_the_counters() {
        let s = sluice_connect::job::StatusSnapshot {
            records_in: 1234,
            rows_out: 5,
            watermark: Some(0),
            lag: Some(7),
            epoch: 3,
            partitions: vec![0, 2],
            dead_letters: 1,
            ..Default::default()
        };
        let t = status_text(&s, 12.4);
        assert_eq!(
            t,
            "1234 records (12/s) · 5 rows out · watermark 1970-01-01 00:00:00 · lag 7 · epoch 3 · partitions 0,2 · \
             1 dead letters"
        );
    }
}
