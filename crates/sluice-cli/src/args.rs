//! The clap tree: raw flags, resolved by each command into a validated config.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

// The Kafka client commands keep their flags beside their code (one module per command).
pub use crate::commands::consume::ConsumeArgs;
pub use crate::commands::demo::DemoArgs;
pub use crate::commands::generate::GenerateArgs;
pub use crate::commands::groups::GroupsArgs;
pub use crate::commands::produce::ProduceArgs;
pub use crate::commands::run::RunArgs;
pub use crate::commands::schemas::SchemasArgs;
pub use crate::commands::topics::TopicsArgs;

/// sluice: a Kafka-compatible broker, schema registry and event-time stream processor in one
/// binary.
#[derive(Debug, Parser)]
#[command(name = "sluice", version)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); SLUICE_LOG=... overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Kafka-compatible broker (any Kafka client or tool can use it).
    Broker(BrokerArgs),
    /// Produce records: the seeds' generators, a CSV file replayed in batches, or stdin lines.
    Produce(ProduceArgs),
    /// Write the seeds' CSV files (customer transactions, campaigns).
    Generate(GenerateArgs),
    /// Print the records of a topic (like kcat -C or kafka-console-consumer).
    Consume(ConsumeArgs),
    /// Create, list, describe, delete and alter topics.
    Topics(TopicsArgs),
    /// List and describe consumer groups, reset or delete their offsets.
    Groups(GroupsArgs),
    /// Run the Confluent-compatible schema registry, storing schemas in a Kafka topic.
    Registry(RegistryArgs),
    /// Protobuf schema tools.
    Schemas(SchemasArgs),
    /// Run a stream job file (jobs/*.toml) against Kafka until Ctrl-C, exactly once.
    Run(RunArgs),
    /// Run the five seed pipelines at once: embedded broker and registry, producers and jobs
    ///
    /// Shows the live result tables, writes files under ./sluice-demo/, stops at Ctrl-C or
    /// after --duration.
    Demo(DemoArgs),
}

/// `sluice broker` flags, named after Kafka's broker settings where one exists.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Address to listen on (listeners). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    pub listen: String,
    /// Address of the embedded Confluent-compatible schema registry (its schemas are kept in
    /// this broker's `_schemas` topic). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "HOST:PORT")]
    pub registry_listen: Option<String>,
    /// Run without the embedded schema registry.
    #[arg(long)]
    pub no_registry: bool,
    /// Address clients are told to connect to (advertised.listeners); default: the bound one.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,
    /// Directory for the logs (log.dirs).
    #[arg(long, default_value = "./sluice-data", value_name = "DIR", conflicts_with = "memory")]
    pub data_dir: PathBuf,
    /// Keep everything in memory instead of --data-dir (lost on exit).
    #[arg(long)]
    pub memory: bool,
    /// Partitions of auto-created topics (num.partitions).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub num_partitions: i32,
    /// Create unknown topics on first use (auto.create.topics.enable).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub auto_create_topics: bool,
    /// When to fsync: `os` (written to the OS before the ack; survives a crash of sluice, not of
    /// the machine), `always` (fsync before every ack), or a period in ms such as `1000`.
    #[arg(long, default_value = "os", value_name = "POLICY")]
    pub flush: String,
    /// Default segment size of topics (log.segment.bytes).
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    pub segment_bytes: u64,
    /// Default retention of topics in ms, -1 = forever (log.retention.ms).
    #[arg(long, default_value_t = 604_800_000, value_name = "MS", allow_negative_numbers = true)]
    pub retention_ms: i64,
    /// Default size limit per partition, -1 = none (log.retention.bytes).
    #[arg(long, default_value_t = -1, value_name = "BYTES", allow_negative_numbers = true)]
    pub retention_bytes: i64,
    /// Pause between two passes of the log cleaner, which compacts the topics with
    /// cleanup.policy=compact (log.cleaner.backoff.ms).
    #[arg(long, default_value_t = 15_000, value_name = "MS")]
    pub log_cleaner_backoff_ms: u64,
    /// Largest record batch accepted by default (message.max.bytes).
    #[arg(long, default_value_t = 1_048_588, value_name = "BYTES")]
    pub max_message_bytes: i32,
    /// Largest request accepted (socket.request.max.bytes).
    #[arg(long, default_value_t = 104_857_600, value_name = "BYTES")]
    pub max_request_bytes: usize,
    /// Most concurrent client connections (max.connections).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_connections: usize,
    /// Close connections idle this long (connections.max.idle.ms).
    #[arg(long, default_value_t = 600_000, value_name = "MS")]
    pub idle_timeout_ms: u64,
    /// How long a new consumer group waits for more members before its first rebalance
    /// (group.initial.rebalance.delay.ms).
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub group_initial_rebalance_delay_ms: u64,
    /// Smallest session.timeout.ms a consumer may ask for (group.min.session.timeout.ms).
    #[arg(long, default_value_t = 6000, value_name = "MS")]
    pub group_min_session_timeout_ms: i32,
    /// Largest session.timeout.ms a consumer may ask for (group.max.session.timeout.ms).
    #[arg(long, default_value_t = 1_800_000, value_name = "MS")]
    pub group_max_session_timeout_ms: i32,
    /// Partitions of the committed-offsets topic __consumer_offsets (offsets.topic.num.partitions).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub offsets_topic_num_partitions: i32,
    /// How long the offsets of an empty group are kept (offsets.retention.minutes).
    #[arg(long, default_value_t = 10080, value_name = "MINUTES")]
    pub offsets_retention_minutes: i64,
}

/// `sluice registry` flags, named after Confluent Schema Registry's settings where one exists.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Address to listen on (listeners). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "HOST:PORT")]
    pub listen: String,
    /// Kafka brokers holding the schemas topic (kafkastore.bootstrap.servers). Default:
    /// KAFKA_SERVER or KAFKA_BOOTSTRAP_SERVERS from the environment or ./.env, else
    /// 127.0.0.1:9092.
    #[arg(short = 'b', long, value_name = "HOST:PORT[,..]")]
    pub bootstrap_servers: Option<String>,
    /// The compacted topic schemas are stored in (kafkastore.topic).
    #[arg(long, default_value = "_schemas", value_name = "TOPIC")]
    pub topic: String,
    /// Compatibility level for subjects without their own (schema.compatibility.level).
    #[arg(long, default_value = "BACKWARD", value_name = "LEVEL")]
    pub compatibility: String,
    /// How long to wait for the broker at start (kafkastore.init.timeout.ms), in ms.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    pub init_timeout_ms: u64,
}
