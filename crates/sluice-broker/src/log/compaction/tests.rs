//! Compaction of both engines, driven with explicit times (no clock, no sleeps).

use super::*;
use crate::log::file::FileLog;
use crate::log::memory::MemoryLog;
use crate::log::{FlushPolicy, LogConfig};
use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;
use std::path::Path;
use std::sync::mpsc;

const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

/// `(key, value)` of a record; `None` value = tombstone.
type Kv<'a> = (Option<&'a str>, Option<&'a str>);

/// A batch of `records` with timestamps `ts, ts+1, ...`, compressed with `codec`, from
/// `producer` = (id, epoch, base sequence) and with `attrs` (transactional / control bits).
fn batch_with(records: &[Kv<'_>], ts: i64, codec: Compression, producer: (i64, i16, i32), attrs: i16) -> Vec<u8> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let mut headers = IndexMap::new();
            headers.insert(StrBytes::from_static_str("h"), Some(Bytes::from(format!("header-{i}"))));
            Record {
                transactional: attrs & attributes::TRANSACTIONAL != 0,
                control: attrs & attributes::CONTROL != 0,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: producer.0,
                producer_epoch: producer.1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder keeps records in one batch while offset - sequence is constant.
                sequence: producer.2.wrapping_add(i as i32),
                timestamp: ts + i as i64,
                key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                headers,
            }
        })
        .collect();
    let mut out = bytes::BytesMut::new();
    RecordBatchEncoder::encode(&mut out, &recs, &RecordEncodeOptions { version: 2, compression: codec }).unwrap();
    let b = out.to_vec();
    assert_eq!(batch::validate(&b).unwrap().total_len(), b.len(), "one batch");
    b
}

fn kbatch(records: &[Kv<'_>], ts: i64) -> Vec<u8> {
    batch_with(records, ts, Compression::None, (-1, -1, -1), 0)
}

/// Each batch in its own segment: any second batch passes this size.
fn tiny_segments() -> LogConfig {
    LogConfig { segment_bytes: 64, segment_ms: i64::MAX, index_interval_bytes: 0, flush: FlushPolicy::Os }
}

fn eager() -> CleanConfig {
    CleanConfig { min_cleanable_dirty_ratio: 0.0, ..CleanConfig::default() }
}

enum Engine {
    Memory,
    File,
}

fn open(engine: &Engine, dir: &Path, config: LogConfig) -> PartitionLog {
    match engine {
        Engine::Memory => PartitionLog::Memory(MemoryLog::with_config(config)),
        Engine::File => PartitionLog::File(FileLog::open(dir, config).unwrap()),
    }
}

fn engines() -> [Engine; 2] {
    [Engine::Memory, Engine::File]
}

/// A visible record: offset, key, value.
type Visible = (i64, Option<String>, Option<String>);

fn decode_all(bytes: &Bytes) -> Vec<Visible> {
    let mut buf = bytes.clone();
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
        for r in set.records {
            let s = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.offset, s(r.key), s(r.value)));
        }
    }
    out
}

fn visible(log: &PartitionLog) -> Vec<Visible> {
    let all = log.read(log.log_start_offset(), usize::MAX).unwrap().bytes;
    decode_all(&all).into_iter().filter(|r| r.0 >= log.log_start_offset()).collect()
}

fn headers_of(log: &PartitionLog) -> Vec<BatchHeader> {
    let mut v = Vec::new();
    log.for_each_header(&mut |h| v.push(*h)).unwrap();
    v
}

fn clean(log: &mut PartitionLog, config: &CleanConfig, now: i64) -> CleanOutcome {
    let m = Mutex::new(std::mem::replace(log, PartitionLog::Memory(MemoryLog::new())));
    let out = clean_partition(&m, |l| l, config, now).unwrap();
    *log = m.into_inner().unwrap();
    out
}

fn cleaned(log: &mut PartitionLog, config: &CleanConfig, now: i64) -> CleanStats {
    match clean(log, config, now) {
        CleanOutcome::Cleaned(s) => s,
        other => panic!("expected a cleaning round, got {other:?}"),
    }
}

fn rec(offset: i64, k: &str, v: Option<&str>) -> Visible {
    (offset, Some(k.to_string()), v.map(str::to_string))
}

#[test]
fn keeps_the_latest_value_per_key_with_offsets_unchanged() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&engine, dir.path(), tiny_segments());
        // Offsets: a=0 b=1 | a=2 | c=3 b=4 | a=5 (active)
        log.append(&mut kbatch(&[(Some("a"), Some("a1")), (Some("b"), Some("b1"))], 100)).unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("a2"))], 200)).unwrap();
        log.append(&mut kbatch(&[(Some("c"), Some("c1")), (Some("b"), Some("b2"))], 300)).unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("a3"))], 400)).unwrap();
        let size_before = log.size_bytes();
        let stats = cleaned(&mut log, &eager(), 1_000);
        // The active segment (a3) is never cleaned: a2 stays, superseded only by it.
        assert_eq!(
            visible(&log),
            [rec(2, "a", Some("a2")), rec(3, "c", Some("c1")), rec(4, "b", Some("b2")), rec(5, "a", Some("a3"))]
        );
        assert_eq!(stats.records_removed, 2);
        assert_eq!(stats.clean_offset, 5);
        assert_eq!(log.clean_offset(), 5);
        assert_eq!(stats.batches_removed, 1, "the first batch lost both records");
        assert_eq!(stats.batches_rewritten, 0);
        assert_eq!(stats.bytes_before - stats.bytes_after, size_before - log.size_bytes());
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 6));
        // A read at a removed offset returns the next batch; inside a batch the whole batch.
        let first = batch::validate(&log.read(0, 1).unwrap().bytes).unwrap();
        assert_eq!(first.base_offset, 2);
        assert_eq!(batch::validate(&log.read(4, 1).unwrap().bytes).unwrap().base_offset, 3);
        // Nothing dirty any more: no round.
        assert_eq!(clean(&mut log, &eager(), 2_000), CleanOutcome::Idle);
        // Appends go on at the same end; the next round removes a2 once a3's segment closes
        // (c2 is in the active segment: c1 stays for now).
        log.append(&mut kbatch(&[(Some("c"), Some("c2"))], 500)).unwrap();
        let stats = cleaned(&mut log, &eager(), 3_000);
        assert_eq!(stats.records_removed, 1, "a2");
        assert_eq!(
            visible(&log),
            [rec(3, "c", Some("c1")), rec(4, "b", Some("b2")), rec(5, "a", Some("a3")), rec(6, "c", Some("c2"))]
        );
        log.append(&mut kbatch(&[(Some("d"), Some("d1"))], 600)).unwrap();
        let stats = cleaned(&mut log, &eager(), 4_000);
        assert_eq!(stats.records_removed, 1, "c1");
        assert_eq!(stats.batches_rewritten, 1);
        assert_eq!(
            visible(&log),
            [rec(4, "b", Some("b2")), rec(5, "a", Some("a3")), rec(6, "c", Some("c2")), rec(7, "d", Some("d1"))]
        );
        // The batch holding b2 lost c1 before it: rewritten, its base offset kept.
        let h = headers_of(&log);
        assert_eq!(h[0].base_offset, 3);
        assert_eq!(h[0].last_offset(), 4);
        assert_eq!(h[0].records_count, 1);
    }
}

