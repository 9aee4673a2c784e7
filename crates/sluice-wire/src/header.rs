//! The first fields of every request header, read without decoding the rest.

/// API key, version and correlation id: the three fields every request header starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    /// The API key (0 = Produce, 1 = Fetch, ...).
    pub api_key: i16,
    /// The API version the client chose.
    pub api_version: i16,
    /// Echoed back in the response header.
    pub correlation_id: i32,
}

/// Reads the prefix of a request body (the bytes after the frame length); `None` if shorter
/// than 8 bytes.
pub fn peek(body: &[u8]) -> Option<RequestPrefix> {
    let b = body.get(..8)?;
    Some(RequestPrefix {
        api_key: i16::from_be_bytes([b[0], b[1]]),
        api_version: i16::from_be_bytes([b[2], b[3]]),
        correlation_id: i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_fields() {
        let body = [0, 18, 0, 3, 0, 0, 0, 7, 0xff];
        assert_eq!(peek(&body), Some(RequestPrefix { api_key: 18, api_version: 3, correlation_id: 7 }));
        assert_eq!(peek(&body[..7]), None);
    }
}
