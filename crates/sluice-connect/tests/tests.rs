//! sluice-connect's integration tests (one binary, modules per area, as ripgrep does).

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
