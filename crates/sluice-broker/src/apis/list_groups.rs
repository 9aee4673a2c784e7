//! ListGroups: every group, filtered by state (v4+) and type (v5+; all groups are `classic`).

use super::util::s;
use crate::state::Broker;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: ListGroupsRequest, _version: i16) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    let state_ok =
        |st: &str| req.states_filter.is_empty() || req.states_filter.iter().any(|f| f.eq_ignore_ascii_case(st));
    let type_ok = req.types_filter.is_empty() || req.types_filter.iter().any(|f| f.eq_ignore_ascii_case("classic"));
    for (id, protocol_type, state) in broker.groups.list() {
        if !type_ok || !state_ok(state) {
            continue;
        }
        let mut g = ListedGroup::default();
        g.group_id = GroupId(s(id));
        g.protocol_type = s(protocol_type);
        g.group_state = s(state);
        g.group_type = s("classic");
        resp.groups.push(g);
    }
    resp
}
