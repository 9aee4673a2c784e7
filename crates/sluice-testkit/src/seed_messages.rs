//! prost's views of the seeds' protobuf messages, written independently of sluice's encoder and
//! decoder, so tests can check sluice's bytes against a second implementation.

/// Seed 000's `protobuf.UserEvent`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserEvent {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub user_id: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub action: String,
    /// Field 3.
    #[prost(double, tag = "3")]
    pub value: f64,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Seed 001's `numbers.MyEvent`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MyEvent {
    /// Field 1: the number, 1–100.
    #[prost(int32, tag = "1")]
    pub number: i32,
    /// Field 2: when it was drawn.
    #[prost(message, optional, tag = "2")]
    pub created_at: Option<Timestamp>,
}
