//! The transaction coordinator: transactional ids, their producer ids and epochs, the partitions
//! and groups of each open transaction, and the markers that end it.
//!
//! - [`partition`]: what one partition knows (open transactions, aborted ones, the last stable
//!   offset).
//! - [`records`]: the `__transaction_state` layout.
//!
//! Every state change is written to `__transaction_state` before it is acknowledged; on start
//! the topic is replayed and transactions caught between "prepare" and "complete" are finished.
//! Markers are written synchronously by EndTxn (and by aborts on fencing or timeout), each to
//! every partition of the transaction, including `__consumer_offsets` partitions of groups whose
//! offsets were sent with TxnOffsetCommit.

pub mod partition;
pub mod records;

use crate::group::records::{OFFSETS_TOPIC, partition_for_group};
use crate::server::now_ms;
use crate::state::{ApiError, Broker, lock};
use kafka_protocol::ResponseError;
use records::{TXN_TOPIC, TxnRecord};
use sluice_wire::batch::ControlType;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Kafka's transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// Partitions added, not yet ended.
    Ongoing,
    /// Ending with commit: markers being written.
    PrepareCommit,
    /// Ending with abort: markers being written.
    PrepareAbort,
    /// Committed.
    CompleteCommit,
    /// Aborted.
    CompleteAbort,
}

impl TxnState {
    fn code(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
        }
    }

    fn from_code(c: i8) -> Option<Self> {
        Some(match c {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            _ => return None,
        })
    }

    /// The name Kafka's admin tools show.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// One transactional id.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// State.
    pub state: TxnState,
    /// Partitions of the open transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Start of the open transaction (ms since the epoch).
    pub start_ms: i64,
    /// Last change (ms since the epoch).
    pub last_update_ms: i64,
}

impl TxnMeta {
    fn record(&self) -> TxnRecord {
        let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
        for (t, p) in &self.partitions {
            match by_topic.last_mut() {
                Some((name, ps)) if name == t => ps.push(*p),
                _ => by_topic.push((t.clone(), vec![*p])),
            }
        }
        TxnRecord {
            producer_id: self.producer_id,
            epoch: self.epoch,
            timeout_ms: self.timeout_ms,
            state: self.state.code(),
            partitions: by_topic,
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }
}

/// Settings of the transaction coordinator.
#[derive(Debug, Clone, Copy)]
pub struct TxnConfig {
    /// Partitions of `__transaction_state` (`transaction.state.log.num.partitions`).
    pub state_partitions: i32,
    /// Largest `transaction.timeout.ms` accepted (`transaction.max.timeout.ms`).
    pub max_timeout_ms: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig { state_partitions: 50, max_timeout_ms: 900_000 }
    }
}

/// The coordinator of every transactional id.
#[derive(Debug)]
pub struct TxnCoordinator {
    txns: Mutex<HashMap<String, TxnMeta>>,
    config: TxnConfig,
}

/// The error for a producer whose epoch is not the current one: PRODUCER_FENCED for clients
/// that know it, INVALID_PRODUCER_EPOCH for older request versions (KIP-588).
fn fenced(new_code: bool) -> i16 {
    if new_code { ResponseError::ProducerFenced.code() } else { ResponseError::InvalidProducerEpoch.code() }
}

impl TxnCoordinator {
    /// An empty coordinator.
    pub fn new(config: TxnConfig) -> Self {
        TxnCoordinator { txns: Mutex::new(HashMap::new()), config }
    }

    fn persist(&self, broker: &Broker, id: &str, meta: &TxnMeta) -> Result<(), ApiError> {
        let topic = broker.ensure_internal_topic(TXN_TOPIC, self.config.state_partitions)?;
        let p = partition_for_group(id, topic.partition_count());
        broker.append_records(&topic, p, &[(records::encode_key(id), Some(records::encode_value(&meta.record())))])
    }

