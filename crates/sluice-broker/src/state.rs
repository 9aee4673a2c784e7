//! The broker's shared state: topics, their partitions and logs, producer ids.
//!
//! Topic metadata (id, partition count, config overrides) lives in
//! `<data-dir>/meta/<topic>.properties`; each partition's log in `<data-dir>/<topic>-<n>/`, as
//! Kafka lays it out. Without a data directory everything is in memory.

use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::log::{LogConfig, LogError, PartitionLog, file::FileLog, memory::MemoryLog};
use crate::producers::ProducerStates;
use crate::topic_config;
use crate::txn::TxnCoordinator;
use crate::txn::partition::PartitionTxns;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::Notify;
use uuid::Uuid;

/// Locks a mutex, recovering the data if a previous holder panicked: a handler panic must not
/// wedge the partition for every later request.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// A Kafka error code with an optional message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Kafka error code.
    pub code: i16,
    /// Human-readable detail.
    pub message: Option<String>,
}

impl ApiError {
    /// An error with a message.
    pub fn new(e: ResponseError, message: impl Into<String>) -> Self {
        ApiError { code: e.code(), message: Some(message.into()) }
    }
}

impl From<ResponseError> for ApiError {
    fn from(e: ResponseError) -> Self {
        ApiError { code: e.code(), message: None }
    }
}

/// Errors while opening or changing broker state on disk.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A log could not be opened or written.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A metadata file could not be read or written.
    #[error("metadata I/O error at {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// One partition: its log and idempotent producer state, under one lock.
#[derive(Debug)]
pub struct Partition {
    /// Partition index.
    pub index: i32,
    /// Log and producer state.
    pub state: Mutex<PartitionState>,
}

/// The data of a partition guarded by its lock.
#[derive(Debug)]
pub struct PartitionState {
    /// The log.
    pub log: PartitionLog,
    /// Idempotent producer sequences.
    pub producers: ProducerStates,
    /// Open and aborted transactions (last stable offset).
    pub txns: PartitionTxns,
}

/// What recovery needs to know of a transactional batch or a marker, in log order.
enum TxnEvent {
    Data { offset: i64, pid: i64 },
    Marker { offset: i64, pid: i64, epoch: i16 },
}

impl PartitionState {
    /// A partition's state around an opened log: producer sequences and transactions are
    /// rebuilt from the batches it holds.
    fn recover(log: PartitionLog) -> Result<Self, StateError> {
        let mut producers = ProducerStates::default();
        let mut txns = PartitionTxns::default();
        // Transactional batches and markers in log order: a producer's transactions follow one
        // another, so each marker must close the transaction that the batches before it opened
        // (a later transaction's start is only known once the earlier one's marker is seen).
        let mut txn_events = Vec::new();
        log.for_each_header(&mut |h| {
            if h.is_control() {
                txn_events.push(TxnEvent::Marker {
                    offset: h.base_offset,
                    pid: h.producer_id,
                    epoch: h.producer_epoch,
                });
            } else {
                producers.record(h, h.base_offset);
                if h.is_transactional() && h.producer_id >= 0 {
                    txn_events.push(TxnEvent::Data { offset: h.base_offset, pid: h.producer_id });
                }
            }
        })?;
        for event in txn_events {
            match event {
                TxnEvent::Data { offset, pid } => txns.on_transactional_data(pid, offset),
                TxnEvent::Marker { offset, pid, epoch } => {
                    let bytes = log.read(offset, 1)?.bytes;
                    if let Some(kind) = sluice_wire::batch::control_type(&bytes) {
                        producers.fence(pid, epoch);
                        txns.on_marker(pid, offset, kind);
                    }
                }
            }
        }
        Ok(PartitionState { log, producers, txns })
    }
}

/// A topic.
#[derive(Debug)]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// Topic id (KIP-516).
    pub id: Uuid,
    /// Partitions, index = position.
    pub partitions: RwLock<Vec<Arc<Partition>>>,
    /// Config overrides.
    pub configs: RwLock<BTreeMap<String, String>>,
}

impl Topic {
    /// A partition by index.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| read(&self.partitions).get(i).cloned())
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        read(&self.partitions).len() as i32
    }

    /// Whether this is one of Kafka's internal topics, which clients cannot produce to.
    pub fn is_internal(&self) -> bool {
        is_internal_topic(&self.name)
    }
}

