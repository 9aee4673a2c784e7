//! The records inside a record batch: decompression (gzip, snappy in snappy-java's framing or
//! raw, lz4 frames, zstd), bounded by [`MAX_DECOMPRESSED_BYTES`], and the record layout (zigzag
//! varints, length-prefixed keys, values and headers). Shared by the broker's log cleaner and
//! the job source's fetcher; no sockets, no clock.
//!
//! ```
//! use sluice_wire::batch::{build, validate};
//! use sluice_wire::records::{decompress, records};
//! let bytes = build(7, &[(Some(&b"k"[..]), Some(&b"v"[..]), 5)], (-1, -1, -1), 0);
//! let h = validate(&bytes).unwrap();
//! let data = decompress(&h, &bytes).unwrap();
//! let r: Vec<_> = records(&h, &data).collect::<Result<_, _>>().unwrap();
//! assert_eq!((r[0].offset, r[0].timestamp, r[0].value), (7, 5, Some(&b"v"[..])));
//! ```

use crate::batch::{self, BatchHeader, HEADER_LEN, attributes};
use std::borrow::Cow;
use std::io::{self, Read};

/// Largest decompressed size of one batch's records; a batch inflating beyond it is treated as
/// undecodable (kept as it is by the cleaner, refused on produce to a compacted topic, a
/// dead-letter reason for a consumer).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// Why a batch's records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The codec bits name no known codec.
    #[error("unknown compression codec {0}")]
    Codec(i16),
    /// Decompression failed.
    #[error("cannot decompress the {codec} records: {source}")]
    Decompress {
        /// Codec name.
        codec: &'static str,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// Decompressed data beyond [`MAX_DECOMPRESSED_BYTES`].
    #[error("the records decompress to more than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A record is malformed.
    #[error("record {index} of the batch is malformed: {why}")]
    Record {
        /// Position in the batch.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The record count of the header does not match the data.
    #[error("the batch header announces {announced} records, its data holds {found}")]
    Count {
        /// From the header.
        announced: i32,
        /// Parsed.
        found: usize,
    },
    /// Compressing a rewritten batch failed.
    #[error("cannot compress the rewritten records: {0}")]
    Compress(String),
    /// The batch itself is invalid.
    #[error(transparent)]
    Batch(#[from] batch::BatchError),
}

pub fn codec_name(codec: i16) -> &'static str {
    match codec {
        0 => "uncompressed",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

/// Reads all of `r` into `buf` from `at` on; more than `limit` bytes is an error. Returns the
/// length read. The bytes `buf` already holds are written over, not zeroed again (a buffer
/// reused from batch to batch costs no memset); a shorter `buf` is first sized for
/// `compressed` × 4 (records compress about 4:1), so that it is not grown from a few bytes up.
fn read_into(
    mut r: impl Read,
    codec: i16,
    limit: usize,
    compressed: usize,
    buf: &mut Vec<u8>,
    at: usize,
) -> Result<usize, RecordsError> {
    let guess = compressed.saturating_mul(4).min(limit + 1);
    if buf.len() < at + guess {
        buf.resize(at + guess, 0);
    }
    let mut filled = at;
    loop {
        if filled == buf.len() {
            if filled - at > limit {
                return Err(RecordsError::TooLarge { limit });
            }
            buf.resize(at + (filled - at).saturating_mul(2).clamp(64 << 10, limit + 1), 0);
        }
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(RecordsError::Decompress { codec: codec_name(codec), source }),
        }
    }
    Ok(filled - at)
}

/// Writes `src` at `buf[at..]`, over what is there and growing `buf` when it is shorter.
fn place(buf: &mut Vec<u8>, at: usize, src: &[u8]) {
    let end = at + src.len();
    if buf.len() >= end {
        buf[at..end].copy_from_slice(src);
    } else {
        buf.resize(at, 0);
        buf.extend_from_slice(src);
    }
}

/// The magic number that starts an lz4 frame, and the range of skippable frames' magic numbers.
const LZ4_MAGIC: u32 = 0x184D_2204;
const LZ4_SKIPPABLE: u32 = 0x184D_2A50;

fn lz4_error(why: &'static str) -> RecordsError {
    RecordsError::Decompress { codec: "lz4", source: io::Error::new(io::ErrorKind::InvalidData, why) }
}

fn le32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// lz4 frames of independent blocks, what Kafka's clients write (librdkafka, the Java client
/// and sluice: 64 KiB blocks, no checksums), decoded block by block straight into `buf` from
/// `at` on; returns the length written. `None` when a frame links its blocks or names a dictionary:
/// liblz4's streaming frame decoder reads those. Its per-batch context, its staging copy of
/// the input and its buffering of blocks that straddle a read were the cost this avoids.
/// Checksums in the frame are skipped, not verified: the batch's CRC-32C covers these bytes.
fn lz4_frames_at(data: &[u8], limit: usize, buf: &mut Vec<u8>, at: usize) -> Result<Option<usize>, RecordsError> {
    let truncated = || lz4_error("the frame ends early");
    let (mut pos, mut filled) = (0usize, at);
    while pos < data.len() {
        let magic = le32(data, pos).ok_or_else(truncated)?;
        if magic & 0xFFFF_FFF0 == LZ4_SKIPPABLE {
            let len = le32(data, pos + 4).ok_or_else(truncated)? as usize;
            pos = pos.saturating_add(8).saturating_add(len);
            continue;
        }
        if magic != LZ4_MAGIC {
            return Err(lz4_error("not an lz4 frame (wrong magic number)"));
        }
        let (&flg, &bd) = data.get(pos + 4).zip(data.get(pos + 5)).ok_or_else(truncated)?;
        if flg >> 6 != 1 {
            return Err(lz4_error("unsupported lz4 frame version"));
        }
        let (independent, block_checksums, content_size, content_checksum, dictionary) =
            (flg & 0x20 != 0, flg & 0x10 != 0, flg & 0x08 != 0, flg & 0x04 != 0, flg & 0x01 != 0);
        if !independent || dictionary {
            return Ok(None);
        }
        let block_max: usize = match (bd >> 4) & 7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            _ => return Err(lz4_error("invalid block size in the frame descriptor")),
        };
        // Magic, FLG, BD, the content size when present, the header checksum.
        pos += 4 + 2 + if content_size { 8 } else { 0 } + 1;
        loop {
            let word = le32(data, pos).ok_or_else(truncated)?;
            pos += 4;
            if word == 0 {
                break;
            }
            let len = (word & 0x7FFF_FFFF) as usize;
            let block = data.get(pos..pos.saturating_add(len)).ok_or_else(truncated)?;
            pos += len + if block_checksums { 4 } else { 0 };
            if len > block_max {
                return Err(lz4_error("a block is larger than the frame's block size"));
            }
            // Room for a whole block, grown (not shrunk) from batch to batch; a fresh buffer
            // starts at about 4:1 of the compressed size.
            let need = filled + block_max;
            if buf.len() < need {
                if filled - at > limit {
                    return Err(RecordsError::TooLarge { limit });
                }
                buf.resize(need.max(at + data.len().saturating_mul(4)).min(at + limit + block_max), 0);
            }
            let out = &mut buf[filled..need];
            filled += if word & 0x8000_0000 != 0 {
                // Stored as it is (did not compress).
                out[..len].copy_from_slice(block);
                len
            } else {
                lz4::block::decompress_to_buffer(block, Some(block_max as i32), out)
                    .map_err(|source| RecordsError::Decompress { codec: "lz4", source })?
            };
            if filled - at > limit {
                return Err(RecordsError::TooLarge { limit });
            }
        }
        if content_checksum {
            pos += 4;
            if pos > data.len() {
                return Err(truncated());
            }
        }
    }
    Ok(Some(filled - at))
}

/// xerial snappy-java framing, as Kafka writes snappy batches.
const SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const SNAPPY_HEADER_LEN: usize = 16;

fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
    let err = |e: snap::Error| RecordsError::Decompress { codec: "snappy", source: io::Error::other(e) };
    let mut out = Vec::new();
    let block = |compressed: &[u8], out: &mut Vec<u8>| -> Result<(), RecordsError> {
        let n = snap::raw::decompress_len(compressed).map_err(err)?;
        // `n` comes from the data: compare without adding to it.
        if n > limit - out.len() {
            return Err(RecordsError::TooLarge { limit });
        }
        let at = out.len();
        out.resize(at + n, 0);
        let written = snap::raw::Decoder::new().decompress(compressed, &mut out[at..]).map_err(err)?;
        out.truncate(at + written);
        Ok(())
    };
    if data.len() < SNAPPY_HEADER_LEN || &data[..SNAPPY_MAGIC.len()] != SNAPPY_MAGIC {
        // Raw snappy without framing, as snappy-java falls back to.
        block(data, &mut out)?;
        return Ok(out);
    }
    let mut pos = SNAPPY_HEADER_LEN;
    while pos < data.len() {
        let len_bytes = data.get(pos..pos + 4).ok_or(RecordsError::Decompress {
            codec: "snappy",
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "truncated block length"),
        })?;
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        pos += 4;
        let compressed = data.get(pos..pos.saturating_add(len)).ok_or(RecordsError::Decompress {
            codec: "snappy",
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "truncated block"),
        })?;
        block(compressed, &mut out)?;
        pos += len;
    }
    Ok(out)
}

