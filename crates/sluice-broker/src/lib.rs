//! sluice's Kafka-compatible broker.
//!
//! # Layout
//! - [`config`]: [`BrokerConfig`], the validated settings.
//! - [`server`]: [`server::run`], the accept loop and the per-connection request loop.
//! - `apis/`: one file per Kafka API, each decode → handle(&broker) → encode.
//! - [`state`]: [`state::Broker`], topics, partitions, producer ids; topic metadata on disk.
//! - [`log`]: partition logs, memory and segment-file engines, and their compaction.
//! - [`cleaner`]: the log cleaner's pass over compacted topics, and its counters.
//! - [`producers`]: idempotent producer sequence checks.
//! - [`group`]: the group coordinator: consumer groups and committed offsets.
//! - [`txn`]: the transaction coordinator, markers and each partition's last stable offset.
//! - [`topic_config`]: topic config names, Kafka's defaults, validation, topic name rules.
//!
//! Start one in-process (what tests and `sluice demo` do):
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let handle = sluice_broker::start(listener, sluice_broker::BrokerConfig::default())?;
//! println!("bootstrap.servers={}", handle.bootstrap());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod apis;
pub mod cleaner;
pub mod config;
pub mod group;
pub mod log;
pub mod producers;
pub mod server;
pub mod state;
pub mod topic_config;
pub mod txn;

pub use config::BrokerConfig;
pub use state::{Broker, StateError};

use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A broker running on the current tokio runtime.
#[derive(Debug)]
pub struct BrokerHandle {
    broker: Arc<Broker>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl BrokerHandle {
    /// `host:port` clients should bootstrap from.
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.broker.advertised_host, self.broker.advertised_port)
    }

    /// The shared state (for tests and embedding).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, finishes in-flight requests, flushes logs.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server ends (after a shutdown signal).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Opens the state (loading the data directory) and serves on an already bound listener.
pub fn start(listener: TcpListener, config: BrokerConfig) -> Result<BrokerHandle, StateError> {
    let local = listener.local_addr().map_err(|source| StateError::Io { path: "<listener>".into(), source })?;
    let host = if !config.advertised_host.is_empty() {
        config.advertised_host.clone()
    } else if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    let port = if config.advertised_port != 0 { config.advertised_port } else { local.port() };
    let broker = Arc::new(Broker::open(config, host, i32::from(port))?);
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(server::run(listener, broker.clone(), async move {
        let _ = rx.await;
    }));
    Ok(BrokerHandle { broker, stop: Some(tx), task })
}
