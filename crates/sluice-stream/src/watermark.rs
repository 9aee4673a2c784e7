//! Event-time watermarks tracked per source partition.
//!
//! A partition's watermark is the largest event time it has delivered minus the allowed delay.
//! The source's watermark is the minimum over its partitions, so a slow partition holds it back
//! (no record from it is declared late because another partition ran ahead). A partition that
//! has delivered nothing for the idle timeout (processing time) stops counting until it
//! delivers again; when every partition is idle the watermark follows the most advanced one.
//! A partition that is assigned but has not delivered yet holds the watermark at "none" until
//! it delivers or goes idle. The watermark never moves backwards.
//!
//! Processing time is always a parameter (`now`, in ms); nothing here reads a clock.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Partition {
    id: i32,
    /// Largest event time delivered.
    max_event: Option<i64>,
    /// Processing time of the last delivery (or of the assignment).
    last_seen: i64,
    idle: bool,
}

/// Per-partition watermark tracking for one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkTracker {
    delay: i64,
    idle_timeout: Option<i64>,
    /// Sorted by id; few enough for linear scans.
    parts: Vec<Partition>,
    current: Option<i64>,
    /// Index of the partition touched last (records arrive in runs per partition).
    #[serde(skip)]
    cursor: usize,
}

impl WatermarkTracker {
    /// A tracker with an allowed delay and an optional idle timeout (both ms).
    pub fn new(delay_ms: i64, idle_timeout_ms: Option<i64>) -> Self {
        WatermarkTracker {
            delay: delay_ms.max(0),
            idle_timeout: idle_timeout_ms,
            parts: Vec::new(),
            current: None,
            cursor: 0,
        }
    }

    /// Changes the allowed delay and idle timeout (e.g. after a restore with an edited job).
    pub fn configure(&mut self, delay_ms: i64, idle_timeout_ms: Option<i64>) {
        self.delay = delay_ms.max(0);
        self.idle_timeout = idle_timeout_ms;
    }

    /// The current watermark; `None` until every active partition has delivered.
    pub fn watermark(&self) -> Option<i64> {
        self.current
    }

    /// Declares the partitions this instance reads, so that a partition that has not delivered
    /// yet holds the watermark back. Partitions no longer listed are forgotten.
    pub fn assign(&mut self, partitions: &[i32], now: i64) {
        self.parts.retain(|p| partitions.contains(&p.id));
        for &id in partitions {
            if let Err(at) = self.parts.binary_search_by_key(&id, |p| p.id) {
                self.parts.insert(at, Partition { id, max_event: None, last_seen: now, idle: false });
            }
        }
        self.cursor = 0;
        self.recompute();
    }

    fn index(&mut self, id: i32, now: i64) -> usize {
        if self.parts.get(self.cursor).is_some_and(|p| p.id == id) {
            return self.cursor;
        }
        let i = match self.parts.binary_search_by_key(&id, |p| p.id) {
            Ok(i) => i,
            Err(at) => {
                self.parts.insert(at, Partition { id, max_event: None, last_seen: now, idle: false });
                at
            }
        };
        self.cursor = i;
        i
    }

    /// Notes a record from `partition` with `event_time`, delivered at processing time `now`.
    /// Returns the new watermark when it advanced.
    #[inline]
    pub fn observe(&mut self, partition: i32, event_time: i64, now: i64) -> Option<i64> {
        let i = self.index(partition, now);
        let p = &mut self.parts[i];
        p.last_seen = now;
        let was_idle = std::mem::replace(&mut p.idle, false);
        let advanced = p.max_event.is_none_or(|m| event_time > m);
        if advanced {
            p.max_event = Some(event_time);
        }
        if !(advanced || was_idle) {
            return None;
        }
        // Only a change that could raise the minimum needs a full recompute.
        let candidate = event_time.saturating_sub(self.delay);
        if !was_idle && self.current.is_some_and(|c| candidate <= c) {
            return None;
        }
        let before = self.current;
        self.recompute();
        if self.current != before { self.current } else { None }
    }

