//! The aggregate operator: keyed partial states, windows, watermark-driven closing, triggers,
//! state expiry, and per-virtual-node snapshots.
//!
//! State is partitioned by the virtual node of each group key ([`VNODES`] of them):
//! - running aggregates: per vnode, a hash table of groups;
//! - tumbling / sliding windows: per pane start, per vnode, a hash table of groups (see
//!   [`crate::window`]); a window's result merges the panes it covers;
//! - sessions: per vnode, a hash table of groups, each with its open sessions.
//!
//! Hooks, in the shape of arroyo's operators and quinn-proto's state machines (no clock, no
//! I/O): [`AggregateOp::process_row`] adds a row or reports it late; [`AggregateOp::handle_watermark`]
//! closes windows and sessions whose end the watermark passed (emitting them in append mode)
//! and drops their state; [`AggregateOp::handle_trigger`] emits changed rows (update mode) or
//! the whole table (complete mode); [`AggregateOp::snapshot_vnode`] /
//! [`AggregateOp::restore_vnode`] serve checkpoints.
//!
//! Rows of one emission are sorted by window, then group key, so the output does not depend on
//! hash-table layout (and so on whether state was restored from a checkpoint).

use crate::agg::{Acc, AccSnap, Aggregation, KeyRef};
use crate::checkpoint::SerValue;
use crate::key::{GroupKey, VNODES, values_cmp, vnode_of};
use crate::plan::OutputMode;
use crate::window::{PaneSpec, Windowing};
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use sluice_formats::{Row, RowSchema, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
struct Group {
    key: GroupKey,
    hash: u64,
    accs: Box<[Acc]>,
    dirty: bool,
}

type Table = HashTable<Group>;

#[derive(Debug, Clone)]
struct Session {
    start: i64,
    end: i64,
    accs: Box<[Acc]>,
    dirty: bool,
}

#[derive(Debug, Clone)]
struct SessionGroup {
    key: GroupKey,
    hash: u64,
    /// Disjoint, sorted by start.
    sessions: Vec<Session>,
}

#[derive(Debug, Clone)]
struct SessionVnode {
    table: HashTable<SessionGroup>,
    /// Smallest session end in this vnode (`i64::MAX` when empty): closing scans a vnode only
    /// when the watermark reaches it.
    min_end: i64,
}

#[derive(Debug, Clone)]
enum Store {
    Global(Vec<Table>),
    Panes(BTreeMap<i64, Vec<Table>>),
    Sessions(Vec<SessionVnode>),
}

fn empty_tables() -> Vec<Table> {
    (0..VNODES).map(|_| HashTable::new()).collect()
}

/// The group of `key` in `table`, added if new: a lookup, and an insert out of line when it
/// misses. (hashbrown's `entry` first makes room for an insert and then goes through an
/// out-of-line `or_insert_with` on every row: 22M more instructions over the 600,000 lookups of a
/// 300,000-record user-events run.)
#[inline(always)]
fn upsert<'t>(table: &'t mut Table, hash: u64, key: &KeyRef<'_>, agg: &Aggregation) -> &'t mut Group {
    match table.find_entry(hash, |g| g.hash == hash && key.matches(&g.key)) {
        Ok(group) => group.into_mut(),
        Err(absent) => new_group(absent.into_table(), hash, key, agg),
    }
}

#[cold]
fn new_group<'t>(table: &'t mut Table, hash: u64, key: &KeyRef<'_>, agg: &Aggregation) -> &'t mut Group {
    let group = Group { key: key.to_key(), hash, accs: agg.new_accs(), dirty: false };
    table.insert_unique(hash, group, |g| g.hash).into_mut()
}

/// What became of a row offered to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Added to state. `partially_late`: a sliding window holding it had already closed, so
    /// it counts only towards the windows still open (as Spark does).
    Accepted { partially_late: bool },
    /// Every window it belongs to has closed: not added.
    Late { window_end: i64 },
}

