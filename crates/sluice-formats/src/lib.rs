//! Rows and their encodings: what a Kafka record's bytes become before the stream engine sees
//! them, and what results become before a sink writes them.
//!
//! # Layout
//! - [`row`]: [`Value`], [`Row`] and [`RowSchema`], the engine's row form; every decoder
//!   produces it and every encoder consumes it.

pub mod row;

pub use row::{Field, Kind, Row, RowSchema, Value};
