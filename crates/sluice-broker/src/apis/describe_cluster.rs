//! DescribeCluster: this one node as broker and controller.

use super::metadata::CLUSTER_OPERATIONS;
use super::util::s;
use crate::state::Broker;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: DescribeClusterRequest, _version: i16) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    resp.cluster_id = s(broker.cluster_id.clone());
    resp.controller_id = BrokerId(broker.config.node_id);
    resp.endpoint_type = req.endpoint_type;
    let mut b = DescribeClusterBroker::default();
    b.broker_id = BrokerId(broker.config.node_id);
    b.host = s(broker.advertised_host.clone());
    b.port = broker.advertised_port;
    resp.brokers = vec![b];
    resp.cluster_authorized_operations =
        if req.include_cluster_authorized_operations { CLUSTER_OPERATIONS } else { i32::MIN };
    resp
}
