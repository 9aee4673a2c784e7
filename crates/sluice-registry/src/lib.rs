//! A Confluent-compatible schema registry: the REST API that Confluent's serializers and tools
//! use, with its ids, versions, references, compatibility rules and error codes, keeping its
//! state in a compacted Kafka topic (`_schemas`) on sluice's broker or any Kafka cluster.
//!
//! # Layout
//! - [`types`]: schema types, references, compatibility levels, modes, version specs.
//! - [`schema`]: parsing each schema type into its canonical form; protobuf compiled with protox
//!   (text or base64 descriptors, references, well-known types) and printed back as `.proto` text.
//! - [`compat`]: compatibility checks: Confluent's protobuf rules, Avro schema resolution.
//! - [`core`]: the state and rules, without I/O: operations return records, records are applied.
//! - [`record`]: the `_schemas` topic's keys and values, in Confluent's JSON shapes.
//! - [`store`]: the [`Store`](store::Store) trait, the Kafka topic and an in-memory store.
//! - [`error`]: the core's errors and their Confluent codes.
//! - [`http`]: the axum routes.
//! - [`client`]: a client of any Confluent-compatible registry: decode framed protobuf values
//!   into rows, register `.proto` files with their imports as references.
//!
//! Start it with [`serve`]; the caller binds the listener (tests use `127.0.0.1:0`):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! let config = sluice_registry::RegistryConfig::new("127.0.0.1:9092");
//! sluice_registry::serve(listener, config, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod compat;
pub mod core;
pub mod error;
pub mod http;
pub mod record;
pub mod schema;
pub mod store;
pub mod types;

use crate::core::{Core, Registered, SchemaInput};
use crate::error::RegistryError;
use crate::record::Record;
use crate::store::{KafkaStore, RawRecord, Store};
use crate::types::CompatibilityLevel;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Kafka bootstrap servers holding the topic (`kafkastore.bootstrap.servers`).
    pub bootstrap_servers: String,
    /// The compacted topic (`kafkastore.topic`), `_schemas` by default.
    pub topic: String,
    /// Level of subjects without their own (`schema.compatibility.level`), BACKWARD by default.
    pub default_compatibility: CompatibilityLevel,
    /// How long to wait for the broker at start (`kafkastore.init.timeout.ms`).
    pub init_timeout: Duration,
}

impl RegistryConfig {
    /// Defaults with the given bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        RegistryConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topic: "_schemas".into(),
            default_compatibility: CompatibilityLevel::Backward,
            init_timeout: Duration::from_secs(60),
        }
    }
}

/// A registry: the state and the store it is persisted in.
pub struct Registry {
    pub(crate) core: tokio::sync::Mutex<Core>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Rebuilds the state from every record in `store`. Records that cannot be read are logged
    /// and skipped.
    pub async fn open(store: Arc<dyn Store>, default_level: CompatibilityLevel) -> Result<Registry, RegistryError> {
        let mut core = Core::new(default_level);
        let raw = store.read_all().await?;
        let mut skipped = 0;
        for (key, value) in &raw {
            match Record::decode(key, value.as_deref()) {
                Ok(r) => core.apply(&r),
                Err(e) => {
                    skipped += 1;
                    tracing::warn!("{e}");
                }
            }
        }
        tracing::info!("schema registry state rebuilt from {} records ({skipped} unreadable)", raw.len());
        Ok(Registry { core: tokio::sync::Mutex::new(core), store })
    }

    /// Registers a schema under a subject (`POST /subjects/{subject}/versions`).
    pub async fn register(&self, subject: &str, input: &SchemaInput) -> Result<Registered, RegistryError> {
        self.write(|c| c.register(subject, input)).await
    }

    /// A copy of the current state, for reads outside the HTTP API.
    pub async fn snapshot(&self) -> Core {
        self.core.lock().await.clone()
    }

    /// Runs a write: the core checks it and returns records; they are persisted, then applied.
    /// Writes are serialized, so what was checked is what gets applied.
    pub(crate) async fn write<T>(
        &self,
        op: impl FnOnce(&Core) -> Result<(T, Vec<Record>), RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut core = self.core.lock().await;
        let (out, records) = op(&core)?;
        if !records.is_empty() {
            let raw: Vec<RawRecord> = records.iter().map(Record::encode).collect();
            self.store.append(&raw).await?;
            for r in &records {
                core.apply(r);
            }
        }
        Ok(out)
    }
}

/// Connects to the broker (creating the topic if needed), rebuilds the state from the topic and
/// serves the REST API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let registry = connect(&config).await?;
    serve_registry(listener, Arc::new(registry), shutdown).await.map_err(|e| {
        RegistryError::Store(store::StoreError::Read {
            topic: config.topic.clone(),
            cause: format!("HTTP server: {e}"),
        })
    })
}

/// Connects to the broker (creating the topic if needed) and rebuilds the state from the topic.
pub async fn connect(config: &RegistryConfig) -> Result<Registry, RegistryError> {
    let store = KafkaStore::connect(&config.bootstrap_servers, &config.topic, config.init_timeout).await?;
    Registry::open(Arc::new(store), config.default_compatibility).await
}

/// Serves an opened registry on `listener` until `shutdown` resolves.
pub async fn serve_registry(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(registry)).with_graceful_shutdown(shutdown).await
}
