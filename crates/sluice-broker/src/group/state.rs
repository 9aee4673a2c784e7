//! One consumer group's membership state machine (Kafka's classic rebalance protocol).
//!
//! Deterministic: time comes in as `now` (milliseconds of a monotonic clock), nothing here
//! sleeps or does I/O. A JoinGroup or SyncGroup that has to wait for the rest of the group
//! leaves a [`oneshot`] sender in its member; the answer is sent when the phase completes, by
//! a later request or by [`Group::tick`].
//!
//! States, as Kafka names them: `Empty` → `PreparingRebalance` (members (re)join) →
//! `CompletingRebalance` (the leader computes the assignment and sends it with SyncGroup) →
//! `Stable`. Any join of a new member, a leave, a session expiry or a changed subscription sends
//! the group back to `PreparingRebalance`.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap};
use tokio::sync::oneshot;

/// Kafka's group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be stored).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment handed out; members heartbeat.
    Stable,
}

impl GroupState {
    /// The name Kafka reports (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What a JoinGroup hands back.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    /// Kafka error code (0 = none).
    pub error: i16,
    /// The generation formed.
    pub generation: i32,
    /// The chosen protocol type (`consumer`, ...).
    pub protocol_type: Option<String>,
    /// The chosen assignor (`range`, `cooperative-sticky`, ...).
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The joining member's id.
    pub member_id: String,
    /// For the leader: every member with its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    fn error(e: ResponseError, member_id: &str) -> Self {
        JoinResult { error: e.code(), generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

/// What a SyncGroup hands back.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    /// Kafka error code.
    pub error: i16,
    /// Protocol type of the generation.
    pub protocol_type: Option<String>,
    /// Assignor of the generation.
    pub protocol_name: Option<String>,
    /// This member's assignment, as the leader encoded it.
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(e: ResponseError) -> Self {
        SyncResult { error: e.code(), ..Default::default() }
    }
}

/// A JoinGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Member id sent by the client ("" for a new member).
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// `session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms` (the rebalance timeout); v0 uses the session timeout.
    pub rebalance_timeout_ms: i32,
    /// `consumer`, `connect`, ...
    pub protocol_type: String,
    /// Assignors in the member's order of preference, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// Whether the client understands MEMBER_ID_REQUIRED (JoinGroup v4+).
    pub require_known_member_id: bool,
}

/// Either an answer now, or a receiver for the answer to come.
#[derive(Debug)]
pub enum Reply<T> {
    /// Answered at once.
    Now(T),
    /// Answered when the group's phase completes.
    Later(oneshot::Receiver<T>),
}

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    /// Member id.
    pub id: String,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    /// Current assignment.
    pub assignment: Bytes,
    last_seen: u64,
    /// Order of first join: the oldest member becomes leader.
    joined_order: u64,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

/// Group-level limits, from the broker's settings.
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    pub initial_rebalance_delay_ms: u64,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits { min_session_timeout_ms: 6_000, max_session_timeout_ms: 1_800_000, initial_rebalance_delay_ms: 0 }
    }
}

