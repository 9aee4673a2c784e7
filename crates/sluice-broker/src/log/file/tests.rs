use super::*;
use crate::log::memory::MemoryLog;
use proptest::prelude::*;
use sluice_wire::batch::build;

/// A batch of `n` records with timestamps `ts, ts+1, ...` (max `ts + n - 1`) and `value_len`-byte
/// values.
fn batch_v(n: usize, ts: i64, value_len: usize) -> Vec<u8> {
    let value = vec![b'x'; value_len];
    type Record<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);
    let recs: Vec<Record<'_>> = (0..n).map(|i| (None, Some(&value[..]), ts + i as i64)).collect();
    build(0, &recs, (-1, -1, -1), 0)
}

fn batch(n: usize, ts: i64) -> Vec<u8> {
    batch_v(n, ts, 20)
}

fn cfg(segment_bytes: u64, index_interval_bytes: u64) -> LogConfig {
    LogConfig { segment_bytes, index_interval_bytes, flush: FlushPolicy::Os, ..LogConfig::default() }
}

fn open(dir: &Path, config: &LogConfig) -> FileLog {
    FileLog::open(dir, config.clone()).unwrap()
}

fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    batch::walk(bytes).map(|r| r.unwrap().1).collect()
}

fn files(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(&format!(".{ext}")))
        .collect();
    v.sort();
    v
}

fn append_file(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    fs::OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

/// Appends `count` batches of 1..=3 records to both logs; returns the stored batches.
fn fill(file: &mut FileLog, mem: &mut MemoryLog, count: usize) -> Vec<Vec<u8>> {
    let mut stored = Vec::new();
    for i in 0..count {
        let mut a = batch(1 + i % 3, 1000 + 10 * i as i64);
        let mut b = a.clone();
        assert_eq!(file.append(&mut a).unwrap(), mem.append(&mut b).unwrap());
        assert_eq!(a, b);
        stored.push(a);
    }
    stored
}

/// Every read the memory engine answers, the file engine answers the same.
fn assert_same(file: &FileLog, mem: &MemoryLog) {
    assert_eq!(file.log_start_offset(), mem.log_start_offset());
    assert_eq!(file.log_end_offset(), mem.log_end_offset());
    assert_eq!(file.max_timestamp(), mem.max_timestamp());
    let (start, end) = (mem.log_start_offset(), mem.log_end_offset());
    for offset in start - 1..=end + 1 {
        for max in [0, 1, 100, 250, 1000, usize::MAX] {
            match (file.read(offset, max), mem.read(offset, max)) {
                (Ok(f), Ok(m)) => assert_eq!(f.bytes, m.bytes, "read({offset}, {max})"),
                (Err(LogError::OffsetOutOfRange { .. }), Err(LogError::OffsetOutOfRange { .. })) => {}
                (f, m) => panic!("read({offset}, {max}): file {f:?}, memory {m:?}"),
            }
        }
    }
    for ts in [i64::MIN, 0, 999, 1000, 1001, 1015, 1042, 1100, 5000, i64::MAX] {
        assert_eq!(
            file.offset_for_timestamp(ts).unwrap(),
            mem.offset_for_timestamp(ts).unwrap(),
            "offset_for_timestamp({ts})"
        );
    }
    let (mut fh, mut mh) = (Vec::new(), Vec::new());
    file.for_each_header(&mut |h| fh.push(*h)).unwrap();
    mem.for_each_header(&mut |h| mh.push(*h)).unwrap();
    assert_eq!(fh, mh);
}

#[test]
fn append_and_read_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(300, 100);
    let mut log = open(dir.path(), &config);
    let mut mem = MemoryLog::new();
    let stored = fill(&mut log, &mut mem, 20);
    assert!(files(dir.path(), "log").len() >= 5, "{:?}", files(dir.path(), "log"));
    assert_eq!(files(dir.path(), "log")[0], "00000000000000000000.log");
    assert_eq!(log.log_end_offset(), 39);
    assert_eq!(log.read(0, usize::MAX).unwrap().bytes, stored.concat());
    assert_eq!(log.size_bytes(), stored.iter().map(|b| b.len() as u64).sum::<u64>());
    // Segment files are named by their first offset and hold whole batches.
    for name in files(dir.path(), "log") {
        let base: i64 = name[..20].parse().unwrap();
        let bytes = fs::read(dir.path().join(&name)).unwrap();
        assert!(bytes.len() as u64 <= config.segment_bytes);
        assert_eq!(headers(&bytes)[0].base_offset, base);
    }
    assert_same(&log, &mem);
}

