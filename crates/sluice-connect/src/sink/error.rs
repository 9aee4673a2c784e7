//! Sink errors: each names the sink (kind, query, path), what went wrong and the fix.

use super::storage::StorageError;

/// A sink failed. The `sink` field reads like `parquet sink of query `views` (s3://b/out)`.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink's options are wrong (found when it is built).
    #[error("{sink}: option `{option}`: {message}; {fix}")]
    Config {
        /// Which sink.
        sink: String,
        /// The option.
        option: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A result column cannot be written as the sink needs.
    #[error("{sink}: column `{column}`: {message}; {fix}")]
    Column {
        /// Which sink.
        sink: String,
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// Reading or writing storage failed.
    #[error("{sink}: {source}")]
    Storage {
        /// Which sink.
        sink: String,
        /// The storage error (names the location).
        #[source]
        source: StorageError,
    },
    /// Encoding rows failed.
    #[error("{sink}: {message}")]
    Encode {
        /// Which sink.
        sink: String,
        /// What went wrong.
        message: String,
    },
    /// The runtime called the sink out of order (a bug in the caller).
    #[error("{sink}: {message}")]
    Protocol {
        /// Which sink.
        sink: String,
        /// What was wrong with the call.
        message: String,
    },
    /// Output that a committed checkpoint covers is gone from storage.
    #[error(
        "{sink}: epoch {epoch} was committed but its file {file} is neither staged nor published; \
         something deleted it (a lifecycle rule on the staging prefix, or a manual clean-up): \
         that output is lost and must be recomputed from the source"
    )]
    Lost {
        /// Which sink.
        sink: String,
        /// The committed epoch.
        epoch: u64,
        /// The missing file's final location.
        file: String,
    },
}

impl SinkError {
    pub(crate) fn storage(sink: &str, source: StorageError) -> SinkError {
        SinkError::Storage { sink: sink.to_string(), source }
    }

    pub(crate) fn protocol(sink: &str, message: impl Into<String>) -> SinkError {
        SinkError::Protocol { sink: sink.to_string(), message: message.into() }
    }

    pub(crate) fn encode(sink: &str, message: impl Into<String>) -> SinkError {
        SinkError::Encode { sink: sink.to_string(), message: message.into() }
    }

    pub(crate) fn config(
        sink: &str,
        option: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> SinkError {
        SinkError::Config { sink: sink.to_string(), option: option.into(), message: message.into(), fix: fix.into() }
    }
}
