//! Window arithmetic: which windows and panes an event time belongs to.
//!
//! Tumbling and sliding windows are cut into panes of `gcd(size, slide)` milliseconds. A record
//! is added to exactly one pane; a window's result is the merge of the panes it covers. So a
//! 10 s window sliding every 5 s keeps two partial states per key and window pair of panes, not
//! one copy of every record per window (Spark copies each record into `size / slide` windows).
//!
//! Window starts are `offset + k·slide`; a window `[start, start + size)` contains `t` when
//! `start <= t < start + size`, as in Spark. All arithmetic saturates: extreme timestamps
//! cannot overflow.

use crate::plan::WindowPlan;
use crate::time::gcd;

/// Tumbling or sliding windows, with their pane width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneSpec {
    /// Window length (ms).
    pub size: i64,
    /// Distance between window starts (ms).
    pub slide: i64,
    /// Window starts are `offset + k·slide`; normalised into `[0, slide)`.
    pub offset: i64,
    /// Pane width: `gcd(size, slide)`.
    pub pane: i64,
}

/// How an aggregate step cuts event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windowing {
    /// No windows: running aggregates.
    Global,
    /// Tumbling or sliding windows built from panes.
    Panes(PaneSpec),
    /// Session windows with an inactivity gap (ms).
    Session {
        /// The gap.
        gap: i64,
    },
}

impl Windowing {
    /// From a plan's window (sizes are validated positive by the plan's front end; anything
    /// else is clamped to 1 ms so that no input can make the arithmetic fail).
    pub fn from_plan(w: Option<&WindowPlan>) -> Windowing {
        match w {
            None => Windowing::Global,
            Some(WindowPlan::Tumbling { size_ms, offset_ms }) => {
                Windowing::Panes(PaneSpec::new(*size_ms, *size_ms, *offset_ms))
            }
            Some(WindowPlan::Sliding { size_ms, slide_ms, offset_ms }) => {
                Windowing::Panes(PaneSpec::new(*size_ms, *slide_ms, *offset_ms))
            }
            Some(WindowPlan::Session { gap_ms }) => Windowing::Session { gap: (*gap_ms).max(1) },
        }
    }
}

impl PaneSpec {
    /// Windows of `size` starting every `slide` (a slide larger than the size is clamped).
    pub fn new(size: i64, slide: i64, offset: i64) -> PaneSpec {
        let size = size.max(1);
        let slide = slide.clamp(1, size);
        PaneSpec { size, slide, offset: offset.rem_euclid(slide), pane: gcd(size, slide).max(1) }
    }

    #[inline]
    fn align(&self, t: i64, step: i64) -> i64 {
        let rel = t.saturating_sub(self.offset);
        rel.div_euclid(step).saturating_mul(step).saturating_add(self.offset)
    }

    /// Start of the pane holding `t`.
    #[inline]
    pub fn pane_of(&self, t: i64) -> i64 {
        self.align(t, self.pane)
    }

    /// Start of the latest window holding `t`.
    #[inline]
    pub fn last_start(&self, t: i64) -> i64 {
        self.align(t, self.slide)
    }

    /// Start of the earliest window holding `t` (the first window start after `t - size`).
    #[inline]
    pub fn first_start(&self, t: i64) -> i64 {
        self.align(t.saturating_sub(self.size), self.slide).saturating_add(self.slide)
    }

    /// End of the window starting at `start`.
    #[inline]
    pub fn end(&self, start: i64) -> i64 {
        start.saturating_add(self.size)
    }

    /// Starts of all windows holding `t`, earliest first.
    pub fn starts_of(&self, t: i64) -> impl Iterator<Item = i64> + use<> {
        let first = self.first_start(t);
        let last = self.last_start(t);
        let n = if last < first {
            0
        } else {
            ((last as i128 - first as i128) / self.slide as i128 + 1).min((self.size / self.slide + 1) as i128) as i64
        };
        let slide = self.slide;
        (0..n).map(move |k| first.saturating_add(k.saturating_mul(slide)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_ten_by_five() {
        let w = PaneSpec::new(10_000, 5_000, 0);
        assert_eq!(w.pane, 5_000);
        assert_eq!(w.pane_of(7_000), 5_000);
        assert_eq!(w.last_start(7_000), 5_000);
        assert_eq!(w.first_start(7_000), 0);
        assert_eq!(w.starts_of(7_000).collect::<Vec<_>>(), vec![0, 5_000]);
        assert_eq!(w.starts_of(5_000).collect::<Vec<_>>(), vec![0, 5_000]);
        assert_eq!(w.starts_of(4_999).collect::<Vec<_>>(), vec![-5_000, 0]);
        assert_eq!(w.starts_of(-1).collect::<Vec<_>>(), vec![-10_000, -5_000]);
    }

    #[test]
    fn uneven_slide_uses_gcd_panes() {
        let w = PaneSpec::new(10, 4, 0);
        assert_eq!(w.pane, 2);
        // Windows [0,10), [4,14), [8,18) hold 9.
        assert_eq!(w.starts_of(9).collect::<Vec<_>>(), vec![0, 4, 8]);
        assert_eq!(w.starts_of(3).collect::<Vec<_>>(), vec![-4, 0]);
        for t in -50..50 {
            for s in w.starts_of(t) {
                assert!(s <= t && t < w.end(s), "{t} in [{s}, {})", w.end(s));
                assert_eq!((s - w.offset).rem_euclid(w.slide), 0);
                // The pane of t lies inside the window.
                let p = w.pane_of(t);
                assert!(s <= p && p + w.pane <= w.end(s));
            }
        }
    }

    #[test]
    fn tumbling_with_offset() {
        let w = PaneSpec::new(60, 60, 75);
        assert_eq!(w.offset, 15);
        assert_eq!(w.starts_of(14).collect::<Vec<_>>(), vec![-45]);
        assert_eq!(w.starts_of(15).collect::<Vec<_>>(), vec![15]);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let w = PaneSpec::new(10_000, 5_000, 0);
        for t in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let _ = w.pane_of(t);
            let _ = w.first_start(t);
            let _ = w.end(w.last_start(t));
            assert!(w.starts_of(t).count() <= 3);
        }
        let odd = PaneSpec::new(0, -5, i64::MIN);
        assert_eq!((odd.size, odd.slide, odd.pane), (1, 1, 1));
    }
}
