//! Client settings by their Kafka names, in the order they were set, so they can be printed.

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

/// The producer settings of the seeds (seed 000's table), sluice's defaults for `produce`.
pub const SEED_PRODUCER_DEFAULTS: [(&str, &str); 5] = [
    ("linger.ms", "20"),
    ("batch.size", "32768"),
    ("compression.type", "lz4"),
    ("enable.idempotence", "true"),
    ("acks", "all"),
];

/// Keyed records go where Java's producer (seed 000's) sends them: murmur2 of the key, as
/// every Kafka client but librdkafka does by default (librdkafka's default is CRC32).
pub const PARTITIONER_DEFAULT: (&str, &str) = ("partitioner", "murmur2_random");

/// librdkafka's sparse connections (its default) connect to a broker only once a request
/// needs one, and each client then spent ~50 ms before its first request went out: a job
/// (broker check, transactional producer, group consumer) took 120–170 ms to get its
/// partitions, and 15–25 ms with this. The cost is a connection to every broker of the cluster
/// per client; `-X enable.sparse.connections=true` restores librdkafka's default.
pub const EAGER_CONNECTIONS: (&str, &str) = ("enable.sparse.connections", "false");

/// Ordered `key = value` settings for a librdkafka client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientSettings {
    entries: Vec<(String, String)>,
}

impl ClientSettings {
    /// Only `bootstrap.servers`.
    pub fn new(bootstrap_servers: &str) -> Self {
        let mut s = ClientSettings::default();
        s.set("bootstrap.servers", bootstrap_servers);
        s
    }

    /// `bootstrap.servers`, the seeds' producer defaults and the murmur2 partitioner.
    pub fn producer(bootstrap_servers: &str) -> Self {
        let mut s = Self::new(bootstrap_servers);
        for (k, v) in SEED_PRODUCER_DEFAULTS.iter().chain([&PARTITIONER_DEFAULT]) {
            s.set(k, v);
        }
        s
    }

    /// Sets `key`, replacing an earlier value in place (so printing keeps the order).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_string(),
            None => self.entries.push((key.to_string(), value.to_string())),
        }
    }

    /// A setting's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// All settings, in order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// The librdkafka configuration. Its own log level is capped at warnings; sluice's
    /// context turns what remains into debug-level `tracing` events. Unless set, clients
    /// connect to the brokers as soon as they are created ([`EAGER_CONNECTIONS`]).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        // First, so that a setting of the user's replaces it.
        c.set(EAGER_CONNECTIONS.0, EAGER_CONNECTIONS.1);
        for (k, v) in &self.entries {
            c.set(k, v);
        }
        c.set_log_level(RDKafkaLogLevel::Warning);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_defaults_then_overrides_in_place() {
        let mut s = ClientSettings::producer("127.0.0.1:9092");
        assert_eq!(s.get("linger.ms"), Some("20"));
        assert_eq!(s.get("batch.size"), Some("32768"));
        assert_eq!(s.get("compression.type"), Some("lz4"));
        assert_eq!(s.get("enable.idempotence"), Some("true"));
        assert_eq!(s.get("acks"), Some("all"));
        s.set("linger.ms", "5");
        s.set("client.id", "x");
        let keys: Vec<&str> = s.entries().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "bootstrap.servers",
                "linger.ms",
                "batch.size",
                "compression.type",
                "enable.idempotence",
                "acks",
                "partitioner",
                "client.id"
            ]
        );
        assert_eq!(s.get("linger.ms"), Some("5"));
        assert_eq!(s.client_config().get("linger.ms"), Some("5"));
    }

    #[test]
    fn clients_connect_eagerly_unless_told_otherwise() {
        let mut s = ClientSettings::new("127.0.0.1:9092");
        assert_eq!(s.client_config().get("enable.sparse.connections"), Some("false"));
        // Not one of the settings printed as the user's.
        assert_eq!(s.get("enable.sparse.connections"), None);
        s.set("enable.sparse.connections", "true");
        assert_eq!(s.client_config().get("enable.sparse.connections"), Some("true"));
    }
}
