//! `sluice registry`: flags → [`RegistryConfig`] → serve until Ctrl-C / SIGTERM.

use crate::args::RegistryArgs;
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn};
use crate::output::outln;
use anyhow::{Context, bail};
use sluice_registry::RegistryConfig;
use sluice_registry::types::CompatibilityLevel;
use std::sync::Arc;
use std::time::Duration;

/// Resolves and checks the flags; the brokers as every other command finds them (flag,
/// environment, `.env`, default), with where they came from.
pub(crate) fn resolve(args: &RegistryArgs, env: &Environment) -> anyhow::Result<(RegistryConfig, String)> {
    let connect = ConnectArgs { bootstrap_servers: args.bootstrap_servers.clone(), ..Default::default() };
    let conn = KafkaConn::resolve(&connect, env)?;
    let Some(level) = CompatibilityLevel::parse(&args.compatibility) else {
        bail!(
            "--compatibility {:?} is not a compatibility level; use one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, \
             FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE",
            args.compatibility
        );
    };
    if args.topic.is_empty() {
        bail!("--topic must not be empty; the default is _schemas");
    }
    let config = RegistryConfig {
        bootstrap_servers: conn.bootstrap.clone(),
        topic: args.topic.clone(),
        default_compatibility: level,
        init_timeout: Duration::from_millis(args.init_timeout_ms),
    };
    Ok((config, conn.describe()))
}

pub(crate) async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let (config, brokers) = resolve(&args, &Environment::load()?)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another registry running there? pick another with --listen 127.0.0.1:PORT",
            args.listen
        )
    })?;
    let local = listener.local_addr()?;
    let registry = sluice_registry::connect(&config).await?;
    outln!("sluice registry listening on {local}, schemas in topic {} at {brokers}", config.topic);
    sluice_registry::serve_registry(listener, Arc::new(registry), super::shutdown_signal())
        .await
        .context("the registry's HTTP server failed")?;
    tracing::info!("registry stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(bootstrap: Option<&str>) -> RegistryArgs {
        RegistryArgs {
            listen: "127.0.0.1:0".into(),
            bootstrap_servers: bootstrap.map(str::to_string),
            topic: "_schemas".into(),
            compatibility: "BACKWARD".into(),
            init_timeout_ms: 1000,
        }
    }

    #[test]
    fn brokers_come_from_the_flag_the_environment_or_dotenv_like_every_command() {
        let dir = tempfile::tempdir().unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "KAFKA_SERVER=broker:29092\n").unwrap();
        let env = Environment::load_from(Default::default(), &dotenv).unwrap();
        let (c, from) = resolve(&args(None), &env).unwrap();
        assert_eq!(c.bootstrap_servers, "broker:29092");
        assert!(from.starts_with("broker:29092 (from KAFKA_SERVER in ") && from.ends_with(".env)"), "{from}");

        let vars = [("KAFKA_BOOTSTRAP_SERVERS".to_string(), "k:9093".to_string())].into_iter().collect();
        let env = Environment::load_from(vars, &dir.path().join("none")).unwrap();
        assert_eq!(resolve(&args(None), &env).unwrap().1, "k:9093 (from KAFKA_BOOTSTRAP_SERVERS in the environment)");
        assert_eq!(resolve(&args(Some("b:1")), &env).unwrap().1, "b:1 (from --bootstrap-servers)");
        let none = Environment::load_from(Default::default(), &dir.path().join("none")).unwrap();
        assert_eq!(resolve(&args(None), &none).unwrap().0.bootstrap_servers, "127.0.0.1:9092");

        let e = resolve(&args(Some("nohost")), &none).unwrap_err().to_string();
        assert!(e.contains("not HOST:PORT"), "{e}");
        let mut bad = args(None);
        bad.compatibility = "SOMETIMES".into();
        assert!(resolve(&bad, &none).unwrap_err().to_string().contains("NONE, BACKWARD"));
    }
}
