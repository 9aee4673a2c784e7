//! Segment files on disk, laid out as Kafka lays out a partition.
//!
//! # Files (all in the partition's directory)
//! - `<base>.log`: batches exactly as produced (only the base offset is stamped by append), end
//!   to end. `<base>` is the segment's first offset, zero-padded to 20 digits
//!   (`00000000000000000000.log`). A new segment is rolled when the active one would grow past
//!   `segment_bytes` (capped at `i32::MAX`); a batch larger than that goes alone in a segment.
//! - `<base>.index`: the sparse offset index, 8-byte big-endian entries `(relative base offset of
//!   a batch: u32, its position in the .log: u32)`, one every `index_interval_bytes` of data (the
//!   segment's first batch, at position 0, has none). A lookup binary-searches the last entry at
//!   or before the wanted offset, then hops batch headers forward.
//! - `<base>.timeindex`: 12-byte big-endian entries `(largest timestamp so far: i64, relative
//!   last offset of the batch holding it: u32)`, appended at the same points as offset entries
//!   when that maximum changed, plus a final entry with the segment's maximum when it rolls.
//! - `log-start-offset`: the log start offset as decimal text, written (atomically) by
//!   `delete_records_before`, since DeleteRecords may move the start inside a segment. Without it
//!   the start is the first segment's base offset.
//! - `cleaner-checkpoint`: for compacted logs, the clean offset (everything below it has been
//!   compacted) and the earliest delete horizon of the tombstones kept, written atomically after
//!   each compaction round.
//!
//! A new segment is also rolled when a batch's largest timestamp is more than `segment.ms` after
//! the largest timestamp of the active segment's first batch (wall clock time since the segment
//! was created when batches carry no timestamps), as Kafka rolls.
//!
//! The active segment's indexes live in memory and are written to disk on flush and close
//! (incrementally), and atomically (temporary file + rename) when the segment rolls. Older
//! segments' indexes are read from disk on demand (no segment data or old index is held in
//! memory; one file descriptor per segment stays open).
//!
//! # Recovery on open
//! The last segment is always read in full with [`batch::walk`] (CRC-checked); a torn or corrupt
//! tail is truncated at the last valid batch, with a warning. Older segments were fsynced when
//! they rolled: when their index files are present and agree with the log (sizes, last entries,
//! header chain from the last index entry to the end of the file) they are trusted without
//! reading their data, as Kafka does below its recovery point; otherwise they are walked like the
//! last one and their indexes rewritten. Offsets must be continuous: a corrupt older segment is
//! cut at its last valid batch and the segments after it are deleted (warning), as are segments
//! that do not continue their predecessor. Below the clean offset of the `cleaner-checkpoint`
//! compaction leaves gaps: there a batch may start after the previous one's end and a segment
//! after the previous segment's last batch (offsets must still increase). An empty directory is
//! an empty log starting at 0.
//! Lookups check each index entry against the batch header it points at and fall back to
//! scanning the segment; damaged files never cause a panic.
//!
//! # Durability ([`FlushPolicy`])
//! - `Os`: every append is written to the file (`pwrite`) before it returns, so acknowledged data
//!   survives the process being killed; `fsync` happens when a segment rolls, on
//!   `flush` and when the log is dropped.
//! - `EveryAppend`: additionally `fdatasync` before each append returns.
//! - `IntervalMs(n)`: additionally `fdatasync` in an append when `n` ms have passed since the last.
//!
//! If writing or syncing fails, the append is undone (file cut back, rolled segments removed) and
//! the error returned, so the log never holds batches whose append reported an error.
//!
//! # Compaction swap (see [`super::compaction`] for what a round keeps)
//! A round writes each cleaned segment as `<base>.log.cleaned` with its `.index.cleaned` and
//! `.timeindex.cleaned`, fsynced, without the partition lock. The swap, under the lock, first
//! checks that the segments it replaces are still there unchanged (same base, size and inode),
//! then commits by writing the manifest `cleaner-swap` atomically (temporary file, fsync,
//! rename, directory fsync): the new clean offset and, per cleaned segment, its base and the
//! bases of the segments it replaces. It then renames the `.cleaned` files over their final
//! names, deletes the other replaced segments, writes `cleaner-checkpoint`, and removes the
//! manifest. On open, a manifest left by a crash is carried out again (each step is idempotent),
//! and `.cleaned` files without a manifest are deleted: a crash at any point leaves either the
//! old segments or the new ones, never a loss.

use super::{AppendInfo, FlushPolicy, LogConfig, LogError, ReadResult, RollState};
use bytes::Bytes;
use sluice_wire::batch::{self, BatchError, BatchHeader, HEADER_LEN};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

mod clean;
#[cfg(test)]
mod tests;

pub use clean::{FileCleanJob, FileCleanOutput};

const LOG_EXT: &str = "log";
const INDEX_EXT: &str = "index";
const TIME_INDEX_EXT: &str = "timeindex";
const LOG_START_FILE: &str = "log-start-offset";
const CHECKPOINT_FILE: &str = "cleaner-checkpoint";
const SWAP_FILE: &str = "cleaner-swap";
const TMP_SUFFIX: &str = ".tmp";
const CLEANED_SUFFIX: &str = ".cleaned";
const OFFSET_ENTRY: u64 = 8;
const TIME_ENTRY: u64 = 12;
/// Bytes read at a time when walking a segment on open.
const RECOVERY_CHUNK: usize = 1 << 20;
/// Bytes read at a time when hopping batch headers.
const SCAN_CHUNK: usize = 64 << 10;
/// Largest segment: index positions are u32 (Kafka caps `segment.bytes` at `i32::MAX` too).
const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;
/// Largest offset span of one segment (relative offsets are u32).
const MAX_OFFSET_SPAN: i64 = i32::MAX as i64;
/// Largest base offset accepted from a file name or the log start file (keeps offset arithmetic
/// on file content far from overflow).
const MAX_BASE: i64 = i64::MAX / 4;

