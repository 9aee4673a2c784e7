//! sluice's stream engine.
//!
//! # Layout
//! - [`time`]: milliseconds, interval strings, Spark's timestamp text, calendar truncation.
//! - [`key`]: group keys, their stable hash and the virtual node that owns them.
//! - [`expr`]: the expression language: parse, compile against a schema, evaluate.
//! - [`show`]: Spark `show()` tables for the console sink.

pub mod expr;
pub mod key;
pub mod show;
pub mod time;
