//! Encoders: a [`Row`] in, a Kafka record value out.
//!
//! Producers hold a `Box<dyn Encoder>`: JSON ([`json`]), CSV ([`csv`]) or protobuf from a
//! descriptor, plain or in Confluent's wire format ([`protobuf`]).

pub mod csv;
pub mod json;
pub mod protobuf;

use sluice_formats::Row;

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
    /// The producer's rows do not fit the message type.
    #[error("the records of this producer do not fit protobuf message {message}: {why}")]
    Schema {
        /// Message full name.
        message: String,
        /// What does not fit, and the fix.
        why: String,
    },
    /// The protobuf encoder refused a row (a value out of its field's range...).
    #[error(transparent)]
    Protobuf(#[from] sluice_formats::protobuf::ProtobufError),
}

/// Turns rows into record bytes.
pub trait Encoder: Send {
    /// Appends the encoding of `row` to `out` (which the caller clears between records).
    fn encode(&mut self, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    /// One line saying what this encoder writes, printed at producer start.
    fn describe(&self) -> String;
}
