//! Compatibility checks between a new schema and a subject's earlier versions.
//!
//! - [`protobuf`]: Confluent's protobuf difference rules.
//! - [`avro`]: Avro schema resolution.
//! - JSON Schema: not checked; a level other than `NONE` with earlier versions is refused with
//!   [`CompatError::Unsupported`] (HTTP 422, error 42203) naming the fix.

pub mod avro;
pub mod protobuf;

use crate::schema::Parsed;
use crate::types::{CompatibilityLevel, SchemaType};

/// A check that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// sluice does not check this schema type.
    #[error(
        "compatibility checking of {schema_type} schemas is not supported by sluice's registry (level {level}); set the \
         subject's level to NONE with PUT /config/{{subject}} {{\"compatibility\":\"NONE\"}} to register new versions"
    )]
    Unsupported {
        /// The type.
        schema_type: SchemaType,
        /// The level in force.
        level: CompatibilityLevel,
    },
}

/// An earlier version to check against.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// Its version number.
    pub version: i32,
    /// Parsed.
    pub parsed: &'a Parsed,
    /// Its canonical text (quoted in verbose messages).
    pub text: &'a str,
}

/// Checks `new` against the live earlier versions `previous` (oldest first) under `level`.
/// Returns Confluent-style messages: empty when compatible.
pub fn check(level: CompatibilityLevel, new: &Parsed, previous: &[Previous<'_>]) -> Result<Vec<String>, CompatError> {
    if level == CompatibilityLevel::None || previous.is_empty() {
        return Ok(Vec::new());
    }
    let scope: &[Previous<'_>] = if level.transitive() { previous } else { &previous[previous.len() - 1..] };
    for old in scope.iter().rev() {
        let mut problems: Vec<(String, String)> = Vec::new();
        if level.backward() {
            problems.extend(incompatibilities(level, old.parsed, new)?);
        }
        if level.forward() {
            problems.extend(incompatibilities(level, new, old.parsed)?);
        }
        if !problems.is_empty() {
            let mut messages: Vec<String> = problems
                .into_iter()
                .map(|(kind, description)| format!("{{errorType:'{kind}', description:'{description}'}}"))
                .collect();
            messages.push(format!("{{oldSchemaVersion: {}}}", old.version));
            messages.push(format!("{{oldSchema: '{}'}}", old.text));
            messages.push(format!("{{compatibility: '{level}'}}"));
            return Ok(messages);
        }
    }
    Ok(Vec::new())
}

/// Why data written with `writer` cannot be read with `reader`.
fn incompatibilities(
    level: CompatibilityLevel,
    writer: &Parsed,
    reader: &Parsed,
) -> Result<Vec<(String, String)>, CompatError> {
    Ok(match (writer, reader) {
        (Parsed::Protobuf(w), Parsed::Protobuf(r)) => protobuf::compare(w, r)
            .into_iter()
            .filter(|d| !d.kind.compatible())
            .map(|d| (d.kind.name().to_string(), format!("at path '{}' {}", d.path, d.kind.describe())))
            .collect(),
        (Parsed::Avro(w), Parsed::Avro(r)) => avro::check(r, w),
        (Parsed::Json(w), Parsed::Json(r)) if w == r => Vec::new(),
        (Parsed::Json(_), Parsed::Json(_)) => {
            return Err(CompatError::Unsupported { schema_type: SchemaType::Json, level });
        }
        _ => vec![("TYPE_CHANGED".into(), "Incompatible because of different schema type".into())],
    })
}