#[test]
fn read_inside_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), &cfg(1 << 20, 0));
    for _ in 0..5 {
        log.append(&mut batch(4, 1)).unwrap();
    }
    for offset in 0..20 {
        let r = log.read(offset, 1).unwrap();
        let h = headers(&r.bytes);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].base_offset, offset / 4 * 4);
    }
    assert!(log.read(20, 100).unwrap().bytes.is_empty());
    assert!(matches!(log.read(21, 100), Err(LogError::OffsetOutOfRange { offset: 21, start: 0, end: 20 })));
    assert!(matches!(log.read(-1, 100), Err(LogError::OffsetOutOfRange { .. })));
}

#[test]
fn max_bytes_returns_whole_batches_and_crosses_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 5).len();
    // Two batches per segment.
    let mut log = open(dir.path(), &cfg(2 * one as u64, 0));
    for _ in 0..6 {
        log.append(&mut batch(1, 5)).unwrap();
    }
    assert_eq!(files(dir.path(), "log").len(), 3);
    assert_eq!(log.read(0, 0).unwrap().bytes.len(), one, "one batch even if max_bytes is 0");
    assert_eq!(log.read(0, one - 1).unwrap().bytes.len(), one);
    assert_eq!(log.read(0, 2 * one + one / 2).unwrap().bytes.len(), 2 * one);
    // From the middle of a segment into the next ones.
    let r = log.read(1, 3 * one).unwrap();
    assert_eq!(headers(&r.bytes).iter().map(|h| h.base_offset).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(log.read(1, usize::MAX).unwrap().bytes.len(), 5 * one);
    // A batch larger than segment_bytes goes alone into a segment.
    let big = log.append(&mut batch_v(3, 5, 500)).unwrap();
    assert_eq!(big, AppendInfo { base_offset: 6, last_offset: 8 });
    assert_eq!(files(dir.path(), "log").last().unwrap(), "00000000000000000006.log");
    assert_eq!(log.read(7, 10).unwrap().bytes.len(), batch_v(3, 5, 500).len());
    log.append(&mut batch(1, 5)).unwrap();
    assert_eq!(files(dir.path(), "log").last().unwrap(), "00000000000000000009.log");
}

#[test]
fn reopen_keeps_offsets_start_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(400, 64);
    let mut mem = MemoryLog::new();
    let stored = {
        let mut log = open(dir.path(), &config);
        let stored = fill(&mut log, &mut mem, 30);
        assert_eq!(log.delete_records_before(5).unwrap(), 5);
        mem.delete_records_before(5).unwrap();
        stored
    };
    let mut log = open(dir.path(), &config);
    assert_same(&log, &mem);
    assert_eq!(log.read(60, usize::MAX).unwrap().bytes.len(), 0);
    let all = log.read(5, usize::MAX).unwrap().bytes;
    assert!(stored.concat().ends_with(&all));
    // Appends continue where the log ended, and survive another reopen.
    fill(&mut log, &mut mem, 3);
    drop(log);
    let log = open(dir.path(), &config);
    assert_same(&log, &mem);
}

#[test]
fn torn_tail_is_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(1000, 100);
    let mut mem = MemoryLog::new();
    let size = {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut mem, 25);
        log.size_bytes()
    };
    let last = dir.path().join(files(dir.path(), "log").pop().unwrap());
    // Half a batch, as a crash in the middle of a write leaves it.
    append_file(&last, &batch(3, 7)[..40]);
    let mut log = open(dir.path(), &config);
    assert_eq!(log.size_bytes(), size);
    assert_same(&log, &mem);
    assert_eq!(
        log.append(&mut batch(1, 2000)).unwrap().base_offset,
        mem.append(&mut batch(1, 2000)).unwrap().base_offset
    );
    drop(log);
    // Garbage after a whole batch.
    append_file(&last, &[0xAB; 300]);
    let log = open(dir.path(), &config);
    assert_same(&log, &mem);
    assert_eq!(fs::metadata(&last).unwrap().len() as usize, {
        let bytes = fs::read(&last).unwrap();
        headers(&bytes).iter().map(|h| h.total_len()).sum::<usize>()
    });
}

