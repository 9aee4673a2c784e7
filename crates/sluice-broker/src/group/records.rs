//! Records of the internal `__consumer_offsets` topic, in Kafka's own layout so that Kafka's
//! tools can read them: an offset commit is key version 1 `(group, topic, partition)` with value
//! version 3 `(offset, leader epoch, metadata, commit timestamp)`; a null value deletes it.

use bytes::{Buf, BufMut};

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Next offset to read.
    pub offset: i64,
    /// Leader epoch of the record before it, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata string.
    pub metadata: String,
    /// When it was committed (ms since the epoch).
    pub commit_timestamp: i64,
}

/// Key of an offset commit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

/// A record of `__consumer_offsets`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    /// An offset commit (`None` = deleted).
    Offset(OffsetKey, Option<Committed>),
    /// Group metadata (key version 2); its content is not used by sluice.
    GroupMetadata(String),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let len = b.len().min(i16::MAX as usize);
    out.put_i16(len as i16);
    out.extend_from_slice(&b[..len]);
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let len = b.get_i16();
    if len < 0 {
        return Some(String::new());
    }
    let len = len as usize;
    if b.remaining() < len {
        return None;
    }
    let s = String::from_utf8_lossy(&b[..len]).into_owned();
    b.advance(len);
    Some(s)
}

/// Encodes the key of an offset commit.
pub fn encode_offset_key(k: &OffsetKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + k.group.len() + k.topic.len());
    out.put_i16(1);
    put_str(&mut out, &k.group);
    put_str(&mut out, &k.topic);
    out.put_i32(k.partition);
    out
}

/// Encodes the value of an offset commit.
pub fn encode_offset_value(c: &Committed) -> Vec<u8> {
    let mut out = Vec::with_capacity(26 + c.metadata.len());
    out.put_i16(3);
    out.put_i64(c.offset);
    out.put_i32(c.leader_epoch);
    put_str(&mut out, &c.metadata);
    out.put_i64(c.commit_timestamp);
    out
}

/// Decodes one record; `None` for records it does not understand (skipped on load).
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<OffsetsRecord> {
    let mut k = key;
    if k.remaining() < 2 {
        return None;
    }
    match k.get_i16() {
        0 | 1 => {
            let group = get_str(&mut k)?;
            let topic = get_str(&mut k)?;
            if k.remaining() < 4 {
                return None;
            }
            let partition = k.get_i32();
            let key = OffsetKey { group, topic, partition };
            let Some(mut v) = value else { return Some(OffsetsRecord::Offset(key, None)) };
            if v.remaining() < 2 {
                return None;
            }
            let version = v.get_i16();
            if !(0..=3).contains(&version) || v.remaining() < 8 {
                return None;
            }
            let offset = v.get_i64();
            let leader_epoch = if version >= 3 && v.remaining() >= 4 { v.get_i32() } else { -1 };
            let metadata = get_str(&mut v)?;
            let commit_timestamp = if v.remaining() >= 8 { v.get_i64() } else { -1 };
            Some(OffsetsRecord::Offset(key, Some(Committed { offset, leader_epoch, metadata, commit_timestamp })))
        }
        2 => Some(OffsetsRecord::GroupMetadata(get_str(&mut k)?)),
        _ => None,
    }
}

/// `Utils.abs(groupId.hashCode()) % partitions`: the `__consumer_offsets` partition Kafka uses
/// for a group (Java's `String.hashCode` over UTF-16 code units).
pub fn partition_for_group(group: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_commit_round_trip() {
        let k = OffsetKey { group: "mygroup".into(), topic: "numbers".into(), partition: 2 };
        let c = Committed { offset: 42, leader_epoch: 0, metadata: "m".into(), commit_timestamp: 1_700_000_000_000 };
        let (kb, vb) = (encode_offset_key(&k), encode_offset_value(&c));
        assert_eq!(decode(&kb, Some(&vb)), Some(OffsetsRecord::Offset(k.clone(), Some(c))));
        assert_eq!(decode(&kb, None), Some(OffsetsRecord::Offset(k, None)));
        // Kafka's key v1 layout: version, group, topic, partition.
        assert_eq!(&kb[..4], &[0, 1, 0, 7]);
    }

    #[test]
    fn group_partition_matches_java_string_hash() {
        // "mygroup".hashCode() == 1516409939 in Java, and 1516409939 % 50 == 39.
        assert_eq!(partition_for_group("mygroup", 50), 39);
        // "groupA".hashCode() is negative in Java (-1237460574): Utils.abs first.
        assert_eq!(partition_for_group("groupA", 50), 1_237_460_574 % 50);
        assert_eq!(partition_for_group("", 50), 0);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(k in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                               v in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..40))) {
            let _ = decode(&k, v.as_deref());
        }
    }
}