/// A timestamp and the offset that goes with it.
type TsOffset = (i64, i64);

/// A partition log in segment files under one directory.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    config: LogConfig,
    /// Oldest first, never empty; the last one is the active segment.
    segments: Vec<Segment>,
    start: i64,
    /// Largest timestamp at or after the log start and the last offset of its batch.
    max: Option<TsOffset>,
    /// Data written since the last fsync.
    unsynced: bool,
    last_sync: Instant,
    /// Set by `destroy`, so that drop does not flush.
    closed: bool,
    /// Everything below has been compacted (gaps allowed below it on open).
    clean_offset: i64,
    /// Earliest delete horizon among the tombstones kept by compaction.
    next_horizon: Option<i64>,
    /// A compaction round is in progress.
    cleaning: Arc<AtomicBool>,
    /// A compaction swap failed half-way: the files are right once the log is reopened, the
    /// segments held here still read the old data; no further round until then.
    swap_pending: bool,
}

/// One segment: its .log file handle and what is known about its content.
#[derive(Debug)]
struct Segment {
    base: i64,
    file: File,
    stats: Stats,
    /// The in-memory indexes; `Some` for the active segment only.
    active: Option<ActiveIndex>,
    /// Largest timestamp of the first batch (when known; always for the active segment).
    first_ts: Option<i64>,
    /// When this segment was created or loaded.
    created: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    /// Bytes of valid batches (the file's length).
    size: u64,
    /// Last offset + 1 (the base offset when empty).
    next_offset: i64,
    /// Largest timestamp in the segment and the last offset of its batch (later batches win ties).
    max_ts: Option<TsOffset>,
    /// The same over batches at or after the log start (differs only in the first segment).
    live_max: Option<TsOffset>,
}

#[derive(Debug, Default)]
struct ActiveIndex {
    offsets: Vec<(u32, u32)>,
    times: Vec<(i64, u32)>,
    bytes_since_entry: u64,
    /// Entries already in the index files.
    persisted_offsets: usize,
    persisted_times: usize,
    /// The index files may hold stale entries: rewrite them whole at the next flush.
    rewrite: bool,
}

/// What an append changes, to undo it when I/O fails.
struct Snapshot {
    segments: usize,
    stats: Stats,
    offsets: usize,
    times: usize,
    bytes_since_entry: u64,
    max: Option<TsOffset>,
    first_ts: Option<i64>,
}

/// Whether a batch with max timestamp `ts` replaces `cur` as the maximum. Later batches win ties,
/// as in `MemoryLog::max_timestamp` (`max_by_key`).
fn beats(cur: Option<TsOffset>, ts: i64) -> bool {
    cur.is_none_or(|(m, _)| ts >= m)
}

fn io_err(path: &Path, source: io::Error) -> LogError {
    LogError::Io { path: path.to_path_buf(), source }
}

trait At<T> {
    fn at(self, path: &Path) -> Result<T, LogError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, LogError> {
        self.map_err(|e| io_err(path, e))
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn seg_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// `(base offset, extension)` of a segment file name.
fn parse_name(name: &str) -> Option<(i64, &str)> {
    let (digits, ext) = name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if ![LOG_EXT, INDEX_EXT, TIME_INDEX_EXT].contains(&ext) {
        return None;
    }
    let base: i64 = digits.parse().ok()?;
    (base <= MAX_BASE).then_some((base, ext))
}

/// Writes a whole file through a temporary file and a rename, fsynced.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = tmp_path(path);
    let f = File::create(&tmp).at(&tmp)?;
    f.write_all_at(bytes, 0).at(&tmp)?;
    f.sync_all().at(&tmp)?;
    fs::rename(&tmp, path).at(path)
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

fn remove_if_exists(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

fn remove_segment_files(dir: &Path, base: i64) -> Result<(), LogError> {
    for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
        remove_if_exists(&seg_path(dir, base, ext))?;
    }
    Ok(())
}

fn encode_offsets(entries: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * OFFSET_ENTRY as usize);
    for (rel, pos) in entries {
        out.extend_from_slice(&rel.to_be_bytes());
        out.extend_from_slice(&pos.to_be_bytes());
    }
    out
}

fn encode_times(entries: &[(i64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * TIME_ENTRY as usize);
    for (ts, rel) in entries {
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&rel.to_be_bytes());
    }
    out
}

fn read_offset_entry(f: &File, i: u64) -> io::Result<(u32, u32)> {
    let mut b = [0u8; OFFSET_ENTRY as usize];
    f.read_exact_at(&mut b, i * OFFSET_ENTRY)?;
    Ok((u32::from_be_bytes([b[0], b[1], b[2], b[3]]), u32::from_be_bytes([b[4], b[5], b[6], b[7]])))
}

fn read_time_entry(f: &File, i: u64) -> io::Result<(i64, u32)> {
    let mut b = [0u8; TIME_ENTRY as usize];
    f.read_exact_at(&mut b, i * TIME_ENTRY)?;
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&b[..8]);
    Ok((i64::from_be_bytes(ts), u32::from_be_bytes([b[8], b[9], b[10], b[11]])))
}