#[test]
fn corrupt_crc_in_the_tail_drops_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(1 << 20, 100);
    {
        let mut log = open(dir.path(), &config);
        for i in 0..5 {
            log.append(&mut batch(2, i)).unwrap();
        }
    }
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    let mut log = open(dir.path(), &config);
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.max_timestamp(), Some((4, 7)));
    assert_eq!(log.append(&mut batch(1, 9)).unwrap().base_offset, 8);
}

#[test]
fn missing_or_garbage_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(500, 50);
    let mut mem = MemoryLog::new();
    {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut mem, 40);
    }
    let indexes = files(dir.path(), "index");
    assert!(indexes.len() > 3);
    assert!(fs::metadata(dir.path().join(&indexes[0])).unwrap().len() > 0, "older segments have index entries");
    let reference = fs::read(dir.path().join(&indexes[0])).unwrap();
    for name in files(dir.path(), "index").into_iter().chain(files(dir.path(), "timeindex")) {
        fs::remove_file(dir.path().join(name)).unwrap();
    }
    {
        let log = open(dir.path(), &config);
        assert_same(&log, &mem);
    }
    assert_eq!(files(dir.path(), "index"), indexes);
    assert_eq!(fs::read(dir.path().join(&indexes[0])).unwrap(), reference, "rebuilt identically");
    // Garbage of every kind: odd sizes, entries pointing anywhere, empty time index.
    fs::write(dir.path().join(&indexes[0]), [1, 2, 3]).unwrap();
    fs::write(dir.path().join(&indexes[1]), [0x7f; 64]).unwrap();
    let t = files(dir.path(), "timeindex");
    fs::write(dir.path().join(&t[2]), []).unwrap();
    fs::write(dir.path().join(&t[3]), [0x01; 24]).unwrap();
    let log = open(dir.path(), &config);
    assert_same(&log, &mem);
}

#[test]
fn index_damaged_while_open_falls_back_to_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(600, 30);
    let mut mem = MemoryLog::new();
    let mut log = open(dir.path(), &config);
    fill(&mut log, &mut mem, 40);
    for name in files(dir.path(), "index") {
        let len = fs::metadata(dir.path().join(&name)).unwrap().len() as usize;
        fs::write(dir.path().join(&name), vec![0x03; len]).unwrap();
    }
    for name in files(dir.path(), "timeindex") {
        let len = fs::metadata(dir.path().join(&name)).unwrap().len() as usize;
        fs::write(dir.path().join(&name), vec![0x00; len]).unwrap();
    }
    assert_same(&log, &mem);
}

#[test]
fn corrupt_older_segment_cuts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(300, 100);
    let mut mem = MemoryLog::new();
    let stored = {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut mem, 20)
    };
    let logs = files(dir.path(), "log");
    assert!(logs.len() >= 4);
    // Break the second batch of the second segment; without its index it is walked.
    let second = dir.path().join(&logs[1]);
    let mut bytes = fs::read(&second).unwrap();
    let first_len = headers(&bytes)[0].total_len();
    let cut_at = headers(&bytes)[0].last_offset() + 1;
    bytes[first_len + 30] ^= 0xFF;
    fs::write(&second, &bytes).unwrap();
    fs::remove_file(second.with_extension("index")).unwrap();
    let mut log = open(dir.path(), &config);
    assert_eq!(log.log_end_offset(), cut_at);
    assert_eq!(files(dir.path(), "log"), logs[..2]);
    let kept = log.read(0, usize::MAX).unwrap().bytes;
    assert!(stored.concat().starts_with(&kept));
    assert_eq!(log.append(&mut batch(1, 1)).unwrap().base_offset, cut_at);
}

#[test]
fn segments_that_do_not_continue_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(300, 100);
    {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut MemoryLog::new(), 20);
    }
    let logs = files(dir.path(), "log");
    fs::remove_file(dir.path().join(&logs[2])).unwrap();
    let log = open(dir.path(), &config);
    assert_eq!(log.log_end_offset(), logs[2][..20].parse::<i64>().unwrap());
    assert_eq!(files(dir.path(), "log"), logs[..2]);
    assert!(files(dir.path(), "index").len() == 2);
}

