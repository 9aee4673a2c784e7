//! InitProducerId: a fresh producer id for idempotent producers (or, KIP-360, a bumped epoch
//! for one that asks with its current id); for a transactional id, the transaction
//! coordinator's producer id with a new epoch, which fences the previous holder.

use crate::state::Broker;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: InitProducerIdRequest, version: i16) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    let expected = (version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let result = match req.transactional_id.as_ref().filter(|t| !t.0.is_empty()) {
        None => Ok(match expected {
            Some((pid, epoch)) if epoch < i16::MAX - 1 => (pid, epoch + 1),
            _ => (broker.allocate_producer_id(), 0),
        }),
        Some(tid) => broker.txn.init_producer(broker, tid.0.as_str(), req.transaction_timeout_ms, expected),
    };
    match result {
        Ok((pid, epoch)) => {
            resp.producer_id = ProducerId(pid);
            resp.producer_epoch = epoch;
        }
        Err(code) => {
            resp.error_code = code;
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
        }
    }
    resp
}
