//! SyncGroup: the leader hands in the assignment; every member gets its own.

use super::util::s;
use crate::state::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use std::sync::Arc;

pub(super) async fn handle(broker: &Arc<Broker>, req: SyncGroupRequest, _version: i16) -> SyncGroupResponse {
    let mut resp = SyncGroupResponse::default();
    let assignments = req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect();
    let r = broker
        .groups
        .sync(
            req.group_id.0.as_str(),
            req.member_id.as_str(),
            req.group_instance_id.as_ref().map(|i| i.as_str()),
            req.generation_id,
            assignments,
        )
        .await;
    // v5 echoes the protocol; a client that names another one is inconsistent.
    let mismatch = |sent: &Option<kafka_protocol::protocol::StrBytes>, ours: &Option<String>| matches!((sent, ours), (Some(a), Some(b)) if a.as_str() != b);
    if r.error == 0
        && (mismatch(&req.protocol_type, &r.protocol_type) || mismatch(&req.protocol_name, &r.protocol_name))
    {
        resp.error_code = ResponseError::InconsistentGroupProtocol.code();
        return resp;
    }
    resp.error_code = r.error;
    resp.protocol_type = r.protocol_type.map(s);
    resp.protocol_name = r.protocol_name.map(s);
    resp.assignment = r.assignment;
    resp
}
