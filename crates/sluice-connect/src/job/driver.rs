//! The driver: builds a job's parts, recovers from its checkpoints, then runs the event loop
//! (source batches, engine ticks, checkpoints) until it is told to stop.
//!
//! The engine (pipeline and decoder) is CPU work, and each batch is processed where the
//! reactor does not wait for it: inline under `block_on` (how `sluice run` drives a job: no
//! other task runs on that thread), or, on a runtime worker (the demo's jobs), with
//! `block_in_place`, which hands the worker's other tasks to another thread first. Moving the
//! engine to the blocking pool and back for every batch cost two thread hand-offs per batch
//! (the user-events job: 0.377 against 0.352 CPU s, 1,227 against 663 voluntary context
//! switches); a current-thread runtime (some tests) still does that. The source polls on its
//! own thread and fills a small channel meanwhile; when the engine falls behind, the channel
//! fills and the source waits.

use super::checkpoint::{CheckpointStore, State, StoredCheckpoint};
use super::decode::Decoder;
use super::engine::{Engine, Merge};
use super::kafka_sink::{KafkaDeadLetterSink, KafkaResultSink, TxnProducer};
use super::scale;
use super::source::{EPOCH_METADATA, KafkaSource, RawBatch, SourceConfig, SourceEvent, offsets_tpl};
use super::status::{JobStatus, Phase};
use super::tables::load_table;
use super::{JobError, group_of};
use crate::kafka::ClientSettings;
use crate::sink::console::ConsoleOut;
use crate::sink::storage::S3Options;
use crate::sink::{DeadLetterSink, Sink, SinkContext, build_dead_letter_sink, build_sink};
use sluice_stream::plan::SinkKind;
use sluice_stream::{CheckpointError, DeadLetter, JobPlan, Output, Pipeline, RestoreError, ShuffleRecord, Tables};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::watch;
use tokio::time::Instant;

/// What the job does when it has read everything there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndOfInput {
    /// Keep waiting for records (a streaming job).
    #[default]
    Never,
    /// Stop once every partition is read to its end: processing-time triggers fire once more,
    /// then the final checkpoint (Spark's `Trigger.AvailableNow`). State is kept; a later run
    /// continues where this one stopped.
    AvailableNow,
    /// As `AvailableNow`, but the input counts as ended: every window closes and every query
    /// emits its final results (a bounded run, e.g. a backfill or a test).
    Finish,
}

/// Everything a job needs besides its plan's own settings.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// The plan.
    pub plan: JobPlan,
    /// The job file, for messages.
    pub job_file: String,
    /// Kafka client settings: `bootstrap.servers` and `-X` overrides (for the consumer and
    /// the producer).
    pub kafka: ClientSettings,
    /// The schema registry of `kind = "registry"` sources without their own `url`.
    pub registry_url: Option<String>,
    /// Where relative paths of the job file start (tables, protobuf files, sinks, checkpoints);
    /// `None`: the working directory.
    pub base_dir: Option<PathBuf>,
    /// Instance number (`--instance-id`): names the transactional id, the static group
    /// membership and, above 0, the checkpoint directory and output files.
    pub instance: u32,
    /// Several instances may run the job (`--instance-id` given): a job with aggregates runs
    /// as a shuffle and a merge stage over `<job>-repartition` (see [`sluice_stream::shuffle`]).
    pub scale_out: bool,
    /// S3 settings for `s3://` sinks and checkpoints.
    pub s3: S3Options,
    /// Where console sinks print.
    pub console: ConsoleOut,
    /// Console banners name the job and query, not only the batch (`sluice demo`, where five
    /// jobs print to one terminal).
    pub console_heading: bool,
    /// What to do at the end of the input.
    pub end: EndOfInput,
    /// Most records handed to the engine at once.
    pub max_batch: usize,
    /// Most time the source waits to fill a batch.
    pub batch_linger: Duration,
    /// How long to wait for the broker at start.
    pub broker_wait: Duration,
    /// Keep waiting for the broker while every broker is down (`--wait-for-broker`).
    pub patient: bool,
    /// How long a registry source waits for its subject's schema to be registered.
    pub schema_wait: Duration,
    /// When told to stop, treat the input as ended: close every window and emit every query's
    /// final results before the final checkpoint (`sluice demo`, whose input ends with it).
    pub flush_on_stop: bool,
}

impl JobConfig {
    /// Defaults for a plan read from `job_file`, reading from `bootstrap`.
    pub fn new(plan: JobPlan, job_file: &str, bootstrap: &str) -> JobConfig {
        JobConfig {
            plan,
            job_file: job_file.to_string(),
            kafka: ClientSettings::new(bootstrap),
            registry_url: None,
            base_dir: None,
            instance: 0,
            scale_out: false,
            s3: S3Options::from_env(),
            console: ConsoleOut::Stdout,
            console_heading: false,
            end: EndOfInput::Never,
            // 40,000 and 5,000 were both slower (bench/stream/README.md, Run 21).
            max_batch: 10_000,
            batch_linger: Duration::from_millis(5),
            broker_wait: Duration::from_secs(5),
            patient: false,
            schema_wait: Duration::from_secs(30),
            flush_on_stop: false,
        }
    }

    /// `sluice-<job>-<instance>`: transactional id and `group.instance.id`.
    pub fn instance_name(&self) -> String {
        format!("sluice-{}-{}", self.plan.name, self.instance)
    }

