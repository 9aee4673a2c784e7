//! `sluice demo`: the five seed pipelines in one command, no set-up.
//!
//! 1. The embedded broker (in memory) and schema registry start in this process on 127.0.0.1
//!    (9092 and 8081 unless `--listen` / `--registry-listen` say otherwise).
//! 2. The topics are created; `./sluice-demo/` (`--dir`) gets the files the jobs read (the
//!    UserEvent and result `.proto`s, `campaigns.csv`, the transactions CSV).
//! 3. The seed producers run as child processes of this binary (`sluice produce ...`, their
//!    output in `logs/`), each at a demo pace; the five jobs of `jobs/` run in this process,
//!    their file sinks redirected under the demo directory (a JSON sink is added to the queries
//!    that only print), checkpoints every 2 s.
//! 4. Ctrl-C or `--duration`: the producers stop, each job closes its windows, writes its last
//!    results and checkpoint, then the registry and the broker stop.

use crate::clients::{admin, ensure_topic};
use crate::duration;
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn};
use crate::output::errln;
use anyhow::{Context, bail};
use clap::Args;
use sluice_connect::job::{Job, JobConfig, JobSummary};
use sluice_connect::kafka::ClientSettings;
use sluice_connect::sink::storage::S3Options;
use sluice_stream::JobPlan;
use sluice_stream::plan::{FormatPlan, OptionValue, SinkKind, SinkPlan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A line on stdout. Unlike `outln!`, a reader that went away (`sluice demo | head -2`) does not
/// end the process: the demo runs on to its stop, which ends the producer processes it started
/// (an exit here left them running).
macro_rules! say {
    ($($arg:tt)*) => {
        let _ = crate::output::try_write_line(format_args!($($arg)*));
    };
}

/// `sluice demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the embedded broker. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    pub listen: String,
    /// Address of the embedded schema registry. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "HOST:PORT")]
    pub registry_listen: String,
    /// Where the result files, checkpoints and logs go (its earlier results are replaced).
    #[arg(long, default_value = "sluice-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Stop after this long (e.g. 30s, 5m) [default: at Ctrl-C].
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// No result tables on stdout: files and the summary only.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The seed jobs, as shipped in `jobs/`.
const JOBS: [(&str, &str); 5] = [
    ("user-events", include_str!("../../../../jobs/user-events.toml")),
    ("numbers", include_str!("../../../../jobs/numbers.toml")),
    ("transactions", include_str!("../../../../jobs/transactions.toml")),
    ("people", include_str!("../../../../jobs/people.toml")),
    ("campaign-views", include_str!("../../../../jobs/campaign-views.toml")),
];

/// Topics and their partitions (the seeds' own counts where they give one).
const TOPICS: [(&str, i32); 7] = [
    ("user-events", 3),
    ("numbers", 3),
    ("customer-transactions", 3),
    ("customer-transactions-dead-letters", 1),
    ("a_partitioned_topic", 2),
    ("results", 1),
    ("views", 3),
];

/// Subdirectories of the demo directory that the demo owns (replaced at each start).
const OWNED: [&str; 8] =
    ["checkpoints", "logs", "data", "proto", "user-events", "numbers", "transactions", "campaign-views"];

const RESULTS_PROTO: &str = include_str!("../../../../proto/results.proto");

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let duration = args.duration.as_deref().map(|d| duration::parse("--duration", d)).transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        bail!("--duration 0 would stop the demo before it starts; give e.g. --duration 30s");
    }
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is a broker running there? pick another port with --listen 127.0.0.1:PORT",
            args.listen
        )
    })?;
    let registry_listener = tokio::net::TcpListener::bind(&args.registry_listen).await.with_context(|| {
        format!(
            "cannot listen on {} for the schema registry: is one running there? pick another port with \
             --registry-listen 127.0.0.1:PORT",
            args.registry_listen
        )
    })?;
    let registry_addr = registry_listener.local_addr()?;
    let mut config = sluice_broker::BrokerConfig { num_partitions: 3, data_dir: None, ..Default::default() };
    // The jobs are the only members of their groups: no need to wait for more.
    config.coordinator.limits.initial_rebalance_delay_ms = 0;
    let broker = sluice_broker::start(listener, config).context("cannot start the embedded broker")?;
    let bootstrap = broker.bootstrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let registry_config = sluice_registry::RegistryConfig::new(bootstrap.clone());
    let registry = sluice_registry::connect(&registry_config).await.context("cannot start the schema registry")?;
    let registry_url = format!("http://{registry_addr}");
    let registry_task = {
        let mut stop = stop_rx.clone();
        tokio::spawn(sluice_registry::serve_registry(registry_listener, std::sync::Arc::new(registry), async move {
            let _ = stop.wait_for(|s| *s).await;
        }))
    };
    say!(
        "sluice demo: broker on {bootstrap}, schema registry on {registry_url} (up in {} ms)",
        started.elapsed().as_millis()
    );

    let outcome = run_pipelines(&args, &bootstrap, &registry_url, duration).await;
    let _ = stop_tx.send(true);
    if let Ok(Err(e)) = registry_task.await {
        tracing::warn!(error = %e, "the schema registry stopped with an error");
    }
    broker.shutdown().await;
    let summaries = outcome?;
    say!("sluice demo stopped after {:.0} s; results in {}:", started.elapsed().as_secs_f64(), args.dir.display());
    for (job, s) in &summaries {
        say!(
            "  {job:<15} {:>7} records read, {:>6} result rows, {:>4} dead letters, last checkpoint {}",
            s.records_in,
            s.rows_out,
            s.dead_letters,
            s.last_epoch.map_or("none".to_string(), |e| e.to_string())
        );
    }
    Ok(())
}