/// One aggregate step's operator.
#[derive(Debug, Clone)]
pub(crate) struct AggregateOp {
    pub(crate) agg: Aggregation,
    windowing: Windowing,
    mode: OutputMode,
    store: Store,
    watermark: Option<i64>,
    /// Panes: windows starting before this are closed (emitted or empty). Brought up to date
    /// with the watermark lazily: when windows close and when a pane is created.
    next_start: i64,
    /// No window or session can close before the watermark reaches this, so most watermark
    /// advances cost one comparison. `i64::MIN` forces a full look.
    next_close: i64,
    scratch: Vec<Value>,
    /// The pane and window ends of the last row's time, for the rows after it in the same pane.
    times: PaneTimes,
}

/// What a row's event time `t` means to panes: its pane, and the ends of the first and last
/// windows holding it. They are the same for every time in one pane (window starts and ends
/// are pane boundaries), so rows in time order, which most are, skip the three divisions.
#[derive(Debug, Clone, Copy)]
struct PaneTimes {
    /// Times from `pane` up to (not including) `to` share these values; none when `to` is not
    /// above `pane`.
    pane: i64,
    to: i64,
    first_end: i64,
    last_end: i64,
}

impl PaneTimes {
    const NONE: PaneTimes = PaneTimes { pane: 0, to: 0, first_end: 0, last_end: 0 };

    #[inline]
    fn holds(&self, t: i64) -> bool {
        self.pane <= t && t < self.to
    }

    fn of(spec: &PaneSpec, t: i64) -> PaneTimes {
        let pane = spec.pane_of(t);
        // Near the ends of i64 the arithmetic saturates, and the values are good for `t` alone.
        let exact = t.unsigned_abs() < 1 << 61 && spec.size < 1 << 60;
        PaneTimes {
            pane,
            to: if exact { pane + spec.pane } else { pane },
            first_end: spec.end(spec.first_start(t)),
            last_end: spec.end(spec.last_start(t)),
        }
    }
}

/// The part of an operator's state that is not keyed (restored on every instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OpShared {
    pub(crate) watermark: Option<i64>,
    pub(crate) next_start: i64,
}

/// A group's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupSnap {
    key: Vec<SerValue>,
    accs: Vec<AccSnap>,
    dirty: bool,
}

/// A session in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionSnap {
    start: i64,
    end: i64,
    accs: Vec<AccSnap>,
    dirty: bool,
}

/// One vnode's state of one operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum VnodeSnap {
    Global(Vec<GroupSnap>),
    Panes(Vec<(i64, Vec<GroupSnap>)>),
    Sessions(Vec<(Vec<SerValue>, Vec<SessionSnap>)>),
}

fn key_snap(k: &GroupKey) -> Vec<SerValue> {
    k.0.iter().map(SerValue::from).collect()
}

fn group_snaps(table: &Table) -> Vec<GroupSnap> {
    let mut groups: Vec<&Group> = table.iter().collect();
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    groups
        .into_iter()
        .map(|g| GroupSnap { key: key_snap(&g.key), accs: g.accs.iter().map(Acc::to_snap).collect(), dirty: g.dirty })
        .collect()
}

impl AggregateOp {
    pub(crate) fn new(agg: Aggregation, windowing: Windowing, mode: OutputMode) -> Self {
        let store = match windowing {
            Windowing::Global => Store::Global(empty_tables()),
            Windowing::Panes(_) => Store::Panes(BTreeMap::new()),
            Windowing::Session { .. } => Store::Sessions(
                (0..VNODES).map(|_| SessionVnode { table: HashTable::new(), min_end: i64::MAX }).collect(),
            ),
        };
        AggregateOp {
            agg,
            windowing,
            mode,
            store,
            watermark: None,
            next_start: i64::MIN,
            next_close: i64::MIN,
            scratch: Vec::new(),
            times: PaneTimes::NONE,
        }
    }

    /// The result schema.
    pub(crate) fn schema(&self) -> &RowSchema {
        &self.agg.schema
    }

