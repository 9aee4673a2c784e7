//! Protobuf record values: a producer's rows encoded as a message type from a descriptor, as
//! plain protobuf or framed for a schema registry (Confluent's wire format).
//!
//! The message's field table is resolved once ([`RowEncoder`]); the producer's columns are
//! matched to the message's fields by name once too, so a run costs one pass over the fields
//! per record. When the columns already line up with the fields (the seeds' own schemas), rows
//! go to the encoder as they are, without a copy.

use super::{EncodeError, Encoder};
use sluice_formats::protobuf::{MessageDescriptor, RowEncoder, indexes_of};
use sluice_formats::{Kind, Row, RowSchema, Value};

/// Encodes rows as one message type.
#[derive(Debug, Clone)]
pub struct ProtoEncoder {
    encoder: RowEncoder,
    message: MessageDescriptor,
    /// For each field of the message (in the encoder's column order): the producer's column
    /// that feeds it. `None` when the columns already line up.
    remap: Option<Vec<Option<usize>>>,
    scratch: Row,
    /// Confluent prefix written before every value (empty for plain protobuf).
    prefix: Vec<u8>,
    /// Where the schema came from, for [`Encoder::describe`].
    origin: String,
    schema_id: Option<(u32, String)>,
    /// Producer columns the message has no field for.
    dropped: Vec<String>,
    /// Message fields no producer column feeds (left unset).
    unset: Vec<String>,
}

/// The spelling-insensitive form of a name: `user_id`, `userId` and `UserID` all match.
fn loose(name: &str) -> String {
    name.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

/// Whether a producer column of kind `from` can feed a message column of kind `to`.
fn fits(from: Kind, to: Kind) -> bool {
    from == to
        || matches!(
            (from, to),
            (Kind::Int, Kind::Float)
                | (Kind::Int, Kind::Timestamp)
                | (Kind::Timestamp, Kind::Int)
                | (Kind::Str, Kind::Bytes)
                | (Kind::Bool, Kind::Int)
        )
}

impl ProtoEncoder {
    /// An encoder of `message` fed by rows laid out as `columns`. Columns are matched to fields
    /// by name (exactly, else ignoring case and underscores); a field no column feeds is left
    /// unset, a column with no field is not written (both are listed by [`Encoder::describe`]).
    /// Fails when no column matches at all, or when a column's type cannot become its field's.
    /// `origin` says where the schema came from (`the embedded user_event.desc`, a path).
    pub fn new(columns: &RowSchema, message: &MessageDescriptor, origin: &str) -> Result<Self, EncodeError> {
        let encoder = RowEncoder::new(message)?;
        let fields = &encoder.schema().fields;
        let full_name = message.full_name().to_string();
        let schema_err = |why: String| EncodeError::Schema { message: full_name.clone(), why };
        let mut map = Vec::with_capacity(fields.len());
        let mut used = vec![false; columns.len()];
        for field in fields {
            let exact = columns.fields.iter().position(|c| c.name == field.name);
            let found = exact.or_else(|| {
                let want = loose(&field.name);
                columns.fields.iter().enumerate().position(|(i, c)| !used[i] && loose(&c.name) == want)
            });
            if let Some(i) = found {
                let column = &columns.fields[i];
                if !fits(column.kind, field.kind) {
                    return Err(schema_err(format!(
                        "column {:?} holds {} values but field {:?} is {}; pass a --message whose field {:?} is a {} \
                         field",
                        column.name, column.kind, field.name, field.kind, field.name, column.kind
                    )));
                }
                used[i] = true;
            }
            map.push(found);
        }
        if !used.iter().any(|u| *u) {
            let have: Vec<&str> = columns.fields.iter().map(|c| c.name.as_str()).collect();
            let want: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return Err(schema_err(format!(
                "none of its fields ({}) matches a column of this producer ({}); pass --message with a message that \
                 has these fields",
                want.join(", "),
                have.join(", ")
            )));
        }
        let dropped = columns.fields.iter().zip(&used).filter(|(_, u)| !**u).map(|(c, _)| c.name.to_string()).collect();
        let unset = fields.iter().zip(&map).filter(|(_, m)| m.is_none()).map(|(f, _)| f.name.to_string()).collect();
        // Rows shorter than the message are padded with nulls by the encoder, so the rows can
        // be used as they are when column i feeds field i for every column.
        let lined_up =
            columns.len() <= map.len() && map.iter().enumerate().all(|(i, m)| *m == (i < columns.len()).then_some(i));
        Ok(ProtoEncoder {
            encoder,
            message: message.clone(),
            remap: (!lined_up).then_some(map),
            scratch: Row::default(),
            prefix: Vec::new(),
            origin: origin.to_string(),
            schema_id: None,
            dropped,
            unset,
        })
    }

    /// Frames every value for a schema registry: magic byte 0, `schema_id` big-endian, the
    /// message's index path (`[0]`, the file's first message, is the single byte 0), then the
    /// message, as confluent-kafka's `ProtobufSerializer` writes it. `subject` is for messages.
    pub fn with_confluent_framing(mut self, schema_id: u32, subject: &str) -> Self {
        self.prefix.clear();
        let indexes = indexes_of(&self.message);
        sluice_wire::confluent::encode_protobuf_prefix(schema_id, &indexes, &mut self.prefix);
        self.schema_id = Some((schema_id, subject.to_string()));
        self
    }

    /// The message type.
    pub fn message(&self) -> &MessageDescriptor {
        &self.message
    }

    /// The bytes written before each message (empty for plain protobuf).
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }
}