    /// Whether the job runs as a shuffle and a merge stage: several instances may run it
    /// (`scale_out`) and it has aggregates.
    pub fn runs_in_stages(&self) -> bool {
        self.scale_out
            && self
                .plan
                .queries
                .iter()
                .any(|q| q.ops.iter().any(|o| matches!(o, sluice_stream::plan::Operation::Aggregate(_))))
    }

    /// `[checkpoint] location`, else `checkpoints/<job>`, without a trailing `/`.
    pub fn checkpoint_base(&self) -> String {
        let base = self.plan.checkpoint.location.clone().unwrap_or_else(|| format!("checkpoints/{}", self.plan.name));
        base.trim_end_matches('/').to_string()
    }

    /// The checkpoint location: [`JobConfig::checkpoint_base`]; instances above 0 keep theirs in
    /// `instance-<n>/` below it.
    pub fn checkpoint_location(&self) -> String {
        let base = self.checkpoint_base();
        if self.instance == 0 { base } else { format!("{base}/instance-{}", self.instance) }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The checkpoint the run resumed from.
    pub resumed_from: Option<u64>,
    /// The last checkpoint committed.
    pub last_epoch: Option<u64>,
    /// Records read (over every run of the job: kept in checkpoints).
    pub records_in: u64,
    /// Result rows written by this run.
    pub rows_out: u64,
    /// Dead letters written by this run.
    pub dead_letters: u64,
}

/// A job, ready to run.
#[derive(Debug)]
pub struct Job {
    config: JobConfig,
    status: Arc<JobStatus>,
}

struct QuerySinks {
    files: Vec<Box<dyn Sink>>,
    kafka: Vec<KafkaResultSink>,
}

enum DeadLetterOut {
    Log { logged: u64 },
    File(Box<dyn DeadLetterSink>),
    Kafka(KafkaDeadLetterSink),
}

/// Which part of its job a runtime runs.
#[derive(Debug, Clone)]
enum Stage {
    /// The whole job.
    Single,
    /// First stage of a scaled-out job: aggregate inputs to the repartition topic.
    Shuffle { topic: String, partitions: u32 },
    /// Second stage: the aggregates, one pipeline per owned repartition partition.
    /// `shuffle_done` turns true when this process's shuffle stage has ended.
    Merge { source_partitions: Vec<i32>, shuffle_done: watch::Receiver<bool> },
}

struct Runtime {
    config: JobConfig,
    stage: Stage,
    status: Arc<JobStatus>,
    engine: Option<Engine>,
    /// Shuffle stage: the marks sent last, per source partition.
    marks_sent: std::collections::BTreeMap<i32, i64>,
    /// Shuffle stage: source partitions read to their end in a bounded run (`--finish`):
    /// their next marks are end marks.
    ended: std::collections::BTreeSet<i32>,
    /// The source has read everything there is (until the next records).
    caught_up: bool,
    sinks: Vec<QuerySinks>,
    dead_letter: DeadLetterOut,
    producer: Option<TxnProducer>,
    source: KafkaSource,
    store: CheckpointStore,
    epoch: u64,
    resumed_from: Option<u64>,
    last_epoch: Option<u64>,
    rows_out: u64,
    dead_letters: u64,
    /// When the first output of the current epoch was handed to a sink (`None`: none yet);
    /// with `[checkpoint] publish_within`, the next checkpoint is due that long after it.
    unpublished_since: Option<Instant>,
    /// The source partitions last named as holding the watermark back (warned once per set).
    held_back: Vec<i32>,
}

/// How long a partition may be silent, behind the others, before the log says that it keeps
/// the windows open (jobs without `[source] idle_timeout`).
const SILENT_WARN_MS: i64 = 10_000;

fn now_ms() -> i64 {
    crate::civil::now_ms()
}

impl Job {
    /// A job to run with `config`.
    pub fn new(config: JobConfig) -> Job {
        Job { config, status: Arc::new(JobStatus::default()) }
    }

    /// Its counters, readable while it runs.
    pub fn status(&self) -> Arc<JobStatus> {
        self.status.clone()
    }

    /// Runs until `stop` resolves (then writes a final checkpoint), until the end of the
    /// input if `config.end` says so, or until an error.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<JobSummary, JobError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let watcher = tokio::spawn(async move {
            stop.await;
            let _ = stop_tx.send(true);
        });
        let result = run_job(self.config, self.status.clone(), stop_rx).await;
        watcher.abort();
        self.status.update(|s| s.phase = Phase::Stopped);
        result
    }
}

