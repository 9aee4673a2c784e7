//! FindCoordinator: this single node coordinates every group and transaction.

use super::util::s;
use crate::state::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    // 0 = group, 1 = transaction (2 = share group, not served).
    let error = if matches!(req.key_type, 0 | 1) { 0 } else { ResponseError::InvalidRequest.code() };
    let node = if error == 0 { broker.config.node_id } else { -1 };
    let (host, port) =
        if error == 0 { (broker.advertised_host.clone(), broker.advertised_port) } else { (String::new(), -1) };
    if version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let mut c = Coordinator::default();
                c.key = key;
                c.node_id = BrokerId(node);
                c.host = s(host.clone());
                c.port = port;
                c.error_code = error;
                c
            })
            .collect();
    } else {
        resp.error_code = error;
        resp.node_id = BrokerId(node);
        resp.host = s(host);
        resp.port = port;
    }
    resp
}