    /// Number of groups (or group × pane / session entries) held.
    pub(crate) fn state_entries(&self) -> usize {
        match &self.store {
            Store::Global(t) => t.iter().map(HashTable::len).sum(),
            Store::Panes(p) => p.values().flat_map(|t| t.iter().map(HashTable::len)).sum(),
            Store::Sessions(v) => v.iter().flat_map(|n| n.table.iter().map(|g| g.sessions.len())).sum(),
        }
    }

    /// The virtual node of a row's group key (where [`AggregateOp::process_row`] would keep it).
    pub(crate) fn vnode_of_row(&mut self, row: &[Value]) -> u16 {
        let key = self.agg.key(row, &mut self.scratch);
        vnode_of(key.hash())
    }

    /// Adds a row with event time `t`, unless it is late.
    #[inline]
    pub(crate) fn process_row(&mut self, row: &[Value], t: i64) -> Admission {
        let wm = if self.mode == OutputMode::Complete { None } else { self.watermark };
        let AggregateOp { agg, store, scratch, windowing, next_start, next_close, times, .. } = self;
        match (store, *windowing) {
            (Store::Global(tables), _) => {
                let key = agg.key(row, scratch);
                let hash = key.hash();
                let g = upsert(&mut tables[vnode_of(hash) as usize], hash, &key, agg);
                agg.update(&mut g.accs, row, t);
                g.dirty = true;
                Admission::Accepted { partially_late: false }
            }
            (Store::Panes(panes), Windowing::Panes(spec)) => {
                if !times.holds(t) {
                    *times = PaneTimes::of(&spec, t);
                }
                let PaneTimes { pane, first_end, last_end, .. } = *times;
                let mut partially_late = false;
                if let Some(wm) = wm {
                    if last_end <= wm {
                        return Admission::Late { window_end: last_end };
                    }
                    partially_late = first_end <= wm;
                }
                let key = agg.key(row, scratch);
                let hash = key.hash();
                let tables = panes.entry(pane).or_insert_with(|| {
                    // Windows that closed while empty stay closed; then this pane's first
                    // window still to emit may close before the others.
                    if let Some(wm) = wm {
                        *next_start = (*next_start).max(spec.first_start(wm));
                    }
                    *next_close = (*next_close).min(spec.end((*next_start).max(spec.first_start(pane))));
                    empty_tables()
                });
                let g = upsert(&mut tables[vnode_of(hash) as usize], hash, &key, agg);
                agg.update(&mut g.accs, row, t);
                g.dirty = true;
                Admission::Accepted { partially_late }
            }
            (Store::Sessions(vnodes), Windowing::Session { gap }) => {
                let end = t.saturating_add(gap);
                if wm.is_some_and(|wm| end <= wm) {
                    return Admission::Late { window_end: end };
                }
                let key = agg.key(row, scratch);
                let hash = key.hash();
                let vn = &mut vnodes[vnode_of(hash) as usize];
                let g = vn
                    .table
                    .entry(hash, |g| g.hash == hash && key.matches(&g.key), |g| g.hash)
                    .or_insert_with(|| SessionGroup { key: key.to_key(), hash, sessions: Vec::new() })
                    .into_mut();
                let mut s = Session { start: t, end, accs: agg.new_accs(), dirty: true };
                agg.update(&mut s.accs, row, t);
                // Merge every session that overlaps or touches [t, t + gap].
                let mut i = 0;
                while i < g.sessions.len() {
                    let o = &g.sessions[i];
                    if o.start <= s.end && s.start <= o.end {
                        let o = g.sessions.remove(i);
                        let mut merged = o.accs;
                        Aggregation::merge(&mut merged, &s.accs);
                        s = Session { start: o.start.min(s.start), end: o.end.max(s.end), accs: merged, dirty: true };
                    } else {
                        i += 1;
                    }
                }
                let insert_at = g.sessions.iter().position(|o| o.start > s.start).unwrap_or(g.sessions.len());
                vn.min_end = vn.min_end.min(s.end);
                *next_close = (*next_close).min(s.end);
                g.sessions.insert(insert_at, s);
                Admission::Accepted { partially_late: false }
            }
            // The store always matches the windowing it was built for.
            _ => Admission::Accepted { partially_late: false },
        }
    }