/// The uncompressed records section of a validated batch (`bytes` starts at the batch).
pub fn decompress<'b>(h: &BatchHeader, bytes: &'b [u8]) -> Result<Cow<'b, [u8]>, RecordsError> {
    if h.compression() == 0 {
        return Ok(Cow::Borrowed(section(h, bytes)?));
    }
    let mut out = Vec::new();
    let range = decompress_at(h, bytes, &mut out, 0)?;
    out.truncate(range.end);
    Ok(Cow::Owned(out))
}

/// The records section of a validated batch written into `buf` at `at` (decompressed, or
/// copied when uncompressed): its range in `buf` is returned. `buf[..at]` stays as it is; bytes
/// after the range are room that a later call writes over (never zeroed again), so a buffer
/// that collects the records of many batches is written once per byte.
pub fn decompress_at(
    h: &BatchHeader,
    bytes: &[u8],
    buf: &mut Vec<u8>,
    at: usize,
) -> Result<std::ops::Range<usize>, RecordsError> {
    let data = section(h, bytes)?;
    let limit = MAX_DECOMPRESSED_BYTES;
    if buf.len() < at {
        buf.resize(at, 0);
    }
    let codec = h.compression();
    let n = match codec {
        0 => {
            place(buf, at, data);
            data.len()
        }
        1 => read_into(flate2::read::MultiGzDecoder::new(data), codec, limit, data.len(), buf, at)?,
        2 => {
            let out = snappy_decompress(data, limit)?;
            place(buf, at, &out);
            out.len()
        }
        3 => match lz4_frames_at(data, limit, buf, at)? {
            Some(n) => n,
            None => {
                let d = lz4::Decoder::new(data).map_err(|source| RecordsError::Decompress { codec: "lz4", source })?;
                read_into(d, codec, limit, data.len(), buf, at)?
            }
        },
        4 => {
            let d = zstd::stream::read::Decoder::new(data)
                .map_err(|source| RecordsError::Decompress { codec: "zstd", source })?;
            read_into(d, codec, limit, data.len(), buf, at)?
        }
        other => return Err(RecordsError::Codec(other)),
    };
    Ok(at..at + n)
}

