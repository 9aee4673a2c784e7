//! TxnOffsetCommit: consumer offsets that commit or abort with the producer's transaction.

use crate::group::records::{Committed, OFFSETS_TOPIC, partition_for_group};
use crate::server::now_ms;
use crate::state::Broker;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: TxnOffsetCommitRequest, version: i16) -> TxnOffsetCommitResponse {
    let now = now_ms();
    let group = req.group_id.0.as_str();
    let partitions =
        broker.topic(OFFSETS_TOPIC).map_or(broker.config.coordinator.offsets_partitions, |t| t.partition_count());
    // The group's offsets partition must be in the transaction (AddOffsetsToTxn first).
    let check = broker.txn.check_offsets_partition(
        req.transactional_id.0.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        partition_for_group(group, partitions),
        version >= 3,
    );
    let result = if check != 0 {
        Err(check)
    } else {
        let offsets = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                            commit_timestamp: now,
                        },
                    )
                })
            })
            .collect();
        broker.groups.txn_commit(
            broker,
            group,
            req.producer_id.0,
            req.producer_epoch,
            if version >= 3 { req.generation_id } else { -1 },
            if version >= 3 { req.member_id.as_str() } else { "" },
            req.group_instance_id.as_ref().map(|i| i.as_str()),
            offsets,
        )
    };
    let mut resp = TxnOffsetCommitResponse::default();
    for t in req.topics {
        let mut tr = TxnOffsetCommitResponseTopic::default();
        for p in &t.partitions {
            let mut pr = TxnOffsetCommitResponsePartition::default();
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
        tr.name = t.name;
        resp.topics.push(tr);
    }
    resp
}
