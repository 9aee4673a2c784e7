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
use crate::output::{errln, outln};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_connect::encode::Encoder;
use sluice_connect::encode::json::JsonEncoder;
use sluice_connect::encode::protobuf::ProtoEncoder;
use sluice_connect::kafka::{ClientSettings, DeliveryStats, KafkaSink};
use sluice_connect::pipeline::{Pace, run_generator};
use sluice_connect::rng::Rng;
use sluice_connect::source::generator::{Generator, Numbers, People, UserEvents, Views};
use sluice_formats::protobuf::{MessageDescriptor, ProtoSchema};
use sluice_formats::seeds;
use sluice_registry::client::RegistryClient;
use std::io::IsTerminal;
use std::path::PathBuf;
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
    /// `user-events` as fast as the broker takes them; plain protobuf unless --schema-registry
    /// is given.
    UserEvents(ProtoGenArgs),
    /// Seed 001: protobuf numbers.MyEvent(number 1-100, created_at) every 5 s, forever, to
    /// `numbers` (created with 3 partitions); the schema registered (subject numbers-value) and
    /// values in Confluent's wire format, as the seed does; --no-schema-registry for plain
    /// protobuf.
    Numbers(ProtoGenArgs),
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
}

/// Flags of the protobuf producers (`user-events`, `numbers`).
#[derive(Debug, Clone, Default, Args)]
pub struct ProtoGenArgs {
    /// Pacing, topic, seed.
    #[command(flatten)]
    pub common: GenArgs,
    /// Schema of the values: a descriptor set (FILE.desc, as `protoc --include_imports
    /// --descriptor_set_out` or `sluice schemas compile` write it) or a .proto file (compiled,
    /// imports searched in its directory) [default: the seed's schema, built in].
    #[arg(long, value_name = "FILE.desc|FILE.proto")]
    pub descriptor: Option<PathBuf>,
    /// Message to encode, by full name (e.g. protobuf.UserEvent); its fields are matched to the
    /// generated columns by name [default: the seed's message, or the only message of
    /// --descriptor].
    #[arg(long, value_name = "NAME")]
    pub message: Option<String>,
    /// Register the value schema in this schema registry under the subject TOPIC-value (as
    /// confluent-kafka's ProtobufSerializer does) and write values in Confluent's wire format.
    /// `numbers` always registers: with this URL, else SCHEMA_REGISTRY_URL (environment or
    /// ./.env), else http://127.0.0.1:8081 (where `sluice broker` serves its registry).
    #[arg(long, value_name = "URL")]
    pub schema_registry: Option<String>,
    /// Write plain protobuf, without registering (numbers registers by default).
    #[arg(long, conflicts_with = "schema_registry")]
    pub no_schema_registry: bool,
}

/// A protobuf producer's schema, resolved before anything connects.
#[derive(Debug, Clone)]
pub(crate) struct ProtoConfig {
    message: MessageDescriptor,
    /// Where the schema came from, for the banner.
    origin: String,
    /// The registry to register in and frame for, with where its URL came from.
    registry: Option<(String, String)>,
}

impl ProtoConfig {
    fn resolve(kind: GenKind, args: &ProtoGenArgs, env: &Environment) -> anyhow::Result<Self> {
        let (schema, origin) = match &args.descriptor {
            // Shown without the error's source chain: the message already includes it.
            Some(path) => (
                ProtoSchema::load(path).map_err(|e| anyhow::anyhow!("--descriptor {}: {e}", path.display()))?,
                path.display().to_string(),
            ),
            None => match kind {
                GenKind::Numbers => (
                    ProtoSchema::compile_source("my_event.proto", seeds::MY_EVENT_PROTO)?,
                    "the built-in my_event.proto".to_string(),
                ),
                _ => (
                    ProtoSchema::from_descriptor_set(seeds::USER_EVENT_DESC, "the built-in user_event.desc")?,
                    "the built-in user_event.desc".to_string(),
                ),
            },
        };
        let message = match (&args.message, &args.descriptor) {
            (Some(name), _) => schema.message(name)?,
            (None, None) => {
                schema.message(if kind == GenKind::Numbers { seeds::MY_EVENT } else { seeds::USER_EVENT })?
            }
            (None, Some(path)) => {
                let names = schema.message_names();
                match names.as_slice() {
                    [only] => schema.message(only)?,
                    _ => bail!(
                        "{} declares {} messages ({}); pick one with --message NAME",
                        path.display(),
                        names.len(),
                        names.join(", ")
                    ),
                }
            }
        };
        let registry = match (&args.schema_registry, kind) {
            _ if args.no_schema_registry => None,
            (Some(url), _) => Some((url.clone(), "--schema-registry".to_string())),
            // Seed 001 always registers its schema: the numbers job reads framed values.
            (None, GenKind::Numbers) => env
                .get("SCHEMA_REGISTRY_URL")
                .or_else(|| Some((DEFAULT_REGISTRY.to_string(), "the default".to_string()))),
            (None, _) => None,
        };
        if let Some((url, origin)) = &registry
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!(
                "schema registry URL {url:?} (from {origin}) is not http://HOST:PORT; write e.g. http://127.0.0.1:8081"
            );
        }
        Ok(ProtoConfig { message, origin, registry })
    }
}

