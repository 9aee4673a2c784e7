//! OffsetForLeaderEpoch: the leader epoch is always 0 here, so epoch 0 ends at the log end.

use crate::state::{Broker, lock};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use std::sync::Arc;

pub(super) fn handle(
    broker: &Arc<Broker>,
    req: OffsetForLeaderEpochRequest,
    _version: i16,
) -> OffsetForLeaderEpochResponse {
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let topic = broker.topic(t.topic.0.as_str());
        let mut tr = OffsetForLeaderTopicResult::default();
        tr.topic = t.topic.clone();
        for p in t.partitions {
            let mut e = EpochEndOffset::default();
            e.partition = p.partition;
            e.leader_epoch = -1;
            e.end_offset = -1;
            match topic.as_ref().and_then(|t| t.partition(p.partition)) {
                None => e.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(_) if p.current_leader_epoch > 0 => e.error_code = ResponseError::UnknownLeaderEpoch.code(),
                Some(part) => {
                    if p.leader_epoch == 0 {
                        e.leader_epoch = 0;
                        e.end_offset = lock(&part.state).log.log_end_offset();
                    }
                }
            }
            tr.partitions.push(e);
        }
        resp.topics.push(tr);
    }
    resp
}
