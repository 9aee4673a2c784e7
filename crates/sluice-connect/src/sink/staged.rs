//! The staging protocol shared by every file sink: files of an epoch are written under a
//! staging directory, listed in a manifest at pre-commit, and published (renamed, or copied on
//! S3) to their final names at commit or, after a crash, at recovery.
//!
//! Layout under the sink's root (`instance=<id>/` is added for scale-out instances):
//!
//! ```text
//! _sluice_staging/epoch-000003/00007-part-000003-00000.parquet   a staged file
//! _sluice_staging/epoch-000003.manifest.json                      staged → final, written at pre-commit
//! network_id=3/minute_timestamp=.../part-000003-00000.parquet     the published file
//! ```
//!
//! Readers skip `_`-prefixed directories (Spark, pyarrow, DuckDB and Hive all do), so only
//! published files are ever seen.
//!
//! # On S3: staging key + server-side copy, not "complete the multipart upload at commit"
//!
//! Completing each file's multipart upload at commit would save the copy, but the upload ids
//! and part ETags would then have to be persisted before the checkpoint (object_store has no
//! way to list or resume uploads by id), an upload interrupted before its manifest would leave
//! invisible parts that only a bucket lifecycle rule can find, and small files (most results)
//! would pay three requests instead of one PUT. Staged objects, instead, are ordinary objects
//! under `_sluice_staging/`: recovery lists them, publishes or deletes them, and nothing is left
//! behind. The exactly-once argument is the same for both stores:
//!
//! 1. A file's final key is a function of (instance, epoch, partition, sequence number).
//! 2. A manifest is written, atomically (one PUT / rename), only after every staged file of its
//!    epoch is complete; the checkpoint of the epoch is written only after the manifest.
//! 3. Publishing copies (or renames) staged → final for every entry; copying the same bytes to
//!    the same key again changes nothing, so a publish interrupted and repeated leaves each file
//!    once. Staged copies are deleted after all entries are published, the manifest last.
//! 4. Recovery with checkpoint `c`: manifests of epochs `≤ c` are published (3.); everything of
//!    epochs `> c` is deleted before any new output is written, and those epochs are recomputed
//!    from `c`'s source offsets under the same names, so nothing of the lost attempt remains.
//!
//! Limits: S3's CopyObject takes at most 5 GB (files roll long before: 512 MiB for Parquet,
//! 128 MiB for JSON lines); a crash during an upload of more than 8 MiB leaves an incomplete
//! multipart upload behind, invisible but billed: give the bucket an
//! `AbortIncompleteMultipartUpload` lifecycle rule, as for any S3 writer. During a commit,
//! a reader listing the directory may see some files of the epoch and not yet others (never a
//! partial file, never a duplicate).

use super::error::SinkError;
use super::storage::{Storage, Upload};
use super::{Epoch, Recovery};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The staging directory's name. Starts with `_` so that dataset readers skip it.
pub const STAGING_DIR: &str = "_sluice_staging";

const MANIFEST_SUFFIX: &str = ".manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Manifest {
    /// Format version of this file.
    version: u32,
    epoch: Epoch,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ManifestFile {
    /// Staged key (relative to the sink's root).
    staged: String,
    /// Final key.
    published: String,
    /// Size in bytes.
    bytes: u64,
}

struct OpenFile {
    epoch: Epoch,
    staged: String,
    upload: Box<dyn Upload>,
}

/// An epoch-staged set of files on one storage.
pub(crate) struct StagedFiles {
    storage: Arc<dyn Storage>,
    sink: String,
    staging: String,
    recovered: bool,
    open: BTreeMap<String, OpenFile>,
    closed: BTreeMap<Epoch, Vec<ManifestFile>>,
    pending: BTreeMap<Epoch, Manifest>,
    sealed: Option<Epoch>,
    written: Option<Epoch>,
    seq: u64,
}

impl StagedFiles {
    /// `instance` separates the staging areas of several processes writing one directory.
    pub(crate) fn new(storage: Arc<dyn Storage>, sink: String, instance: Option<&str>) -> StagedFiles {
        let staging = match instance {
            Some(i) => format!("{STAGING_DIR}/instance={i}"),
            None => STAGING_DIR.to_string(),
        };
        StagedFiles {
            storage,
            sink,
            staging,
            recovered: false,
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            pending: BTreeMap::new(),
            sealed: None,
            written: None,
            seq: 0,
        }
    }

    fn epoch_dir(&self, epoch: Epoch) -> String {
        format!("{}/epoch-{epoch:06}", self.staging)
    }

    fn manifest_key(&self, epoch: Epoch) -> String {
        format!("{}/epoch-{epoch:06}{MANIFEST_SUFFIX}", self.staging)
    }

