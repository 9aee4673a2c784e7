//! The client context: logging, error capture, delivery counting, and the broker check.

use super::settings::ClientSettings;
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Delivery counters of a producer, shared with whoever shows progress.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    sent: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    failed_tags: Mutex<Vec<usize>>,
}

impl DeliveryStats {
    /// Records handed to the producer.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    /// Records the broker acknowledged.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Records that failed for good (after librdkafka's own retries).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    /// The first delivery error, for the summary.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().map(|e| e.clone()).unwrap_or(None)
    }
    /// The tags of records that failed since the last call, for callers that resend them.
    pub fn take_failed_tags(&self) -> Vec<usize> {
        self.failed_tags.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default()
    }
    pub(crate) fn note_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
    /// With `delivery.report.only.error=true` librdkafka reports failures only: once nothing is
    /// in flight, every record sent and not failed was delivered.
    pub(crate) fn settle_unreported(&self) {
        let done = self.sent().saturating_sub(self.failed());
        self.delivered.fetch_max(done, Ordering::Relaxed);
    }
    fn note_failure(&self, tag: usize, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
        if let Ok(mut tags) = self.failed_tags.lock() {
            tags.push(tag);
        }
    }
}

/// What a client has seen: the last transport error and whether every broker is down.
#[derive(Debug, Default)]
pub struct ClientState {
    last_error: Mutex<Option<String>>,
    all_brokers_down: AtomicBool,
    /// Delivery counters (producers only).
    pub deliveries: DeliveryStats,
}

impl ClientState {
    /// The last error librdkafka reported, e.g. `Connect to ipv4#127.0.0.1:9092 failed:
    /// Connection refused (after 0ms in state CONNECT)`.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    /// Whether librdkafka reported that no broker is reachable.
    pub fn all_brokers_down(&self) -> bool {
        self.all_brokers_down.load(Ordering::Relaxed)
    }

    /// The short reason a broker did not answer ("Connection refused"), from the last error.
    pub fn unreachable_reason(&self) -> Option<String> {
        let e = self.last_error()?;
        let reason = match e.split_once("failed: ") {
            Some((_, rest)) => rest.split(" (after").next().unwrap_or(rest),
            None => e.as_str(),
        };
        Some(reason.trim().to_string())
    }
}

/// The context of every sluice client (producer, consumer, admin).
#[derive(Debug, Clone, Default)]
pub struct SluiceContext {
    /// Shared with the owner of the client.
    pub state: Arc<ClientState>,
}

impl ClientContext for SluiceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // Debug level: a dead broker makes librdkafka log every reconnect attempt; the user
        // gets one line from `wait_for_broker` instead, and `-v` shows these.
        tracing::debug!(target: "librdkafka", ?level, "{fac}: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "error: {error}: {reason}");
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.state.all_brokers_down.store(true, Ordering::Relaxed),
            _ => {
                if let Ok(mut last) = self.state.last_error.lock() {
                    *last = Some(reason.to_string());
                }
            }
        }
    }
}

impl ProducerContext for SluiceContext {
    /// The caller's tag for each record (its position in a batch), returned on failure.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        match result {
            Ok(_) => {
                self.state.deliveries.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, message)) => {
                let text = format!("{} [partition {}]: {error}", message.topic(), message.partition());
                self.state.deliveries.note_failure(tag, text);
            }
        }
    }
}

impl ConsumerContext for SluiceContext {}

/// No broker answered at the bootstrap address.
#[derive(Debug, thiserror::Error)]
#[error(
    "no broker answered at {address} ({reason}); start one with `sluice broker` or pass --bootstrap-servers HOST:PORT{hint}"
)]
pub struct BrokerUnreachable {
    /// The bootstrap servers tried.
    pub address: String,
    /// Why, as librdkafka saw it ("Connection refused", "no answer within 5s").
    pub reason: String,
    /// Extra advice (e.g. `--wait-for-broker` when the check was short).
    pub hint: String,
}

/// Asks the cluster for its metadata until it answers or `wait` passes. Without `patient` it
/// gives up as soon as librdkafka reports every broker down, so a missing broker costs well
/// under a second, not a minute of retries.
///
/// librdkafka reports connection errors as events on the client's main queue; `client` must be
/// one whose main queue is served by another thread (a `ThreadedProducer`). For a client the
/// caller polls, use [`wait_for_broker_serving`]; for others, [`probe_broker`].
pub fn wait_for_broker(
    client: &Client<SluiceContext>,
    address: &str,
    wait: Duration,
    patient: bool,
) -> Result<Metadata, BrokerUnreachable> {
    wait_loop(client, address, wait, patient, &|| {})
}

/// [`wait_for_broker`] for a client whose main queue `serve` polls (a `BaseProducer`).
pub fn wait_for_broker_serving(
    client: &Client<SluiceContext>,
    address: &str,
    wait: Duration,
    patient: bool,
    serve: &dyn Fn(),
) -> Result<Metadata, BrokerUnreachable> {
    wait_loop(client, address, wait, patient, serve)
}

/// [`wait_for_broker`] on a short-lived client of its own made from `settings`, for callers
/// whose client does not serve its main queue (admin clients, consumers).
pub fn probe_broker(settings: &ClientSettings, wait: Duration, patient: bool) -> Result<Metadata, ProbeError> {
    let probe: BaseProducer<SluiceContext> = settings
        .client_config()
        .create_with_context(SluiceContext::default())
        .map_err(|e| ProbeError::Config(e.to_string()))?;
    let address = settings.get("bootstrap.servers").unwrap_or_default().to_string();
    Ok(wait_loop(probe.client(), &address, wait, patient, &|| probe.poll(Duration::ZERO))?)
}

/// Why [`probe_broker`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// librdkafka rejected a setting.
    #[error("invalid client setting: {0}; check the -X key=value pairs against librdkafka's CONFIGURATION.md")]
    Config(String),
    /// No broker answered.
    #[error(transparent)]
    Unreachable(#[from] BrokerUnreachable),
}

fn wait_loop(
    client: &Client<SluiceContext>,
    address: &str,
    wait: Duration,
    patient: bool,
    serve: &dyn Fn(),
) -> Result<Metadata, BrokerUnreachable> {
    let state = &client.context().state;
    let deadline = Instant::now() + wait;
    loop {
        serve();
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.min(Duration::from_millis(250)).max(Duration::from_millis(50));
        match client.fetch_metadata(None, attempt) {
            Ok(md) if !md.brokers().is_empty() => return Ok(md),
            Ok(_) | Err(_) => {}
        }
        serve();
        let down = state.all_brokers_down();
        if Instant::now() >= deadline || (down && !patient) {
            let reason = state.unreachable_reason().unwrap_or_else(|| format!("no answer within {}s", wait.as_secs()));
            let hint = if patient { String::new() } else { ", or wait for it with --wait-for-broker 30s".to_string() };
            return Err(BrokerUnreachable { address: address.to_string(), reason, hint });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_cut_out_of_librdkafka_text() {
        let s = ClientState::default();
        assert_eq!(s.unreachable_reason(), None);
        *s.last_error.lock().unwrap() = Some(
            "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT)"
                .into(),
        );
        assert_eq!(s.unreachable_reason().as_deref(), Some("Connection refused"));
    }
}