/// The last of `n` entries for which `le(entry)` holds, assuming it holds for a prefix; each
/// returned entry has been checked with `le`.
fn search_file<E: Copy>(n: u64, read: impl Fn(u64) -> io::Result<E>, le: impl Fn(&E) -> bool) -> io::Result<Option<E>> {
    let (mut lo, mut hi, mut best) = (0, n, None);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let e = read(mid)?;
        if le(&e) {
            best = Some(e);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(best)
}

/// Opens an index file for a lookup: `None` when missing.
fn open_index(path: &Path, entry: u64) -> io::Result<Option<(File, u64)>> {
    match File::open(path) {
        Ok(f) => {
            let n = f.metadata()?.len() / entry;
            Ok(Some((f, n)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Visits the batch headers laid end to end in `file[from..to]` until `f` breaks. Fails with
/// `InvalidData` on a malformed header or a batch running past `to`. CRCs are not checked.
fn scan_headers(
    file: &File,
    from: u64,
    to: u64,
    mut f: impl FnMut(u64, &BatchHeader) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut buf_at = from;
    let mut pos = from;
    let mut chunk = 8 << 10;
    let mut parsed_since_fill = 2;
    while pos < to {
        if pos < buf_at || pos + HEADER_LEN as u64 > buf_at + buf.len() as u64 {
            if to - pos < HEADER_LEN as u64 {
                return Err(invalid(format!("truncated batch header at position {pos}")));
            }
            // Large batches (one header per fill): read a page; small ones: bigger chunks.
            chunk = if parsed_since_fill <= 1 { 4096 } else { (chunk * 2).min(SCAN_CHUNK) };
            let want = (chunk as u64).min(to - pos).max(HEADER_LEN as u64);
            buf.resize(want as usize, 0);
            file.read_exact_at(&mut buf, pos)?;
            buf_at = pos;
            parsed_since_fill = 0;
        }
        let at = (pos - buf_at) as usize;
        let h =
            BatchHeader::parse(&buf[at..]).map_err(|e| invalid(format!("bad batch header at position {pos}: {e}")))?;
        parsed_since_fill += 1;
        let len = h.total_len() as u64;
        if len < HEADER_LEN as u64 || pos + len > to {
            return Err(invalid(format!("bad batch length {} at position {pos}", h.batch_length)));
        }
        if h.base_offset < 0
            || h.last_offset_delta < 0
            || h.base_offset.checked_add(i64::from(h.last_offset_delta)).is_none()
        {
            return Err(invalid(format!("bad batch offsets at position {pos}")));
        }
        if f(pos, &h).is_break() {
            return Ok(());
        }
        pos += len;
    }
    Ok(())
}

/// Walks `file[..size]` with CRC checks, calling `f` for each valid batch until it refuses one.
/// Returns the end of the valid prefix and, when shorter than `size`, why it stopped.
fn walk_file(
    file: &File,
    size: u64,
    mut f: impl FnMut(u64, &BatchHeader) -> Result<(), String>,
) -> io::Result<(u64, Option<String>)> {
    let mut pos = 0u64;
    let mut want = RECOVERY_CHUNK;
    let mut buf = Vec::new();
    while pos < size {
        let len = (want as u64).min(size - pos) as usize;
        buf.resize(len, 0);
        file.read_exact_at(&mut buf, pos)?;
        let mut w = batch::walk(&buf);
        let mut err = None;
        for item in w.by_ref() {
            match item {
                Ok((at, h)) => {
                    if let Err(why) = f(pos + at as u64, &h) {
                        return Ok((pos + at as u64, Some(why)));
                    }
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        pos += w.position() as u64;
        want = RECOVERY_CHUNK;
        match err {
            None => {}
            // The chunk ended inside a batch that the file holds entirely: read on from it.
            Some(BatchError::Truncated { needed, .. }) if pos + needed as u64 <= size => {
                want = needed.max(RECOVERY_CHUNK);
            }
            Some(e) => return Ok((pos, Some(e.to_string()))),
        }
    }
    Ok((pos, None))
}

impl ActiveIndex {
    fn push_time(&mut self, ts: i64, rel: u32) {
        if self.times.last() != Some(&(ts, rel)) {
            self.times.push((ts, rel));
        }
    }
}

/// Accounts for a batch stored at `pos` of the segment starting at `base`.
fn track(base: i64, stats: &mut Stats, index: Option<&mut ActiveIndex>, pos: u64, h: &BatchHeader, interval: u64) {
    let len = h.total_len() as u64;
    if beats(stats.max_ts, h.max_timestamp) {
        stats.max_ts = Some((h.max_timestamp, h.last_offset()));
    }
    if beats(stats.live_max, h.max_timestamp) {
        stats.live_max = Some((h.max_timestamp, h.last_offset()));
    }
    if let Some(ix) = index {
        if pos > 0 && ix.bytes_since_entry >= interval {
            ix.offsets.push(((h.base_offset - base) as u32, pos as u32));
            if let Some((ts, off)) = stats.max_ts {
                ix.push_time(ts, (off - base) as u32);
            }
            ix.bytes_since_entry = 0;
        }
        ix.bytes_since_entry += len;
    }
    stats.size = pos + len;
    stats.next_offset = h.last_offset() + 1;
}

impl Segment {
    fn empty(base: i64, file: File) -> Self {
        Segment {
            base,
            file,
            stats: Stats { size: 0, next_offset: base, max_ts: None, live_max: None },
            active: Some(ActiveIndex::default()),
            first_ts: None,
            created: Instant::now(),
        }
    }

    /// What rolling needs to know.
    fn roll_state(&self) -> RollState {
        RollState {
            base: self.base,
            size: self.stats.size,
            first_ts: self.first_ts,
            age_ms: self.created.elapsed().as_millis() as u64,
        }
    }

    /// Index entry at or before relative offset `rel`: `(relative offset, position)`.
    fn offset_entry(&self, dir: &Path, rel: u64) -> io::Result<Option<(u32, u32)>> {
        if let Some(ix) = &self.active {
            let k = ix.offsets.partition_point(|e| u64::from(e.0) <= rel);
            return Ok(k.checked_sub(1).map(|k| ix.offsets[k]));
        }
        let Some((f, n)) = open_index(&seg_path(dir, self.base, INDEX_EXT), OFFSET_ENTRY)? else {
            return Ok(None);
        };
        search_file(n, |i| read_offset_entry(&f, i), |e| u64::from(e.0) <= rel)
    }

    /// Last time index entry with a timestamp below `ts`: `(timestamp, relative offset)`.
    fn time_entry_below(&self, dir: &Path, ts: i64) -> io::Result<Option<(i64, u32)>> {
        if let Some(ix) = &self.active {
            let k = ix.times.partition_point(|e| e.0 < ts);
            return Ok(k.checked_sub(1).map(|k| ix.times[k]));
        }
        let path = seg_path(dir, self.base, TIME_INDEX_EXT);
        let Some((f, n)) = open_index(&path, TIME_ENTRY)? else {
            return Ok(None);
        };
        search_file(n, |i| read_time_entry(&f, i), |e| e.0 < ts)
    }

    /// Position of the batch containing `offset` (the segment's size when none does), found
    /// with the offset index and checked against the header the entry points at.
    fn locate(&self, dir: &Path, offset: i64) -> io::Result<u64> {
        if offset >= self.stats.next_offset {
            return Ok(self.stats.size);
        }
        if offset <= self.base {
            return Ok(0);
        }
        let entry = match self.offset_entry(dir, (offset - self.base) as u64) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(segment = %seg_path(dir, self.base, INDEX_EXT).display(), error = %e,
                    "cannot read the offset index; scanning the segment");
                None
            }
        };
        if let Some((rel, pos)) = entry {
            let expected = self.base + i64::from(rel);
            match self.find_from(u64::from(pos), Some(expected), offset) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) | Err(_) => {
                    tracing::warn!(segment = %seg_path(dir, self.base, INDEX_EXT).display(),
                        "offset index entry does not match the log; scanning the segment");
                }
            }
        }
        Ok(self.find_from(0, None, offset)?.unwrap_or(self.stats.size))
    }

    /// Whether the batch ending at the recorded maximum's offset has that maximum timestamp.
    fn holds_max(&self, dir: &Path) -> io::Result<bool> {
        let Some((ts, off)) = self.stats.max_ts else {
            return Ok(self.stats.size == 0);
        };
        let pos = self.locate(dir, off)?;
        let mut ok = false;
        scan_headers(&self.file, pos, self.stats.size, |_, h| {
            ok = h.last_offset() == off && h.max_timestamp == ts;
            ControlFlow::Break(())
        })?;
        Ok(ok)
    }

    /// Hops headers from `from` to the batch containing `offset`. `None` when the first header is
    /// not the batch starting at `expected`.
    fn find_from(&self, from: u64, expected: Option<i64>, offset: i64) -> io::Result<Option<u64>> {
        if from > self.stats.size {
            return Ok(None);
        }
        let mut found = Some(self.stats.size);
        let mut first = true;
        scan_headers(&self.file, from, self.stats.size, |p, h| {
            if first && expected.is_some_and(|e| e != h.base_offset) {
                found = None;
                return ControlFlow::Break(());
            }
            first = false;
            if h.last_offset() >= offset {
                found = Some(p);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }
}

impl FileLog {
    /// Opens (recovering) or creates the log in `dir`.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self, LogError> {
        fs::create_dir_all(dir).at(dir)?;
        clean::recover_swap(dir)?;
        let bases = list_segments(dir)?;
        let persisted_start = read_log_start(dir)?;
        let checkpoint = clean::read_checkpoint(dir)?;
        let clean = checkpoint.map_or(0, |c| c.clean_offset);
        let mut segments: Vec<Segment> = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            // Below the clean offset, compaction may have removed a segment's last batches.
            if let Some(prev) = segments.last()
                && prev.stats.next_offset != base
                && !(prev.base < clean && prev.stats.next_offset < base)
            {
                tracing::warn!(dir = %dir.display(), expected = prev.stats.next_offset, found = base,
                    deleted = bases.len() - i, "log segments are not continuous; deleting the segments from the gap on");
                for &b in &bases[i..] {
                    remove_segment_files(dir, b)?;
                }
                break;
            }
            let is_last = i + 1 == bases.len();
            let (seg, cut) = load_segment(dir, base, &config, !is_last, base < clean)?;
            segments.push(seg);
            if cut && !is_last {
                tracing::warn!(dir = %dir.display(), deleted = bases.len() - i - 1,
                    "a log segment was cut short; deleting the segments after it");
                for &b in &bases[i + 1..] {
                    remove_segment_files(dir, b)?;
                }
                break;
            }
        }
        if segments.is_empty() {
            let base = persisted_start.unwrap_or(0);
            segments.push(create_segment(dir, base)?);
        }
        let last = segments.len() - 1;
        if segments[last].active.is_none() {
            // Loaded as an older segment, then the ones after it were dropped: walk it as the last.
            let base = segments[last].base;
            segments.pop();
            segments.push(load_segment(dir, base, &config, false, base < clean)?.0);
        }
        for seg in &mut segments[..last] {
            finalize_index(dir, seg)?;
            seg.active = None;
        }
        persist_index(dir, &mut segments[last], true)?;

        let end = segments[last].stats.next_offset;
        let first_base = segments[0].base;
        let mut start = persisted_start.unwrap_or(first_base).max(first_base);
        if start > end {
            tracing::warn!(dir = %dir.display(), start, end, "log start offset beyond the log end; using the end");
            start = end;
        }
        let mut log = FileLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            start,
            max: None,
            unsynced: false,
            last_sync: Instant::now(),
            closed: false,
            clean_offset: clean.min(end),
            next_horizon: checkpoint.and_then(|c| c.next_horizon),
            cleaning: Arc::new(AtomicBool::new(false)),
            swap_pending: false,
        };
        log.delete_segments_below_start()?;
        log.refresh_max()?;
        Ok(log)
    }

    fn end(&self) -> i64 {
        self.active().stats.next_offset
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn log_path(&self, seg: &Segment) -> PathBuf {
        seg_path(&self.dir, seg.base, LOG_EXT)
    }

    pub(crate) fn append(&mut self, buf: &mut [u8]) -> Result<AppendInfo, LogError> {
        let mut spans = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let h = batch::validate(&buf[pos..])?;
            spans.push((pos, h));
            pos += h.total_len();
        }
        let base = self.end();
        let mut next = base;
        for (p, h) in &mut spans {
            batch::set_base_offset(&mut buf[*p..], next);
            h.base_offset = next;
            next = h.last_offset() + 1;
        }
        if spans.is_empty() {
            return Ok(AppendInfo { base_offset: base, last_offset: base - 1 });
        }
        let snapshot = self.snapshot();
        if let Err(e) = self.write_batches(buf, &spans) {
            self.revert(snapshot);
            return Err(e);
        }
        let last = self.segments.len() - 1;
        for seg in &mut self.segments[..last] {
            seg.active = None;
        }
        Ok(AppendInfo { base_offset: base, last_offset: next - 1 })
    }

    fn write_batches(&mut self, buf: &[u8], spans: &[(usize, BatchHeader)]) -> Result<(), LogError> {
        let cap = self.config.segment_bytes.min(MAX_SEGMENT_BYTES);
        let segment_ms = self.config.segment_ms;
        let interval = self.config.index_interval_bytes;
        let mut i = 0;
        while i < spans.len() {
            let (_, h) = &spans[i];
            if self.active().roll_state().must_roll(
                h.total_len() as u64,
                h.last_offset(),
                h.max_timestamp,
                cap,
                segment_ms,
            ) {
                self.roll(h.base_offset)?;
            }
            let seg = self.segments.last_mut().expect("segments are never empty");
            if seg.stats.size == 0 {
                seg.first_ts = Some(h.max_timestamp);
            }
            let mut state = seg.roll_state();
            state.size += h.total_len() as u64;
            let mut j = i + 1;
            while let Some((_, h)) = spans.get(j) {
                let len = h.total_len() as u64;
                if state.must_roll(len, h.last_offset(), h.max_timestamp, cap, segment_ms) {
                    break;
                }
                state.size += len;
                j += 1;
            }
            let from = spans[i].0;
            let to = spans[j - 1].0 + spans[j - 1].1.total_len();
            let at = seg.stats.size;
            seg.file
                .write_all_at(&buf[from..to], at)
                .map_err(|e| io_err(&seg_path(&self.dir, seg.base, LOG_EXT), e))?;
            for (p, h) in &spans[i..j] {
                track(seg.base, &mut seg.stats, seg.active.as_mut(), at + (p - from) as u64, h, interval);
                if beats(self.max, h.max_timestamp) {
                    self.max = Some((h.max_timestamp, h.last_offset()));
                }
            }
            i = j;
        }
        self.unsynced = true;
        match self.config.flush {
            FlushPolicy::Os => Ok(()),
            FlushPolicy::EveryAppend => self.sync(),
            FlushPolicy::IntervalMs(ms) if self.last_sync.elapsed() >= Duration::from_millis(ms) => self.sync(),
            FlushPolicy::IntervalMs(_) => Ok(()),
        }
    }

    fn sync(&mut self) -> Result<(), LogError> {
        let seg = self.active();
        seg.file.sync_data().at(&self.log_path(seg))?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let seg = self.active();
        let ix = seg.active.as_ref();
        Snapshot {
            segments: self.segments.len(),
            stats: seg.stats,
            offsets: ix.map_or(0, |ix| ix.offsets.len()),
            times: ix.map_or(0, |ix| ix.times.len()),
            bytes_since_entry: ix.map_or(0, |ix| ix.bytes_since_entry),
            max: self.max,
            first_ts: seg.first_ts,
        }
    }

    /// Undoes a failed append (best effort: failures here are logged).
    fn revert(&mut self, s: Snapshot) {
        while self.segments.len() > s.segments {
            let seg = self.segments.pop().expect("more segments than the snapshot");
            drop(seg.file);
            if let Err(e) = remove_segment_files(&self.dir, seg.base) {
                tracing::warn!(error = %e, "cannot remove a segment rolled by a failed append");
            }
        }
        let seg = self.segments.last_mut().expect("segments are never empty");
        seg.stats = s.stats;
        seg.first_ts = s.first_ts;
        if let Err(e) = seg.file.set_len(s.stats.size) {
            tracing::warn!(path = %seg_path(&self.dir, seg.base, LOG_EXT).display(), error = %e,
                "cannot cut back a failed append");
        }
        if let Some(ix) = seg.active.as_mut() {
            ix.offsets.truncate(s.offsets);
            ix.times.truncate(s.times);
            ix.bytes_since_entry = s.bytes_since_entry;
            ix.persisted_offsets = 0;
            ix.persisted_times = 0;
            ix.rewrite = true;
        }
        self.max = s.max;
    }

    /// Closes the active segment (final time index entry, index files, fsync) and starts a new
    /// one at `base`.
    fn roll(&mut self, base: i64) -> Result<(), LogError> {
        let seg = self.segments.last_mut().expect("segments are never empty");
        let path = seg_path(&self.dir, seg.base, LOG_EXT);
        seg.file.set_len(seg.stats.size).at(&path)?;
        seg.file.sync_data().at(&path)?;
        finalize_index(&self.dir, seg)?;
        let new = create_segment(&self.dir, base)?;
        sync_dir(&self.dir)?;
        self.segments.push(new);
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    pub(crate) fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, LogError> {
        let end = self.end();
        if offset < self.start || offset > end {
            return Err(LogError::OffsetOutOfRange { offset, start: self.start, end });
        }
        if offset == end {
            return Ok(ReadResult::default());
        }
        let mut i = self.segments.partition_point(|s| s.base <= offset).saturating_sub(1);
        let mut pos = {
            let seg = &self.segments[i];
            seg.locate(&self.dir, offset).at(&self.log_path(seg))?
        };
        let mut out: Vec<u8> = Vec::new();
        while let Some(seg) = self.segments.get(i) {
            let remaining = seg.stats.size.saturating_sub(pos);
            if remaining > 0 {
                let budget = max_bytes.saturating_sub(out.len()) as u64;
                let whole = remaining <= budget;
                if !whole && !out.is_empty() && budget < HEADER_LEN as u64 {
                    break;
                }
                let n = if whole { remaining } else { budget.max(HEADER_LEN as u64).min(remaining) };
                let path = self.log_path(seg);
                let old = out.len();
                out.resize(old + n as usize, 0);
                seg.file.read_exact_at(&mut out[old..], pos).at(&path)?;
                if !whole {
                    self.keep_whole_batches(seg, pos, old, &mut out).at(&path)?;
                    break;
                }
            }
            i += 1;
            pos = 0;
        }
        Ok(ReadResult { bytes: Bytes::from(out) })
    }

    /// `out[old..]` holds bytes read from `pos`: cuts them to whole batches, or completes the first
    /// batch when `out` had nothing before and it does not fit.
    fn keep_whole_batches(&self, seg: &Segment, pos: u64, old: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let mut p = old;
        let mut first_len = None;
        while p + HEADER_LEN <= out.len() {
            let h = BatchHeader::parse(&out[p..]).map_err(|e| invalid(e.to_string()))?;
            let len = h.total_len();
            if len < HEADER_LEN {
                return Err(invalid(format!("bad batch length {}", h.batch_length)));
            }
            first_len.get_or_insert(len);
            if p + len > out.len() {
                break;
            }
            p += len;
        }
        if p == old && old == 0 {
            // Not even one whole batch fits: return the first one anyway.
            let len = first_len.ok_or_else(|| invalid("truncated batch header"))?;
            if pos + len as u64 > seg.stats.size {
                return Err(invalid("batch runs past the end of the segment"));
            }
            let have = out.len();
            out.resize(len, 0);
            seg.file.read_exact_at(&mut out[have..], pos + have as u64)?;
            return Ok(());
        }
        out.truncate(p);
        Ok(())
    }

    pub(crate) fn log_start_offset(&self) -> i64 {
        self.start
    }

    pub(crate) fn log_end_offset(&self) -> i64 {
        self.end()
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.stats.size).sum()
    }

    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in &self.segments {
            if seg.stats.live_max.is_none_or(|(m, _)| m < timestamp) {
                continue;
            }
            let path = self.log_path(seg);
            let live_from = seg.base.max(self.start);
            // Every batch up to the one holding a time index entry below `timestamp` is below it.
            let entry = match seg.time_entry_below(&self.dir, timestamp) {
                Ok(e) => e.map(|(ts, rel)| (ts, seg.base + i64::from(rel))),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the time index");
                    None
                }
            };
            let mut found = None;
            if let Some((ts, off)) = entry.filter(|&(_, off)| off > live_from) {
                let pos = seg.locate(&self.dir, off).at(&path)?;
                match self.first_at_or_after(seg, pos, Some(ts), timestamp) {
                    Ok(Some(r)) => found = r,
                    Ok(None) | Err(_) => tracing::warn!(path = %path.display(),
                        "time index entry does not match the log; scanning the segment"),
                }
            }
            if found.is_none() {
                let pos = seg.locate(&self.dir, live_from).at(&path)?;
                found = self.first_at_or_after(seg, pos, None, timestamp).at(&path)?.flatten();
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// From `pos`, the first live batch with max timestamp >= `timestamp`. `Ok(None)` when the
    /// first header's max timestamp is not `expected_ts`.
    fn first_at_or_after(
        &self,
        seg: &Segment,
        pos: u64,
        expected_ts: Option<i64>,
        timestamp: i64,
    ) -> io::Result<Option<Option<TsOffset>>> {
        let mut found = Some(None);
        let mut first = true;
        scan_headers(&seg.file, pos, seg.stats.size, |_, h| {
            if first && expected_ts.is_some_and(|t| t != h.max_timestamp) {
                found = None;
                return ControlFlow::Break(());
            }
            first = false;
            if h.last_offset() >= self.start && h.max_timestamp >= timestamp {
                found = Some(Some((h.base_offset.max(self.start), h.max_timestamp)));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    pub(crate) fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.max
    }

    pub(crate) fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let end = self.end();
        if offset > end {
            return Err(LogError::OffsetOutOfRange { offset, start: self.start, end });
        }
        if offset > self.start {
            let path = self.dir.join(LOG_START_FILE);
            write_atomic(&path, format!("{offset}\n").as_bytes())?;
            sync_dir(&self.dir)?;
            self.start = offset;
            self.delete_segments_below_start()?;
            self.refresh_max()?;
        }
        Ok(self.start)
    }

    /// Deletes the older segments whose offset range lies below the log start. The range ends
    /// at the next segment's base (as Kafka decides), not at the last batch: a segment emptied by
    /// compaction at the start offset stays, so the start offset does not move on reopen.
    fn delete_segments_below_start(&mut self) -> Result<(), LogError> {
        let last = self.segments.len() - 1;
        let n = (0..last).take_while(|&i| self.segments[i + 1].base <= self.start).count();
        self.delete_oldest(n)
    }

    /// Deletes the `n` oldest segments (files first, then from memory).
    fn delete_oldest(&mut self, n: usize) -> Result<(), LogError> {
        let mut done = 0;
        let mut result = Ok(());
        for seg in &self.segments[..n] {
            if let Err(e) = remove_segment_files(&self.dir, seg.base) {
                result = Err(e);
                break;
            }
            done += 1;
        }
        self.segments.drain(..done);
        result
    }

    /// Recomputes the first segment's live maximum (it may hold batches below the log start) and
    /// the log's maximum timestamp.
    fn refresh_max(&mut self) -> Result<(), LogError> {
        let start = self.start;
        let seg = &self.segments[0];
        let live = if seg.stats.next_offset <= start {
            None
        } else {
            match seg.stats.max_ts {
                Some((_, off)) if off < start => {
                    let path = self.log_path(seg);
                    let pos = seg.locate(&self.dir, start).at(&path)?;
                    let mut live = None;
                    scan_headers(&seg.file, pos, seg.stats.size, |_, h| {
                        if h.last_offset() >= start && beats(live, h.max_timestamp) {
                            live = Some((h.max_timestamp, h.last_offset()));
                        }
                        ControlFlow::Continue(())
                    })
                    .at(&path)?;
                    live
                }
                m => m,
            }
        };
        self.segments[0].stats.live_max = live;
        self.max = None;
        for seg in &self.segments {
            if let Some((ts, off)) = seg.stats.live_max
                && beats(self.max, ts)
            {
                self.max = Some((ts, off));
            }
        }
        Ok(())
    }

    pub(crate) fn enforce_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<usize, LogError> {
        let mut total = self.size_bytes();
        let mut n = 0;
        while n + 1 < self.segments.len() {
            let s = &self.segments[n].stats;
            let too_old = retention_ms >= 0 && s.max_ts.is_none_or(|(ts, _)| now_ms.saturating_sub(ts) > retention_ms);
            let too_big = retention_bytes >= 0 && total > retention_bytes as u64;
            if !(too_old || too_big) {
                break;
            }
            total -= s.size;
            n += 1;
        }
        if n > 0 {
            let result = self.delete_oldest(n);
            self.start = self.start.max(self.segments[0].base);
            self.refresh_max()?;
            result?;
        }
        Ok(n)
    }

    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        let last = self.segments.len() - 1;
        persist_index(&self.dir, &mut self.segments[last], false)?;
        if self.unsynced {
            self.sync()?;
        }
        Ok(())
    }

    pub(crate) fn for_each_header(&self, f: &mut dyn FnMut(&BatchHeader)) -> Result<(), LogError> {
        for seg in &self.segments {
            if seg.stats.next_offset <= self.start {
                continue;
            }
            let path = self.log_path(seg);
            let from = if seg.base < self.start { seg.locate(&self.dir, self.start).at(&path)? } else { 0 };
            scan_headers(&seg.file, from, seg.stats.size, |_, h| {
                if h.last_offset() >= self.start {
                    f(h);
                }
                ControlFlow::Continue(())
            })
            .at(&path)?;
        }
        Ok(())
    }

    pub(crate) fn destroy(mut self) -> Result<(), LogError> {
        self.closed = true;
        self.segments.clear();
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&self.dir, e)),
            _ => Ok(()),
        }
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        if !self.closed
            && let Err(e) = self.flush()
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "flushing the log on close failed");
        }
    }
}

/// Base offsets of the segments in `dir`, sorted; removes temporary and orphaned index files.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.ends_with(TMP_SUFFIX) {
            remove_if_exists(&path)?;
            continue;
        }
        match parse_name(name) {
            Some((base, LOG_EXT)) => logs.push(base),
            Some((base, _)) => indexes.push((base, path)),
            None => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            tracing::warn!(path = %path.display(), "removing an index file without its log segment");
            remove_if_exists(&path)?;
        }
    }
    Ok(logs)
}