    fn st(&self, e: super::storage::StorageError) -> SinkError {
        SinkError::storage(&self.sink, e)
    }

    /// Checks that output may be added to `epoch` (recovered, not sealed, epochs not going
    /// back) and notes the epoch.
    pub(crate) fn begin_write(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.check_writable(epoch)?;
        if let Some(w) = self.written
            && epoch < w
        {
            return Err(SinkError::protocol(
                &self.sink,
                format!("write to epoch {epoch} after a write to epoch {w}: epochs must not go back"),
            ));
        }
        self.written = Some(epoch);
        Ok(())
    }

    /// Checks that output may still be added to `epoch`.
    pub(crate) fn check_writable(&self, epoch: Epoch) -> Result<(), SinkError> {
        if !self.recovered {
            return Err(SinkError::protocol(
                &self.sink,
                "write before recover: call recover(last committed epoch) once before the first write",
            ));
        }
        if let Some(s) = self.sealed
            && epoch <= s
        {
            return Err(SinkError::protocol(
                &self.sink,
                format!(
                    "write to epoch {epoch} after pre_commit({s}): epochs must grow; write to epoch {} or later",
                    s + 1
                ),
            ));
        }
        Ok(())
    }

    /// Starts a staged file that will be published as `final_key`.
    pub(crate) async fn open(&mut self, epoch: Epoch, final_key: &str) -> Result<(), SinkError> {
        self.check_writable(epoch)?;
        if self.open.contains_key(final_key) {
            return Err(SinkError::protocol(&self.sink, format!("file {final_key} is already open")));
        }
        let base = final_key.rsplit('/').next().unwrap_or(final_key);
        let staged = format!("{}/{:05}-{base}", self.epoch_dir(epoch), self.seq);
        self.seq += 1;
        let upload = self.storage.create(&staged).await.map_err(|e| self.st(e))?;
        self.open.insert(final_key.to_string(), OpenFile { epoch, staged, upload });
        Ok(())
    }

    /// Appends to an open file.
    pub(crate) async fn append(&mut self, final_key: &str, data: Bytes) -> Result<(), SinkError> {
        if data.is_empty() {
            return Ok(());
        }
        let sink = self.sink.clone();
        let Some(f) = self.open.get_mut(final_key) else {
            return Err(SinkError::protocol(&sink, format!("append to {final_key}, which is not open")));
        };
        f.upload.write(data).await.map_err(|e| SinkError::storage(&sink, e))
    }

    /// Completes an open file (it stays staged until its epoch commits).
    pub(crate) async fn close(&mut self, final_key: &str) -> Result<(), SinkError> {
        let Some(f) = self.open.remove(final_key) else {
            return Err(SinkError::protocol(&self.sink, format!("close of {final_key}, which is not open")));
        };
        let bytes = f.upload.finish().await.map_err(|e| self.st(e))?;
        self.closed.entry(f.epoch).or_default().push(ManifestFile {
            staged: f.staged,
            published: final_key.to_string(),
            bytes,
        });
        Ok(())
    }

