//! Heartbeat: keeps a member's session alive; tells it when to rejoin.

use crate::state::Broker;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let mut resp = HeartbeatResponse::default();
    resp.error_code = broker.groups.heartbeat(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        req.group_instance_id.as_ref().map(|i| i.as_str()),
        req.generation_id,
    );
    resp
}