/// The whole broker state shared by every connection.
#[derive(Debug)]
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    /// Cluster id.
    pub cluster_id: String,
    /// Host advertised to clients.
    pub advertised_host: String,
    /// Port advertised to clients.
    pub advertised_port: i32,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Woken after every append, for fetches waiting on new data.
    pub appended: Notify,
    next_producer_id: AtomicI64,
    /// Transactional ids and their transactions.
    pub txn: TxnCoordinator,
    /// Broker-level defaults for topic configs (from the broker's settings).
    pub topic_defaults: BTreeMap<String, String>,
    /// Consumer groups and committed offsets.
    pub groups: GroupCoordinator,
    /// What the log cleaner (compaction) has done.
    pub cleaner: crate::cleaner::CleanerMetrics,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_path_buf(), source }
}

/// Most partitions a topic may have. Kafka sets no such limit, but a broker that creates what it
/// is asked for runs out of memory on a count such as 16,777,219, one flipped byte away from a
/// valid request (the fuzz test of valid requests with a byte flipped drove a broker to 24 GB
/// and the kernel's OOM killer); a topic that needs more partitions than this is far beyond
/// one machine.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;

/// [`MAX_PARTITIONS_PER_TOPIC`], as an INVALID_PARTITIONS error that names it.
pub fn check_partition_limit(partitions: i32) -> Result<(), ApiError> {
    if partitions > MAX_PARTITIONS_PER_TOPIC {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!(
                "Number of partitions {partitions} is above this broker's limit of {MAX_PARTITIONS_PER_TOPIC} per topic: ask for at most {MAX_PARTITIONS_PER_TOPIC}."
            ),
        ));
    }
    Ok(())
}

impl Broker {
    /// Opens the broker state: loads topics from the data directory when there is one.
    pub fn open(config: BrokerConfig, advertised_host: String, advertised_port: i32) -> Result<Self, StateError> {
        let mut topic_defaults: BTreeMap<String, String> =
            topic_config::TOPIC_CONFIGS.iter().map(|d| (d.name.to_string(), d.default.to_string())).collect();
        topic_defaults.insert("retention.ms".into(), config.retention_ms.to_string());
        topic_defaults.insert("retention.bytes".into(), config.retention_bytes.to_string());
        topic_defaults.insert("segment.bytes".into(), config.segment_bytes.to_string());
        topic_defaults.insert("max.message.bytes".into(), config.max_message_bytes.to_string());
        let mut cluster_id = config.cluster_id.clone().unwrap_or_else(new_cluster_id);
        let mut topics = HashMap::new();
        let mut max_pid = 0;
        if let Some(dir) = &config.data_dir {
            std::fs::create_dir_all(dir.join("meta")).map_err(io_err(dir))?;
            let id_file = dir.join("meta").join("cluster.id");
            match std::fs::read_to_string(&id_file) {
                Ok(s) if !s.trim().is_empty() => cluster_id = s.trim().to_string(),
                _ => std::fs::write(&id_file, &cluster_id).map_err(io_err(&id_file))?,
            }
            for entry in std::fs::read_dir(dir.join("meta")).map_err(io_err(dir))? {
                let path = entry.map_err(io_err(dir))?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("properties") {
                    continue;
                }
                let Some(topic) = load_topic(dir, &path, &config, &topic_defaults)? else {
                    tracing::warn!(path = %path.display(), "skipping unreadable topic metadata file");
                    continue;
                };
                for p in read(&topic.partitions).iter() {
                    lock(&p.state).log.for_each_header(&mut |h| max_pid = max_pid.max(h.producer_id))?;
                }
                topics.insert(topic.name.clone(), Arc::new(topic));
            }
        }
        let groups = GroupCoordinator::new(config.coordinator);
        let config_txn = config.txn;
        let broker = Broker {
            config,
            cluster_id,
            advertised_host,
            advertised_port,
            topics: RwLock::new(topics),
            appended: Notify::new(),
            next_producer_id: AtomicI64::new(max_pid + 1),
            txn: TxnCoordinator::new(config_txn),
            topic_defaults,
            groups,
            cleaner: Default::default(),
        };
        broker.replay_offsets()?;
        broker.replay_txn_state()?;
        let max_txn_pid = broker.txn.max_producer_id();
        broker.next_producer_id.fetch_max(max_txn_pid + 1, Ordering::Relaxed);
        broker.txn.complete_prepared(&broker);
        Ok(broker)
    }