#[test]
fn dirty_ratio_and_compaction_lags_decide_when() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&engine, dir.path(), tiny_segments());
        for (i, k) in ["a", "b", "a", "b", "x"].iter().enumerate() {
            log.append(&mut kbatch(&[(Some(k), Some("v"))], 1_000 * (i as i64 + 1))).unwrap();
        }
        // All four closed segments are dirty: ratio 1.0 is not above 1.0.
        let never = CleanConfig { min_cleanable_dirty_ratio: 1.0, ..CleanConfig::default() };
        assert_eq!(clean(&mut log, &never, 10_000), CleanOutcome::Idle);
        // max.compaction.lag.ms forces it once the first dirty batch is old enough.
        let lag = CleanConfig { max_compaction_lag_ms: 9_500, ..never.clone() };
        assert_eq!(clean(&mut log, &lag, 10_000), CleanOutcome::Idle);
        // min.compaction.lag.ms holds back segments newer than it: only the first two are old
        // enough at 12_500 with a lag of 10_000.
        let min_lag = CleanConfig { min_compaction_lag_ms: 10_000, ..eager() };
        let stats = cleaned(&mut log, &min_lag, 12_500);
        assert_eq!((stats.segments_before, stats.records_removed, stats.clean_offset), (2, 0, 2));
        assert_eq!(visible(&log).len(), 5);
        // Now 2 of 4 closed segments are dirty: 0.5 is not above 0.5.
        assert_eq!(clean(&mut log, &CleanConfig::default(), 100_000), CleanOutcome::Idle);
        let stats =
            cleaned(&mut log, &CleanConfig { min_cleanable_dirty_ratio: 0.49, ..CleanConfig::default() }, 100_000);
        assert_eq!(stats.records_removed, 2);
        assert_eq!(visible(&log), [rec(2, "a", Some("v")), rec(3, "b", Some("v")), rec(4, "x", Some("v"))]);
        let lag_stats = {
            log.append(&mut kbatch(&[(Some("y"), Some("v"))], 6_000)).unwrap();
            clean(&mut log, &lag, 16_000)
        };
        assert!(matches!(lag_stats, CleanOutcome::Cleaned(_)), "{lag_stats:?}");
    }
}

#[test]
fn tombstones_are_removed_after_delete_retention() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&engine, dir.path(), tiny_segments());
        log.append(&mut kbatch(&[(Some("a"), Some("a1")), (Some("b"), Some("b1"))], 100)).unwrap();
        log.append(&mut kbatch(&[(Some("a"), None), (Some("c"), Some("c1"))], 200)).unwrap();
        log.append(&mut kbatch(&[(Some("z"), Some("active"))], 300)).unwrap();
        let config = CleanConfig { delete_retention_ms: 5_000, ..eager() };
        let stats = cleaned(&mut log, &config, 10_000);
        assert_eq!(stats.records_removed, 1, "a1");
        assert_eq!(stats.tombstones_removed, 0);
        assert_eq!(stats.batches_rewritten, 2, "a1 left the first; the horizon was stamped in the second");
        assert_eq!(
            visible(&log),
            [rec(1, "b", Some("b1")), rec(2, "a", None), rec(3, "c", Some("c1")), rec(4, "z", Some("active"))]
        );
        let h = headers_of(&log);
        assert_eq!(h[1].attributes & DELETE_HORIZON, DELETE_HORIZON);
        assert_eq!(h[1].base_timestamp, 15_000, "the horizon: now + delete.retention.ms");
        assert_eq!(h[1].max_timestamp, 201, "record timestamps are unchanged");
        let mut buf = log.read(2, 1).unwrap().bytes;
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        assert_eq!(set.records.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [200, 201]);
        // Before the horizon nothing is due; at the horizon the tombstone goes.
        assert_eq!(clean(&mut log, &config, 14_999), CleanOutcome::Idle);
        let stats = cleaned(&mut log, &config, 15_000);
        assert_eq!((stats.records_removed, stats.tombstones_removed), (1, 1));
        assert_eq!(visible(&log), [rec(1, "b", Some("b1")), rec(3, "c", Some("c1")), rec(4, "z", Some("active"))]);
        assert_eq!(clean(&mut log, &config, 1_000_000), CleanOutcome::Idle, "no tombstone left");
    }
}

