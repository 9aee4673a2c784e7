//! Records of the `_schemas` topic, keyed and shaped as Confluent Schema Registry writes them, so
//! the topic can be read by either.
//!
//! | key | value |
//! |---|---|
//! | `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}` | `{"subject","version","id","schemaType","references","schema","deleted"}`; null = permanently deleted |
//! | `{"keytype":"CONFIG","subject":S or null,"magic":0}` | `{"compatibilityLevel":L}`; null = removed |
//! | `{"keytype":"MODE","subject":S or null,"magic":0}` | `{"mode":M}`; null = removed |
//! | `{"keytype":"DELETE_SUBJECT","subject":S,"magic":0}` | `{"subject":S,"version":V}`: versions up to V soft-deleted |
//! | `{"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}` | `{"subject":S}`: versions permanently deleted |
//! | `{"keytype":"NOOP","magic":0}` | ignored |

use crate::types::{CompatibilityLevel, Mode, SchemaReference, SchemaType};
use serde::{Deserialize, Serialize};

/// A record that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("unreadable record in the schemas topic ({what}): {source}")]
pub struct RecordError {
    /// Key or value.
    what: &'static str,
    /// The JSON error.
    source: serde_json::Error,
}

/// The key of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// One version of a subject.
    Schema {
        /// Subject.
        subject: String,
        /// Version.
        version: i32,
    },
    /// Compatibility level, global (`None`) or of a subject.
    Config(Option<String>),
    /// Mode, global or of a subject.
    Mode(Option<String>),
    /// Soft delete of a subject's versions.
    DeleteSubject(String),
    /// Permanent delete of a subject's versions.
    ClearSubject(String),
    /// Anything else (NOOP, CONTEXT, keys of newer registries): skipped.
    Other,
}

#[derive(Serialize, Deserialize)]
struct RawKey {
    keytype: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
    magic: i32,
}

/// One schema version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    /// Subject.
    pub subject: String,
    /// Version.
    pub version: i32,
    /// Global id.
    pub id: u32,
    /// Type; absent means AVRO.
    #[serde(rename = "schemaType", default = "avro", skip_serializing_if = "is_avro")]
    pub schema_type: SchemaType,
    /// References.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Canonical schema text.
    pub schema: String,
    /// Soft-deleted.
    #[serde(default)]
    pub deleted: bool,
}

fn avro() -> SchemaType {
    SchemaType::Avro
}

fn is_avro(t: &SchemaType) -> bool {
    *t == SchemaType::Avro
}

/// A compatibility setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// The level.
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: CompatibilityLevel,
}

/// A mode setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    /// The mode.
    pub mode: Mode,
}

/// A subject soft delete up to a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    /// Subject.
    pub subject: String,
    /// Highest version deleted.
    #[serde(default = "max_version")]
    pub version: i32,
}

fn max_version() -> i32 {
    i32::MAX
}

/// The decoded value of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A schema version.
    Schema(SchemaValue),
    /// A compatibility level.
    Config(ConfigValue),
    /// A mode.
    Mode(ModeValue),
    /// Versions deleted up to.
    DeleteSubject(DeleteSubjectValue),
    /// No value (tombstone) or a value that needs none.
    None,
}

/// A record to write or that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Key.
    pub key: Key,
    /// Value; [`Value::None`] for tombstones and for keys whose value carries nothing.
    pub value: Value,
}

impl Key {
    /// The key's bytes, as Confluent writes them.
    pub fn encode(&self) -> Vec<u8> {
        let raw = match self {
            Key::Schema { subject, version } => {
                RawKey { keytype: "SCHEMA".into(), subject: Some(subject.clone()), version: Some(*version), magic: 1 }
            }
            Key::Config(s) => RawKey { keytype: "CONFIG".into(), subject: s.clone(), version: None, magic: 0 },
            Key::Mode(s) => RawKey { keytype: "MODE".into(), subject: s.clone(), version: None, magic: 0 },
            Key::DeleteSubject(s) => {
                RawKey { keytype: "DELETE_SUBJECT".into(), subject: Some(s.clone()), version: None, magic: 0 }
            }
            Key::ClearSubject(s) => {
                RawKey { keytype: "CLEAR_SUBJECT".into(), subject: Some(s.clone()), version: None, magic: 0 }
            }
            Key::Other => RawKey { keytype: "NOOP".into(), subject: None, version: None, magic: 0 },
        };
        serde_json::to_vec(&raw).unwrap_or_default()
    }

