//! Compaction of a [`FileLog`]: planning under the lock, writing `.cleaned` segments without it,
//! the crash-safe swap, and its recovery on open (the protocol is described in [`super`]).

use super::*;
use crate::log::compaction::{
    self, BatchVisitor, Busy, CleanConfig, CleanOutcome, LogView, Plan, Round, RoundResult, RoundSegments, RoundSink,
    SegmentInfo,
};
use std::ops::Range;
use std::os::unix::fs::MetadataExt;

/// Bytes buffered before a cleaned segment's data is written.
const WRITE_CHUNK: usize = 1 << 20;

/// `path` + `.cleaned`.
fn cleaned_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(CLEANED_SUFFIX);
    PathBuf::from(s)
}

/// The content of `cleaner-checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpoint {
    pub(super) clean_offset: i64,
    pub(super) next_horizon: Option<i64>,
}

impl Checkpoint {
    fn encode(&self) -> String {
        let horizon = self.next_horizon.map_or("none".to_string(), |h| h.to_string());
        format!("clean-offset {}\nnext-horizon {horizon}\n", self.clean_offset)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut clean_offset = None;
        let mut next_horizon = None;
        for line in text.lines() {
            match line.split_once(' ')? {
                ("clean-offset", v) => {
                    clean_offset = Some(v.trim().parse::<i64>().ok().filter(|v| (0..=MAX_BASE).contains(v))?)
                }
                ("next-horizon", "none") => next_horizon = Some(None),
                ("next-horizon", v) => next_horizon = Some(Some(v.trim().parse::<i64>().ok()?)),
                _ => return None,
            }
        }
        Some(Checkpoint { clean_offset: clean_offset?, next_horizon: next_horizon? })
    }
}

/// Reads `cleaner-checkpoint`; a damaged one is ignored with a warning (the next round then
/// cleans the whole log again, which is safe).
pub(super) fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, LogError> {
    let path = dir.join(CHECKPOINT_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => {
            let c = Checkpoint::parse(&s);
            if c.is_none() {
                tracing::warn!(path = %path.display(), "ignoring an unreadable cleaner checkpoint");
            }
            Ok(c)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::warn!(path = %path.display(), "ignoring an unreadable cleaner checkpoint");
            Ok(None)
        }
        Err(e) => Err(io_err(&path, e)),
    }
}

/// The commit record of a swap (`cleaner-swap`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Manifest {
    checkpoint: Checkpoint,
    /// (base of the cleaned segment, bases of the segments it replaces).
    groups: Vec<(i64, Vec<i64>)>,
}

const MANIFEST_HEADER: &str = "sluice-cleaner-swap 1";

impl Manifest {
    fn encode(&self) -> String {
        let mut s = format!("{MANIFEST_HEADER}\n{}", self.checkpoint.encode());
        for (base, old) in &self.groups {
            s.push_str(&format!("group {base}"));
            for o in old {
                s.push_str(&format!(" {o}"));
            }
            s.push('\n');
        }
        s
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != MANIFEST_HEADER {
            return None;
        }
        let mut checkpoint_text = String::new();
        let mut groups = Vec::new();
        let offset = |v: &str| v.parse::<i64>().ok().filter(|v| (0..=MAX_BASE).contains(v));
        for line in lines {
            if let Some(rest) = line.strip_prefix("group ") {
                let mut it = rest.split(' ');
                let base = offset(it.next()?)?;
                let old = it.map(offset).collect::<Option<Vec<_>>>()?;
                if !old.contains(&base) {
                    return None;
                }
                groups.push((base, old));
            } else {
                checkpoint_text.push_str(line);
                checkpoint_text.push('\n');
            }
        }
        Some(Manifest { checkpoint: Checkpoint::parse(&checkpoint_text)?, groups })
    }
}