#[test]
fn retention_by_time_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 0).len() as u64;
    let mut log = open(dir.path(), &cfg(2 * one, 0));
    // Segments: [100, 200] [300, 400] [500, 600] [700]
    for ts in [100, 200, 300, 400, 500, 600, 700] {
        log.append(&mut batch(1, ts)).unwrap();
    }
    assert_eq!(files(dir.path(), "log").len(), 4);
    assert_eq!(log.enforce_retention(1000, 1000, -1).unwrap(), 0);
    // Older than 550 ms at 1000: segments whose largest timestamp is below 450.
    assert_eq!(log.enforce_retention(1000, 550, -1).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(files(dir.path(), "log"), ["00000000000000000004.log", "00000000000000000006.log"]);
    // The active segment's index files are written on flush.
    assert_eq!(files(dir.path(), "index"), ["00000000000000000004.index"]);
    assert!(matches!(log.read(3, 10), Err(LogError::OffsetOutOfRange { .. })));
    // Everything is old, but the active segment stays.
    assert_eq!(log.enforce_retention(1_000_000, 0, -1).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.max_timestamp(), Some((700, 6)));
    assert_eq!(log.enforce_retention(1_000_000, 0, 0).unwrap(), 0);
    assert_eq!(log.read(6, 1).unwrap().bytes.len() as u64, one);
}

#[test]
fn retention_by_size_deletes_oldest_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 0).len() as u64;
    let config = cfg(2 * one, 0);
    let mut log = open(dir.path(), &config);
    for ts in 0..7 {
        log.append(&mut batch(1, ts)).unwrap();
    }
    assert_eq!(log.size_bytes(), 7 * one);
    assert_eq!(log.enforce_retention(0, -1, (7 * one) as i64).unwrap(), 0);
    // Drops segments while the log is larger than the limit: 7 -> 5 -> 3.
    assert_eq!(log.enforce_retention(0, -1, (3 * one) as i64).unwrap(), 2);
    assert_eq!(log.size_bytes(), 3 * one);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.enforce_retention(0, -1, 0).unwrap(), 1);
    assert_eq!(log.size_bytes(), one);
    drop(log);
    let log = open(dir.path(), &config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 7));
}

#[test]
fn delete_records_before_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(300, 100);
    let mut mem = MemoryLog::new();
    {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut mem, 20);
        let before = files(dir.path(), "log").len();
        assert_eq!(log.log_end_offset(), 39);
        assert!(matches!(log.delete_records_before(40), Err(LogError::OffsetOutOfRange { .. })));
        assert_eq!(log.delete_records_before(13).unwrap(), 13);
        mem.delete_records_before(13).unwrap();
        assert!(files(dir.path(), "log").len() < before);
        assert_eq!(log.delete_records_before(2).unwrap(), 13, "never moves back");
        assert_same(&log, &mem);
    }
    assert_eq!(fs::read_to_string(dir.path().join(LOG_START_FILE)).unwrap().trim(), "13");
    let mut log = open(dir.path(), &config);
    assert_same(&log, &mem);
    // Up to the end: the active segment stays, the log is empty but keeps its offsets.
    assert_eq!(log.delete_records_before(39).unwrap(), 39);
    mem.delete_records_before(39).unwrap();
    assert_same(&log, &mem);
    drop(log);
    let mut log = open(dir.path(), &config);
    assert_same(&log, &mem);
    assert_eq!(log.append(&mut batch(1, 3)).unwrap().base_offset, 39);
}

#[test]
fn offset_for_timestamp_uses_batch_max_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(250, 40);
    let mut log = open(dir.path(), &config);
    let mut mem = MemoryLog::new();
    // Timestamps going back and forth, with ties.
    for (i, ts) in [50, 10, 80, 80, 20, 90, 90, 30, 100, 5, 100, 60].into_iter().enumerate() {
        let mut a = batch(1 + i % 2, ts);
        mem.append(&mut a.clone()).unwrap();
        log.append(&mut a).unwrap();
    }
    assert!(files(dir.path(), "log").len() > 2);
    for ts in -1..=102 {
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), mem.offset_for_timestamp(ts).unwrap(), "ts {ts}");
    }
    assert_eq!(log.max_timestamp(), mem.max_timestamp());
    assert_eq!(log.offset_for_timestamp(102).unwrap(), None);
    drop(log);
    let mut log = open(dir.path(), &config);
    for ts in -1..=102 {
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), mem.offset_for_timestamp(ts).unwrap(), "ts {ts}");
    }
    // Log start inside a batch: that batch's answer is clamped to the start.
    log.delete_records_before(4).unwrap();
    mem.delete_records_before(4).unwrap();
    assert_same(&log, &mem);
}