async fn run_job(
    config: JobConfig,
    status: Arc<JobStatus>,
    stop: watch::Receiver<bool>,
) -> Result<JobSummary, JobError> {
    let aggregates = config
        .plan
        .queries
        .iter()
        .any(|q| q.ops.iter().any(|o| matches!(o, sluice_stream::plan::Operation::Aggregate(_))));
    if !(config.scale_out && aggregates) {
        return run_stage(config, status, stop, Stage::Single).await;
    }
    let layout = scale::prepare(&config).await?;
    tracing::info!(
        job = %config.plan.name,
        "scale-out: {} source partitions, aggregates merged over {} ({} partitions)",
        layout.source_partitions.len(),
        layout.topic,
        layout.partitions
    );
    let (done_tx, done_rx) = watch::channel(false);
    // The shuffle stage stops when told to, or (a bounded run) once the merge stage is done.
    let (merge_done_tx, merge_done_rx) = watch::channel(false);
    let shuffle_stop = {
        let (tx, rx) = watch::channel(false);
        let (mut outer, mut merged) = (stop.clone(), merge_done_rx);
        tokio::spawn(async move {
            tokio::select! {
                _ = stopped(&mut outer) => {}
                _ = stopped(&mut merged) => {}
            }
            let _ = tx.send(true);
        });
        rx
    };
    let shuffle = {
        let (config, status, stop) = (config.clone(), status.clone(), shuffle_stop);
        let stage = Stage::Shuffle { topic: layout.topic.clone(), partitions: layout.partitions };
        async move {
            let r = run_stage(config, status, stop, stage).await;
            let _ = done_tx.send(true);
            r
        }
    };
    let merge_status = Arc::new(JobStatus::default());
    let merge = async move {
        let r = run_stage(
            config,
            merge_status,
            stop,
            Stage::Merge { source_partitions: layout.source_partitions, shuffle_done: done_rx },
        )
        .await;
        let _ = merge_done_tx.send(true);
        r
    };
    let (a, b) = tokio::try_join!(shuffle, merge)?;
    Ok(JobSummary {
        resumed_from: a.resumed_from,
        last_epoch: a.last_epoch,
        records_in: a.records_in,
        rows_out: a.rows_out + b.rows_out,
        dead_letters: a.dead_letters + b.dead_letters,
    })
}

async fn run_stage(
    config: JobConfig,
    status: Arc<JobStatus>,
    mut stop: watch::Receiver<bool>,
    stage: Stage,
) -> Result<JobSummary, JobError> {
    let mut rt = tokio::select! {
        rt = Runtime::start(config, status, stage) => rt?,
        _ = stopped(&mut stop) => {
            return Ok(JobSummary { resumed_from: None, last_epoch: None, records_in: 0, rows_out: 0, dead_letters: 0 });
        }
    };
    let outcome = rt.event_loop(&mut stop).await;
    match outcome {
        Ok(()) => {
            rt.status.update(|s| s.phase = Phase::Stopping);
            let stopped = *stop.borrow();
            let flushed = if rt.config.flush_on_stop && stopped { rt.flush().await } else { Ok(()) };
            let done = match flushed {
                Ok(()) => rt.checkpoint().await,
                Err(e) => Err(e),
            };
            let summary = rt.summary();
            rt.source.stop().await;
            done.map(|()| summary)
        }
        Err(e) => {
            rt.source.stop().await;
            Err(e)
        }
    }
}