#[test]
fn compressed_batches_keep_their_codec_headers_and_timestamps() {
    for engine in engines() {
        for codec in CODECS {
            let dir = tempfile::tempdir().unwrap();
            let mut log = open(&engine, dir.path(), tiny_segments());
            let first = batch_with(
                &[(Some("k1"), Some("old")), (Some("k2"), Some("keep")), (Some("k1"), Some("new")), (Some("k3"), None)],
                1_000,
                codec,
                (-1, -1, -1),
                0,
            );
            log.append(&mut first.clone()).unwrap();
            log.append(&mut kbatch(&[(Some("k9"), Some("active"))], 2_000)).unwrap();
            let stats = cleaned(&mut log, &eager(), 5_000);
            assert_eq!(
                (stats.records_removed, stats.batches_rewritten, stats.undecodable_batches),
                (1, 1, 0),
                "{codec:?}"
            );
            let bytes = log.read(0, 1).unwrap().bytes;
            let h = batch::validate(&bytes).unwrap();
            assert_eq!(h.compression(), codec as i16, "{codec:?}");
            assert_eq!((h.base_offset, h.last_offset_delta, h.records_count), (0, 3, 3));
            let mut buf = bytes.clone();
            let set = RecordBatchDecoder::decode(&mut buf).unwrap();
            assert_eq!(set.compression, codec);
            let got: Vec<(i64, i64, String)> = set
                .records
                .iter()
                .map(|r| {
                    let header = String::from_utf8(r.headers[&b"h"[..]].clone().unwrap().to_vec()).unwrap();
                    (r.offset, r.timestamp, header)
                })
                .collect();
            assert_eq!(
                got,
                [(1, 1_001, "header-1".into()), (2, 1_002, "header-2".into()), (3, 1_003, "header-3".into())],
                "{codec:?}"
            );
            // The horizon was stamped (the batch keeps a tombstone): the records' timestamp deltas
            // were re-encoded, everything after them is as produced.
            assert_eq!(h.attributes, batch::validate(&first).unwrap().attributes | DELETE_HORIZON);
            let orig_h = batch::validate(&first).unwrap();
            let orig = decompress(&orig_h, &first).unwrap();
            let orig_records = parse_records(&orig_h, &orig).unwrap();
            let now = decompress(&h, &bytes).unwrap();
            let now_records = parse_records(&h, &now).unwrap();
            assert_eq!(now_records.len(), 3);
            for (a, b) in orig_records[1..3].iter().zip(&now_records) {
                assert_eq!(a.attributes, b.attributes);
                assert_eq!(a.after_timestamp, b.after_timestamp, "{codec:?}: key, value and headers kept as they are");
            }
        }
    }
}

#[test]
fn batches_without_tombstones_keep_record_bytes_exactly() {
    for codec in CODECS {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&Engine::File, dir.path(), tiny_segments());
        let first = batch_with(
            &[(Some("x"), Some("1")), (Some("y"), Some("2")), (Some("x"), Some("3"))],
            7,
            codec,
            (-1, -1, -1),
            0,
        );
        log.append(&mut first.clone()).unwrap();
        log.append(&mut kbatch(&[(Some("z"), Some("active"))], 9)).unwrap();
        cleaned(&mut log, &eager(), 100);
        let bytes = log.read(0, 1).unwrap().bytes;
        let h = batch::validate(&bytes).unwrap();
        assert_eq!(h.attributes, batch::validate(&first).unwrap().attributes, "{codec:?}: no horizon, same attributes");
        let orig_h = batch::validate(&first).unwrap();
        let orig = decompress(&orig_h, &first).unwrap();
        let orig = parse_records(&orig_h, &orig).unwrap();
        let now = decompress(&h, &bytes).unwrap();
        let now = parse_records(&h, &now).unwrap();
        let kept: Vec<&[u8]> = now.iter().map(|r| r.bytes).collect();
        assert_eq!(kept, [orig[1].bytes, orig[2].bytes], "{codec:?}");
        assert_eq!((h.base_timestamp, h.max_timestamp), (7, 9));
    }
}

#[test]
fn undecodable_batches_are_kept_untouched() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&engine, dir.path(), tiny_segments());
        // gzip bits over bytes that are not gzip; the CRC is right, so the log accepts it.
        let mut bad = kbatch(&[(Some("a"), Some("garbage"))], 1);
        let attrs = (1i16).to_be_bytes();
        bad[21..23].copy_from_slice(&attrs);
        batch::seal(&mut bad);
        log.append(&mut bad.clone()).unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("new"))], 2)).unwrap();
        log.append(&mut kbatch(&[(Some("z"), Some("active"))], 3)).unwrap();
        let stats = cleaned(&mut log, &eager(), 100);
        assert_eq!(stats.undecodable_batches, 1);
        assert_eq!(stats.records_removed, 0, "the bad batch's key is unknown: nothing it holds is removed");
        let all = log.read(0, usize::MAX).unwrap().bytes;
        assert_eq!(&all[..bad.len()], &bad[..], "kept byte for byte");
    }
}

#[test]
fn transactional_and_control_batches_are_kept_as_they_are() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&engine, dir.path(), tiny_segments());
        let mut txn = batch_with(
            &[(Some("a"), Some("t1")), (Some("a"), Some("t2"))],
            1,
            Compression::None,
            (7, 0, 0),
            attributes::TRANSACTIONAL,
        );
        let mut marker = batch::build(
            0,
            &[(Some(&[0, 0, 0, 0][..]), Some(&[0, 0, 0, 0, 0, 0][..]), 2)],
            (7, 0, -1),
            attributes::TRANSACTIONAL | attributes::CONTROL,
        );
        log.append(&mut txn).unwrap();
        log.append(&mut marker).unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("plain"))], 3)).unwrap();
        log.append(&mut kbatch(&[(Some("z"), Some("active"))], 4)).unwrap();
        let stats = cleaned(&mut log, &eager(), 100);
        assert_eq!(stats.records_removed, 0, "transactional records neither go nor supersede");
        let all = log.read(0, usize::MAX).unwrap().bytes;
        assert!(all.starts_with(&[txn, marker].concat()));
    }
}