/// The records section of a batch, as stored (compressed or not).
fn section<'b>(h: &BatchHeader, bytes: &'b [u8]) -> Result<&'b [u8], RecordsError> {
    Ok(bytes
        .get(HEADER_LEN..h.total_len())
        .ok_or(batch::BatchError::Truncated { needed: h.total_len().max(HEADER_LEN), have: bytes.len() })?)
}

/// A cursor over a record's bytes: Kafka's zigzag varints and length-prefixed byte strings.
/// Every read checks the bounds; `None` when the data ends early or a value is malformed.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// A zigzag varlong.
    #[inline]
    pub fn varlong(&mut self) -> Option<i64> {
        // Most varints of a record are one byte (lengths and deltas up to 63, the header
        // count) or two (up to 8191: a value's length, an offset delta in a large batch).
        if let Some(&byte) = self.b.get(self.pos) {
            if byte & 0x80 == 0 {
                self.pos += 1;
                return Some(i64::from(byte >> 1) ^ -i64::from(byte & 1));
            }
            if let Some(&second) = self.b.get(self.pos + 1)
                && second & 0x80 == 0
            {
                self.pos += 2;
                let v = u64::from(byte & 0x7f) | u64::from(second) << 7;
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        None
    }

    /// A zigzag varint.
    #[inline]
    pub fn varint(&mut self) -> Option<i32> {
        self.varlong().and_then(|v| i32::try_from(v).ok())
    }

    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// A length-prefixed byte string; `Some(None)` for null (-1).
    #[inline]
    pub fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        match self.varint()? {
            -1 => Some(None),
            n if n >= 0 => self.take(n as usize).map(Some),
            _ => None,
        }
    }
}

