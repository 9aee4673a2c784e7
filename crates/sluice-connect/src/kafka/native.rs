//! The one call on the producer's hot path that rust-rdkafka's safe API makes slow.
//!
//! `BaseProducer::send` names the topic on every record: it allocates a `CString` of the topic
//! name and librdkafka looks the topic up by name (a lock and a scan) and drops its reference
//! again. Here the topic handle is made once and each record goes through `rd_kafka_produce`
//! with it, as librdkafka's own `rdkafka_performance` does. Same message: the key and value are
//! copied (`RD_KAFKA_MSG_F_COPY`), the partition is librdkafka's partitioner's unless given,
//! the timestamp is librdkafka's clock, no headers, and the opaque is the record's tag, which
//! rust-rdkafka's delivery handler hands back to [`SluiceContext`](super::SluiceContext).
#![allow(unsafe_code)]

use rdkafka::bindings as rdsys;
use rdkafka::client::Client;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use std::ffi::{CString, c_void};

/// A librdkafka topic handle, destroyed on drop. Must be dropped before the client it came
/// from.
#[derive(Debug)]
pub(super) struct TopicHandle(*mut rdsys::rd_kafka_topic_t);

// SAFETY: librdkafka topic handles are thread-safe (reference counted, internally locked).
unsafe impl Send for TopicHandle {}
// SAFETY: as above; `rd_kafka_produce` may be called from any thread.
unsafe impl Sync for TopicHandle {}

impl TopicHandle {
    /// The handle of `topic` on `client` (with the client's default topic settings), or `None`
    /// when the name cannot be one (a NUL byte) or librdkafka refuses it.
    pub(super) fn new<C: rdkafka::ClientContext>(client: &Client<C>, topic: &str) -> Option<Self> {
        let name = CString::new(topic).ok()?;
        // SAFETY: the client pointer is valid for the duration of the call; a null conf means
        // the client's default topic configuration (librdkafka copies what it needs).
        let rkt = unsafe { rdsys::rd_kafka_topic_new(client.native_ptr(), name.as_ptr(), std::ptr::null_mut()) };
        (!rkt.is_null()).then_some(TopicHandle(rkt))
    }

    /// Enqueues one record (key and value copied); the error code when librdkafka refused it.
    pub(super) fn produce(
        &self,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: &[u8],
        tag: usize,
    ) -> Result<(), RDKafkaErrorCode> {
        let (key_ptr, key_len) = key.map_or((std::ptr::null(), 0), |k| (k.as_ptr().cast::<c_void>(), k.len()));
        // SAFETY: the handle is alive; with RD_KAFKA_MSG_F_COPY librdkafka copies key and value
        // before returning and never writes through the pointers; the opaque is an integer that
        // comes back as the delivery report's `_private` (rust-rdkafka's `usize` opaque).
        let r = unsafe {
            rdsys::rd_kafka_produce(
                self.0,
                // -1 is RD_KAFKA_PARTITION_UA: librdkafka's partitioner chooses.
                partition.unwrap_or(-1),
                rdsys::RD_KAFKA_MSG_F_COPY,
                value.as_ptr().cast::<c_void>().cast_mut(),
                value.len(),
                key_ptr,
                key_len,
                tag as *mut c_void,
            )
        };
        if r == 0 {
            return Ok(());
        }
        // SAFETY: reads the calling thread's last error, set by the failed call above.
        let err: RDKafkaRespErr = unsafe { rdsys::rd_kafka_last_error() };
        Err(err.into())
    }
}

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: made by rd_kafka_topic_new, destroyed once, before its client (the sink's
        // field order).
        unsafe { rdsys::rd_kafka_topic_destroy(self.0) }
    }
}
