//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

pub mod scenario;

use async_trait::async_trait;
use bytes::Bytes;
use sluice_connect::sink::storage::{LocalStorage, Storage, StorageError, Upload};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn local(dir: &Path) -> Arc<dyn Storage> {
    Arc::new(LocalStorage::open(dir).expect("open a temporary directory"))
}

/// Every file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The published files (not under `_sluice_staging/`).
pub fn published(dir: &Path) -> Vec<String> {
    files(dir).into_iter().filter(|f| !f.starts_with("_sluice_staging")).collect()
}

/// The staged files and manifests.
pub fn staged(dir: &Path) -> Vec<String> {
    files(dir).into_iter().filter(|f| f.starts_with("_sluice_staging")).collect()
}

pub fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// A storage that fails its `fail_at`-th publish (from 1), to stop a commit halfway, as a
/// crash would.
#[derive(Debug)]
pub struct FailingPublish {
    pub inner: Arc<dyn Storage>,
    pub fail_at: usize,
    pub publishes: AtomicUsize,
}

impl FailingPublish {
    pub fn new(inner: Arc<dyn Storage>, fail_at: usize) -> Arc<FailingPublish> {
        Arc::new(FailingPublish { inner, fail_at, publishes: AtomicUsize::new(0) })
    }
}

#[async_trait]
impl Storage for FailingPublish {
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.inner.put(key, data).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        self.inner.get(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        self.inner.exists(key).await
    }
    async fn create(&self, key: &str) -> Result<Box<dyn Upload>, StorageError> {
        self.inner.create(key).await
    }
    async fn publish(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let n = self.publishes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at {
            return Err(StorageError {
                op: "publish",
                location: self.inner.location(to),
                message: "injected failure".into(),
                fix: None,
            });
        }
        self.inner.publish(from, to).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
}

/// Splits a length-delimited stream into messages, with a varint reader written here (not
/// prost's), so the test does not trust the encoder's library.
pub fn split_delimited(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (len, n) = varint(data).expect("a varint length");
        data = &data[n..];
        let len = len as usize;
        assert!(len <= data.len(), "message of {len} bytes but {} left", data.len());
        out.push(data[..len].to_vec());
        data = &data[len..];
    }
    out
}

pub fn varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// A decoded protobuf field: number and value.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
}

/// Decodes one message's top-level fields (wire format only).
pub fn fields(mut data: &[u8]) -> Vec<(u32, Wire)> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (tag, n) = varint(data).expect("tag");
        data = &data[n..];
        let (num, wt) = ((tag >> 3) as u32, tag & 7);
        match wt {
            0 => {
                let (v, n) = varint(data).expect("varint");
                data = &data[n..];
                out.push((num, Wire::Varint(v)));
            }
            1 => {
                out.push((num, Wire::Fixed64(u64::from_le_bytes(data[..8].try_into().unwrap()))));
                data = &data[8..];
            }
            2 => {
                let (len, n) = varint(data).expect("length");
                data = &data[n..];
                out.push((num, Wire::Bytes(data[..len as usize].to_vec())));
                data = &data[len as usize..];
            }
            5 => {
                out.push((num, Wire::Fixed32(u32::from_le_bytes(data[..4].try_into().unwrap()))));
                data = &data[4..];
            }
            other => panic!("wire type {other}"),
        }
    }
    out
}
