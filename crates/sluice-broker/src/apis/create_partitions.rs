//! CreatePartitions: grow a topic's partition count.

use super::util::s;
use crate::state::{ApiError, Broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: CreatePartitionsRequest, _version: i16) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        let outcome = (|| -> Result<(), ApiError> {
            let topic = broker.topic(t.name.0.as_str()).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{}' does not exist.", t.name.0.as_str()),
                )
            })?;
            let current = topic.partition_count();
            if t.count < current {
                return Err(ApiError::new(
                    ResponseError::InvalidPartitions,
                    format!(
                        "Topic currently has {current} partitions, which is higher than the requested {}.",
                        t.count
                    ),
                ));
            }
            crate::state::check_partition_limit(t.count)?;
            if t.count == current {
                return Err(ApiError::new(
                    ResponseError::InvalidPartitions,
                    format!("Topic already has {current} partitions."),
                ));
            }
            if let Some(a) = &t.assignments
                && a.len() as i32 != t.count - current
            {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        t.count - current,
                        a.len()
                    ),
                ));
            }
            if !req.validate_only {
                broker.add_partitions(&topic, t.count)?;
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            r.error_code = e.code;
            r.error_message = e.message.map(s);
        }
        resp.results.push(r);
    }
    resp
}
