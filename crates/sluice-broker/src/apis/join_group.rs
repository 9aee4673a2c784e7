//! JoinGroup: waits until the group's join phase completes, then answers every member.

use super::ConnCtx;
use super::util::s;
use crate::group::state::JoinRequest;
use crate::state::Broker;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, RequestHeader};
use std::sync::Arc;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    ctx: &ConnCtx,
    req: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
        client_id: header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: ctx.client_host(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout_ms: if version >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        require_known_member_id: version >= 4,
    };
    let r = broker.groups.join(req.group_id.0.as_str(), join).await;
    let mut resp = JoinGroupResponse::default();
    resp.error_code = r.error;
    resp.generation_id = r.generation;
    resp.protocol_type = r.protocol_type.map(s);
    resp.protocol_name = Some(s(r.protocol_name.unwrap_or_default()));
    resp.leader = s(r.leader);
    resp.member_id = s(r.member_id);
    resp.members = r
        .members
        .into_iter()
        .map(|(id, inst, meta)| {
            let mut m = JoinGroupResponseMember::default();
            m.member_id = s(id);
            m.group_instance_id = inst.map(s);
            m.metadata = meta;
            m
        })
        .collect();
    resp
}
