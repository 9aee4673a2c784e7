//! The seed pipelines' protobuf schemas, embedded so that producers and jobs need no files.

/// `user_event.proto` (seed 000): `protobuf.UserEvent { string userId = 1; string action = 2;
/// double value = 3; }`.
pub const USER_EVENT_PROTO: &str = include_str!("../proto/user_event.proto");

/// The FileDescriptorSet compiled from [`USER_EVENT_PROTO`] (`proto/user_event.desc`).
pub const USER_EVENT_DESC: &[u8] = include_bytes!("../proto/user_event.desc");

/// Full name of seed 000's message.
pub const USER_EVENT: &str = "protobuf.UserEvent";

/// `my_event.proto` (seed 001): `numbers.MyEvent { int32 number = 1;
/// google.protobuf.Timestamp created_at = 2; }`.
pub const MY_EVENT_PROTO: &str = include_str!("../proto/my_event.proto");

/// Full name of seed 001's message.
pub const MY_EVENT: &str = "numbers.MyEvent";