    /// Advances the watermark: closes (and in append mode emits) windows and sessions whose
    /// end it passed, and drops their state. Complete mode keeps all state, as Spark does.
    pub(crate) fn handle_watermark(&mut self, wm: i64, out: &mut Vec<Row>) {
        if self.watermark.is_some_and(|cur| wm <= cur) {
            return;
        }
        self.watermark = Some(wm);
        if self.mode == OutputMode::Complete || wm < self.next_close {
            return;
        }
        let only_dirty = self.mode == OutputMode::Update;
        match self.windowing {
            Windowing::Global => {}
            Windowing::Panes(spec) => self.close_panes(spec, wm, only_dirty, out),
            Windowing::Session { .. } => self.close_sessions(wm, only_dirty, out),
        }
    }

    fn close_panes(&mut self, spec: PaneSpec, wm: i64, only_dirty: bool, out: &mut Vec<Row>) {
        loop {
            let Store::Panes(panes) = &self.store else { return };
            let Some((&p_min, _)) = panes.first_key_value() else { break };
            let s = self.next_start.max(spec.first_start(p_min));
            if spec.end(s) > wm {
                break;
            }
            self.window_rows(spec, s, only_dirty, out);
            let next = s.saturating_add(spec.slide);
            if next == s {
                break;
            }
            self.next_start = next;
            self.evict_panes();
        }
        // Windows that closed while empty stay closed: a record landing in one of their panes
        // later counts only towards windows still open.
        self.next_start = self.next_start.max(spec.first_start(wm));
        self.evict_panes();
        self.next_close = match &self.store {
            Store::Panes(panes) => match panes.first_key_value() {
                Some((&p_min, _)) => spec.end(self.next_start.max(spec.first_start(p_min))),
                None => i64::MAX,
            },
            _ => i64::MAX,
        };
    }

    fn evict_panes(&mut self) {
        let next = self.next_start;
        if let Store::Panes(panes) = &mut self.store {
            while let Some(e) = panes.first_entry() {
                if *e.key() < next {
                    e.remove();
                } else {
                    break;
                }
            }
        }
    }

    /// Appends the rows of window `[s, s + size)`, merged from its panes.
    fn window_rows(&self, spec: PaneSpec, s: i64, only_dirty: bool, out: &mut Vec<Row>) {
        let Store::Panes(panes) = &self.store else { return };
        let e = spec.end(s);
        let list: Vec<&Vec<Table>> = panes.range(s..e).map(|(_, t)| t).collect();
        if list.is_empty() {
            return;
        }
        let window = Some((s, e));
        let first = out.len();
        for v in 0..VNODES as usize {
            if list.len() == 1 {
                for g in list[0][v].iter() {
                    if !only_dirty || g.dirty {
                        out.push(self.agg.result_row(window, &g.key, &g.accs));
                    }
                }
                continue;
            }
            let mut merged: HashTable<(u64, &GroupKey, Box<[Acc]>, bool)> = HashTable::new();
            for tables in &list {
                for g in tables[v].iter() {
                    match merged.find_mut(g.hash, |m| m.0 == g.hash && *m.1 == g.key) {
                        Some(m) => {
                            Aggregation::merge(&mut m.2, &g.accs);
                            m.3 |= g.dirty;
                        }
                        None => {
                            merged.insert_unique(g.hash, (g.hash, &g.key, g.accs.clone(), g.dirty), |m| m.0);
                        }
                    }
                }
            }
            for (_, key, accs, dirty) in merged.iter() {
                if !only_dirty || *dirty {
                    out.push(self.agg.result_row(window, key, accs));
                }
            }
        }
        self.sort(&mut out[first..]);
    }

