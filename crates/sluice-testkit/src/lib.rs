//! Helpers for sluice's tests: real servers on `127.0.0.1:0`, nothing mocked.
//!
//! # Layout
//! - [`TestBroker`]: an in-process broker on a free port, memory or file storage.
//! - [`read_topic`]: every record of a topic read back with librdkafka (an independent
//!   client), for asserting what producers wrote; [`poll_topic`]: what a consumer at a given
//!   isolation level sees within a time (open transactions included or not).
//! - [`TestRegistry`]: an in-process schema registry on a free port, storing into a broker.
//! - [`client`]: [`client::KafkaConn`], a raw Kafka protocol connection for exact-version tests.

pub mod client;
pub mod seed_messages;

use sluice_broker::{BrokerConfig, BrokerHandle};
use std::path::Path;

mod consume;
pub use consume::{ConsumedRecord, poll_topic, read_topic};

/// A broker started for one test; shut down explicitly or dropped with its runtime.
#[derive(Debug)]
pub struct TestBroker {
    handle: BrokerHandle,
    /// Keeps the data directory alive for file-backed brokers.
    pub dir: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// A memory-backed broker with default settings.
    pub async fn start() -> Self {
        Self::start_with(BrokerConfig::default()).await
    }

    /// A broker with the given settings (data directory included, if any).
    pub async fn start_with(config: BrokerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let handle = sluice_broker::start(listener, config).expect("start broker");
        TestBroker { handle, dir: None }
    }

    /// A broker storing its logs in a fresh temporary directory.
    pub async fn start_on_disk() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut b = Self::start_in(dir.path(), BrokerConfig::default()).await;
        b.dir = Some(dir);
        b
    }

    /// A broker storing its logs in `dir` (reopen the same directory to test recovery).
    pub async fn start_in(dir: &Path, mut config: BrokerConfig) -> Self {
        config.data_dir = Some(dir.to_path_buf());
        Self::start_with(config).await
    }

    /// `host:port` to bootstrap from.
    pub fn bootstrap(&self) -> String {
        self.handle.bootstrap()
    }

    /// The broker's state.
    pub fn broker(&self) -> &std::sync::Arc<sluice_broker::Broker> {
        self.handle.broker()
    }

    /// Graceful shutdown; returns the data directory so a test can reopen it.
    pub async fn shutdown(self) -> Option<tempfile::TempDir> {
        self.handle.shutdown().await;
        self.dir
    }
}

/// A schema registry started for one test, keeping its schemas in a broker's `_schemas` topic.
#[derive(Debug)]
pub struct TestRegistry {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestRegistry {
    /// A registry on `127.0.0.1:0` storing into the broker at `bootstrap` (topic `_schemas`).
    pub async fn start(bootstrap: &str) -> Self {
        let mut config = sluice_registry::RegistryConfig::new(bootstrap);
        config.init_timeout = std::time::Duration::from_secs(30);
        Self::start_with(config).await
    }

    /// A registry with the given settings.
    pub async fn start_with(config: sluice_registry::RegistryConfig) -> Self {
        let registry = sluice_registry::connect(&config).await.expect("registry connects to the broker");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sluice_registry::serve_registry(listener, std::sync::Arc::new(registry), async {
            let _ = rx.await;
        }));
        TestRegistry { url, stop: Some(tx), task: Some(task) }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Graceful shutdown.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("registry task").expect("registry served");
        }
    }
}