/// One group's membership.
#[derive(Debug)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Current state.
    pub state: GroupState,
    /// Current generation (0 before the first).
    pub generation: i32,
    /// Protocol type of the members.
    pub protocol_type: Option<String>,
    /// Assignor chosen for the current generation.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined: id → expiry.
    pending: HashMap<String, u64>,
    /// Static members: instance id → member id.
    statics: HashMap<String, String>,
    /// When the join phase ends at the latest.
    join_deadline: Option<u64>,
    /// Earliest end of the join phase of a new group (initial rebalance delay).
    join_not_before: u64,
    next_order: u64,
    limits: GroupLimits,
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl Group {
    /// A new, empty group.
    pub fn new(id: impl Into<String>, limits: GroupLimits) -> Self {
        Group {
            id: id.into(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            join_deadline: None,
            join_not_before: 0,
            next_order: 0,
            limits,
        }
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members in join order.
    pub fn members_in_order(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.members.values().collect();
        v.sort_by_key(|m| m.joined_order);
        v
    }

    /// Checks that `member_id` (with `instance_id`) is a current member: Kafka's fencing rules.
    fn check_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ResponseError> {
        if let Some(inst) = instance_id
            && let Some(known) = self.statics.get(inst)
            && known != member_id
        {
            return Err(ResponseError::FencedInstanceId);
        }
        if self.members.contains_key(member_id) { Ok(()) } else { Err(ResponseError::UnknownMemberId) }
    }

    /// Handles JoinGroup.
    pub fn join(&mut self, now: u64, req: JoinRequest) -> Reply<JoinResult> {
        tracing::debug!(group = %self.id, member = %req.member_id, state = ?self.state, generation = self.generation, "JoinGroup");
        if req.session_timeout_ms < self.limits.min_session_timeout_ms
            || req.session_timeout_ms > self.limits.max_session_timeout_ms
        {
            return Reply::Now(JoinResult::error(ResponseError::InvalidSessionTimeout, &req.member_id));
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return Reply::Now(JoinResult::error(ResponseError::InconsistentGroupProtocol, &req.member_id));
        }
        if !self.members.is_empty() && !self.supports(&req.protocol_type, &req.protocols) {
            return Reply::Now(JoinResult::error(ResponseError::InconsistentGroupProtocol, &req.member_id));
        }
        if req.member_id.is_empty() {
            return self.join_new(now, req);
        }
        // A known member id.
        if let Some(inst) = &req.instance_id
            && let Some(known) = self.statics.get(inst)
            && known != &req.member_id
        {
            return Reply::Now(JoinResult::error(ResponseError::FencedInstanceId, &req.member_id));
        }
        if self.pending.remove(&req.member_id).is_some() {
            return self.add_and_rebalance(now, req.member_id.clone(), req);
        }
        let Some(member) = self.members.get(&req.member_id) else {
            return Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, &req.member_id));
        };
        let same = member.protocols == req.protocols;
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.update_and_wait(now, req),
            GroupState::CompletingRebalance if same => {
                // A retried join of this generation: answer with what it already got.
                let r = self.join_result_for(&req.member_id);
                Reply::Now(r)
            }
            GroupState::Stable if same && !is_leader => Reply::Now(self.join_result_for(&req.member_id)),
            _ => {
                // The leader rejoining (to rebalance on a metadata change) or changed metadata.
                let rx = self.update_and_wait(now, req);
                self.prepare_rebalance(now);
                self.maybe_complete_join(now);
                rx
            }
        }
    }

    fn join_new(&mut self, now: u64, req: JoinRequest) -> Reply<JoinResult> {
        if let Some(inst) = req.instance_id.clone() {
            let new_id = new_member_id(&req.client_id);
            if let Some(old_id) = self.statics.get(&inst).cloned() {
                // A static member restarting: it takes over the old member's place.
                if let Some(mut old) = self.members.remove(&old_id) {
                    if let Some(tx) = old.awaiting_join.take() {
                        let _ = tx.send(JoinResult::error(ResponseError::FencedInstanceId, &old_id));
                    }
                    if let Some(tx) = old.awaiting_sync.take() {
                        let _ = tx.send(SyncResult::error(ResponseError::FencedInstanceId));
                    }
                    let unchanged = old.protocols == req.protocols;
                    let order = old.joined_order;
                    let assignment = old.assignment.clone();
                    self.statics.insert(inst, new_id.clone());
                    if self.leader.as_deref() == Some(old_id.as_str()) {
                        self.leader = Some(new_id.clone());
                    }
                    let mut m = self.member_from(now, new_id.clone(), &req);
                    m.joined_order = order;
                    m.assignment = assignment;
                    if self.state == GroupState::Stable && unchanged {
                        // No rebalance: the member gets its old assignment back with SyncGroup.
                        self.members.insert(new_id.clone(), m);
                        return Reply::Now(self.join_result_for(&new_id));
                    }
                    self.members.insert(new_id.clone(), m);
                    let (tx, rx) = oneshot::channel();
                    if let Some(m) = self.members.get_mut(&new_id) {
                        m.awaiting_join = Some(tx);
                    }
                    self.prepare_rebalance(now);
                    self.maybe_complete_join(now);
                    return Reply::Later(rx);
                }
            }
            self.statics.insert(inst, new_id.clone());
            return self.add_and_rebalance(now, new_id, req);
        }
        let new_id = new_member_id(&req.client_id);
        if req.require_known_member_id {
            // KIP-394: hand out the id; the client joins again with it.
            self.pending.insert(new_id.clone(), now + req.session_timeout_ms as u64);
            return Reply::Now(JoinResult::error(ResponseError::MemberIdRequired, &new_id));
        }
        self.add_and_rebalance(now, new_id, req)
    }

    fn member_from(&mut self, now: u64, id: String, req: &JoinRequest) -> Member {
        self.next_order += 1;
        Member {
            id,
            instance_id: req.instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            last_seen: now,
            joined_order: self.next_order,
            awaiting_join: None,
            awaiting_sync: None,
        }
    }

    fn add_and_rebalance(&mut self, now: u64, id: String, req: JoinRequest) -> Reply<JoinResult> {
        let member = self.member_from(now, id.clone(), &req);
        let was_empty = self.members.is_empty();
        self.members.insert(id.clone(), member);
        if was_empty && self.state == GroupState::Empty {
            self.join_not_before = now + self.limits.initial_rebalance_delay_ms;
        }
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.members.get_mut(&id) {
            m.awaiting_join = Some(tx);
        }
        self.prepare_rebalance(now);
        self.maybe_complete_join(now);
        Reply::Later(rx)
    }

    fn update_and_wait(&mut self, now: u64, req: JoinRequest) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.members.get_mut(&req.member_id) {
            if let Some(old) = m.awaiting_join.take() {
                let _ = old.send(JoinResult::error(ResponseError::UnknownMemberId, &req.member_id));
            }
            m.protocols = req.protocols;
            m.protocol_type = req.protocol_type;
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.client_id = req.client_id;
            m.client_host = req.client_host;
            m.last_seen = now;
            m.awaiting_join = Some(tx);
        }
        if self.state == GroupState::PreparingRebalance {
            self.maybe_complete_join(now);
        }
        Reply::Later(rx)
    }

    /// Whether a newcomer's protocols fit the group: same type, and at least one assignor that
    /// every current member also supports.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        let Some(first) = self.members.values().next() else { return true };
        if first.protocol_type != protocol_type {
            return false;
        }
        protocols.iter().any(|(name, _)| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == name)))
    }

    fn prepare_rebalance(&mut self, now: u64) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for an assignment of the abandoned generation must rejoin.
            for m in self.members.values_mut() {
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(SyncResult::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        if self.state != GroupState::PreparingRebalance {
            let timeout = self.members.values().map(|m| m.rebalance_timeout_ms.max(0) as u64).max().unwrap_or(0);
            self.join_deadline = Some(now + timeout);
            self.state = GroupState::PreparingRebalance;
        }
    }

    /// Ends the join phase once every member has rejoined (and the initial delay is over).
    fn maybe_complete_join(&mut self, now: u64) {
        if self.state != GroupState::PreparingRebalance || now < self.join_not_before {
            return;
        }
        if self.members.values().all(|m| m.awaiting_join.is_some()) {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: u64) {
        // Members that did not rejoin in time are out.
        let gone: Vec<String> =
            self.members.iter().filter(|(_, m)| m.awaiting_join.is_none()).map(|(id, _)| id.clone()).collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.join_deadline = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.generation += 1;
            self.leader = None;
            self.protocol_name = None;
            return;
        }
        self.generation += 1;
        self.protocol_type = self.members.values().next().map(|m| m.protocol_type.clone());
        self.protocol_name = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members_in_order().first().map(|m| m.id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        tracing::debug!(group = %self.id, generation = self.generation, leader = ?self.leader, members = self.members.len(), "join phase complete");
        // As Kafka does: every member's session starts afresh when the join phase ends (a member
        // that joined early has been waiting in JoinGroup, not failing to heartbeat).
        for m in self.members.values_mut() {
            m.last_seen = now;
        }
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result_for(&id);
            if let Some(tx) = self.members.get_mut(&id).and_then(|m| m.awaiting_join.take()) {
                let _ = tx.send(result);
            }
        }
    }

    /// Kafka's vote: each member votes for its most preferred assignor among those all members
    /// support; the most votes wins, ties going to the leader-side order of preference.
    fn select_protocol(&self) -> Option<String> {
        let ordered = self.members_in_order();
        let first = ordered.first()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(x, _)| x == *n)))
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n))
                && let Some(v) = votes.iter_mut().find(|(_, c)| *c == name)
            {
                v.0 += 1;
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes.iter().find(|(n, _)| *n == best).map(|(_, c)| (*c).clone())
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members_in_order()
                .into_iter()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    /// Handles SyncGroup.
    pub fn sync(
        &mut self,
        now: u64,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        tracing::debug!(group = %self.id, member = %member_id, state = ?self.state, generation, current = self.generation, "SyncGroup");
        if let Err(e) = self.check_member(member_id, instance_id) {
            return Reply::Now(SyncResult::error(e));
        }
        if generation != self.generation {
            return Reply::Now(SyncResult::error(ResponseError::IllegalGeneration));
        }
        match self.state {
            GroupState::Empty => Reply::Now(SyncResult::error(ResponseError::UnknownMemberId)),
            GroupState::PreparingRebalance => Reply::Now(SyncResult::error(ResponseError::RebalanceInProgress)),
            GroupState::Stable => {
                let m = &self.members[member_id];
                Reply::Now(self.sync_result(m.assignment.clone()))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(member_id) {
                    m.last_seen = now;
                    m.awaiting_sync = Some(tx);
                }
                if self.leader.as_deref() == Some(member_id) {
                    let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.remove(&m.id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    let (pt, pn) = (self.protocol_type.clone(), self.protocol_name.clone());
                    for m in self.members.values_mut() {
                        m.last_seen = now;
                        if let Some(tx) = m.awaiting_sync.take() {
                            let _ = tx.send(SyncResult {
                                error: 0,
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            });
                        }
                    }
                }
                Reply::Later(rx)
            }
        }
    }

    fn sync_result(&self, assignment: Bytes) -> SyncResult {
        SyncResult {
            error: 0,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    /// Handles Heartbeat; the error code to answer with.
    pub fn heartbeat(&mut self, now: u64, member_id: &str, instance_id: Option<&str>, generation: i32) -> i16 {
        if let Err(e) = self.check_member(member_id, instance_id) {
            tracing::debug!(group = %self.id, member = %member_id, error = ?e, "Heartbeat refused");
            return e.code();
        }
        if generation != self.generation {
            tracing::debug!(group = %self.id, member = %member_id, generation, current = self.generation, "Heartbeat of another generation");
            return ResponseError::IllegalGeneration.code();
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen = now;
        }
        match self.state {
            GroupState::PreparingRebalance => ResponseError::RebalanceInProgress.code(),
            GroupState::Empty => ResponseError::UnknownMemberId.code(),
            _ => 0,
        }
    }

    /// Handles one member of a LeaveGroup; the error code for that member.
    pub fn leave(&mut self, now: u64, member_id: &str, instance_id: Option<&str>) -> i16 {
        let id = match instance_id {
            Some(inst) => match self.statics.get(inst) {
                Some(known) if member_id.is_empty() || known == member_id => known.clone(),
                Some(_) => return ResponseError::FencedInstanceId.code(),
                None => return ResponseError::UnknownMemberId.code(),
            },
            None => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            return 0;
        }
        if !self.members.contains_key(&id) {
            return ResponseError::UnknownMemberId.code();
        }
        self.remove_member(&id);
        self.after_departure(now);
        0
    }

    fn remove_member(&mut self, id: &str) {
        if let Some(mut m) = self.members.remove(id) {
            tracing::debug!(group = %self.id, member = %id, state = ?self.state, "member removed");
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error(ResponseError::UnknownMemberId, id));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(ResponseError::UnknownMemberId));
            }
            if let Some(inst) = &m.instance_id
                && self.statics.get(inst).map(String::as_str) == Some(id)
            {
                self.statics.remove(inst);
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    fn after_departure(&mut self, now: u64) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.state = GroupState::Empty;
                    self.generation += 1;
                    self.protocol_name = None;
                } else {
                    self.prepare_rebalance(now);
                }
            }
            GroupState::PreparingRebalance => {
                if self.members.is_empty() {
                    self.state = GroupState::Empty;
                    self.generation += 1;
                    self.join_deadline = None;
                    self.protocol_name = None;
                } else {
                    self.maybe_complete_join(now);
                }
            }
            GroupState::Empty => {}
        }
    }

    /// Advances time: expires sessions and pending member ids, ends a join phase whose time is
    /// up. Returns whether anything changed.
    pub fn tick(&mut self, now: u64) -> bool {
        let mut changed = false;
        let before = self.pending.len();
        self.pending.retain(|_, expiry| *expiry > now);
        changed |= before != self.pending.len();
        // A member waiting in JoinGroup is alive; the rest must heartbeat within the session.
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && now > m.last_seen + m.session_timeout_ms.max(0) as u64)
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            tracing::info!(group = %self.id, member = %id, "member session expired; removing it");
            self.remove_member(id);
        }
        if !expired.is_empty() {
            self.after_departure(now);
            changed = true;
        }
        if self.state == GroupState::PreparingRebalance {
            let all_in = self.members.values().all(|m| m.awaiting_join.is_some());
            let timed_out = self.join_deadline.is_some_and(|d| now >= d);
            if now >= self.join_not_before && (all_in || timed_out) {
                self.complete_join(now);
                changed = true;
            }
        }
        changed
    }

    /// The topics the members subscribed to, read from their `consumer` protocol metadata
    /// (OffsetDelete refuses to drop offsets of a subscribed topic).
    pub fn subscribed_topics(&self) -> Vec<String> {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        if self.protocol_type.as_deref() != Some("consumer") {
            return Vec::new();
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut topics = Vec::new();
        for m in self.members.values() {
            let mut meta = m.metadata(&protocol);
            if meta.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([meta[0], meta[1]]);
            bytes::Buf::advance(&mut meta, 2);
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut meta, version.clamp(0, 3)) {
                topics.extend(sub.topics.into_iter().map(|t| t.to_string()));
            }
        }
        topics.sort();
        topics.dedup();
        topics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_string(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from_static(b"m"))).collect(),
            require_known_member_id: true,
        }
    }

    fn now<T: std::fmt::Debug>(r: Reply<T>) -> T {
        match r {
            Reply::Now(v) => v,
            Reply::Later(mut rx) => rx.try_recv().expect("answer should be ready"),
        }
    }

    fn later<T>(r: Reply<T>) -> oneshot::Receiver<T> {
        match r {
            Reply::Later(rx) => rx,
            Reply::Now(_) => panic!("expected to wait"),
        }
    }

    /// A member joins with the MEMBER_ID_REQUIRED round trip; returns its id and join result.
    fn join_fresh(g: &mut Group, t: u64, protocols: &[&str]) -> Reply<JoinResult> {
        let first = now(g.join(t, req("", protocols)));
        assert_eq!(first.error, ResponseError::MemberIdRequired.code());
        g.join(t, req(&first.member_id, protocols))
    }

    #[test]
    fn single_member_forms_generation_one_and_syncs() {
        let mut g = Group::new("g", GroupLimits::default());
        let j = now(join_fresh(&mut g, 0, &["range"]));
        assert_eq!((j.error, j.generation, j.leader.as_str()), (0, 1, j.member_id.as_str()));
        assert_eq!(j.protocol_name.as_deref(), Some("range"));
        assert_eq!(j.members.len(), 1);
        let s = now(g.sync(1, &j.member_id, None, 1, vec![(j.member_id.clone(), Bytes::from_static(b"A"))]));
        assert_eq!((s.error, &s.assignment[..]), (0, &b"A"[..]));
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.heartbeat(2, &j.member_id, None, 1), 0);
        assert_eq!(g.heartbeat(2, &j.member_id, None, 0), ResponseError::IllegalGeneration.code());
        assert_eq!(g.heartbeat(2, "nobody", None, 1), ResponseError::UnknownMemberId.code());
    }

    #[test]
    fn second_member_triggers_rebalance_and_both_get_assignments() {
        let mut g = Group::new("g", GroupLimits::default());
        let a = now(join_fresh(&mut g, 0, &["range", "roundrobin"]));
        now(g.sync(0, &a.member_id, None, 1, vec![(a.member_id.clone(), Bytes::from_static(b"all"))]));
        // b joins: the group waits for a to rejoin.
        let mut b_rx = later(join_fresh(&mut g, 10, &["roundrobin", "range"]));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.heartbeat(20, &a.member_id, None, 1), ResponseError::RebalanceInProgress.code());
        assert!(b_rx.try_recv().is_err());
        let a2 = now(g.join(30, req(&a.member_id, &["range", "roundrobin"])));
        let b = b_rx.try_recv().unwrap();
        assert_eq!((a2.generation, b.generation), (2, 2));
        assert_eq!(a2.leader, a.member_id, "the oldest member stays leader");
        assert_eq!(a2.members.len(), 2);
        assert!(b.members.is_empty());
        // One vote each; the tie goes to the leader's preference.
        assert_eq!(a2.protocol_name.as_deref(), Some("range"));
        // The follower's sync waits for the leader's.
        let mut b_sync = later(g.sync(31, &b.member_id, None, 2, vec![]));
        assert!(b_sync.try_recv().is_err());
        let a_sync = now(g.sync(
            32,
            &a.member_id,
            None,
            2,
            vec![(a.member_id.clone(), Bytes::from_static(b"p0")), (b.member_id.clone(), Bytes::from_static(b"p1"))],
        ));
        assert_eq!(&a_sync.assignment[..], b"p0");
        assert_eq!(&b_sync.try_recv().unwrap().assignment[..], b"p1");
    }

    #[test]
    fn session_expiry_removes_member_and_rebalances_the_rest() {
        let mut g = Group::new("g", GroupLimits::default());
        let a = now(join_fresh(&mut g, 0, &["range"]));
        now(g.sync(0, &a.member_id, None, 1, vec![]));
        let b_rx = later(join_fresh(&mut g, 0, &["range"]));
        let a2 = now(g.join(0, req(&a.member_id, &["range"])));
        let b = { b_rx }.try_recv().unwrap();
        let _b_sync = later(g.sync(0, &b.member_id, None, 2, vec![]));
        now(g.sync(0, &a.member_id, None, a2.generation, vec![]));
        assert_eq!(g.state, GroupState::Stable);
        // b stops heartbeating; a keeps going.
        for t in (1_000..=10_000).step_by(1_000) {
            assert_eq!(g.heartbeat(t, &a.member_id, None, 2), 0);
            g.tick(t);
        }
        assert!(g.members.contains_key(&b.member_id), "not expired before the session timeout");
        g.tick(10_001);
        assert!(!g.members.contains_key(&b.member_id));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let a3 = now(g.join(10_002, req(&a.member_id, &["range"])));
        assert_eq!((a3.generation, a3.members.len()), (3, 1));
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let mut g = Group::new("g", GroupLimits::default());
        let a = now(join_fresh(&mut g, 0, &["range"]));
        now(g.sync(0, &a.member_id, None, 1, vec![]));
        let mut b_rx = later(join_fresh(&mut g, 100, &["range"]));
        // a keeps heartbeating (getting REBALANCE_IN_PROGRESS) but never rejoins.
        for t in (5_000..=30_000).step_by(5_000) {
            assert_eq!(g.heartbeat(t, &a.member_id, None, 1), ResponseError::RebalanceInProgress.code());
            g.tick(t);
            assert!(b_rx.try_recv().is_err(), "answered before the rebalance timeout at {t}");
        }
        g.tick(30_100);
        let b = b_rx.try_recv().unwrap();
        assert_eq!((b.error, b.generation), (0, 2));
        assert_eq!(b.leader, b.member_id);
        assert!(!g.members.contains_key(&a.member_id));
    }

    #[test]
    fn sessions_restart_when_a_long_join_phase_ends() {
        let mut g = Group::new("g", GroupLimits::default());
        let a = now(join_fresh(&mut g, 0, &["range"]));
        now(g.sync(0, &a.member_id, None, 1, vec![]));
        // b joins at 5 s; a rejoins only at 25 s (within its 30 s rebalance timeout).
        let mut b_rx = later(join_fresh(&mut g, 5_000, &["range"]));
        for t in (5_000..25_000).step_by(1_000) {
            g.heartbeat(t, &a.member_id, None, 1);
            g.tick(t);
        }
        let a2 = now(g.join(25_000, req(&a.member_id, &["range"])));
        let b = b_rx.try_recv().unwrap();
        assert_eq!((a2.generation, b.generation), (2, 2));
        // b waited 20 s in JoinGroup; its session (10 s) counts from the end of the join phase.
        g.tick(25_100);
        assert!(g.members.contains_key(&b.member_id), "b expired right after the join phase");
        g.tick(35_001);
        assert!(!g.members.contains_key(&b.member_id), "b never synced nor heartbeat: expired");
    }

    #[test]
    fn leave_rebalances_and_last_leave_empties() {
        let mut g = Group::new("g", GroupLimits::default());
        let a = now(join_fresh(&mut g, 0, &["range"]));
        now(g.sync(0, &a.member_id, None, 1, vec![]));
        assert_eq!(g.leave(5, &a.member_id, None), 0);
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.leave(5, &a.member_id, None), ResponseError::UnknownMemberId.code());
    }

    #[test]
    fn static_member_restart_keeps_assignment_without_rebalance() {
        let mut g = Group::new("g", GroupLimits::default());
        let mut r = req("", &["range"]);
        r.instance_id = Some("i-1".into());
        let a = now(g.join(0, r.clone()));
        assert_eq!(a.error, 0, "static members get an id at once");
        now(g.sync(0, &a.member_id, Some("i-1"), 1, vec![(a.member_id.clone(), Bytes::from_static(b"P"))]));
        // Restart: same instance id, no member id.
        let a2 = now(g.join(50, r.clone()));
        assert_ne!(a2.member_id, a.member_id);
        assert_eq!(a2.generation, 1, "no new generation");
        assert_eq!(g.state, GroupState::Stable);
        let s = now(g.sync(51, &a2.member_id, Some("i-1"), 1, vec![]));
        assert_eq!(&s.assignment[..], b"P");
        // The old incarnation is fenced.
        assert_eq!(g.heartbeat(52, &a.member_id, Some("i-1"), 1), ResponseError::FencedInstanceId.code());
    }

    #[test]
    fn inconsistent_protocols_and_bad_timeouts_are_refused() {
        let mut g = Group::new("g", GroupLimits::default());
        now(join_fresh(&mut g, 0, &["range"]));
        let j = now(g.join(0, req("", &["sticky"])));
        assert_eq!(j.error, ResponseError::InconsistentGroupProtocol.code());
        let mut r = req("", &["range"]);
        r.session_timeout_ms = 10;
        assert_eq!(now(g.join(0, r)).error, ResponseError::InvalidSessionTimeout.code());
    }

    #[test]
    fn initial_delay_waits_for_more_members() {
        let mut g = Group::new("g", GroupLimits { initial_rebalance_delay_ms: 3_000, ..GroupLimits::default() });
        let mut a_rx = later(join_fresh(&mut g, 0, &["range"]));
        let mut b_rx = later(join_fresh(&mut g, 1_000, &["range"]));
        g.tick(2_000);
        assert!(a_rx.try_recv().is_err());
        g.tick(3_000);
        let (a, b) = (a_rx.try_recv().unwrap(), b_rx.try_recv().unwrap());
        assert_eq!((a.generation, b.generation), (1, 1));
    }
}
