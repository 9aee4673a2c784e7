//! Where the Kafka cluster is and how clients talk to it: `--bootstrap-servers`, the
//! environment and `./.env` (seed 004's `KAFKA_SERVER`), `-X key=value`, `--wait-for-broker`.

use anyhow::{Context, bail};
use clap::Args;
use sluice_connect::kafka::ClientSettings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default bootstrap address: sluice's broker on this machine.
pub(crate) const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";
/// Environment variables naming the brokers, in the order they are consulted.
pub(crate) const BOOTSTRAP_VARS: [&str; 2] = ["KAFKA_SERVER", "KAFKA_BOOTSTRAP_SERVERS"];
/// How long a client waits for a first answer without `--wait-for-broker`.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// Connection flags shared by every command that talks to Kafka.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectArgs {
    /// Brokers to bootstrap from (bootstrap.servers). Default: KAFKA_SERVER or
    /// KAFKA_BOOTSTRAP_SERVERS from the environment or ./.env, else 127.0.0.1:9092.
    #[arg(short = 'b', long, value_name = "HOST:PORT[,..]", global = true)]
    pub bootstrap_servers: Option<String>,
    /// A librdkafka setting by its Kafka name, e.g. -X linger.ms=5 (repeatable; overrides
    /// sluice's defaults).
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub set: Vec<String>,
    /// Keep trying this long for a broker to answer (e.g. 30s) instead of failing fast.
    #[arg(long, value_name = "DURATION", global = true)]
    pub wait_for_broker: Option<String>,
}

/// The process environment plus `./.env`; real variables win over the file, as in dotenv.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    vars: BTreeMap<String, String>,
    dotenv: BTreeMap<String, String>,
    dotenv_path: Option<PathBuf>,
}

impl Environment {
    /// The process environment and `.env` in the working directory (absent is fine).
    pub(crate) fn load() -> anyhow::Result<Self> {
        Self::load_from(std::env::vars().collect(), Path::new(".env"))
    }

    /// `vars` and the dotenv file at `path`.
    pub(crate) fn load_from(vars: BTreeMap<String, String>, path: &Path) -> anyhow::Result<Self> {
        let mut env = Environment { vars, ..Default::default() };
        match dotenvy::from_path_iter(path) {
            Ok(iter) => {
                for item in iter {
                    let (k, v) = item.map_err(|e| match e {
                        dotenvy::Error::LineParse(line, at) => anyhow::anyhow!(
                            "{}: cannot parse {line:?} (at character {at}); write KEY=VALUE lines or remove the file",
                            path.display()
                        ),
                        other => anyhow::anyhow!("{}: {other}", path.display()),
                    })?;
                    env.dotenv.insert(k, v);
                }
                env.dotenv_path = Some(path.to_path_buf());
            }
            Err(e) if e.not_found() => {}
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
        Ok(env)
    }

    /// A variable and where it came from (`KAFKA_SERVER in the environment`, `... in .env`).
    pub(crate) fn get(&self, name: &str) -> Option<(String, String)> {
        if let Some(v) = self.vars.get(name).filter(|v| !v.is_empty()) {
            return Some((v.clone(), format!("{name} in the environment")));
        }
        let v = self.dotenv.get(name).filter(|v| !v.is_empty())?;
        let file = self.dotenv_path.as_deref().unwrap_or(Path::new(".env")).display();
        Some((v.clone(), format!("{name} in {file}")))
    }
}

/// Connection settings, resolved and checked.
#[derive(Debug, Clone)]
pub(crate) struct KafkaConn {
    /// bootstrap.servers.
    pub(crate) bootstrap: String,
    /// Where the address came from, for the start banner.
    pub(crate) origin: String,
    /// `-X` settings in command-line order.
    pub(crate) overrides: Vec<(String, String)>,
    /// How long to wait for the first answer.
    pub(crate) wait: Duration,
    /// Whether `--wait-for-broker` was given (keep trying while brokers are down).
    pub(crate) patient: bool,
}

impl KafkaConn {
    /// Resolves the flags against `env`.
    pub(crate) fn resolve(args: &ConnectArgs, env: &Environment) -> anyhow::Result<Self> {
        let mut overrides = Vec::new();
        let mut from_x = None;
        for raw in &args.set {
            let Some((k, v)) = raw.split_once('=') else {
                bail!("-X {raw:?} is not KEY=VALUE; write e.g. -X linger.ms=5");
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                bail!("-X {raw:?} has no key; write e.g. -X linger.ms=5");
            }
            if k == "bootstrap.servers" {
                from_x = Some(v.to_string());
            } else {
                overrides.push((k.to_string(), v.to_string()));
            }
        }
        let (bootstrap, origin) = match (&args.bootstrap_servers, from_x) {
            (Some(_), Some(_)) => {
                bail!("both --bootstrap-servers and -X bootstrap.servers are given; keep one of them")
            }
            (Some(b), None) => (b.clone(), "--bootstrap-servers".to_string()),
            (None, Some(b)) => (b, "-X bootstrap.servers".to_string()),
            (None, None) => BOOTSTRAP_VARS
                .iter()
                .find_map(|name| env.get(name))
                .unwrap_or_else(|| (DEFAULT_BOOTSTRAP.to_string(), "default".to_string())),
        };
        check_bootstrap(&bootstrap, &origin)?;
        let (wait, patient) = match &args.wait_for_broker {
            Some(t) => (crate::duration::parse("--wait-for-broker", t)?, true),
            None => (DEFAULT_WAIT, false),
        };
        Ok(KafkaConn { bootstrap, origin, overrides, wait, patient })
    }

