//! The registry core's errors; each knows its Confluent error code and HTTP status, which the
//! HTTP edge turns into `{"error_code":..., "message":...}`.

use crate::compat::CompatError;
use crate::schema::SchemaError;
use crate::store::StoreError;

/// What a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 40401.
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402.
    #[error("Version {version} not found for subject '{subject}'.")]
    VersionNotFound {
        /// Subject.
        subject: String,
        /// Version asked for.
        version: String,
    },
    /// 40403.
    #[error("{0}")]
    SchemaNotFound(String),
    /// 40404.
    #[error("Subject '{0}' was soft deleted. Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 40405.
    #[error(
        "Subject '{0}' was not deleted first before being permanently deleted; delete it without permanent=true first"
    )]
    SubjectNotSoftDeleted(String),
    /// 40406.
    #[error("Subject '{subject}' Version {version} was soft deleted. Set permanent=true to delete permanently")]
    VersionSoftDeleted {
        /// Subject.
        subject: String,
        /// Version.
        version: i32,
    },
    /// 40407.
    #[error(
        "Subject '{subject}' Version {version} was not deleted first before being permanently deleted; delete it \
         without permanent=true first"
    )]
    VersionNotSoftDeleted {
        /// Subject.
        subject: String,
        /// Version.
        version: i32,
    },
    /// 40408.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectConfigNotFound(String),
    /// 40409.
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotFound(String),
    /// 409.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", .messages.join(", "))]
    Incompatible {
        /// Subject.
        subject: String,
        /// Confluent-style detail messages.
        messages: Vec<String>,
    },
    /// 42201.
    #[error(transparent)]
    InvalidSchema(#[from] SchemaError),
    /// 42201, for requests that are not schemas at all.
    #[error("Invalid schema: {0}")]
    InvalidRequest(String),
    /// 42202.
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \
         \"latest\""
    )]
    InvalidVersion(String),
    /// 42203.
    #[error(
        "Invalid compatibility level {0:?}. Valid values are NONE, BACKWARD, FORWARD, FULL, BACKWARD_TRANSITIVE, \
         FORWARD_TRANSITIVE, and FULL_TRANSITIVE"
    )]
    InvalidCompatibilityLevel(String),
    /// 42203: a check sluice cannot make.
    #[error(transparent)]
    CompatibilityUnsupported(#[from] CompatError),
    /// 42204.
    #[error("Invalid mode {0:?}. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and IMPORT")]
    InvalidMode(String),
    /// 42205.
    #[error("{0}")]
    NotPermitted(String),
    /// 42206.
    #[error(
        "One or more references exist to the schema {{subject={subject}, version={version}}}; delete the schemas that reference it first"
    )]
    ReferenceExists {
        /// Subject.
        subject: String,
        /// Version.
        version: i32,
    },
    /// 50001.
    #[error("Error in the backend data store: {0}")]
    Store(StoreError),
}

// by hand, not `#[from]`: the message already holds the store's, so no error source is kept
// (error reports that print the chain would say it twice)
impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        RegistryError::Store(e)
    }
}

impl RegistryError {
    /// Confluent's error code.
    pub fn code(&self) -> u32 {
        match self {
            RegistryError::SubjectNotFound(_) => 40401,
            RegistryError::VersionNotFound { .. } => 40402,
            RegistryError::SchemaNotFound(_) => 40403,
            RegistryError::SubjectSoftDeleted(_) => 40404,
            RegistryError::SubjectNotSoftDeleted(_) => 40405,
            RegistryError::VersionSoftDeleted { .. } => 40406,
            RegistryError::VersionNotSoftDeleted { .. } => 40407,
            RegistryError::SubjectConfigNotFound(_) => 40408,
            RegistryError::SubjectModeNotFound(_) => 40409,
            RegistryError::Incompatible { .. } => 409,
            RegistryError::InvalidSchema(_) | RegistryError::InvalidRequest(_) => 42201,
            RegistryError::InvalidVersion(_) => 42202,
            RegistryError::InvalidCompatibilityLevel(_) | RegistryError::CompatibilityUnsupported(_) => 42203,
            RegistryError::InvalidMode(_) => 42204,
            RegistryError::NotPermitted(_) => 42205,
            RegistryError::ReferenceExists { .. } => 42206,
            RegistryError::Store(_) => 50001,
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(&self) -> u16 {
        match self.code() {
            409 => 409,
            c if (40400..40500).contains(&c) => 404,
            c if (42200..42300).contains(&c) => 422,
            _ => 500,
        }
    }
}
