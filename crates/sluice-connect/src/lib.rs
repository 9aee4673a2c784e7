//! Sources, sinks and the job runtime: where sluice's rows come from, where records go, and
//! what runs a job between them.
//!
//! A producer is a pipeline: a [`source`] fills rows, an [`encode::Encoder`] turns each into
//! record bytes, the [`kafka::KafkaSink`] sends them and counts deliveries; [`pipeline`]
//! drives the three with the pacing flags (`--count`, `--duration`, `--rate`).
//!
//! # Layout
//! - [`source`]: the seeds' generators (`generator/`, one file each) and the CSV replay.
//! - [`encode`]: JSON, CSV and protobuf (a descriptor's message, plain or framed for a schema
//!   registry), behind [`encode::Encoder`].
//! - [`kafka`]: the librdkafka context (quiet logs, "no broker" detection, delivery counts),
//!   client settings with the seeds' producer defaults, the producer sink.
//! - [`pipeline`]: the producer loop and the batched CSV replay.
//! - [`rng`]: the seeded random number generator behind `--seed`.
//! - [`civil`]: dates and the timestamp text the seeds write (UTC).
//! - [`job`]: the job runtime: a job file's plan run against Kafka (consumer thread, decoding,
//!   static tables, the engine off the reactor, checkpoints with exactly-once commits, the
//!   transactional Kafka sink).
//! - [`sink`]: where a job's results and dead letters go, written per checkpoint epoch and
//!   published when the checkpoint commits: console tables, JSON lines, Parquet (hive-style
//!   partitions), Protobuf files, dead-letter files; on a local directory or S3.

pub mod civil;
pub mod encode;
pub mod job;
pub mod kafka;
pub mod pipeline;
pub mod rng;
pub mod sink;
pub mod source;

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}