    /// Closes every file of the epochs up to `epoch` and writes their manifests. After this
    /// returns, the epochs' output survives a crash.
    pub(crate) async fn pre_commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if !self.recovered {
            return Err(SinkError::protocol(&self.sink, "pre_commit before recover"));
        }
        let to_close: Vec<String> =
            self.open.iter().filter(|(_, f)| f.epoch <= epoch).map(|(k, _)| k.clone()).collect();
        for k in to_close {
            self.close(&k).await?;
        }
        let epochs: Vec<Epoch> = self.closed.range(..=epoch).map(|(e, _)| *e).collect();
        for e in epochs {
            let mut files = self.closed.remove(&e).unwrap_or_default();
            files.sort_by(|a, b| a.published.cmp(&b.published));
            let manifest = Manifest { version: 1, epoch: e, files };
            let json = serde_json::to_vec_pretty(&manifest).map_err(|err| {
                SinkError::encode(&self.sink, format!("cannot write the manifest of epoch {e}: {err}"))
            })?;
            let key = self.manifest_key(e);
            self.storage.put(&key, Bytes::from(json)).await.map_err(|err| self.st(err))?;
            self.pending.insert(e, manifest);
        }
        self.sealed = Some(self.sealed.map_or(epoch, |s| s.max(epoch)));
        Ok(())
    }

    /// Publishes every pre-committed epoch up to `epoch`. Idempotent.
    pub(crate) async fn commit(&mut self, epoch: Epoch) -> Result<usize, SinkError> {
        if let Some((k, f)) = self.open.iter().find(|(_, f)| f.epoch <= epoch) {
            return Err(SinkError::protocol(
                &self.sink,
                format!(
                    "commit({epoch}) while {k} of epoch {} is still open: call pre_commit({epoch}) before writing the checkpoint",
                    f.epoch
                ),
            ));
        }
        if let Some((e, _)) = self.closed.range(..=epoch).next() {
            return Err(SinkError::protocol(
                &self.sink,
                format!("commit({epoch}) before pre_commit({e}): call pre_commit before writing the checkpoint"),
            ));
        }
        let epochs: Vec<Epoch> = self.pending.range(..=epoch).map(|(e, _)| *e).collect();
        let mut n = 0;
        for e in epochs {
            if let Some(m) = self.pending.get(&e).cloned() {
                n += self.publish(&m, false).await?;
                self.pending.remove(&e);
            }
        }
        Ok(n)
    }

    /// Publishes a manifest's files, deletes the staged copies, then the manifest. In recovery
    /// (`check`), a staged file that is gone must already be published.
    async fn publish(&mut self, m: &Manifest, check: bool) -> Result<usize, SinkError> {
        for f in &m.files {
            if check && !self.storage.exists(&f.staged).await.map_err(|e| self.st(e))? {
                if self.storage.exists(&f.published).await.map_err(|e| self.st(e))? {
                    continue;
                }
                return Err(SinkError::Lost {
                    sink: self.sink.clone(),
                    epoch: m.epoch,
                    file: self.storage.location(&f.published),
                });
            }
            self.storage.publish(&f.staged, &f.published).await.map_err(|e| self.st(e))?;
        }
        for f in &m.files {
            self.storage.delete(&f.staged).await.map_err(|e| self.st(e))?;
        }
        // Last: while the manifest exists, a recovery finishes the publication.
        self.storage.delete(&self.manifest_key(m.epoch)).await.map_err(|e| self.st(e))?;
        Ok(m.files.len())
    }

    /// After a restart: publishes the staged epochs up to `last_committed` (their checkpoint
    /// is durable) and deletes everything staged for later epochs (their checkpoint never
    /// happened; the runtime recomputes them from the checkpoint's offsets).
    pub(crate) async fn recover(&mut self, last_committed: Option<Epoch>) -> Result<Recovery, SinkError> {
        for (_, f) in std::mem::take(&mut self.open) {
            let _ = f.upload.abort().await;
        }
        self.closed.clear();
        self.pending.clear();
        let keys = self.storage.list(&self.staging).await.map_err(|e| self.st(e))?;
        let prefix = format!("{}/", self.staging);
        // epoch → (manifest present, staged keys)
        let mut by_epoch: BTreeMap<Epoch, (bool, Vec<String>)> = BTreeMap::new();
        for key in keys {
            let Some(rel) = key.strip_prefix(&prefix) else { continue };
            let Some(rest) = rel.strip_prefix("epoch-") else { continue };
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let Ok(epoch) = digits.parse::<Epoch>() else { continue };
            let tail = &rest[digits.len()..];
            let entry = by_epoch.entry(epoch).or_default();
            if tail == MANIFEST_SUFFIX {
                entry.0 = true;
            } else if tail.starts_with('/') {
                entry.1.push(key);
            }
        }
        let mut report = Recovery::default();
        for (epoch, (has_manifest, staged)) in by_epoch {
            let committed = last_committed.is_some_and(|l| epoch <= l);
            if committed && has_manifest {
                let key = self.manifest_key(epoch);
                let Some(bytes) = self.storage.get(&key).await.map_err(|e| self.st(e))? else { continue };
                let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                    SinkError::encode(
                        &self.sink,
                        format!(
                            "the manifest {} is not valid ({e}); it was written atomically, so something else changed it: \
                             restore it or delete the staging directory and recompute from an earlier checkpoint",
                            self.storage.location(&key)
                        ),
                    )
                })?;
                let n = self.publish(&m, true).await?;
                for k in &staged {
                    self.storage.delete(k).await.map_err(|e| self.st(e))?;
                }
                report.published.push((epoch, n));
            } else {
                if committed && !staged.is_empty() {
                    tracing::warn!(
                        sink = %self.sink,
                        epoch,
                        "staged files of committed epoch {epoch} have no manifest (pre_commit never finished); deleting them"
                    );
                }
                // The manifest goes first: a crash halfway leaves files without a manifest,
                // which the next recovery deletes too.
                if has_manifest {
                    self.storage.delete(&self.manifest_key(epoch)).await.map_err(|e| self.st(e))?;
                }
                for k in &staged {
                    self.storage.delete(k).await.map_err(|e| self.st(e))?;
                }
                report.discarded.push((epoch, staged.len()));
            }
        }
        self.sealed = last_committed;
        self.written = None;
        self.recovered = true;
        Ok(report)
    }
}