impl Runtime {
    async fn start(config: JobConfig, status: Arc<JobStatus>, stage: Stage) -> Result<Runtime, JobError> {
        let plan = &config.plan;
        let file = config.job_file.as_str();
        let base = config.base_dir.as_deref();

        // The broker first: a missing broker is the most common mistake.
        let (settings, wait, patient) = (config.kafka.clone(), config.broker_wait, config.patient);
        tokio::task::spawn_blocking(move || crate::kafka::probe_broker(&settings, wait, patient))
            .await
            .map_err(|e| JobError::internal(format!("the broker check failed: {e}")))?
            .map_err(|error| JobError::NoBroker { what: format!("job {} ({file})", plan.name), error })?;

        let mut decoder = Decoder::build(
            &plan.source.format,
            &plan.source.topic,
            file,
            base,
            config.registry_url.as_deref(),
            config.schema_wait,
        )
        .await?;
        let mut tables = Tables::new();
        for (i, t) in plan.tables.iter().enumerate() {
            tables.insert(t.name.clone(), load_table(t, i, file, base)?);
        }
        let input = decoder.input_schema().clone();
        let template = Pipeline::new(plan, input.clone(), &tables).map_err(|e| JobError::Plan(e.to_string()))?;
        let runs_here = |qi: usize| match &stage {
            Stage::Single => true,
            Stage::Shuffle { .. } => !template.query_has_aggregate(qi),
            Stage::Merge { .. } => template.query_has_aggregate(qi),
        };

        // Sinks.
        let instance_tag = match &stage {
            Stage::Single => (config.instance > 0).then(|| format!("i{}", config.instance)),
            Stage::Shuffle { .. } => Some(format!("i{}", config.instance)),
            Stage::Merge { .. } => Some(format!("m{}", config.instance)),
        };
        let mut sinks = Vec::new();
        for (qi, q) in plan.queries.iter().enumerate() {
            let schema = template.result_schema(qi).cloned().unwrap_or_default();
            let mut qs = QuerySinks { files: Vec::new(), kafka: Vec::new() };
            for s in q.sinks.iter().filter(|_| runs_here(qi)) {
                if s.kind == SinkKind::Kafka {
                    qs.kafka.push(KafkaResultSink::new(s, &q.name, &schema, file, base)?);
                } else {
                    let ctx = SinkContext {
                        job: plan.name.clone(),
                        query: q.name.clone(),
                        schema: schema.clone(),
                        base_dir: config.base_dir.clone(),
                        s3: config.s3.clone(),
                        instance: instance_tag.clone(),
                        console: config.console.clone(),
                        console_heading: config.console_heading,
                    };
                    qs.files.push(build_sink(s, &ctx)?);
                }
            }
            sinks.push(qs);
        }
        let mut dead_letter = match &plan.dead_letter {
            None => DeadLetterOut::Log { logged: 0 },
            Some(d) if d.kind == SinkKind::Kafka => {
                DeadLetterOut::Kafka(KafkaDeadLetterSink::new(d, &plan.source.topic, &input, file)?)
            }
            Some(d) => {
                let ctx = SinkContext {
                    job: plan.name.clone(),
                    query: String::new(),
                    schema: input.clone(),
                    base_dir: config.base_dir.clone(),
                    s3: config.s3.clone(),
                    instance: instance_tag.clone(),
                    console: config.console.clone(),
                    console_heading: config.console_heading,
                };
                DeadLetterOut::File(build_dead_letter_sink(d, &ctx, &plan.source.topic)?)
            }
        };
        let kafka_out = matches!(stage, Stage::Shuffle { .. })
            || sinks.iter().any(|q| !q.kafka.is_empty())
            || matches!(dead_letter, DeadLetterOut::Kafka(_));

        let location = match &stage {
            Stage::Single => config.checkpoint_location(),
            Stage::Shuffle { .. } => scale::stage_location(&config, "shuffle"),
            Stage::Merge { .. } => scale::stage_location(&config, "merge"),
        };
        let store = CheckpointStore::open(&location, base, &config.s3)?;
        let interval = Duration::from_millis(plan.checkpoint.interval_ms.max(1) as u64);
        let (source_topic, group, member) = match &stage {
            Stage::Merge { .. } => (
                scale::repartition_topic(plan),
                format!("{}-merge", group_of(plan)),
                format!("{}-merge", config.instance_name()),
            ),
            _ => (plan.source.topic.clone(), group_of(plan), config.instance_name()),
        };
        // The producer before recovery: initializing its transactions aborts whatever the
        // previous incarnation left open, so the group's offsets are final when read below.
        let producer =
            if kafka_out { Some(TxnProducer::create(&config.kafka, &member, interval).await?) } else { None };
        let source = KafkaSource::create(SourceConfig {
            topic: source_topic,
            group,
            instance_id: member,
            settings: config.kafka.clone(),
            starting: plan.source.starting_offsets,
            max_records: config.max_batch.max(1),
            linger: config.batch_linger,
        })?;

        let restored = recover(&store, &source, false).await?;
        if restored.is_none() && matches!(stage, Stage::Single) && !config.scale_out {
            source.start_fresh();
        }
        let resumed_from = restored.as_ref().map(|c| c.epoch);
        for qs in &mut sinks {
            for s in &mut qs.files {
                let r = s.recover(resumed_from).await?;
                log_recovery(s.describe(), &r);
            }
        }
        if let DeadLetterOut::File(d) = &mut dead_letter {
            let r = d.recover(resumed_from).await?;
            log_recovery(d.describe(), &r);
        }
        let engine = match &stage {
            Stage::Merge { source_partitions, .. } => Engine::Merge(Merge {
                parts: Default::default(),
                stores: Default::default(),
                plan: plan.clone(),
                input,
                tables,
                source_partitions: source_partitions.clone(),
            }),
            _ => {
                let mut pipeline = match &restored {
                    None => template,
                    Some(stored) => {
                        let cp = stored.checkpoint().map_err(|e| JobError::Checkpoint {
                            location: store.location(),
                            message: format!("epoch {}: {e}", stored.epoch),
                            fix: e.fix().into(),
                        })?;
                        let p = Pipeline::restore(plan, input, &tables, &cp).map_err(|e| JobError::Checkpoint {
                            location: store.location(),
                            message: format!("epoch {}: {e}", stored.epoch),
                            fix: e.fix().into(),
                        })?;
                        tracing::info!(
                            job = %plan.name,
                            "resuming from checkpoint {} at {} (offsets {:?})",
                            stored.epoch,
                            store.location(),
                            cp.offsets
                        );
                        p
                    }
                };
                if let Stage::Shuffle { partitions, .. } = &stage {
                    pipeline.shuffle_to(*partitions);
                }
                decoder.read_only(&pipeline.columns_read());
                Engine::One { pipeline, decoder, records: Vec::new() }
            }
        };
        store.prune().await?;
        let epoch = resumed_from.unwrap_or(0) + 1;
        let (records, errors) = engine.counts();
        status.update(|s| {
            s.epoch = epoch;
            s.records_in = records + errors;
            s.watermark = engine.watermark();
        });
        let mut source = source;
        source.start(&engine.offsets())?;
        status.update(|s| s.phase = Phase::Running);
        Ok(Runtime {
            config,
            stage,
            status,
            engine: Some(engine),
            marks_sent: Default::default(),
            ended: Default::default(),
            caught_up: false,
            sinks,
            dead_letter,
            producer,
            source,
            store,
            epoch,
            resumed_from,
            last_epoch: resumed_from,
            rows_out: 0,
            dead_letters: 0,
            unpublished_since: None,
            held_back: Vec::new(),
        })
    }

    fn summary(&self) -> JobSummary {
        let records_in = self.engine.as_ref().map_or(0, |e| {
            let (r, d) = e.counts();
            r + d
        });
        JobSummary {
            resumed_from: self.resumed_from,
            last_epoch: self.last_epoch,
            records_in,
            rows_out: self.rows_out,
            dead_letters: self.dead_letters,
        }
    }

    /// Ends the input: every window closes, every query emits its final results.
    async fn flush(&mut self) -> Result<(), JobError> {
        let out = self.engine()?.finish(now_ms());
        if let Some(Engine::One { pipeline, .. }) = &self.engine {
            self.ended.extend(pipeline.source_partitions());
        }
        self.write_outputs(out).await
    }

