//! The Confluent Schema Registry wire format: the prefix that Confluent's serializers put before
//! a record value (or key) so that a reader can find the writer's schema.
//!
//! ```text
//! 0x00 | schema id: u32 big-endian | [protobuf only: message-index array] | payload
//! ```
//!
//! The protobuf message-index array names the message inside the schema's file: a zigzag varint
//! count followed by that many zigzag varint indexes (top-level message, then nested ones). The
//! common case `[0]` (the file's first message) is written as the single byte `0`; readers also
//! accept the long form `02 00` (count 1, index 0), which some writers emit.
//!
//! Everything here works on byte slices: no allocation on the decode path, no I/O.
//!
//! ```
//! use sluice_wire::confluent::{decode_protobuf, encode_protobuf_prefix};
//! let mut buf = Vec::new();
//! encode_protobuf_prefix(2, &[0], &mut buf);
//! assert_eq!(buf, [0, 0, 0, 0, 2, 0]);
//! buf.extend_from_slice(b"\x0a\x05user3");
//! let frame = decode_protobuf(&buf).unwrap();
//! assert_eq!(frame.schema_id, 2);
//! assert_eq!(frame.indexes.as_slice(), &[0]);
//! assert_eq!(frame.payload, b"\x0a\x05user3");
//! ```

/// The first byte of every Confluent-framed value.
pub const MAGIC: u8 = 0;

/// Bytes before the payload of an Avro / JSON Schema value: magic and schema id.
pub const HEADER_LEN: usize = 5;

/// The deepest message-index path accepted (a message nested this deep is not realistic; a longer
/// array means the bytes are not what they claim to be).
pub const MAX_INDEX_DEPTH: usize = 16;

/// Why bytes are not a valid Confluent frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfluentError {
    /// Fewer than five bytes.
    #[error(
        "value of {len} bytes is too short for the Confluent wire format (needs at least 5: magic byte 0 and a \
         4-byte schema id); was it written by a Confluent/registry serializer?"
    )]
    TooShort {
        /// Length of the value.
        len: usize,
    },
    /// The first byte is not 0.
    #[error(
        "value starts with byte {found:#04x}, not the Confluent magic byte 0x00; it was not written by a \
         schema-registry serializer (read it as plain protobuf/JSON instead)"
    )]
    BadMagic {
        /// The first byte.
        found: u8,
    },
    /// The message-index array ends early or a varint runs past the value.
    #[error("the protobuf message-index array is truncated at byte {at} of the value")]
    TruncatedIndexes {
        /// Offset where more bytes were needed.
        at: usize,
    },
    /// A varint of the message-index array is longer than 10 bytes or out of range.
    #[error("the protobuf message-index array has a malformed varint at byte {at} of the value")]
    BadVarint {
        /// Offset of the varint.
        at: usize,
    },
    /// The count or an index is negative.
    #[error("the protobuf message-index array has a negative {what} ({value})")]
    Negative {
        /// "count" or "index".
        what: &'static str,
        /// The value read.
        value: i64,
    },
    /// The array is deeper than [`MAX_INDEX_DEPTH`].
    #[error("the protobuf message-index array claims {count} levels; at most {MAX_INDEX_DEPTH} are accepted")]
    TooDeep {
        /// The count read.
        count: i64,
    },
}

/// A message-index path, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MessageIndexes {
    len: u8,
    items: [u32; MAX_INDEX_DEPTH],
}

impl MessageIndexes {
    /// `[0]`: the first message of the file, the common case.
    pub const FIRST: MessageIndexes = MessageIndexes { len: 1, items: [0; MAX_INDEX_DEPTH] };

    /// A path from a slice; `None` if it is empty or deeper than [`MAX_INDEX_DEPTH`].
    pub fn from_slice(path: &[u32]) -> Option<Self> {
        if path.is_empty() || path.len() > MAX_INDEX_DEPTH {
            return None;
        }
        let mut items = [0; MAX_INDEX_DEPTH];
        items[..path.len()].copy_from_slice(path);
        Some(MessageIndexes { len: path.len() as u8, items })
    }