/// Carries out a committed swap: renames the `.cleaned` files into place, deletes the replaced
/// segments, writes the checkpoint, removes the manifest. Every step can be repeated. Stops
/// after `crash_after` steps when given (tests simulate a crash there); returns whether it
/// finished.
fn apply_swap(dir: &Path, m: &Manifest, crash_after: Option<usize>) -> Result<bool, LogError> {
    let mut step = 0;
    let mut stop = || {
        step += 1;
        crash_after.is_some_and(|c| step >= c)
    };
    for (base, old) in &m.groups {
        // The log last: until it is renamed, its old index files are rebuilt if they do not match.
        for ext in [INDEX_EXT, TIME_INDEX_EXT, LOG_EXT] {
            let target = seg_path(dir, *base, ext);
            let cleaned = cleaned_path(&target);
            match fs::rename(&cleaned, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&cleaned, e)),
            }
            if stop() {
                return Ok(false);
            }
        }
        for &o in old.iter().filter(|&&o| o != *base) {
            remove_segment_files(dir, o)?;
            if stop() {
                return Ok(false);
            }
        }
    }
    write_atomic(&dir.join(CHECKPOINT_FILE), m.checkpoint.encode().as_bytes())?;
    if stop() {
        return Ok(false);
    }
    sync_dir(dir)?;
    remove_if_exists(&dir.join(SWAP_FILE))?;
    sync_dir(dir)?;
    Ok(true)
}

/// On open: finishes a swap whose manifest was committed, and deletes the `.cleaned` files of a
/// round that was not.
pub(super) fn recover_swap(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(SWAP_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match Manifest::parse(&text) {
            Some(m) => {
                tracing::warn!(dir = %dir.display(), segments = m.groups.len(),
                    "finishing a compaction swap interrupted by a crash");
                apply_swap(dir, &m, None)?;
            }
            None => {
                tracing::warn!(path = %path.display(), "removing an unreadable compaction swap manifest");
                remove_if_exists(&path)?;
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::warn!(path = %path.display(), "removing an unreadable compaction swap manifest");
            remove_if_exists(&path)?;
        }
        Err(e) => return Err(io_err(&path, e)),
    }
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if entry.file_name().to_str().is_some_and(|n| n.ends_with(CLEANED_SUFFIX)) {
            let path = entry.path();
            tracing::info!(path = %path.display(), "removing a cleaned segment of a compaction round that did not finish");
            remove_if_exists(&path)?;
        }
    }
    Ok(())
}

/// A closed segment as a round sees it: its own file handle (closed segments are immutable).
#[derive(Debug)]
struct Snapshot {
    base: i64,
    size: u64,
    /// The next segment's base (or the uncleanable offset).
    end: i64,
    file: File,
    /// (device, inode) of the file, to tell it from another file at the same path later.
    id: (u64, u64),
}

/// A planned compaction round of a [`FileLog`].
#[derive(Debug)]
pub struct FileCleanJob {
    dir: PathBuf,
    segments: Vec<Snapshot>,
    plan: Plan,
    start: i64,
    config: CleanConfig,
    now: i64,
    cap: u64,
    interval: u64,
    clean_offset: i64,
    busy: Busy,
}

/// A cleaned segment written by a round.
#[derive(Debug)]
struct Built {
    base: i64,
    old: Range<usize>,
    stats: Stats,
}

/// The `.cleaned` segments of a [`FileCleanJob`], waiting to be swapped in; removed if dropped
/// without a swap.
#[derive(Debug)]
pub struct FileCleanOutput {
    dir: PathBuf,
    /// (base, size, id) of the planned segments.
    planned: Vec<(i64, u64, (u64, u64))>,
    built: Vec<Built>,
    result: RoundResult,
    clean_offset: i64,
    files: Vec<PathBuf>,
    committed: bool,
    #[allow(dead_code)]
    busy: Busy,
}

impl Drop for FileCleanOutput {
    fn drop(&mut self) {
        if !self.committed {
            for f in &self.files {
                if let Err(e) = remove_if_exists(f) {
                    tracing::warn!(error = %e, "cannot remove a cleaned segment file of an abandoned round");
                }
            }
        }
    }
}

