//! Idempotent producer state of one partition: per producer id, its epoch and the last five
//! batches' sequence ranges, so that a retried batch is acknowledged with its original offset
//! and a gap or reordering is refused as Kafka refuses it.

use sluice_wire::batch::BatchHeader;
use std::collections::{HashMap, VecDeque};

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5,
/// the most `max.in.flight.requests.per.connection` allows with idempotence).
const REMEMBERED: usize = 5;

/// The outcome of checking a batch against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or the next expected batch: append it.
    Append,
    /// Already written: acknowledge with this base offset and do not write again.
    Duplicate {
        /// Base offset the batch got the first time.
        base_offset: i64,
    },
    /// Refused with this Kafka error code.
    Reject(i16),
}

#[derive(Debug, Clone, Copy)]
struct Written {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    epoch: i16,
    recent: VecDeque<Written>,
}

/// Producer id → state, for one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    entries: HashMap<i64, Entry>,
}

/// Kafka error codes used here.
mod code {
    pub(super) const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub(super) const INVALID_PRODUCER_EPOCH: i16 = 47;
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStates {
    /// Checks whether `h` may be appended.
    pub fn check(&self, h: &BatchHeader) -> SequenceCheck {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return SequenceCheck::Append;
        }
        let Some(entry) = self.entries.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        };
        if h.producer_epoch < entry.epoch {
            return SequenceCheck::Reject(code::INVALID_PRODUCER_EPOCH);
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        let last = h.last_sequence();
        if let Some(w) = entry.recent.iter().find(|w| w.first_seq == h.base_sequence && w.last_seq == last) {
            return SequenceCheck::Duplicate { base_offset: w.base_offset };
        }
        match entry.recent.back() {
            Some(w) if next_seq(w.last_seq) == h.base_sequence => SequenceCheck::Append,
            None if h.base_sequence == 0 => SequenceCheck::Append,
            _ => SequenceCheck::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER),
        }
    }

    /// A marker written with `epoch`: later batches of an older epoch are refused (fencing).
    pub fn fence(&mut self, producer_id: i64, epoch: i16) {
        let entry = self.entries.entry(producer_id).or_default();
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.recent.clear();
        }
    }

    /// Records a batch that was appended (or found in the log on recovery) at `base_offset`.
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return;
        }
        let entry = self.entries.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.recent.clear();
        }
        entry.recent.push_back(Written { first_seq: h.base_sequence, last_seq: h.last_sequence(), base_offset });
        while entry.recent.len() > REMEMBERED {
            entry.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::batch::{build, validate};

    fn header(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let recs: Vec<sluice_wire::batch::SimpleRecord<'_>> = (0..n).map(|_| (None, Some(&b"x"[..]), 1)).collect();
        validate(&build(0, &recs, (pid, epoch, seq), 0)).unwrap()
    }

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut s = ProducerStates::default();
        let a = header(7, 0, 0, 3);
        assert_eq!(s.check(&a), SequenceCheck::Append);
        s.record(&a, 100);
        let b = header(7, 0, 3, 2);
        assert_eq!(s.check(&b), SequenceCheck::Append);
        s.record(&b, 103);
        assert_eq!(s.check(&a), SequenceCheck::Duplicate { base_offset: 100 });
        assert_eq!(s.check(&b), SequenceCheck::Duplicate { base_offset: 103 });
        assert_eq!(s.check(&header(7, 0, 9, 1)), SequenceCheck::Reject(45));
        assert_eq!(s.check(&header(8, 0, 4, 1)), SequenceCheck::Reject(45), "new producer must start at 0");
    }

    #[test]
    fn epochs_fence() {
        let mut s = ProducerStates::default();
        let a = header(1, 2, 0, 1);
        s.record(&a, 0);
        assert_eq!(s.check(&header(1, 1, 1, 1)), SequenceCheck::Reject(47));
        assert_eq!(s.check(&header(1, 3, 5, 1)), SequenceCheck::Reject(45));
        assert_eq!(s.check(&header(1, 3, 0, 1)), SequenceCheck::Append);
    }

    #[test]
    fn non_idempotent_batches_always_append() {
        let s = ProducerStates::default();
        assert_eq!(s.check(&header(-1, -1, -1, 2)), SequenceCheck::Append);
    }
}
