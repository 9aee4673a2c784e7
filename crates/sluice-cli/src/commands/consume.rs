//! `sluice consume TOPIC`: print records, like kcat -C and kafka-console-consumer.
//!
//! Without `--group` the partitions are assigned directly (nothing is committed, any broker
//! works); with `--group` the consumer joins the group, which assigns partitions and stores the
//! offsets it reads.
//!
//! Values can be decoded as protobuf, from a descriptor (`--descriptor`, `--message`) or through
//! a schema registry (`--schema-registry`: the schema id in each value's Confluent prefix is
//! fetched once), and shown as protobuf's JSON mapping with the `.proto` field names, default
//! values included and 64-bit integers as numbers.

use crate::clients::interrupt_on_signal;
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn};
use anyhow::{Context, bail};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::{Value as Json, json};
use sluice_connect::civil::{format_timestamp_ms, parse_datetime_ms};
use sluice_connect::kafka::SluiceContext;
use sluice_formats::protobuf::{DynamicMessage, MessageDescriptor, ProtoSchema, message_at};
use sluice_registry::client::{ClientError, RegistryClient};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How key and value bytes are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BytesFormat {
    /// JSON when the bytes are a JSON object or array, else text when UTF-8, else hex.
    #[default]
    Auto,
    /// JSON (pretty-printed in text output); bytes that are not JSON fall back to auto.
    Json,
    /// UTF-8 text (invalid sequences replaced).
    Text,
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
    /// Protobuf, decoded with --descriptor / --message or through --schema-registry, shown as
    /// JSON (values only).
    #[value(alias = "protobuf")]
    Proto,
}

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ConsumeFormat {
    /// A header line per record (partition, offset, time, key, headers), then the value.
    #[default]
    Text,
    /// One JSON object per line: topic, partition, offset, timestamp, key, value, headers.
    Json,
}

/// `sluice consume` flags.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Connection.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Topic to read.
    #[arg(value_name = "TOPIC")]
    pub topic: String,
    /// Start at the first record of each partition [default: only records produced from now].
    /// With --group: for partitions the group has no committed offset for.
    #[arg(long, conflicts_with_all = ["offset", "from_timestamp"])]
    pub from_beginning: bool,
    /// Start at this offset in each partition; negative: that many records before the end.
    #[arg(short, long, value_name = "N", allow_negative_numbers = true, conflicts_with = "from_timestamp")]
    pub offset: Option<i64>,
    /// Start at the first record at or after this time: Unix ms, YYYY-MM-DD or
    /// YYYY-MM-DDTHH:MM:SS (UTC).
    #[arg(long, value_name = "TIME")]
    pub from_timestamp: Option<String>,
    /// Partition to read (repeatable) [default: all].
    #[arg(short, long, value_name = "N")]
    pub partition: Vec<i32>,
    /// Stop after this many records.
    #[arg(short, long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop at the end of every partition instead of waiting for new records.
    #[arg(short, long)]
    pub exit_at_end: bool,
    /// Read as this consumer group (partitions assigned by the group, offsets committed).
    #[arg(short, long, value_name = "GROUP", conflicts_with_all = ["partition", "offset", "from_timestamp"])]
    pub group: Option<String>,
    /// How values are shown [default: auto; proto with --descriptor or --schema-registry].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub value_format: Option<BytesFormat>,
    /// Decode values as protobuf messages of this schema: a descriptor set (FILE.desc) or a
    /// .proto file (compiled, imports searched in its directory).
    #[arg(long, value_name = "FILE.desc|FILE.proto")]
    pub descriptor: Option<PathBuf>,
    /// The message type of the values in --descriptor, by full name [default: its only message].
    #[arg(long, value_name = "NAME", requires = "descriptor")]
    pub message: Option<String>,
    /// Decode values written by a schema-registry protobuf serializer (Confluent's wire format):
    /// each value's schema is fetched from this registry by the id in its prefix. With
    /// --value-format proto and no --descriptor, SCHEMA_REGISTRY_URL (environment or ./.env) is
    /// used.
    #[arg(long, value_name = "URL", conflicts_with = "descriptor")]
    pub schema_registry: Option<String>,
    /// How keys are shown.
    #[arg(long, value_enum, default_value_t = BytesFormat::Auto, value_name = "FORMAT")]
    pub key_format: BytesFormat,
    /// Output for people (text) or scripts (json, one object per line).
    #[arg(long, value_enum, default_value_t = ConsumeFormat::Text, value_name = "FORMAT")]
    pub format: ConsumeFormat,
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Latest,
    Beginning,
    Offset(i64),
    Tail(i64),
    Time(i64),
}

