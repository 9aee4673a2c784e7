//! Request dispatch: decode → handle(&broker) → encode, one file per Kafka API.
//!
//! The versions advertised in ApiVersions are [`supported`]'s; a request outside them is
//! answered the way Kafka answers it (ApiVersions: error 35 in the v0 layout; Produce v0–v2:
//! UNSUPPORTED_VERSION in the old layout) or closes the connection.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_transactions;
mod end_txn;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod sync_group;
mod txn_offset_commit;

use crate::state::Broker;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Encodable, decode_request_header_from_buffer};
use std::sync::Arc;

/// Why a request could not be handled; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Too short to hold a header.
    #[error("request of {0} bytes is too short for a header")]
    Short(usize),
    /// An API key this broker does not know.
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    /// A version outside the advertised range.
    #[error("{api:?} v{version} is not supported (supported: v{min}..v{max})")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// Version asked for.
        version: i16,
        /// Lowest supported.
        min: i16,
        /// Highest supported.
        max: i16,
    },
    /// The body does not decode.
    #[error("cannot decode {api:?} v{version}: {reason}")]
    Decode {
        /// The API.
        api: ApiKey,
        /// Version.
        version: i16,
        /// Decoder's message.
        reason: String,
    },
    /// The response could not be encoded (a bug; logged).
    #[error("cannot encode response to {api:?} v{version}: {reason}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// Version.
        version: i16,
        /// Encoder's message.
        reason: String,
    },
}

/// The versions both the request and the response types of the codec crate handle. The crate's
/// `ApiKey::valid_versions` table runs ahead of its message types for some APIs (OffsetCommit
/// v10, InitProducerId v6), so the message types' own ranges decide.
fn codec_range(api: ApiKey) -> kafka_protocol::protocol::VersionRange {
    use kafka_protocol::protocol::{Message, VersionRange};
    fn both<Req: Message, Resp: Message>() -> VersionRange {
        VersionRange { min: Req::VERSIONS.min.max(Resp::VERSIONS.min), max: Req::VERSIONS.max.min(Resp::VERSIONS.max) }
    }
    macro_rules! ranges {
        ($($api:ident => $req:ident, $resp:ident;)*) => {
            match api {
                $(ApiKey::$api => both::<kafka_protocol::messages::$req, kafka_protocol::messages::$resp>(),)*
                _ => api.valid_versions(),
            }
        };
    }
    ranges! {
        Produce => ProduceRequest, ProduceResponse;
        Fetch => FetchRequest, FetchResponse;
        ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
        Metadata => MetadataRequest, MetadataResponse;
        OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
        OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
        FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
        JoinGroup => JoinGroupRequest, JoinGroupResponse;
        Heartbeat => HeartbeatRequest, HeartbeatResponse;
        LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
        SyncGroup => SyncGroupRequest, SyncGroupResponse;
        DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
        ListGroups => ListGroupsRequest, ListGroupsResponse;
        ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
        CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
        DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
        DeleteRecords => DeleteRecordsRequest, DeleteRecordsResponse;
        InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse;
        AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
        AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
        EndTxn => EndTxnRequest, EndTxnResponse;
        TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
        DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
        AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
        CreatePartitions => CreatePartitionsRequest, CreatePartitionsResponse;
        DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
        OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
        DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
        DescribeProducers => DescribeProducersRequest, DescribeProducersResponse;
        DescribeTransactions => DescribeTransactionsRequest, DescribeTransactionsResponse;
        ListTransactions => ListTransactionsRequest, ListTransactionsResponse;
    }
}

/// The version range served for each API, `None` when the API is not served.
pub fn supported(api: ApiKey) -> Option<(i16, i16)> {
    use ApiKey::*;
    let crate_range = codec_range(api);
    let (min, max) = match api {
        // Advertised from v0 because librdkafka < 2.11.1 turns compression off otherwise;
        // v0–v2 (pre record-batch) are answered with UNSUPPORTED_VERSION.
        Produce => (0, 12),
        Fetch => (4, 17),
        ApiVersions
        | Metadata
        | ListOffsets
        | CreateTopics
        | DeleteTopics
        | CreatePartitions
        | DescribeConfigs
        | AlterConfigs
        | IncrementalAlterConfigs
        | DescribeCluster
        | OffsetForLeaderEpoch
        | DeleteRecords
        | InitProducerId
        | FindCoordinator
        | JoinGroup
        | SyncGroup
        | Heartbeat
        | LeaveGroup
        | OffsetCommit
        | OffsetFetch
        | DescribeGroups
        | ListGroups
        | DeleteGroups
        | OffsetDelete
        | AddPartitionsToTxn
        | AddOffsetsToTxn
        | EndTxn
        | TxnOffsetCommit
        | ListTransactions
        | DescribeTransactions => (crate_range.min, crate_range.max),
        _ => return None,
    };
    Some((min, max.min(crate_range.max)))
}