    /// The indexes, outermost first.
    pub fn as_slice(&self) -> &[u32] {
        &self.items[..self.len as usize]
    }

    /// Whether this is `[0]`.
    pub fn is_first(&self) -> bool {
        self.as_slice() == [0]
    }
}

impl std::fmt::Debug for MessageIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A decoded protobuf frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtobufFrame<'a> {
    /// The writer's schema id in the registry.
    pub schema_id: u32,
    /// Which message of the schema's file.
    pub indexes: MessageIndexes,
    /// The protobuf-encoded message.
    pub payload: &'a [u8],
}

/// Appends the 5-byte header (Avro / JSON Schema framing, and the start of protobuf framing).
pub fn encode_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// Appends the protobuf prefix: header and message-index array, `[0]` as the single byte 0, as
/// Confluent's serializers write it.
pub fn encode_protobuf_prefix(schema_id: u32, indexes: &[u32], out: &mut Vec<u8>) {
    encode_header(schema_id, out);
    if indexes == [0] || indexes.is_empty() {
        out.push(0);
        return;
    }
    write_zigzag(indexes.len() as i64, out);
    for &i in indexes {
        write_zigzag(i64::from(i), out);
    }
}

/// Splits an Avro / JSON Schema value into its schema id and payload.
pub fn decode_header(buf: &[u8]) -> Result<(u32, &[u8]), ConfluentError> {
    if buf.len() < HEADER_LEN {
        return Err(ConfluentError::TooShort { len: buf.len() });
    }
    if buf[0] != MAGIC {
        return Err(ConfluentError::BadMagic { found: buf[0] });
    }
    let id = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    Ok((id, &buf[HEADER_LEN..]))
}

/// Splits a protobuf value into schema id, message indexes and payload.
pub fn decode_protobuf(buf: &[u8]) -> Result<ProtobufFrame<'_>, ConfluentError> {
    let (schema_id, _) = decode_header(buf)?;
    let mut pos = HEADER_LEN;
    let count = read_zigzag(buf, &mut pos)?;
    if count < 0 {
        return Err(ConfluentError::Negative { what: "count", value: count });
    }
    let indexes = if count == 0 {
        MessageIndexes::FIRST
    } else {
        if count as usize > MAX_INDEX_DEPTH {
            return Err(ConfluentError::TooDeep { count });
        }
        let mut items = [0u32; MAX_INDEX_DEPTH];
        for item in items.iter_mut().take(count as usize) {
            let v = read_zigzag(buf, &mut pos)?;
            if v < 0 {
                return Err(ConfluentError::Negative { what: "index", value: v });
            }
            *item = u32::try_from(v).map_err(|_| ConfluentError::BadVarint { at: pos })?;
        }
        MessageIndexes { len: count as u8, items }
    };
    Ok(ProtobufFrame { schema_id, indexes, payload: &buf[pos..] })
}