#[derive(Debug)]
struct ConsumeConfig {
    conn: KafkaConn,
    topic: String,
    start: Start,
    partitions: Vec<i32>,
    count: Option<u64>,
    exit_at_end: bool,
    group: Option<String>,
    values: ValueDecoding,
    key_format: BytesFormat,
    format: ConsumeFormat,
}

/// How value bytes become what is printed.
#[derive(Debug)]
enum ValueDecoding {
    /// As they are, in a [`BytesFormat`] other than `Proto`.
    Bytes(BytesFormat),
    /// Protobuf of one message type.
    Descriptor(MessageDescriptor),
    /// Confluent-framed protobuf, schemas from a registry.
    Registry { url: String },
}

fn format_name(f: BytesFormat) -> String {
    clap::ValueEnum::to_possible_value(&f).map(|v| v.get_name().to_string()).unwrap_or_default()
}

impl ValueDecoding {
    fn resolve(args: &ConsumeArgs, env: &Environment) -> anyhow::Result<Self> {
        let proto_asked = args.value_format == Some(BytesFormat::Proto);
        let registry = match &args.schema_registry {
            Some(url) => Some((url.clone(), "--schema-registry".to_string())),
            None if proto_asked && args.descriptor.is_none() => env.get("SCHEMA_REGISTRY_URL"),
            None => None,
        };
        let protobuf = args.descriptor.is_some() || registry.is_some();
        match args.value_format {
            Some(f) if f != BytesFormat::Proto && protobuf => bail!(
                "--value-format {} cannot be combined with {}, which decodes values as protobuf; leave one out",
                format_name(f),
                if args.descriptor.is_some() { "--descriptor" } else { "--schema-registry" }
            ),
            Some(BytesFormat::Proto) if !protobuf => bail!(
                "--value-format proto needs a schema: --descriptor FILE.desc|FILE.proto (with --message NAME), or \
                 --schema-registry URL (or SCHEMA_REGISTRY_URL) for values in Confluent's wire format"
            ),
            Some(f) if !protobuf => return Ok(ValueDecoding::Bytes(f)),
            None if !protobuf => return Ok(ValueDecoding::Bytes(BytesFormat::Auto)),
            _ => {}
        }
        if let Some(path) = &args.descriptor {
            let schema =
                ProtoSchema::load(path).map_err(|e| anyhow::anyhow!("--descriptor {}: {e}", path.display()))?;
            let message = match &args.message {
                Some(name) => schema.message(name)?,
                None => {
                    let names = schema.message_names();
                    match names.as_slice() {
                        [only] => schema.message(only)?,
                        _ => bail!(
                            "{} declares {} messages ({}); pick the values' type with --message NAME",
                            path.display(),
                            names.len(),
                            names.join(", ")
                        ),
                    }
                }
            };
            return Ok(ValueDecoding::Descriptor(message));
        }
        let Some((url, origin)) = registry else { bail!("no schema for --value-format proto") };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!(
                "schema registry URL {url:?} (from {origin}) is not http://HOST:PORT; write e.g. http://127.0.0.1:8081"
            );
        }
        Ok(ValueDecoding::Registry { url })
    }
}

impl ConsumeConfig {
    fn resolve(args: ConsumeArgs, env: &Environment) -> anyhow::Result<Self> {
        crate::commands::produce::check_topic_name(&args.topic, "TOPIC")?;
        let start = match (&args.from_timestamp, args.offset, args.from_beginning) {
            (Some(t), _, _) => Start::Time(parse_datetime_ms(t).with_context(|| {
                format!("--from-timestamp {t:?} is not a time; write Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)")
            })?),
            (None, Some(o), _) if o < 0 => Start::Tail(-o),
            (None, Some(o), _) => Start::Offset(o),
            (None, None, true) => Start::Beginning,
            (None, None, false) => Start::Latest,
        };
        if let Some(p) = args.partition.iter().find(|p| **p < 0) {
            bail!("--partition {p} must be 0 or more");
        }
        if args.count == Some(0) {
            bail!("--count 0 would read nothing; give at least 1 or leave it out");
        }
        if args.key_format == BytesFormat::Proto {
            bail!(
                "--key-format proto: keys are shown as auto, json, text, hex or base64; protobuf decoding is for \
                 values (--value-format proto)"
            );
        }
        let values = ValueDecoding::resolve(&args, env)?;
        Ok(ConsumeConfig {
            conn: KafkaConn::resolve(&args.connect, env)?,
            topic: args.topic,
            start,
            partitions: args.partition,
            count: args.count,
            exit_at_end: args.exit_at_end,
            group: args.group,
            values,
            key_format: args.key_format,
            format: args.format,
        })
    }
}

