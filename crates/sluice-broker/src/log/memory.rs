//! The memory engine: batches in a vector, for tests and brokers without a data directory.
//!
//! Segments exist only as base offsets over the vector, rolled by the same rules as the file
//! engine's ([`LogConfig`]), so that compaction sees the same closed segments and the same active
//! one. Retention still counts each batch as a segment (the newest batch is kept).

use super::compaction::{
    self, BatchVisitor, Busy, CleanConfig, CleanOutcome, LogView, Plan, Round, RoundSegments, RoundSink,
};
use super::{AppendInfo, LogConfig, LogError, ReadResult, RollState};
use bytes::{Bytes, BytesMut};
use sluice_wire::batch::{self, BatchHeader};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// One stored batch.
#[derive(Debug, Clone)]
struct Stored {
    header: BatchHeader,
    bytes: Bytes,
}

/// A segment: where it starts, and what rolling needs.
#[derive(Debug, Clone, Copy)]
struct Segment {
    base: i64,
    /// Largest timestamp of its first batch.
    first_ts: Option<i64>,
    created: Instant,
}

impl Segment {
    fn new(base: i64) -> Self {
        Segment { base, first_ts: None, created: Instant::now() }
    }
}

/// Batches held in memory.
#[derive(Debug)]
pub struct MemoryLog {
    config: LogConfig,
    batches: Vec<Stored>,
    start: i64,
    end: i64,
    size: u64,
    /// Oldest first, never empty; the last one is the active segment.
    segments: Vec<Segment>,
    /// Bytes of the active segment.
    active_size: u64,
    /// Everything below has been compacted.
    clean_offset: i64,
    /// Earliest delete horizon among the kept tombstones.
    next_horizon: Option<i64>,
    /// Bumped whenever batches are removed or replaced (not by appends), so that a compaction
    /// round knows whether its snapshot still matches.
    generation: u64,
    /// A compaction round is in progress.
    cleaning: Arc<AtomicBool>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        Self::with_config(LogConfig::default())
    }
}

impl MemoryLog {
    /// An empty log with the default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log rolling segments as `config` says.
    pub fn with_config(config: LogConfig) -> Self {
        MemoryLog {
            config,
            batches: Vec::new(),
            start: 0,
            end: 0,
            size: 0,
            segments: vec![Segment::new(0)],
            active_size: 0,
            clean_offset: 0,
            next_horizon: None,
            generation: 0,
            cleaning: Arc::new(AtomicBool::new(false)),
        }
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    /// Index of the first batch at or after `offset` by base offset.
    fn batch_at(&self, offset: i64) -> usize {
        self.batches.partition_point(|s| s.header.base_offset < offset)
    }

    /// The batches of segment `i`.
    fn segment_batches(&self, i: usize) -> Range<usize> {
        let from = self.batch_at(self.segments[i].base);
        let to = self.segments.get(i + 1).map_or(self.batches.len(), |s| self.batch_at(s.base));
        from..to.max(from)
    }

    pub(crate) fn append(&mut self, buf: &mut [u8]) -> Result<AppendInfo, LogError> {
        let mut spans = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let header = batch::validate(&buf[pos..])?;
            spans.push((pos, header));
            pos += header.total_len();
        }
        let base = self.end;
        let mut next = base;
        let cap = self.config.segment_bytes.min(i32::MAX as u64);
        for (pos, header) in spans {
            let len = header.total_len();
            batch::set_base_offset(&mut buf[pos..], next);
            let header = BatchHeader { base_offset: next, ..header };
            let seg = *self.active();
            let roll = RollState {
                base: seg.base,
                size: self.active_size,
                first_ts: seg.first_ts,
                age_ms: seg.created.elapsed().as_millis() as u64,
            };
            if roll.must_roll(len as u64, header.last_offset(), header.max_timestamp, cap, self.config.segment_ms) {
                self.segments.push(Segment::new(next));
                self.active_size = 0;
            }
            let last = self.segments.len() - 1;
            if self.active_size == 0 {
                self.segments[last].first_ts = Some(header.max_timestamp);
            }
            self.active_size += len as u64;
            next = header.last_offset() + 1;
            self.size += len as u64;
            self.batches.push(Stored { header, bytes: Bytes::copy_from_slice(&buf[pos..pos + len]) });
        }
        self.end = next;
        Ok(AppendInfo { base_offset: base, last_offset: next - 1 })
    }