#[test]
fn empty_directory_is_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let mut log = open(&path, &LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.size_bytes()), (0, 0, 0));
    assert!(log.read(0, 100).unwrap().bytes.is_empty());
    assert!(matches!(log.read(1, 100), Err(LogError::OffsetOutOfRange { .. })));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp(), None);
    assert_eq!(log.append(&mut []).unwrap(), AppendInfo { base_offset: 0, last_offset: -1 });
    assert_eq!(log.enforce_retention(i64::MAX, 0, 0).unwrap(), 0);
    log.flush().unwrap();
    assert_eq!(files(&path, "log"), ["00000000000000000000.log"]);
}

#[test]
fn invalid_batches_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), &cfg(1 << 20, 100));
    log.append(&mut batch(2, 1)).unwrap();
    let mut two = batch(1, 2);
    let mut bad = batch(1, 3);
    let n = bad.len();
    bad[n - 1] ^= 1;
    two.extend_from_slice(&bad);
    assert!(matches!(log.append(&mut two), Err(LogError::Batch(_))));
    let mut torn = batch(1, 2);
    torn.truncate(50);
    assert!(matches!(log.append(&mut torn), Err(LogError::Batch(_))));
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.size_bytes(), batch(2, 1).len() as u64);
    // Several batches in one append get consecutive offsets.
    let mut three = [batch(2, 5), batch(3, 6), batch(1, 7)].concat();
    assert_eq!(log.append(&mut three).unwrap(), AppendInfo { base_offset: 2, last_offset: 7 });
    let bases: Vec<i64> = headers(&three).iter().map(|h| h.base_offset).collect();
    assert_eq!(bases, [2, 4, 7]);
    assert_eq!(log.read(2, usize::MAX).unwrap().bytes, three);
}

#[test]
fn multi_batch_append_rolls_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 0).len() as u64;
    let config = cfg(2 * one, 0);
    let mut log = open(dir.path(), &config);
    let mut five = (0..5).map(|i| batch(1, i)).collect::<Vec<_>>().concat();
    assert_eq!(log.append(&mut five).unwrap(), AppendInfo { base_offset: 0, last_offset: 4 });
    assert_eq!(files(dir.path(), "log").len(), 3);
    assert_eq!(log.read(0, usize::MAX).unwrap().bytes, five);
    drop(log);
    let log = open(dir.path(), &config);
    assert_eq!(log.read(0, usize::MAX).unwrap().bytes, five);
}

#[test]
fn flush_policies_store_the_same_data() {
    for flush in
        [FlushPolicy::Os, FlushPolicy::EveryAppend, FlushPolicy::IntervalMs(0), FlushPolicy::IntervalMs(u64::MAX)]
    {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 300, index_interval_bytes: 100, flush, ..LogConfig::default() };
        let mut mem = MemoryLog::new();
        {
            let mut log = open(dir.path(), &config);
            fill(&mut log, &mut mem, 10);
            log.flush().unwrap();
            assert!(!log.unsynced);
        }
        let log = open(dir.path(), &config);
        assert_same(&log, &mem);
    }
}

#[test]
fn for_each_header_and_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-0");
    let mut log = open(&path, &cfg(300, 100));
    let mut mem = MemoryLog::new();
    fill(&mut log, &mut mem, 12);
    let mut bases = Vec::new();
    log.for_each_header(&mut |h| bases.push(h.base_offset)).unwrap();
    assert_eq!(bases.len(), 12);
    assert!(bases.windows(2).all(|w| w[0] < w[1]));
    log.destroy().unwrap();
    assert!(!path.exists());
}

