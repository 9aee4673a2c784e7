//! The engine as the runtime drives it: one pipeline over the decoded source (a single
//! instance, or the shuffle stage of a scaled-out job), or, in the merge stage of a scaled-out
//! job, one pipeline per repartition partition this instance owns (see
//! [`sluice_stream::shuffle`]).

use super::checkpoint::CheckpointStore;
use super::decode::Decoder;
use super::source::RawBatch;
use sluice_formats::{Row, RowSchema};
use sluice_stream::{
    Checkpoint, CheckpointError, JobPlan, Output, Pipeline, ShuffleRecord, ShuffledIn, SourceRecord, Tables,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The merge stage's pipelines and what it needs to make more.
pub(crate) struct Merge {
    pub(crate) parts: BTreeMap<i32, Pipeline>,
    /// Each owned partition's checkpoint store (shared by the instances).
    pub(crate) stores: BTreeMap<i32, CheckpointStore>,
    pub(crate) plan: JobPlan,
    pub(crate) input: RowSchema,
    pub(crate) tables: Tables,
    /// Every partition of the source topic (each holds the watermark back).
    pub(crate) source_partitions: Vec<i32>,
}

pub(crate) enum Engine {
    /// `records`: the records of the last batch, whose fields and rows the next batch's are
    /// written over (it holds at most one batch's).
    One {
        pipeline: Pipeline,
        decoder: Decoder,
        records: Vec<SourceRecord>,
    },
    Merge(Merge),
}

/// How many records ahead of the one being decoded the decoder's input is asked into cache.
const PREFETCH_AHEAD: usize = 4;

/// Asks the cache lines of `bytes` into the L1 cache (a hint). A record's value was written by
/// the source thread, maybe on the other core, and a batch of them (2 MB of the bench's
/// transactions) outgrows the caches nearest this one: read cold, the JSON decoder stalled on
/// each record's first bytes (prefetching four records ahead took it from 0.799 to 0.786 CPU s;
/// eight or sixteen did no better).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        for at in (0..bytes.len()).step_by(64) {
            // SAFETY: SSE is part of x86-64's baseline, and a prefetch only hints: it reads
            // nothing into the program and never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().wrapping_add(at).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Gives the dead letters of a batch's records (late ones, ones without an event time) their
/// rows decoded whole: the decoder left out the columns the job does not read, but a dead
/// letter keeps the record's every value.
fn whole_rows(out: &mut [Output], decoder: &Decoder, batch: &RawBatch) {
    let mut index: Option<HashMap<(i32, i64), usize>> = None;
    for o in out {
        let Output::DeadLetter(d) = o else { continue };
        if d.row.is_none() || d.raw.is_some() {
            continue;
        }
        let index = index.get_or_insert_with(|| {
            (0..batch.len()).map(|i| batch.record(i)).enumerate().map(|(i, r)| ((r.partition, r.offset), i)).collect()
        });
        if let Some(&i) = index.get(&(d.partition, d.offset))
            && let Ok(row) = decoder.decode(batch.value(i))
        {
            d.row = Some(row);
        }
    }
}

impl Engine {
    pub(crate) fn process(&mut self, batch: &RawBatch, now: i64) -> Vec<Output> {
        match self {
            Engine::One { pipeline, decoder, records } => {
                // The pipeline's next offset of the partition of the current run of records.
                let mut floor: Option<(i32, Option<i64>)> = None;
                let mut n = 0;
                for i in 0..batch.len() {
                    let r = batch.record(i);
                    let next = match floor {
                        Some((p, next)) if p == r.partition => next,
                        _ => {
                            let next = pipeline.offsets().get(&r.partition).copied();
                            floor = Some((r.partition, next));
                            next
                        }
                    };
                    // Records handed over twice (polled before a rebalance, fetched again after
                    // it) are skipped: offsets only move forward.
                    if next.is_some_and(|next| r.offset < next) {
                        continue;
                    }
                    // Written field by field over a record of an earlier batch: one built on the
                    // stack and moved into the vector was read back right after its fields were
                    // stored, a store-forwarding stall per record.
                    if n == records.len() {
                        records.push(SourceRecord { partition: 0, offset: 0, timestamp: 0, row: Row::default() });
                    }
                    let Some(rec) = records.get_mut(n) else { continue };
                    if let Some(ahead) = batch.value(i + PREFETCH_AHEAD) {
                        prefetch(ahead);
                    }
                    match decoder.decode_into(batch.value(i), &mut rec.row) {
                        Ok(()) => {
                            (rec.partition, rec.offset, rec.timestamp) = (r.partition, r.offset, r.timestamp);
                            n += 1;
                        }
                        Err(reason) => {
                            let raw = batch.value(i).map(Arc::<[u8]>::from);
                            pipeline.handle_decode_error(r.partition, r.offset, r.timestamp, reason, raw);
                        }
                    }
                }
                if n > 0 {
                    pipeline.process_batch(&records[..n], now);
                }
                // At most one batch's kept.
                records.truncate(batch.len());
            }
            Engine::Merge(m) => {
                let mut by_part: BTreeMap<i32, Vec<ShuffledIn>> = BTreeMap::new();
                for i in 0..batch.len() {
                    let r = batch.record(i);
                    let Some(p) = m.parts.get_mut(&r.partition) else {
                        tracing::warn!(
                            partition = r.partition,
                            "a repartition record of a partition not owned; skipped"
                        );
                        continue;
                    };
                    if p.offsets().get(&r.partition).is_some_and(|&next| r.offset < next) {
                        continue;
                    }
                    match ShuffleRecord::decode(batch.value(i).unwrap_or_default()) {
                        Ok(record) => by_part.entry(r.partition).or_default().push(ShuffledIn {
                            partition: r.partition,
                            offset: r.offset,
                            timestamp: r.timestamp,
                            record,
                        }),
                        Err(reason) => {
                            let raw = batch.value(i).map(Arc::<[u8]>::from);
                            p.handle_decode_error(r.partition, r.offset, r.timestamp, reason, raw);
                        }
                    }
                }
                for (part, records) in by_part {
                    if let Some(p) = m.parts.get_mut(&part) {
                        p.process_shuffled(records, now);
                    }
                }
            }
        }
        let mut out = self.drain();
        if let Engine::One { decoder, .. } = self
            && decoder.leaves_out()
        {
            whole_rows(&mut out, decoder, batch);
        }
        out
    }

    pub(crate) fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        for p in self.pipelines_mut() {
            out.extend(std::iter::from_fn(|| p.poll_output()));
        }
        out
    }

    fn pipelines(&self) -> Box<dyn Iterator<Item = &Pipeline> + '_> {
        match self {
            Engine::One { pipeline, .. } => Box::new(std::iter::once(pipeline)),
            Engine::Merge(m) => Box::new(m.parts.values()),
        }
    }

    fn pipelines_mut(&mut self) -> Box<dyn Iterator<Item = &mut Pipeline> + '_> {
        match self {
            Engine::One { pipeline, .. } => Box::new(std::iter::once(pipeline)),
            Engine::Merge(m) => Box::new(m.parts.values_mut()),
        }
    }

    /// The decoder of a single-pipeline engine.
    pub(crate) fn decoder(&mut self) -> Option<&mut Decoder> {
        match self {
            Engine::One { decoder, .. } => Some(decoder),
            Engine::Merge(_) => None,
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<i64> {
        self.pipelines().filter_map(Pipeline::poll_timeout).min()
    }

    pub(crate) fn tick(&mut self, now: i64) -> Vec<Output> {
        self.pipelines_mut().for_each(|p| p.handle_tick(now));
        self.drain()
    }

    pub(crate) fn finish(&mut self, now: i64) -> Vec<Output> {
        self.pipelines_mut().for_each(|p| p.finish(now));
        self.drain()
    }

    pub(crate) fn fire_triggers(&mut self, now: i64) -> Vec<Output> {
        self.pipelines_mut().for_each(|p| p.fire_triggers(now));
        self.drain()
    }

    /// Source records read, and records that failed to decode.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.pipelines().fold((0, 0), |(r, d), p| (r + p.metrics().records_in, d + p.metrics().decode_errors))
    }

    /// Per partition, the next offset to read.
    pub(crate) fn offsets(&self) -> BTreeMap<i32, i64> {
        let mut out = BTreeMap::new();
        for p in self.pipelines() {
            out.extend(p.offsets().iter().map(|(k, v)| (*k, *v)));
        }
        out
    }

    /// The watermark (merge stage: the least over the owned partitions).
    pub(crate) fn watermark(&self) -> Option<i64> {
        let mut wms = self.pipelines().map(Pipeline::watermark);
        let first = wms.next()?;
        wms.fold(first, |a, b| a.zip(b).map(|(a, b)| a.min(b)))
    }

    /// Source partitions silent for `silent_for` ms behind the others, holding the watermark
    /// back (in the merge stage: in any owned partition's pipeline).
    pub(crate) fn held_back_by(&self, now: i64, silent_for: i64) -> Vec<i32> {
        let mut held: Vec<i32> = self.pipelines().flat_map(|p| p.watermark_held_back_by(now, silent_for)).collect();
        held.sort_unstable();
        held.dedup();
        held
    }

    /// Merge stage: whether this instance owns any partition.
    pub(crate) fn owns_partitions(&self) -> bool {
        match self {
            Engine::One { .. } => true,
            Engine::Merge(m) => !m.parts.is_empty(),
        }
    }

    /// Merge stage: every owned partition has received the end mark of every source partition.
    pub(crate) fn input_ended(&self) -> bool {
        self.pipelines().all(Pipeline::input_ended)
    }

    /// Forgets partitions given to another instance (their offsets; in the merge stage their
    /// pipelines and state, which the next owner restores from the shared checkpoints).
    pub(crate) fn release(&mut self, partitions: &[i32]) {
        match self {
            Engine::One { pipeline, .. } => pipeline.release_partitions(partitions),
            Engine::Merge(m) => {
                for p in partitions {
                    m.parts.remove(p);
                    m.stores.remove(p);
                }
            }
        }
    }

    /// The instance's checkpoint (offsets and, for one pipeline, its state) and, in the merge
    /// stage, each owned partition's own checkpoint.
    pub(crate) fn checkpoint(&self) -> Result<(Checkpoint, Vec<(i32, Checkpoint)>), CheckpointError> {
        match self {
            Engine::One { pipeline, .. } => Ok((pipeline.checkpoint()?, Vec::new())),
            Engine::Merge(m) => {
                let mut parts = Vec::new();
                let mut offsets = BTreeMap::new();
                for (&id, p) in &m.parts {
                    let cp = p.checkpoint()?;
                    offsets.extend(cp.offsets.iter().map(|(k, v)| (*k, *v)));
                    parts.push((id, cp));
                }
                let instance = Checkpoint {
                    job: m.plan.name.clone(),
                    fingerprint: 0,
                    offsets,
                    shared: Vec::new(),
                    vnodes: Vec::new(),
                };
                Ok((instance, parts))
            }
        }
    }
}
