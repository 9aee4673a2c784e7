//! Encoders: a [`Row`] in, a Kafka record value out.
//!
//! Producers hold a `Box<dyn Encoder>`, so the protobuf encoder of `sluice-formats` (descriptor
//! or registry driven) plugs in where the interim [`proto::ProtoEncoder`] sits today.

pub mod csv;
pub mod json;
pub mod proto;
pub mod registry;

use sluice_formats::{Kind, Row};

/// Why a row could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A cell's type does not fit the column it is written to.
    #[error("column {column:?} expects {expected} but the row holds {actual}")]
    Mismatch {
        /// Column name.
        column: String,
        /// What the format needs.
        expected: String,
        /// What the row held.
        actual: String,
    },
    /// The row has a different number of cells than the schema has columns.
    #[error("row has {actual} values but the schema has {expected} columns")]
    Width {
        /// Columns in the schema.
        expected: usize,
        /// Cells in the row.
        actual: usize,
    },
    /// The underlying writer failed (JSON, CSV).
    #[error("{0}")]
    Write(String),
}

/// Turns rows into record bytes.
pub trait Encoder: Send {
    /// Appends the encoding of `row` to `out` (which the caller clears between records).
    fn encode(&mut self, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    /// One line saying what this encoder writes, printed at producer start.
    fn describe(&self) -> String;
}

/// The name of a value's type, for error messages.
pub(crate) fn kind_name(v: &sluice_formats::Value) -> String {
    v.kind().map_or_else(|| "null".to_string(), |k: Kind| k.to_string())
}
