//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so that
//! offsets sent with TxnOffsetCommit commit or abort with it.

use crate::state::Broker;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: AddOffsetsToTxnRequest, version: i16) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    resp.error_code = broker.txn.add_offsets(
        broker,
        req.transactional_id.0.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        req.group_id.0.as_str(),
        version >= 2,
    );
    resp
}
