//! `sluice produce`: the seeds' producers (generator → encoder → Kafka sink), CSV replay and
//! stdin lines.
//!
//! Raw flags ([`ProduceArgs`]) are resolved into a [`GenConfig`] (the seed's defaults filled in,
//! every value checked) before anything connects; the run itself happens on a blocking thread
//! because librdkafka's producer is synchronous.

mod csv;
mod lines;

use crate::clients::{Ensured, admin, check_sink, ensure_topic, interrupt_on_signal};
use crate::duration;
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn, env_seconds};
use crate::output::outln;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_connect::encode::Encoder;
use sluice_connect::encode::json::JsonEncoder;
use sluice_connect::encode::proto::{ProtoEncoder, ProtoMessage};
use sluice_connect::encode::registry::RegistryProtoEncoder;
use sluice_connect::kafka::{ClientSettings, DeliveryStats, KafkaSink};
use sluice_connect::pipeline::{Pace, run_generator};
use sluice_connect::rng::Rng;
use sluice_connect::source::generator::{Generator, Numbers, People, UserEvents, Views};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) use csv::CsvArgs;
pub(crate) use lines::LinesArgs;

/// `sluice produce` flags.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Connection.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to produce.
    #[command(subcommand)]
    pub what: ProduceWhat,
}

/// The producers.
#[derive(Debug, Subcommand)]
pub enum ProduceWhat {
    /// Seed 000: protobuf UserEvent(userId, action, value), key = userId, 50 events to
    /// `user-events` as fast as the broker takes them.
    UserEvents(GenArgs),
    /// Seed 001: protobuf MyEvent with a random number 1-100 every 5 s, forever, to `numbers`
    /// (created with 3 partitions).
    Numbers(GenArgs),
    /// Seed 003: JSON {name, surname, amount, delta_t, flag}, 20 records 0.25 s apart, to
    /// `a_partitioned_topic` (created with 2 partitions).
    People(GenArgs),
    /// Seed 004: JSON view logs {view_id, start_timestamp, end_timestamp, banner_id,
    /// campaign_id} every PRODUCER_INTERVAL seconds (environment or ./.env, default 1), forever,
    /// to `views`.
    Views(GenArgs),
    /// Seed 002: replay any CSV file as JSON records in timed batches, with batch metadata.
    Csv(CsvArgs),
    /// Lines from stdin as records (`key<TAB>value` with --key-separator), flushed at EOF.
    Lines(LinesArgs),
}

