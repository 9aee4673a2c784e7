//! The driver: builds a job's parts, recovers from its checkpoints, then runs the event loop
//! (source batches, engine ticks, checkpoints) until it is told to stop.
//!
//! The engine (pipeline and decoder) is CPU work: each batch is decoded and processed on
//! tokio's blocking pool, the engine moved there and back, so the reactor keeps serving the
//! sinks' and clients' sockets. The source polls on its own thread and fills a small channel
//! meanwhile; when the engine falls behind, the channel fills and the source waits.

use super::checkpoint::{CheckpointStore, State, StoredCheckpoint};
use super::decode::Decoder;
use super::kafka_sink::{KafkaDeadLetterSink, KafkaResultSink, TxnProducer};
use super::source::{EPOCH_METADATA, KafkaSource, RawBatch, SourceConfig, SourceEvent, offsets_tpl};
use super::status::{JobStatus, Phase};
use super::tables::load_table;
use super::{JobError, group_of};
use crate::kafka::ClientSettings;
use crate::sink::console::ConsoleOut;
use crate::sink::storage::S3Options;
use crate::sink::{DeadLetterSink, Sink, SinkContext, build_dead_letter_sink, build_sink};
use sluice_stream::plan::SinkKind;
use sluice_stream::{DeadLetter, JobPlan, Output, Pipeline, SourceRecord, Tables};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
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
            s3: S3Options::from_env(),
            console: ConsoleOut::Stdout,
            console_heading: false,
            end: EndOfInput::Never,
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

    /// The checkpoint location: `[checkpoint] location`, else `checkpoints/<job>`; instances
    /// above 0 keep theirs in `instance-<n>/` below it.
    pub fn checkpoint_location(&self) -> String {
        let base = self.plan.checkpoint.location.clone().unwrap_or_else(|| format!("checkpoints/{}", self.plan.name));
        if self.instance == 0 { base } else { format!("{}/instance-{}", base.trim_end_matches('/'), self.instance) }
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

struct Engine {
    pipeline: Pipeline,
    decoder: Decoder,
}

impl Engine {
    fn process(&mut self, batch: &RawBatch, now: i64) -> Vec<Output> {
        let mut records = Vec::with_capacity(batch.len());
        for i in 0..batch.len() {
            let r = batch.record(i);
            // Records handed over twice (polled before a rebalance, fetched again after it) are
            // skipped: offsets only move forward.
            if self.pipeline.offsets().get(&r.partition).is_some_and(|&next| r.offset < next) {
                continue;
            }
            match self.decoder.decode(batch.value(i)) {
                Ok(row) => {
                    records.push(SourceRecord { partition: r.partition, offset: r.offset, timestamp: r.timestamp, row })
                }
                Err(reason) => {
                    let raw = batch.value(i).map(Arc::<[u8]>::from);
                    self.pipeline.handle_decode_error(r.partition, r.offset, r.timestamp, reason, raw);
                }
            }
        }
        if !records.is_empty() {
            self.pipeline.process_batch(&records, now);
        }
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.pipeline.poll_output()).collect()
    }
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

struct Runtime {
    config: JobConfig,
    status: Arc<JobStatus>,
    engine: Option<Engine>,
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
}

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
    mut stop: watch::Receiver<bool>,
) -> Result<JobSummary, JobError> {
    let mut rt = tokio::select! {
        rt = Runtime::start(config, status) => rt?,
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
    async fn start(config: JobConfig, status: Arc<JobStatus>) -> Result<Runtime, JobError> {
        let plan = &config.plan;
        let file = config.job_file.as_str();
        let base = config.base_dir.as_deref();

        // The broker first: a missing broker is the most common mistake.
        let (settings, wait, patient) = (config.kafka.clone(), config.broker_wait, config.patient);
        tokio::task::spawn_blocking(move || crate::kafka::probe_broker(&settings, wait, patient))
            .await
            .map_err(|e| JobError::internal(format!("the broker check failed: {e}")))?
            .map_err(|e| JobError::Kafka {
                what: format!("job {} ({file})", plan.name),
                message: e.to_string(),
                fix: "start a broker (`sluice broker`) or pass --bootstrap-servers / KAFKA_SERVER".into(),
            })?;

        let decoder = Decoder::build(
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
        let fresh = Pipeline::new(plan, input.clone(), &tables).map_err(|e| JobError::Plan(e.to_string()))?;
        if config.instance > 0 && fresh.is_stateful() {
            return Err(JobError::Config {
                file: file.to_string(),
                field: "query".into(),
                message: format!(
                    "instance {} of job {}: its aggregates keep state keyed by group key, which cannot \
                     follow a partition to another instance yet (the repartition stage is not written)",
                    config.instance, plan.name
                ),
                fix: "run one instance of a job with aggregate steps (--instance-id 0); jobs without \
                      aggregates (such as jobs/numbers.toml) scale out"
                    .into(),
            });
        }

        // Sinks.
        let instance_tag = (config.instance > 0).then(|| format!("i{}", config.instance));
        let mut sinks = Vec::new();
        for (qi, q) in plan.queries.iter().enumerate() {
            let schema = fresh.result_schema(qi).cloned().unwrap_or_default();
            let mut qs = QuerySinks { files: Vec::new(), kafka: Vec::new() };
            for s in &q.sinks {
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
        let kafka_out = sinks.iter().any(|q| !q.kafka.is_empty()) || matches!(dead_letter, DeadLetterOut::Kafka(_));

        let store = CheckpointStore::open(&config.checkpoint_location(), base, &config.s3)?;
        let interval = Duration::from_millis(plan.checkpoint.interval_ms.max(1) as u64);
        // The producer before recovery: initializing its transactions aborts whatever the
        // previous incarnation left open, so the group's offsets are final when read below.
        let producer = if kafka_out {
            Some(TxnProducer::create(&config.kafka, &config.instance_name(), interval).await?)
        } else {
            None
        };
        let source = KafkaSource::create(SourceConfig {
            topic: plan.source.topic.clone(),
            group: group_of(plan),
            instance_id: config.instance_name(),
            settings: config.kafka.clone(),
            starting: plan.source.starting_offsets,
            max_records: config.max_batch.max(1),
            linger: config.batch_linger,
        })?;

        let restored = recover(&store, &source).await?;
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
        let pipeline = match &restored {
            None => fresh,
            Some(stored) => {
                let cp = stored.checkpoint().map_err(|e| JobError::Checkpoint {
                    location: store.location(),
                    message: format!("epoch {}: {e}", stored.epoch),
                    fix: "start with a new [checkpoint] location".into(),
                })?;
                let p = Pipeline::restore(plan, input, &tables, &cp).map_err(|e| JobError::Checkpoint {
                    location: store.location(),
                    message: format!("epoch {}: {e}", stored.epoch),
                    fix: "run the job file the checkpoint was taken with, or start with a new [checkpoint] location"
                        .into(),
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
        store.prune().await?;
        let epoch = resumed_from.unwrap_or(0) + 1;
        status.update(|s| {
            s.epoch = epoch;
            s.records_in = pipeline.metrics().records_in + pipeline.metrics().decode_errors;
            s.watermark = pipeline.watermark();
        });
        let mut source = source;
        source.start(pipeline.offsets())?;
        status.update(|s| s.phase = Phase::Running);
        Ok(Runtime {
            config,
            status,
            engine: Some(Engine { pipeline, decoder }),
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
        })
    }

    fn summary(&self) -> JobSummary {
        let records_in = self.engine.as_ref().map_or(0, |e| {
            let m = e.pipeline.metrics();
            m.records_in + m.decode_errors
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
        let out = {
            let e = self.engine()?;
            e.pipeline.finish(now_ms());
            e.drain()
        };
        self.write_outputs(out).await
    }

    fn engine(&mut self) -> Result<&mut Engine, JobError> {
        self.engine.as_mut().ok_or_else(|| JobError::internal("the engine was lost by a failed batch"))
    }

    async fn event_loop(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), JobError> {
        let Some(mut events) = self.source.events() else {
            return Err(JobError::internal("the source's events were taken twice"));
        };
        let interval = Duration::from_millis(self.config.plan.checkpoint.interval_ms.max(1) as u64);
        let mut next_checkpoint = Instant::now() + interval;
        let stop_view = stop.clone();
        loop {
            let tick = self.engine()?.pipeline.poll_timeout().map(|t| {
                let wait = t.saturating_sub(now_ms()).clamp(0, 3_600_000) as u64;
                Instant::now() + Duration::from_millis(wait)
            });
            let tick_at = tick.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = stopped(&mut *stop) => return Ok(()),
                _ = tokio::time::sleep_until(next_checkpoint) => {
                    self.checkpoint().await?;
                    next_checkpoint = Instant::now() + interval;
                }
                event = events.recv() => match event {
                    None => return Err(JobError::internal("the source thread stopped")),
                    Some(SourceEvent::Records(batch)) => self.process(batch, stop_view.clone()).await?,
                    Some(SourceEvent::Assigned(parts)) => {
                        self.engine()?.pipeline.assign_partitions(&parts, now_ms());
                        self.status.update(|s| s.partitions = parts);
                    }
                    Some(SourceEvent::Revoked(parts, ack)) => {
                        // Hand the partitions over at a checkpoint: the output of everything
                        // read from them is published and their offsets are committed to the
                        // group before the next owner reads them (it starts at the group's
                        // offsets). Then forget them, so later checkpoints do not commit stale
                        // offsets over the next owner's.
                        let done = self.checkpoint().await;
                        if done.is_ok() {
                            self.engine()?.pipeline.release_partitions(&parts);
                        }
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                        done?;
                        self.status.update(|s| s.partitions.retain(|p| !parts.contains(p)));
                    }
                    Some(SourceEvent::CaughtUp) => {
                        self.status.update(|s| s.caught_up = true);
                        let now = now_ms();
                        match self.config.end {
                            EndOfInput::Never => {}
                            EndOfInput::AvailableNow => {
                                let out = {
                                    let e = self.engine()?;
                                    e.pipeline.fire_triggers(now);
                                    e.drain()
                                };
                                self.write_outputs(out).await?;
                                return Ok(());
                            }
                            EndOfInput::Finish => {
                                let out = {
                                    let e = self.engine()?;
                                    e.pipeline.finish(now);
                                    e.drain()
                                };
                                self.write_outputs(out).await?;
                                return Ok(());
                            }
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
                _ = tokio::time::sleep_until(tick_at), if tick.is_some() => {
                    let out = {
                        let e = self.engine()?;
                        e.pipeline.handle_tick(now_ms());
                        e.drain()
                    };
                    self.write_outputs(out).await?;
                    self.refresh_status();
                }
            }
        }
    }

    async fn process(&mut self, batch: RawBatch, stop: watch::Receiver<bool>) -> Result<(), JobError> {
        let stopping = move || *stop.borrow();
        self.engine()?.decoder.prepare(&batch, &stopping).await?;
        let mut engine = self.engine.take().ok_or_else(|| JobError::internal("the engine is missing"))?;
        let now = now_ms();
        let (engine, outputs) = tokio::task::spawn_blocking(move || {
            let out = engine.process(&batch, now);
            (engine, out)
        })
        .await
        .map_err(|e| JobError::internal(format!("the engine failed on a batch: {e}")))?;
        self.engine = Some(engine);
        self.write_outputs(outputs).await?;
        self.refresh_status();
        Ok(())
    }

    fn refresh_status(&self) {
        let Some(e) = &self.engine else { return };
        let m = e.pipeline.metrics();
        let lag = self.source.lag(e.pipeline.offsets());
        let wm = e.pipeline.watermark();
        let (rows, dls) = (self.rows_out, self.dead_letters);
        self.status.update(|s| {
            s.records_in = m.records_in + m.decode_errors;
            s.decode_errors = m.decode_errors;
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
        for o in outputs {
            match o {
                Output::Results(batch) => {
                    self.rows_out += batch.rows.len() as u64;
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
            }
        }
        if letters.is_empty() {
            return Ok(());
        }
        self.dead_letters += letters.len() as u64;
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

    /// The commit protocol for the current epoch (see the module docs of `job`).
    async fn checkpoint(&mut self) -> Result<(), JobError> {
        let e = self.epoch;
        let cp = self.engine()?.pipeline.checkpoint().map_err(|err| JobError::internal(err.to_string()))?;
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
        let stored = StoredCheckpoint {
            epoch: e,
            kafka_commit: self.producer.is_some(),
            created_ms: now_ms(),
            engine: cp.to_bytes(),
        };
        self.store.write_prepared(&stored).await?;
        let topic = self.config.plan.source.topic.clone();
        if let Some(p) = &mut self.producer {
            p.commit(offsets_tpl(&topic, &cp.offsets, e), self.source.group_metadata()).await?;
        }
        self.store.mark_committed(e).await?;
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
        self.epoch = e + 1;
        self.status.update(|s| s.epoch = e + 1);
        tracing::debug!(job = %self.config.plan.name, epoch = e, "checkpoint committed");
        Ok(())
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
async fn recover(store: &CheckpointStore, source: &KafkaSource) -> Result<Option<StoredCheckpoint>, JobError> {
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
        let committed = p.kafka_commit && transaction_committed(&p, source, store).await?;
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
