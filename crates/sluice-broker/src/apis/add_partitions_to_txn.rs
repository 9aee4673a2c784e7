//! AddPartitionsToTxn: partitions join the producer's open transaction (v0–v3 from clients;
//! v4+ batches several transactions, as brokers send it).

use crate::state::Broker;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use std::sync::Arc;

fn results(
    broker: &Broker,
    id: &str,
    pid: i64,
    epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    new_codes: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let parts: Vec<(String, i32)> =
        topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), *p))).collect();
    let codes = broker.txn.add_partitions(broker, id, pid, epoch, &parts, new_codes);
    let mut codes = codes.into_iter();
    topics
        .iter()
        .map(|t| {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            tr.results_by_partition = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                    pr.partition_index = *p;
                    pr.partition_error_code = codes.next().unwrap_or(0);
                    pr
                })
                .collect();
            tr
        })
        .collect()
}

pub(super) fn handle(broker: &Arc<Broker>, req: AddPartitionsToTxnRequest, version: i16) -> AddPartitionsToTxnResponse {
    let mut resp = AddPartitionsToTxnResponse::default();
    if version >= 4 {
        for t in &req.transactions {
            let mut r = AddPartitionsToTxnResult::default();
            r.transactional_id = t.transactional_id.clone();
            r.topic_results =
                results(broker, t.transactional_id.0.as_str(), t.producer_id.0, t.producer_epoch, &t.topics, true);
            resp.results_by_transaction.push(r);
        }
    } else {
        resp.results_by_topic_v3_and_below = results(
            broker,
            req.v3_and_below_transactional_id.0.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            &req.v3_and_below_topics,
            version >= 2,
        );
    }
    resp
}