    fn engine(&mut self) -> Result<&mut Engine, JobError> {
        self.engine.as_mut().ok_or_else(|| JobError::internal("the engine was lost by a failed batch"))
    }

    /// Whether a run with an end (`--available-now`, `--finish`) is done now. In the merge
    /// stage of a scaled-out job: this process's shuffle stage has ended, everything there is
    /// has been read, and (with `--finish`) every owned partition has every end mark.
    ///
    /// With `--finish`, a scaled-out job ends by end marks: the shuffle stage sends them for the
    /// partitions it has read to their end and keeps its place in the group (partitions of a
    /// stopped instance may still come its way) until the merge stage has every end mark on
    /// the partitions it owns; then the merge stage ends, and the shuffle stage after it.
    fn at_end(&self) -> bool {
        let finish = self.config.end == EndOfInput::Finish;
        match &self.stage {
            Stage::Merge { shuffle_done, .. } => {
                let owns = self.engine.as_ref().is_some_and(Engine::owns_partitions);
                if finish {
                    self.caught_up && owns && self.engine.as_ref().is_some_and(Engine::input_ended)
                } else {
                    self.caught_up && *shuffle_done.borrow()
                }
            }
            Stage::Shuffle { .. } if finish => false,
            _ => self.caught_up,
        }
    }

