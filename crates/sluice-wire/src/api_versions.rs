//! The ApiVersions reply in the v0 layout, which every client can parse whatever version it
//! asked for: a too-new request gets error 35 (UNSUPPORTED_VERSION) and the supported ranges,
//! and the client retries with the highest version both sides know.

use bytes::{BufMut, BytesMut};

/// Kafka's UNSUPPORTED_VERSION error code.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// One supported API: key and version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    /// API key.
    pub key: i16,
    /// Lowest version accepted.
    pub min: i16,
    /// Highest version accepted.
    pub max: i16,
}

/// Encodes a complete response frame (length prefix, correlation id, v0 body).
pub fn encode_v0_frame(correlation_id: i32, error_code: i16, apis: &[ApiRange]) -> BytesMut {
    let body_len = 4 + 2 + 4 + apis.len() * 6;
    let mut out = BytesMut::with_capacity(4 + body_len);
    out.put_i32(body_len as i32);
    out.put_i32(correlation_id);
    out.put_i16(error_code);
    out.put_i32(apis.len() as i32);
    for api in apis {
        out.put_i16(api.key);
        out.put_i16(api.min);
        out.put_i16(api.max);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_v0() {
        let frame = encode_v0_frame(9, UNSUPPORTED_VERSION, &[ApiRange { key: 18, min: 0, max: 4 }]);
        assert_eq!(&frame[..], &[0, 0, 0, 16, 0, 0, 0, 9, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
    }
}
