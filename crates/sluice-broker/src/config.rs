//! Broker settings, resolved and validated by the CLI before the broker starts.

use crate::group::CoordinatorConfig;
use crate::log::FlushPolicy;
use crate::txn::TxnConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the broker needs to run. Passed by value; no globals.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Node id reported in metadata.
    pub node_id: i32,
    /// Host clients are told to connect to. Empty means "the bound address".
    pub advertised_host: String,
    /// Port clients are told to connect to. 0 means "the bound port".
    pub advertised_port: u16,
    /// Where logs live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Cluster id reported in metadata (a new one is made when `None`, or read from the data
    /// directory when one was stored there).
    pub cluster_id: Option<String>,
    /// Partitions of auto-created topics and of CreateTopics with -1 (`num.partitions`).
    pub num_partitions: i32,
    /// Create unknown topics on Metadata requests that allow it (`auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Largest request frame accepted (`socket.request.max.bytes`).
    pub max_request_bytes: usize,
    /// Concurrent connections accepted (`max.connections`).
    pub max_connections: usize,
    /// Close a connection idle for this long (`connections.max.idle.ms`).
    pub idle_timeout: Duration,
    /// Default `segment.bytes` of topics.
    pub segment_bytes: u64,
    /// Default `retention.ms` of topics (-1 = forever).
    pub retention_ms: i64,
    /// Default `retention.bytes` of topics (-1 = unlimited).
    pub retention_bytes: i64,
    /// Default `max.message.bytes` of topics.
    pub max_message_bytes: i32,
    /// How often retention runs (`log.retention.check.interval.ms`).
    pub retention_check_interval: Duration,
    /// Pause between two passes of the log cleaner over the compacted topics
    /// (`log.cleaner.backoff.ms`; at least 1 ms).
    pub log_cleaner_backoff: Duration,
    /// When data is fsynced.
    pub flush: FlushPolicy,
    /// Consumer group settings.
    pub coordinator: CoordinatorConfig,
    /// Transaction coordinator settings.
    pub txn: TxnConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 0,
            advertised_host: String::new(),
            advertised_port: 0,
            data_dir: None,
            cluster_id: None,
            num_partitions: 3,
            auto_create_topics: true,
            max_request_bytes: 100 * 1024 * 1024,
            max_connections: 1000,
            idle_timeout: Duration::from_secs(600),
            segment_bytes: 1 << 30,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            retention_check_interval: Duration::from_secs(300),
            log_cleaner_backoff: Duration::from_secs(15),
            flush: FlushPolicy::Os,
            coordinator: CoordinatorConfig::default(),
            txn: TxnConfig::default(),
        }
    }
}
