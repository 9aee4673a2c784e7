//! LeaveGroup: one member (v0–v2) or a batch of members (v3+) leave; the rest rebalance.

use super::util::s;
use crate::state::Broker;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let mut resp = LeaveGroupResponse::default();
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|i| i.to_string())))
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    match broker.groups.leave(req.group_id.0.as_str(), &members) {
        Err(code) => resp.error_code = code,
        Ok(codes) if version >= 3 => {
            resp.members = members
                .into_iter()
                .zip(codes)
                .map(|((id, inst), code)| {
                    let mut m = MemberResponse::default();
                    m.member_id = s(id);
                    m.group_instance_id = inst.map(s);
                    m.error_code = code;
                    m
                })
                .collect();
        }
        Ok(codes) => resp.error_code = codes.first().copied().unwrap_or(0),
    }
    resp
}