    /// Checks the producer of a transactional request against the coordinator's state.
    fn check<'a>(
        txns: &'a mut HashMap<String, TxnMeta>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        new_codes: bool,
    ) -> Result<&'a mut TxnMeta, i16> {
        let meta = txns.get_mut(id).ok_or(ResponseError::InvalidProducerIdMapping.code())?;
        if meta.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping.code());
        }
        if meta.epoch != epoch {
            return Err(fenced(new_codes));
        }
        Ok(meta)
    }

    /// InitProducerId with a transactional id: a producer id and a new epoch, which fences the
    /// previous holder; an open transaction of the previous holder is aborted.
    pub fn init_producer(
        &self,
        broker: &Broker,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), i16> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout.code());
        }
        let mut txns = lock(&self.txns);
        let now = now_ms();
        let meta = match txns.get_mut(id) {
            None => {
                let meta = TxnMeta {
                    producer_id: broker.allocate_producer_id(),
                    epoch: 0,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    last_update_ms: now,
                };
                self.persist(broker, id, &meta).map_err(|e| e.code)?;
                let out = (meta.producer_id, meta.epoch);
                txns.insert(id.to_string(), meta);
                return Ok(out);
            }
            Some(m) => m,
        };
        if let Some((pid, epoch)) = expected
            && (pid != meta.producer_id || epoch != meta.epoch)
        {
            return Err(ResponseError::ProducerFenced.code());
        }
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(ResponseError::ConcurrentTransactions.code());
            }
            TxnState::Ongoing => {
                // Fence the previous holder: abort its transaction with a bumped epoch.
                tracing::info!(transactional_id = id, "aborting the open transaction of a fenced producer");
                self.bump_epoch(broker, meta);
                self.end(broker, id, meta, ControlType::Abort).map_err(|e| e.code)?;
            }
            _ => {}
        }
        self.bump_epoch(broker, meta);
        meta.timeout_ms = timeout_ms;
        meta.state = TxnState::Empty;
        meta.partitions.clear();
        meta.last_update_ms = now;
        self.persist(broker, id, meta).map_err(|e| e.code)?;
        Ok((meta.producer_id, meta.epoch))
    }

    fn bump_epoch(&self, broker: &Broker, meta: &mut TxnMeta) {
        if meta.epoch >= i16::MAX - 1 {
            meta.producer_id = broker.allocate_producer_id();
            meta.epoch = 0;
        } else {
            meta.epoch += 1;
        }
    }

    /// AddPartitionsToTxn: a code per partition.
    pub fn add_partitions(
        &self,
        broker: &Broker,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        new_codes: bool,
    ) -> Vec<i16> {
        let mut txns = lock(&self.txns);
        let meta = match Self::check(&mut txns, id, producer_id, epoch, new_codes) {
            Ok(m) => m,
            Err(code) => return vec![code; partitions.len()],
        };
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return vec![ResponseError::ConcurrentTransactions.code(); partitions.len()];
        }
        let unknown: Vec<bool> =
            partitions.iter().map(|(t, p)| broker.topic(t).and_then(|x| x.partition(*p)).is_none()).collect();
        if unknown.iter().any(|u| *u) {
            return unknown
                .iter()
                .map(|u| {
                    if *u {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        ResponseError::OperationNotAttempted.code()
                    }
                })
                .collect();
        }
        let now = now_ms();
        if meta.state != TxnState::Ongoing {
            meta.state = TxnState::Ongoing;
            meta.partitions.clear();
            meta.start_ms = now;
        }
        let before = meta.partitions.len();
        meta.partitions.extend(partitions.iter().cloned());
        if meta.partitions.len() != before {
            meta.last_update_ms = now;
            if let Err(e) = self.persist(broker, id, meta) {
                return vec![e.code; partitions.len()];
            }
        }
        vec![0; partitions.len()]
    }

    /// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction.
    pub fn add_offsets(
        &self,
        broker: &Broker,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        new_codes: bool,
    ) -> i16 {
        let topic = match broker.ensure_internal_topic(OFFSETS_TOPIC, broker.config.coordinator.offsets_partitions) {
            Ok(t) => t,
            Err(e) => return e.code,
        };
        let p = partition_for_group(group, topic.partition_count());
        self.add_partitions(broker, id, producer_id, epoch, &[(OFFSETS_TOPIC.to_string(), p)], new_codes)[0]
    }

    /// Whether `producer_id`'s open transaction of `id` includes the group's offsets partition
    /// (TxnOffsetCommit needs AddOffsetsToTxn first).
    pub fn check_offsets_partition(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partition: i32,
        new_codes: bool,
    ) -> i16 {
        let mut txns = lock(&self.txns);
        match Self::check(&mut txns, id, producer_id, epoch, new_codes) {
            Err(code) => code,
            Ok(m) if m.state == TxnState::Ongoing && m.partitions.contains(&(OFFSETS_TOPIC.to_string(), partition)) => {
                0
            }
            Ok(_) => ResponseError::InvalidTxnState.code(),
        }
    }

    /// EndTxn: writes COMMIT or ABORT markers to every partition of the transaction.
    pub fn end_txn(
        &self,
        broker: &Broker,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        new_codes: bool,
    ) -> i16 {
        let mut txns = lock(&self.txns);
        let meta = match Self::check(&mut txns, id, producer_id, epoch, new_codes) {
            Ok(m) => m,
            Err(code) => return code,
        };
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {}
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return 0,
            (TxnState::PrepareCommit | TxnState::PrepareAbort, _) => {
                return ResponseError::ConcurrentTransactions.code();
            }
            _ => return ResponseError::InvalidTxnState.code(),
        }
        let kind = if commit { ControlType::Commit } else { ControlType::Abort };
        match self.end(broker, id, meta, kind) {
            Ok(()) => 0,
            Err(e) => e.code,
        }
    }

    /// Prepare → markers → complete, each state persisted.
    fn end(&self, broker: &Broker, id: &str, meta: &mut TxnMeta, kind: ControlType) -> Result<(), ApiError> {
        meta.state = if kind == ControlType::Commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        meta.last_update_ms = now_ms();
        self.persist(broker, id, meta)?;
        self.write_markers(broker, meta, kind)?;
        meta.state = if kind == ControlType::Commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        meta.partitions.clear();
        meta.last_update_ms = now_ms();
        self.persist(broker, id, meta)
    }

    fn write_markers(&self, broker: &Broker, meta: &TxnMeta, kind: ControlType) -> Result<(), ApiError> {
        for (topic, p) in &meta.partitions {
            match broker.topic(topic) {
                Some(t) => broker.write_marker(&t, *p, meta.producer_id, meta.epoch, kind)?,
                None => tracing::warn!(topic, partition = p, "transaction partition is gone; no marker written"),
            }
            if topic == OFFSETS_TOPIC {
                broker.groups.complete_txn(meta.producer_id, kind == ControlType::Commit);
            }
        }
        Ok(())
    }

    /// Aborts transactions open longer than their timeout, fencing their producers.
    pub fn tick(&self, broker: &Broker, now: i64) {
        let mut txns = lock(&self.txns);
        for (id, meta) in txns.iter_mut() {
            if meta.state == TxnState::Ongoing && now > meta.start_ms + i64::from(meta.timeout_ms) {
                tracing::info!(transactional_id = %id, timeout_ms = meta.timeout_ms, "transaction timed out; aborting it");
                self.bump_epoch(broker, meta);
                if let Err(e) = self.end(broker, id, meta, ControlType::Abort) {
                    tracing::error!(transactional_id = %id, error = ?e, "cannot abort a timed-out transaction");
                }
            }
        }
    }

    /// Rebuilds state from one `__transaction_state` record (broker start).
    pub fn replay(&self, key: &[u8], value: Option<&[u8]>) {
        let Some(id) = records::decode_key(key) else { return };
        let mut txns = lock(&self.txns);
        let Some(r) = value.and_then(records::decode_value) else {
            txns.remove(&id);
            return;
        };
        let Some(state) = TxnState::from_code(r.state) else { return };
        let partitions =
            r.partitions.into_iter().flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p))).collect();
        txns.insert(
            id,
            TxnMeta {
                producer_id: r.producer_id,
                epoch: r.epoch,
                timeout_ms: r.timeout_ms,
                state,
                partitions,
                start_ms: r.start_ms,
                last_update_ms: r.last_update_ms,
            },
        );
    }

    /// The largest producer id known (so new ids do not collide after a restart).
    pub fn max_producer_id(&self) -> i64 {
        lock(&self.txns).values().map(|m| m.producer_id).max().unwrap_or(-1)
    }

    /// Finishes transactions a crash left between prepare and complete (broker start).
    pub fn complete_prepared(&self, broker: &Broker) {
        let mut txns = lock(&self.txns);
        for (id, meta) in txns.iter_mut() {
            let kind = match meta.state {
                TxnState::PrepareCommit => ControlType::Commit,
                TxnState::PrepareAbort => ControlType::Abort,
                _ => continue,
            };
            tracing::info!(transactional_id = %id, state = meta.state.name(), "completing a transaction left prepared");
            if let Err(e) = self.end(broker, id, meta, kind) {
                tracing::error!(transactional_id = %id, error = ?e, "cannot complete a prepared transaction");
            }
        }
    }

    /// Every transactional id with its state (ListTransactions / DescribeTransactions).
    pub fn list(&self) -> Vec<(String, TxnMeta)> {
        let mut v: Vec<_> = lock(&self.txns).iter().map(|(k, m)| (k.clone(), m.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