#[test]
fn the_last_batch_of_a_producer_is_kept_empty() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&engine, dir.path(), tiny_segments());
        // Producer 5 writes sequences 0..2 and 2..4, all superseded by a plain producer later.
        log.append(&mut batch_with(
            &[(Some("a"), Some("1")), (Some("b"), Some("1"))],
            1,
            Compression::Lz4,
            (5, 3, 0),
            0,
        ))
        .unwrap();
        log.append(&mut batch_with(
            &[(Some("a"), Some("2")), (Some("b"), Some("2"))],
            2,
            Compression::Lz4,
            (5, 3, 2),
            0,
        ))
        .unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("3")), (Some("b"), Some("3"))], 3)).unwrap();
        log.append(&mut kbatch(&[(Some("z"), Some("active"))], 4)).unwrap();
        let stats = cleaned(&mut log, &eager(), 100);
        assert_eq!(stats.records_removed, 4);
        let h = headers_of(&log);
        assert_eq!(h.len(), 3, "the first batch of producer 5 is gone, its last kept empty");
        let last = h[0];
        assert_eq!((last.producer_id, last.producer_epoch, last.base_sequence), (5, 3, 2));
        assert_eq!((last.base_offset, last.last_offset(), last.records_count, last.last_sequence()), (2, 3, 0, 3));
        assert_eq!(last.compression(), 0, "an empty batch has no compressed payload");
        // Producer state recovered from the log still expects sequence 4 next.
        let mut producers = crate::producers::ProducerStates::default();
        log.for_each_header(&mut |h| producers.record(h, h.base_offset)).unwrap();
        let next = batch::validate(&batch_with(&[(Some("c"), Some("1"))], 5, Compression::None, (5, 3, 4), 0)).unwrap();
        assert_eq!(producers.check(&next), crate::producers::SequenceCheck::Append);
        let dup = batch::validate(&batch_with(
            &[(Some("a"), Some("2")), (Some("b"), Some("2"))],
            2,
            Compression::None,
            (5, 3, 2),
            0,
        ))
        .unwrap();
        assert_eq!(producers.check(&dup), crate::producers::SequenceCheck::Duplicate { base_offset: 2 });
        // Clients decode the empty batch as no records.
        assert_eq!(visible(&log), [rec(4, "a", Some("3")), rec(5, "b", Some("3")), rec(6, "z", Some("active"))]);
    }
}

#[test]
fn rewritten_batches_keep_sequences_consistent_when_leading_records_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(&Engine::File, dir.path(), tiny_segments());
    log.append(&mut batch_with(
        &[(Some("a"), Some("1")), (Some("b"), Some("1")), (Some("c"), Some("1"))],
        1,
        Compression::Zstd,
        (9, 0, 10),
        0,
    ))
    .unwrap();
    log.append(&mut kbatch(&[(Some("a"), Some("2"))], 2)).unwrap();
    log.append(&mut kbatch(&[(Some("z"), Some("active"))], 3)).unwrap();
    cleaned(&mut log, &eager(), 100);
    let h = headers_of(&log)[0];
    // Base offset and base sequence stay; sequence of each record = base sequence + its delta.
    assert_eq!((h.base_offset, h.base_sequence, h.last_offset_delta, h.records_count), (0, 10, 2, 2));
    let bytes = log.read(0, 1).unwrap().bytes;
    let data = decompress(&h, &bytes).unwrap();
    let offsets: Vec<i64> = parse_records(&h, &data).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [1, 2]);
    let mut buf = bytes.clone();
    let seqs: Vec<i32> = RecordBatchDecoder::decode(&mut buf).unwrap().records.iter().map(|r| r.sequence).collect();
    assert_eq!(seqs, [11, 12]);
}

#[test]
fn keyless_records_are_found_and_described_as_kafka_does() {
    let b =
        batch_with(&[(None, Some("x")), (Some("k"), Some("y")), (None, None)], 1, Compression::Snappy, (-1, -1, -1), 0);
    let h = batch::validate(&b).unwrap();
    assert_eq!(keyless_records(&h, &b).unwrap(), [0, 2]);
    let all_keyed = kbatch(&[(Some("k"), Some("v"))], 1);
    assert!(keyless_records(&batch::validate(&all_keyed).unwrap(), &all_keyed).unwrap().is_empty());
    let (summary, errors) = keyless_rejection("t", 0, &[0, 2, 5, 7]);
    // Kafka 4.3's words exactly (no final period).
    let one = "Compacted topic cannot accept message without key in topic partition t-0";
    assert_eq!(errors, [(0, one.to_string()), (2, one.to_string()), (5, one.to_string()), (7, one.to_string())]);
    assert_eq!(
        summary,
        format!(
            "One or more records have been rejected due to 4 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=0, message='{one}'), RecordError(batchIndex=2, message='{one}'), RecordError(batchIndex=5, message='{one}')]"
        )
    );
    // A gzip batch whose data is not gzip: an error, not a panic.
    let mut bad = b.clone();
    bad[21..23].copy_from_slice(&1i16.to_be_bytes());
    batch::seal(&mut bad);
    assert!(keyless_records(&batch::validate(&bad).unwrap(), &bad).is_err());
}

#[test]
fn decompression_is_bounded() {
    // 300 MiB of zeros compress to a few hundred KiB of zstd: refused, not inflated.
    let raw = vec![0u8; MAX_DECOMPRESSED_BYTES + 1024];
    let compressed = zstd::stream::encode_all(&raw[..], 3).unwrap();
    drop(raw);
    let mut b = batch::build(0, &[(Some(b"k"), Some(b"v"), 1)], (-1, -1, -1), 0);
    b.truncate(HEADER_LEN);
    b.extend_from_slice(&compressed);
    b[21..23].copy_from_slice(&4i16.to_be_bytes());
    batch::seal(&mut b);
    let h = batch::validate(&b).unwrap();
    assert!(matches!(decompress(&h, &b), Err(RecordsError::TooLarge { .. })));
}

