//! Sans-io pieces of the Kafka wire protocol that sluice needs beside the
//! [`kafka_protocol`] codecs: bytes in, bytes out, no sockets, no clock.
//!
//! # Layout
//! - [`frame`]: the 4-byte length prefix; a frame over the size limit is rejected before any
//!   allocation.
//! - [`header`]: peek at a request's API key, version and correlation id without decoding it,
//!   so that a request the broker cannot decode still gets an answer.
//! - [`batch`]: record batch (magic 2) headers: parse, CRC-32C check, offset assignment, and a
//!   walk over the batches of a produce payload or a log segment.
//! - [`records`]: the records inside a batch: decompression (bounded) and the record layout.
//! - [`partitioner`]: Kafka's murmur2 hash and default key partitioner.
//! - [`api_versions`]: the ApiVersions v0 error reply that clients parse to retry lower.
//! - [`confluent`]: the Confluent Schema Registry prefix (magic 0, schema id, protobuf
//!   message-index array) that registry-aware serializers put before a value.
//!
//! ```
//! use sluice_wire::frame::{check, FrameStatus};
//! let buf = [0, 0, 0, 2, 0xaa, 0xbb, 0xcc];
//! assert_eq!(check(&buf, 1024).unwrap(), FrameStatus::Complete { len: 2 });
//! ```

pub mod api_versions;
pub mod batch;
pub mod confluent;
pub mod frame;
pub mod header;
pub mod partitioner;
pub mod records;
