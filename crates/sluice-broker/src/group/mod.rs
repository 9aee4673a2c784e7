//! The group coordinator: consumer groups (classic protocol) and their committed offsets.
//!
//! - [`state`]: one group's membership state machine, deterministic (time is a parameter).
//! - [`records`]: the `__consumer_offsets` record layout (Kafka's own).
//!
//! [`GroupCoordinator`] holds every group behind one lock, writes each offset commit to
//! `__consumer_offsets` before acknowledging it, and replays that topic when the broker starts,
//! so committed offsets survive a restart. Membership is not persisted: after a restart members
//! rejoin, as they do after a Kafka coordinator moves.

pub mod records;
pub mod state;

use crate::state::{ApiError, Broker, lock};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use records::{Committed, OFFSETS_TOPIC, OffsetKey, OffsetsRecord};
use state::{Group, GroupLimits, GroupState, JoinRequest, JoinResult, Reply, SyncResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Largest metadata string accepted with a commit (`offset.metadata.max.bytes`).
const MAX_METADATA_BYTES: usize = 4096;

/// A group and its committed offsets.
#[derive(Debug)]
struct Entry {
    group: Group,
    offsets: BTreeMap<(String, i32), Committed>,
    /// Offsets sent in a transaction (TxnOffsetCommit), by producer id, applied by its COMMIT
    /// marker and dropped by its ABORT marker.
    pending: HashMap<i64, BTreeMap<(String, i32), Committed>>,
    /// Wall-clock ms when the group last became empty (offsets retention counts from there).
    empty_since: i64,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberInfo {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscription metadata (empty unless the group is stable).
    pub metadata: Bytes,
    /// Assignment (empty unless the group is stable).
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// State name.
    pub state: &'static str,
    /// Protocol type.
    pub protocol_type: String,
    /// Assignor (when stable).
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberInfo>,
}

/// Settings of the coordinator.
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorConfig {
    /// Session and rebalance limits.
    pub limits: GroupLimits,
    /// Partitions of `__consumer_offsets` (`offsets.topic.num.partitions`).
    pub offsets_partitions: i32,
    /// How long offsets of an empty group are kept (`offsets.retention.minutes`), ms.
    pub offsets_retention_ms: i64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            limits: GroupLimits::default(),
            offsets_partitions: 50,
            offsets_retention_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// Kafka's checks of the member committing offsets: a simple (standalone) commit to an empty
/// group, or a current member of the current generation.
fn check_committer(g: &Group, generation: i32, member_id: &str, instance_id: Option<&str>) -> Result<(), i16> {
    if generation < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    if g.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress.code());
    }
    if let Some(inst) = instance_id
        && g.members.get(member_id).and_then(|m| m.instance_id.as_deref()) != Some(inst)
        && g.members.values().any(|m| m.instance_id.as_deref() == Some(inst))
    {
        return Err(ResponseError::FencedInstanceId.code());
    }
    if !g.members.contains_key(member_id) {
        return Err(ResponseError::UnknownMemberId.code());
    }
    if generation != g.generation {
        return Err(ResponseError::IllegalGeneration.code());
    }
    Ok(())
}

/// Every group of the broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Entry>>,
    config: CoordinatorConfig,
    clock: tokio::time::Instant,
}

/// Committed offsets of one topic: `(partition, offset if any)`.
pub type TopicOffsets = (String, Vec<(i32, Option<Committed>)>);

/// The result of an offset commit: a group-level error, or one code per partition.
pub type CommitResult = Result<Vec<((String, i32), i16)>, i16>;

impl GroupCoordinator {
    /// A coordinator with no groups.
    pub fn new(config: CoordinatorConfig) -> Self {
        GroupCoordinator { groups: Mutex::new(HashMap::new()), config, clock: tokio::time::Instant::now() }
    }