fn read_log_start(dir: &Path) -> Result<Option<i64>, LogError> {
    let path = dir.join(LOG_START_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => match s.trim().parse::<i64>() {
            Ok(v) if (0..=MAX_BASE).contains(&v) => Ok(Some(v)),
            _ => {
                tracing::warn!(path = %path.display(), "ignoring an unreadable log start offset file");
                Ok(None)
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::warn!(path = %path.display(), "ignoring an unreadable log start offset file");
            Ok(None)
        }
        Err(e) => Err(io_err(&path, e)),
    }
}

/// A new empty segment file (replacing any leftover with that name).
fn create_segment(dir: &Path, base: i64) -> Result<Segment, LogError> {
    let path = seg_path(dir, base, LOG_EXT);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).at(&path)?;
    remove_if_exists(&seg_path(dir, base, INDEX_EXT))?;
    remove_if_exists(&seg_path(dir, base, TIME_INDEX_EXT))?;
    Ok(Segment::empty(base, file))
}

/// Opens a segment: from its index files when `trust_indexes` and they agree with the log,
/// otherwise by walking it (the in-memory indexes are then rebuilt and `active` is `Some`).
/// Returns whether the file was cut short.
/// `gaps`: batches may start after the previous one's end (a compacted segment).
fn load_segment(
    dir: &Path,
    base: i64,
    config: &LogConfig,
    trust_indexes: bool,
    gaps: bool,
) -> Result<(Segment, bool), LogError> {
    let path = seg_path(dir, base, LOG_EXT);
    let file = OpenOptions::new().read(true).write(true).open(&path).at(&path)?;
    let size = file.metadata().at(&path)?.len();
    let mut file = file;
    if trust_indexes {
        match load_indexed(dir, base, &file, size, gaps) {
            Ok(Some((next_offset, max_ts))) => {
                let stats = Stats { size, next_offset, max_ts, live_max: max_ts };
                let seg = Segment { base, file, stats, active: None, first_ts: None, created: Instant::now() };
                // The time index's last entry must be the batch holding the segment's maximum.
                match seg.holds_max(dir) {
                    Ok(true) => return Ok((seg, false)),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::debug!(path = %path.display(), error = %e, "index check failed")
                    }
                }
                file = seg.file;
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "index check failed"),
        }
        tracing::warn!(path = %path.display(), "index files missing or inconsistent; rebuilding them from the log");
    }
    let mut stats = Stats { size: 0, next_offset: base, max_ts: None, live_max: None };
    let mut index = ActiveIndex::default();
    let mut first_ts = None;
    let interval = config.index_interval_bytes;
    let (valid, why) = walk_file(&file, size, |pos, h| {
        let len = h.total_len() as u64;
        if h.base_offset < stats.next_offset || (!gaps && h.base_offset != stats.next_offset) {
            return Err(format!("batch at offset {} where {} was expected", h.base_offset, stats.next_offset));
        }
        if pos > 0 && (h.last_offset() - base > MAX_OFFSET_SPAN || pos + len > MAX_SEGMENT_BYTES) {
            return Err("segment larger than an index can address".into());
        }
        first_ts.get_or_insert(h.max_timestamp);
        track(base, &mut stats, Some(&mut index), pos, h, interval);
        Ok(())
    })
    .at(&path)?;
    let cut = valid < size;
    if cut {
        tracing::warn!(path = %path.display(), cut_bytes = size - valid, valid_bytes = valid,
            reason = why.as_deref().unwrap_or(""), "truncating the log segment's torn or corrupt tail");
        file.set_len(valid).at(&path)?;
        file.sync_all().at(&path)?;
    }
    Ok((Segment { base, file, stats, active: Some(index), first_ts, created: Instant::now() }, cut))
}

