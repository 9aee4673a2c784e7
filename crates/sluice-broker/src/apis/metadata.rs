//! Metadata: brokers, cluster id, topics and partition leaders; auto-creates topics when the
//! request allows it and the broker is configured to.

use super::util::s;
use crate::state::{ApiError, Broker, Topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use std::sync::Arc;

/// Bit set of every ACL operation on a topic (READ..DESCRIBE_CONFIGS, ALTER_CONFIGS), as
/// reported when a client asks for authorized operations: no ACLs, everything allowed.
pub(crate) const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// Same for the cluster resource.
pub(crate) const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub(super) fn handle(broker: &Arc<Broker>, req: MetadataRequest, version: i16) -> MetadataResponse {
    let mut resp = MetadataResponse::default();
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(broker.config.node_id);
    b.host = s(broker.advertised_host.clone());
    b.port = broker.advertised_port;
    resp.brokers = vec![b];
    resp.cluster_id = Some(s(broker.cluster_id.clone()));
    resp.controller_id = BrokerId(broker.config.node_id);
    resp.cluster_authorized_operations =
        if req.include_cluster_authorized_operations { CLUSTER_OPERATIONS } else { i32::MIN };
    let include_ops = req.include_topic_authorized_operations;
    // v0: an empty list means all topics; v1+: null means all topics.
    let requested = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_auto = version < 4 || req.allow_auto_topic_creation;
    resp.topics = match requested {
        None => broker.topics().iter().map(|t| describe(broker, t, include_ops)).collect(),
        Some(list) => list
            .into_iter()
            .map(|rt| {
                if let Some(name) = rt.name {
                    let name = name.0.to_string();
                    match broker.topic(&name) {
                        Some(t) => describe(broker, &t, include_ops),
                        None if allow_auto && broker.config.auto_create_topics => match broker.auto_create(&name) {
                            Ok(t) => describe(broker, &t, include_ops),
                            Err(e) => error_topic(Some(name), e),
                        },
                        None => error_topic(Some(name), ResponseError::UnknownTopicOrPartition.into()),
                    }
                } else {
                    match broker.topic_by_id(rt.topic_id) {
                        Some(t) => describe(broker, &t, include_ops),
                        None => {
                            let mut t = error_topic(None, ResponseError::UnknownTopicId.into());
                            t.topic_id = rt.topic_id;
                            t
                        }
                    }
                }
            })
            .collect(),
    };
    resp
}

fn error_topic(name: Option<String>, e: ApiError) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.error_code = e.code;
    t.name = name.map(|n| TopicName(s(n)));
    t.topic_authorized_operations = i32::MIN;
    t
}

pub(crate) fn describe(broker: &Broker, topic: &Topic, include_ops: bool) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(s(topic.name.clone())));
    t.topic_id = topic.id;
    t.is_internal = topic.is_internal();
    t.topic_authorized_operations = if include_ops { TOPIC_OPERATIONS } else { i32::MIN };
    t.partitions = (0..topic.partition_count())
        .map(|i| {
            let mut p = MetadataResponsePartition::default();
            p.partition_index = i;
            p.leader_id = node;
            p.leader_epoch = 0;
            p.replica_nodes = vec![node];
            p.isr_nodes = vec![node];
            p
        })
        .collect();
    t
}
