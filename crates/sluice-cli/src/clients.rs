//! Kafka clients for the commands: created from [`KafkaConn`], checked for a live broker
//! first, so a missing broker is one line instead of librdkafka retrying in the background.

use crate::kafka_opts::KafkaConn;
use crate::output::errln;
use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use sluice_connect::kafka::{KafkaSink, SluiceContext, probe_broker};
use sluice_connect::pipeline::Interrupt;
use std::sync::Arc;
use std::time::Duration;

/// Timeout of one admin request.
pub(crate) const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Says so on stderr when `--wait-for-broker` makes the first contact patient.
pub(crate) fn announce_wait(conn: &KafkaConn) {
    if conn.patient {
        errln!("waiting up to {} for a broker at {}", crate::duration::show(conn.wait), conn.describe());
    }
}

/// Checks that the sink's broker answers (on a blocking thread: librdkafka's call blocks).
pub(crate) async fn check_sink(sink: &Arc<KafkaSink>, conn: &KafkaConn) -> anyhow::Result<()> {
    announce_wait(conn);
    let (sink, wait, patient) = (Arc::clone(sink), conn.wait, conn.patient);
    tokio::task::spawn_blocking(move || sink.check_broker(wait, patient)).await??;
    Ok(())
}

/// An admin client whose broker has answered; also returns the cluster metadata.
pub(crate) fn admin(conn: &KafkaConn) -> anyhow::Result<(AdminClient<SluiceContext>, Metadata)> {
    announce_wait(conn);
    let admin: AdminClient<SluiceContext> = conn
        .client_settings()
        .client_config()
        .create_with_context(SluiceContext::default())
        .map_err(|e| anyhow::anyhow!("invalid client setting: {e}; check the -X key=value pairs"))?;
    // The admin client does not serve librdkafka's error events; a probe client does.
    let md = probe_broker(&conn.client_settings(), conn.wait, conn.patient)?;
    Ok((admin, md))
}

/// Admin options with sluice's timeouts.
pub(crate) fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT)).operation_timeout(Some(ADMIN_TIMEOUT))
}

/// Partitions of `topic` in `md`, `None` when absent.
pub(crate) fn partition_count(md: &Metadata, topic: &str) -> Option<usize> {
    md.topics().iter().find(|t| t.name() == topic && t.error().is_none()).map(|t| t.partitions().len())
}

/// What [`ensure_topic`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ensured {
    /// Created with the requested partitions.
    Created(i32),
    /// Already there with this many partitions.
    Existing(usize),
}

/// Creates `topic` with `partitions` partitions (replication factor 1) unless it exists, as
/// `sluice topics create` would.
pub(crate) async fn ensure_topic(
    admin: &AdminClient<SluiceContext>,
    md: &Metadata,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Ensured> {
    if let Some(n) = partition_count(md, topic) {
        return Ok(Ensured::Existing(n));
    }
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
    let results =
        admin.create_topics([&new], &admin_options()).await.with_context(|| format!("cannot create topic {topic}"))?;
    match results.into_iter().next() {
        Some(Ok(_)) | None => Ok(Ensured::Created(partitions)),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(Ensured::Existing(partitions.max(0) as usize)),
        Some(Err((_, code))) => anyhow::bail!("cannot create topic {topic} with {partitions} partitions: {code}"),
    }
}

/// An [`Interrupt`] raised by Ctrl-C / SIGTERM (twice: abort).
pub(crate) fn interrupt_on_signal() -> Arc<Interrupt> {
    let interrupt = Arc::new(Interrupt::new());
    let i = Arc::clone(&interrupt);
    tokio::spawn(async move {
        loop {
            crate::commands::shutdown_signal().await;
            i.signal();
            if i.aborted() {
                break;
            }
            // Records still on their way are delivered first; with no broker answering that
            // lasts until librdkafka's message.timeout.ms (5 minutes unless set with -X).
            errln!("stopping: waiting for the records in flight to be delivered (Ctrl-C again to drop them)");
        }
    });
    interrupt
}