/// Checks an older segment's index files against its log: `(next offset, max timestamp)` when
/// they agree, `None` when the segment must be walked.
fn load_indexed(
    dir: &Path,
    base: i64,
    file: &File,
    size: u64,
    gaps: bool,
) -> io::Result<Option<(i64, Option<TsOffset>)>> {
    let Some((index, n_offsets)) = open_index(&seg_path(dir, base, INDEX_EXT), OFFSET_ENTRY)? else {
        return Ok(None);
    };
    let Some((times, n_times)) = open_index(&seg_path(dir, base, TIME_INDEX_EXT), TIME_ENTRY)? else {
        return Ok(None);
    };
    if index.metadata()?.len() % OFFSET_ENTRY != 0 || times.metadata()?.len() % TIME_ENTRY != 0 {
        return Ok(None);
    }
    if size == 0 {
        return Ok((n_offsets == 0 && n_times == 0).then_some((base, None)));
    }
    if n_times == 0 {
        return Ok(None);
    }
    let (from, mut expected) = match n_offsets {
        0 => (0, base),
        n => {
            let (rel, pos) = read_offset_entry(&index, n - 1)?;
            (u64::from(pos), base + i64::from(rel))
        }
    };
    let (ts, rel) = read_time_entry(&times, n_times - 1)?;
    let max = (ts, base + i64::from(rel));
    if from >= size || from + HEADER_LEN as u64 > size {
        return Ok(None);
    }
    let mut ok = true;
    scan_headers(file, from, size, |_, h| {
        if h.base_offset < expected
            || (!gaps && h.base_offset != expected)
            || h.last_offset() - base > MAX_OFFSET_SPAN
            || h.max_timestamp > max.0
            || (h.max_timestamp == max.0 && h.last_offset() > max.1)
        {
            ok = false;
            return ControlFlow::Break(());
        }
        expected = h.last_offset() + 1;
        ControlFlow::Continue(())
    })?;
    Ok((ok && max.1 >= base && max.1 < expected).then_some((expected, Some(max))))
}

