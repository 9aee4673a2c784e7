//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4) and by
//! timestamp.

use crate::state::{Broker, lock};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: ListOffsetsRequest, _version: i16) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
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
            pr.leader_epoch = 0;
            match rp.timestamp {
                -1 => pr.offset = log.log_end_offset(),
                -2 | -4 | -5 => pr.offset = log.log_start_offset(),
                -3 => match log.max_timestamp() {
                    Some((ts, off)) => {
                        pr.timestamp = ts;
                        pr.offset = off;
                    }
                    None => pr.offset = -1,
                },
                ts => match log.offset_for_timestamp(ts) {
                    Ok(Some((off, t))) => {
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
