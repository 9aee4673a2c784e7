//! Sources: where rows come from.
//!
//! - [`generator`]: the seeds' synthetic data (streams and CSV files), seeded for reproducible
//!   output.
//! - [`csv_replay`]: any CSV file replayed as records, in timed batches.

pub mod csv_replay;
pub mod generator;