    fn first_index_at_or_after(&self, offset: i64) -> usize {
        // The batch containing `offset` is the first whose last offset is >= offset.
        self.batches.partition_point(|s| s.header.last_offset() < offset)
    }

    pub(crate) fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, LogError> {
        if offset < self.start || offset > self.end {
            return Err(LogError::OffsetOutOfRange { offset, start: self.start, end: self.end });
        }
        let mut i = self.first_index_at_or_after(offset);
        let mut out = BytesMut::new();
        while let Some(s) = self.batches.get(i) {
            if !out.is_empty() && out.len() + s.bytes.len() > max_bytes {
                break;
            }
            out.extend_from_slice(&s.bytes);
            i += 1;
        }
        Ok(ReadResult { bytes: out.freeze() })
    }

    pub(crate) fn log_start_offset(&self) -> i64 {
        self.start
    }

    pub(crate) fn log_end_offset(&self) -> i64 {
        self.end
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.size
    }

    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        Ok(self
            .batches
            .iter()
            .find(|s| s.header.max_timestamp >= timestamp)
            .map(|s| (s.header.base_offset.max(self.start), s.header.max_timestamp)))
    }

    pub(crate) fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.batches
            .iter()
            .max_by_key(|s| s.header.max_timestamp)
            .map(|s| (s.header.max_timestamp, s.header.last_offset()))
    }

    pub(crate) fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset > self.end {
            return Err(LogError::OffsetOutOfRange { offset, start: self.start, end: self.end });
        }
        if offset > self.start {
            self.start = offset;
            let keep_from = self.batches.partition_point(|s| s.header.last_offset() < offset);
            for s in self.batches.drain(..keep_from) {
                self.size -= s.bytes.len() as u64;
            }
            self.after_removal();
        }
        Ok(self.start)
    }

    /// After batches left the front: forget the segments entirely below the start, recount the
    /// active segment, invalidate compaction snapshots.
    fn after_removal(&mut self) {
        while self.segments.len() > 1 && self.segments[1].base <= self.start {
            self.segments.remove(0);
        }
        let last = self.segments.len() - 1;
        let active = self.segment_batches(last);
        self.active_size = self.batches[active.clone()].iter().map(|s| s.bytes.len() as u64).sum();
        self.segments[last].first_ts = self.batches.get(active.start).map(|s| s.header.max_timestamp);
        self.generation += 1;
    }

    pub(crate) fn enforce_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<usize, LogError> {
        // The memory engine has no segment files: each batch counts as one, the newest is kept.
        let mut drop = 0;
        let mut size = self.size;
        while drop + 1 < self.batches.len() {
            let s = &self.batches[drop];
            let too_old = retention_ms >= 0 && now_ms - s.header.max_timestamp > retention_ms;
            let too_big = retention_bytes >= 0 && size > retention_bytes as u64;
            if !(too_old || too_big) {
                break;
            }
            size -= s.bytes.len() as u64;
            drop += 1;
        }
        if drop > 0 {
            let new_start = self.batches[drop].header.base_offset;
            self.batches.drain(..drop);
            self.size = size;
            self.start = self.start.max(new_start);
            self.after_removal();
        }
        Ok(drop)
    }

    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        Ok(())
    }

    pub(crate) fn for_each_header(&self, f: &mut dyn FnMut(&BatchHeader)) -> Result<(), LogError> {
        self.batches.iter().for_each(|s| f(&s.header));
        Ok(())
    }

    pub(crate) fn destroy(self) -> Result<(), LogError> {
        Ok(())
    }

    pub(crate) fn clean_offset(&self) -> i64 {
        self.clean_offset
    }

    pub(crate) fn prepare_clean(&mut self, config: &CleanConfig, now: i64) -> Option<MemoryCleanJob> {
        let busy = Busy::claim(&self.cleaning)?;
        let closed: Vec<compaction::SegmentInfo> = (0..self.segments.len() - 1)
            .map(|i| {
                let batches = &self.batches[self.segment_batches(i)];
                compaction::SegmentInfo {
                    base: self.segments[i].base,
                    size: batches.iter().map(|s| s.bytes.len() as u64).sum(),
                    max_ts: batches.iter().map(|s| s.header.max_timestamp).max(),
                }
            })
            .collect();
        let view = LogView {
            active_base: self.active().base,
            start: self.start,
            clean_offset: self.clean_offset,
            next_horizon: self.next_horizon,
        };
        let plan = compaction::plan(&closed, view, config, now, |i| {
            self.batches.get(self.segment_batches(i).start).map(|s| s.header.base_timestamp)
        })?;
        let segments = plan
            .segments
            .clone()
            .map(|i| {
                let end = closed.get(i + 1).map_or(view.active_base, |s| s.base);
                (closed[i].base, closed[i].size, end, self.batches[self.segment_batches(i)].to_vec())
            })
            .collect();
        Some(MemoryCleanJob {
            segments,
            first_segment: plan.segments.start,
            plan,
            start: self.start,
            config: config.clone(),
            now,
            cap: self.config.segment_bytes.min(i32::MAX as u64),
            generation: self.generation,
            busy,
        })
    }

    pub(crate) fn commit_clean(&mut self, out: MemoryCleanOutput) -> CleanOutcome {
        if out.generation != self.generation {
            return CleanOutcome::Abandoned("batches were removed from the log during the round".into());
        }
        let Some(rewritten) = out.groups.last().map(|g| g.old.end) else {
            return CleanOutcome::Abandoned("the round produced nothing".into());
        };
        let segs = out.first_segment..out.first_segment + rewritten;
        let from = self.segment_batches(segs.start).start;
        let to = self.segment_batches(segs.end - 1).end;
        let mut batches = Vec::new();
        let mut segments = Vec::new();
        for g in out.groups {
            segments.push(Segment {
                base: g.base,
                first_ts: None,
                created: self.segments[segs.start + g.old.start].created,
            });
            batches.extend(g.batches);
        }
        self.batches.splice(from..to, batches);
        self.segments.splice(segs, segments);
        self.size = self.batches.iter().map(|s| s.bytes.len() as u64).sum();
        self.clean_offset = out.result.clean_offset;
        self.next_horizon = out.result.next_horizon;
        self.generation += 1;
        CleanOutcome::Cleaned(out.result.stats)
    }
}