fn hex(b: &[u8]) -> String {
    sluice_connect::hex(b)
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn is_texty(s: &str) -> bool {
    s.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// Renders bytes as asked: the JSON value and the name of the format used.
fn render(bytes: &[u8], format: BytesFormat) -> (Json, &'static str) {
    match format {
        // Protobuf needs a schema (see `ValueRenderer`); without one the bytes are shown as hex.
        BytesFormat::Hex | BytesFormat::Proto => (Json::String(hex(bytes)), "hex"),
        BytesFormat::Base64 => (Json::String(base64(bytes)), "base64"),
        BytesFormat::Text => (Json::String(String::from_utf8_lossy(bytes).into_owned()), "text"),
        BytesFormat::Json | BytesFormat::Auto => {
            let trimmed = bytes.trim_ascii_start();
            let structured = matches!(trimmed.first(), Some(b'{' | b'['));
            if (format == BytesFormat::Json || structured)
                && let Ok(v) = serde_json::from_slice::<Json>(bytes)
            {
                return (v, "json");
            }
            match std::str::from_utf8(bytes) {
                Ok(s) if is_texty(s) => (Json::String(s.to_string()), "text"),
                _ => (Json::String(hex(bytes)), "hex"),
            }
        }
    }
}

/// A value as printed.
#[derive(Debug, Clone, PartialEq)]
struct RenderedValue {
    value: Json,
    format: &'static str,
    /// The protobuf message type it was decoded as.
    message: Option<String>,
    /// The registry schema id from its prefix.
    schema_id: Option<u32>,
    /// Why it could not be decoded as asked (it is shown as hex then).
    error: Option<String>,
}

impl RenderedValue {
    fn plain((value, format): (Json, &'static str)) -> Self {
        RenderedValue { value, format, message: None, schema_id: None, error: None }
    }

    fn undecoded(bytes: &[u8], schema_id: Option<u32>, error: String) -> Self {
        RenderedValue { schema_id, error: Some(error), ..Self::plain((Json::String(hex(bytes)), "hex")) }
    }
}

/// Protobuf's JSON mapping as `sluice consume` prints it: the `.proto` field names (as written
/// in the schema), every field (zero values too, so a 0.0 `value` is visible), 64-bit integers
/// as JSON numbers.
const PROTO_JSON: prost_reflect::SerializeOptions = prost_reflect::SerializeOptions::new()
    .use_proto_field_name(true)
    .skip_default_fields(false)
    .stringify_64_bit_integers(false);

/// Decodes `payload` as `message`, to JSON.
fn decode_proto(message: &MessageDescriptor, payload: &[u8], whole: &[u8], schema_id: Option<u32>) -> RenderedValue {
    let decoded = DynamicMessage::decode(message.clone(), payload)
        .map_err(|e| e.to_string())
        .and_then(|m| m.serialize_with_options(serde_json::value::Serializer, &PROTO_JSON).map_err(|e| e.to_string()));
    match decoded {
        Ok(value) => RenderedValue {
            value,
            format: "protobuf",
            message: Some(message.full_name().to_string()),
            schema_id,
            error: None,
        },
        Err(e) => {
            // Confluent-framed values start with the magic byte 0, which no protobuf field key is.
            let hint = if schema_id.is_none() && whole.len() > 5 && whole[0] == 0 {
                "; it starts like Confluent's wire format: read it with --schema-registry URL"
            } else {
                ""
            };
            RenderedValue::undecoded(
                whole,
                schema_id,
                format!("not a valid {} message: {e}{hint}", message.full_name()),
            )
        }
    }
}

/// Turns value bytes into what is printed, fetching registry schemas once per id.
struct ValueRenderer<'a> {
    decoding: &'a ValueDecoding,
    registry: Option<(RegistryClient, tokio::runtime::Handle)>,
    /// (schema id, message indexes) → the message, or why there is none.
    messages: HashMap<(u32, Vec<u32>), Result<MessageDescriptor, String>>,
}

impl<'a> ValueRenderer<'a> {
    /// `handle` runs the registry calls (the renderer itself lives on a blocking thread).
    fn new(decoding: &'a ValueDecoding, handle: tokio::runtime::Handle) -> Self {
        let registry = match decoding {
            ValueDecoding::Registry { url } => Some((RegistryClient::new(url), handle)),
            _ => None,
        };
        ValueRenderer { decoding, registry, messages: HashMap::new() }
    }

    /// Fails only when the registry cannot be reached; a value that does not decode is shown
    /// as hex with the reason.
    fn render(&mut self, bytes: &[u8]) -> anyhow::Result<RenderedValue> {
        match self.decoding {
            ValueDecoding::Bytes(f) => Ok(RenderedValue::plain(render(bytes, *f))),
            ValueDecoding::Descriptor(m) => Ok(decode_proto(m, bytes, bytes, None)),
            ValueDecoding::Registry { .. } => {
                let frame = match sluice_wire::confluent::decode_protobuf(bytes) {
                    Ok(f) => f,
                    Err(e) => return Ok(RenderedValue::undecoded(bytes, None, e.to_string())),
                };
                let key = (frame.schema_id, frame.indexes.as_slice().to_vec());
                if !self.messages.contains_key(&key) {
                    let found = self.fetch(frame.schema_id, frame.indexes.as_slice())?;
                    self.messages.insert(key.clone(), found);
                }
                Ok(match self.messages.get(&key) {
                    Some(Ok(m)) => decode_proto(m, frame.payload, bytes, Some(frame.schema_id)),
                    Some(Err(e)) => RenderedValue::undecoded(bytes, Some(frame.schema_id), e.clone()),
                    None => RenderedValue::undecoded(bytes, Some(frame.schema_id), "no schema".into()),
                })
            }
        }
    }

    fn fetch(&self, id: u32, indexes: &[u32]) -> anyhow::Result<Result<MessageDescriptor, String>> {
        let Some((client, handle)) = &self.registry else { return Ok(Err("no schema registry".into())) };
        match handle.block_on(client.schema(id)) {
            Ok(schema) => Ok(schema
                .file()
                .and_then(|f| message_at(&f, indexes))
                .ok_or_else(|| format!("schema {id} has no message at index path {indexes:?}"))),
            Err(e @ ClientError::Unreachable { .. }) => Err(e.into()),
            Err(e) => Ok(Err(e.to_string())),
        }
    }
}

fn record_json(m: &BorrowedMessage<'_>, cfg: &ConsumeConfig, value: Option<&RenderedValue>) -> Json {
    let (key, key_format) = match m.key() {
        Some(k) => render(k, cfg.key_format),
        None => (Json::Null, "none"),
    };
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::NotAvailable => (None, None),
        Timestamp::CreateTime(t) => (Some(t), Some("create")),
        Timestamp::LogAppendTime(t) => (Some(t), Some("log_append")),
    };
    let headers: Vec<Json> = m
        .headers()
        .map(|h| {
            h.iter().map(|x| json!({"key": x.key, "value": x.value.map(|v| render(v, BytesFormat::Auto).0)})).collect()
        })
        .unwrap_or_default();
    let mut record = json!({
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "timestamp": timestamp,
        "timestamp_type": timestamp_type,
        "key": key,
        "key_format": key_format,
        "value": value.map_or(Json::Null, |v| v.value.clone()),
        "value_format": value.map_or("none", |v| v.format),
    });
    if let (Some(v), Some(o)) = (value, record.as_object_mut()) {
        if let Some(message) = &v.message {
            o.insert("value_message".into(), json!(message));
        }
        if let Some(id) = v.schema_id {
            o.insert("value_schema_id".into(), json!(id));
        }
        if let Some(e) = &v.error {
            o.insert("value_error".into(), json!(e));
        }
    }
    if let Some(o) = record.as_object_mut() {
        o.insert("headers".into(), Json::Array(headers));
    }
    record
}

fn write_text(
    out: &mut impl Write,
    m: &BorrowedMessage<'_>,
    cfg: &ConsumeConfig,
    value: Option<&RenderedValue>,
) -> std::io::Result<()> {
    let mut head = format!("partition {} offset {}", m.partition(), m.offset());
    if let Some(t) = m.timestamp().to_millis() {
        head.push_str(&format!("  {}", format_timestamp_ms(t)));
    }
    if let Some(k) = m.key() {
        match render(k, cfg.key_format).0 {
            Json::String(s) => head.push_str(&format!("  key {s}")),
            other => head.push_str(&format!("  key {other}")),
        }
    }
    if let Some(h) = m.headers() {
        for x in h.iter() {
            let v = x.value.map(|v| render(v, BytesFormat::Auto).0.to_string()).unwrap_or_else(|| "null".into());
            head.push_str(&format!("  {}={v}", x.key));
        }
    }
    if let Some(message) = value.and_then(|v| v.message.as_deref()) {
        head.push_str(&format!("  {message}"));
    }
    if let Some(id) = value.and_then(|v| v.schema_id) {
        head.push_str(&format!(" (schema id {id})"));
    }
    writeln!(out, "{head}")?;
    let Some(v) = value else { return writeln!(out, "(null)") };
    if let Some(e) = &v.error {
        writeln!(out, "(not decoded: {e}; shown as hex)")?;
    }
    match &v.value {
        Json::String(s) => writeln!(out, "{s}"),
        json => writeln!(out, "{}", serde_json::to_string_pretty(json).unwrap_or_default()),
    }
}

/// Starting offsets for an assignment.
fn assignment(
    consumer: &BaseConsumer<SluiceContext>,
    cfg: &ConsumeConfig,
    partitions: &[i32],
) -> anyhow::Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let offset = match cfg.start {
            Start::Latest => Offset::End,
            Start::Beginning => Offset::Beginning,
            Start::Offset(o) => Offset::Offset(o),
            Start::Tail(n) => Offset::OffsetTail(n),
            Start::Time(t) => Offset::Offset(t),
        };
        tpl.add_partition_offset(&cfg.topic, *p, offset)?;
    }
    if let Start::Time(t) = cfg.start {
        let found = consumer
            .offsets_for_times(tpl, Duration::from_secs(30))
            .with_context(|| format!("cannot look up the offsets of {} at --from-timestamp {t}", cfg.topic))?;
        let mut fixed = TopicPartitionList::new();
        for e in found.elements() {
            // No record at or after the time: start at the end, for new records only.
            let o = match e.offset() {
                Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                _ => Offset::End,
            };
            fixed.add_partition_offset(e.topic(), e.partition(), o)?;
        }
        return Ok(fixed);
    }
    Ok(tpl)
}