/// Adds the final time index entry and writes both index files atomically.
fn finalize_index(dir: &Path, seg: &mut Segment) -> Result<(), LogError> {
    let Some(ix) = seg.active.as_mut() else {
        return Ok(());
    };
    if let Some((ts, off)) = seg.stats.max_ts {
        ix.push_time(ts, (off - seg.base) as u32);
    }
    write_atomic(&seg_path(dir, seg.base, INDEX_EXT), &encode_offsets(&ix.offsets))?;
    write_atomic(&seg_path(dir, seg.base, TIME_INDEX_EXT), &encode_times(&ix.times))?;
    ix.persisted_offsets = ix.offsets.len();
    ix.persisted_times = ix.times.len();
    ix.rewrite = false;
    Ok(())
}

/// Writes the active segment's index entries not yet on disk (all of them when `full`).
fn persist_index(dir: &Path, seg: &mut Segment, full: bool) -> Result<(), LogError> {
    let Some(ix) = seg.active.as_mut() else {
        return Ok(());
    };
    let full = full || ix.rewrite;
    if full {
        ix.persisted_offsets = 0;
        ix.persisted_times = 0;
    }
    if full || ix.persisted_offsets < ix.offsets.len() {
        let from = ix.persisted_offsets;
        let bytes = encode_offsets(&ix.offsets[from..]);
        write_tail(&seg_path(dir, seg.base, INDEX_EXT), &bytes, from as u64 * OFFSET_ENTRY)?;
        ix.persisted_offsets = ix.offsets.len();
    }
    if full || ix.persisted_times < ix.times.len() {
        let from = ix.persisted_times;
        let bytes = encode_times(&ix.times[from..]);
        write_tail(&seg_path(dir, seg.base, TIME_INDEX_EXT), &bytes, from as u64 * TIME_ENTRY)?;
        ix.persisted_times = ix.times.len();
    }
    ix.rewrite = false;
    Ok(())
}

fn write_tail(path: &Path, bytes: &[u8], at: u64) -> Result<(), LogError> {
    let f = OpenOptions::new().write(true).create(true).truncate(false).open(path).at(path)?;
    f.write_all_at(bytes, at).at(path)?;
    f.set_len(at + bytes.len() as u64).at(path)
}
