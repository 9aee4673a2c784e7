//! Rows and their encodings: what a Kafka record's bytes become before the stream engine sees
//! them, and what results become before a sink writes them.
//!
//! # Layout
//! - [`row`]: [`Value`], [`Row`] and [`RowSchema`], the engine's row form; every decoder
//!   produces it and every encoder consumes it.
//! - [`protobuf`]: schemas from `.desc` files or `.proto` sources compiled in pure Rust (protox),
//!   message look-up by name, [`RowDecoder`](protobuf::RowDecoder) /
//!   [`RowEncoder`](protobuf::RowEncoder) over a field table resolved once, JSON ↔ protobuf.
//! - [`json`]: JSON objects ↔ rows, schema inference from samples.
//! - [`csv`]: CSV records ↔ rows (quoted fields, nulls), schema inference from a header and samples.
//! - [`time`]: date-time text ↔ milliseconds, shared by the JSON and CSV cells.
//!
//! The `proto/` directory holds the seeds' schemas: `user_event.proto` (seed 000,
//! `protobuf.UserEvent`, with its compiled `user_event.desc`) and `my_event.proto` (seed 001,
//! `numbers.MyEvent`: `int32 number`, `google.protobuf.Timestamp created_at`); [`seeds`] embeds
//! them.

pub mod csv;
pub mod json;
pub mod protobuf;
pub mod row;
pub mod seeds;
pub mod time;

pub use row::{Field, Kind, Row, RowSchema, Value};
