//! Fetch: whole batches from the one containing the fetch offset, with long polling
//! (max.wait.ms / min.bytes) and the per-partition and per-response byte limits.

use crate::log::LogError;
use crate::state::{Broker, lock};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest wait honoured, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(super) async fn handle(broker: &Arc<Broker>, req: FetchRequest, version: i16) -> FetchResponse {
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    loop {
        let notified = broker.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (resp, bytes, errors) = collect(broker, &req, version);
        if bytes >= req.min_bytes.max(0) as usize || errors || Instant::now() >= deadline {
            return resp;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return collect(broker, &req, version).0;
        }
    }
}

fn collect(broker: &Broker, req: &FetchRequest, version: i16) -> (FetchResponse, usize, bool) {
    let mut resp = FetchResponse::default();
    let max_bytes = if req.max_bytes > 0 { req.max_bytes as usize } else { usize::MAX };
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = req.isolation_level == 1;
    for ft in &req.topics {
        let topic = if version >= 13 { broker.topic_by_id(ft.topic_id) } else { broker.topic(ft.topic.0.as_str()) };
        let mut tr = FetchableTopicResponse::default();
        tr.topic = ft.topic.clone();
        tr.topic_id = ft.topic_id;
        for fp in &ft.partitions {
            let mut pd = PartitionData::default();
            pd.partition_index = fp.partition;
            pd.high_watermark = -1;
            let partition = topic.as_ref().and_then(|t| t.partition(fp.partition));
            match partition {
                None if topic.is_none() && version >= 13 => pd.error_code = ResponseError::UnknownTopicId.code(),
                None => pd.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(p) => {
                    let state = lock(&p.state);
                    let log = &state.log;
                    let hw = log.log_end_offset();
                    let lso = state.txns.last_stable_offset(hw);
                    pd.high_watermark = hw;
                    if version >= 4 {
                        pd.last_stable_offset = lso;
                    }
                    if version >= 5 {
                        pd.log_start_offset = log.log_start_offset();
                    }
                    if read_committed {
                        pd.aborted_transactions = Some(
                            state
                                .txns
                                .aborted_in(fp.fetch_offset, lso)
                                .into_iter()
                                .map(|a| {
                                    let mut t = AbortedTransaction::default();
                                    t.producer_id = ProducerId(a.producer_id);
                                    t.first_offset = a.first_offset;
                                    t
                                })
                                .collect(),
                        );
                    }
                    match check_epoch(fp) {
                        Some(code) => pd.error_code = code,
                        None => {
                            let room = max_bytes.saturating_sub(total);
                            let limit = (fp.partition_max_bytes.max(0) as usize).min(room);
                            if total > 0 && limit == 0 {
                                pd.records = Some(Bytes::new());
                            } else {
                                match log.read(fp.fetch_offset, limit.max(1)) {
                                    Ok(r) if total > 0 && r.bytes.len() > room => pd.records = Some(Bytes::new()),
                                    Ok(r) => {
                                        // read_committed sees nothing at or past the last stable offset.
                                        let bytes = if read_committed { below(r.bytes, lso) } else { r.bytes };
                                        total += bytes.len();
                                        pd.records = Some(bytes);
                                    }
                                    Err(LogError::OffsetOutOfRange { .. }) => {
                                        pd.error_code = ResponseError::OffsetOutOfRange.code();
                                    }
                                    Err(e) => {
                                        tracing::error!(topic = %ft.topic.0.as_str(), partition = fp.partition, error = %e, "read failed");
                                        pd.error_code = ResponseError::KafkaStorageError.code();
                                    }
                                }
                            }
                        }
                    }
                }
            }
            errors |= pd.error_code != 0;
            tr.partitions.push(pd);
        }
        resp.responses.push(tr);
    }
    (resp, total, errors)
}

/// The whole batches of `bytes` that start below `lso`.
fn below(bytes: Bytes, lso: i64) -> Bytes {
    let mut end = 0;
    for (at, h) in sluice_wire::batch::walk(&bytes).flatten() {
        if h.base_offset >= lso {
            break;
        }
        end = at + h.total_len();
    }
    bytes.slice(..end)
}

/// The leader epoch is always 0 on this single-node broker.
fn check_epoch(fp: &FetchPartition) -> Option<i16> {
    match fp.current_leader_epoch {
        e if e > 0 => Some(ResponseError::UnknownLeaderEpoch.code()),
        _ => None,
    }
}