/// One record as a consumer sees it, borrowed from a batch's uncompressed records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Absolute offset.
    pub offset: i64,
    /// Timestamp (ms): the batch's max timestamp under LogAppendTime, else base + delta.
    pub timestamp: i64,
    /// The key; `None` for null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
}

/// The records of one batch (`data`: its uncompressed records section, from [`decompress`]),
/// in order, each checked against the header (offset within the batch, fields within the
/// record's length); after the last, the count must be the announced one. The first error
/// ends the walk.
pub fn records<'h, 'a>(h: &'h BatchHeader, data: &'a [u8]) -> Records<'h, 'a> {
    Records { h, r: Reader::new(data), index: 0, done: false }
}

/// The iterator of [`records`].
#[derive(Debug, Clone)]
pub struct Records<'h, 'a> {
    h: &'h BatchHeader,
    r: Reader<'a>,
    index: usize,
    done: bool,
}

impl<'a> Records<'_, 'a> {
    #[inline]
    fn next_record(&mut self) -> Result<Record<'a>, RecordsError> {
        let h = self.h;
        let index = self.index;
        let bad = |why| RecordsError::Record { index, why };
        let len = self.r.varint().filter(|&l| l >= 0).ok_or_else(|| bad("bad length"))?;
        let body = self.r.take(len as usize).ok_or_else(|| bad("runs past the end of the batch"))?;
        let mut b = Reader::new(body);
        b.take(1).ok_or_else(|| bad("truncated"))?;
        let timestamp_delta = b.varlong().ok_or_else(|| bad("bad timestamp delta"))?;
        let offset_delta = b.varint().ok_or_else(|| bad("bad offset delta"))?;
        let offset = h.base_offset.checked_add(i64::from(offset_delta)).ok_or_else(|| bad("bad offset delta"))?;
        if offset_delta < 0 || offset > h.last_offset() {
            return Err(bad("offset outside the batch"));
        }
        let key = b.bytes().ok_or_else(|| bad("bad key"))?;
        let value = b.bytes().ok_or_else(|| bad("bad value"))?;
        let headers = b.varint().filter(|&n| n >= 0).ok_or_else(|| bad("bad header count"))?;
        for _ in 0..headers {
            b.bytes().flatten().ok_or_else(|| bad("bad header key"))?;
            b.bytes().ok_or_else(|| bad("bad header value"))?;
        }
        if b.position() != body.len() {
            return Err(bad("length does not match its fields"));
        }
        let timestamp = if h.attributes & attributes::LOG_APPEND_TIME != 0 {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(timestamp_delta)
        };
        Ok(Record { offset, timestamp, key, value })
    }
}