/// Every API served with its version range, for ApiVersions.
pub fn supported_list() -> Vec<(ApiKey, i16, i16)> {
    ApiKey::iter().filter_map(|k| supported(k).map(|(a, b)| (k, a, b))).collect()
}

/// What a handler may need to know about the connection a request came on.
#[derive(Debug, Clone, Default)]
pub struct ConnCtx {
    /// The client's address.
    pub peer: Option<std::net::SocketAddr>,
}

impl ConnCtx {
    /// The client host as Kafka reports it (`/127.0.0.1`).
    pub fn client_host(&self) -> String {
        self.peer.map(|p| format!("/{}", p.ip())).unwrap_or_default()
    }
}

/// Handles one request frame body and appends the response frame (if any) to `out`.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &ConnCtx,
    mut body: Bytes,
    out: &mut BytesMut,
) -> Result<(), RequestError> {
    let prefix = sluice_wire::header::peek(&body).ok_or(RequestError::Short(body.len()))?;
    let api = ApiKey::try_from(prefix.api_key).map_err(|_| RequestError::UnknownApi(prefix.api_key))?;
    let version = prefix.api_version;
    let Some((min, max)) = supported(api) else {
        return Err(RequestError::UnsupportedVersion { api, version, min: 0, max: -1 });
    };
    if version > max || version < min || (api == ApiKey::Produce && version < 3) {
        return match api {
            ApiKey::ApiVersions => {
                out.extend_from_slice(&api_versions::unsupported_frame(prefix.correlation_id));
                Ok(())
            }
            ApiKey::Produce if (0..3).contains(&version) => {
                produce::unsupported_old_version(&mut body, version, prefix.correlation_id, out);
                Ok(())
            }
            _ => Err(RequestError::UnsupportedVersion { api, version, min, max }),
        };
    }
    // kafka-protocol reports its errors as anyhow::Error.
    let decode_err = |e: anyhow::Error| RequestError::Decode { api, version, reason: e.to_string() };
    let header = decode_request_header_from_buffer(&mut body).map_err(decode_err)?;
    let request = RequestKind::decode(api, &mut body, version).map_err(decode_err)?;
    let Some(response) = dispatch(broker, ctx, &header, request).await else {
        return Ok(());
    };
    encode_response(api, &header, &response, out)
}

fn encode_response(
    api: ApiKey,
    header: &RequestHeader,
    response: &ResponseKind,
    out: &mut BytesMut,
) -> Result<(), RequestError> {
    let version = header.request_api_version;
    let enc_err = |e: String| RequestError::Encode { api, version, reason: e };
    let start = out.len();
    out.put_i32(0);
    let mut rh = ResponseHeader::default();
    rh.correlation_id = header.correlation_id;
    rh.encode(out, api.response_header_version(version)).map_err(|e| enc_err(e.to_string()))?;
    response.encode(out, version).map_err(|e| enc_err(e.to_string()))?;
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

async fn dispatch(
    broker: &Arc<Broker>,
    ctx: &ConnCtx,
    header: &RequestHeader,
    request: RequestKind,
) -> Option<ResponseKind> {
    let v = header.request_api_version;
    Some(match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(r, v)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(broker, r, v)),
        RequestKind::Produce(r) => ResponseKind::Produce(produce::handle(broker, r, v).await?),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, r, v).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(broker, r, v)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(create_topics::handle(broker, r, v)),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(delete_topics::handle(broker, r, v)),
        RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(create_partitions::handle(broker, r, v)),
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(describe_configs::describe(broker, r, v)),
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(describe_configs::alter(broker, r, v)),
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(describe_configs::incremental_alter(broker, r, v))
        }
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(describe_cluster::handle(broker, r, v)),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, r, v))
        }
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(delete_records::handle(broker, r, v)),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(init_producer_id::handle(broker, r, v)),
        RequestKind::FindCoordinator(r) => ResponseKind::FindCoordinator(find_coordinator::handle(broker, r, v)),
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(join_group::handle(broker, header, ctx, r, v).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group::handle(broker, r, v).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(broker, r, v)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group::handle(broker, r, v)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offset_commit::handle(broker, r, v)),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offset_fetch::handle(broker, r, v)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(describe_groups::handle(broker, r, v)),
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(list_groups::handle(broker, r, v)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(delete_groups::handle(broker, r, v)),
        RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(offset_delete::handle(broker, r, v)),
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(broker, r, v))
        }
        RequestKind::AddOffsetsToTxn(r) => ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(broker, r, v)),
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(broker, r, v)),
        RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(broker, r, v)),
        RequestKind::ListTransactions(r) => ResponseKind::ListTransactions(list_transactions::handle(broker, r, v)),
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(broker, r, v))
        }
        other => {
            tracing::warn!(request = ?std::mem::discriminant(&other), "request kind not served");
            return None;
        }
    })
}

/// Helpers shared by handlers.
pub(crate) mod util {
    use kafka_protocol::protocol::StrBytes;

    /// A `StrBytes` from a `String`.
    pub(crate) fn s(v: impl Into<String>) -> StrBytes {
        StrBytes::from_string(v.into())
    }
}