impl Encoder for ProtoEncoder {
    #[inline]
    fn encode(&mut self, row: &Row, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.prefix);
        match &self.remap {
            None => self.encoder.encode(row, out)?,
            Some(map) => {
                self.scratch.values.clear();
                self.scratch.values.extend(map.iter().map(|m| m.map_or(Value::Null, |i| row.get(i).clone())));
                self.encoder.encode(&self.scratch, out)?;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut s = format!("protobuf {} from {}", self.message.full_name(), self.origin);
        match &self.schema_id {
            Some((id, subject)) => s.push_str(&format!(
                ", Confluent wire format (schema id {id}, subject {subject}, prefix {})",
                crate::hex(&self.prefix)
            )),
            None => s.push_str(", plain (no schema registry)"),
        }
        if !self.dropped.is_empty() {
            s.push_str(&format!("; not in the message, not written: {}", self.dropped.join(", ")));
        }
        if !self.unset.is_empty() {
            s.push_str(&format!("; left unset: {}", self.unset.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::Field;
    use sluice_formats::protobuf::ProtoSchema;

    fn user_event_columns() -> RowSchema {
        RowSchema::new(vec![
            Field::new("userId", Kind::Str),
            Field::new("action", Kind::Str),
            Field::new("value", Kind::Float),
        ])
    }

    fn schema(src: &str) -> ProtoSchema {
        ProtoSchema::compile_source("t.proto", src).unwrap()
    }

    fn seed_user_event() -> MessageDescriptor {
        let s = ProtoSchema::from_descriptor_set(sluice_formats::seeds::USER_EVENT_DESC, "user_event.desc").unwrap();
        s.message(sluice_formats::seeds::USER_EVENT).unwrap()
    }

    fn row(user: &str, action: &str, value: f64) -> Row {
        Row::new(vec![user.into(), action.into(), Value::Float(value)])
    }

    #[test]
    fn user_event_bytes_match_protobuf_runtimes() {
        // UserEvent(userId="user5", action="purchase", value=412.63) as Python's protobuf
        // writes it: 0a 05 "user5" 12 08 "purchase" 19 <412.63 as LE double>.
        let mut enc = ProtoEncoder::new(&user_event_columns(), &seed_user_event(), "test").unwrap();
        assert!(enc.remap.is_none(), "the seed's columns line up with its message");
        let mut out = Vec::new();
        enc.encode(&row("user5", "purchase", 412.63), &mut out).unwrap();
        let mut expected = vec![0x0a, 5];
        expected.extend_from_slice(b"user5");
        expected.extend_from_slice(&[0x12, 8]);
        expected.extend_from_slice(b"purchase");
        expected.push(0x19);
        expected.extend_from_slice(&412.63f64.to_le_bytes());
        assert_eq!(out, expected);
        // proto3 leaves zero values out.
        out.clear();
        enc.encode(&row("", "view", 0.0), &mut out).unwrap();
        assert_eq!(out, [&[0x12u8, 4][..], b"view"].concat());
    }

    #[test]
    fn confluent_framing_prefixes_magic_id_and_index() {
        let enc = ProtoEncoder::new(&user_event_columns(), &seed_user_event(), "test").unwrap();
        let mut enc = enc.with_confluent_framing(0x0102_0304, "user-events-value");
        let mut out = Vec::new();
        enc.encode(&row("user1", "click", 1.0), &mut out).unwrap();
        assert_eq!(out[..6], [0, 1, 2, 3, 4, 0]);
        let mut plain = Vec::new();
        ProtoEncoder::new(&user_event_columns(), &seed_user_event(), "t")
            .unwrap()
            .encode(&row("user1", "click", 1.0), &mut plain)
            .unwrap();
        assert_eq!(out[6..], plain[..]);
        let d = enc.describe();
        assert!(d.contains("schema id 16909060") && d.contains("user-events-value") && d.contains("010203040"), "{d}");

        // A second top-level message has the index path [1]: count 1, index 1, zigzag: 02 02.
        let s = schema("syntax = \"proto3\"; message A { int32 x = 1; } message B { string userId = 1; }");
        let enc = ProtoEncoder::new(&user_event_columns(), &s.message("B").unwrap(), "t").unwrap();
        assert_eq!(enc.with_confluent_framing(2, "s").prefix(), [0, 0, 0, 0, 2, 2, 2]);
    }

    #[test]
    fn columns_match_fields_by_name_in_any_order() {
        let s = schema(
            "syntax = \"proto3\"; package p; message E { double value = 1; string user_id = 2; int64 extra = 3; \
             string action = 4; }",
        );
        let mut enc = ProtoEncoder::new(&user_event_columns(), &s.message("p.E").unwrap(), "t").unwrap();
        assert!(enc.remap.is_some());
        let mut out = Vec::new();
        enc.encode(&row("user2", "view", 2.5), &mut out).unwrap();
        let mut expected = vec![0x09];
        expected.extend_from_slice(&2.5f64.to_le_bytes());
        expected.extend_from_slice(&[0x12, 5]);
        expected.extend_from_slice(b"user2");
        expected.extend_from_slice(&[0x22, 4]);
        expected.extend_from_slice(b"view");
        assert_eq!(out, expected);
        assert!(enc.describe().contains("left unset: extra"), "{}", enc.describe());

        // A message without `action`: the column is dropped, and said so.
        let s = schema("syntax = \"proto3\"; message Small { string userId = 1; double value = 2; }");
        let enc = ProtoEncoder::new(&user_event_columns(), &s.message("Small").unwrap(), "t").unwrap();
        assert!(enc.describe().contains("not written: action"), "{}", enc.describe());
    }

    #[test]
    fn timestamps_and_ints_fit_their_fields() {
        let my_event = ProtoSchema::compile_source("my_event.proto", sluice_formats::seeds::MY_EVENT_PROTO).unwrap();
        let columns = RowSchema::new(vec![Field::new("number", Kind::Int), Field::new("created_at", Kind::Timestamp)]);
        let mut enc =
            ProtoEncoder::new(&columns, &my_event.message(sluice_formats::seeds::MY_EVENT).unwrap(), "t").unwrap();
        let mut out = Vec::new();
        enc.encode(&Row::new(vec![Value::Int(300), Value::Timestamp(1_700_000_000_123)]), &mut out).unwrap();
        // number = 300; created_at = Timestamp { seconds: 1700000000, nanos: 123000000 }
        let mut expected = vec![0x08, 0xac, 0x02, 0x12, 11, 0x08];
        expected.extend_from_slice(&[0x80, 0xe2, 0xcf, 0xaa, 0x06]);
        expected.extend_from_slice(&[0x10, 0xc0, 0xa9, 0xd3, 0x3a]);
        assert_eq!(out, expected);
    }

    #[test]
    fn mismatches_are_named() {
        let s = schema("syntax = \"proto3\"; message E { string userId = 1; bool value = 3; }");
        let err = ProtoEncoder::new(&user_event_columns(), &s.message("E").unwrap(), "t").unwrap_err().to_string();
        assert!(err.contains("\"value\"") && err.contains("float") && err.contains("bool"), "{err}");
        let s = schema("syntax = \"proto3\"; message Other { int32 a = 1; }");
        let err = ProtoEncoder::new(&user_event_columns(), &s.message("Other").unwrap(), "t").unwrap_err().to_string();
        assert!(err.contains("none of its fields (a)") && err.contains("userId, action, value"), "{err}");
        // Values out of a field's range fail per record, naming the column.
        let s = schema("syntax = \"proto3\"; message N { int32 number = 1; }");
        let columns = RowSchema::new(vec![Field::new("number", Kind::Int)]);
        let mut enc = ProtoEncoder::new(&columns, &s.message("N").unwrap(), "t").unwrap();
        let err = enc.encode(&Row::new(vec![Value::Int(1 << 40)]), &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("number") && err.contains("out of range"), "{err}");
    }
}