    /// Marks partitions idle after the timeout. Returns the new watermark when it advanced.
    pub fn tick(&mut self, now: i64) -> Option<i64> {
        let timeout = self.idle_timeout?;
        let mut changed = false;
        for p in &mut self.parts {
            if !p.idle && now.saturating_sub(p.last_seen) >= timeout {
                p.idle = true;
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        let before = self.current;
        self.recompute();
        if self.current != before { self.current } else { None }
    }

    /// The processing time at which some partition would become idle, if any.
    pub fn next_idle_deadline(&self) -> Option<i64> {
        let timeout = self.idle_timeout?;
        self.parts.iter().filter(|p| !p.idle).map(|p| p.last_seen.saturating_add(timeout)).min()
    }

    /// Moves the watermark to at least `wm` (end of a bounded input: `i64::MAX`).
    pub fn force(&mut self, wm: i64) -> Option<i64> {
        if self.current.is_none_or(|c| wm > c) {
            self.current = Some(wm);
            return self.current;
        }
        None
    }

    /// Per partition that has delivered, the largest event time it delivered.
    pub fn maxima(&self) -> Vec<(i32, i64)> {
        self.parts.iter().filter_map(|p| Some((p.id, p.max_event?))).collect()
    }

    /// The partitions known (assigned or delivered).
    pub fn partitions(&self) -> Vec<i32> {
        self.parts.iter().map(|p| p.id).collect()
    }

    /// Whether every partition's input has ended (delivered `i64::MAX`, the end mark of a
    /// bounded input); false when no partition is known.
    pub fn all_ended(&self) -> bool {
        !self.parts.is_empty() && self.parts.iter().all(|p| p.max_event == Some(i64::MAX))
    }

    /// Partitions that hold the watermark back while silent: not idle, nothing delivered for
    /// at least `silent_for` ms of processing time, and behind the most advanced partition
    /// (or never delivered while another has). Without an idle timeout such a partition keeps
    /// every window open until it delivers again.
    pub fn held_back_by(&self, now: i64, silent_for: i64) -> Vec<i32> {
        let Some(ahead) = self.parts.iter().filter_map(|p| p.max_event).max() else { return Vec::new() };
        self.parts
            .iter()
            .filter(|p| !p.idle && now.saturating_sub(p.last_seen) >= silent_for)
            .filter(|p| p.max_event.is_none_or(|m| m < ahead))
            .map(|p| p.id)
            .collect()
    }

    /// Partitions that are currently idle.
    pub fn idle_partitions(&self) -> Vec<i32> {
        self.parts.iter().filter(|p| p.idle).map(|p| p.id).collect()
    }

    fn recompute(&mut self) {
        let active = self.parts.iter().filter(|p| !p.idle);
        let mut min: Option<Option<i64>> = None;
        for p in active {
            let w = p.max_event.map(|m| m.saturating_sub(self.delay));
            min = Some(match min {
                None => w,
                Some(cur) => match (cur, w) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    _ => None,
                },
            });
        }
        let candidate = match min {
            Some(m) => m,
            // Every partition idle (or none known): follow the most advanced one.
            None => self.parts.iter().filter_map(|p| p.max_event).max().map(|m| m.saturating_sub(self.delay)),
        };
        if let Some(c) = candidate
            && self.current.is_none_or(|cur| c > cur)
        {
            self.current = Some(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_partitions_behind_the_others_are_named() {
        let mut w = WatermarkTracker::new(10, None);
        w.assign(&[0, 1, 2], 0);
        assert!(w.held_back_by(1_000, 100).is_empty(), "nothing delivered anywhere yet");
        w.observe(0, 500, 10);
        w.observe(2, 400, 10);
        assert_eq!(w.watermark(), None, "partition 1 has delivered nothing");
        assert!(w.held_back_by(50, 100).is_empty(), "not silent long enough");
        assert_eq!(w.held_back_by(110, 100), vec![1, 2], "1 never delivered, 2 is behind 0");
        w.observe(1, 600, 120);
        w.observe(2, 600, 120);
        assert_eq!(w.held_back_by(300, 100), vec![0], "0 is now behind and silent");
        let mut idle = WatermarkTracker::new(10, Some(50));
        idle.assign(&[0, 1], 0);
        idle.observe(0, 500, 10);
        idle.tick(100);
        assert_eq!(idle.held_back_by(200, 100), Vec::<i32>::new(), "an idle partition holds nothing back");
    }

    #[test]
    fn single_partition_is_max_minus_delay_and_monotonic() {
        let mut w = WatermarkTracker::new(30, None);
        assert_eq!(w.watermark(), None);
        assert_eq!(w.observe(0, 100, 0), Some(70));
        assert_eq!(w.observe(0, 90, 0), None, "an older record does not move it back");
        assert_eq!(w.watermark(), Some(70));
        assert_eq!(w.observe(0, 130, 0), Some(100));
        assert_eq!(w.observe(0, 130, 0), None);
    }

    #[test]
    fn minimum_over_partitions() {
        let mut w = WatermarkTracker::new(0, None);
        w.assign(&[0, 1], 0);
        assert_eq!(w.observe(0, 100, 0), None, "partition 1 has not delivered yet");
        assert_eq!(w.watermark(), None);
        assert_eq!(w.observe(1, 50, 0), Some(50));
        assert_eq!(w.observe(0, 200, 0), None, "partition 1 still holds it at 50");
        assert_eq!(w.observe(1, 150, 0), Some(150));
        assert_eq!(w.observe(1, 300, 0), Some(200));
    }

    #[test]
    fn idle_partition_stops_holding_back_and_rejoins() {
        let mut w = WatermarkTracker::new(10, Some(1_000));
        w.assign(&[0, 1], 0);
        w.observe(0, 500, 100);
        w.observe(1, 100, 100);
        assert_eq!(w.watermark(), Some(90));
        assert_eq!(w.next_idle_deadline(), Some(1_100));
        // Partition 0 keeps delivering; partition 1 falls silent.
        w.observe(0, 800, 900);
        assert_eq!(w.tick(1_099), None);
        assert_eq!(w.tick(1_100), Some(790));
        assert_eq!(w.idle_partitions(), vec![1]);
        // It comes back with old data: the watermark does not go back.
        assert_eq!(w.observe(1, 200, 1_200), None);
        assert_eq!(w.watermark(), Some(790));
        assert!(w.idle_partitions().is_empty());
        // And it holds the watermark again until it catches up.
        assert_eq!(w.observe(0, 2_000, 1_300), None);
        assert_eq!(w.observe(1, 1_000, 1_300), Some(990));
    }

    #[test]
    fn all_idle_follows_the_most_advanced() {
        let mut w = WatermarkTracker::new(0, Some(10));
        w.assign(&[0, 1, 2], 0);
        w.observe(0, 40, 0);
        assert_eq!(w.watermark(), None);
        assert_eq!(w.tick(10), Some(40), "1 and 2 never delivered and went idle with 0");
        let mut never = WatermarkTracker::new(0, None);
        never.assign(&[0, 1], 0);
        never.observe(0, 40, 0);
        assert_eq!(never.tick(1_000_000), None, "no idle timeout: a silent partition holds forever");
    }

    #[test]
    fn force_for_end_of_input() {
        let mut w = WatermarkTracker::new(5, None);
        w.observe(3, 10, 0);
        assert_eq!(w.force(i64::MAX), Some(i64::MAX));
        assert_eq!(w.force(0), None);
        assert_eq!(w.observe(3, i64::MIN, 0), None);
    }
}
