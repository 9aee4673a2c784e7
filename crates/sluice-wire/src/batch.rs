//! Record batches (magic 2), the unit the broker stores and serves exactly as produced.
//!
//! Byte layout of the 61-byte header, all big-endian:
//!
//! | offset | field                 | type |
//! |-------:|-----------------------|------|
//! | 0      | base offset           | i64  |
//! | 8      | batch length          | i32  (bytes after this field) |
//! | 12     | partition leader epoch| i32  |
//! | 16     | magic                 | i8   (2) |
//! | 17     | crc                   | u32  (CRC-32C of bytes 21..end) |
//! | 21     | attributes            | i16  |
//! | 23     | last offset delta     | i32  |
//! | 27     | base timestamp        | i64  |
//! | 35     | max timestamp         | i64  |
//! | 43     | producer id           | i64  |
//! | 51     | producer epoch        | i16  |
//! | 53     | base sequence         | i32  |
//! | 57     | records count         | i32  |

/// Size of the fixed header.
pub const HEADER_LEN: usize = 61;
/// Bytes before the batch-length field's coverage starts (base offset + length).
pub const LOG_OVERHEAD: usize = 12;

const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const LEADER_EPOCH_OFFSET: usize = 12;

/// Attribute bits.
pub mod attributes {
    /// Mask of the compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Timestamps are LogAppendTime.
    pub const LOG_APPEND_TIME: i16 = 0x08;
    /// Part of a transaction.
    pub const TRANSACTIONAL: i16 = 0x10;
    /// A control batch (transaction marker).
    pub const CONTROL: i16 = 0x20;
}

/// Why bytes are not a valid record batch.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum BatchError {
    /// Fewer bytes than the header or than the announced length.
    #[error("record batch truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        have: usize,
    },
    /// The batch length field is impossible.
    #[error("record batch length {0} is invalid")]
    BadLength(i32),
    /// Not a magic-2 batch.
    #[error("record batch magic {0} is not supported (only magic 2, Kafka 0.11+ clients)")]
    Magic(i8),
    /// The checksum does not match the content.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// CRC in the header.
        stored: u32,
        /// CRC of the content.
        computed: u32,
    },
    /// Counts or deltas that cannot be right.
    #[error("record batch is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// The decoded fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// Format version (2).
    pub magic: i8,
    /// CRC-32C as stored.
    pub crc: u32,
    /// Attribute bits, see [`attributes`].
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent / transactional producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the fixed header; does not check the CRC (see [`validate`]).
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            // The magic byte decides the format; report it when that is the problem.
            if buf.len() > 16 && buf[16] != 2 {
                return Err(BatchError::Magic(buf[16] as i8));
            }
            return Err(BatchError::Truncated { needed: HEADER_LEN, have: buf.len() });
        }
        let magic = buf[16] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, 8),
            partition_leader_epoch: be_i32(buf, 12),
            magic,
            crc: be_u32(buf, CRC_OFFSET),
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total size of the batch on the wire and on disk.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & attributes::COMPRESSION_MASK
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & attributes::TRANSACTIONAL != 0
    }

    /// Whether the batch is a control batch (transaction marker).
    pub fn is_control(&self) -> bool {
        self.attributes & attributes::CONTROL != 0
    }

    /// Whether the producer is idempotent (has a producer id).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence of the last record, wrapping as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
}

/// Parses a whole batch at the start of `buf` and checks length, magic, CRC and counts.
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    let total = checked_len(&header, buf.len())?;
    let computed = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..total]);
    if computed != header.crc {
        return Err(BatchError::Crc { stored: header.crc, computed });
    }
    if header.records_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::Inconsistent("negative record count or offset delta"));
    }
    if header.records_count > 0 && header.last_offset_delta < header.records_count - 1 {
        return Err(BatchError::Inconsistent("last offset delta smaller than the record count"));
    }
    Ok(header)
}

/// The batch's total length once its length field is known to cover the header and to fit in
/// `have` bytes.
fn checked_len(header: &BatchHeader, have: usize) -> Result<usize, BatchError> {
    if header.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength(header.batch_length));
    }
    let total = header.total_len();
    if have < total {
        return Err(BatchError::Truncated { needed: total, have });
    }
    Ok(total)
}