#[test]
fn malformed_records_are_errors() {
    let b = kbatch(&[(Some("key"), Some("value"))], 1);
    let h = batch::validate(&b).unwrap();
    let data = &b[HEADER_LEN..];
    assert!(parse_records(&h, data).is_ok());
    // Every truncation and every single-byte change of the records either parses or fails cleanly.
    for cut in 0..data.len() {
        assert!(parse_records(&h, &data[..cut]).is_err(), "cut at {cut}");
    }
    for i in 0..data.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut d = data.to_vec();
            d[i] = v;
            let _ = parse_records(&h, &d);
        }
    }
    // Offsets outside the batch are refused.
    let wide = BatchHeader { last_offset_delta: 0, ..h };
    let two = kbatch(&[(Some("a"), Some("1")), (Some("b"), Some("2"))], 1);
    assert!(parse_records(&BatchHeader { records_count: 2, ..wide }, &two[HEADER_LEN..]).is_err());
}

#[test]
fn clean_config_reads_topic_settings() {
    let mut o = BTreeMap::new();
    o.insert("delete.retention.ms".to_string(), "10".to_string());
    o.insert("min.cleanable.dirty.ratio".to_string(), "0.01".to_string());
    o.insert("min.compaction.lag.ms".to_string(), "junk".to_string());
    let c = CleanConfig::from_topic(&o, &BTreeMap::new());
    assert_eq!(c.delete_retention_ms, 10);
    assert_eq!(c.min_cleanable_dirty_ratio, 0.01);
    assert_eq!(c.min_compaction_lag_ms, 0);
    assert_eq!(c.max_compaction_lag_ms, i64::MAX);
    assert_eq!(roll_ms(&o, &BTreeMap::new()), 604_800_000, "not compacted: segment.ms");
    o.insert("cleanup.policy".to_string(), "compact".to_string());
    assert_eq!(roll_ms(&o, &BTreeMap::new()), 604_800_000, "no max.compaction.lag.ms");
    o.insert("max.compaction.lag.ms".to_string(), "100".to_string());
    assert_eq!(roll_ms(&o, &BTreeMap::new()), 100, "KIP-354: rolled within max.compaction.lag.ms");
    o.insert("cleanup.policy".to_string(), "delete".to_string());
    assert_eq!(roll_ms(&o, &BTreeMap::new()), 604_800_000);
    assert!(is_compacted("compact"));
    assert!(is_compacted("delete, compact"));
    assert!(!is_compacted("delete"));
}

#[test]
fn segment_ms_rolls_both_engines_alike() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_ms: 100, ..LogConfig::default() };
        let mut log = open(&engine, dir.path(), config);
        // 1000 and 1100 share a segment (100 is not above 100); 1101 rolls; so does the second
        // batch of a multi-batch append.
        log.append(&mut kbatch(&[(Some("a"), Some("1"))], 1000)).unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("2"))], 1100)).unwrap();
        log.append(&mut kbatch(&[(Some("a"), Some("3"))], 1101)).unwrap();
        let mut two = [kbatch(&[(Some("a"), Some("4"))], 1150), kbatch(&[(Some("a"), Some("5"))], 1300)].concat();
        log.append(&mut two).unwrap();
        // Segments: [0, 1] [2, 3] [4]: only the first two are closed.
        let stats = cleaned(&mut log, &eager(), 10_000);
        assert_eq!(stats.segments_before, 2);
        assert_eq!(stats.clean_offset, 4);
        assert_eq!(visible(&log).iter().map(|r| r.0).collect::<Vec<_>>(), [3, 4]);
    }
}

#[test]
fn many_segments_merge_within_segment_bytes() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let one = kbatch(&[(Some("k0"), Some("value"))], 1).len() as u64;
        let config =
            LogConfig { segment_bytes: 3 * one, segment_ms: i64::MAX, index_interval_bytes: 0, flush: FlushPolicy::Os };
        let mut log = open(&engine, dir.path(), config.clone());
        for i in 0..30 {
            let k = format!("k{}", i % 3);
            log.append(&mut kbatch(&[(Some(k.as_str()), Some("value"))], i)).unwrap();
        }
        let stats = cleaned(&mut log, &eager(), 1_000);
        assert_eq!(stats.segments_before, 9, "3 batches per segment, the last one active");
        assert_eq!(stats.records_removed, 24);
        // Segments are grouped by their size before cleaning (as Kafka does): not merged yet.
        assert_eq!(stats.segments_after, 9);
        assert_eq!(visible(&log).iter().map(|r| r.0).collect::<Vec<_>>(), [24, 25, 26, 27, 28, 29]);
        // The next round merges the 8 emptied segments with the one holding 24..=26.
        for i in 30..33 {
            let k = format!("k{}", i % 3);
            log.append(&mut kbatch(&[(Some(k.as_str()), Some("value"))], i)).unwrap();
        }
        let stats = cleaned(&mut log, &eager(), 2_000);
        assert_eq!((stats.segments_before, stats.segments_after, stats.records_removed), (10, 2, 3));
        assert_eq!(visible(&log).iter().map(|r| r.0).collect::<Vec<_>>(), [27, 28, 29, 30, 31, 32]);
        if let Engine::File = engine {
            let logs: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".log"))
                .collect();
            assert_eq!(logs.len(), 3, "{logs:?}");
        }
    }
}

