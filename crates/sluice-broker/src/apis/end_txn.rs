//! EndTxn: commit or abort; markers are written to every partition of the transaction before
//! the answer.

use crate::state::Broker;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    resp.error_code = broker.txn.end_txn(
        broker,
        req.transactional_id.0.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        req.committed,
        version >= 2,
    );
    if version >= 5 {
        // KIP-890: the producer's id and epoch after the transaction (unchanged here).
        resp.producer_id = if resp.error_code == 0 { req.producer_id } else { ProducerId(-1) };
        resp.producer_epoch = if resp.error_code == 0 { req.producer_epoch } else { -1 };
    }
    resp
}