    fn sort(&self, rows: &mut [Row]) {
        let n = self.agg.key_len() + if self.agg.windowed() { 2 } else { 0 };
        rows.sort_by(|a, b| values_cmp(&a.values[..n.min(a.values.len())], &b.values[..n.min(b.values.len())]));
    }

    fn close_sessions(&mut self, wm: i64, only_dirty: bool, out: &mut Vec<Row>) {
        let first = out.len();
        let AggregateOp { store, agg, .. } = self;
        let Store::Sessions(vnodes) = store else { return };
        for vn in vnodes.iter_mut() {
            if vn.min_end > wm {
                continue;
            }
            let mut min_end = i64::MAX;
            for g in vn.table.iter_mut() {
                g.sessions.retain(|s| {
                    if s.end <= wm {
                        if !only_dirty || s.dirty {
                            out.push(agg.result_row(Some((s.start, s.end)), &g.key, &s.accs));
                        }
                        false
                    } else {
                        min_end = min_end.min(s.end);
                        true
                    }
                });
            }
            vn.table.retain(|g| !g.sessions.is_empty());
            vn.min_end = min_end;
        }
        self.next_close = vnodes.iter().map(|v| v.min_end).min().unwrap_or(i64::MAX);
        self.sort(&mut out[first..]);
    }

    /// A trigger fired: in update mode, emit the rows that changed since the last trigger; in
    /// complete mode, the whole result table. Append mode emits only on window close.
    pub(crate) fn handle_trigger(&mut self, out: &mut Vec<Row>) {
        let first = out.len();
        match self.mode {
            OutputMode::Append => return,
            OutputMode::Update | OutputMode::Complete => {}
        }
        let only_dirty = self.mode == OutputMode::Update;
        match (&self.store, self.windowing) {
            (Store::Global(tables), _) => {
                for t in tables {
                    for g in t.iter() {
                        if !only_dirty || g.dirty {
                            out.push(self.agg.result_row(None, &g.key, &g.accs));
                        }
                    }
                }
                self.sort(&mut out[first..]);
            }
            (Store::Panes(panes), Windowing::Panes(spec)) => {
                let mut starts = BTreeSet::new();
                let wm = if self.mode == OutputMode::Complete { None } else { self.watermark };
                for (&p, tables) in panes {
                    if only_dirty && !tables.iter().any(|t| t.iter().any(|g| g.dirty)) {
                        continue;
                    }
                    for s in spec.starts_of(p) {
                        let open = wm.is_none_or(|wm| spec.end(s) > wm) && (s >= self.next_start || wm.is_none());
                        if open {
                            starts.insert(s);
                        }
                    }
                }
                for s in starts {
                    self.window_rows(spec, s, only_dirty, out);
                }
            }
            (Store::Sessions(vnodes), _) => {
                for vn in vnodes {
                    for g in vn.table.iter() {
                        for s in &g.sessions {
                            if !only_dirty || s.dirty {
                                out.push(self.agg.result_row(Some((s.start, s.end)), &g.key, &s.accs));
                            }
                        }
                    }
                }
                self.sort(&mut out[first..]);
            }
            _ => {}
        }
        if only_dirty {
            self.clear_dirty();
        }
    }

    fn clear_dirty(&mut self) {
        match &mut self.store {
            Store::Global(tables) => tables.iter_mut().for_each(|t| t.iter_mut().for_each(|g| g.dirty = false)),
            Store::Panes(panes) => {
                panes.values_mut().flatten().for_each(|t| t.iter_mut().for_each(|g| g.dirty = false));
            }
            Store::Sessions(vnodes) => vnodes
                .iter_mut()
                .for_each(|v| v.table.iter_mut().for_each(|g| g.sessions.iter_mut().for_each(|s| s.dirty = false))),
        }
    }

    /// The unkeyed part of the state.
    pub(crate) fn shared(&self) -> OpShared {
        OpShared { watermark: self.watermark, next_start: self.next_start }
    }