#[test]
fn file_log_reopens_intact_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        LogConfig { segment_bytes: 200, segment_ms: i64::MAX, index_interval_bytes: 50, flush: FlushPolicy::Os };
    let mut log = open(&Engine::File, dir.path(), config.clone());
    for i in 0..40 {
        let k = format!("k{}", i % 4);
        let v = format!("v{i}");
        let codec = CODECS[i % 5];
        log.append(&mut batch_with(
            &[(Some(k.as_str()), Some(v.as_str())), (Some("t"), if i % 7 == 0 { None } else { Some("x") })],
            i as i64 * 10,
            codec,
            (-1, -1, -1),
            0,
        ))
        .unwrap();
    }
    let first = cleaned(&mut log, &eager(), 1_000);
    assert!(first.records_removed > 30, "{first:?}");
    // A second round merges the segments the first one shrank.
    for i in 40..44 {
        log.append(&mut kbatch(&[(Some("k0"), Some("later"))], i * 10)).unwrap();
    }
    let stats = cleaned(&mut log, &eager(), 1_000);
    assert!(stats.segments_after < stats.segments_before, "{stats:?}");
    let before = visible(&log);
    let headers = headers_of(&log);
    let (start, end, max) = (log.log_start_offset(), log.log_end_offset(), log.max_timestamp());
    assert!(before.len() < 60, "{}", before.len());
    drop(log);
    let index_files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_str().unwrap().ends_with("index"))
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    let index = index_files(dir.path());
    let mut log = open(&Engine::File, dir.path(), config.clone());
    assert_eq!(visible(&log), before);
    assert_eq!(headers_of(&log), headers);
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.max_timestamp()), (start, end, max));
    assert_eq!(log.clean_offset(), stats.clean_offset, "the checkpoint survives");
    // The cleaned segments' index files are trusted on open, not rebuilt (the active segment's
    // may be created by the open).
    let after = index_files(dir.path());
    for f in &index {
        assert!(after.contains(f), "{} changed on open", f.0);
    }
    assert!(index.len() >= 8);
    // Every offset reads the batch holding it or the next one.
    for o in start..end {
        let r = log.read(o, 1).unwrap().bytes;
        let h = batch::validate(&r).unwrap();
        assert!(h.last_offset() >= o);
    }
    for ts in [0, 5, 100, 395, 1_000] {
        let found = log.offset_for_timestamp(ts).unwrap();
        let expected =
            headers.iter().find(|h| h.max_timestamp >= ts).map(|h| (h.base_offset.max(start), h.max_timestamp));
        assert_eq!(found, expected, "ts {ts}");
    }
    log.append(&mut kbatch(&[(Some("k1"), Some("after"))], 2_000)).unwrap();
    drop(log);
    let log = open(&Engine::File, dir.path(), config);
    assert_eq!(log.log_end_offset(), end + 1);
    assert_eq!(visible(&log).len(), before.len() + 1);
}

#[test]
fn file_log_gaps_are_only_accepted_below_the_clean_offset() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_segments();
    {
        let mut log = open(&Engine::File, dir.path(), config.clone());
        for i in 0..6 {
            log.append(&mut kbatch(&[(Some("same"), Some("v"))], i)).unwrap();
        }
        // Segments 0..=4 closed, all but the last of them emptied or removed.
        cleaned(&mut log, &eager(), 100);
        assert_eq!(visible(&log).iter().map(|r| r.0).collect::<Vec<_>>(), [4, 5]);
    }
    let log = open(&Engine::File, dir.path(), config.clone());
    assert_eq!(visible(&log).iter().map(|r| r.0).collect::<Vec<_>>(), [4, 5]);
    drop(log);
    // Without the checkpoint the same gaps look like lost segments: the log is cut there.
    std::fs::remove_file(dir.path().join("cleaner-checkpoint")).unwrap();
    let log = open(&Engine::File, dir.path(), config);
    assert!(log.log_end_offset() < 6, "strict checks above the clean offset");
}

fn filled(engine: &Engine, dir: &Path) -> PartitionLog {
    let mut log = open(engine, dir, tiny_segments());
    for i in 0..12 {
        let k = format!("k{}", i % 3);
        let v = format!("v{i}");
        log.append(&mut batch_with(
            &[(Some(k.as_str()), Some(v.as_str()))],
            i,
            CODECS[i as usize % 5],
            (-1, -1, -1),
            0,
        ))
        .unwrap();
    }
    log
}

#[test]
fn interrupted_swaps_are_finished_or_rolled_back_on_open() {
    // The result a finished round gives.
    let dir = tempfile::tempdir().unwrap();
    let mut reference = filled(&Engine::File, dir.path());
    let before = visible(&reference);
    cleaned(&mut reference, &eager(), 100);
    let after = visible(&reference);
    assert_ne!(before, after);
    drop(reference);

    // Crash after the cleaned files were written, before the commit: the old segments stay.
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(&Engine::File, dir.path());
    let job = log.prepare_clean(&eager(), 100).unwrap().unwrap();
    let out = job.run().unwrap();
    let leftovers = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_str().unwrap().contains(".cleaned"))
            .count()
    };
    assert!(leftovers(dir.path()) > 0);
    std::mem::forget(out);
    drop(log);
    let log = open(&Engine::File, dir.path(), tiny_segments());
    assert_eq!(visible(&log), before);
    assert_eq!(leftovers(dir.path()), 0);
    assert_eq!(log.clean_offset(), 0);
    drop(log);

    // Crash at every step of the swap after the commit: finished on open.
    let mut finished_at = None;
    for step in 1..100 {
        let dir = tempfile::tempdir().unwrap();
        let mut log = filled(&Engine::File, dir.path());
        let job = log.prepare_clean(&eager(), 100).unwrap().unwrap();
        let CleanOutput::File(out) = job.run().unwrap() else { unreachable!() };
        let PartitionLog::File(file) = &mut log else { unreachable!() };
        let outcome = file.commit_clean_inner(out, Some(step)).unwrap();
        let finished = matches!(outcome, CleanOutcome::Cleaned(_));
        // Until reopened, the log still reads the data it had.
        if !finished {
            assert_eq!(visible(&log), before, "step {step}");
            assert!(log.prepare_clean(&eager(), 100).unwrap().is_none(), "no round while a swap is pending");
        }
        drop(log);
        let log = open(&Engine::File, dir.path(), tiny_segments());
        assert_eq!(visible(&log), after, "crash after step {step}");
        assert_eq!(log.clean_offset(), 11);
        assert_eq!(leftovers(dir.path()), 0);
        assert!(!dir.path().join("cleaner-swap").exists());
        if finished {
            finished_at = Some(step);
            break;
        }
    }
    // 11 segments: 3 renames each, then the checkpoint; the step after that finishes.
    assert_eq!(finished_at, Some(35));
}

