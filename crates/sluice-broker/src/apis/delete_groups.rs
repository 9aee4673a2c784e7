//! DeleteGroups: empty groups only; their committed offsets go too.

use crate::state::Broker;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: DeleteGroupsRequest, _version: i16) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for id in req.groups_names {
        let mut r = DeletableGroupResult::default();
        r.error_code = broker.groups.delete(broker, id.0.as_str());
        r.group_id = id;
        resp.results.push(r);
    }
    resp
}
