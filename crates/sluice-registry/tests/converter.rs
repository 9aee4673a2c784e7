//! `schema_registry_converter` (a Rust Confluent client built on prost-reflect and protox) as a
//! second client: it registers and encodes through our registry and sluice decodes, and the
//! reverse.

use crate::common::{Env, call};
use schema_registry_converter::async_impl::proto_decoder::ProtoDecoder;
use schema_registry_converter::async_impl::proto_encoder::ProtoEncoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::prost_reflect::{ReflectMessage as _, Value as PV};
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedReference, SuppliedSchema,
};
use serde_json::json;
use sluice_formats::protobuf::{ProtoSchema, RowEncoder};
use sluice_formats::{Row, Value};
use sluice_registry::client::RegistryClient;
use sluice_wire::confluent::encode_protobuf_prefix;

const COMMON: &str = "syntax = \"proto3\";\npackage common;\nmessage Meta { string source = 1; }\n";
const ORDER: &str = "syntax = \"proto3\";\npackage shop;\nimport \"common/meta.proto\";\n\
                     message Header { int32 v = 1; }\n\
                     message Order { string id = 1; int64 cents = 2; common.Meta meta = 3; }\n";

/// Decodes a Confluent-framed value the way sluice's Kafka source does: schema id and message
/// indexes from the prefix, the schema (with its references) from the registry.
async fn sluice_decode(env: &Env, bytes: &[u8]) -> (String, Row) {
    let client = RegistryClient::new(env.registry.url());
    let (decoder, row) = client.decode_protobuf(bytes).await.expect("sluice decodes the converter's value");
    (decoder.message().full_name().to_string(), row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converter_encodes_through_our_registry_and_sluice_decodes() {
    let env = Env::start().await;
    let encoder = ProtoEncoder::new(SrSettings::new(env.registry.url().to_string()));
    let schema = SuppliedSchema::new(Some("shop.Order".into()), SchemaType::Protobuf, ORDER.into())
        .with_references(vec![SuppliedReference::new("common/meta.proto".into(), "common-meta".into(), COMMON.into())]);
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema("orders".into(), false, schema);
    let bytes = encoder
        .encode_json(&json!({"id": "o-1", "cents": "1250", "meta": {"source": "web"}}), "shop.Order", &strategy)
        .await
        .expect("the converter registers and encodes against sluice's registry");

    // what the converter registered
    assert_eq!(env.call("GET", "/subjects", None).await.1, json!(["common-meta", "orders-value"]));
    let (_, v) = env.call("GET", "/subjects/orders-value/versions/latest", None).await;
    assert_eq!(v["references"], json!([{"name": "common/meta.proto", "subject": "common-meta", "version": 1}]));
    // Order is the second message: indexes [1], written as 02 02
    assert_eq!(&bytes[..7], &[0, 0, 0, 0, v["id"].as_u64().unwrap() as u8, 2, 2]);

    let (name, row) = sluice_decode(&env, &bytes).await;
    assert_eq!(name, "shop.Order");
    assert_eq!(row.values, vec![Value::from("o-1"), Value::Int(1250), Value::from(r#"{"source":"web"}"#)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_encodes_and_the_converter_decodes() {
    let env = Env::start().await;
    let user_event = sluice_formats::seeds::USER_EVENT_PROTO;
    let (s, r) = env
        .call(
            "POST",
            "/subjects/user-events-value/versions",
            Some(json!({"schemaType": "PROTOBUF", "schema": user_event})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let id = r["id"].as_u64().unwrap() as u32;

    let schema = ProtoSchema::compile_source("user_event.proto", user_event).unwrap();
    let encoder = RowEncoder::new(&schema.message("protobuf.UserEvent").unwrap()).unwrap();
    let mut bytes = Vec::new();
    encode_protobuf_prefix(id, &[0], &mut bytes);
    encoder
        .encode(&Row::new(vec![Value::from("user7"), Value::from("purchase"), Value::Float(42.5)]), &mut bytes)
        .unwrap();

    let decoder = ProtoDecoder::new(SrSettings::new(env.registry.url().to_string()));
    let value = decoder.decode(Some(&bytes)).await.expect("the converter decodes sluice's bytes");
    let PV::Message(msg) = value else { panic!("expected a message, got {value:?}") };
    assert_eq!(msg.descriptor().full_name(), "protobuf.UserEvent");
    assert_eq!(msg.get_field_by_name("userId").unwrap().as_str(), Some("user7"));
    assert_eq!(msg.get_field_by_name("action").unwrap().as_str(), Some("purchase"));
    assert_eq!(msg.get_field_by_name("value").unwrap().as_f64(), Some(42.5));

    // and the same id answers over plain HTTP
    let (s, _) = call(&env.http, &env.url(&format!("/schemas/ids/{id}")), "GET", None).await;
    assert_eq!(s, 200);
}
