//! ApiVersions: the versions of every API served.

use super::supported_list;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use sluice_wire::api_versions::{ApiRange, UNSUPPORTED_VERSION, encode_v0_frame};

pub(super) fn handle(_req: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = supported_list()
        .into_iter()
        .map(|(k, min, max)| {
            let mut a = ApiVersion::default();
            a.api_key = k as i16;
            a.min_version = min;
            a.max_version = max;
            a
        })
        .collect();
    resp
}

/// The reply to an ApiVersions request newer than served: error 35 in the v0 layout, which
/// every client parses before retrying with the highest common version.
pub(super) fn unsupported_frame(correlation_id: i32) -> bytes::BytesMut {
    let ranges: Vec<ApiRange> =
        supported_list().into_iter().map(|(k, min, max)| ApiRange { key: k as i16, min, max }).collect();
    encode_v0_frame(correlation_id, UNSUPPORTED_VERSION, &ranges)
}
