//! The checkpoint store: one file per epoch in a local directory or under an `s3://` prefix
//! (the sinks' [`Storage`]), named by epoch and state.
//!
//! ```text
//! epoch-000000000007.committed     the newest committed checkpoint: a restart resumes here
//! epoch-000000000008.prepared      written before the commit point of epoch 8
//! ```
//!
//! A file holds the epoch, whether a Kafka transaction is the commit point, when it was
//! written, and the engine's [`Checkpoint`] (offsets and state). Layout: `b"SLUICEJC"`, format
//! version (u16 little endian), then postcard.
//!
//! Writes are atomic (`Storage::put`: temporary file, `fsync`, rename; one PUT on S3), and
//! marking a prepared checkpoint committed publishes it under its committed name (a rename on
//! a local disk) before the prepared file is deleted, so at every instant the store holds a
//! complete prepared or committed file for an epoch, never a partial one.

use super::JobError;
use crate::sink::storage::{S3Options, Storage, Target};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sluice_stream::Checkpoint;
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"SLUICEJC";
const VERSION: u16 = 1;

/// Where a checkpoint is in the commit protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Written before the commit point; committed only if the commit point was reached.
    Prepared,
    /// Past the commit point.
    Committed,
}

impl State {
    fn suffix(self) -> &'static str {
        match self {
            State::Prepared => "prepared",
            State::Committed => "committed",
        }
    }
}

/// One epoch's checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// The epoch.
    pub epoch: u64,
    /// Whether the epoch's commit point is a Kafka transaction (which also committed the
    /// offsets to the group); otherwise it is the rename of this file.
    pub kafka_commit: bool,
    /// When it was written (ms since the epoch).
    pub created_ms: i64,
    /// The engine's checkpoint, [`Checkpoint::to_bytes`].
    pub engine: Vec<u8>,
}

impl StoredCheckpoint {
    /// The engine's checkpoint.
    pub fn checkpoint(&self) -> Result<Checkpoint, sluice_stream::CheckpointError> {
        Checkpoint::from_bytes(&self.engine)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<StoredCheckpoint, String> {
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err("not a sluice job checkpoint (bad magic)".into());
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(format!("format version {version} is not supported (this build reads {VERSION})"));
        }
        postcard::from_bytes(&bytes[10..]).map_err(|e| format!("damaged: {e}"))
    }
}

/// The checkpoints of one job instance.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    storage: Arc<dyn Storage>,
    /// Committed checkpoints kept (older ones are deleted).
    keep: usize,
}

fn key(epoch: u64, state: State) -> String {
    format!("epoch-{epoch:012}.{}", state.suffix())
}

