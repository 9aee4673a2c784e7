//! sluice-connect's integration tests (one binary, modules per area, as ripgrep does).
//!
//! - `producers`: producers against a real sluice broker on 127.0.0.1:0, read back with
//!   librdkafka and decoded with independent decoders (prost for protobuf, serde_json for JSON).
//! - the result sinks: `staging` (crashes and recovery), `console`, `json`, `parquet`,
//!   `protobuf`, `dead_letter`, `jobs` (the seed job files' sinks), `robustness` (proptest),
//!   `s3` (against moto; `#[ignore]`d here, run by interop/tests/test_sinks.py); `common` holds
//!   their helpers and the fixed workload.

mod producers;

mod common;

mod console;
mod dead_letter;
mod jobs;
mod json;
mod parquet;
mod protobuf;
mod robustness;
mod s3;
mod staging;
