//! Checkpoints: source offsets, the watermark tracker, triggers, counters and every operator's
//! keyed state, serialized with serde + postcard behind a magic and a format version.
//!
//! Keyed state is stored per virtual node ([`VnodeSnapshot`]), each as its own byte string, so
//! a subset of vnodes can be handed to another instance without decoding the rest. Restoring a
//! checkpoint and replaying the source from its offsets yields the same output as a run that
//! never stopped: every ordering the output depends on is by key, never by hash-table layout.
//!
//! Layout of [`Checkpoint::to_bytes`]: `b"SLUICECP"`, format version as u16 little endian,
//! then the postcard encoding of the checkpoint.

use serde::{Deserialize, Serialize};
use sluice_formats::Value;
use std::collections::BTreeMap;

/// The format version written by this build.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC: &[u8; 8] = b"SLUICECP";

/// A value in a serializable form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum SerValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Timestamp(i64),
}

impl From<&Value> for SerValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => SerValue::Null,
            Value::Bool(b) => SerValue::Bool(*b),
            Value::Int(i) => SerValue::Int(*i),
            Value::Float(f) => SerValue::Float(*f),
            Value::Str(s) => SerValue::Str(s.to_string()),
            Value::Bytes(b) => SerValue::Bytes(b.to_vec()),
            Value::Timestamp(t) => SerValue::Timestamp(*t),
        }
    }
}

impl From<SerValue> for Value {
    fn from(v: SerValue) -> Self {
        match v {
            SerValue::Null => Value::Null,
            SerValue::Bool(b) => Value::Bool(b),
            SerValue::Int(i) => Value::Int(i),
            SerValue::Float(f) => Value::Float(f),
            SerValue::Str(s) => Value::from(s),
            SerValue::Bytes(b) => Value::Bytes(b.into()),
            SerValue::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

/// The keyed state of one virtual node, for every query of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VnodeSnapshot {
    /// The virtual node.
    pub vnode: u16,
    /// Encoded state.
    pub bytes: Vec<u8>,
}

/// A consistent snapshot of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The job's name.
    pub job: String,
    /// Fingerprint of the parts of the plan that shape state; a checkpoint restores only into
    /// the same queries.
    pub fingerprint: u64,
    /// Per source partition, the next offset to read.
    pub offsets: BTreeMap<i32, i64>,
    /// Unkeyed state: watermark tracker, window bookkeeping, triggers, counters.
    pub shared: Vec<u8>,
    /// Keyed state of every virtual node that holds any.
    pub vnodes: Vec<VnodeSnapshot>,
}

/// Why a checkpoint cannot be taken, read or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The bytes do not start with the checkpoint magic.
    #[error("not a sluice checkpoint (bad magic)")]
    BadMagic,
    /// Written by a newer (or unknown) format version.
    #[error("checkpoint format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The bytes are damaged.
    #[error("checkpoint is damaged: {0}")]
    Corrupt(String),
    /// The checkpoint is of another job.
    #[error("checkpoint belongs to job `{found}`, not `{expected}`")]
    WrongJob {
        /// Job in the checkpoint.
        found: String,
        /// This job.
        expected: String,
    },
    /// The job's queries changed since the checkpoint was taken.
    #[error("the queries of job `{job}` changed since this checkpoint was taken, so its state does not fit them")]
    PlanChanged {
        /// The job.
        job: String,
    },
    /// Output produced before the checkpoint has not been polled yet.
    #[error("{pending} outputs are still queued; poll them (and hand them to the sinks) before checkpointing")]
    OutputPending {
        /// Queued outputs.
        pending: usize,
    },
}

impl CheckpointError {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            CheckpointError::BadMagic | CheckpointError::WrongJob { .. } => {
                "give each job its own [checkpoint] location"
            }
            CheckpointError::UnsupportedVersion { .. } => {
                "run the sluice that wrote the checkpoint (or a newer one), or start with a new [checkpoint] location"
            }
            CheckpointError::Corrupt(_) => {
                "move the damaged epoch file away to resume from the checkpoint before it, or start with a new \
                 [checkpoint] location"
            }
            CheckpointError::PlanChanged { .. } => {
                "run the job file the checkpoint was taken with, or start with a new [checkpoint] location"
            }
            CheckpointError::OutputPending { .. } => {
                "poll the outputs (and hand them to the sinks) before checkpointing"
            }
        }
    }
}

impl Checkpoint {
    /// Encodes the checkpoint.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Serializing plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// Decodes a checkpoint written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        postcard::from_bytes(&bytes[10..]).map_err(|e| CheckpointError::Corrupt(e.to_string()))
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap_or_default()
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, CheckpointError> {
    postcard::from_bytes(bytes).map_err(|e| CheckpointError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_refusals() {
        let cp = Checkpoint {
            job: "j".into(),
            fingerprint: 7,
            offsets: BTreeMap::from([(0, 10), (3, 99)]),
            shared: vec![1, 2, 3],
            vnodes: vec![VnodeSnapshot { vnode: 5, bytes: vec![9] }],
        };
        let bytes = cp.to_bytes();
        assert_eq!(Checkpoint::from_bytes(&bytes), Ok(cp));
        assert_eq!(Checkpoint::from_bytes(b"nonsense-bytes"), Err(CheckpointError::BadMagic));
        let mut newer = bytes.clone();
        newer[8] = 2;
        assert_eq!(Checkpoint::from_bytes(&newer), Err(CheckpointError::UnsupportedVersion { found: 2, supported: 1 }));
        assert!(matches!(Checkpoint::from_bytes(&bytes[..bytes.len() - 3]), Err(CheckpointError::Corrupt(_))));
        for v in
            [Value::Null, Value::Float(-0.5), Value::from("x"), Value::Bytes(vec![1u8].into()), Value::Timestamp(-3)]
        {
            assert_eq!(Value::from(SerValue::from(&v)), v);
        }
    }
}
