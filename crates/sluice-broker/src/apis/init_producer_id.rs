//! InitProducerId: a fresh producer id for idempotent producers; for a transactional id the
//! same id with a bumped epoch, which fences the previous holder.

use crate::state::{Broker, lock};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: InitProducerIdRequest, _version: i16) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    match req.transactional_id {
        None => {
            if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
                // KIP-360: an idempotent producer asks to bump its epoch after an error.
                if req.producer_epoch == i16::MAX - 1 {
                    resp.producer_id = ProducerId(broker.allocate_producer_id());
                    resp.producer_epoch = 0;
                } else {
                    resp.producer_id = req.producer_id;
                    resp.producer_epoch = req.producer_epoch + 1;
                }
            } else {
                resp.producer_id = ProducerId(broker.allocate_producer_id());
                resp.producer_epoch = 0;
            }
        }
        Some(tid) => {
            let mut ids = lock(&broker.transactional_ids);
            let entry = ids.entry(tid.0.to_string()).or_insert((-1, -1));
            if entry.0 < 0 || entry.1 >= i16::MAX - 1 {
                *entry = (broker.allocate_producer_id(), 0);
            } else if req.producer_id.0 >= 0 && (req.producer_id.0 != entry.0 || req.producer_epoch != entry.1) {
                resp.error_code = ResponseError::ProducerFenced.code();
                resp.producer_id = ProducerId(-1);
                resp.producer_epoch = -1;
                return resp;
            } else {
                entry.1 += 1;
            }
            resp.producer_id = ProducerId(entry.0);
            resp.producer_epoch = entry.1;
        }
    }
    resp
}
