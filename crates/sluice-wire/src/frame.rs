//! Kafka frames: a big-endian `i32` length followed by that many bytes.

/// Why a frame cannot be accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The announced size is over the configured limit; nothing was allocated.
    #[error("frame of {actual} bytes is over the limit of {limit} bytes (socket.request.max.bytes)")]
    TooLarge {
        /// The limit in force.
        limit: usize,
        /// The size the peer announced.
        actual: usize,
    },
    /// The announced size is negative.
    #[error("frame announces a negative size ({0})")]
    Negative(i32),
}

/// What [`check`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum FrameStatus {
    /// More bytes are needed; `needed` is the total the frame will take if known.
    Incomplete {
        /// Total bytes (prefix included) the frame needs, once the prefix is known.
        needed: Option<usize>,
    },
    /// A whole frame is present: `len` bytes after the 4-byte prefix.
    Complete {
        /// Length of the body.
        len: usize,
    },
}

/// Size of the length prefix.
pub const PREFIX: usize = 4;

/// Looks at the start of `buf` and says whether a whole frame is there, without copying.
pub fn check(buf: &[u8], limit: usize) -> Result<FrameStatus, FrameError> {
    let Some(prefix) = buf.get(..PREFIX) else {
        return Ok(FrameStatus::Incomplete { needed: None });
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len < 0 {
        return Err(FrameError::Negative(len));
    }
    let len = len as usize;
    if len > limit {
        return Err(FrameError::TooLarge { limit, actual: len });
    }
    if buf.len() - PREFIX >= len {
        Ok(FrameStatus::Complete { len })
    } else {
        Ok(FrameStatus::Incomplete { needed: Some(PREFIX + len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_prefix_and_body() {
        assert_eq!(check(&[0, 0], 10), Ok(FrameStatus::Incomplete { needed: None }));
        assert_eq!(check(&[0, 0, 0, 3, 1], 10), Ok(FrameStatus::Incomplete { needed: Some(7) }));
    }

    #[test]
    fn too_large_is_rejected_from_the_prefix_alone() {
        assert_eq!(
            check(&[0x7f, 0xff, 0xff, 0xff], 100),
            Err(FrameError::TooLarge { limit: 100, actual: i32::MAX as usize })
        );
        assert_eq!(check(&[0xff, 0xff, 0xff, 0xff], 100), Err(FrameError::Negative(-1)));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..64), limit in 0usize..100) {
            let _ = check(&buf, limit);
        }
    }
}