fn write_zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn read_zigzag(buf: &[u8], pos: &mut usize) -> Result<i64, ConfluentError> {
    let start = *pos;
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(ConfluentError::TruncatedIndexes { at: *pos });
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(ConfluentError::BadVarint { at: start });
        }
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(ConfluentError::BadVarint { at: start })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that confluent-kafka 2.16's ProtobufSerializer wrote for schema id 2 (FACTS.md):
    /// magic 00, id 00000002, then the message-index array.
    #[test]
    fn golden_bytes_from_the_python_serializer() {
        // first top-level message: the array [0] is the single byte 00
        let first = [0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x0a, 0x01, 0x61];
        let mut out = Vec::new();
        encode_protobuf_prefix(2, &[0], &mut out);
        assert_eq!(out, first[..6]);
        let f = decode_protobuf(&first).unwrap();
        assert_eq!((f.schema_id, f.indexes.as_slice(), f.payload), (2, &[0][..], &first[6..]));

        // second top-level message: count 1 (zigzag 02), index 1 (zigzag 02)
        let second = [0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x02];
        out.clear();
        encode_protobuf_prefix(2, &[1], &mut out);
        assert_eq!(out, second);
        let f = decode_protobuf(&second).unwrap();
        assert_eq!((f.indexes.as_slice(), f.payload), (&[1][..], &[][..]));

        // first message nested in the second: count 2 (04), indexes 1 (02) and 0 (00)
        let nested = [0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x02, 0x00];
        out.clear();
        encode_protobuf_prefix(2, &[1, 0], &mut out);
        assert_eq!(out, nested);
        assert_eq!(decode_protobuf(&nested).unwrap().indexes.as_slice(), &[1, 0]);
    }

    #[test]
    fn long_form_of_first_message_is_accepted() {
        let long = [0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0xff];
        let f = decode_protobuf(&long).unwrap();
        assert_eq!(f.schema_id, 256);
        assert!(f.indexes.is_first());
        assert_eq!(f.payload, [0xff]);
    }

    #[test]
    fn header_only_formats() {
        let mut out = Vec::new();
        encode_header(0x01020304, &mut out);
        assert_eq!(out, [0, 1, 2, 3, 4]);
        out.extend_from_slice(b"{}");
        assert_eq!(decode_header(&out).unwrap(), (0x01020304, &b"{}"[..]));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(decode_header(&[0, 0, 0]), Err(ConfluentError::TooShort { len: 3 }));
        assert_eq!(decode_header(&[1, 0, 0, 0, 0]), Err(ConfluentError::BadMagic { found: 1 }));
        assert_eq!(decode_protobuf(&[0, 0, 0, 0, 1]), Err(ConfluentError::TruncatedIndexes { at: 5 }));
        assert_eq!(decode_protobuf(&[0, 0, 0, 0, 1, 0x04, 0x02]), Err(ConfluentError::TruncatedIndexes { at: 7 }));
        assert_eq!(decode_protobuf(&[0, 0, 0, 0, 1, 0x01]), Err(ConfluentError::Negative { what: "count", value: -1 }));
        assert_eq!(
            decode_protobuf(&[0, 0, 0, 0, 1, 0x02, 0x01]),
            Err(ConfluentError::Negative { what: "index", value: -1 })
        );
        assert_eq!(decode_protobuf(&[0, 0, 0, 0, 1, 0x40]), Err(ConfluentError::TooDeep { count: 32 }));
        let mut endless = vec![0, 0, 0, 0, 1];
        endless.extend_from_slice(&[0xff; 11]);
        assert_eq!(decode_protobuf(&endless), Err(ConfluentError::BadVarint { at: 5 }));
        // an index beyond u32 is rejected
        let mut big = vec![0, 0, 0, 0, 1, 0x02];
        write_zigzag(1 << 40, &mut big);
        assert!(matches!(decode_protobuf(&big), Err(ConfluentError::BadVarint { .. })));
        // error text names the fix
        assert!(ConfluentError::BadMagic { found: 0x7b }.to_string().contains("0x7b"));
    }

    proptest! {
        #[test]
        fn protobuf_prefix_round_trips(id in any::<u32>(), path in proptest::collection::vec(0u32..1_000_000, 1..MAX_INDEX_DEPTH), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = Vec::new();
            encode_protobuf_prefix(id, &path, &mut buf);
            let prefix_len = buf.len();
            buf.extend_from_slice(&payload);
            let f = decode_protobuf(&buf).unwrap();
            prop_assert_eq!(f.schema_id, id);
            prop_assert_eq!(f.indexes.as_slice(), &path[..]);
            prop_assert_eq!(f.payload, &payload[..]);
            if path == [0] {
                prop_assert_eq!(prefix_len, 6);
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_protobuf(&bytes);
            let _ = decode_header(&bytes);
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            let mut buf = Vec::new();
            write_zigzag(v, &mut buf);
            let mut pos = 0;
            prop_assert_eq!(read_zigzag(&buf, &mut pos).unwrap(), v);
            prop_assert_eq!(pos, buf.len());
        }
    }
}