#[test]
fn a_round_is_abandoned_when_the_log_changes_under_it() {
    for engine in engines() {
        // DeleteRecords past the first segment.
        let dir = tempfile::tempdir().unwrap();
        let mut log = filled(&engine, dir.path());
        let job = log.prepare_clean(&eager(), 100).unwrap().unwrap();
        let out = job.run().unwrap();
        log.delete_records_before(3).unwrap();
        let outcome = log.commit_clean(out).unwrap();
        assert!(matches!(outcome, CleanOutcome::Abandoned(_)), "{outcome:?}");
        assert_eq!(visible(&log).first().map(|r| r.0), Some(3));
        assert_eq!(visible(&log).len(), 9);
        if let Engine::File = engine {
            assert!(
                std::fs::read_dir(dir.path()).unwrap().all(|e| !e
                    .unwrap()
                    .file_name()
                    .to_str()
                    .unwrap()
                    .contains(".cleaned"))
            );
        }
        // The next round starts over and succeeds.
        assert!(matches!(clean(&mut log, &eager(), 100), CleanOutcome::Cleaned(_)));

        // Retention deleting segments during the round.
        let dir = tempfile::tempdir().unwrap();
        let mut log = filled(&engine, dir.path());
        let job = log.prepare_clean(&eager(), 100).unwrap().unwrap();
        assert!(log.prepare_clean(&eager(), 100).unwrap().is_none(), "one round at a time");
        let out = job.run().unwrap();
        assert!(log.enforce_retention(100, 95, -1).unwrap() > 0);
        assert!(matches!(log.commit_clean(out).unwrap(), CleanOutcome::Abandoned(_)));
    }
    // The partition's directory replaced under the round (topic deleted and created again).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-0");
    let mut log = filled(&Engine::File, &path);
    let job = log.prepare_clean(&eager(), 100).unwrap().unwrap();
    let out = job.run().unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    drop(filled(&Engine::File, &path));
    assert!(matches!(log.commit_clean(out).unwrap(), CleanOutcome::Abandoned(_)));
}

#[test]
fn appends_and_reads_proceed_while_a_round_runs() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let log = Mutex::new(filled(&engine, dir.path()));
        let before = visible(&log.lock().unwrap());
        let job = log.lock().unwrap().prepare_clean(&eager(), 100).unwrap().unwrap();
        let (in_round_tx, in_round_rx) = mpsc::channel();
        let (go_on_tx, go_on_rx) = mpsc::channel::<()>();
        let output = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let mut first = true;
                job.run_observed(&mut |_| {
                    if std::mem::take(&mut first) {
                        in_round_tx.send(()).unwrap();
                        go_on_rx.recv().unwrap();
                    }
                })
                .unwrap()
            });
            // The round is in its heavy part: the lock is free, appends and reads go through.
            in_round_rx.recv().unwrap();
            for i in 0..5 {
                let mut guard = log.try_lock().expect("the partition lock is free during the round");
                guard.append(&mut kbatch(&[(Some("k0"), Some("during"))], 100 + i)).unwrap();
                assert!(!guard.read(0, usize::MAX).unwrap().bytes.is_empty());
            }
            go_on_tx.send(()).unwrap();
            worker.join().unwrap()
        });
        let mut guard = log.lock().unwrap();
        let outcome = guard.commit_clean(output).unwrap();
        assert!(matches!(outcome, CleanOutcome::Cleaned(_)), "{outcome:?}");
        let now = visible(&guard);
        // The appended records are all there, after the cleaned ones.
        assert_eq!(now.iter().filter(|r| r.2.as_deref() == Some("during")).count(), 5);
        assert_eq!(guard.log_end_offset(), 17);
        assert!(now.len() < before.len() + 5);
    }
}