    /// Parses key bytes.
    pub fn decode(bytes: &[u8]) -> Result<Key, RecordError> {
        let raw: RawKey = serde_json::from_slice(bytes).map_err(|source| RecordError { what: "key", source })?;
        Ok(match (raw.keytype.as_str(), raw.subject, raw.version) {
            ("SCHEMA", Some(subject), Some(version)) => Key::Schema { subject, version },
            ("CONFIG", s, _) => Key::Config(s),
            ("MODE", s, _) => Key::Mode(s),
            ("DELETE_SUBJECT", Some(s), _) => Key::DeleteSubject(s),
            ("CLEAR_SUBJECT", Some(s), _) => Key::ClearSubject(s),
            _ => Key::Other,
        })
    }
}

impl Record {
    /// Key and value bytes (`None` = tombstone).
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let value = match &self.value {
            Value::Schema(v) => serde_json::to_vec(v).ok(),
            Value::Config(v) => serde_json::to_vec(v).ok(),
            Value::Mode(v) => serde_json::to_vec(v).ok(),
            Value::DeleteSubject(v) => serde_json::to_vec(v).ok(),
            Value::None => match &self.key {
                Key::ClearSubject(s) => serde_json::to_vec(&serde_json::json!({ "subject": s })).ok(),
                _ => None,
            },
        };
        (self.key.encode(), value)
    }

    /// Parses a record read from the topic.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, RecordError> {
        let key = Key::decode(key)?;
        let err = |source| RecordError { what: "value", source };
        let value = match (&key, value) {
            (_, None) => Value::None,
            (Key::Schema { .. }, Some(v)) => Value::Schema(serde_json::from_slice(v).map_err(err)?),
            (Key::Config(_), Some(v)) => Value::Config(serde_json::from_slice(v).map_err(err)?),
            (Key::Mode(_), Some(v)) => Value::Mode(serde_json::from_slice(v).map_err(err)?),
            (Key::DeleteSubject(_), Some(v)) => Value::DeleteSubject(serde_json::from_slice(v).map_err(err)?),
            (Key::ClearSubject(_) | Key::Other, Some(_)) => Value::None,
        };
        Ok(Record { key, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_confluents() {
        let k = Key::Schema { subject: "user-events-value".into(), version: 2 };
        assert_eq!(
            String::from_utf8(k.encode()).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"user-events-value","version":2,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(Key::Config(None).encode()).unwrap(),
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        for k in [
            k,
            Key::Config(None),
            Key::Config(Some("s".into())),
            Key::Mode(None),
            Key::DeleteSubject("s".into()),
            Key::ClearSubject("s".into()),
        ] {
            assert_eq!(Key::decode(&k.encode()).unwrap(), k);
        }
        assert_eq!(Key::decode(br#"{"keytype":"NOOP","magic":0}"#).unwrap(), Key::Other);
        assert!(Key::decode(b"not json").is_err());
    }

    #[test]
    fn values_round_trip_and_read_confluents_shape() {
        let r = Record {
            key: Key::Schema { subject: "s".into(), version: 1 },
            value: Value::Schema(SchemaValue {
                subject: "s".into(),
                version: 1,
                id: 7,
                schema_type: SchemaType::Protobuf,
                references: vec![SchemaReference { name: "a.proto".into(), subject: "a.proto".into(), version: 1 }],
                schema: "syntax = \"proto3\";".into(),
                deleted: false,
            }),
        };
        let (k, v) = r.encode();
        assert_eq!(Record::decode(&k, v.as_deref()).unwrap(), r);
        // as Confluent writes an Avro schema: no schemaType
        let confluent = br#"{"subject":"t","version":1,"id":1,"schema":"\"string\"","deleted":false}"#;
        let got = Record::decode(&Key::Schema { subject: "t".into(), version: 1 }.encode(), Some(confluent)).unwrap();
        assert!(matches!(got.value, Value::Schema(SchemaValue { schema_type: SchemaType::Avro, id: 1, .. })));
        let cfg = Record::decode(&Key::Config(None).encode(), Some(br#"{"compatibilityLevel":"FULL"}"#)).unwrap();
        assert_eq!(cfg.value, Value::Config(ConfigValue { compatibility_level: CompatibilityLevel::Full }));
        let tomb = Record::decode(&Key::Config(None).encode(), None).unwrap();
        assert_eq!(tomb.value, Value::None);
        assert!(Record::decode(&Key::Mode(None).encode(), Some(b"{\"mode\":\"SIDEWAYS\"}")).is_err());
    }
}