/// Flags of the generator producers.
#[derive(Debug, Clone, Default, Args)]
pub struct GenArgs {
    /// Topic to write to [default: the seed's].
    #[arg(long, value_name = "NAME")]
    pub topic: Option<String>,
    /// Records to produce, 0 = until Ctrl-C [default: the seed's].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long, e.g. 30s or 5m.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Records per second, 0 = as fast as the broker takes them [default: the seed's pace].
    #[arg(long, value_name = "N", conflicts_with = "interval", allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Pause between records, e.g. 5s [default: the seed's].
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Seed of the random generator, for reproducible records [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Create the topic with this many partitions if it does not exist [default: the seed's;
    /// none: the broker creates it on first use].
    #[arg(long, value_name = "N")]
    pub partitions: Option<i32>,
    /// Schema registry the `numbers` producer registers `numbers.MyEvent` with (subject
    /// `<topic>-value`; values in Confluent's wire format) [default: SCHEMA_REGISTRY_URL from
    /// the environment or ./.env, else http://127.0.0.1:8081].
    #[arg(long, value_name = "URL")]
    pub schema_registry: Option<String>,
}

/// The seed producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GenKind {
    UserEvents,
    Numbers,
    People,
    Views,
}

/// A producer's parts: rows, their encoding, and the name of the key column.
type Parts = (Box<dyn Generator>, Box<dyn Encoder>, &'static str);

/// A seed's defaults.
struct SeedDefaults {
    topic: &'static str,
    count: Option<u64>,
    interval: Option<Duration>,
    partitions: Option<i32>,
}

impl GenKind {
    fn name(self) -> &'static str {
        match self {
            GenKind::UserEvents => "user-events",
            GenKind::Numbers => "numbers",
            GenKind::People => "people",
            GenKind::Views => "views",
        }
    }

    fn defaults(self, env: &Environment) -> anyhow::Result<SeedDefaults> {
        Ok(match self {
            GenKind::UserEvents => {
                SeedDefaults { topic: "user-events", count: Some(50), interval: None, partitions: None }
            }
            GenKind::Numbers => SeedDefaults {
                topic: "numbers",
                count: None,
                interval: Some(Duration::from_secs(5)),
                partitions: Some(3),
            },
            GenKind::People => SeedDefaults {
                topic: "a_partitioned_topic",
                count: Some(20),
                interval: Some(Duration::from_millis(250)),
                partitions: Some(2),
            },
            GenKind::Views => SeedDefaults {
                topic: "views",
                count: None,
                interval: Some(env_seconds(env, "PRODUCER_INTERVAL")?.unwrap_or(Duration::from_secs(1))),
                partitions: None,
            },
        })
    }

    fn build(self, seed: u64) -> anyhow::Result<Parts> {
        Ok(match self {
            GenKind::UserEvents => {
                // INTERIM: the sluice-formats protobuf encoder (descriptor / registry) replaces
                // this flat encoder on merge.
                let enc = ProtoEncoder::new(&UserEvents::schema(), ProtoMessage::user_event())?;
                (Box::new(UserEvents::new(seed)), Box::new(enc), "userId")
            }
            GenKind::Numbers => {
                let enc = ProtoEncoder::new(&Numbers::schema(), ProtoMessage::my_event())?;
                (Box::new(Numbers::new(seed)), Box::new(enc), "none")
            }
            GenKind::People => (Box::new(People::new(seed)), Box::new(JsonEncoder::new(People::schema())), "none"),
            GenKind::Views => (Box::new(Views::new(seed)), Box::new(JsonEncoder::new(Views::schema())), "none"),
        })
    }
}

/// The registry `sluice broker` serves.
const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8081";

/// The slowest pace accepted: about one record a week.
const MIN_RATE: f64 = 1.0 / 604_800.0;

/// A generator run, resolved and checked.
#[derive(Debug, Clone)]
pub(crate) struct GenConfig {
    kind: GenKind,
    topic: String,
    pace: Pace,
    seed: u64,
    seed_given: bool,
    partitions: Option<i32>,
    conn: KafkaConn,
    /// The registry of registry-framed producers (numbers).
    registry: String,
}

impl GenConfig {
    pub(crate) fn resolve(kind: GenKind, args: &GenArgs, conn: KafkaConn, env: &Environment) -> anyhow::Result<Self> {
        let d = kind.defaults(env)?;
        let topic = args.topic.clone().unwrap_or_else(|| d.topic.to_string());
        check_topic_name(&topic, "--topic")?;
        let count = match args.count {
            Some(0) => None,
            Some(n) => Some(n),
            None => d.count,
        };
        let rate = match (args.rate, &args.interval) {
            (Some(r), _) if !r.is_finite() || r < 0.0 => {
                bail!("--rate {r} must be a number of records per second, 0 for no limit")
            }
            (Some(r), _) => (r > 0.0).then_some(r),
            (None, Some(i)) => {
                let i = duration::parse("--interval", i)?;
                (!i.is_zero()).then(|| 1.0 / i.as_secs_f64())
            }
            (None, None) => d.interval.filter(|i| !i.is_zero()).map(|i| 1.0 / i.as_secs_f64()),
        };
        if let Some(r) = rate
            && r < MIN_RATE
        {
            bail!(
                "a pace of {r} records per second (--rate / --interval) is slower than one a week; give at least {MIN_RATE}"
            );
        }
        let duration = args.duration.as_deref().map(|t| duration::parse("--duration", t)).transpose()?;
        if let Some(p) = args.partitions
            && p < 1
        {
            bail!("--partitions {p} must be at least 1");
        }
        let seed_given = args.seed.is_some();
        let registry = match &args.schema_registry {
            Some(u) => u.clone(),
            None => env.get("SCHEMA_REGISTRY_URL").map_or_else(|| DEFAULT_REGISTRY.to_string(), |(v, _)| v),
        };
        if !(registry.starts_with("http://") || registry.starts_with("https://")) {
            bail!("--schema-registry {registry:?} is not an http:// or https:// URL; write e.g. http://127.0.0.1:8081");
        }
        Ok(GenConfig {
            kind,
            topic,
            pace: Pace { count, duration, rate },
            seed: args.seed.unwrap_or_else(Rng::entropy_seed),
            seed_given,
            partitions: args.partitions.or(d.partitions),
            conn,
            registry: registry.trim_end_matches('/').to_string(),
        })
    }
}

/// Kafka's rules for topic names: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn check_topic_name(name: &str, flag: &str) -> anyhow::Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 249 || !ok_chars || name == "." || name == ".." {
        bail!("{flag} {name:?} is not a valid topic name; use 1-249 characters of letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

pub(crate) async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let env = Environment::load()?;
    let conn = KafkaConn::resolve(&args.connect, &env)?;
    let kind = match args.what {
        ProduceWhat::UserEvents(g) => (GenKind::UserEvents, g),
        ProduceWhat::Numbers(g) => (GenKind::Numbers, g),
        ProduceWhat::People(g) => (GenKind::People, g),
        ProduceWhat::Views(g) => (GenKind::Views, g),
        ProduceWhat::Csv(c) => return csv::run(c, conn).await,
        ProduceWhat::Lines(l) => return lines::run(l, conn).await,
    };
    let config = GenConfig::resolve(kind.0, &kind.1, conn, &env)?;
    run_generated(config).await
}

/// Prints where records go and the producer settings (stderr).
pub(crate) fn print_banner(what: &str, topic: &str, conn: &KafkaConn, settings: &ClientSettings, lines: &[String]) {
    eprintln!("sluice produce {what} → topic {topic} at {}", conn.describe());
    for l in lines {
        eprintln!("  {l}");
    }
    eprintln!("  producer settings (seed defaults; -X key=value overrides):");
    let width = settings.entries().iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in settings.entries().iter().filter(|(k, _)| k != "bootstrap.servers") {
        let mark = if conn.overrides.iter().any(|(o, _)| o == k) { "   (-X)" } else { "" };
        eprintln!("    {k:width$}  {v}{mark}");
    }
}

fn pace_text(p: &Pace) -> String {
    let count = p.count.map_or("until Ctrl-C".to_string(), |c| format!("{c} records"));
    let rate = match p.rate {
        None => "as fast as the broker takes them".to_string(),
        Some(r) if r <= 10.0 => {
            format!("one every {}", duration::show(Duration::try_from_secs_f64(1.0 / r).unwrap_or(Duration::MAX)))
        }
        Some(r) => format!("{r} per second"),
    };
    let dur = p.duration.map(|d| format!(", for at most {}", duration::show(d))).unwrap_or_default();
    format!("{count}, {rate}{dur}")
}

/// A progress bar on stderr fed from the delivery counters; hidden when stderr is not a
/// terminal (logs, pipes, tests). Stops when `done` is raised.
pub(crate) fn progress(
    stats_of: impl Fn() -> (u64, u64, u64) + Send + 'static,
    total: Option<u64>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(total, target);
    let template = if total.is_some() {
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} delivered, {per_sec} {msg}"
    } else {
        "{spinner} {elapsed_precise} {pos} delivered, {per_sec} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    std::thread::spawn(move || {
        loop {
            let finished = done.load(Ordering::Relaxed);
            let (sent, delivered, failed) = stats_of();
            bar.set_position(delivered);
            bar.set_message(format!("({} in flight, {failed} failed)", sent.saturating_sub(delivered + failed)));
            if finished {
                bar.finish_and_clear();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn counters(stats: &DeliveryStats) -> (u64, u64, u64) {
    (stats.sent(), stats.delivered(), stats.failed())
}

async fn run_generated(config: GenConfig) -> anyhow::Result<()> {
    let settings = config.conn.producer_settings();
    let sink = Arc::new(KafkaSink::new(&settings, &config.topic)?);
    check_sink(&sink, &config.conn).await?;
    let mut topic_note = String::new();
    if let Some(p) = config.partitions {
        let conn = config.conn.clone();
        let (admin, md) = tokio::task::spawn_blocking(move || admin(&conn)).await??;
        topic_note = match ensure_topic(&admin, &md, &config.topic, p).await? {
            Ensured::Created(n) => format!("topic      created with {n} partitions"),
            Ensured::Existing(n) => format!("topic      exists with {n} partitions"),
        };
    }
    let (mut generator, mut encoder, key) = config.kind.build(config.seed)?;
    if config.kind == GenKind::Numbers {
        // Seed 001: the schema is registered and each value carries its id.
        let subject = format!("{}-value", config.topic);
        let enc = RegistryProtoEncoder::register(
            &config.registry,
            &subject,
            "my_event.proto",
            sluice_formats::seeds::MY_EVENT_PROTO,
            sluice_formats::seeds::MY_EVENT,
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
        encoder = Box::new(enc);
    }
    let mut lines = vec![
        format!("records    {}", pace_text(&config.pace)),
        format!("encoding   {}, key = {key}", encoder.describe()),
        format!(
            "seed       {}{}",
            config.seed,
            if config.seed_given { "" } else { " (random; pass --seed to repeat this run)" }
        ),
    ];
    if !topic_note.is_empty() {
        lines.push(topic_note);
    }
    print_banner(config.kind.name(), &config.topic, &config.conn, &settings, &lines);

    let interrupt = interrupt_on_signal();
    let done = Arc::new(AtomicBool::new(false));
    let bar = {
        let sink = Arc::clone(&sink);
        progress(move || counters(sink.stats()), config.pace.count, Arc::clone(&done))
    };
    let pace = config.pace;
    let run_sink = Arc::clone(&sink);
    let outcome = tokio::task::spawn_blocking(move || {
        run_generator(&mut *generator, &mut *encoder, &run_sink, pace, &interrupt, &mut sluice_connect::civil::now_ms)
    })
    .await
    .context("the producer thread failed")?;
    done.store(true, Ordering::Relaxed);
    let _ = bar.join();
    let outcome = outcome?;
    summarize(&config.topic, outcome.produced, sink.stats(), outcome.elapsed, outcome.interrupted)
}

/// Prints the delivery summary (stdout) and fails when any record was not delivered.
pub(crate) fn summarize(
    topic: &str,
    produced: u64,
    stats: &DeliveryStats,
    elapsed: Duration,
    interrupted: bool,
) -> anyhow::Result<()> {
    let (delivered, failed) = (stats.delivered(), stats.failed());
    let secs = elapsed.as_secs_f64().max(1e-9);
    outln!(
        "{topic}: {produced} records produced in {:.2}s ({:.0}/s): {delivered} delivered, {failed} failed{}",
        elapsed.as_secs_f64(),
        delivered as f64 / secs,
        if interrupted { " (interrupted)" } else { "" }
    );
    let lost = produced.saturating_sub(delivered + failed);
    if failed > 0 || lost > 0 {
        let first = stats.first_error().unwrap_or_else(|| "no delivery report".to_string());
        bail!(
            "{} of {produced} records were not delivered to {topic}; first error: {first}",
            produced - delivered.min(produced)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> KafkaConn {
        KafkaConn::resolve(&ConnectArgs::default(), &Environment::default()).unwrap()
    }

    #[test]
    fn seed_defaults_and_overrides() {
        let env = Environment::default();
        let c = GenConfig::resolve(GenKind::UserEvents, &GenArgs::default(), conn(), &env).unwrap();
        assert_eq!((c.topic.as_str(), c.pace.count, c.pace.rate, c.partitions), ("user-events", Some(50), None, None));
        let c = GenConfig::resolve(GenKind::Numbers, &GenArgs::default(), conn(), &env).unwrap();
        assert_eq!((c.pace.count, c.pace.rate, c.partitions), (None, Some(0.2), Some(3)));
        let c = GenConfig::resolve(GenKind::People, &GenArgs::default(), conn(), &env).unwrap();
        assert_eq!((c.topic.as_str(), c.pace.count, c.pace.rate), ("a_partitioned_topic", Some(20), Some(4.0)));
        let c = GenConfig::resolve(GenKind::Views, &GenArgs::default(), conn(), &env).unwrap();
        assert_eq!((c.pace.count, c.pace.rate), (None, Some(1.0)));

        let args = GenArgs { count: Some(0), rate: Some(0.0), seed: Some(5), ..Default::default() };
        let c = GenConfig::resolve(GenKind::UserEvents, &args, conn(), &env).unwrap();
        assert_eq!((c.pace.count, c.pace.rate, c.seed), (None, None, 5));
        let args = GenArgs { interval: Some("100ms".into()), duration: Some("2s".into()), ..Default::default() };
        let c = GenConfig::resolve(GenKind::Numbers, &args, conn(), &env).unwrap();
        assert_eq!((c.pace.rate, c.pace.duration), (Some(10.0), Some(Duration::from_secs(2))));
    }

    #[test]
    fn bad_flags_are_named() {
        let env = Environment::default();
        let bad = |a: GenArgs| GenConfig::resolve(GenKind::UserEvents, &a, conn(), &env).unwrap_err().to_string();
        assert!(bad(GenArgs { rate: Some(-1.0), ..Default::default() }).contains("--rate -1"));
        assert!(bad(GenArgs { rate: Some(1e-300), ..Default::default() }).contains("slower than one a week"));
        assert!(bad(GenArgs { interval: Some("9999999h".into()), ..Default::default() }).contains("one a week"));
        assert!(bad(GenArgs { partitions: Some(0), ..Default::default() }).contains("--partitions 0"));
        assert!(bad(GenArgs { topic: Some("a b".into()), ..Default::default() }).contains("--topic \"a b\""));
        assert!(bad(GenArgs { duration: Some("x".into()), ..Default::default() }).contains("--duration \"x\""));
    }
}