/// A planned compaction round of a [`MemoryLog`]: the batches of its closed segments (shared
/// bytes, no copy).
#[derive(Debug)]
pub struct MemoryCleanJob {
    /// (base, size, end, batches) of each planned segment.
    segments: Vec<(i64, u64, i64, Vec<Stored>)>,
    /// Index of the first planned segment in the log.
    first_segment: usize,
    plan: Plan,
    start: i64,
    config: CleanConfig,
    now: i64,
    cap: u64,
    generation: u64,
    busy: Busy,
}

struct Group {
    base: i64,
    old: Range<usize>,
    batches: Vec<Stored>,
}

/// The cleaned batches of a [`MemoryCleanJob`], waiting to be swapped in.
pub struct MemoryCleanOutput {
    first_segment: usize,
    groups: Vec<Group>,
    result: compaction::RoundResult,
    generation: u64,
    #[allow(dead_code)]
    busy: Busy,
}

impl std::fmt::Debug for MemoryCleanOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCleanOutput")
            .field("groups", &self.groups.len())
            .field("stats", &self.result.stats)
            .finish()
    }
}

impl RoundSegments for MemoryCleanJob {
    fn count(&self) -> usize {
        self.segments.len()
    }

    fn info(&self, i: usize) -> (i64, u64, i64) {
        let (base, size, end, _) = &self.segments[i];
        (*base, *size, *end)
    }

