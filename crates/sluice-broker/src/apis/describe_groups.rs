//! DescribeGroups: state, protocol and members with their subscriptions and assignments.

use super::metadata::TOPIC_OPERATIONS;
use super::util::s;
use crate::state::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let mut g = DescribedGroup::default();
        g.group_id = id.clone();
        g.authorized_operations = if req.include_authorized_operations { TOPIC_OPERATIONS } else { i32::MIN };
        match broker.groups.describe(id.0.as_str()) {
            None => {
                g.group_state = s("Dead");
                if version >= 6 {
                    g.error_code = ResponseError::GroupIdNotFound.code();
                    g.error_message = Some(s(format!("Group {} not found.", id.0.as_str())));
                }
            }
            Some(info) => {
                g.group_state = s(info.state);
                g.protocol_type = s(info.protocol_type);
                g.protocol_data = s(info.protocol);
                g.members = info
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut d = DescribedGroupMember::default();
                        d.member_id = s(m.member_id);
                        d.group_instance_id = m.instance_id.map(s);
                        d.client_id = s(m.client_id);
                        d.client_host = s(m.client_host);
                        d.member_metadata = m.metadata;
                        d.member_assignment = m.assignment;
                        d
                    })
                    .collect();
            }
        }
        resp.groups.push(g);
    }
    resp
}
