//! Producers against a real sluice broker on 127.0.0.1:0, read back with librdkafka and
//! decoded with independent decoders (prost for protobuf, serde_json for JSON).

mod producers;
