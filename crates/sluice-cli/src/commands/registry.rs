//! `sluice registry`: flags → [`RegistryConfig`] → serve until Ctrl-C / SIGTERM.

use crate::args::RegistryArgs;
use crate::output::outln;
use anyhow::{Context, bail};
use sluice_registry::RegistryConfig;
use sluice_registry::types::CompatibilityLevel;
use std::sync::Arc;
use std::time::Duration;

/// Resolves and checks the flags.
pub(crate) fn resolve(args: &RegistryArgs) -> anyhow::Result<RegistryConfig> {
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
    Ok(RegistryConfig {
        bootstrap_servers: args.bootstrap_servers.clone(),
        topic: args.topic.clone(),
        default_compatibility: level,
        init_timeout: Duration::from_millis(args.init_timeout_ms),
    })
}

pub(crate) async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let config = resolve(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another registry running there? pick another with --listen 127.0.0.1:PORT",
            args.listen
        )
    })?;
    let local = listener.local_addr()?;
    let registry = sluice_registry::connect(&config).await?;
    outln!("sluice registry listening on {local}, schemas in topic {} at {}", config.topic, config.bootstrap_servers);
    sluice_registry::serve_registry(listener, Arc::new(registry), super::shutdown_signal())
        .await
        .context("the registry's HTTP server failed")?;
    tracing::info!("registry stopped");
    Ok(())
}
