//! `sluice broker`: flags → [`BrokerConfig`] → serve until Ctrl-C / SIGTERM.

use crate::args::BrokerArgs;
use crate::output::outln;
use anyhow::{Context, bail};
use sluice_broker::BrokerConfig;
use sluice_broker::group::CoordinatorConfig;
use sluice_broker::group::state::GroupLimits;
use sluice_broker::log::FlushPolicy;
use std::time::Duration;

/// Resolves and checks the flags.
pub(crate) fn resolve(args: &BrokerArgs) -> anyhow::Result<BrokerConfig> {
    let flush = match args.flush.as_str() {
        "os" => FlushPolicy::Os,
        "always" => FlushPolicy::EveryAppend,
        ms => match ms.parse::<u64>() {
            Ok(n) if n > 0 => FlushPolicy::IntervalMs(n),
            _ => bail!(
                "--flush {ms:?} is not a flush policy; use `os`, `always` or a period in milliseconds such as 1000"
            ),
        },
    };
    if args.group_min_session_timeout_ms > args.group_max_session_timeout_ms {
        bail!(
            "--group-min-session-timeout-ms {} is above --group-max-session-timeout-ms {}",
            args.group_min_session_timeout_ms,
            args.group_max_session_timeout_ms
        );
    }
    if args.offsets_topic_num_partitions < 1 {
        bail!("--offsets-topic-num-partitions {} must be at least 1", args.offsets_topic_num_partitions);
    }
    if args.num_partitions < 1 {
        bail!("--num-partitions {} must be at least 1", args.num_partitions);
    }
    if args.log_cleaner_backoff_ms == 0 {
        bail!("--log-cleaner-backoff-ms must be at least 1 (Kafka's default is 15000)");
    }
    if args.segment_bytes < 1024 * 1024 {
        bail!("--segment-bytes {} is below Kafka's minimum of 1048576 (1 MiB)", args.segment_bytes);
    }
    let (advertised_host, advertised_port) = match &args.advertised_listener {
        None => (String::new(), 0),
        Some(a) => {
            let a = a.strip_prefix("PLAINTEXT://").unwrap_or(a);
            let (h, p) = a
                .rsplit_once(':')
                .with_context(|| format!("--advertised-listener {a:?} needs HOST:PORT, e.g. 127.0.0.1:9092"))?;
            let port =
                p.parse::<u16>().with_context(|| format!("--advertised-listener {a:?}: {p:?} is not a port number"))?;
            (h.trim_matches(['[', ']']).to_string(), port)
        }
    };
    Ok(BrokerConfig {
        advertised_host,
        advertised_port,
        data_dir: (!args.memory).then(|| args.data_dir.clone()),
        num_partitions: args.num_partitions,
        auto_create_topics: args.auto_create_topics,
        max_request_bytes: args.max_request_bytes,
        max_connections: args.max_connections,
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        segment_bytes: args.segment_bytes,
        retention_ms: args.retention_ms,
        retention_bytes: args.retention_bytes,
        max_message_bytes: args.max_message_bytes,
        log_cleaner_backoff: Duration::from_millis(args.log_cleaner_backoff_ms),
        flush,
        coordinator: CoordinatorConfig {
            limits: GroupLimits {
                min_session_timeout_ms: args.group_min_session_timeout_ms,
                max_session_timeout_ms: args.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: args.group_initial_rebalance_delay_ms,
            },
            offsets_partitions: args.offsets_topic_num_partitions,
            offsets_retention_ms: args.offsets_retention_minutes.saturating_mul(60_000),
        },
        ..BrokerConfig::default()
    })
}

pub(crate) async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let config = resolve(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another broker running there? pick another with --listen 127.0.0.1:PORT",
            args.listen
        )
    })?;
    let local = listener.local_addr()?;
    // Bind the registry's port before opening the data, so a taken port fails fast.
    let registry_listener = match &args.registry_listen {
        Some(addr) if !args.no_registry => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr} for the schema registry: is another registry running there? pick another \
                 with --registry-listen 127.0.0.1:PORT, or run without one with --no-registry"
            )
        })?),
        _ => None,
    };
    let storage = match &config.data_dir {
        Some(d) => format!("data in {}", d.display()),
        None => "in memory".to_string(),
    };
    let handle =
        sluice_broker::start(listener, config).with_context(|| format!("cannot open the broker's data ({storage})"))?;
    outln!("sluice broker listening on {local} (advertised as {}), {storage}", handle.bootstrap());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let registry = match registry_listener {
        None => None,
        Some(listener) => {
            let registry_addr = listener.local_addr()?;
            let config = sluice_registry::RegistryConfig::new(handle.bootstrap());
            let registry = sluice_registry::connect(&config).await.context("cannot start the schema registry")?;
            outln!("sluice schema registry listening on http://{registry_addr}, schemas in topic {}", config.topic);
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(sluice_registry::serve_registry(listener, std::sync::Arc::new(registry), async move {
                let _ = stop.changed().await;
            })))
        }
    };
    super::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    if let Some(task) = registry
        && let Ok(Err(e)) = task.await
    {
        tracing::warn!(error = %e, "the schema registry stopped with an error");
    }
    handle.shutdown().await;
    Ok(())
}
