//! A partition's view of transactions: where each producer's open transaction starts (which
//! bounds the last stable offset) and the aborted transactions that read_committed consumers
//! must skip. Rebuilt from the log's batch headers and markers when the broker starts.

use sluice_wire::batch::{BatchHeader, ControlType};
use std::collections::BTreeMap;

/// An aborted transaction: its producer and offset range (up to its ABORT marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of its first record in this partition.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
}

/// Transactions as one partition sees them.
#[derive(Debug, Default)]
pub struct PartitionTxns {
    /// producer id → first offset of its open transaction here.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order.
    aborted: Vec<AbortedTxn>,
}

impl PartitionTxns {
    /// Notes an appended batch: a transactional data batch opens (or continues) its producer's
    /// transaction.
    pub fn on_append(&mut self, h: &BatchHeader, base_offset: i64) {
        if h.is_transactional() && !h.is_control() && h.producer_id >= 0 {
            self.on_transactional_data(h.producer_id, base_offset);
        }
    }

    /// Notes a transactional data batch of `producer_id` at `offset`.
    pub fn on_transactional_data(&mut self, producer_id: i64, offset: i64) {
        self.ongoing.entry(producer_id).or_insert(offset);
    }

    /// Notes a marker at `offset`: the producer's transaction ends here.
    pub fn on_marker(&mut self, producer_id: i64, offset: i64, kind: ControlType) {
        if let Some(first) = self.ongoing.remove(&producer_id)
            && kind == ControlType::Abort
        {
            self.aborted.push(AbortedTxn { producer_id, first_offset: first, last_offset: offset });
        }
    }

    /// Whether `producer_id` has an open transaction here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.ongoing.contains_key(&producer_id)
    }

    /// The last stable offset: the first offset of the oldest open transaction, or the high
    /// watermark when none is open.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.ongoing.values().copied().min().map_or(high_watermark, |f| f.min(high_watermark))
    }

    /// The aborted transactions a read_committed fetch of `[from, upto)` must know about.
    pub fn aborted_in(&self, from: i64, upto: i64) -> Vec<AbortedTxn> {
        self.aborted.iter().filter(|a| a.last_offset >= from && a.first_offset < upto).copied().collect()
    }

    /// Forgets aborted transactions that ended before the log start.
    pub fn prune(&mut self, log_start: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::batch::{attributes, build, validate};

    fn txn_batch(pid: i64) -> BatchHeader {
        validate(&build(0, &[(None, Some(b"v"), 1)], (pid, 0, 0), attributes::TRANSACTIONAL)).unwrap()
    }

    #[test]
    fn lso_follows_the_oldest_open_transaction() {
        let mut t = PartitionTxns::default();
        assert_eq!(t.last_stable_offset(10), 10);
        t.on_append(&txn_batch(1), 10);
        t.on_append(&txn_batch(2), 12);
        t.on_append(&txn_batch(1), 14);
        assert_eq!(t.last_stable_offset(20), 10);
        t.on_marker(1, 20, ControlType::Commit);
        assert_eq!(t.last_stable_offset(21), 12);
        t.on_marker(2, 21, ControlType::Abort);
        assert_eq!(t.last_stable_offset(22), 22);
        assert_eq!(t.aborted_in(0, 22), vec![AbortedTxn { producer_id: 2, first_offset: 12, last_offset: 21 }]);
        assert!(t.aborted_in(22, 30).is_empty());
        t.prune(22);
        assert!(t.aborted_in(0, 30).is_empty());
    }
}
