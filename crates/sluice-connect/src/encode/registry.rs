//! Protobuf in Confluent's wire format: the schema registered under `<topic>-value` (as
//! confluent-kafka's `ProtobufSerializer` registers it), each value the magic byte, the schema
//! id, the message indexes and the message (seed 001's producer).

use super::{EncodeError, Encoder};
use sluice_formats::Row;
use sluice_formats::protobuf::{ProtoSchema, RowEncoder, indexes_of};
use sluice_registry::client::RegistryClient;

/// Encodes rows as one registered message type, framed with its schema id.
#[derive(Debug, Clone)]
pub struct RegistryProtoEncoder {
    id: u32,
    indexes: Vec<u32>,
    encoder: RowEncoder,
    message: String,
    subject: String,
    url: String,
}

impl RegistryProtoEncoder {
    /// Registers `file` (compiled from `source`) under `subject` at the registry `url` and
    /// returns an encoder of `message`. The error says what failed and how to fix it.
    pub async fn register(
        url: &str,
        subject: &str,
        file: &str,
        source: &str,
        message: &str,
    ) -> Result<RegistryProtoEncoder, String> {
        let schema = ProtoSchema::compile_source(file, source).map_err(|e| format!("{file}: {e}"))?;
        let desc = schema.message(message).map_err(|e| format!("{file}: {e}"))?;
        let encoder = RowEncoder::new(&desc).map_err(|e| format!("{message}: {e}"))?;
        let client = RegistryClient::new(url);
        let id = client.register_proto_file(subject, &schema, file).await.map_err(|e| {
            format!(
                "cannot register the schema of {message} under subject {subject} at {url}: {e}; start a registry \
                 (`sluice broker` serves one on 127.0.0.1:8081) or pass --schema-registry URL"
            )
        })?;
        Ok(RegistryProtoEncoder {
            id,
            indexes: indexes_of(&desc),
            encoder,
            message: message.to_string(),
            subject: subject.to_string(),
            url: url.to_string(),
        })
    }

    /// The registered schema's id.
    pub fn schema_id(&self) -> u32 {
        self.id
    }
}

impl Encoder for RegistryProtoEncoder {
    fn encode(&mut self, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        sluice_wire::confluent::encode_protobuf_prefix(self.id, &self.indexes, out);
        self.encoder.encode(row, out).map_err(|e| EncodeError::Write(e.to_string()))
    }

    fn describe(&self) -> String {
        format!(
            "protobuf {} in Confluent's wire format (schema id {} under subject {} at {})",
            self.message, self.id, self.subject, self.url
        )
    }
}
