//! Where file sinks put their bytes: a local directory or S3 (through `object_store`), behind the
//! few operations the staging protocol of [`super::staged`] needs.
//!
//! Keys are relative, `/`-separated (`network_id=3/part-000001-00000.parquet`); a storage is
//! rooted at a directory or at `s3://bucket/prefix`. The same trait can hold checkpoints.
//!
//! What each operation promises, because exactly-once rests on it:
//! - [`Storage::put`] is atomic and durable: readers see all of the bytes or none, and after it
//!   returns a crash does not lose them (local: temporary file, `fsync`, `rename`, `fsync` of
//!   the directory; S3: one PUT, which S3 makes visible atomically).
//! - [`Storage::create`] streams a new object; it is visible only after [`Upload::finish`]
//!   (S3: multipart upload completed at finish, or one PUT for small objects; local: `fsync`
//!   at finish, and staged files live under a `_`-prefixed directory that readers skip).
//! - [`Storage::publish`] makes `to` hold the bytes of `from`: an atomic `rename` on a local
//!   disk, a server-side copy on S3. Publishing the same pair twice leaves the same `to`.

mod local;
mod s3;

pub use local::LocalStorage;
pub use s3::{S3Options, S3Storage};

use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A failed storage operation, with the location and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {location}: {message}{}", fix.as_ref().map(|f| format!("; {f}")).unwrap_or_default())]
pub struct StorageError {
    /// What was attempted (`write`, `read`, `list`, `publish`, ...).
    pub op: &'static str,
    /// The full location (`/abs/dir/key` or `s3://bucket/prefix/key`).
    pub location: String,
    /// What went wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub fix: Option<String>,
}

impl StorageError {
    pub(crate) fn new(op: &'static str, location: impl Into<String>, message: impl fmt::Display) -> Self {
        StorageError { op, location: location.into(), message: message.to_string(), fix: None }
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Object storage as the sinks use it. Implemented for a local directory ([`LocalStorage`]) and
/// S3 ([`S3Storage`]); tests wrap it to inject failures.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// The full location of a key, for messages (`/data/out/x.parquet`, `s3://b/p/x.parquet`).
    fn location(&self, key: &str) -> String;

    /// Writes a whole object atomically and durably, replacing any object of that key.
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError>;

    /// Reads a whole object; `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError>;

    /// Whether an object exists.
    async fn exists(&self, key: &str) -> Result<bool, StorageError>;

    /// Starts streaming a new object to `key`.
    async fn create(&self, key: &str) -> Result<Box<dyn Upload>, StorageError>;

    /// Makes `to` hold the bytes of `from` (replacing `to`). `from` may be gone afterwards
    /// (local rename) or still there (S3 copy): the caller deletes it.
    async fn publish(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Deletes an object; a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Every key under `prefix` (a directory: `a/b` lists `a/b/...`, not `a/bc`), recursively.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}

/// An object being written by [`Storage::create`].
#[async_trait]
pub trait Upload: Send {
    /// Appends bytes.
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError>;

    /// Completes the object and makes it durable; returns its size in bytes.
    async fn finish(self: Box<Self>) -> Result<u64, StorageError>;

    /// Gives up on the object (best effort: nothing becomes visible either way).
    async fn abort(self: Box<Self>) -> Result<(), StorageError>;
}

/// Where a sink's path points, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and a key prefix (no leading or trailing `/`; may be empty).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
}

impl Target {
    /// Parses a sink path: `s3://bucket/prefix` (also `s3a://`), `file:///abs/dir`, or a local
    /// directory (relative paths are taken from `base`, or the working directory).
    pub fn parse(path: &str, base: Option<&Path>) -> Result<Target, StorageError> {
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err(StorageError::new("use", "\"\"", "the path is empty")
                .with_fix("give a directory (out/results) or s3://bucket/prefix"));
        }
        if let Some(rest) = trimmed.strip_prefix("s3://").or_else(|| trimmed.strip_prefix("s3a://")) {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::new("use", trimmed, "no bucket name").with_fix("write s3://bucket/prefix"));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
                return Err(StorageError::new("use", trimmed, "the key prefix has an empty, `.` or `..` segment")
                    .with_fix("write s3://bucket/dir/subdir"));
            }
            return Ok(Target::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() });
        }
        if let Some(rest) = trimmed.strip_prefix("file://") {
            return Ok(Target::Local(PathBuf::from(rest)));
        }
        if let Some((scheme, _)) = trimmed.split_once("://") {
            return Err(StorageError::new("use", trimmed, format!("unsupported scheme `{scheme}://`"))
                .with_fix("use a local directory or s3://bucket/prefix (S3-compatible servers: add `endpoint`)"));
        }
        let p = PathBuf::from(trimmed);
        Ok(Target::Local(match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        }))
    }

    /// Opens the storage: creates a local directory if needed; builds the S3 client (no S3
    /// request is made: a missing bucket shows at the first write; without credentials, the
    /// metadata service is asked, see [`S3Storage::open`]).
    pub fn open(&self, options: &S3Options) -> Result<Arc<dyn Storage>, StorageError> {
        match self {
            Target::Local(dir) => Ok(Arc::new(LocalStorage::open(dir)?)),
            Target::S3 { bucket, prefix } => Ok(Arc::new(S3Storage::open(bucket, prefix, options)?)),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local(p) => write!(f, "{}", p.display()),
            Target::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Target::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Checks that a key is relative, `/`-separated and has no empty, `.` or `..` segment.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty key".to_string());
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!("key `{key}` has an empty, `.` or `..` segment"));
        }
        if seg.chars().any(|c| c.is_control()) {
            return Err(format!("key `{key}` has a control character"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("s3://b/x/y/", None).unwrap(),
            Target::S3 { bucket: "b".into(), prefix: "x/y".into() }
        );
        assert_eq!(Target::parse("s3a://b", None).unwrap(), Target::S3 { bucket: "b".into(), prefix: String::new() });
        assert_eq!(Target::parse("out/r", Some(Path::new("/base"))).unwrap(), Target::Local("/base/out/r".into()));
        assert_eq!(Target::parse("/abs", Some(Path::new("/base"))).unwrap(), Target::Local("/abs".into()));
        assert_eq!(Target::parse("file:///tmp/x", None).unwrap(), Target::Local("/tmp/x".into()));
        let e = Target::parse("gs://b/x", None).unwrap_err().to_string();
        assert!(e.contains("unsupported scheme `gs://`"), "{e}");
        assert!(Target::parse("s3:///x", None).unwrap_err().to_string().contains("no bucket"));
        assert!(Target::parse("s3://b/a//c", None).is_err());
        assert!(Target::parse("  ", None).is_err());
        assert_eq!(Target::parse("s3://b/p", None).unwrap().to_string(), "s3://b/p");
    }

    #[test]
    fn keys() {
        assert!(check_key("a/b=c d:e/f.parquet").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("a//b").is_err());
        assert!(check_key("../x").is_err());
        assert!(check_key("a/\n").is_err());
    }
}
