//! A local directory as [`Storage`]: every write is `fsync`ed before it counts, every rename is
//! followed by an `fsync` of the directory, so a power cut after a checkpoint does not lose
//! what the checkpoint says was staged.

use super::{Storage, StorageError, Upload, check_key};
use async_trait::async_trait;
use bytes::Bytes;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A local directory.
#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn io_fix(e: &io::Error) -> Option<&'static str> {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Some("give the user running sluice write access, or choose another path"),
        io::ErrorKind::StorageFull => Some("free some disk space"),
        io::ErrorKind::ReadOnlyFilesystem => Some("choose a path on a writable file system"),
        _ => None,
    }
}

impl LocalStorage {
    /// Opens (and creates, if needed) a directory.
    pub fn open(dir: &Path) -> Result<LocalStorage, StorageError> {
        let err = |e: io::Error| {
            let fix = io_fix(&e);
            let mut err = StorageError::new("create the directory", dir.display().to_string(), &e);
            if let Some(f) = fix {
                err = err.with_fix(f);
            } else if e.kind() == io::ErrorKind::AlreadyExists || e.kind() == io::ErrorKind::NotADirectory {
                err = err.with_fix("the path is a file; give a directory");
            }
            err
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let root = dir.canonicalize().map_err(err)?;
        if !root.is_dir() {
            return Err(StorageError::new("use", root.display().to_string(), "not a directory")
                .with_fix("the path is a file; give a directory"));
        }
        Ok(LocalStorage { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, op: &'static str, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key).map_err(|m| StorageError::new(op, self.location(key), m))?;
        Ok(self.root.join(key))
    }

    fn err(&self, op: &'static str, key: &str, e: io::Error) -> StorageError {
        let fix = io_fix(&e);
        let err = StorageError::new(op, self.location(key), &e);
        match fix {
            Some(f) => err.with_fix(f),
            None => err,
        }
    }
}

/// Creates `dir` and its missing parents, `fsync`ing each parent that gained an entry.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// How many times an operation in a directory is retried after the directory vanished.
const DIR_RETRIES: usize = 20;

/// Creates `dir` (and its parents) and runs `op`, which makes an entry in it. [`Storage::delete`]
/// drops the directories it leaves empty, as object stores have none, so another writer of
/// the same tree (another instance of a scaled-out job, or this one's next epoch) may remove
/// `dir` or a parent between the two: a `NotFound` from either step is retried.
fn in_dir<T>(dir: &Path, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        let result = ensure_dir(dir).and_then(|()| op());
        match result {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < DIR_RETRIES && !dir.is_dir() => tries += 1,
            other => return other,
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!("file task failed: {e}"))),
    }
}

fn put_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("object");
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), TMP_SEQ.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        // Once the temporary file is in the directory, nobody removes the directory.
        let mut f = in_dir(dir, || std::fs::File::create(&tmp))?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        // Names that are not UTF-8 cannot be keys we wrote.
        let Ok(name) = entry.file_name().into_string() else { continue };
        let key = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if ty.is_file() {
            out.push(key);
        }
    }
    Ok(())
}

#[async_trait]
impl Storage for LocalStorage {
    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = self.path("write", key)?;
        blocking(move || put_atomic(&path, &data)).await.map_err(|e| self.err("write", key, e))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let path = self.path("read", key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read", key, e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path("look for", key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.err("look for", key, e)),
        }
    }

    async fn create(&self, key: &str) -> Result<Box<dyn Upload>, StorageError> {
        let path = self.path("create", key)?;
        let p = path.clone();
        let file = blocking(move || in_dir(parent(&p), || std::fs::File::create(&p)))
            .await
            .map_err(|e| self.err("create", key, e))?;
        Ok(Box::new(LocalUpload { file: Some(file), path, location: self.location(key), size: 0, buf: Vec::new() }))
    }

    async fn publish(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let src = self.path("publish", from)?;
        let dst = self.path("publish", to)?;
        blocking(move || {
            let dir = parent(&dst);
            in_dir(dir, || std::fs::rename(&src, &dst))?;
            sync_dir(dir)?;
            // The staging directory, now maybe empty, may already be gone (dropped by a delete
            // beside it): then there is nothing left to make durable.
            match sync_dir(parent(&src)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
        .await
        .map_err(|e| self.err("publish", to, e).with_fix(format!("the staged file was {}", self.location(from))))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path("delete", key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.err("delete", key, e)),
        }
        // Object stores have no directories: drop the ones this left empty (not the root).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.trim_matches('/').to_string();
        let dir = if prefix.is_empty() { self.root.clone() } else { self.path("list", &prefix)? };
        let mut keys = blocking(move || {
            let mut out = Vec::new();
            walk(&dir, &prefix, &mut out)?;
            Ok(out)
        })
        .await
        .map_err(|e| self.err("list", "", e))?;
        keys.sort();
        Ok(keys)
    }
}

/// Writes are buffered to 1 MiB so the blocking pool is not called for every small append.
struct LocalUpload {
    file: Option<std::fs::File>,
    path: PathBuf,
    location: String,
    size: u64,
    buf: Vec<u8>,
}

const LOCAL_BUF: usize = 1 << 20;

impl LocalUpload {
    async fn flush_buf(&mut self) -> Result<(), StorageError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(mut file) = self.file.take() else {
            return Err(StorageError::new("write", self.location.clone(), "the file was already closed"));
        };
        let buf = std::mem::take(&mut self.buf);
        let (file, result) = match tokio::task::spawn_blocking(move || {
            let r = file.write_all(&buf);
            (file, r)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => return Err(StorageError::new("write", self.location.clone(), format!("file task failed: {e}"))),
        };
        self.file = Some(file);
        result.map_err(|e| {
            let fix = io_fix(&e);
            let err = StorageError::new("write", self.location.clone(), &e);
            match fix {
                Some(f) => err.with_fix(f),
                None => err,
            }
        })
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.size += data.len() as u64;
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= LOCAL_BUF {
            self.flush_buf().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StorageError> {
        self.flush_buf().await?;
        let Some(file) = self.file.take() else {
            return Err(StorageError::new("finish", self.location.clone(), "the file was already closed"));
        };
        let path = self.path.clone();
        blocking(move || {
            file.sync_all()?;
            drop(file);
            sync_dir(parent(&path))
        })
        .await
        .map_err(|e| StorageError::new("finish", self.location.clone(), &e))?;
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        drop(self.file.take());
        match tokio::fs::remove_file(&self.path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::new("delete", self.location.clone(), &e)),
        }
    }
}