fn file_id(m: &fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl RoundSegments for FileCleanJob {
    fn count(&self) -> usize {
        self.segments.len()
    }

    fn info(&self, i: usize) -> (i64, u64, i64) {
        let s = &self.segments[i];
        (s.base, s.size, s.end)
    }

    fn visit_headers(&self, i: usize, f: &mut dyn FnMut(&BatchHeader)) -> Result<(), LogError> {
        let s = &self.segments[i];
        scan_headers(&s.file, 0, s.size, |_, h| {
            f(h);
            ControlFlow::Continue(())
        })
        .at(&seg_path(&self.dir, s.base, LOG_EXT))
    }

    fn visit(&self, i: usize, f: &mut BatchVisitor<'_>) -> Result<(), LogError> {
        let s = &self.segments[i];
        let path = seg_path(&self.dir, s.base, LOG_EXT);
        let mut pos = 0u64;
        let mut want = RECOVERY_CHUNK;
        let mut buf = Vec::new();
        while pos < s.size {
            let len = (want as u64).min(s.size - pos) as usize;
            buf.resize(len, 0);
            s.file.read_exact_at(&mut buf, pos).at(&path)?;
            let mut w = batch::walk(&buf);
            let mut err = None;
            for item in w.by_ref() {
                match item {
                    Ok((at, h)) => f(&h, &buf[at..at + h.total_len()])?,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            let at = pos + w.position() as u64;
            want = RECOVERY_CHUNK;
            match err {
                None => {}
                // The chunk ended inside a batch that the file holds entirely: read on from it.
                Some(BatchError::Truncated { needed, .. }) if at + needed as u64 <= s.size => {
                    want = needed.max(RECOVERY_CHUNK)
                }
                Some(e) => {
                    return Err(io_err(
                        &path,
                        invalid(format!("corrupt batch at position {at} of a closed segment: {e}")),
                    ));
                }
            }
            pos = at;
        }
        Ok(())
    }
}

/// Writes cleaned segments as `.cleaned` files.
struct Sink<'a> {
    dir: &'a Path,
    interval: u64,
    current: Option<Building>,
    built: Vec<Built>,
    files: Vec<PathBuf>,
}

struct Building {
    base: i64,
    old: Range<usize>,
    file: File,
    path: PathBuf,
    stats: Stats,
    index: ActiveIndex,
    buf: Vec<u8>,
    written: u64,
}

impl Building {
    fn flush(&mut self) -> Result<(), LogError> {
        self.file.write_all_at(&self.buf, self.written).at(&self.path)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let f = File::create(path).at(path)?;
    f.write_all_at(bytes, 0).at(path)?;
    f.sync_all().at(path)
}

impl RoundSink for Sink<'_> {
    fn begin(&mut self, base: i64, old: Range<usize>) -> Result<(), LogError> {
        let path = cleaned_path(&seg_path(self.dir, base, LOG_EXT));
        self.files.push(path.clone());
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).at(&path)?;
        self.current = Some(Building {
            base,
            old,
            file,
            path,
            stats: Stats { size: 0, next_offset: base, max_ts: None, live_max: None },
            index: ActiveIndex::default(),
            buf: Vec::new(),
            written: 0,
        });
        Ok(())
    }

    fn batch(&mut self, h: &BatchHeader, bytes: &[u8]) -> Result<(), LogError> {
        let Some(b) = self.current.as_mut() else { return Ok(()) };
        let pos = b.stats.size;
        track(b.base, &mut b.stats, Some(&mut b.index), pos, h, self.interval);
        b.buf.extend_from_slice(bytes);
        if b.buf.len() >= WRITE_CHUNK {
            b.flush()?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), LogError> {
        let Some(mut b) = self.current.take() else { return Ok(()) };
        b.flush()?;
        b.file.sync_all().at(&b.path)?;
        if let Some((ts, off)) = b.stats.max_ts {
            b.index.push_time(ts, (off - b.base) as u32);
        }
        for (ext, bytes) in
            [(INDEX_EXT, encode_offsets(&b.index.offsets)), (TIME_INDEX_EXT, encode_times(&b.index.times))]
        {
            let path = cleaned_path(&seg_path(self.dir, b.base, ext));
            self.files.push(path.clone());
            write_synced(&path, &bytes)?;
        }
        let stats = Stats { live_max: b.stats.max_ts, ..b.stats };
        self.built.push(Built { base: b.base, old: b.old, stats });
        Ok(())
    }
}

impl FileCleanJob {
    pub(crate) fn run(self, on_segment: &mut dyn FnMut(usize)) -> Result<FileCleanOutput, LogError> {
        let mut sink =
            Sink { dir: &self.dir, interval: self.interval, current: None, built: Vec::new(), files: Vec::new() };
        let round = Round { plan: &self.plan, start: self.start, config: &self.config, now: self.now, cap: self.cap };
        let result =
            compaction::run_round(&self, round, &mut sink, on_segment).and_then(|r| sync_dir(&self.dir).map(|()| r));
        let Sink { built, files, .. } = sink;
        let planned = self.segments.iter().map(|s| (s.base, s.size, s.id)).collect();
        let mut output = FileCleanOutput {
            dir: self.dir,
            planned,
            built,
            result: RoundResult { clean_offset: self.clean_offset, next_horizon: None, stats: Default::default() },
            clean_offset: self.clean_offset,
            files,
            committed: false,
            busy: self.busy,
        };
        // On error, dropping the output removes what was written.
        output.result = result?;
        Ok(output)
    }
}

impl FileLog {
    pub(crate) fn clean_offset(&self) -> i64 {
        self.clean_offset
    }

    pub(crate) fn prepare_clean(&mut self, config: &CleanConfig, now: i64) -> Result<Option<FileCleanJob>, LogError> {
        if self.swap_pending {
            return Ok(None);
        }
        let Some(busy) = Busy::claim(&self.cleaning) else { return Ok(None) };
        let last = self.segments.len() - 1;
        let closed: Vec<SegmentInfo> = self.segments[..last]
            .iter()
            .map(|s| SegmentInfo { base: s.base, size: s.stats.size, max_ts: s.stats.max_ts.map(|m| m.0) })
            .collect();
        let view = LogView {
            active_base: self.segments[last].base,
            start: self.start,
            clean_offset: self.clean_offset,
            next_horizon: self.next_horizon,
        };
        let plan = compaction::plan(&closed, view, config, now, |i| {
            let seg = &self.segments[i];
            let mut ts = None;
            let _ = scan_headers(&seg.file, 0, seg.stats.size, |_, h| {
                ts = Some(h.base_timestamp);
                ControlFlow::Break(())
            });
            ts
        });
        let Some(plan) = plan else { return Ok(None) };
        let mut segments = Vec::with_capacity(plan.segments.len());
        for i in plan.segments.clone() {
            let seg = &self.segments[i];
            let path = self.log_path(seg);
            let file = seg.file.try_clone().at(&path)?;
            let id = file_id(&file.metadata().at(&path)?);
            let end = self.segments[i + 1].base;
            segments.push(Snapshot { base: seg.base, size: seg.stats.size, end, file, id });
        }
        tracing::debug!(dir = %self.dir.display(), reason = plan.reason, segments = segments.len(), "compaction round planned");
        Ok(Some(FileCleanJob {
            dir: self.dir.clone(),
            segments,
            plan,
            start: self.start,
            config: config.clone(),
            now,
            cap: self.config.segment_bytes.min(MAX_SEGMENT_BYTES),
            interval: self.config.index_interval_bytes,
            clean_offset: self.clean_offset,
            busy,
        }))
    }

    pub(crate) fn commit_clean(&mut self, out: FileCleanOutput) -> Result<CleanOutcome, LogError> {
        self.commit_clean_inner(out, None)
    }

    /// Why the planned segments can no longer be replaced, if they cannot.
    fn changed_since(&self, out: &FileCleanOutput, rewritten: usize) -> Option<String> {
        if self.dir != out.dir {
            return Some("the log moved".into());
        }
        if self.swap_pending {
            return Some("an earlier swap is unfinished".into());
        }
        if self.clean_offset != out.clean_offset {
            return Some("another round ran meanwhile".into());
        }
        let first = out.planned.first()?.0;
        let Some(k) = self.segments.iter().position(|s| s.base == first) else {
            return Some(format!("segment {first} was deleted"));
        };
        let last = self.segments.len() - 1;
        for (j, &(base, size, id)) in out.planned[..rewritten].iter().enumerate() {
            let Some(seg) = self.segments.get(k + j).filter(|_| k + j < last) else {
                return Some(format!("segment {base} is no longer closed"));
            };
            if seg.base != base || seg.stats.size != size {
                return Some(format!("segment {base} changed"));
            }
            match fs::metadata(self.log_path(seg)) {
                Ok(m) if file_id(&m) == id => {}
                _ => return Some(format!("segment {base} was deleted or replaced")),
            }
        }
        None
    }

    /// The swap; `crash_after` stops it after that many steps of [`apply_swap`] (tests).
    pub(crate) fn commit_clean_inner(
        &mut self,
        mut out: FileCleanOutput,
        crash_after: Option<usize>,
    ) -> Result<CleanOutcome, LogError> {
        let rewritten = out.built.last().map_or(0, |b| b.old.end);
        if rewritten == 0 {
            return Ok(CleanOutcome::Abandoned("the round rewrote nothing".into()));
        }
        if let Some(why) = self.changed_since(&out, rewritten) {
            tracing::info!(dir = %self.dir.display(), why, "compaction round abandoned");
            return Ok(CleanOutcome::Abandoned(why));
        }
        let checkpoint = Checkpoint { clean_offset: out.result.clean_offset, next_horizon: out.result.next_horizon };
        let manifest = Manifest {
            checkpoint,
            groups: out
                .built
                .iter()
                .map(|b| (b.base, out.planned[b.old.clone()].iter().map(|p| p.0).collect()))
                .collect(),
        };
        write_atomic(&self.dir.join(SWAP_FILE), manifest.encode().as_bytes())?;
        sync_dir(&self.dir)?;
        // Committed: from here on the files are the new segments, whatever happens.
        out.committed = true;
        self.swap_pending = true;
        if !apply_swap(&self.dir, &manifest, crash_after)? {
            return Ok(CleanOutcome::Abandoned("simulated crash during the swap".into()));
        }
        let k = self.segments.iter().position(|s| s.base == out.planned[0].0).unwrap_or(0);
        let mut fresh = Vec::with_capacity(out.built.len());
        for b in &out.built {
            let path = seg_path(&self.dir, b.base, LOG_EXT);
            let file = OpenOptions::new().read(true).write(true).open(&path).at(&path)?;
            fresh.push(Segment {
                base: b.base,
                file,
                stats: b.stats,
                active: None,
                first_ts: None,
                created: Instant::now(),
            });
        }
        self.segments.splice(k..k + rewritten, fresh);
        self.clean_offset = checkpoint.clean_offset;
        self.next_horizon = checkpoint.next_horizon;
        self.swap_pending = false;
        self.refresh_max()?;
        Ok(CleanOutcome::Cleaned(out.result.stats.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_and_checkpoint_round_trip_and_refuse_garbage() {
        let m = Manifest {
            checkpoint: Checkpoint { clean_offset: 40, next_horizon: Some(123) },
            groups: vec![(0, vec![0, 10, 20]), (30, vec![30])],
        };
        assert_eq!(Manifest::parse(&m.encode()), Some(m.clone()));
        let c = Checkpoint { clean_offset: 7, next_horizon: None };
        assert_eq!(Checkpoint::parse(&c.encode()), Some(c));
        for bad in [
            "",
            "sluice-cleaner-swap 1\n",
            "clean-offset x\nnext-horizon none\n",
            "clean-offset -3\nnext-horizon none\n",
        ] {
            assert_eq!(Manifest::parse(bad), None, "{bad:?}");
            assert_eq!(Checkpoint::parse(bad), None, "{bad:?}");
        }
        // A group must replace its own base.
        let text = m.encode().replace("group 30 30", "group 30 31");
        assert_eq!(Manifest::parse(&text), None);
    }
}
