//! DeleteTopics: by name (v0–v5) or by name or id (v6+).

use super::util::s;
use crate::state::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use std::sync::Arc;
use uuid::Uuid;

pub(super) fn handle(broker: &Arc<Broker>, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n.0.to_string()), Uuid::nil())).collect()
    };
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        r.topic_id = id;
        let topic = match &name {
            Some(n) => broker.topic(n),
            None => broker.topic_by_id(id),
        };
        match topic {
            None => {
                r.name = name.map(|n| TopicName(s(n)));
                r.error_code = if r.name.is_none() {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                }
                .code();
            }
            Some(t) => {
                r.name = Some(TopicName(s(t.name.clone())));
                r.topic_id = t.id;
                if let Err(e) = broker.delete_topic(&t.name) {
                    r.error_code = e.code;
                    r.error_message = e.message.map(s);
                }
            }
        }
        resp.responses.push(r);
    }
    resp
}
