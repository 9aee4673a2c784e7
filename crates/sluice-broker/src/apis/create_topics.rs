//! CreateTopics: name, partitions, replication factor and configs validated as Kafka does;
//! `validate_only` checks without creating.

use super::util::s;
use crate::state::{ApiError, Broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    let mut seen = HashSet::new();
    let dupes: HashSet<String> =
        req.topics.iter().map(|t| t.name.0.to_string()).filter(|n| !seen.insert(n.clone())).collect();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatableTopicResult::default();
        r.name = t.name.clone();
        r.num_partitions = -1;
        r.replication_factor = -1;
        let outcome = (|| -> Result<(), ApiError> {
            if dupes.contains(&name) {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Create topics request from client contains multiple entries for the topic {name}"),
                ));
            }
            let mut partitions = t.num_partitions;
            let mut replication = t.replication_factor;
            if !t.assignments.is_empty() {
                if partitions != -1 || replication != -1 {
                    return Err(ApiError::new(
                        ResponseError::InvalidRequest,
                        "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                    ));
                }
                partitions = t.assignments.len() as i32;
                replication = t.assignments.first().map_or(1, |a| a.broker_ids.len() as i16);
                let mut idx: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
                idx.sort_unstable();
                if idx.iter().enumerate().any(|(i, p)| *p != i as i32) {
                    return Err(ApiError::new(
                        ResponseError::InvalidReplicaAssignment,
                        "Partitions should be a consecutive 0-based integer sequence",
                    ));
                }
                if t.assignments.iter().any(|a| a.broker_ids.iter().any(|b| b.0 != broker.config.node_id)) {
                    return Err(ApiError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!("Replica assignment names brokers other than {}", broker.config.node_id),
                    ));
                }
            }
            if partitions == -1 {
                partitions = broker.config.num_partitions;
            }
            if replication == -1 {
                replication = 1;
            }
            if partitions < -1 || partitions == 0 {
                return Err(ApiError::new(
                    ResponseError::InvalidPartitions,
                    "Number of partitions must be larger than 0.",
                ));
            }
            if replication < -1 || replication == 0 {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicationFactor,
                    "Replication factor must be larger than 0.",
                ));
            }
            let mut configs = BTreeMap::new();
            for c in &t.configs {
                if let Some(v) = &c.value {
                    configs.insert(c.name.to_string(), v.to_string());
                }
            }
            broker.check_new_topic(&name, partitions, replication, &configs)?;
            r.num_partitions = partitions;
            r.replication_factor = replication;
            if version >= 5 {
                r.configs = Some(
                    broker
                        .topic_defaults
                        .iter()
                        .map(|(k, v)| {
                            let mut c = CreatableTopicConfigs::default();
                            c.name = s(k.clone());
                            let (value, source) = match configs.get(k) {
                                Some(o) => (o.clone(), 1),
                                None => (v.clone(), 5),
                            };
                            c.value = Some(s(value));
                            c.config_source = source;
                            c
                        })
                        .collect(),
                );
            }
            if !req.validate_only {
                let topic = broker.create_topic(&name, partitions, configs)?;
                r.topic_id = topic.id;
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            r.error_code = e.code;
            r.error_message = e.message.map(s);
            r.num_partitions = -1;
            r.replication_factor = -1;
            r.configs = None;
        }
        resp.topics.push(r);
    }
    resp
}
