//! DescribeTransactions: state, producer, timeout and partitions of transactional ids.

use super::util::s;
use crate::state::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName};
use std::sync::Arc;

pub(super) fn handle(
    broker: &Arc<Broker>,
    req: DescribeTransactionsRequest,
    _version: i16,
) -> DescribeTransactionsResponse {
    let mut resp = DescribeTransactionsResponse::default();
    let known = broker.txn.list();
    for id in req.transactional_ids {
        let mut t = TransactionState::default();
        match known.iter().find(|(k, _)| k == id.0.as_str()) {
            None => t.error_code = ResponseError::TransactionalIdNotFound.code(),
            Some((_, meta)) => {
                t.transaction_state = s(meta.state.name());
                t.transaction_timeout_ms = meta.timeout_ms;
                t.transaction_start_time_ms = meta.start_ms;
                t.producer_id = ProducerId(meta.producer_id);
                t.producer_epoch = meta.epoch;
                let mut topics: Vec<TopicData> = Vec::new();
                for (topic, p) in &meta.partitions {
                    match topics.last_mut() {
                        Some(td) if td.topic.0.as_str() == topic => td.partitions.push(*p),
                        _ => {
                            let mut td = TopicData::default();
                            td.topic = TopicName(s(topic.clone()));
                            td.partitions = vec![*p];
                            topics.push(td);
                        }
                    }
                }
                t.topics = topics;
            }
        }
        t.transactional_id = id;
        resp.transaction_states.push(t);
    }
    resp
}
