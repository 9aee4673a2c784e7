//! sluice's connectors: where data comes from and where results go.
//!
//! # Layout
//! - [`sink`]: sinks of query results and dead letters, written per checkpoint epoch and
//!   published when the checkpoint commits: console tables, JSON lines, Parquet (hive-style
//!   partitions), Protobuf files, dead-letter files; on a local directory or S3.

#![warn(missing_docs)]

pub mod sink;
