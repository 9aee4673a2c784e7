//! The accept loop and per-connection request loop.
//!
//! `run(listener, broker, shutdown)` serves until `shutdown` resolves; the caller binds the
//! listener, so tests bind `127.0.0.1:0`. A semaphore caps connections; each connection reads
//! frames (size checked before allocating), answers requests in order, and is closed on a
//! malformed request or after the idle timeout. Shutdown stops accepting, lets connections
//! finish their current request, and flushes every log.

use crate::apis;
use crate::state::Broker;
use bytes::{Buf, BytesMut};
use sluice_wire::frame::{self, FrameStatus};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Serves Kafka clients on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future<Output = ()>) {
    let limit = Arc::new(Semaphore::new(broker.config.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let retention = tokio::spawn(retention_loop(broker.clone(), stop_rx.clone()));
    let cleaner = tokio::spawn(cleaner_loop(broker.clone(), stop_rx.clone()));
    let groups = tokio::spawn(group_tick_loop(broker.clone(), stop_rx.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, max = broker.config.max_connections, "connection limit reached (max.connections); closing new connection");
                    drop(socket);
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let broker = broker.clone();
                let stop = stop_rx.clone();
                tasks.spawn(async move {
                    if let Err(e) = serve_connection(socket, broker, stop).await {
                        tracing::debug!(%peer, error = %e, "connection closed");
                    }
                    drop(permit);
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
        tasks.abort_all();
    }
    retention.abort();
    groups.abort();
    // Lets a compaction round in progress stop at the next partition, so logs are not closed
    // under it.
    let _ = cleaner.await;
    broker.flush_all();
    tracing::info!("broker stopped; logs flushed");
}

async fn retention_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(broker.config.retention_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let b = broker.clone();
        let deleted = tokio::task::spawn_blocking(move || b.enforce_retention(now_ms())).await.unwrap_or(0);
        if deleted > 0 {
            tracing::info!(segments = deleted, "retention deleted segments");
        }
    }
}

/// Compacts the topics with `cleanup.policy=compact`, one pass every `log.cleaner.backoff.ms`.
async fn cleaner_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    // The first pass after one backoff, not at once (a broker just started has nothing dirty).
    let backoff = broker.config.log_cleaner_backoff.max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + backoff, backoff);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (b, flag) = (broker.clone(), stopping.clone());
        let mut pass = tokio::task::spawn_blocking(move || {
            b.clean_logs_while(now_ms(), &|| !flag.load(std::sync::atomic::Ordering::Relaxed))
        });
        tokio::select! {
            _ = &mut pass => {}
            _ = stop.changed() => {
                stopping.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = pass.await;
                return;
            }
        }
    }
}

/// Expires group sessions, ends rebalances whose time is up, aborts timed-out transactions.
async fn group_tick_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                broker.groups.tick(&broker, now_ms());
                broker.txn.tick(&broker, now_ms());
            }
            _ = stop.changed() => return,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Why a connection ended abnormally.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Frame(#[from] frame::FrameError),
    #[error("idle for longer than connections.max.idle.ms")]
    Idle,
    #[error("malformed request: {0}")]
    Malformed(String),
}

async fn serve_connection(
    mut socket: TcpStream,
    broker: Arc<Broker>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let peer = socket.peer_addr().ok();
    let limit = broker.config.max_request_bytes;
    let ctx = apis::ConnCtx { peer };
    let idle = broker.config.idle_timeout;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = BytesMut::with_capacity(64 * 1024);
    loop {
        // Answer every whole frame already buffered before reading more.
        loop {
            match frame::check(&buf, limit) {
                Ok(FrameStatus::Complete { len }) => {
                    buf.advance(frame::PREFIX);
                    let body = buf.split_to(len).freeze();
                    // Fetch, JoinGroup and SyncGroup may wait: send the answers already made first.
                    let may_wait = sluice_wire::header::peek(&body).is_some_and(|h| matches!(h.api_key, 1 | 11 | 14));
                    if may_wait && !out.is_empty() {
                        socket.write_all(&out).await?;
                        out.clear();
                    }
                    match apis::handle(&broker, &ctx, body, &mut out).await {
                        Ok(()) => {}
                        Err(e) => {
                            tracing::warn!(peer = ?peer, error = %e, "malformed request; closing connection");
                            return Err(ConnectionError::Malformed(e.to_string()));
                        }
                    }
                }
                Ok(FrameStatus::Incomplete { needed }) => {
                    if let Some(n) = needed {
                        buf.reserve(n.saturating_sub(buf.len()));
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(peer = ?peer, error = %e, "bad frame; closing connection");
                    return Err(e.into());
                }
            }
        }
        if !out.is_empty() {
            socket.write_all(&out).await?;
            out.clear();
        }
        if *stop.borrow() {
            return Ok(());
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let n = tokio::select! {
            r = tokio::time::timeout(idle, socket.read_buf(&mut buf)) => match r {
                Ok(r) => r?,
                Err(_) => return Err(ConnectionError::Idle),
            },
            _ = stop.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
    }
}