impl<'a> Iterator for Records<'_, 'a> {
    type Item = Result<Record<'a>, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.r.position() >= self.r.b.len() {
            self.done = true;
            let announced = self.h.records_count;
            return (announced < 0 || announced as usize != self.index)
                .then_some(Err(RecordsError::Count { announced, found: self.index }));
        }
        let r = self.next_record();
        self.index += 1;
        self.done = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{SimpleRecord, build, validate};

    fn batch(records: &[SimpleRecord<'_>], attrs: i16) -> Vec<u8> {
        build(100, records, (-1, -1, -1), attrs)
    }

    #[test]
    fn reads_keys_values_offsets_and_timestamps() {
        let recs =
            [(Some(&b"a"[..]), Some(&b"one"[..]), 1_000), (None, None, 990), (Some(&b""[..]), Some(&b""[..]), 1_500)];
        let bytes = batch(&recs, 0);
        let h = validate(&bytes).unwrap();
        let data = decompress(&h, &bytes).unwrap();
        let got: Vec<Record<'_>> = records(&h, &data).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].offset, got[0].timestamp, got[0].key, got[0].value),
            (100, 1_000, Some(&b"a"[..]), Some(&b"one"[..]))
        );
        assert_eq!((got[1].offset, got[1].timestamp, got[1].key, got[1].value), (101, 990, None, None));
        assert_eq!(
            (got[2].offset, got[2].timestamp, got[2].key, got[2].value),
            (102, 1_500, Some(&b""[..]), Some(&b""[..]))
        );
    }

    #[test]
    fn log_append_time_gives_every_record_the_batch_time() {
        let recs = [(None, Some(&b"x"[..]), 5)];
        let mut bytes = batch(&recs, 0);
        batch::set_log_append_time(&mut bytes, 77).unwrap();
        let h = validate(&bytes).unwrap();
        let data = decompress(&h, &bytes).unwrap();
        let got: Vec<Record<'_>> = records(&h, &data).collect::<Result<_, _>>().unwrap();
        assert_eq!(got[0].timestamp, 77);
    }

    #[test]
    fn a_count_other_than_announced_is_an_error() {
        let recs = [(None, Some(&b"x"[..]), 5)];
        let bytes = batch(&recs, 0);
        let mut h = validate(&bytes).unwrap();
        let data = decompress(&h, &bytes).unwrap().into_owned();
        h.records_count = 2;
        let got: Vec<_> = records(&h, &data).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert!(matches!(got[1], Err(RecordsError::Count { announced: 2, found: 1 })), "{:?}", got[1]);
    }

    /// `bytes` (an uncompressed batch) with its records section compressed by `codec`.
    fn compressed(bytes: &[u8], codec: i16) -> Vec<u8> {
        use std::io::Write;
        let raw = &bytes[HEADER_LEN..];
        let body = match codec {
            1 => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(raw).unwrap();
                e.finish().unwrap()
            }
            // Independent blocks, as Kafka's clients write them.
            3 => lz4_frame(raw, lz4::BlockMode::Independent, lz4::BlockSize::Max64KB, false, false),
            4 => zstd::encode_all(raw, 1).unwrap(),
            _ => unreachable!(),
        };
        let mut out = bytes[..HEADER_LEN].to_vec();
        out.extend_from_slice(&body);
        let attrs = i16::from_be_bytes([out[21], out[22]]) | codec;
        out[21..23].copy_from_slice(&attrs.to_be_bytes());
        batch::seal(&mut out);
        out
    }

    #[test]
    fn a_reused_buffer_gives_each_batch_its_own_records() {
        let big: Vec<Vec<u8>> = (0..3000u32).map(|i| format!("value {i} {}", "x".repeat(40)).into_bytes()).collect();
        let big: Vec<SimpleRecord<'_>> = big.iter().map(|v| (None, Some(&v[..]), 7)).collect();
        let small = [(None, Some(&b"tiny"[..]), 9)];
        let mut buf = Vec::new();
        // Large then small (the buffer holds the large one's bytes past the small one's end),
        // growing past the first guess, every codec; and the uncompressed batch borrowed as is.
        for codec in [3, 1, 4] {
            for recs in [&big[..], &small[..], &big[..]] {
                let plain = batch(recs, 0);
                let bytes = compressed(&plain, codec);
                let h = validate(&bytes).unwrap();
                let range = decompress_at(&h, &bytes, &mut buf, 0).unwrap();
                let data = &buf[range];
                assert_eq!(data, &plain[HEADER_LEN..], "codec {codec}");
                let got: Vec<_> = records(&h, data).map(|r| r.unwrap().value.unwrap().to_vec()).collect();
                let want: Vec<_> = recs.iter().map(|r| r.1.unwrap().to_vec()).collect();
                assert_eq!(got, want);
                assert_eq!(decompress(&h, &bytes).unwrap().as_ref(), &plain[HEADER_LEN..]);
            }
        }
        let plain = batch(&small, 0);
        let h = validate(&plain).unwrap();
        let data = decompress(&h, &plain).unwrap();
        assert_eq!(data.as_ptr(), plain[HEADER_LEN..].as_ptr());
    }

    #[test]
    fn sections_written_one_after_another_keep_the_earlier_ones() {
        let big: Vec<Vec<u8>> = (0..2000u32).map(|i| format!("v{i} {}", "y".repeat(30)).into_bytes()).collect();
        let big: Vec<SimpleRecord<'_>> = big.iter().map(|v| (None, Some(&v[..]), 7)).collect();
        let small = [(None, Some(&b"tiny"[..]), 9)];
        // A buffer longer than what it holds (room left by an earlier, larger use): each
        // section goes right after the last, over the stale bytes, or past the end.
        let mut buf = vec![0xAA; 100];
        let mut at = 3;
        let mut placed = Vec::new();
        for (codec, recs) in [(0, &small[..]), (3, &big[..]), (1, &small[..]), (0, &big[..]), (4, &big[..])] {
            let plain = batch(recs, 0);
            let bytes = if codec == 0 { plain.clone() } else { compressed(&plain, codec) };
            let h = validate(&bytes).unwrap();
            let range = decompress_at(&h, &bytes, &mut buf, at).unwrap();
            assert_eq!(range.start, at);
            assert_eq!(&buf[range.clone()], &plain[HEADER_LEN..], "codec {codec}");
            at = range.end;
            placed.push((range, plain));
        }
        assert_eq!(&buf[..3], &[0xAA; 3], "the bytes before the first section are left alone");
        for (range, plain) in &placed {
            assert_eq!(&buf[range.clone()], &plain[HEADER_LEN..], "a later section wrote over an earlier one");
        }
    }

    #[test]
    fn varints_of_one_byte_and_more_read_back() {
        let encode = |v: i64| {
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            let mut out = Vec::new();
            loop {
                let byte = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    out.push(byte);
                    return out;
                }
                out.push(byte | 0x80);
            }
        };
        let mut values = vec![0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, i64::from(i32::MAX), i64::from(i32::MIN)];
        values.extend([i64::MAX, i64::MIN, i64::from(i32::MAX) + 1]);
        values.extend((-300..300).map(|v| v * 7));
        for v in values {
            let mut bytes = encode(v);
            let len = bytes.len();
            bytes.push(0x55);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.varlong(), Some(v), "{v}");
            assert_eq!(r.position(), len, "{v}");
            let mut r = Reader::new(&bytes);
            assert_eq!(r.varint(), i32::try_from(v).ok(), "{v}");
        }
        // A two-byte zero (not the shortest form, as the general loop also reads it).
        let mut r = Reader::new(&[0x80, 0x00, 0x55]);
        assert_eq!((r.varlong(), r.position()), (Some(0), 2));
        // Eleven continuation bytes, and a varint cut short: errors.
        assert_eq!(Reader::new(&[0xff; 11]).varlong(), None);
        assert_eq!(Reader::new(&[0x80]).varlong(), None);
        assert_eq!(Reader::new(&[]).varlong(), None);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let recs = [(Some(&b"key"[..]), Some(&b"value"[..]), 1), (Some(&b"k2"[..]), Some(&b"v2"[..]), 2)];
        let bytes = batch(&recs, 0);
        let h = validate(&bytes).unwrap();
        let data = decompress(&h, &bytes).unwrap().into_owned();
        for cut in 0..data.len() {
            let got: Vec<_> = records(&h, &data[..cut]).collect();
            assert!(got.last().is_some_and(Result::is_err), "cut at {cut}: {got:?}");
        }
        // Every byte flipped: an error or records, never a panic.
        for i in 0..data.len() {
            for bit in 0..8 {
                let mut d = data.clone();
                d[i] ^= 1 << bit;
                let _ = records(&h, &d).count();
            }
        }
    }

    /// `raw` as an lz4 frame written by liblz4 with these settings.
    fn lz4_frame(
        raw: &[u8],
        mode: lz4::BlockMode,
        size: lz4::BlockSize,
        checksums: bool,
        content_size: bool,
    ) -> Vec<u8> {
        use std::io::Write;
        let mut b = lz4::EncoderBuilder::new();
        b.block_mode(mode).block_size(size);
        if checksums {
            b.checksum(lz4::ContentChecksum::ChecksumEnabled)
                .block_checksum(lz4::liblz4::BlockChecksum::BlockChecksumEnabled);
        } else {
            b.checksum(lz4::ContentChecksum::NoChecksum);
        }
        if content_size {
            b.content_size(raw.len() as u64);
        }
        let mut e = b.build(Vec::new()).unwrap();
        e.write_all(raw).unwrap();
        let (out, r) = e.finish();
        r.unwrap();
        out
    }

    /// Compressible text with runs of incompressible bytes, so that frames hold both compressed
    /// and stored blocks.
    fn mixed(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|i| {
                if (i / 70_000) % 2 == 1 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                } else {
                    let text = b"user-events {\"action\":\"click\"} ";
                    text[i % text.len()]
                }
            })
            .collect()
    }

    #[test]
    fn lz4_frames_decode_block_by_block_in_every_layout_liblz4_writes() {
        use lz4::{BlockMode, BlockSize};
        let mut buf = Vec::new();
        for len in [0, 1, 100, 65_536, 65_537, 200_000, 1_100_000] {
            let raw = mixed(len);
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max1MB, BlockSize::Max4MB] {
                for (checksums, content_size) in [(false, false), (true, false), (false, true), (true, true)] {
                    let frame = lz4_frame(&raw, BlockMode::Independent, size.clone(), checksums, content_size);
                    // A buffer reused from a larger batch is written over from its start.
                    let n = lz4_frames_at(&frame, MAX_DECOMPRESSED_BYTES, &mut buf, 0)
                        .unwrap()
                        .expect("independent blocks are decoded here");
                    assert!(buf[..n] == raw[..], "{len} bytes, {size:?}, checksums {checksums}, size {content_size}");
                }
            }
            // Linked blocks go to liblz4's frame decoder, with the same result.
            let frame = lz4_frame(&raw, BlockMode::Linked, BlockSize::Max64KB, false, false);
            assert!(lz4_frames_at(&frame, MAX_DECOMPRESSED_BYTES, &mut buf, 0).unwrap().is_none());
            let d = lz4::Decoder::new(&frame[..]).unwrap();
            let n = read_into(d, 3, MAX_DECOMPRESSED_BYTES, frame.len(), &mut buf, 0).unwrap();
            assert!(buf[..n] == raw[..], "{len} bytes, linked");
        }
        // Two frames one after the other, with a skippable frame between them, read as one.
        let (a, b) = (mixed(70_000), mixed(5_000));
        let mut two = lz4_frame(&a, BlockMode::Independent, BlockSize::Max64KB, false, false);
        two.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        two.extend_from_slice(&3u32.to_le_bytes());
        two.extend_from_slice(b"abc");
        two.extend_from_slice(&lz4_frame(&b, BlockMode::Independent, BlockSize::Max64KB, true, false));
        let n = lz4_frames_at(&two, MAX_DECOMPRESSED_BYTES, &mut buf, 0).unwrap().unwrap();
        assert!(buf[..n] == [a, b].concat()[..]);
    }

    #[test]
    fn a_broken_lz4_frame_is_an_error_naming_the_codec_never_a_panic() {
        let raw = mixed(150_000);
        let frame = lz4_frame(&raw, lz4::BlockMode::Independent, lz4::BlockSize::Max64KB, true, false);
        let mut buf = Vec::new();
        for cut in (0..frame.len()).step_by(97).chain([4, 5, 6, 7, 10, frame.len() - 1]) {
            let e = lz4_frames_at(&frame[..cut.max(1)], MAX_DECOMPRESSED_BYTES, &mut buf, 0).unwrap_err();
            assert!(e.to_string().starts_with("cannot decompress the lz4 records:"), "cut at {cut}: {e}");
        }
        // Every byte of the header and the first block's start changed: an error or some bytes.
        for i in 0..64 {
            for bit in 0..8 {
                let mut f = frame.clone();
                f[i] ^= 1 << bit;
                let _ = lz4_frames_at(&f, MAX_DECOMPRESSED_BYTES, &mut buf, 0);
            }
        }
        let mut wrong = frame.clone();
        wrong[0] ^= 1;
        let e = lz4_frames_at(&wrong, MAX_DECOMPRESSED_BYTES, &mut buf, 0).unwrap_err();
        assert!(e.to_string().contains("wrong magic number"), "{e}");
        // The limit holds block by block.
        let e = lz4_frames_at(&frame, 100_000, &mut buf, 0).unwrap_err();
        assert!(matches!(e, RecordsError::TooLarge { limit: 100_000 }), "{e}");
    }
}
