//! librdkafka plumbing shared by the Kafka sink and the console tools.
//!
//! - [`context`]: the client context every sluice client uses: librdkafka's log lines go to
//!   `tracing` at debug level (no log flood), transport errors are kept so "no broker"
//!   becomes one clear line, deliveries are counted.
//! - [`settings`]: client settings by their Kafka names, the seeds' producer defaults,
//!   `-X key=value` overrides.
//! - [`sink`]: the producer sink with delivery tracking.
//! - `native`: the sink's per-record call straight into librdkafka and the job source's batch
//!   reads (the crate's only `unsafe`).

pub mod context;
pub(crate) mod fetch;
pub(crate) mod native;
pub mod settings;
pub mod sink;

pub use context::{
    BrokerUnreachable, ClientState, DeliveryStats, ProbeError, SluiceContext, probe_broker, wait_for_broker,
    wait_for_broker_serving,
};
pub use settings::ClientSettings;
pub use sink::{KafkaSink, SinkError};
