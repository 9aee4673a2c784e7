//! Records of the internal `__transaction_state` topic, in Kafka's layout (key version 0:
//! the transactional id; value version 0: producer id, epoch, timeout, state, partitions,
//! last update and start timestamps), so the state survives a restart.

use bytes::{Buf, BufMut};

/// The internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// The persisted state of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// State code (Kafka's: 0 Empty, 1 Ongoing, 2 PrepareCommit, 3 PrepareAbort, 4 CompleteCommit,
    /// 5 CompleteAbort, 6 Dead, 7 PrepareEpochFence).
    pub state: i8,
    /// Partitions in the transaction.
    pub partitions: Vec<(String, Vec<i32>)>,
    /// Last change, ms since the epoch.
    pub last_update_ms: i64,
    /// Start of the ongoing transaction, ms since the epoch.
    pub start_ms: i64,
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
    if len < 0 || b.remaining() < len as usize {
        return None;
    }
    let s = String::from_utf8_lossy(&b[..len as usize]).into_owned();
    b.advance(len as usize);
    Some(s)
}

/// Encodes the key: version 0 and the transactional id.
pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.put_i16(0);
    put_str(&mut out, transactional_id);
    out
}

/// Decodes a key.
pub fn decode_key(mut k: &[u8]) -> Option<String> {
    if k.remaining() < 2 || k.get_i16() != 0 {
        return None;
    }
    get_str(&mut k)
}

/// Encodes a value (version 0).
pub fn encode_value(r: &TxnRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.put_i16(0);
    out.put_i64(r.producer_id);
    out.put_i16(r.epoch);
    out.put_i32(r.timeout_ms);
    out.put_i8(r.state);
    out.put_i32(r.partitions.len() as i32);
    for (topic, parts) in &r.partitions {
        put_str(&mut out, topic);
        out.put_i32(parts.len() as i32);
        for p in parts {
            out.put_i32(*p);
        }
    }
    out.put_i64(r.last_update_ms);
    out.put_i64(r.start_ms);
    out
}

/// Decodes a value; `None` if it is not a version-0 value this broker wrote.
pub fn decode_value(mut v: &[u8]) -> Option<TxnRecord> {
    if v.remaining() < 2 + 8 + 2 + 4 + 1 + 4 || v.get_i16() != 0 {
        return None;
    }
    let producer_id = v.get_i64();
    let epoch = v.get_i16();
    let timeout_ms = v.get_i32();
    let state = v.get_i8();
    let n = v.get_i32();
    if n < 0 || n as usize > v.remaining() {
        return None;
    }
    let mut partitions = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let topic = get_str(&mut v)?;
        if v.remaining() < 4 {
            return None;
        }
        let m = v.get_i32();
        if m < 0 || (m as usize).saturating_mul(4) > v.remaining() {
            return None;
        }
        partitions.push((topic, (0..m).map(|_| v.get_i32()).collect()));
    }
    if v.remaining() < 16 {
        return None;
    }
    Some(TxnRecord {
        producer_id,
        epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms: v.get_i64(),
        start_ms: v.get_i64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = TxnRecord {
            producer_id: 9,
            epoch: 2,
            timeout_ms: 60_000,
            state: 1,
            partitions: vec![("out".into(), vec![0, 2]), ("__consumer_offsets".into(), vec![7])],
            last_update_ms: 5,
            start_ms: 4,
        };
        assert_eq!(decode_value(&encode_value(&r)), Some(r));
        assert_eq!(decode_key(&encode_key("tx-1")).as_deref(), Some("tx-1"));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(v in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = decode_value(&v);
            let _ = decode_key(&v);
        }
    }
}