// --- a model: after any sequence of appends, rounds and reopens, what is visible is what
// compaction promises, and both engines agree ----------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// (key index, tombstone, timestamp step, codec index, records).
    Append(Vec<(u8, bool)>, i64, usize),
    Clean(i64),
    DeleteBefore(u16),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec((0u8..6, prop::bool::weighted(0.2)), 1..4), 0i64..400, 0usize..5)
            .prop_map(|(r, ts, c)| Op::Append(r, ts, c)),
        3 => (0i64..20_000).prop_map(Op::Clean),
        1 => any::<u16>().prop_map(Op::DeleteBefore),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn compaction_keeps_what_it_promises_in_both_engines(
        ops in prop::collection::vec(op(), 1..40),
        segment_bytes in 80u64..600,
        segment_ms in prop_oneof![Just(i64::MAX), 50i64..500],
        delete_retention_ms in 0i64..5_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes, segment_ms, index_interval_bytes: 64, flush: FlushPolicy::Os };
        let clean_config = CleanConfig { delete_retention_ms, ..eager() };
        let mut file = open(&Engine::File, dir.path(), config.clone());
        let mut mem = open(&Engine::Memory, dir.path(), config.clone());
        // Every record appended: offset → (key, value).
        let mut appended: BTreeMap<i64, (String, Option<String>)> = BTreeMap::new();
        let mut ts = 0i64;
        let mut now = 0i64;
        let mut serial = 0;
        let mut parity = true;
        for op in ops {
            match op {
                Op::Append(records, step, codec) => {
                    ts += step;
                    let owned: Vec<(String, Option<String>)> = records
                        .iter()
                        .map(|&(k, tomb)| {
                            serial += 1;
                            (format!("key{k}"), (!tomb).then(|| format!("v{serial}")))
                        })
                        .collect();
                    let kv: Vec<Kv<'_>> = owned.iter().map(|(k, v)| (Some(k.as_str()), v.as_deref())).collect();
                    let b = batch_with(&kv, ts, CODECS[codec], (-1, -1, -1), 0);
                    let info = file.append(&mut b.clone()).unwrap();
                    prop_assert_eq!(mem.append(&mut b.clone()).unwrap(), info);
                    for (i, r) in owned.into_iter().enumerate() {
                        appended.insert(info.base_offset + i as i64, r);
                    }
                }
                Op::Clean(step) => {
                    now += step;
                    let f = clean(&mut file, &clean_config, now);
                    let m = clean(&mut mem, &clean_config, now);
                    if parity {
                        let records = |o: &CleanOutcome| match o { CleanOutcome::Cleaned(s) => Some(s.records_removed), _ => None };
                        prop_assert_eq!(records(&f), records(&m));
                        prop_assert_eq!(file.clean_offset(), mem.clean_offset());
                    }
                }
                Op::DeleteBefore(pick) => {
                    let (s, e) = (mem.log_start_offset(), mem.log_end_offset());
                    let offset = s + i64::from(pick) % (e - s + 1);
                    prop_assert_eq!(file.delete_records_before(offset).unwrap(), mem.delete_records_before(offset).unwrap());
                    // The file engine still counts the bytes below the start in its first segment
                    // when it weighs a round; the memory engine has dropped them. From here on each
                    // engine is only held to the promises below.
                    parity = false;
                }
                Op::Reopen => {
                    drop(file);
                    file = open(&Engine::File, dir.path(), config.clone());
                }
            }
            if parity {
                prop_assert_eq!(visible(&file), visible(&mem));
            }
            prop_assert_eq!(file.log_end_offset(), mem.log_end_offset());
            for log in [&file, &mem] {
                let fv = visible(log);
                // Every visible record is one that was appended, at its offset.
                let start = log.log_start_offset();
                for (o, k, v) in &fv {
                    let (ak, av) = &appended[o];
                    prop_assert_eq!(k.as_deref(), Some(ak.as_str()));
                    prop_assert_eq!(v, av);
                }
                // For every key, the latest record appended (from the log start on) is visible,
                // unless it is a tombstone; nothing at or above the clean offset is missing; below
                // it, a key appears once at most.
                let clean_offset = log.clean_offset();
                let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
                for (o, (k, _)) in appended.range(start..) {
                    latest.insert(k.as_str(), *o);
                }
                for (k, o) in latest {
                    let is_visible = fv.iter().any(|r| r.0 == o);
                    let tombstone = appended[&o].1.is_none();
                    prop_assert!(is_visible || tombstone, "latest {} of {} is missing", o, k);
                }
                for (o, _) in appended.range(clean_offset.max(start)..) {
                    prop_assert!(fv.iter().any(|r| r.0 == *o), "dirty record {} is missing", o);
                }
                let mut seen = std::collections::HashSet::new();
                for (o, k, _) in fv.iter().filter(|r| r.0 < clean_offset) {
                    prop_assert!(seen.insert(k.clone()), "key {:?} twice below the clean offset (at {})", k, o);
                }
            }
        }
    }
}

/// A batch whose records section is `payload`, with codec bits `codec` and a correct CRC.
fn raw_batch(codec: i16, payload: &[u8], count: i32) -> Vec<u8> {
    let mut b = batch::build(0, &[(Some(&b"k"[..]), Some(&b"v"[..]), 1)], (-1, -1, -1), 0);
    b.truncate(HEADER_LEN);
    b.extend_from_slice(payload);
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    // Offsets 0..=4: room for up to 5 records.
    b[23..27].copy_from_slice(&4i32.to_be_bytes());
    batch::seal(&mut b);
    b
}

#[test]
fn snappy_blocks_announcing_huge_lengths_are_refused() {
    let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    // A raw snappy block whose length varint says 2^40 bytes.
    let block = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00];
    framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
    framed.extend_from_slice(&block);
    for payload in [&framed[..], &block[..]] {
        let b = raw_batch(2, payload, 1);
        let h = batch::validate(&b).unwrap();
        assert!(decompress(&h, &b).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn garbage_records_never_panic_and_are_kept(
        codec in 0i16..8,
        payload in prop::collection::vec(any::<u8>(), 0..300),
        count in 0i32..6,
        valid_prefix in any::<bool>(),
    ) {
        // Sometimes a valid compressed stream of real records, then damaged at the end.
        let payload = if valid_prefix && (0..5).contains(&codec) {
            let codecs = CODECS;
            let good = batch_with(&[(Some("a"), Some("1")), (None, Some("2"))], 1, codecs[codec as usize], (-1, -1, -1), 0);
            let mut p = good[HEADER_LEN..].to_vec();
            p.extend_from_slice(&payload[..payload.len().min(3)]);
            p
        } else {
            payload
        };
        let b = raw_batch(codec, &payload, count);
        let h = batch::validate(&b).unwrap();
        let _ = keyless_records(&h, &b);
        if let Ok(data) = decompress(&h, &b) {
            let _ = parse_records(&h, &data);
        }
        // In a log, such a batch survives a cleaning round untouched (or, when it happens to be
        // decodable, loses only superseded records).
        let mut log = PartitionLog::Memory(MemoryLog::with_config(tiny_segments()));
        log.append(&mut b.clone()).unwrap();
        log.append(&mut kbatch(&[(Some("z"), Some("active"))], 2)).unwrap();
        let _ = clean(&mut log, &eager(), 100);
        let first = log.read(0, 1).unwrap().bytes;
        if let Ok(d) = decompress(&h, &b) && parse_records(&h, &d).is_err() {
            prop_assert_eq!(&first[..], &b[..]);
        }
    }
}
