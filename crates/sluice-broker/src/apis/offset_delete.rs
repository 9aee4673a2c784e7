//! OffsetDelete: drops committed offsets of topics the group no longer subscribes to.

use crate::state::Broker;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: OffsetDeleteRequest, _version: i16) -> OffsetDeleteResponse {
    let mut resp = OffsetDeleteResponse::default();
    let topics = req
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()))
        .collect();
    match broker.groups.delete_offsets(broker, req.group_id.0.as_str(), topics) {
        Err(code) => resp.error_code = code,
        Ok(codes) => {
            for t in req.topics {
                let mut tr = OffsetDeleteResponseTopic::default();
                for p in &t.partitions {
                    let mut pr = OffsetDeleteResponsePartition::default();
                    pr.partition_index = p.partition_index;
                    pr.error_code = codes
                        .iter()
                        .find(|((n, i), _)| n.as_str() == t.name.0.as_str() && *i == p.partition_index)
                        .map_or(0, |(_, c)| *c);
                    tr.partitions.push(pr);
                }
                tr.name = t.name;
                resp.topics.push(tr);
            }
        }
    }
    resp
}