    async fn event_loop(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), JobError> {
        let Some(mut events) = self.source.events() else {
            return Err(JobError::internal("the source's events were taken twice"));
        };
        let interval = Duration::from_millis(self.config.plan.checkpoint.interval_ms.max(1) as u64);
        let mut next_checkpoint = Instant::now() + interval;
        let publish_within =
            self.config.plan.checkpoint.publish_within_ms.map(|ms| Duration::from_millis(ms.max(1) as u64));
        let stop_view = stop.clone();
        // The merge stage looks for its end now and then: its shuffle stage may end, or its
        // last end marks arrive, without another source event.
        let polls_end = matches!(self.stage, Stage::Merge { .. }) && self.config.end != EndOfInput::Never;
        let mut end_poll = tokio::time::interval(Duration::from_millis(200));
        loop {
            // Output waits for the checkpoint that publishes it: at most `publish_within`.
            let checkpoint_at = match (publish_within, self.unpublished_since) {
                (Some(within), Some(since)) => next_checkpoint.min(since + within),
                _ => next_checkpoint,
            };
            let tick = self.engine()?.poll_timeout().map(|t| {
                let wait = t.saturating_sub(now_ms()).clamp(0, 3_600_000) as u64;
                Instant::now() + Duration::from_millis(wait)
            });
            let tick_at = tick.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = stopped(&mut *stop) => return Ok(()),
                _ = tokio::time::sleep_until(checkpoint_at) => {
                    self.checkpoint().await?;
                    next_checkpoint = Instant::now() + interval;
                    self.warn_if_held_back();
                }
                event = events.recv() => match event {
                    None => return Err(JobError::internal("the source thread stopped")),
                    Some(SourceEvent::Records(batch)) => {
                        self.caught_up = false;
                        self.process(batch, stop_view.clone()).await?;
                    }
                    Some(SourceEvent::Assigned(parts)) => {
                        match self.engine()? {
                            Engine::One { pipeline, .. } => pipeline.assign_partitions(&parts, now_ms()),
                            Engine::Merge(_) => self.adopt(&parts).await?,
                        }
                        self.status.update(|s| s.partitions = parts);
                    }
                    Some(SourceEvent::Revoked(parts, ack)) => {
                        // Hand the partitions over at a checkpoint: the output of everything
                        // read from them is published and their offsets are committed to the
                        // group before the next owner reads them (it starts at the group's
                        // offsets). Then forget them, so later checkpoints do not commit stale
                        // offsets over the next owner's (nor, in the merge stage, write state
                        // the next owner restores).
                        let done = self.checkpoint().await;
                        if done.is_ok() {
                            self.engine()?.release(&parts);
                        }
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                        done?;
                        self.status.update(|s| s.partitions.retain(|p| !parts.contains(p)));
                    }
                    Some(SourceEvent::CaughtUp) => {
                        self.status.update(|s| s.caught_up = true);
                        self.caught_up = true;
                        if matches!(self.stage, Stage::Shuffle { .. }) && self.config.end == EndOfInput::Finish {
                            // End marks for what this instance has read to the end, at once.
                            if let Some(Engine::One { pipeline, .. }) = &self.engine {
                                self.ended.extend(pipeline.source_partitions());
                            }
                            self.checkpoint().await?;
                        }
                        if self.end_of_input().await? {
                            return Ok(());
                        }
                    }
                    Some(SourceEvent::Fatal(m)) => {
                        return Err(JobError::Kafka {
                            what: format!("the source of job {}", self.config.plan.name),
                            message: m,
                            fix: "check the topic and the broker; the job resumes from its last checkpoint".into(),
                        });
                    }
                },
                _ = end_poll.tick(), if polls_end => {
                    if self.end_of_input().await? {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep_until(tick_at), if tick.is_some() => {
                    let out = self.engine()?.tick(now_ms());
                    self.write_outputs(out).await?;
                    self.refresh_status();
                }
            }
        }
    }

    /// At the end of the input of a run with an end, the last results; true when the run is
    /// over.
    async fn end_of_input(&mut self) -> Result<bool, JobError> {
        if self.config.end == EndOfInput::Never || !self.at_end() {
            return Ok(false);
        }
        let now = now_ms();
        let out = match self.config.end {
            EndOfInput::Never => return Ok(false),
            EndOfInput::AvailableNow => self.engine()?.fire_triggers(now),
            EndOfInput::Finish => self.engine()?.finish(now),
        };
        self.write_outputs(out).await?;
        Ok(true)
    }

    /// Merge stage: the group gave this instance these repartition partitions. Each one new
    /// here is restored from its newest committed checkpoint in the shared location (the
    /// previous owner's), or starts empty.
    async fn adopt(&mut self, parts: &[i32]) -> Result<(), JobError> {
        let Some(Engine::Merge(m)) = self.engine.as_ref() else { return Ok(()) };
        let new: Vec<i32> = parts.iter().copied().filter(|p| !m.parts.contains_key(p)).collect();
        let gone: Vec<i32> = m.parts.keys().copied().filter(|p| !parts.contains(p)).collect();
        let (plan, input, tables, sources) =
            (m.plan.clone(), m.input.clone(), m.tables.clone(), m.source_partitions.clone());
        self.engine()?.release(&gone);
        let now = now_ms();
        let mut adopted = Vec::new();
        let mut newest = 0;
        for p in new {
            let location = scale::partition_location(&self.config, p);
            let store = CheckpointStore::open(&location, self.config.base_dir.as_deref(), &self.config.s3)?;
            let restored = recover(&store, &self.source, true).await?;
            let pipeline = match &restored {
                None => Pipeline::new_merge(&plan, input.clone(), &tables, &sources, now)
                    .map_err(|e| JobError::Plan(e.to_string()))?,
                Some(stored) => {
                    newest = newest.max(stored.epoch);
                    // The partition's state may come from another instance: a plan that does not
                    // fit it means the instances run different job files.
                    let fail = |message: String, fix: &str| JobError::Checkpoint {
                        location: store.location(),
                        message,
                        fix: fix.to_string(),
                    };
                    let cp = stored.checkpoint().map_err(|e| fail(format!("epoch {}: {e}", stored.epoch), e.fix()))?;
                    tracing::info!(
                        job = %plan.name,
                        "repartition partition {p}: resuming from checkpoint {} at {} (offset {:?})",
                        stored.epoch,
                        store.location(),
                        cp.offsets.get(&p)
                    );
                    Pipeline::restore_merge(&plan, input.clone(), &tables, &sources, now, &cp).map_err(|e| {
                        let fix = match &e {
                            RestoreError::Checkpoint(CheckpointError::PlanChanged { .. }) | RestoreError::Build(_) => {
                                "run the same job file on every instance, or start the job with a new [checkpoint] \
                                 location"
                            }
                            _ => e.fix(),
                        };
                        fail(format!("epoch {}: {e}", stored.epoch), fix)
                    })?
                }
            };
            store.prune().await?;
            adopted.push((p, pipeline, store));
        }
        // A partition's checkpoints are numbered on, whoever owns it: this instance's next
        // epoch must come after every adopted one's. Publish what is pending first.
        if newest >= self.epoch {
            self.checkpoint().await?;
            self.epoch = self.epoch.max(newest + 1);
            self.status.update(|s| s.epoch = self.epoch);
        }
        if let Some(Engine::Merge(m)) = self.engine.as_mut() {
            for (p, pipeline, store) in adopted {
                m.parts.insert(p, pipeline);
                m.stores.insert(p, store);
            }
        }
        Ok(())
    }

    async fn process(&mut self, batch: RawBatch, stop: watch::Receiver<bool>) -> Result<(), JobError> {
        let stopping = move || *stop.borrow();
        if let Some(decoder) = self.engine()?.decoder() {
            decoder.prepare(&batch, &stopping).await?;
        }
        let mut engine = self.engine.take().ok_or_else(|| JobError::internal("the engine is missing"))?;
        let now = now_ms();
        // A panic ends the job with this error; the engine it left half-way is dropped.
        let failed = |why: String| JobError::internal(format!("the engine failed on a batch: {why}"));
        let (engine, outputs) = if Handle::current().runtime_flavor() == RuntimeFlavor::CurrentThread {
            tokio::task::spawn_blocking(move || {
                let out = engine.process(&batch, now);
                (engine, out)
            })
            .await
            .map_err(|e| failed(e.to_string()))?
        } else {
            let out = tokio::task::block_in_place(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.process(&batch, now)))
            })
            .map_err(|p| failed(panic_text(&*p)))?;
            (engine, out)
        };
        self.engine = Some(engine);
        self.write_outputs(outputs).await?;
        self.refresh_status();
        Ok(())
    }

    /// Without `[source] idle_timeout`, a source partition that delivers nothing keeps every
    /// window open (the watermark is the least over the partitions): say so once, with the
    /// fix, when partitions have been silent for a while behind the others.
    fn warn_if_held_back(&mut self) {
        if matches!(self.stage, Stage::Shuffle { .. }) || self.config.plan.source.idle_timeout_ms.is_some() {
            return;
        }
        let Some(e) = &self.engine else { return };
        let held = e.held_back_by(now_ms(), SILENT_WARN_MS);
        if held.is_empty() || held == self.held_back {
            self.held_back = held;
            return;
        }
        tracing::warn!(
            job = %self.config.plan.name,
            "the watermark is held back by partition(s) {held:?} of topic {}: nothing new from them for {} s while \
             other partitions moved on (no new records, or no instance reading them), so windows stay open until \
             they deliver; if a partition may stay silent, set idle_timeout in [source] \
             (e.g. idle_timeout = \"30 seconds\") to let it go",
            self.config.plan.source.topic,
            SILENT_WARN_MS / 1000
        );
        self.held_back = held;
    }

    fn refresh_status(&self) {
        let Some(e) = &self.engine else { return };
        let (records, errors) = e.counts();
        let lag = self.source.lag(&e.offsets());
        let wm = e.watermark();
        let (rows, dls) = (self.rows_out, self.dead_letters);
        self.status.update(|s| {
            s.records_in = records + errors;
            s.decode_errors = errors;
            s.dead_letters = dls;
            s.rows_out = rows;
            s.watermark = wm;
            s.lag = lag;
            if lag.is_some_and(|l| l > 0) {
                s.caught_up = false;
            }
        });
    }

    async fn write_outputs(&mut self, outputs: Vec<Output>) -> Result<(), JobError> {
        let mut letters: Vec<DeadLetter> = Vec::new();
        let mut buf = Vec::new();
        for o in outputs {
            match o {
                Output::Results(batch) => {
                    self.rows_out += batch.rows.len() as u64;
                    if !batch.rows.is_empty() {
                        self.unpublished_since.get_or_insert_with(Instant::now);
                    }
                    let Some(qs) = self.sinks.get_mut(batch.query) else { continue };
                    for k in &qs.kafka {
                        let producer = self
                            .producer
                            .as_mut()
                            .ok_or_else(|| JobError::internal("a Kafka sink without a producer"))?;
                        k.write(producer, &batch).await?;
                    }
                    let batch = Arc::new(batch);
                    for s in &mut qs.files {
                        s.write(self.epoch, batch.clone()).await?;
                    }
                }
                Output::DeadLetter(d) => letters.push(d),
                Output::Shuffle { partition, record } => {
                    let Stage::Shuffle { topic, .. } = &self.stage else {
                        return Err(JobError::internal("a repartition record outside the shuffle stage"));
                    };
                    let producer = self
                        .producer
                        .as_mut()
                        .ok_or_else(|| JobError::internal("the shuffle stage has no producer"))?;
                    buf.clear();
                    record.encode(&mut buf);
                    producer.send_to(topic, partition, &buf).await?;
                    // The merge stage reads it once its transaction commits.
                    self.unpublished_since.get_or_insert_with(Instant::now);
                }
            }
        }
        if letters.is_empty() {
            return Ok(());
        }
        self.dead_letters += letters.len() as u64;
        if !matches!(self.dead_letter, DeadLetterOut::Log { .. }) {
            self.unpublished_since.get_or_insert_with(Instant::now);
        }
        match &mut self.dead_letter {
            DeadLetterOut::File(sink) => sink.write_dead_letters(self.epoch, letters).await?,
            DeadLetterOut::Kafka(sink) => {
                let producer =
                    self.producer.as_mut().ok_or_else(|| JobError::internal("a Kafka sink without a producer"))?;
                sink.write(producer, &letters).await?;
            }
            DeadLetterOut::Log { logged } => {
                for d in &letters {
                    *logged += 1;
                    // The first few, then one in a thousand: counted always (status, metrics).
                    if *logged <= 10 || *logged % 1000 == 0 {
                        tracing::warn!(
                            job = %self.config.plan.name,
                            "dead letter #{} (partition {}, offset {}): {}; add a [dead_letter] sink to keep them",
                            logged,
                            d.partition,
                            d.offset,
                            d.reason
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Shuffle stage: tells every repartition partition how far each source partition has
    /// come (end marks once the input ended), in the epoch's transaction.
    async fn send_marks(&mut self) -> Result<(), JobError> {
        let Stage::Shuffle { topic, partitions } = &self.stage else { return Ok(()) };
        let Some(Engine::One { pipeline, .. }) = &self.engine else { return Ok(()) };
        let mut marks: Vec<(i32, i64)> =
            pipeline.source_progress().into_iter().filter(|(p, _)| !self.ended.contains(p)).collect();
        marks.extend(self.ended.iter().map(|&p| (p, i64::MAX)));
        let changed: Vec<(i32, i64)> = marks.into_iter().filter(|(p, t)| self.marks_sent.get(p) != Some(t)).collect();
        if changed.is_empty() {
            return Ok(());
        }
        let producer = self.producer.as_mut().ok_or_else(|| JobError::internal("the shuffle stage has no producer"))?;
        let mut buf = Vec::new();
        for &(p, t) in &changed {
            buf.clear();
            ShuffleRecord::Mark { source_partition: p, max_event_time: t }.encode(&mut buf);
            for rp in 0..*partitions as i32 {
                producer.send_to(topic, rp, &buf).await?;
            }
        }
        self.marks_sent.extend(changed);
        Ok(())
    }

    /// The commit protocol for the current epoch (see the module docs of `job`).
    async fn checkpoint(&mut self) -> Result<(), JobError> {
        let e = self.epoch;
        self.send_marks().await?;
        let (cp, parts) = self.engine()?.checkpoint().map_err(|err| JobError::internal(err.to_string()))?;
        for qs in &mut self.sinks {
            for s in &mut qs.files {
                s.pre_commit(e).await?;
            }
        }
        if let DeadLetterOut::File(d) = &mut self.dead_letter {
            d.pre_commit(e).await?;
        }
        if let Some(p) = &mut self.producer {
            p.flush().await?;
        }
        let stored = |engine: Vec<u8>| StoredCheckpoint {
            epoch: e,
            kafka_commit: self.producer.is_some(),
            created_ms: now_ms(),
            engine,
        };
        self.store.write_prepared(&stored(cp.to_bytes())).await?;
        if let Some(Engine::Merge(m)) = &self.engine {
            for (p, pcp) in &parts {
                if let Some(store) = m.stores.get(p) {
                    store.write_prepared(&stored(pcp.to_bytes())).await?;
                }
            }
        }
        let topic = self.source_topic();
        if let Some(p) = &mut self.producer {
            p.commit(offsets_tpl(&topic, &cp.offsets, e), self.source.group_metadata()).await?;
        }
        self.store.mark_committed(e).await?;
        if let Some(Engine::Merge(m)) = &self.engine {
            for (p, _) in &parts {
                if let Some(store) = m.stores.get(p) {
                    store.mark_committed(e).await?;
                }
            }
        }
        self.last_epoch = Some(e);
        for qs in &mut self.sinks {
            for s in &mut qs.files {
                s.commit(e).await?;
            }
        }
        if let DeadLetterOut::File(d) = &mut self.dead_letter {
            d.commit(e).await?;
        }
        if self.producer.is_none()
            && let Err(err) = self.source.commit(&cp.offsets, e).await
        {
            // The checkpoint holds the offsets; the group's copy only shows lag.
            tracing::warn!(job = %self.config.plan.name, "{err}");
        }
        self.store.prune().await?;
        if let Some(Engine::Merge(m)) = &self.engine {
            for store in m.stores.values() {
                store.prune().await?;
            }
        }
        self.unpublished_since = None;
        self.epoch = e + 1;
        self.status.update(|s| s.epoch = e + 1);
        tracing::debug!(job = %self.config.plan.name, epoch = e, "checkpoint committed");
        Ok(())
    }

    /// The topic this runtime reads.
    fn source_topic(&self) -> String {
        match &self.stage {
            Stage::Merge { .. } => scale::repartition_topic(&self.config.plan),
            _ => self.config.plan.source.topic.clone(),
        }
    }
}

/// A panic's message, as far as it is text.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".into(),
    }
}

/// Resolves once the job is told to stop (the watch's guard is not held across awaits, so the
/// job's future stays `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn log_recovery(sink: &str, r: &crate::sink::Recovery) {
    for (e, n) in &r.published {
        tracing::info!("{sink}: published {n} files of committed epoch {e}");
    }
    for (e, n) in &r.discarded {
        tracing::info!("{sink}: discarded {n} staged files of uncommitted epoch {e} (recomputed from the checkpoint)");
    }
}

/// The checkpoint to resume from: the newest committed one, or a newer prepared one whose
/// Kafka transaction committed (the group's offsets say so). Prepared checkpoints that did
/// not commit are deleted.
///
/// `by_group_offsets`: a prepared checkpoint also counts as committed when the group's offsets
/// say so without a Kafka sink (the plain commit after the files were published): the
/// checkpoints of the merge stage's partitions, read by whichever instance owns them next.
async fn recover(
    store: &CheckpointStore,
    source: &KafkaSource,
    by_group_offsets: bool,
) -> Result<Option<StoredCheckpoint>, JobError> {
    let all = store.list().await?;
    let newest_committed = all.iter().filter(|(_, s)| *s == State::Committed).map(|(e, _)| *e).max();
    let mut current = match newest_committed {
        Some(e) => Some(store.read(e, State::Committed).await?),
        None => None,
    };
    let floor = newest_committed.unwrap_or(0);
    let prepared: Vec<u64> = all.iter().filter(|(e, s)| *s == State::Prepared && *e > floor).map(|(e, _)| *e).collect();
    let mut give_up = false;
    for e in prepared {
        if give_up {
            store.discard(e).await?;
            continue;
        }
        let p = store.read(e, State::Prepared).await?;
        let committed = (p.kafka_commit || by_group_offsets) && transaction_committed(&p, source, store).await?;
        if committed {
            tracing::info!("checkpoint {e} was prepared and its Kafka transaction committed: marking it committed");
            store.mark_committed(e).await?;
            current = Some(p);
        } else {
            tracing::info!("checkpoint {e} was prepared but not committed: discarding it");
            store.discard(e).await?;
            give_up = true;
        }
    }
    Ok(current)
}

/// Whether the group's committed offsets are those of prepared checkpoint `p`, committed by
/// `p`'s transaction (the metadata names the epoch).
async fn transaction_committed(
    p: &StoredCheckpoint,
    source: &KafkaSource,
    store: &CheckpointStore,
) -> Result<bool, JobError> {
    let cp = p.checkpoint().map_err(|e| JobError::Checkpoint {
        location: store.location(),
        message: format!("prepared epoch {}: {e}", p.epoch),
        fix: "move the damaged file away to resume from the checkpoint before".into(),
    })?;
    if cp.offsets.is_empty() {
        // No offsets to tell by; nothing was read, so nothing is lost by recomputing.
        return Ok(false);
    }
    let partitions: Vec<i32> = cp.offsets.keys().copied().collect();
    let committed = source.committed(&partitions).await?;
    let meta = format!("{EPOCH_METADATA}{}", p.epoch);
    Ok(cp.offsets.iter().all(|(part, off)| committed.get(part).is_some_and(|(o, m)| o == off && *m == meta)))
}