/// A producer child process, stopped (by its PID) when the demo stops.
struct Producer {
    name: &'static str,
    child: std::process::Child,
}

impl Drop for Producer {
    /// A demo that ends without `stop_producers` (an error or a panic unwinding through it)
    /// still takes its producer processes with it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn run_pipelines(
    args: &DemoArgs,
    bootstrap: &str,
    registry_url: &str,
    duration: Option<Duration>,
) -> anyhow::Result<Vec<(String, JobSummary)>> {
    let dir = prepare_dir(&args.dir)?;
    let env = Environment::default();
    let connect = ConnectArgs { bootstrap_servers: Some(bootstrap.to_string()), ..Default::default() };
    let conn = KafkaConn::resolve(&connect, &env)?;
    let (admin, md) = {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || admin(&conn)).await??
    };
    for (topic, partitions) in TOPICS {
        ensure_topic(&admin, &md, topic, partitions).await?;
    }
    let exe = std::env::current_exe().context("cannot find the sluice binary to run the producers")?;
    let data = dir.join("data");
    let transactions_csv = data.join("customer_transactions_1200.csv");
    let campaigns_csv = data.join("campaigns.csv");
    for (what, out) in [("transactions", &transactions_csv), ("campaigns", &campaigns_csv)] {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["generate", what, "--seed", "7", "-o"])
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&dir, &format!("generate-{what}"))?);
        let status = tokio::task::spawn_blocking(move || cmd.status())
            .await?
            .with_context(|| format!("cannot run `sluice generate {what}`"))?;
        if !status.success() {
            bail!("`sluice generate {what}` failed; see {}", dir.join("logs").display());
        }
    }
    let transactions = transactions_csv.display().to_string();
    let producers: [(&'static str, Vec<&str>); 5] = [
        ("user-events", vec!["produce", "user-events", "--count", "0", "--rate", "50", "--seed", "1"]),
        (
            "numbers",
            vec![
                "produce",
                "numbers",
                "--count",
                "0",
                "--interval",
                "1s",
                "--seed",
                "2",
                "--schema-registry",
                registry_url,
            ],
        ),
        ("people", vec!["produce", "people", "--count", "0", "--interval", "250ms", "--seed", "3"]),
        ("views", vec!["produce", "views", "--count", "0", "--interval", "100ms", "--seed", "4"]),
        (
            "transactions",
            vec!["produce", "csv", &transactions, "--sleep", "1s", "--batch-size", "10", "--max-records", "0"],
        ),
    ];
    let mut children = Vec::new();
    for (name, argv) in producers {
        let child = std::process::Command::new(&exe)
            .args(&argv)
            .args(["-b", bootstrap])
            .env_remove("KAFKA_SERVER")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .stdin(Stdio::null())
            .stdout(log_file(&dir, name)?)
            .stderr(log_file(&dir, &format!("{name}.err"))?)
            .spawn()
            .with_context(|| format!("cannot start the {name} producer"))?;
        children.push(Producer { name, child });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut jobs = Vec::new();
    for (name, text) in JOBS {
        let mut plan =
            sluice_stream::jobfile::parse(text, &format!("jobs/{name}.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
        redirect(&mut plan, &dir, &campaigns_csv);
        let mut config = JobConfig::new(plan, &format!("jobs/{name}.toml"), bootstrap);
        config.kafka = ClientSettings::new(bootstrap);
        config.registry_url = Some(registry_url.to_string());
        config.s3 = S3Options::default();
        config.flush_on_stop = true;
        config.console_heading = true;
        if args.quiet {
            config.console = sluice_connect::sink::console::ConsoleOut::Writer(std::sync::Arc::new(
                std::sync::Mutex::new(std::io::sink()),
            ));
        }
        let mut stop = stop_rx.clone();
        let job = Job::new(config);
        jobs.push((
            name,
            tokio::spawn(job.run(async move {
                let _ = stop.wait_for(|s| *s).await;
            })),
        ));
    }
    say!(
        "running 5 producers and 5 jobs; results under {}{}",
        dir.display(),
        match duration {
            Some(d) => format!(", stopping after {}", duration::show(d)),
            None => "; Ctrl-C stops".to_string(),
        }
    );

    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    // A job that fails before the stop ends the demo with its error.
    let mut failed: Option<anyhow::Error> = None;
    tokio::select! {
        _ = super::shutdown_signal() => errln!("stopping: final results and checkpoints (Ctrl-C again to quit at once)"),
        _ = timer => {}
        e = first_failure(&jobs) => failed = Some(e),
    }
    stop_producers(children).await;
    let _ = stop_tx.send(true);
    let mut summaries = Vec::new();
    for (name, task) in jobs {
        match tokio::time::timeout(Duration::from_secs(60), task).await {
            Ok(Ok(Ok(s))) => summaries.push((name.to_string(), s)),
            Ok(Ok(Err(e))) => {
                failed.get_or_insert_with(|| anyhow::anyhow!("job {name}: {e}"));
            }
            Ok(Err(e)) => {
                failed.get_or_insert_with(|| anyhow::anyhow!("job {name} failed: {e}"));
            }
            Err(_) => {
                failed.get_or_insert_with(|| anyhow::anyhow!("job {name} did not stop within 60 s"));
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(summaries),
    }
}

/// Stops the producer children (ours, by their PIDs) and reaps them.
async fn stop_producers(children: Vec<Producer>) {
    let _ = tokio::task::spawn_blocking(move || {
        for mut p in children {
            if let Err(e) = p.child.kill() {
                tracing::debug!("cannot stop the {} producer: {e}", p.name);
            }
            let _ = p.child.wait();
        }
    })
    .await;
}

/// Resolves when one of the jobs has ended before the stop (which only an error does).
async fn first_failure(
    jobs: &[(&str, tokio::task::JoinHandle<Result<JobSummary, sluice_connect::job::JobError>>)],
) -> anyhow::Error {
    loop {
        for (name, task) in jobs {
            if task.is_finished() {
                return anyhow::anyhow!("job {name} stopped early; see the error below");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the demo directory, replaces the subdirectories the demo owns, writes the `.proto`
/// files the jobs read; returns its absolute path.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the demo directory {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("cannot open {}", dir.display()))?;
    for sub in OWNED {
        let p = dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p)
                .with_context(|| format!("cannot clear {} from an earlier demo", p.display()))?;
        }
    }
    for sub in ["logs", "data", "proto"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    for (name, text) in
        [("user_event.proto", sluice_formats::seeds::USER_EVENT_PROTO), ("results.proto", RESULTS_PROTO)]
    {
        let p = dir.join("proto").join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(dir)
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    let p = dir.join("logs").join(format!("{name}.log"));
    std::fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))
}

fn str_opt(s: &SinkPlan, key: &str) -> Option<String> {
    match s.options.get(key) {
        Some(OptionValue::Str(v)) => Some(v.clone()),
        _ => None,
    }
}

/// Points a seed job at the demo directory: its `.proto` and table files, file sinks under
/// `<dir>/<job>/<query>` (a JSON sink for queries that only print or write to Kafka),
/// dead-letter files under `<dir>/<job>/dead_letters`, checkpoints every 2 s in
/// `<dir>/checkpoints/<job>`.
fn redirect(plan: &mut JobPlan, dir: &Path, campaigns_csv: &Path) {
    let job_dir = dir.join(&plan.name);
    let proto_dir = dir.join("proto");
    let in_proto_dir = |p: &str| {
        let file = Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        proto_dir.join(file).display().to_string()
    };
    if let FormatPlan::Protobuf { file, .. } = &mut plan.source.format {
        *file = in_proto_dir(file);
    }
    for t in &mut plan.tables {
        t.path = campaigns_csv.display().to_string();
    }
    for q in &mut plan.queries {
        let out = job_dir.join(&q.name).display().to_string();
        let mut has_file = false;
        for s in &mut q.sinks {
            if matches!(s.kind, SinkKind::Json | SinkKind::Parquet | SinkKind::Protobuf | SinkKind::File) {
                has_file = true;
                s.options.insert("path".into(), OptionValue::Str(out.clone()));
                for k in ["endpoint", "region", "allow_http"] {
                    s.options.remove(k);
                }
            }
            if let Some(p) = str_opt(s, "proto") {
                s.options.insert("proto".into(), OptionValue::Str(in_proto_dir(&p)));
            }
        }
        if !has_file {
            q.sinks.push(SinkPlan {
                kind: SinkKind::Json,
                options: BTreeMap::from([("path".to_string(), OptionValue::Str(out))]),
                origin: None,
            });
        }
    }
    if let Some(d) = &mut plan.dead_letter
        && d.kind != SinkKind::Kafka
    {
        d.options.insert("path".into(), OptionValue::Str(job_dir.join("dead_letters").display().to_string()));
    }
    plan.checkpoint.interval_ms = 2_000;
    plan.checkpoint.location = Some(dir.join("checkpoints").join(&plan.name).display().to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_job_parses_and_is_redirected_into_the_demo_directory() {
        let dir = Path::new("/demo");
        for (name, text) in JOBS {
            let mut plan = sluice_stream::jobfile::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            redirect(&mut plan, dir, Path::new("/demo/data/campaigns.csv"));
            assert_eq!(plan.checkpoint.location.as_deref(), Some(format!("/demo/checkpoints/{name}").as_str()));
            for q in &plan.queries {
                let files: Vec<String> = q.sinks.iter().filter_map(|s| str_opt(s, "path")).collect();
                assert!(!files.is_empty(), "{name}/{}: no file sink", q.name);
                assert!(files.iter().all(|p| p == &format!("/demo/{name}/{}", q.name)), "{files:?}");
                for s in &q.sinks {
                    if let Some(p) = str_opt(s, "proto") {
                        assert_eq!(p, "/demo/proto/results.proto");
                    }
                }
            }
            if let FormatPlan::Protobuf { file, .. } = &plan.source.format {
                assert_eq!(file, "/demo/proto/user_event.proto");
            }
            for t in &plan.tables {
                assert_eq!(t.path, "/demo/data/campaigns.csv");
            }
        }
    }
}