/// Writes `base_offset` into the batch at the start of `buf` (the CRC does not cover it).
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) {
    buf[LEADER_EPOCH_OFFSET..LEADER_EPOCH_OFFSET + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Writes the length and CRC-32C of the batch that `batch` holds exactly, after its header or
/// records section was written (batches built here, by the log cleaner, by tests).
pub fn seal(batch: &mut [u8]) {
    if batch.len() < HEADER_LEN {
        return;
    }
    let len = (batch.len() - LOG_OVERHEAD) as i32;
    batch[LOG_OVERHEAD - 4..LOG_OVERHEAD].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Marks the batch as LogAppendTime with `timestamp` as its max timestamp and recomputes the
/// CRC, as Kafka does for topics with `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(buf: &mut [u8], timestamp: i64) -> Result<(), BatchError> {
    let header = BatchHeader::parse(buf)?;
    let total = checked_len(&header, buf.len())?;
    let attrs = header.attributes | attributes::LOG_APPEND_TIME;
    buf[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    buf[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..total]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Walks the batches laid end to end in `buf` (a produce payload or a segment), yielding each
/// batch's position and validated header; stops at the first invalid batch with its error.
pub fn walk(buf: &[u8]) -> Walk<'_> {
    Walk { buf, pos: 0, done: false }
}

/// Iterator returned by [`walk`].
#[derive(Debug)]
pub struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl Walk<'_> {
    /// Bytes consumed by the valid batches so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Walk<'_> {
    type Item = Result<(usize, BatchHeader), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        match validate(&self.buf[self.pos..]) {
            Ok(header) => {
                let at = self.pos;
                self.pos += header.total_len();
                Some(Ok((at, header)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// `(key, value, timestamp)` of a record written by [`build`].
pub type SimpleRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

/// Builds an uncompressed batch from `(key, value, timestamp)` records: for tests and for
/// broker-written records (control markers, internal topics).
pub fn build(base_offset: i64, records: &[SimpleRecord<'_>], producer: (i64, i16, i32), attrs: i16) -> Vec<u8> {
    let base_ts = records.first().map_or(-1, |r| r.2);
    let max_ts = records.iter().map(|r| r.2).max().unwrap_or(-1);
    let mut body = Vec::new();
    for (i, (key, value, ts)) in records.iter().enumerate() {
        let mut rec = Vec::new();
        rec.push(0u8); // record attributes
        put_varlong(&mut rec, ts - base_ts);
        put_varlong(&mut rec, i as i64);
        put_bytes(&mut rec, *key);
        put_bytes(&mut rec, *value);
        put_varlong(&mut rec, 0); // headers
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&base_offset.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // batch length: written by `seal`
    out.extend_from_slice(&0i32.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&attrs.to_be_bytes());
    out.extend_from_slice(&(records.len().saturating_sub(1) as i32).to_be_bytes());
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&producer.0.to_be_bytes());
    out.extend_from_slice(&producer.1.to_be_bytes());
    out.extend_from_slice(&producer.2.to_be_bytes());
    out.extend_from_slice(&(records.len() as i32).to_be_bytes());
    out.extend_from_slice(&body);
    seal(&mut out);
    out
}

/// The two kinds of transaction markers (control record type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// ABORT (type 0).
    Abort,
    /// COMMIT (type 1).
    Commit,
}

/// Builds a transaction marker: a control batch (uncompressed, transactional) with one record
/// whose key is `(version 0, type)` and value `(version 0, coordinator epoch)`, as Kafka writes.
pub fn build_marker(
    producer_id: i64,
    producer_epoch: i16,
    kind: ControlType,
    coordinator_epoch: i32,
    ts: i64,
) -> Vec<u8> {
    let kind: i16 = match kind {
        ControlType::Abort => 0,
        ControlType::Commit => 1,
    };
    let mut key = 0i16.to_be_bytes().to_vec();
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = 0i16.to_be_bytes().to_vec();
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    build(
        0,
        &[(Some(&key), Some(&value), ts)],
        (producer_id, producer_epoch, -1),
        attributes::CONTROL | attributes::TRANSACTIONAL,
    )
}

fn get_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// The marker type of a control batch (its first record's key); `None` when the batch is not a
/// control batch or its record cannot be read. Control batches are never compressed.
pub fn control_type(batch: &[u8]) -> Option<ControlType> {
    let h = validate(batch).ok()?;
    if !h.is_control() || h.records_count < 1 || h.compression() != 0 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let _len = get_varlong(batch, &mut pos)?;
    pos += 1; // record attributes
    get_varlong(batch, &mut pos)?; // timestamp delta
    get_varlong(batch, &mut pos)?; // offset delta
    let key_len = get_varlong(batch, &mut pos)?;
    if key_len < 4 {
        return None;
    }
    let key = batch.get(pos..pos + 4)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    }
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::records::RecordBatchDecoder;

    fn sample() -> Vec<u8> {
        build(0, &[(Some(b"k1"), Some(b"v1"), 1000), (None, Some(b"v2"), 1005)], (-1, -1, -1), 0)
    }

    #[test]
    fn built_batch_validates_and_decodes_with_kafka_protocol() {
        let b = sample();
        let h = validate(&b).unwrap();
        assert_eq!(h.records_count, 2);
        assert_eq!(h.last_offset_delta, 1);
        assert_eq!(h.max_timestamp, 1005);
        assert_eq!(h.total_len(), b.len());
        let mut bytes = Bytes::from(b);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        assert_eq!(set.records.len(), 2);
        assert_eq!(set.records[1].value.as_deref(), Some(&b"v2"[..]));
        assert_eq!(set.records[1].timestamp, 1005);
    }

    #[test]
    fn base_offset_change_keeps_crc_valid() {
        let mut b = sample();
        set_base_offset(&mut b, 42);
        set_partition_leader_epoch(&mut b, 3);
        let h = validate(&b).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.last_offset(), 43);
    }

    #[test]
    fn corrupt_byte_fails_crc() {
        let mut b = sample();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b), Err(BatchError::Crc { .. })));
    }

    #[test]
    fn log_append_time_rewrites_crc() {
        let mut b = sample();
        set_log_append_time(&mut b, 99).unwrap();
        let h = validate(&b).unwrap();
        assert_eq!(h.max_timestamp, 99);
        assert_ne!(h.attributes & attributes::LOG_APPEND_TIME, 0);
    }

    #[test]
    fn walk_stops_at_torn_tail() {
        let mut buf = sample();
        buf.extend_from_slice(&sample());
        let full = buf.len();
        buf.extend_from_slice(&sample()[..30]);
        let mut w = walk(&buf);
        assert!(w.next().unwrap().is_ok());
        assert!(w.next().unwrap().is_ok());
        assert!(matches!(w.next(), Some(Err(BatchError::Truncated { .. }))));
        assert_eq!(w.position(), full);
        assert!(w.next().is_none());
    }

    #[test]
    fn old_magic_is_named() {
        let mut b = sample();
        b[16] = 1;
        assert_eq!(validate(&b), Err(BatchError::Magic(1)));
    }

    #[test]
    fn markers_round_trip_and_decode_with_kafka_protocol() {
        for kind in [ControlType::Commit, ControlType::Abort] {
            let m = build_marker(7, 3, kind, 0, 1_000);
            let h = validate(&m).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (7, 3, -1));
            assert_eq!(control_type(&m), Some(kind));
            let set = RecordBatchDecoder::decode(&mut Bytes::from(m)).unwrap();
            assert!(set.records[0].control);
        }
        assert_eq!(control_type(&sample()), None);
    }

    proptest::proptest! {
        #[test]
        fn control_type_never_panics(idx in 0usize..200, byte in proptest::num::u8::ANY) {
            let mut b = build_marker(1, 0, ControlType::Commit, 0, 5);
            let i = idx % b.len();
            b[i] = byte;
            let _ = control_type(&b);
        }

        #[test]
        fn walk_never_panics(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for item in walk(&buf) { let _ = item; }
        }

        #[test]
        fn mutated_batches_never_panic(idx in 0usize..200, byte in proptest::num::u8::ANY) {
            let mut b = sample();
            let i = idx % b.len();
            b[i] = byte;
            let _ = validate(&b);
            let _ = set_log_append_time(&mut b, 1);
        }
    }
}
