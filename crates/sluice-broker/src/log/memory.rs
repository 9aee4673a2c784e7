//! The memory engine: batches in a vector, for tests and brokers without a data directory.

use super::{AppendInfo, LogError, ReadResult};
use bytes::{Bytes, BytesMut};
use sluice_wire::batch::{self, BatchHeader};

/// One stored batch.
#[derive(Debug, Clone)]
struct Stored {
    header: BatchHeader,
    bytes: Bytes,
}

/// Batches held in memory.
#[derive(Debug, Default)]
pub struct MemoryLog {
    batches: Vec<Stored>,
    start: i64,
    end: i64,
    size: u64,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn append(&mut self, buf: &mut [u8]) -> Result<AppendInfo, LogError> {
        let base = self.end;
        let mut next = base;
        let mut pos = 0;
        let mut staged = Vec::new();
        while pos < buf.len() {
            let header = batch::validate(&buf[pos..])?;
            let len = header.total_len();
            batch::set_base_offset(&mut buf[pos..], next);
            let header = BatchHeader { base_offset: next, ..header };
            next = header.last_offset() + 1;
            staged.push(Stored { header, bytes: Bytes::copy_from_slice(&buf[pos..pos + len]) });
            pos += len;
        }
        for s in staged {
            self.size += s.bytes.len() as u64;
            self.batches.push(s);
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
        }
        Ok(self.start)
    }

    pub(crate) fn enforce_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<usize, LogError> {
        // The memory engine has no segments: each batch counts as one, the newest is kept.
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