fn consume_blocking(
    cfg: ConsumeConfig,
    interrupt: &sluice_connect::pipeline::Interrupt,
    handle: tokio::runtime::Handle,
) -> anyhow::Result<u64> {
    // A consumer reports connection errors only through poll(), so the broker check and the
    // topic lookup run on an admin client, which reports them at once.
    let (admin, md) = crate::clients::admin(&cfg.conn)?;
    drop(admin);
    let mut settings = cfg.conn.client_settings();
    settings.set("enable.partition.eof", if cfg.exit_at_end { "true" } else { "false" });
    match &cfg.group {
        Some(g) => {
            settings.set("group.id", g);
            settings.set("auto.offset.reset", if cfg.start == Start::Beginning { "earliest" } else { "latest" });
            // Offsets are stored by hand once a record is printed: librdkafka's automatic store
            // would also count the records it drains from its queue when the consumer closes
            // (after --count), committing offsets of records nobody saw.
            settings.set("enable.auto.offset.store", "false");
        }
        None => {
            // assign() needs a group handle; it never joins and commits nothing.
            settings.set("group.id", "sluice-console");
            settings.set("enable.auto.commit", "false");
            settings.set("enable.auto.offset.store", "false");
        }
    }
    // -X wins over sluice's choices above.
    for (k, v) in &cfg.conn.overrides {
        settings.set(k, v);
    }
    let consumer: BaseConsumer<SluiceContext> = settings
        .client_config()
        .create_with_context(SluiceContext::default())
        .map_err(|e| anyhow::anyhow!("invalid consumer setting: {e}; check the -X key=value pairs"))?;
    let Some(topic) = md.topics().iter().find(|t| t.name() == cfg.topic && t.error().is_none()) else {
        bail!(
            "topic {} does not exist at {}; create it with `sluice topics create {}` or see `sluice topics list`",
            cfg.topic,
            cfg.conn.bootstrap,
            cfg.topic
        );
    };
    let all: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    let chosen: Vec<i32> = if cfg.partitions.is_empty() { all.clone() } else { cfg.partitions.clone() };
    if let Some(p) = chosen.iter().find(|p| !all.contains(p)) {
        bail!("--partition {p}: topic {} has partitions 0..{}", cfg.topic, all.len().saturating_sub(1));
    }
    match &cfg.group {
        Some(g) => consumer.subscribe(&[&cfg.topic]).with_context(|| format!("cannot join group {g}"))?,
        None => consumer.assign(&assignment(&consumer, &cfg, &chosen)?)?,
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut renderer = ValueRenderer::new(&cfg.values, handle);
    let seen = read_loop(&consumer, &cfg, &chosen, interrupt, &mut out, &mut renderer);
    match seen {
        // The reader went away (`| head`): done. Returning (rather than exiting) lets the
        // consumer leave its group and commit on drop.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(0)
        }
        Err(e) => match e.downcast_ref::<std::io::Error>() {
            Some(io) => crate::output::exit_on_write_error(io),
            None => Err(e),
        },
        ok => ok,
    }
}