/// Where `numbers` registers its schema when neither --schema-registry nor SCHEMA_REGISTRY_URL
/// says: the registry `sluice broker` serves by default.
const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8081";

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

    /// The generator and its encoder; protobuf producers get `proto`'s message, framed for
    /// the registry when `framing` (schema id, subject) is given.
    fn build(self, seed: u64, proto: Option<&ProtoConfig>, framing: Option<(u32, &str)>) -> anyhow::Result<Parts> {
        let protobuf = |generator: &dyn Generator| -> anyhow::Result<Box<dyn Encoder>> {
            let Some(p) = proto else { bail!("the {} producer needs a protobuf schema", self.name()) };
            let enc = ProtoEncoder::new(generator.schema(), &p.message, &p.origin)?;
            Ok(Box::new(match framing {
                Some((id, subject)) => enc.with_confluent_framing(id, subject),
                None => enc,
            }))
        };
        Ok(match self {
            GenKind::UserEvents => {
                let g = UserEvents::new(seed);
                let enc = protobuf(&g)?;
                (Box::new(g), enc, "userId")
            }
            GenKind::Numbers => {
                let g = Numbers::new(seed);
                let enc = protobuf(&g)?;
                (Box::new(g), enc, "none")
            }
            GenKind::People => (Box::new(People::new(seed)), Box::new(JsonEncoder::new(People::schema())), "none"),
            GenKind::Views => (Box::new(Views::new(seed)), Box::new(JsonEncoder::new(Views::schema())), "none"),
        })
    }
}

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
    proto: Option<ProtoConfig>,
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
        Ok(GenConfig {
            kind,
            topic,
            pace: Pace { count, duration, rate },
            seed: args.seed.unwrap_or_else(Rng::entropy_seed),
            seed_given,
            partitions: args.partitions.or(d.partitions),
            conn,
            proto: None,
        })
    }

    /// [`resolve`](Self::resolve) for a protobuf producer: the schema is loaded and the message
    /// found now, so a bad --descriptor or --message fails before anything connects.
    pub(crate) fn resolve_proto(
        kind: GenKind,
        args: &ProtoGenArgs,
        conn: KafkaConn,
        env: &Environment,
    ) -> anyhow::Result<Self> {
        let mut c = Self::resolve(kind, &args.common, conn, env)?;
        c.proto = Some(ProtoConfig::resolve(kind, args, env)?);
        Ok(c)
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
    let config = match args.what {
        ProduceWhat::UserEvents(p) => GenConfig::resolve_proto(GenKind::UserEvents, &p, conn, &env)?,
        ProduceWhat::Numbers(p) => GenConfig::resolve_proto(GenKind::Numbers, &p, conn, &env)?,
        ProduceWhat::People(g) => GenConfig::resolve(GenKind::People, &g, conn, &env)?,
        ProduceWhat::Views(g) => GenConfig::resolve(GenKind::Views, &g, conn, &env)?,
        ProduceWhat::Csv(c) => return csv::run(c, conn).await,
        ProduceWhat::Lines(l) => return lines::run(l, conn).await,
    };
    run_generated(config).await
}

/// Prints where records go and the producer settings (stderr).
pub(crate) fn print_banner(what: &str, topic: &str, conn: &KafkaConn, settings: &ClientSettings, lines: &[String]) {
    errln!("sluice produce {what} → topic {topic} at {}", conn.describe());
    for l in lines {
        errln!("  {l}");
    }
    errln!("  producer settings (seed defaults; -X key=value overrides):");
    let width = settings.entries().iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in settings.entries().iter().filter(|(k, _)| k != "bootstrap.servers") {
        let mark = if conn.overrides.iter().any(|(o, _)| o == k) { "   (-X)" } else { "" };
        errln!("    {k:width$}  {v}{mark}");
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
    // TopicNameStrategy, as confluent-kafka's serializer: the value schema's subject is
    // TOPIC-value. Imports are registered as their own subjects, well-known types not at all.
    let subject = format!("{}-value", config.topic);
    let mut framing = None;
    if let Some(ProtoConfig { message, registry: Some((url, origin)), .. }) = &config.proto {
        let schema = ProtoSchema::from_pool(message.parent_pool().clone());
        let file = message.parent_file().name().to_string();
        let id = RegistryClient::new(url).register_proto_file(&subject, &schema, &file).await.with_context(|| {
            format!(
                "cannot register {} (file {file}) under subject {subject} at {url} (from {origin}); \
                 start a registry there (`sluice broker` serves one on 127.0.0.1:8081), pass \
                 --schema-registry URL, or --no-schema-registry for plain protobuf",
                message.full_name()
            )
        })?;
        framing = Some((id, subject.as_str()));
    }
    let (mut generator, mut encoder, key) = config.kind.build(config.seed, config.proto.as_ref(), framing)?;
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
    if let Some(ProtoConfig { registry: Some((url, origin)), .. }) = &config.proto {
        lines.push(format!("registry   {url} (from {origin})"));
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
