//! The REST API over HTTP, against a registry storing into a real sluice broker.

use crate::common::{Env, USER_EVENT, proto};
use base64::Engine as _;
use prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_lookup_and_read_back() {
    let env = Env::start().await;
    assert_eq!(env.call("GET", "/schemas/types", None).await, (200, json!(["JSON", "PROTOBUF", "AVRO"])));
    assert_eq!(env.call("GET", "/subjects", None).await, (200, json!([])));

    let (s, body) = env.call("POST", "/subjects/user-events-value/versions", Some(proto(USER_EVENT))).await;
    assert_eq!((s, &body["id"], &body["version"]), (200, &json!(1), &json!(1)));
    assert_eq!(body["schemaType"], "PROTOBUF");
    // the same schema again: same id, no new version; in another subject: same id, version 1
    let (_, again) = env.call("POST", "/subjects/user-events-value/versions", Some(proto(USER_EVENT))).await;
    assert_eq!((again["id"].clone(), again["version"].clone()), (json!(1), json!(1)));
    let (_, other) = env.call("POST", "/subjects/other-value/versions", Some(proto(USER_EVENT))).await;
    assert_eq!((other["id"].clone(), other["version"].clone()), (json!(1), json!(1)));

    let (s, by_id) = env.call("GET", "/schemas/ids/1", None).await;
    assert_eq!(s, 200);
    assert_eq!(by_id["schemaType"], "PROTOBUF");
    let text = by_id["schema"].as_str().unwrap().to_string();
    assert!(text.contains("message UserEvent {") && text.contains("double value = 3;"), "{text}");

    // format=serialized: base64 FileDescriptorProto, as confluent-kafka's deserializer needs
    let (_, ser) = env.call("GET", "/schemas/ids/1?format=serialized", None).await;
    assert_eq!(ser["schemaType"], "PROTOBUF");
    let bytes = base64::engine::general_purpose::STANDARD.decode(ser["schema"].as_str().unwrap()).unwrap();
    let fd = FileDescriptorProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(fd.package(), "protobuf");
    assert_eq!(fd.message_type[0].name(), "UserEvent");
    assert_eq!(fd.message_type[0].field.len(), 3);
    // registering the descriptor (the Python serializer's form) finds the same schema
    let (_, via_desc) =
        env.call("POST", "/subjects/user-events-value/versions", Some(proto(ser["schema"].as_str().unwrap()))).await;
    assert_eq!(via_desc["id"], 1);

    let (s, looked) =
        env.call("POST", "/subjects/user-events-value?normalize=False&deleted=False", Some(proto(USER_EVENT))).await;
    assert_eq!(s, 200, "{looked}");
    assert_eq!(
        (looked["subject"].clone(), looked["id"].clone(), looked["version"].clone()),
        (json!("user-events-value"), json!(1), json!(1))
    );
    assert_eq!(looked["schemaType"], "PROTOBUF");
    let (s, miss) =
        env.call("POST", "/subjects/user-events-value", Some(proto("syntax = \"proto3\"; message Z {}"))).await;
    assert_eq!((s, miss["error_code"].clone()), (404, json!(40403)));
    let (s, miss) = env.call("POST", "/subjects/nope", Some(proto(USER_EVENT))).await;
    assert_eq!((s, miss["error_code"].clone()), (404, json!(40401)));

    assert_eq!(env.call("GET", "/subjects", None).await.1, json!(["other-value", "user-events-value"]));
    assert_eq!(env.call("GET", "/subjects?subjectPrefix=user", None).await.1, json!(["user-events-value"]));
    assert_eq!(env.call("GET", "/subjects/user-events-value/versions", None).await.1, json!([1]));
    let (_, latest) = env.call("GET", "/subjects/user-events-value/versions/latest", None).await;
    assert_eq!(
        (latest["id"].clone(), latest["version"].clone(), latest["schemaType"].clone()),
        (json!(1), json!(1), json!("PROTOBUF"))
    );
    assert_eq!(env.call("GET", "/subjects/user-events-value/versions/-1", None).await.1["version"], 1);
    let (_, raw) = env.call("GET", "/subjects/user-events-value/versions/1/schema", None).await;
    assert_eq!(raw.as_str(), Some(text.as_str()));
    let (_, pairs) = env.call("GET", "/schemas/ids/1/versions", None).await;
    assert_eq!(pairs, json!([{"subject":"other-value","version":1},{"subject":"user-events-value","version":1}]));
    assert_eq!(env.call("GET", "/schemas/ids/1/subjects", None).await.1, json!(["other-value", "user-events-value"]));
    let (_, all) = env.call("GET", "/schemas?subjectPrefix=other", None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    assert_eq!(all[0]["schemaType"], "PROTOBUF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_confluent_codes_and_bodies() {
    let env = Env::start().await;
    let cases: Vec<(&str, &str, Option<serde_json::Value>, u16, u32)> = vec![
        ("GET", "/schemas/ids/77", None, 404, 40403),
        ("GET", "/schemas/ids/x", None, 404, 40403),
        ("GET", "/subjects/none/versions", None, 404, 40401),
        ("GET", "/subjects/none/versions/1", None, 404, 40401),
        ("GET", "/subjects/none/versions/zero", None, 422, 42202),
        ("GET", "/subjects/none/versions/0", None, 422, 42202),
        ("POST", "/subjects/s/versions", Some(proto("message {")), 422, 42201),
        ("POST", "/subjects/s/versions", Some(json!({"schemaType":"XML","schema":"<a/>"})), 422, 42201),
        ("POST", "/subjects/s/versions", Some(json!("not an object")), 422, 42201),
        ("PUT", "/config", Some(json!({"compatibility":"SIDEWAYS"})), 422, 42203),
        ("PUT", "/mode", Some(json!({"mode":"SIDEWAYS"})), 422, 42204),
        ("GET", "/config/none", None, 404, 40408),
        ("GET", "/mode/none", None, 404, 40409),
        ("DELETE", "/subjects/none", None, 404, 40401),
        ("GET", "/associations/resources/-/user-events?resourceType=topic&associationType=value", None, 404, 404),
        ("POST", "/associations", Some(json!({})), 404, 404),
        ("GET", "/no/such/path", None, 404, 404),
    ];
    for (method, path, body, status, code) in cases {
        let (s, b) = env.call(method, path, body).await;
        assert_eq!((s, b["error_code"].as_u64()), (status, Some(code.into())), "{method} {path}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {b}");
    }
    // the content type Confluent answers with
    let resp = env.http.get(env.url("/subjects")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/vnd.schemaregistry.v1+json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatibility_config_and_verbose_messages() {
    let env = Env::start().await;
    assert_eq!(env.call("GET", "/config", None).await.1, json!({"compatibilityLevel":"BACKWARD"}));
    env.call("POST", "/subjects/e-value/versions", Some(proto(USER_EVENT))).await;
    let breaking = USER_EVENT.replace("double value = 3;", "string value = 3;");
    let adding = USER_EVENT.replace("double value = 3;", "double value = 3; int64 ts = 4;");

    let (s, c) =
        env.call("POST", "/compatibility/subjects/e-value/versions/latest?verbose=True", Some(proto(&breaking))).await;
    assert_eq!(s, 200);
    assert_eq!(c["is_compatible"], false);
    let msgs = c["messages"].as_array().unwrap();
    assert!(msgs[0].as_str().unwrap().contains("FIELD_SCALAR_KIND_CHANGED"), "{c}");
    assert!(msgs.iter().any(|m| m == "{compatibility: 'BACKWARD'}"), "{c}");
    // verbose=False leaves the messages out
    let (_, c) =
        env.call("POST", "/compatibility/subjects/e-value/versions/1?verbose=False", Some(proto(&breaking))).await;
    assert_eq!(c, json!({"is_compatible": false}));
    let (_, c) = env.call("POST", "/compatibility/subjects/e-value/versions", Some(proto(&adding))).await;
    assert_eq!(c, json!({"is_compatible": true}));
    let (s, c) = env.call("POST", "/compatibility/subjects/e-value/versions/9", Some(proto(&adding))).await;
    assert_eq!((s, c["error_code"].clone()), (404, json!(40402)));

    let (s, e) = env.call("POST", "/subjects/e-value/versions", Some(proto(&breaking))).await;
    assert_eq!((s, e["error_code"].clone()), (409, json!(409)));
    assert!(e["message"].as_str().unwrap().contains("incompatible with an earlier schema"), "{e}");

    // subject-level config, lenient level names, defaultToGlobal
    let (s, p) = env.call("PUT", "/config/e-value", Some(json!({"compatibility":"none"}))).await;
    assert_eq!((s, p), (200, json!({"compatibility":"NONE"})));
    assert_eq!(env.call("GET", "/config/e-value", None).await.1, json!({"compatibilityLevel":"NONE"}));
    assert_eq!(
        env.call("GET", "/config/other?defaultToGlobal=true", None).await.1,
        json!({"compatibilityLevel":"BACKWARD"})
    );
    let (s, r) = env.call("POST", "/subjects/e-value/versions", Some(proto(&breaking))).await;
    assert_eq!((s, r["version"].clone()), (200, json!(2)));
    assert_eq!(env.call("DELETE", "/config/e-value", None).await.1, json!({"compatibilityLevel":"NONE"}));
    assert_eq!(env.call("GET", "/config/e-value", None).await.0, 404);
    let (_, g) = env.call("PUT", "/config", Some(json!({"compatibility":"FULL_TRANSITIVE"}))).await;
    assert_eq!(g, json!({"compatibility":"FULL_TRANSITIVE"}));
    assert_eq!(env.call("GET", "/config", None).await.1, json!({"compatibilityLevel":"FULL_TRANSITIVE"}));

    // JSON Schema under a checking level: a clear 422
    let js = json!({"schemaType":"JSON","schema":"{\"type\":\"object\"}"});
    env.call("POST", "/subjects/j-value/versions", Some(js)).await;
    let js2 = json!({"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"a\"]}"});
    let (s, e) = env.call("POST", "/subjects/j-value/versions", Some(js2)).await;
    assert_eq!((s, e["error_code"].clone()), (422, json!(42203)), "{e}");
    assert!(e["message"].as_str().unwrap().contains("not supported"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_deletes_and_modes() {
    let env = Env::start().await;
    let dep = "syntax = \"proto3\"; package common; message Money { int64 cents = 1; }";
    let (_, d) = env.call("POST", "/subjects/common%2Fmoney.proto/versions", Some(proto(dep))).await;
    assert_eq!(d["id"], 1);
    // the subject name arrives URL-decoded
    assert_eq!(env.call("GET", "/subjects", None).await.1, json!(["common/money.proto"]));
    let main = json!({
        "schemaType": "PROTOBUF",
        "schema": "syntax = \"proto3\"; package shop; import \"common/money.proto\"; import \"google/protobuf/timestamp.proto\"; message Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }",
        "references": [{"name": "common/money.proto", "subject": "common/money.proto", "version": 1}]
    });
    let (s, m) = env.call("POST", "/subjects/orders-value/versions", Some(main.clone())).await;
    assert_eq!((s, m["id"].clone()), (200, json!(2)), "{m}");
    let (_, got) = env.call("GET", "/schemas/ids/2", None).await;
    assert_eq!(got["references"], main["references"]);
    assert_eq!(env.call("GET", "/subjects/common%2Fmoney.proto/versions/1/referencedby", None).await.1, json!([2]));
    // the serialized form imports the reference by name and the well-known type
    let (_, ser) = env.call("GET", "/subjects/orders-value/versions/1?format=serialized", None).await;
    let fd = FileDescriptorProto::decode(
        base64::engine::general_purpose::STANDARD.decode(ser["schema"].as_str().unwrap()).unwrap().as_slice(),
    )
    .unwrap();
    assert_eq!(fd.dependency, vec!["common/money.proto".to_string(), "google/protobuf/timestamp.proto".to_string()]);

    // a referenced schema cannot be deleted
    let (s, e) = env.call("DELETE", "/subjects/common%2Fmoney.proto/versions/1", None).await;
    assert_eq!((s, e["error_code"].clone()), (422, json!(42206)));
    // soft, then permanent; query booleans parsed leniently
    assert_eq!(
        env.call("DELETE", "/subjects/orders-value/versions/1?permanent=True", None).await.1["error_code"],
        40407
    );
    assert_eq!(env.call("DELETE", "/subjects/orders-value/versions/1?permanent=False", None).await, (200, json!(1)));
    assert_eq!(env.call("GET", "/subjects/orders-value/versions", None).await.1["error_code"], 40401);
    assert_eq!(env.call("GET", "/subjects/orders-value/versions?deleted=true", None).await.1, json!([1]));
    assert_eq!(env.call("GET", "/subjects?deleted=True", None).await.1, json!(["common/money.proto", "orders-value"]));
    assert_eq!(env.call("DELETE", "/subjects/orders-value", None).await.1["error_code"], 40404);
    assert_eq!(env.call("DELETE", "/subjects/orders-value?permanent=true", None).await, (200, json!([1])));
    assert_eq!(env.call("GET", "/schemas/ids/2", None).await.1["error_code"], 40403);
    // now the dependency can go
    assert_eq!(env.call("DELETE", "/subjects/common%2Fmoney.proto", None).await, (200, json!([1])));

    // modes
    assert_eq!(env.call("GET", "/mode", None).await.1, json!({"mode":"READWRITE"}));
    assert_eq!(
        env.call("PUT", "/mode/frozen-value", Some(json!({"mode":"READONLY"}))).await.1,
        json!({"mode":"READONLY"})
    );
    let (s, e) = env.call("POST", "/subjects/frozen-value/versions", Some(proto(USER_EVENT))).await;
    assert_eq!((s, e["error_code"].clone()), (422, json!(42205)));
    assert_eq!(env.call("DELETE", "/mode/frozen-value", None).await.1, json!({"mode":"READONLY"}));
    assert_eq!(env.call("POST", "/subjects/frozen-value/versions", Some(proto(USER_EVENT))).await.0, 200);
    assert_eq!(env.call("GET", "/contexts", None).await.1, json!(["."]));
}