#[test]
fn leftover_temporary_and_orphan_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(300, 100);
    {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut MemoryLog::new(), 3);
    }
    fs::write(dir.path().join("00000000000000000000.index.tmp"), [1, 2]).unwrap();
    fs::write(dir.path().join("00000000000000000099.index"), [1, 2]).unwrap();
    fs::write(dir.path().join("unrelated.txt"), "keep").unwrap();
    fs::write(dir.path().join(LOG_START_FILE), "not a number").unwrap();
    let log = open(dir.path(), &config);
    assert_eq!(log.log_start_offset(), 0);
    assert!(!dir.path().join("00000000000000000000.index.tmp").exists());
    assert!(!dir.path().join("00000000000000000099.index").exists());
    assert!(dir.path().join("unrelated.txt").exists());
}

#[derive(Debug, Clone)]
enum Op {
    /// Batches of (records, timestamp, value length).
    Append(Vec<(usize, i64, usize)>),
    Read(u16, usize),
    DeleteBefore(u16),
    Reopen,
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1usize..5, 0i64..50, 0usize..120), 1..4).prop_map(Op::Append),
        3 => (any::<u16>(), prop_oneof![Just(0usize), 1usize..400, Just(usize::MAX)])
            .prop_map(|(o, m)| Op::Read(o, m)),
        1 => any::<u16>().prop_map(Op::DeleteBefore),
        1 => Just(Op::Reopen),
        1 => Just(Op::Flush),
    ]
}