    /// Every record of an internal topic, oldest first: `(batch header, key, value)`.
    fn replay_internal(&self, name: &str, f: &mut RecordVisitor<'_>) -> Result<usize, StateError> {
        let Some(topic) = self.topic(name) else { return Ok(0) };
        let mut n = 0usize;
        for p in read(&topic.partitions).iter() {
            let state = lock(&p.state);
            let mut offset = state.log.log_start_offset();
            let end = state.log.log_end_offset();
            while offset < end {
                let chunk = state.log.read(offset, 1 << 20)?.bytes;
                if chunk.is_empty() {
                    break;
                }
                let mut next = offset;
                for item in sluice_wire::batch::walk(&chunk) {
                    let Ok((at, h)) = item else { break };
                    next = next.max(h.last_offset() + 1);
                    let mut one = chunk.slice(at..at + h.total_len());
                    match kafka_protocol::records::RecordBatchDecoder::decode(&mut one) {
                        Ok(set) => {
                            for r in set.records.iter().filter(|r| r.offset >= offset) {
                                f(&h, r.key.as_deref(), r.value.as_deref());
                                n += 1;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(topic = name, partition = p.index, offset = h.base_offset, error = %e, "skipping an undecodable batch")
                        }
                    }
                }
                if next <= offset {
                    break;
                }
                offset = next;
            }
        }
        Ok(n)
    }

    /// Loads transaction state from `__transaction_state`.
    fn replay_txn_state(&self) -> Result<(), StateError> {
        let n = self.replay_internal(crate::txn::records::TXN_TOPIC, &mut |_, k, v| {
            if let Some(k) = k {
                self.txn.replay(k, v);
            }
        })?;
        if n > 0 {
            tracing::info!(records = n, "loaded transaction state");
        }
        Ok(())
    }

    /// Appends broker-written records as one transactional batch of `producer_id` (the
    /// transactional offsets of TxnOffsetCommit).
    pub fn append_txn_records(
        &self,
        topic: &Topic,
        partition: i32,
        producer_id: i64,
        epoch: i16,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), ApiError> {
        let p = topic.partition(partition).ok_or(ApiError::from(ResponseError::UnknownTopicOrPartition))?;
        let now = crate::server::now_ms();
        let recs: Vec<sluice_wire::batch::SimpleRecord<'_>> =
            records.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref(), now)).collect();
        let mut batch = sluice_wire::batch::build(
            0,
            &recs,
            (producer_id, epoch, -1),
            sluice_wire::batch::attributes::TRANSACTIONAL,
        );
        let header = sluice_wire::batch::validate(&batch)
            .map_err(|e| ApiError::new(ResponseError::CorruptMessage, e.to_string()))?;
        let mut state = lock(&p.state);
        let info =
            state.log.append(&mut batch).map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        state.txns.on_append(&header, info.base_offset);
        drop(state);
        self.appended.notify_waiters();
        Ok(())
    }

    /// Writes a transaction marker to a partition and ends the producer's transaction there.
    pub fn write_marker(
        &self,
        topic: &Topic,
        partition: i32,
        producer_id: i64,
        epoch: i16,
        kind: sluice_wire::batch::ControlType,
    ) -> Result<(), ApiError> {
        let p = topic.partition(partition).ok_or(ApiError::from(ResponseError::UnknownTopicOrPartition))?;
        let mut batch = sluice_wire::batch::build_marker(producer_id, epoch, kind, 0, crate::server::now_ms());
        let mut state = lock(&p.state);
        let info =
            state.log.append(&mut batch).map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        state.producers.fence(producer_id, epoch);
        state.txns.on_marker(producer_id, info.base_offset, kind);
        drop(state);
        self.appended.notify_waiters();
        Ok(())
    }

    /// Loads committed offsets from `__consumer_offsets`, transactional ones once their
    /// marker is seen.
    fn replay_offsets(&self) -> Result<(), StateError> {
        let n = self.replay_internal(crate::group::records::OFFSETS_TOPIC, &mut |h, k, v| {
            if h.is_control() {
                if let Some(k) = k.filter(|k| k.len() >= 4) {
                    self.groups.complete_txn(h.producer_id, i16::from_be_bytes([k[2], k[3]]) == 1);
                }
            } else if let Some(k) = k {
                if h.is_transactional() {
                    self.groups.replay_pending(h.producer_id, k, v);
                } else {
                    self.groups.replay(k, v);
                }
            }
        })?;
        if n > 0 {
            tracing::info!(records = n, "loaded committed offsets");
        }
        Ok(())
    }

    /// An internal topic, created (compacted, with `partitions` partitions) on first use.
    pub fn ensure_internal_topic(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, ApiError> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("segment.bytes".to_string(), (100 * 1024 * 1024).to_string());
        match self.create_topic(name, partitions, configs) {
            Err(e) if e.code == ResponseError::TopicAlreadyExists.code() => self.topic(name).ok_or(e),
            other => other,
        }
    }

    /// Appends broker-written records (`key`, `value`; `None` value = tombstone) to a partition
    /// as one uncompressed batch; the log is written before this returns.
    pub fn append_records(
        &self,
        topic: &Topic,
        partition: i32,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), ApiError> {
        let p = topic.partition(partition).ok_or(ApiError::from(ResponseError::UnknownTopicOrPartition))?;
        let now = crate::server::now_ms();
        let recs: Vec<sluice_wire::batch::SimpleRecord<'_>> =
            records.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref(), now)).collect();
        let mut batch = sluice_wire::batch::build(0, &recs, (-1, -1, -1), 0);
        lock(&p.state)
            .log
            .append(&mut batch)
            .map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        self.appended.notify_waiters();
        Ok(())
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        read(&self.topics).get(name).cloned()
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        read(&self.topics).values().find(|t| t.id == id).cloned()
    }

    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = read(&self.topics).values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A new producer id.
    pub fn allocate_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    fn log_config(&self, configs: &BTreeMap<String, String>) -> LogConfig {
        LogConfig {
            segment_bytes: topic_config::int_of(configs, &self.topic_defaults, "segment.bytes", 1 << 30) as u64,
            segment_ms: crate::log::compaction::roll_ms(configs, &self.topic_defaults),
            index_interval_bytes: topic_config::int_of(configs, &self.topic_defaults, "index.interval.bytes", 4096)
                as u64,
            flush: self.config.flush,
        }
    }

    fn new_partition(
        &self,
        topic: &str,
        index: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<Arc<Partition>, StateError> {
        let log = match &self.config.data_dir {
            None => PartitionLog::Memory(MemoryLog::with_config(self.log_config(configs))),
            Some(dir) => {
                PartitionLog::File(FileLog::open(&dir.join(format!("{topic}-{index}")), self.log_config(configs))?)
            }
        };
        Ok(Arc::new(Partition {
            index,
            state: Mutex::new(PartitionState {
                log,
                producers: ProducerStates::default(),
                txns: PartitionTxns::default(),
            }),
        }))
    }

    /// Checks a topic creation request; the error is what CreateTopics reports.
    pub fn check_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        topic_config::validate_topic_name(name).map_err(|m| ApiError::new(ResponseError::InvalidTopicException, m))?;
        if self.topic(name).is_some() {
            return Err(ApiError::new(ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        if partitions < 1 {
            return Err(ApiError::new(ResponseError::InvalidPartitions, "Number of partitions must be larger than 0."));
        }
        check_partition_limit(partitions)?;
        if replication != 1 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {replication} time(s): The target replication factor of {replication} cannot be reached because only 1 broker(s) are registered."
                ),
            ));
        }
        for (k, v) in configs {
            topic_config::validate(k, v).map_err(|m| ApiError::new(ResponseError::InvalidConfig, m))?;
        }
        Ok(())
    }

    /// Creates a topic (already checked with [`Broker::check_new_topic`]).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, ApiError> {
        let mut topics = write(&self.topics);
        if topics.contains_key(name) {
            return Err(ApiError::new(ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        let parts = (0..partitions)
            .map(|i| self.new_partition(name, i, &configs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage_error)?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions: RwLock::new(parts),
            configs: RwLock::new(configs),
        });
        self.persist_topic(&topic).map_err(storage_error)?;
        topics.insert(name.to_string(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Creates a topic with the defaults if auto-creation allows it.
    pub fn auto_create(&self, name: &str) -> Result<Arc<Topic>, ApiError> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        self.check_new_topic(name, self.config.num_partitions, 1, &BTreeMap::new())?;
        match self.create_topic(name, self.config.num_partitions, BTreeMap::new()) {
            Err(e) if e.code == ResponseError::TopicAlreadyExists.code() => self.topic(name).ok_or(e),
            other => other,
        }
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<(), ApiError> {
        let topic = write(&self.topics).remove(name).ok_or(ApiError::from(ResponseError::UnknownTopicOrPartition))?;
        if let Some(dir) = &self.config.data_dir {
            let _ = std::fs::remove_file(dir.join("meta").join(format!("{name}.properties")));
        }
        for p in write(&topic.partitions).drain(..) {
            let state = match Arc::try_unwrap(p) {
                Ok(p) => p.state.into_inner().unwrap_or_else(|e| e.into_inner()),
                Err(p) => {
                    // A request still holds the partition: remove its files by path.
                    if let Some(dir) = &self.config.data_dir {
                        let _ = std::fs::remove_dir_all(dir.join(format!("{name}-{}", p.index)));
                    }
                    continue;
                }
            };
            if let Err(e) = state.log.destroy() {
                tracing::warn!(topic = name, error = %e, "could not remove partition data");
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    pub fn add_partitions(&self, topic: &Topic, count: i32) -> Result<(), ApiError> {
        let configs = read(&topic.configs).clone();
        let mut parts = write(&topic.partitions);
        for i in parts.len() as i32..count {
            parts.push(self.new_partition(&topic.name, i, &configs).map_err(storage_error)?);
        }
        drop(parts);
        self.persist_topic(topic).map_err(storage_error)
    }

    /// Replaces a topic's config overrides.
    pub fn set_topic_configs(&self, topic: &Topic, configs: BTreeMap<String, String>) -> Result<(), ApiError> {
        *write(&topic.configs) = configs;
        self.persist_topic(topic).map_err(storage_error)
    }

    /// An effective config value of a topic.
    pub fn topic_config_int(&self, topic: &Topic, name: &str, fallback: i64) -> i64 {
        topic_config::int_of(&read(&topic.configs), &self.topic_defaults, name, fallback)
    }

    /// An effective config value of a topic, as a string.
    pub fn topic_config_str(&self, topic: &Topic, name: &str) -> String {
        let configs = read(&topic.configs);
        topic_config::effective(&configs, &self.topic_defaults, name).unwrap_or_default().to_string()
    }

    fn persist_topic(&self, topic: &Topic) -> Result<(), StateError> {
        let Some(dir) = &self.config.data_dir else { return Ok(()) };
        let mut text = format!("topic.id={}\npartitions={}\n", topic.id, topic.partition_count());
        for (k, v) in read(&topic.configs).iter() {
            text.push_str(&format!("config.{k}={}\n", v.replace('\n', " ")));
        }
        let path = dir.join("meta").join(format!("{}.properties", topic.name));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Flushes every log (shutdown).
    pub fn flush_all(&self) {
        for t in self.topics() {
            for p in read(&t.partitions).iter() {
                if let Err(e) = lock(&p.state).log.flush() {
                    tracing::error!(topic = %t.name, partition = p.index, error = %e, "flush failed");
                }
            }
        }
    }

    /// Applies retention to every partition; returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for t in self.topics() {
            if self.topic_config_str(&t, "cleanup.policy").split(',').all(|p| p.trim() != "delete") {
                continue;
            }
            let ms = self.topic_config_int(&t, "retention.ms", -1);
            let bytes = self.topic_config_int(&t, "retention.bytes", -1);
            for p in read(&t.partitions).iter() {
                match lock(&p.state).log.enforce_retention(now_ms, ms, bytes) {
                    Ok(n) => deleted += n,
                    Err(e) => tracing::error!(topic = %t.name, partition = p.index, error = %e, "retention failed"),
                }
            }
        }
        deleted
    }
}

/// Called with each record of an internal topic: its batch header, key and value.
type RecordVisitor<'a> = dyn FnMut(&sluice_wire::batch::BatchHeader, Option<&[u8]>, Option<&[u8]>) + 'a;

/// Kafka's internal topics: written by the broker only.
pub fn is_internal_topic(name: &str) -> bool {
    matches!(name, "__consumer_offsets" | "__transaction_state")
}

fn storage_error(e: StateError) -> ApiError {
    tracing::error!(error = %e, "storage error");
    ApiError::new(ResponseError::KafkaStorageError, e.to_string())
}

fn new_cluster_id() -> String {
    // Kafka cluster ids are 22-character URL-safe base64 of a UUID. Like Kafka's
    // Uuid.randomUuid(), draw again when the id would start with '-': command-line tools
    // (kafka-storage format -t ID, kcat) would read it as an option.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let bits = Uuid::new_v4().as_u128();
        let id: String = (0..22).map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char).collect();
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn load_topic(
    dir: &Path,
    path: &Path,
    config: &BrokerConfig,
    defaults: &BTreeMap<String, String>,
) -> Result<Option<Topic>, StateError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { return Ok(None) };
    let mut id = None;
    let mut partitions = None;
    let mut configs = BTreeMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "topic.id" => id = Uuid::parse_str(v.trim()).ok(),
            "partitions" => partitions = v.trim().parse::<i32>().ok(),
            _ => {
                if let Some(c) = k.strip_prefix("config.") {
                    configs.insert(c.to_string(), v.to_string());
                }
            }
        }
    }
    let (Some(id), Some(n)) = (id, partitions) else { return Ok(None) };
    let log_config = LogConfig {
        segment_bytes: topic_config::int_of(&configs, defaults, "segment.bytes", 1 << 30) as u64,
        segment_ms: crate::log::compaction::roll_ms(&configs, defaults),
        index_interval_bytes: topic_config::int_of(&configs, defaults, "index.interval.bytes", 4096) as u64,
        flush: config.flush,
    };
    let mut parts = Vec::new();
    for i in 0..n {
        let log = FileLog::open(&dir.join(format!("{name}-{i}")), log_config.clone())?;
        let log = PartitionLog::File(log);
        parts.push(Arc::new(Partition { index: i, state: Mutex::new(PartitionState::recover(log)?) }));
    }
    Ok(Some(Topic { name, id, partitions: RwLock::new(parts), configs: RwLock::new(configs) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::memory::MemoryLog;
    use crate::txn::partition::AbortedTxn;
    use sluice_wire::batch::{ControlType, attributes, build, build_marker};

    fn append(log: &mut PartitionLog, mut batch: Vec<u8>) -> i64 {
        log.append(&mut batch).unwrap().base_offset
    }

    fn data(log: &mut PartitionLog, pid: i64, seq: i32) -> i64 {
        append(log, build(0, &[(None, Some(b"v"), 1)], (pid, 0, seq), attributes::TRANSACTIONAL))
    }

    #[test]
    fn cluster_ids_are_kafka_shaped_and_never_start_with_a_dash() {
        // One random id in 64 would start with '-' if it were not drawn again; 5,000 draws
        // without the redraw would all miss it with probability (63/64)^5000, about 1e-34.
        for _ in 0..5_000 {
            let id = new_cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
            assert!(!id.starts_with('-'), "{id} would be read as an option by kafka-storage");
        }
    }

    #[test]
    fn recovery_replays_one_producers_transactions_in_log_order() {
        let mut log = PartitionLog::Memory(MemoryLog::new());
        // Producer 7: an aborted transaction, a committed one, then one left open.
        let aborted_first = data(&mut log, 7, 0);
        data(&mut log, 7, 1);
        let abort_marker = append(&mut log, build_marker(7, 0, ControlType::Abort, 0, 1));
        data(&mut log, 7, 2);
        append(&mut log, build_marker(7, 0, ControlType::Commit, 0, 1));
        let open_first = data(&mut log, 7, 3);
        data(&mut log, 7, 4);
        let end = log.log_end_offset();

        let mut state = PartitionState::recover(log).unwrap();
        assert_eq!(
            state.txns.aborted_in(0, end),
            vec![AbortedTxn { producer_id: 7, first_offset: aborted_first, last_offset: abort_marker }]
        );
        assert!(state.txns.is_open(7));
        assert_eq!(state.txns.last_stable_offset(end), open_first, "the open transaction holds back the LSO");
        // Aborting it after the restart lists it for read_committed readers.
        state.txns.on_marker(7, end, ControlType::Abort);
        assert_eq!(state.txns.aborted_in(open_first, end + 1).len(), 1);
        assert_eq!(state.txns.aborted_in(open_first, end + 1)[0].first_offset, open_first);
    }
}