    /// Settings for a producer: the seeds' defaults, then `-X`.
    pub(crate) fn producer_settings(&self) -> ClientSettings {
        let mut s = ClientSettings::producer(&self.bootstrap);
        self.apply_overrides(&mut s);
        s
    }

    /// Settings for a consumer or admin client: bootstrap, then `-X`.
    pub(crate) fn client_settings(&self) -> ClientSettings {
        let mut s = ClientSettings::new(&self.bootstrap);
        s.set("client.id", "sluice");
        self.apply_overrides(&mut s);
        s
    }

    fn apply_overrides(&self, s: &mut ClientSettings) {
        for (k, v) in &self.overrides {
            s.set(k, v);
        }
    }

    /// `127.0.0.1:9092 (from KAFKA_SERVER in .env)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} (from {})", self.bootstrap, self.origin)
    }
}

fn check_bootstrap(list: &str, origin: &str) -> anyhow::Result<()> {
    for server in list.split(',') {
        let s = server.trim();
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        let port = s.rsplit_once(':').map(|(_, p)| p);
        if s.is_empty() || port.is_none_or(|p| p.parse::<u16>().is_err()) {
            bail!("bootstrap server {server:?} (from {origin}) is not HOST:PORT; write e.g. 127.0.0.1:9092");
        }
    }
    Ok(())
}

/// Reads `PRODUCER_INTERVAL`-style seconds from the environment.
pub(crate) fn env_seconds(env: &Environment, name: &str) -> anyhow::Result<Option<Duration>> {
    let Some((v, origin)) = env.get(name) else { return Ok(None) };
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| (0.0..1e9).contains(s))
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(Some)
        .with_context(|| format!("{origin} is {v:?}, not a number of seconds; write e.g. {name}=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)], dotenv: &str) -> Environment {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, dotenv).unwrap();
        Environment::load_from(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), &path).unwrap()
    }

    #[test]
    fn precedence_flag_env_dotenv_default() {
        let args = ConnectArgs::default();
        let e = env(&[], "KAFKA_SERVER=broker:29092\nPRODUCER_INTERVAL=2\n");
        let c = KafkaConn::resolve(&args, &e).unwrap();
        assert_eq!(c.bootstrap, "broker:29092");
        assert!(c.origin.starts_with("KAFKA_SERVER in ") && c.origin.ends_with(".env"), "{}", c.origin);
        assert_eq!(env_seconds(&e, "PRODUCER_INTERVAL").unwrap(), Some(Duration::from_secs(2)));

        let e = env(&[("KAFKA_BOOTSTRAP_SERVERS", "h:1")], "KAFKA_SERVER=broker:29092\n");
        // KAFKA_SERVER (seed 004's name) is consulted first, wherever it is set.
        assert_eq!(KafkaConn::resolve(&args, &e).unwrap().bootstrap, "broker:29092");
        let e = env(&[("KAFKA_SERVER", "h:1")], "KAFKA_SERVER=broker:29092\n");
        assert_eq!(KafkaConn::resolve(&args, &e).unwrap().origin, "KAFKA_SERVER in the environment");

        let flag = ConnectArgs { bootstrap_servers: Some("x:2".into()), ..Default::default() };
        assert_eq!(KafkaConn::resolve(&flag, &e).unwrap().bootstrap, "x:2");
        let none = env(&[], "");
        let c = KafkaConn::resolve(&args, &none).unwrap();
        assert_eq!((c.bootstrap.as_str(), c.origin.as_str()), ("127.0.0.1:9092", "default"));
        assert!(!c.patient);
    }

    #[test]
    fn bad_values_name_the_flag_and_the_fix() {
        let e = Environment::default();
        let a = ConnectArgs { set: vec!["linger.ms".into()], ..Default::default() };
        let err = KafkaConn::resolve(&a, &e).unwrap_err().to_string();
        assert!(err.contains("-X \"linger.ms\"") && err.contains("KEY=VALUE"), "{err}");
        let a = ConnectArgs { bootstrap_servers: Some("localhost".into()), ..Default::default() };
        let err = KafkaConn::resolve(&a, &e).unwrap_err().to_string();
        assert!(err.contains("\"localhost\"") && err.contains("HOST:PORT"), "{err}");
        let a = ConnectArgs { wait_for_broker: Some("soon".into()), ..Default::default() };
        assert!(KafkaConn::resolve(&a, &e).unwrap_err().to_string().contains("--wait-for-broker"));
        let huge = env(&[], "PRODUCER_INTERVAL=1e300\n");
        assert!(env_seconds(&huge, "PRODUCER_INTERVAL").is_err());
        let bad = env(&[], "PRODUCER_INTERVAL=fast\n");
        let err = env_seconds(&bad, "PRODUCER_INTERVAL").unwrap_err().to_string();
        assert!(err.contains("PRODUCER_INTERVAL in") && err.contains("\"fast\""), "{err}");
    }

    #[test]
    fn x_overrides_apply_in_order() {
        let a = ConnectArgs {
            set: vec!["linger.ms=5".into(), "bootstrap.servers=h:9".into(), "acks=1".into()],
            ..Default::default()
        };
        let c = KafkaConn::resolve(&a, &Environment::default()).unwrap();
        assert_eq!(c.bootstrap, "h:9");
        let s = c.producer_settings();
        assert_eq!((s.get("linger.ms"), s.get("acks"), s.get("batch.size")), (Some("5"), Some("1"), Some("32768")));
    }
}