/// Maps `pick` into `[start - 1, end + 1]`.
fn pick_offset(pick: u16, mem: &MemoryLog) -> i64 {
    let (s, e) = (mem.log_start_offset(), mem.log_end_offset());
    s - 1 + i64::from(pick) % (e - s + 3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_memory_log(
        ops in prop::collection::vec(op(), 1..40),
        segment_bytes in 100u64..700,
        index_interval_bytes in 0u64..300,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = cfg(segment_bytes, index_interval_bytes);
        let mut log = open(dir.path(), &config);
        let mut mem = MemoryLog::new();
        for op in ops {
            match op {
                Op::Append(batches) => {
                    let mut a: Vec<u8> = batches.iter().map(|&(n, ts, v)| batch_v(n, ts, v)).collect::<Vec<_>>().concat();
                    let mut b = a.clone();
                    prop_assert_eq!(log.append(&mut a).unwrap(), mem.append(&mut b).unwrap());
                }
                Op::Read(pick, max) => {
                    let offset = pick_offset(pick, &mem);
                    match (log.read(offset, max), mem.read(offset, max)) {
                        (Ok(f), Ok(m)) => prop_assert_eq!(f.bytes, m.bytes),
                        (Err(LogError::OffsetOutOfRange { .. }), Err(LogError::OffsetOutOfRange { .. })) => {}
                        (f, m) => prop_assert!(false, "read({}, {}): {:?} vs {:?}", offset, max, f, m),
                    }
                }
                Op::DeleteBefore(pick) => {
                    let offset = pick_offset(pick, &mem);
                    match (log.delete_records_before(offset), mem.delete_records_before(offset)) {
                        (Ok(f), Ok(m)) => prop_assert_eq!(f, m),
                        (Err(LogError::OffsetOutOfRange { .. }), Err(LogError::OffsetOutOfRange { .. })) => {}
                        (f, m) => prop_assert!(false, "delete({}): {:?} vs {:?}", offset, f, m),
                    }
                }
                Op::Reopen => {
                    drop(log);
                    log = open(dir.path(), &config);
                }
                Op::Flush => log.flush().unwrap(),
            }
            prop_assert_eq!(log.log_start_offset(), mem.log_start_offset());
            prop_assert_eq!(log.log_end_offset(), mem.log_end_offset());
            prop_assert_eq!(log.max_timestamp(), mem.max_timestamp());
        }
        assert_same(&log, &mem);
        drop(log);
        assert_same(&open(dir.path(), &config), &mem);
    }

    #[test]
    fn damaged_files_never_panic(
        damage in prop::collection::vec((any::<u16>(), any::<u32>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = cfg(400, 60);
        {
            let mut log = open(dir.path(), &config);
            fill(&mut log, &mut MemoryLog::new(), 15);
            log.delete_records_before(3).unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path()).unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        for (file, at, byte, kind) in damage {
            let path = dir.path().join(&names[file as usize % names.len()]);
            let mut bytes = fs::read(&path).unwrap();
            match kind {
                0 if !bytes.is_empty() => { let i = at as usize % bytes.len(); bytes[i] = byte; }
                1 => bytes.truncate(at as usize % (bytes.len() + 1)),
                _ => bytes.extend(std::iter::repeat_n(byte, at as usize % 100)),
            }
            fs::write(&path, bytes).unwrap();
        }
        let Ok(mut log) = FileLog::open(dir.path(), config.clone()) else { return Ok(()) };
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        prop_assert!(start <= end);
        for offset in start..=end {
            let _ = log.read(offset, 100);
        }
        for ts in [0, 1000, 1050, 1100, 2000] {
            let _ = log.offset_for_timestamp(ts);
        }
        let _ = log.for_each_header(&mut |_| {});
        let info = log.append(&mut batch(2, 5000)).unwrap();
        prop_assert_eq!(info.base_offset, end);
        let _ = log.enforce_retention(10_000, 10, 100);
        drop(log);
        let log = open(dir.path(), &config);
        prop_assert_eq!(log.log_end_offset(), end + 2);
    }
}

#[test]
fn index_entries_point_at_batch_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(2000, 150);
    {
        let mut log = open(dir.path(), &config);
        let mut mem = MemoryLog::new();
        for i in 0..8 {
            fill(&mut log, &mut mem, 10);
            log.append(&mut batch(2, 500 + i)).unwrap();
            mem.append(&mut batch(2, 500 + i)).unwrap();
        }
    }
    let log = open(dir.path(), &config);
    assert!(log.segments.len() > 2);
    for seg in &log.segments[..log.segments.len() - 1] {
        assert!(seg.active.is_none(), "older segments are loaded from their index files");
        let bytes = fs::read(seg_path(dir.path(), seg.base, LOG_EXT)).unwrap();
        let batches: Vec<(usize, BatchHeader)> = batch::walk(&bytes).map(Result::unwrap).collect();
        let index = fs::read(seg_path(dir.path(), seg.base, INDEX_EXT)).unwrap();
        // An entry once 150 bytes have passed: at least one per 150 bytes + the largest batch.
        let largest = batches.iter().map(|(_, h)| h.total_len()).max().unwrap();
        assert!(index.len() / 8 >= bytes.len() / (150 + largest) - 1);
        for e in index.chunks(8) {
            let rel = u32::from_be_bytes(e[..4].try_into().unwrap());
            let pos = u32::from_be_bytes(e[4..].try_into().unwrap()) as usize;
            assert!(batches.iter().any(|(p, h)| *p == pos && h.base_offset == seg.base + i64::from(rel)));
        }
        let times = fs::read(seg_path(dir.path(), seg.base, TIME_INDEX_EXT)).unwrap();
        let entries: Vec<(i64, i64)> = times
            .chunks(12)
            .map(|e| {
                let ts = i64::from_be_bytes(e[..8].try_into().unwrap());
                (ts, seg.base + i64::from(u32::from_be_bytes(e[8..].try_into().unwrap())))
            })
            .collect();
        assert!(entries.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        for (ts, off) in &entries {
            let (_, h) = batches.iter().find(|(_, h)| h.last_offset() == *off).unwrap();
            assert_eq!(h.max_timestamp, *ts);
        }
        assert_eq!(entries.last().copied(), seg.stats.max_ts, "last entry is the segment's maximum");
        // Lookups land on the containing batch without falling back to a scan.
        for (p, h) in &batches {
            for offset in h.base_offset..=h.last_offset() {
                let entry = seg.offset_entry(dir.path(), (offset - seg.base) as u64).unwrap();
                let from = entry.map_or(0, |(_, pos)| u64::from(pos));
                let expected = entry.map(|(rel, _)| seg.base + i64::from(rel));
                assert_eq!(seg.find_from(from, expected, offset).unwrap(), Some(*p as u64));
            }
        }
    }
}

#[test]
fn plausible_but_wrong_time_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(400, 1 << 20);
    let mut mem = MemoryLog::new();
    {
        let mut log = open(dir.path(), &config);
        fill(&mut log, &mut mem, 12);
    }
    // The first segment's only time entry names its first batch instead of its maximum.
    let path = dir.path().join("00000000000000000000.timeindex");
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 12);
    let mut wrong = 1000i64.to_be_bytes().to_vec();
    wrong.extend_from_slice(&0u32.to_be_bytes());
    fs::write(&path, wrong).unwrap();
    let log = open(dir.path(), &config);
    assert_same(&log, &mem);
    assert_eq!(fs::read(&path).unwrap(), bytes);
}