    /// Restores the unkeyed part of the state.
    pub(crate) fn restore_shared(&mut self, s: &OpShared) {
        self.watermark = s.watermark;
        self.next_start = s.next_start;
        self.next_close = i64::MIN;
    }

    /// One vnode's keyed state.
    pub(crate) fn snapshot_vnode(&self, v: u16) -> VnodeSnap {
        let v = v as usize % VNODES as usize;
        match &self.store {
            Store::Global(tables) => VnodeSnap::Global(group_snaps(&tables[v])),
            Store::Panes(panes) => VnodeSnap::Panes(
                panes.iter().filter(|(_, t)| !t[v].is_empty()).map(|(&p, t)| (p, group_snaps(&t[v]))).collect(),
            ),
            Store::Sessions(vnodes) => {
                let mut groups: Vec<&SessionGroup> = vnodes[v].table.iter().collect();
                groups.sort_by(|a, b| a.key.cmp(&b.key));
                VnodeSnap::Sessions(
                    groups
                        .into_iter()
                        .map(|g| {
                            let sessions = g
                                .sessions
                                .iter()
                                .map(|s| SessionSnap {
                                    start: s.start,
                                    end: s.end,
                                    accs: s.accs.iter().map(Acc::to_snap).collect(),
                                    dirty: s.dirty,
                                })
                                .collect();
                            (key_snap(&g.key), sessions)
                        })
                        .collect(),
                )
            }
        }
    }

    /// Drops the state of vnode `v` (after it moved to another instance).
    pub(crate) fn clear_vnode(&mut self, v: u16) {
        let v = v as usize % VNODES as usize;
        match &mut self.store {
            Store::Global(tables) => tables[v].clear(),
            Store::Panes(panes) => {
                for t in panes.values_mut() {
                    t[v].clear();
                }
                panes.retain(|_, t| t.iter().any(|x| !x.is_empty()));
            }
            Store::Sessions(vnodes) => {
                vnodes[v].table.clear();
                vnodes[v].min_end = i64::MAX;
            }
        }
    }

    fn restore_accs(&self, snaps: Vec<AccSnap>) -> Result<Box<[Acc]>, String> {
        if snaps.len() != self.agg.specs.len() {
            return Err(format!("{} partial aggregates where the plan has {}", snaps.len(), self.agg.specs.len()));
        }
        let accs: Box<[Acc]> = snaps.into_iter().map(Acc::from_snap).collect();
        for (spec, acc) in self.agg.specs.iter().zip(accs.iter()) {
            if !spec.accepts(acc) {
                return Err("a partial aggregate does not match the plan's aggregate".to_string());
            }
        }
        Ok(accs)
    }

