//! The seeds' generators, one file each.
//!
//! A streaming generator implements [`Generator`]: it fills one [`Row`] at a time, the clock
//! passed in as a parameter so tests need no sleeps and `--seed` output is reproducible. The
//! file generators ([`transactions`], [`campaigns`]) build a whole table at once.

pub mod campaigns;
pub mod numbers;
pub mod people;
pub mod transactions;
pub mod user_events;
pub mod views;

use sluice_formats::{Row, RowSchema};

/// A source of synthetic rows.
pub trait Generator: Send {
    /// The columns of every row.
    fn schema(&self) -> &RowSchema;
    /// The column whose text is the record key (`userId` for user events); `None` for unkeyed
    /// records, which the producer spreads over partitions.
    fn key_column(&self) -> Option<usize> {
        None
    }
    /// Whether rows depend on the clock passed to [`next_row`](Self::next_row); when not, the
    /// producer passes 0 instead of reading the clock for every row.
    fn uses_clock(&self) -> bool {
        true
    }
    /// Overwrites `row` with the next row; `now_ms` is the current time in Unix milliseconds.
    fn next_row(&mut self, now_ms: i64, row: &mut Row);
}

pub use numbers::Numbers;
pub use people::People;
pub use user_events::UserEvents;
pub use views::Views;
