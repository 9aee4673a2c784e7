//! OffsetFetch: committed offsets of a group (v0–v7) or of several groups (v8+); -1 where
//! nothing was committed.

use super::util::s;
use crate::group::records::Committed;
use crate::state::Broker;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use std::sync::Arc;

fn fields(c: Option<Committed>) -> (i64, i32, String) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, c.metadata),
        None => (-1, -1, String::new()),
    }
}

/// With `require_stable`, offsets a transaction has not committed yet are UNSTABLE_OFFSET_COMMIT
/// (the client retries).
fn stable(broker: &Broker, require: bool, group: &str, topic: &str, p: i32) -> i16 {
    if require && broker.groups.has_pending(group, topic, p) {
        kafka_protocol::ResponseError::UnstableOffsetCommit.code()
    } else {
        0
    }
}

pub(super) fn handle(broker: &Arc<Broker>, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    let require = version >= 7 && req.require_stable;
    if version >= 8 {
        for g in req.groups {
            let topics =
                g.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
            let mut gr = OffsetFetchResponseGroup::default();
            gr.group_id = g.group_id.clone();
            for (topic, parts) in broker.groups.fetch_offsets(g.group_id.0.as_str(), topics) {
                let mut tr = OffsetFetchResponseTopics::default();
                tr.name = TopicName(s(topic.clone()));
                if let Some(t) = broker.topic(&topic) {
                    tr.topic_id = t.id;
                }
                for (p, c) in parts {
                    let (offset, epoch, meta) = fields(c);
                    let mut pr = OffsetFetchResponsePartitions::default();
                    pr.error_code = stable(broker, require, g.group_id.0.as_str(), &topic, p);
                    pr.partition_index = p;
                    pr.committed_offset = offset;
                    pr.committed_leader_epoch = epoch;
                    pr.metadata = Some(s(meta));
                    tr.partitions.push(pr);
                }
                gr.topics.push(tr);
            }
            resp.groups.push(gr);
        }
        return resp;
    }
    let topics = req.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    for (topic, parts) in broker.groups.fetch_offsets(req.group_id.0.as_str(), topics) {
        let mut tr = OffsetFetchResponseTopic::default();
        tr.name = TopicName(s(topic.clone()));
        for (p, c) in parts {
            let (offset, epoch, meta) = fields(c);
            let mut pr = OffsetFetchResponsePartition::default();
            pr.error_code = stable(broker, require, req.group_id.0.as_str(), &topic, p);
            pr.partition_index = p;
            pr.committed_offset = offset;
            pr.committed_leader_epoch = epoch;
            pr.metadata = Some(s(meta));
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
