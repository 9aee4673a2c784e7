//! The log cleaner: one pass compacts every partition of the topics whose `cleanup.policy`
//! includes `compact` (a round per partition when it is due, see [`crate::log::compaction`]).
//! The server runs a pass every `log.cleaner.backoff.ms` on a blocking thread; tests call
//! [`Broker::clean_logs`] directly.

use crate::log::PartitionLog;
use crate::log::compaction::{self, CleanConfig, CleanOutcome};
use crate::state::{Broker, PartitionState, read};
use crate::topic_config;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals of the log cleaner, readable while it runs.
#[derive(Debug, Default)]
pub struct CleanerMetrics {
    /// Passes over the compacted topics.
    pub passes: AtomicU64,
    /// Partition rounds that compacted something.
    pub partitions_cleaned: AtomicU64,
    /// Bytes of the segments rewritten, before.
    pub bytes_before: AtomicU64,
    /// Their bytes after.
    pub bytes_after: AtomicU64,
    /// Records removed.
    pub records_removed: AtomicU64,
    /// Of those, tombstones removed after `delete.retention.ms`.
    pub tombstones_removed: AtomicU64,
    /// Batches kept untouched because they could not be decoded.
    pub undecodable_batches: AtomicU64,
    /// Rounds abandoned because the log changed meanwhile.
    pub abandoned: AtomicU64,
    /// Rounds that failed (I/O).
    pub errors: AtomicU64,
}

/// A copy of [`CleanerMetrics`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanerTotals {
    /// See [`CleanerMetrics::passes`].
    pub passes: u64,
    /// See [`CleanerMetrics::partitions_cleaned`].
    pub partitions_cleaned: u64,
    /// See [`CleanerMetrics::bytes_before`].
    pub bytes_before: u64,
    /// See [`CleanerMetrics::bytes_after`].
    pub bytes_after: u64,
    /// See [`CleanerMetrics::records_removed`].
    pub records_removed: u64,
    /// See [`CleanerMetrics::tombstones_removed`].
    pub tombstones_removed: u64,
    /// See [`CleanerMetrics::undecodable_batches`].
    pub undecodable_batches: u64,
    /// See [`CleanerMetrics::abandoned`].
    pub abandoned: u64,
    /// See [`CleanerMetrics::errors`].
    pub errors: u64,
}

impl CleanerMetrics {
    /// The current totals.
    pub fn totals(&self) -> CleanerTotals {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CleanerTotals {
            passes: g(&self.passes),
            partitions_cleaned: g(&self.partitions_cleaned),
            bytes_before: g(&self.bytes_before),
            bytes_after: g(&self.bytes_after),
            records_removed: g(&self.records_removed),
            tombstones_removed: g(&self.tombstones_removed),
            undecodable_batches: g(&self.undecodable_batches),
            abandoned: g(&self.abandoned),
            errors: g(&self.errors),
        }
    }
}

fn log_of(s: &mut PartitionState) -> &mut PartitionLog {
    &mut s.log
}

impl Broker {
    /// One pass of the log cleaner over every compacted partition, at time `now_ms`; returns
    /// how many partitions were compacted.
    pub fn clean_logs(&self, now_ms: i64) -> usize {
        self.clean_logs_while(now_ms, &|| true)
    }

    /// [`Broker::clean_logs`], stopping before the next partition once `go_on` says no.
    pub fn clean_logs_while(&self, now_ms: i64, go_on: &dyn Fn() -> bool) -> usize {
        let m = &self.cleaner;
        let mut cleaned = 0;
        for topic in self.topics() {
            let configs = read(&topic.configs).clone();
            let policy = topic_config::effective(&configs, &self.topic_defaults, "cleanup.policy").unwrap_or("delete");
            if !compaction::is_compacted(policy) {
                continue;
            }
            let config = CleanConfig::from_topic(&configs, &self.topic_defaults);
            let partitions = read(&topic.partitions).clone();
            for p in partitions {
                if !go_on() {
                    return cleaned;
                }
                match compaction::clean_partition(&p.state, log_of, &config, now_ms) {
                    Ok(CleanOutcome::Idle) => {}
                    Ok(CleanOutcome::Cleaned(s)) => {
                        cleaned += 1;
                        m.partitions_cleaned.fetch_add(1, Ordering::Relaxed);
                        m.bytes_before.fetch_add(s.bytes_before, Ordering::Relaxed);
                        m.bytes_after.fetch_add(s.bytes_after, Ordering::Relaxed);
                        m.records_removed.fetch_add(s.records_removed, Ordering::Relaxed);
                        m.tombstones_removed.fetch_add(s.tombstones_removed, Ordering::Relaxed);
                        m.undecodable_batches.fetch_add(s.undecodable_batches, Ordering::Relaxed);
                        tracing::info!(topic = %topic.name, partition = p.index, bytes_before = s.bytes_before,
                            bytes_after = s.bytes_after, records_removed = s.records_removed,
                            tombstones_removed = s.tombstones_removed, segments_before = s.segments_before,
                            segments_after = s.segments_after, undecodable_batches = s.undecodable_batches,
                            clean_offset = s.clean_offset, "log cleaner: compacted partition");
                    }
                    Ok(CleanOutcome::Abandoned(why)) => {
                        m.abandoned.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(topic = %topic.name, partition = p.index, why, "log cleaner: round abandoned");
                    }
                    // Deleted meanwhile (its files went with it): nothing to report.
                    Err(_) if self.topic(&topic.name).is_none_or(|t| !Arc::ptr_eq(&t, &topic)) => {
                        m.abandoned.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        m.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(topic = %topic.name, partition = p.index, error = %e, "log cleaner: round failed");
                    }
                }
            }
        }
        m.passes.fetch_add(1, Ordering::Relaxed);
        cleaned
    }
}
