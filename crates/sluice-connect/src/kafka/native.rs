//! The calls on the hot paths that rust-rdkafka's safe API makes slow: the producer's send
//! ([`TopicHandle`]) and the job source's reads ([`FetchQueue`]).
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

/// A queue of the consumer's own that the assigned partitions' fetch queues forward to, read
/// many records per call (`rd_kafka_consume_batch_queue`, as librdkafka's
/// `rdkafka_performance -B` does). rust-rdkafka's `BaseConsumer::poll` hands out one record per
/// call and pays per record for what a batch pays once: two clock reads, the queue lock, an
/// event and an `Arc` (a third of the source thread's CPU; bench/stream/README.md).
///
/// - The consumer's own queue keeps the group's events (rebalances, errors, statistics): they
///   are still served by `BaseConsumer::poll`, and an event arriving there wakes a batch read
///   waiting on this queue ([`FetchQueue::consume`] returns early).
/// - A partition is forwarded here before it is assigned ([`FetchQueue::forward`]); librdkafka
///   then keeps the forward when it starts fetching (an application's forward wins over its
///   own) but drops it when it stops fetching, so the caller forwards again after every
///   assignment, and now and then besides (forwarding is idempotent and moves what waits).
#[derive(Debug)]
pub(crate) struct FetchQueue {
    rk: *mut rdsys::rd_kafka_t,
    /// The topic whose partitions are forwarded here.
    topic: CString,
    queue: *mut rdsys::rd_kafka_queue_t,
    /// A handle of the consumer's queue, whose "became non-empty" callback yields `queue`.
    events: *mut rdsys::rd_kafka_queue_t,
}

// SAFETY: librdkafka queues are internally locked and may be used from any thread; `rk` is only
// passed to librdkafka calls that are thread-safe.
unsafe impl Send for FetchQueue {}
// SAFETY: as above.
unsafe impl Sync for FetchQueue {}

/// Called by librdkafka (under the consumer queue's lock, on whichever thread enqueued) when
/// the consumer's queue becomes non-empty: ends a batch read waiting on the fetch queue.
unsafe extern "C" fn wake_fetch_queue(_rk: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the fetch queue's handle, alive until the callback is disabled (Drop
    // disables it, under the same lock, before destroying the handle).
    unsafe { rdsys::rd_kafka_queue_yield(opaque.cast()) }
}

impl FetchQueue {
    /// A new queue for `topic`'s partitions on a consumer `client` (one with a `group.id`), or
    /// `None` when the name cannot be one (a NUL byte) or librdkafka has no consumer queue.
    pub(crate) fn new<C: rdkafka::ClientContext>(client: &Client<C>, topic: &str) -> Option<Self> {
        let topic = CString::new(topic).ok()?;
        let rk = client.native_ptr();
        // SAFETY: the client pointer is valid; both calls return new handles (or null), which
        // this value owns and destroys on drop.
        let (queue, events) = unsafe { (rdsys::rd_kafka_queue_new(rk), rdsys::rd_kafka_queue_get_consumer(rk)) };
        if queue.is_null() || events.is_null() {
            // SAFETY: destroys only the handles that were made.
            unsafe {
                if !queue.is_null() {
                    rdsys::rd_kafka_queue_destroy(queue);
                }
                if !events.is_null() {
                    rdsys::rd_kafka_queue_destroy(events);
                }
            }
            return None;
        }
        // SAFETY: both handles are alive; the opaque is `queue`, which outlives the callback
        // (see Drop).
        unsafe { rdsys::rd_kafka_queue_cb_event_enable(events, Some(wake_fetch_queue), queue.cast()) };
        Some(FetchQueue { rk, topic, queue, events })
    }

    /// Forwards the fetch queue of the topic's `partition` here (the partition need not be
    /// assigned yet: librdkafka makes its state on first use). False when librdkafka refuses.
    pub(crate) fn forward(&self, partition: i32) -> bool {
        // SAFETY: the client outlives this queue (the source drops it first); the partition
        // handle is destroyed right after the forward, which stays (it belongs to the
        // partition's queue, not to the handle).
        unsafe {
            let pq = rdsys::rd_kafka_queue_get_partition(self.rk, self.topic.as_ptr(), partition);
            if pq.is_null() {
                return false;
            }
            rdsys::rd_kafka_queue_forward(pq, self.queue);
            rdsys::rd_kafka_queue_destroy(pq);
        }
        true
    }

    /// Reads up to `max` records (and per-partition errors such as end of partition) into
    /// `out`, waiting up to `timeout` for the first and, once one came, for the rest, unless an
    /// event on the consumer's queue ends the wait. Returns how many came.
    pub(crate) fn consume(&self, timeout: std::time::Duration, max: usize, out: &mut Fetched) -> usize {
        out.clear();
        out.messages.reserve(max);
        // Rounded up: a wait cut to 0 ms would return at once and the caller would spin.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `out.messages` has room for `max` pointers; librdkafka writes at most `max`
        // and returns how many (or -1); each written message is owned by `out` from then on.
        let n = unsafe { rdsys::rd_kafka_consume_batch_queue(self.queue, ms, out.messages.as_mut_ptr(), max) };
        let n = usize::try_from(n).unwrap_or(0).min(max);
        // SAFETY: librdkafka initialised the first `n` slots.
        unsafe { out.messages.set_len(n) };
        n
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        // SAFETY: disabling takes the consumer queue's lock, which the callback runs under, so
        // no callback runs or starts once it returns; then both handles are destroyed once.
        // Partitions still forwarded here keep librdkafka's queue itself alive (it is
        // reference counted) and their records are discarded with it.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.events, None, std::ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.events);
            rdsys::rd_kafka_queue_destroy(self.queue);
        }
    }
}

/// Records read by [`FetchQueue::consume`], destroyed on the next read or on drop.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    messages: Vec<*mut rdsys::rd_kafka_message_t>,
}

// SAFETY: librdkafka messages may be read and destroyed on any thread.
unsafe impl Send for Fetched {}

/// One record (or per-partition error) of a [`Fetched`] read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchedRecord<'a> {
    /// Partition.
    pub partition: i32,
    /// Offset (for an end of partition: the end).
    pub offset: i64,
    /// The error instead of a record (`PartitionEOF` included).
    pub error: Option<RDKafkaErrorCode>,
    /// Timestamp in ms, if the record has one.
    pub timestamp: Option<i64>,
    /// The value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
}

impl Fetched {
    /// The records, in the order read.
    pub(crate) fn iter(&self) -> impl Iterator<Item = FetchedRecord<'_>> {
        self.messages.iter().map(|&m| {
            // SAFETY: each pointer is a live message owned by `self` until `clear`/drop, and the
            // returned borrows end before that (they borrow `self`).
            unsafe {
                let msg = &*m;
                let value =
                    (!msg.payload.is_null()).then(|| std::slice::from_raw_parts(msg.payload.cast::<u8>(), msg.len));
                let error = (msg.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| msg.err.into());
                let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
                let ts = rdsys::rd_kafka_message_timestamp(m, &mut kind);
                let timestamp = (kind != rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0)
                    .then_some(ts);
                FetchedRecord { partition: msg.partition, offset: msg.offset, error, timestamp, value }
            }
        })
    }

    /// Destroys the records.
    pub(crate) fn clear(&mut self) {
        for m in self.messages.drain(..) {
            // SAFETY: each message is destroyed once, here.
            unsafe { rdsys::rd_kafka_message_destroy(m) }
        }
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        self.clear();
    }
}