fn parse_key(key: &str) -> Option<(u64, State)> {
    let rest = key.strip_prefix("epoch-")?;
    let (num, suffix) = rest.split_once('.')?;
    let state = match suffix {
        "prepared" => State::Prepared,
        "committed" => State::Committed,
        _ => return None,
    };
    (num.len() == 12 && num.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    Some((num.parse().ok()?, state))
}

impl CheckpointStore {
    /// Opens `location` (a directory, relative to `base_dir`, or `s3://bucket/prefix`),
    /// creating a local directory.
    pub fn open(location: &str, base_dir: Option<&Path>, s3: &S3Options) -> Result<CheckpointStore, JobError> {
        let err = |e: crate::sink::storage::StorageError| JobError::Checkpoint {
            location: location.to_string(),
            message: e.to_string(),
            fix: "set [checkpoint] location to a writable directory or s3://bucket/prefix".into(),
        };
        let target = Target::parse(location, base_dir).map_err(err)?;
        Ok(Self::with_storage(target.open(s3).map_err(err)?))
    }

    /// A store on any storage.
    pub fn with_storage(storage: Arc<dyn Storage>) -> CheckpointStore {
        CheckpointStore { storage, keep: 3 }
    }

    /// Where the store is, for messages.
    pub fn location(&self) -> String {
        self.storage.location("").trim_end_matches('/').to_string()
    }

    fn err(&self, message: String) -> JobError {
        JobError::Checkpoint {
            location: self.location(),
            message,
            fix: "check the checkpoint location (permissions, space, S3 credentials)".into(),
        }
    }

    /// Every checkpoint file, by epoch then state.
    pub async fn list(&self) -> Result<Vec<(u64, State)>, JobError> {
        let keys = self.storage.list("").await.map_err(|e| self.err(e.to_string()))?;
        let mut out: Vec<(u64, State)> = keys.iter().filter_map(|k| parse_key(k)).collect();
        out.sort();
        Ok(out)
    }

    /// Reads one checkpoint file.
    pub async fn read(&self, epoch: u64, state: State) -> Result<StoredCheckpoint, JobError> {
        let k = key(epoch, state);
        let bytes = self
            .storage
            .get(&k)
            .await
            .map_err(|e| self.err(e.to_string()))?
            .ok_or_else(|| self.err(format!("{} disappeared", self.storage.location(&k))))?;
        StoredCheckpoint::from_bytes(&bytes).map_err(|m| JobError::Checkpoint {
            location: self.storage.location(&k),
            message: m,
            fix: "point [checkpoint] location at this job's own checkpoints, or move the damaged file away to \
                  resume from the one before"
                .into(),
        })
    }

    /// Writes a checkpoint as prepared (atomically, durably).
    pub async fn write_prepared(&self, cp: &StoredCheckpoint) -> Result<(), JobError> {
        self.storage
            .put(&key(cp.epoch, State::Prepared), Bytes::from(cp.to_bytes()))
            .await
            .map_err(|e| self.err(e.to_string()))
    }

    /// Marks a prepared checkpoint committed: its committed name appears atomically, then the
    /// prepared file is deleted.
    pub async fn mark_committed(&self, epoch: u64) -> Result<(), JobError> {
        let (from, to) = (key(epoch, State::Prepared), key(epoch, State::Committed));
        self.storage.publish(&from, &to).await.map_err(|e| self.err(e.to_string()))?;
        self.storage.delete(&from).await.map_err(|e| self.err(e.to_string()))
    }

    /// Deletes a prepared checkpoint whose commit point was not reached.
    pub async fn discard(&self, epoch: u64) -> Result<(), JobError> {
        self.storage.delete(&key(epoch, State::Prepared)).await.map_err(|e| self.err(e.to_string()))
    }

    /// Deletes committed checkpoints older than the newest few, and prepared files of epochs
    /// that are committed (left by a crash between the two steps of [`Self::mark_committed`]).
    pub async fn prune(&self) -> Result<(), JobError> {
        let all = self.list().await?;
        let committed: Vec<u64> = all.iter().filter(|(_, s)| *s == State::Committed).map(|(e, _)| *e).collect();
        let keep_from = committed.len().saturating_sub(self.keep);
        for &e in &committed[..keep_from] {
            self.storage.delete(&key(e, State::Committed)).await.map_err(|e| self.err(e.to_string()))?;
        }
        let newest = committed.last().copied();
        for &(e, s) in &all {
            if s == State::Prepared && newest.is_some_and(|n| e <= n) {
                self.discard(e).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::storage::LocalStorage;

    #[test]
    fn keys_parse() {
        assert_eq!(parse_key("epoch-000000000007.committed"), Some((7, State::Committed)));
        assert_eq!(parse_key(&key(12, State::Prepared)), Some((12, State::Prepared)));
        assert_eq!(parse_key("epoch-7.committed"), None);
        assert_eq!(parse_key("epoch-000000000007.tmp"), None);
        assert_eq!(parse_key(".tmp-epoch-000000000007.committed"), None);
    }

    #[tokio::test]
    async fn prepare_commit_prune() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::with_storage(Arc::new(LocalStorage::open(dir.path()).unwrap()));
        for e in 1..=5 {
            let cp = StoredCheckpoint { epoch: e, kafka_commit: false, created_ms: 1, engine: vec![e as u8] };
            store.write_prepared(&cp).await.unwrap();
            assert_eq!(store.read(e, State::Prepared).await.unwrap(), cp);
            store.mark_committed(e).await.unwrap();
        }
        store
            .write_prepared(&StoredCheckpoint { epoch: 6, kafka_commit: true, created_ms: 2, engine: vec![] })
            .await
            .unwrap();
        store.prune().await.unwrap();
        assert_eq!(
            store.list().await.unwrap(),
            vec![(3, State::Committed), (4, State::Committed), (5, State::Committed), (6, State::Prepared)]
        );
        std::fs::write(dir.path().join(key(9, State::Committed)), b"garbage").unwrap();
        let e = store.read(9, State::Committed).await.unwrap_err().to_string();
        assert!(e.contains("bad magic") && e.contains("epoch-000000000009.committed"), "{e}");
    }
}
