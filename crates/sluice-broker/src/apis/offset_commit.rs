//! OffsetCommit: membership checked as Kafka checks it, offsets written to
//! `__consumer_offsets` before the answer.

use crate::group::records::Committed;
use crate::server::now_ms;
use crate::state::Broker;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    let now = now_ms();
    let mut offsets = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            offsets.push((
                t.name.0.to_string(),
                p.partition_index,
                Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    commit_timestamp: now,
                },
            ));
        }
    }
    let result = broker.groups.commit(
        broker,
        version,
        req.group_id.0.as_str(),
        req.generation_id_or_member_epoch,
        req.member_id.as_str(),
        req.group_instance_id.as_ref().map(|i| i.as_str()),
        offsets,
    );
    let mut resp = OffsetCommitResponse::default();
    for t in req.topics {
        let mut tr = OffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        tr.topic_id = t.topic_id;
        for p in t.partitions {
            let mut pr = OffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = match &result {
                Err(code) => *code,
                Ok(codes) => codes
                    .iter()
                    .find(|((n, i), _)| n.as_str() == t.name.0.as_str() && *i == p.partition_index)
                    .map_or(0, |(_, c)| *c),
            };
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