    /// Replaces the state of the vnode `v` by a snapshot. Keys are re-hashed; a key whose
    /// hash puts it in another vnode still lands where it hashes to.
    pub(crate) fn restore_vnode(&mut self, v: u16, snap: VnodeSnap) -> Result<(), String> {
        let v = v as usize % VNODES as usize;
        self.next_close = i64::MIN;
        let to_key = |k: Vec<SerValue>| GroupKey(k.into_iter().map(Value::from).collect());
        match snap {
            VnodeSnap::Global(groups) => {
                let mut restored = Vec::new();
                for g in groups {
                    let key = to_key(g.key);
                    restored.push(Group { hash: key.hash(), key, accs: self.restore_accs(g.accs)?, dirty: g.dirty });
                }
                let Store::Global(tables) = &mut self.store else {
                    return Err("the snapshot holds running aggregates but the plan has windows".to_string());
                };
                tables[v].clear();
                for g in restored {
                    tables[vnode_of(g.hash) as usize].insert_unique(g.hash, g, |g| g.hash);
                }
            }
            VnodeSnap::Panes(panes) => {
                let mut restored = Vec::new();
                for (p, groups) in panes {
                    for g in groups {
                        let key = to_key(g.key);
                        let accs = self.restore_accs(g.accs)?;
                        restored.push((p, Group { hash: key.hash(), key, accs, dirty: g.dirty }));
                    }
                }
                let Store::Panes(store) = &mut self.store else {
                    return Err("the snapshot holds windows but the plan's aggregate is not windowed".to_string());
                };
                for t in store.values_mut() {
                    t[v].clear();
                }
                for (p, g) in restored {
                    let tables = store.entry(p).or_insert_with(empty_tables);
                    tables[vnode_of(g.hash) as usize].insert_unique(g.hash, g, |g| g.hash);
                }
                store.retain(|_, t| t.iter().any(|x| !x.is_empty()));
            }
            VnodeSnap::Sessions(groups) => {
                let mut restored = Vec::new();
                for (k, sessions) in groups {
                    let key = to_key(k);
                    let mut ss = Vec::new();
                    for s in sessions {
                        ss.push(Session {
                            start: s.start,
                            end: s.end,
                            accs: self.restore_accs(s.accs)?,
                            dirty: s.dirty,
                        });
                    }
                    ss.sort_by_key(|s| s.start);
                    restored.push(SessionGroup { hash: key.hash(), key, sessions: ss });
                }
                let Store::Sessions(vnodes) = &mut self.store else {
                    return Err("the snapshot holds sessions but the plan has no session window".to_string());
                };
                vnodes[v].table.clear();
                vnodes[v].min_end = i64::MAX;
                for g in restored {
                    let vn = &mut vnodes[vnode_of(g.hash) as usize];
                    for s in &g.sessions {
                        vn.min_end = vn.min_end.min(s.end);
                    }
                    vn.table.insert_unique(g.hash, g, |g| g.hash);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`PaneTimes`] as computed for one time must be right for every time it says it holds:
    /// pane, first and last window ends against [`PaneSpec`]'s own arithmetic, for tumbling,
    /// sliding (even and uneven, with offsets) windows, near zero, at epoch times and at the
    /// ends of `i64`.
    #[test]
    fn pane_times_hold_for_their_whole_pane() {
        let specs = [
            PaneSpec::new(10_000, 5_000, 0),
            PaneSpec::new(60_000, 60_000, 0),
            PaneSpec::new(10, 4, 3),
            PaneSpec::new(7, 7, -2),
            PaneSpec::new(1, 1, 0),
            PaneSpec::new(i64::MAX, 3, 0),
        ];
        let mut starts = vec![0i64, -1, 1, 4_999, 5_000, -10_001, 1_795_435_200_123, -1_795_435_200_123];
        starts.extend([i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 1 << 61, -(1 << 61), (1 << 61) - 1]);
        for spec in specs {
            for &t0 in &starts {
                let pt = PaneTimes::of(&spec, t0);
                assert_eq!(pt.pane, spec.pane_of(t0), "{spec:?} {t0}");
                let direct = |t: i64| (spec.pane_of(t), spec.end(spec.first_start(t)), spec.end(spec.last_start(t)));
                assert_eq!((pt.pane, pt.first_end, pt.last_end), direct(t0), "{spec:?} {t0}");
                if !pt.holds(t0) {
                    // Only where the arithmetic saturates is a time left uncached.
                    assert!(t0.unsigned_abs() >= 1 << 61 || spec.size >= 1 << 60, "{spec:?} {t0}");
                    continue;
                }
                // Every time of the interval (sampled when wide), and the first ones outside.
                let width = pt.to - pt.pane;
                let step = (width / 1000).max(1);
                let mut t = pt.pane;
                while t < pt.to {
                    assert_eq!((pt.pane, pt.first_end, pt.last_end), direct(t), "{spec:?} {t0} {t}");
                    t += step;
                }
                assert_eq!(direct(pt.to - 1).0, pt.pane);
                assert!(!pt.holds(pt.to) && !pt.holds(pt.pane - 1));
                assert_ne!(direct(pt.to).0, pt.pane, "{spec:?} {t0}: the interval ends with the pane");
            }
        }
        assert!(!PaneTimes::NONE.holds(0));
    }
}
