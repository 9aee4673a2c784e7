//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4) and by
//! timestamp.

use crate::log::PartitionLog;
use crate::state::{Broker, lock};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;
use std::sync::Arc;

/// The first record at or after `from` in the batch(es) read at `from` whose timestamp passes
/// `pick`: ListOffsets answers with a record's offset, not its batch's, as Kafka does (the
/// batch is decompressed when it has to be).
fn record_in_batch(log: &PartitionLog, from: i64, pick: impl Fn(i64) -> bool) -> Option<(i64, i64)> {
    let mut bytes = log.read(from, 1).ok()?.bytes;
    let batch = RecordBatchDecoder::decode(&mut bytes).ok()?;
    batch.records.iter().find(|r| r.offset >= from && pick(r.timestamp)).map(|r| (r.offset, r.timestamp))
}

pub(super) fn handle(broker: &Arc<Broker>, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    let isolation_level = req.isolation_level;
    for rt in req.topics {
        let topic = broker.topic(rt.name.0.as_str());
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = rt.name.clone();
        for rp in rt.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = rp.partition_index;
            let Some(p) = topic.as_ref().and_then(|t| t.partition(rp.partition_index)) else {
                pr.error_code = ResponseError::UnknownTopicOrPartition.code();
                tr.partitions.push(pr);
                continue;
            };
            if rp.current_leader_epoch > 0 {
                pr.error_code = ResponseError::UnknownLeaderEpoch.code();
                tr.partitions.push(pr);
                continue;
            }
            let state = lock(&p.state);
            let log = &state.log;
            if version >= 4 {
                pr.leader_epoch = 0;
            }
            match rp.timestamp {
                -1 if isolation_level == 1 => pr.offset = state.txns.last_stable_offset(log.log_end_offset()),
                -1 => pr.offset = log.log_end_offset(),
                -2 | -4 | -5 => pr.offset = log.log_start_offset(),
                -3 => match log.max_timestamp() {
                    Some((ts, last)) => {
                        // The batch's last offset is what the log knows; the record is exact.
                        let base = log.read(last, 1).ok().and_then(|r| sluice_wire::batch::validate(&r.bytes).ok());
                        let from = base.map_or(last, |h| h.base_offset.max(log.log_start_offset()));
                        let (off, ts) = record_in_batch(log, from, |t| t == ts).unwrap_or((last, ts));
                        pr.timestamp = ts;
                        pr.offset = off;
                    }
                    None => pr.offset = -1,
                },
                ts => match log.offset_for_timestamp(ts) {
                    Ok(Some((off, t))) => {
                        let (off, t) = record_in_batch(log, off, |rt| rt >= ts).unwrap_or((off, t));
                        pr.offset = off;
                        pr.timestamp = t;
                    }
                    Ok(None) => {
                        pr.offset = -1;
                        pr.timestamp = -1;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "offset lookup failed");
                        pr.error_code = ResponseError::KafkaStorageError.code();
                    }
                },
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
