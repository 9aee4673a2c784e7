//! The registry's vocabulary: schema types, references, compatibility levels, modes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of schema the registry stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// Apache Avro (the default when a request names no type).
    Avro,
    /// Protocol Buffers.
    Protobuf,
    /// JSON Schema.
    Json,
}

impl SchemaType {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
        }
    }

    /// Parses a wire name (case-insensitive); `None` for unknown types.
    pub fn parse(s: &str) -> Option<SchemaType> {
        match s.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            "JSON" => Some(SchemaType::Json),
            _ => None,
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A schema's dependency on another registered schema (a protobuf import, an Avro named type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct SchemaReference {
    /// The name the schema uses for it (the import path for protobuf).
    pub name: String,
    /// Subject it is registered under.
    pub subject: String,
    /// Version within that subject.
    pub version: i32,
}

/// Compatibility levels, as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    /// No checks.
    None,
    /// New schema reads data written with the latest one.
    Backward,
    /// ... with every earlier one.
    BackwardTransitive,
    /// Latest schema reads data written with the new one.
    Forward,
    /// Every earlier schema reads data written with the new one.
    ForwardTransitive,
    /// Backward and forward against the latest.
    Full,
    /// Backward and forward against every earlier one.
    FullTransitive,
}

impl CompatibilityLevel {
    /// Every level.
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::None,
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the new schema must read the old schemas' data.
    pub fn backward(self) -> bool {
        matches!(self, Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive)
    }

    /// Whether the old schemas must read the new schema's data.
    pub fn forward(self) -> bool {
        matches!(self, Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive)
    }

    /// Whether every earlier version is checked, not just the latest.
    pub fn transitive(self) -> bool {
        matches!(self, Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive)
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Registry modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// Normal operation.
    Readwrite,
    /// Registrations and deletes refused.
    Readonly,
    /// Like read-only, but config and mode can still be changed.
    ReadonlyOverride,
    /// Registrations may carry their own id and version (for migrations).
    Import,
}

impl Mode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Readwrite => "READWRITE",
            Mode::Readonly => "READONLY",
            Mode::ReadonlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        [Mode::Readwrite, Mode::Readonly, Mode::ReadonlyOverride, Mode::Import]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether writes to schemas are refused.
    pub fn read_only(self) -> bool {
        matches!(self, Mode::Readonly | Mode::ReadonlyOverride)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which version of a subject a request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    /// The highest live version (`latest` or `-1`).
    Latest,
    /// A version number.
    Number(i32),
}

impl VersionSpec {
    /// Parses a path segment: `latest`, `-1`, or 1..=2^31-1.
    pub fn parse(s: &str) -> Option<VersionSpec> {
        if s.eq_ignore_ascii_case("latest") {
            return Some(VersionSpec::Latest);
        }
        match s.parse::<i32>().ok()? {
            -1 => Some(VersionSpec::Latest),
            n if n >= 1 => Some(VersionSpec::Number(n)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for l in CompatibilityLevel::ALL {
            assert_eq!(CompatibilityLevel::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{}\"", l.as_str()));
        }
        assert_eq!(CompatibilityLevel::parse("full_transitive"), Some(CompatibilityLevel::FullTransitive));
        assert_eq!(CompatibilityLevel::parse("SIDEWAYS"), None);
        assert_eq!(Mode::parse("import"), Some(Mode::Import));
        assert_eq!(serde_json::to_string(&Mode::ReadonlyOverride).unwrap(), "\"READONLY_OVERRIDE\"");
        assert_eq!(SchemaType::parse("protobuf"), Some(SchemaType::Protobuf));
        assert_eq!(serde_json::to_string(&SchemaType::Json).unwrap(), "\"JSON\"");
    }

    #[test]
    fn version_specs() {
        assert_eq!(VersionSpec::parse("latest"), Some(VersionSpec::Latest));
        assert_eq!(VersionSpec::parse("-1"), Some(VersionSpec::Latest));
        assert_eq!(VersionSpec::parse("3"), Some(VersionSpec::Number(3)));
        for bad in ["0", "-2", "x", "2147483648", ""] {
            assert_eq!(VersionSpec::parse(bad), None, "{bad}");
        }
    }
}