    /// Milliseconds of the coordinator's monotonic clock.
    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn entry<'a>(&self, groups: &'a mut HashMap<String, Entry>, id: &str) -> &'a mut Entry {
        groups.entry(id.to_string()).or_insert_with(|| Entry {
            group: Group::new(id, self.config.limits),
            offsets: BTreeMap::new(),
            pending: HashMap::new(),
            empty_since: crate::server::now_ms(),
        })
    }

    /// JoinGroup; awaits the end of the join phase when the group is rebalancing.
    pub async fn join(&self, group_id: &str, req: JoinRequest) -> JoinResult {
        if group_id.is_empty() {
            return JoinResult { error: ResponseError::InvalidGroupId.code(), generation: -1, ..Default::default() };
        }
        let member_id = req.member_id.clone();
        let reply = {
            let mut groups = lock(&self.groups);
            let now = self.now();
            self.entry(&mut groups, group_id).group.join(now, req)
        };
        match reply {
            Reply::Now(r) => r,
            Reply::Later(rx) => rx.await.unwrap_or_else(|_| JoinResult {
                error: ResponseError::UnknownMemberId.code(),
                generation: -1,
                member_id,
                ..Default::default()
            }),
        }
    }

    /// SyncGroup; followers await the leader's assignment.
    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let reply = {
            let mut groups = lock(&self.groups);
            let now = self.now();
            match groups.get_mut(group_id) {
                None => Reply::Now(SyncResult { error: ResponseError::UnknownMemberId.code(), ..Default::default() }),
                Some(e) => e.group.sync(now, member_id, instance_id, generation, assignments),
            }
        };
        match reply {
            Reply::Now(r) => r,
            Reply::Later(rx) => rx.await.unwrap_or_else(|_| SyncResult {
                error: ResponseError::RebalanceInProgress.code(),
                ..Default::default()
            }),
        }
    }

    /// Heartbeat; the error code.
    pub fn heartbeat(&self, group_id: &str, member_id: &str, instance_id: Option<&str>, generation: i32) -> i16 {
        let mut groups = lock(&self.groups);
        let now = self.now();
        match groups.get_mut(group_id) {
            None => ResponseError::UnknownMemberId.code(),
            Some(e) => e.group.heartbeat(now, member_id, instance_id, generation),
        }
    }

    /// LeaveGroup for each `(member id, instance id)`; a code per member, or a group error.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Result<Vec<i16>, i16> {
        let mut groups = lock(&self.groups);
        let now = self.now();
        let Some(e) = groups.get_mut(group_id) else { return Err(ResponseError::UnknownMemberId.code()) };
        let codes = members.iter().map(|(m, i)| e.group.leave(now, m, i.as_deref())).collect();
        if e.group.is_empty() {
            e.empty_since = crate::server::now_ms();
        }
        Ok(codes)
    }

    /// OffsetCommit: checks membership as Kafka does, then writes each offset to
    /// `__consumer_offsets` before acknowledging it.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &self,
        broker: &Broker,
        version: i16,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, Committed)>,
    ) -> CommitResult {
        let mut groups = lock(&self.groups);
        if !groups.contains_key(group_id) && generation >= 0 {
            // Kafka: a member commit to a group that does not exist.
            return Err(
                if version >= 9 { ResponseError::GroupIdNotFound } else { ResponseError::IllegalGeneration }.code()
            );
        }
        let entry = self.entry(&mut groups, group_id);
        check_committer(&entry.group, generation, member_id, instance_id)?;
        let mut results = Vec::with_capacity(offsets.len());
        let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut accepted = Vec::new();
        for (topic, partition, committed) in offsets {
            let code = if committed.metadata.len() > MAX_METADATA_BYTES {
                ResponseError::OffsetMetadataTooLarge.code()
            } else if broker.topic(&topic).and_then(|t| t.partition(partition)).is_none() {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                let key = OffsetKey { group: group_id.to_string(), topic: topic.clone(), partition };
                records.push((records::encode_offset_key(&key), Some(records::encode_offset_value(&committed))));
                accepted.push(((topic.clone(), partition), committed));
                0
            };
            results.push(((topic, partition), code));
        }
        if !records.is_empty()
            && let Err(e) = self.persist(broker, group_id, &records)
        {
            tracing::error!(group = group_id, error = ?e, "cannot write offsets to {OFFSETS_TOPIC}");
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        for (k, c) in accepted {
            entry.offsets.insert(k, c);
        }
        Ok(results)
    }

    /// TxnOffsetCommit: offsets written to `__consumer_offsets` as part of the producer's
    /// transaction; they become the group's committed offsets when the transaction commits.
    #[allow(clippy::too_many_arguments)]
    pub fn txn_commit(
        &self,
        broker: &Broker,
        group_id: &str,
        producer_id: i64,
        epoch: i16,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, Committed)>,
    ) -> CommitResult {
        let mut groups = lock(&self.groups);
        let entry = self.entry(&mut groups, group_id);
        // Without member information (generation -1) the commit is not checked against the group.
        if generation >= 0 || !member_id.is_empty() {
            check_committer(&entry.group, generation, member_id, instance_id)?;
        }
        let mut results = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for (topic, partition, committed) in offsets {
            let code = if committed.metadata.len() > MAX_METADATA_BYTES {
                ResponseError::OffsetMetadataTooLarge.code()
            } else if broker.topic(&topic).and_then(|t| t.partition(partition)).is_none() {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                let key = OffsetKey { group: group_id.to_string(), topic: topic.clone(), partition };
                records.push((records::encode_offset_key(&key), Some(records::encode_offset_value(&committed))));
                accepted.push(((topic.clone(), partition), committed));
                0
            };
            results.push(((topic, partition), code));
        }
        if !records.is_empty() {
            let written = broker.ensure_internal_topic(OFFSETS_TOPIC, self.config.offsets_partitions).and_then(|t| {
                let p = records::partition_for_group(group_id, t.partition_count());
                broker.append_txn_records(&t, p, producer_id, epoch, &records)
            });
            if let Err(e) = written {
                tracing::error!(group = group_id, error = ?e, "cannot write transactional offsets");
                return Err(e.code);
            }
        }
        let pending = entry.pending.entry(producer_id).or_default();
        for (k, c) in accepted {
            pending.insert(k, c);
        }
        Ok(results)
    }

    /// A transaction's marker reached `__consumer_offsets`: its offsets apply or are dropped.
    pub fn complete_txn(&self, producer_id: i64, commit: bool) {
        let mut groups = lock(&self.groups);
        for e in groups.values_mut() {
            if let Some(p) = e.pending.remove(&producer_id)
                && commit
            {
                e.offsets.extend(p);
            }
        }
    }

    /// Rebuilds a transactional offset commit from `__consumer_offsets` (broker start).
    pub fn replay_pending(&self, producer_id: i64, key: &[u8], value: Option<&[u8]>) {
        let Some(OffsetsRecord::Offset(k, Some(c))) = records::decode(key, value) else { return };
        let mut groups = lock(&self.groups);
        let entry = groups.entry(k.group.clone()).or_insert_with(|| Entry {
            group: Group::new(&k.group, self.config.limits),
            offsets: BTreeMap::new(),
            pending: HashMap::new(),
            empty_since: i64::MIN,
        });
        entry.pending.entry(producer_id).or_default().insert((k.topic, k.partition), c);
    }

    /// Whether some transaction holds offsets of these partitions not yet committed
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let groups = lock(&self.groups);
        groups
            .get(group_id)
            .is_some_and(|e| e.pending.values().any(|p| p.contains_key(&(topic.to_string(), partition))))
    }

    fn persist(&self, broker: &Broker, group_id: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), ApiError> {
        let partitions = self.config.offsets_partitions;
        let topic = broker.ensure_internal_topic(OFFSETS_TOPIC, partitions)?;
        let p = records::partition_for_group(group_id, topic.partition_count());
        broker.append_records(&topic, p, records)
    }

    /// OffsetFetch for some partitions, or every committed one when `topics` is `None`.
    pub fn fetch_offsets(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Vec<TopicOffsets> {
        let groups = lock(&self.groups);
        let offsets = groups.get(group_id).map(|e| &e.offsets);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let ps =
                        parts.into_iter().map(|p| (p, offsets.and_then(|o| o.get(&(t.clone(), p))).cloned())).collect();
                    (t, ps)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<Committed>)>> = BTreeMap::new();
                for ((t, p), c) in offsets.into_iter().flatten() {
                    by_topic.entry(t.clone()).or_default().push((*p, Some(c.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// DescribeGroups for one group; `None` if unknown.
    pub fn describe(&self, group_id: &str) -> Option<GroupInfo> {
        let groups = lock(&self.groups);
        let g = &groups.get(group_id)?.group;
        let stable = g.state == GroupState::Stable;
        let protocol = if stable { g.protocol_name.clone().unwrap_or_default() } else { String::new() };
        let members = g
            .members_in_order()
            .into_iter()
            .map(|m| MemberInfo {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable { m.metadata(&protocol) } else { Bytes::new() },
                assignment: if stable { m.assignment.clone() } else { Bytes::new() },
            })
            .collect();
        Some(GroupInfo {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        })
    }

    /// ListGroups: `(group id, protocol type, state)`.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let groups = lock(&self.groups);
        let mut v: Vec<_> = groups
            .values()
            .map(|e| (e.group.id.clone(), e.group.protocol_type.clone().unwrap_or_default(), e.group.state.name()))
            .collect();
        v.sort();
        v
    }

    /// DeleteGroups for one group: only an empty group can go; its offsets are deleted.
    pub fn delete(&self, broker: &Broker, group_id: &str) -> i16 {
        let mut groups = lock(&self.groups);
        let Some(e) = groups.get(group_id) else { return ResponseError::GroupIdNotFound.code() };
        if !e.group.is_empty() {
            return ResponseError::NonEmptyGroup.code();
        }
        let tombstones: Vec<_> = e
            .offsets
            .keys()
            .map(|(t, p)| {
                let key = OffsetKey { group: group_id.to_string(), topic: t.clone(), partition: *p };
                (records::encode_offset_key(&key), None)
            })
            .collect();
        if !tombstones.is_empty()
            && let Err(err) = self.persist(broker, group_id, &tombstones)
        {
            tracing::error!(group = group_id, error = ?err, "cannot delete offsets");
            return ResponseError::CoordinatorNotAvailable.code();
        }
        groups.remove(group_id);
        0
    }

    /// OffsetDelete: a group-level error, or a code per partition.
    pub fn delete_offsets(&self, broker: &Broker, group_id: &str, topics: Vec<(String, Vec<i32>)>) -> CommitResult {
        let mut groups = lock(&self.groups);
        let Some(e) = groups.get_mut(group_id) else { return Err(ResponseError::GroupIdNotFound.code()) };
        if !e.group.is_empty() && e.group.protocol_type.as_deref() != Some("consumer") {
            return Err(ResponseError::NonEmptyGroup.code());
        }
        let subscribed = e.group.subscribed_topics();
        let mut results = Vec::new();
        let mut tombstones = Vec::new();
        for (t, parts) in topics {
            for p in parts {
                let code = if subscribed.contains(&t) {
                    ResponseError::GroupSubscribedToTopic.code()
                } else if broker.topic(&t).and_then(|x| x.partition(p)).is_none() {
                    ResponseError::UnknownTopicOrPartition.code()
                } else {
                    if e.offsets.contains_key(&(t.clone(), p)) {
                        let key = OffsetKey { group: group_id.to_string(), topic: t.clone(), partition: p };
                        tombstones.push((records::encode_offset_key(&key), None));
                    }
                    0
                };
                results.push(((t.clone(), p), code));
            }
        }
        if !tombstones.is_empty()
            && let Err(err) = self.persist(broker, group_id, &tombstones)
        {
            tracing::error!(group = group_id, error = ?err, "cannot delete offsets");
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        for ((t, p), code) in &results {
            if *code == 0 {
                e.offsets.remove(&(t.clone(), *p));
            }
        }
        Ok(results)
    }

    /// Advances time: session expiry, join-phase deadlines, offsets retention.
    pub fn tick(&self, broker: &Broker, wall_now_ms: i64) {
        let mut groups = lock(&self.groups);
        let now = self.now();
        let mut expired = Vec::new();
        for (id, e) in groups.iter_mut() {
            let was_empty = e.group.is_empty();
            e.group.tick(now);
            if e.group.is_empty() && !was_empty {
                e.empty_since = wall_now_ms;
            }
            if e.group.is_empty()
                && e.group.state == GroupState::Empty
                && wall_now_ms - e.empty_since > self.config.offsets_retention_ms
            {
                expired.push(id.clone());
            }
        }
        for id in expired {
            let Some(e) = groups.get(&id) else { continue };
            let tombstones: Vec<_> = e
                .offsets
                .keys()
                .map(|(t, p)| {
                    let key = OffsetKey { group: id.clone(), topic: t.clone(), partition: *p };
                    (records::encode_offset_key(&key), None)
                })
                .collect();
            if tombstones.is_empty() || self.persist(broker, &id, &tombstones).is_ok() {
                tracing::info!(group = %id, offsets = tombstones.len(), "offsets retention expired the group's offsets");
                groups.remove(&id);
            }
        }
    }

    /// Rebuilds committed offsets from one record of `__consumer_offsets` (broker start).
    pub fn replay(&self, key: &[u8], value: Option<&[u8]>) {
        let Some(OffsetsRecord::Offset(k, c)) = records::decode(key, value) else { return };
        let mut groups = lock(&self.groups);
        let entry = groups.entry(k.group.clone()).or_insert_with(|| Entry {
            group: Group::new(&k.group, self.config.limits),
            offsets: BTreeMap::new(),
            pending: HashMap::new(),
            empty_since: i64::MIN,
        });
        match c {
            Some(c) => {
                entry.empty_since = entry.empty_since.max(c.commit_timestamp);
                entry.offsets.insert((k.topic, k.partition), c);
            }
            None => {
                entry.offsets.remove(&(k.topic, k.partition));
            }
        }
    }
}