    fn visit(&self, i: usize, f: &mut BatchVisitor<'_>) -> Result<(), LogError> {
        self.segments[i].3.iter().try_for_each(|s| f(&s.header, &s.bytes))
    }

    fn visit_headers(&self, i: usize, f: &mut dyn FnMut(&BatchHeader)) -> Result<(), LogError> {
        self.segments[i].3.iter().for_each(|s| f(&s.header));
        Ok(())
    }
}

impl RoundSink for Vec<Group> {
    fn begin(&mut self, base: i64, old: Range<usize>) -> Result<(), LogError> {
        self.push(Group { base, old, batches: Vec::new() });
        Ok(())
    }

    fn batch(&mut self, header: &BatchHeader, bytes: &[u8]) -> Result<(), LogError> {
        if let Some(g) = self.last_mut() {
            g.batches.push(Stored { header: *header, bytes: Bytes::copy_from_slice(bytes) });
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), LogError> {
        Ok(())
    }
}

impl MemoryCleanJob {
    pub(crate) fn run(self, on_segment: &mut dyn FnMut(usize)) -> Result<MemoryCleanOutput, LogError> {
        let mut groups: Vec<Group> = Vec::new();
        let round = Round { plan: &self.plan, start: self.start, config: &self.config, now: self.now, cap: self.cap };
        let result = compaction::run_round(&self, round, &mut groups, on_segment)?;
        Ok(MemoryCleanOutput {
            first_segment: self.first_segment,
            groups,
            result,
            generation: self.generation,
            busy: self.busy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::batch::build;

    fn batch(n: usize, ts: i64) -> Vec<u8> {
        let recs: Vec<sluice_wire::batch::SimpleRecord<'_>> = (0..n).map(|_| (None, Some(&b"v"[..]), ts)).collect();
        build(0, &recs, (-1, -1, -1), 0)
    }

    #[test]
    fn offsets_are_assigned_and_reads_return_containing_batch() {
        let mut log = MemoryLog::new();
        let mut b = batch(3, 10);
        assert_eq!(log.append(&mut b).unwrap(), AppendInfo { base_offset: 0, last_offset: 2 });
        let mut b = batch(2, 20);
        assert_eq!(log.append(&mut b).unwrap(), AppendInfo { base_offset: 3, last_offset: 4 });
        let r = log.read(1, 1).unwrap();
        let h = batch::validate(&r.bytes).unwrap();
        assert_eq!(h.base_offset, 0);
        assert_eq!(r.bytes.len(), h.total_len(), "max_bytes 1 still returns one whole batch");
        let r = log.read(4, 1 << 20).unwrap();
        assert_eq!(batch::validate(&r.bytes).unwrap().base_offset, 3);
        assert!(log.read(5, 100).unwrap().bytes.is_empty());
        assert!(matches!(log.read(6, 100), Err(LogError::OffsetOutOfRange { .. })));
        assert_eq!(log.offset_for_timestamp(15).unwrap(), Some((3, 20)));
        assert_eq!(log.max_timestamp(), Some((20, 4)));
    }

    #[test]
    fn delete_records_moves_start() {
        let mut log = MemoryLog::new();
        log.append(&mut batch(3, 10)).unwrap();
        log.append(&mut batch(3, 10)).unwrap();
        assert_eq!(log.delete_records_before(4).unwrap(), 4);
        assert!(matches!(log.read(2, 100), Err(LogError::OffsetOutOfRange { .. })));
        assert_eq!(batch::validate(&log.read(4, 100).unwrap().bytes).unwrap().base_offset, 3);
    }
}