fn read_loop(
    consumer: &BaseConsumer<SluiceContext>,
    cfg: &ConsumeConfig,
    chosen: &[i32],
    interrupt: &sluice_connect::pipeline::Interrupt,
    out: &mut impl Write,
    renderer: &mut ValueRenderer<'_>,
) -> anyhow::Result<u64> {
    let mut seen = 0u64;
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    while !interrupt.stopped() && cfg.count.is_none_or(|c| seen < c) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                let value = m.payload().map(|v| renderer.render(v)).transpose()?;
                match cfg.format {
                    ConsumeFormat::Json => writeln!(out, "{}", record_json(&m, cfg, value.as_ref()))?,
                    ConsumeFormat::Text => write_text(out, &m, cfg, value.as_ref())?,
                }
                out.flush()?;
                if cfg.group.is_some() {
                    consumer.store_offset_from_message(&m).with_context(|| {
                        format!("cannot store the offset of {} partition {}", cfg.topic, m.partition())
                    })?;
                }
                seen += 1;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                let assigned: BTreeSet<i32> = match &cfg.group {
                    None => chosen.iter().copied().collect(),
                    Some(_) => consumer
                        .assignment()
                        .map(|a| a.elements().iter().map(|e| e.partition()).collect())
                        .unwrap_or_default(),
                };
                if !assigned.is_empty() && assigned.is_subset(&at_end) {
                    break;
                }
            }
            Some(Err(e)) => bail!("cannot read {}: {e}", cfg.topic),
        }
    }
    out.flush()?;
    Ok(seen)
}

pub(crate) async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let env = Environment::load()?;
    let cfg = ConsumeConfig::resolve(args, &env)?;
    let interrupt = interrupt_on_signal();
    let topic = cfg.topic.clone();
    let handle = tokio::runtime::Handle::current();
    let seen = tokio::task::spawn_blocking(move || consume_blocking(cfg, &interrupt, handle)).await??;
    tracing::debug!("read {seen} records from {topic}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering() {
        assert_eq!(render(br#"{"a":1}"#, BytesFormat::Auto), (json!({"a": 1}), "json"));
        assert_eq!(render(b"42", BytesFormat::Auto), (json!("42"), "text"));
        assert_eq!(render(b"42", BytesFormat::Json), (json!(42), "json"));
        assert_eq!(render(b"not json", BytesFormat::Json), (json!("not json"), "text"));
        assert_eq!(render(&[0, 255], BytesFormat::Auto), (json!("00ff"), "hex"));
        assert_eq!(render(b"user5\x12\x08", BytesFormat::Auto).1, "hex");
        assert_eq!(render(&[0, 255], BytesFormat::Hex), (json!("00ff"), "hex"));
        assert_eq!(render(b"hello", BytesFormat::Base64), (json!("aGVsbG8="), "base64"));
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
