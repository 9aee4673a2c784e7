//! The protobuf producers with and without a schema registry, `consume` decoding protobuf, and
//! `schemas register|list|get`, against a broker and a registry started in the test. What sluice
//! writes is read back with librdkafka (`read_topic`) and decoded with prost-derived structs and
//! a hand-written Confluent prefix check, independent of sluice's encoder and registry client.

use super::{consume_json, hex, sluice, sluice_with};
use prost::Message as _;
use sluice_testkit::seed_messages::{MyEvent, UserEvent};
use sluice_testkit::{ConsumedRecord, TestBroker, TestRegistry, read_topic};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A user's own message with the seed's fields in another order, plus one more.
#[derive(Clone, PartialEq, prost::Message)]
struct Reordered {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(string, tag = "2")]
    action: String,
    #[prost(string, tag = "3")]
    user_id: String,
    #[prost(int64, tag = "4")]
    extra: i64,
}

const REORDERED_PROTO: &str = r#"syntax = "proto3";
package mine;
message Other { string x = 1; }
message Reordered { double value = 1; string action = 2; string user_id = 3; int64 extra = 4; }
"#;

fn formats_proto(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sluice-formats/proto").join(name).display().to_string()
}

async fn read(bootstrap: &str, topic: &str) -> Vec<ConsumedRecord> {
    let (b, t) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || read_topic(&b, &t, Duration::from_secs(20))).await.unwrap()
}

/// GET `path` from the registry as JSON (a plain HTTP client, not sluice's).
async fn registry_get(registry: &TestRegistry, path: &str) -> serde_json::Value {
    let resp = reqwest::get(format!("{}{path}", registry.url())).await.unwrap();
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// Splits a Confluent-framed value with message indexes `[0]`: (schema id, payload).
fn unframe(value: &[u8]) -> (u32, &[u8]) {
    assert!(value.len() >= 6, "value too short for the Confluent wire format: {}", hex(value));
    assert_eq!(value[0], 0, "magic byte of {}", hex(value));
    assert_eq!(value[5], 0, "message indexes [0] are the single byte 0: {}", hex(value));
    (u32::from_be_bytes([value[1], value[2], value[3], value[4]]), &value[6..])
}

/// Values per partition, in offset order.
fn by_partition(records: &[ConsumedRecord], f: impl Fn(&[u8]) -> Vec<u8>) -> BTreeMap<i32, Vec<Vec<u8>>> {
    let mut m: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    for r in records {
        m.entry(r.partition).or_default().push(f(r.value.as_deref().unwrap()));
    }
    m
}

fn created_ms(e: &MyEvent) -> i64 {
    let t = e.created_at.as_ref().expect("created_at is set");
    assert_eq!(t.nanos % 1_000_000, 0, "created_at has whole milliseconds");
    t.seconds * 1000 + i64::from(t.nanos / 1_000_000)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_events_plain_and_framed_for_the_registry() {
    let broker = TestBroker::start().await;
    let registry = TestRegistry::start(&broker.bootstrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();

    // Plain protobuf by default, even with SCHEMA_REGISTRY_URL set (that is numbers' default).
    let run = sluice_with(
        dir.path(),
        &["produce", "user-events", "-b", &b, "--count", "80", "--seed", "11"],
        &[("SCHEMA_REGISTRY_URL", registry.url())],
        None,
    )
    .await
    .ok();
    assert!(
        run.stderr.contains("protobuf protobuf.UserEvent from the built-in user_event.desc, plain"),
        "{}",
        run.stderr
    );
    let plain = read(&b, "user-events").await;
    assert_eq!(plain.len(), 80);
    for r in &plain {
        let ev = UserEvent::decode(r.value.as_deref().unwrap()).unwrap();
        assert_eq!(r.key.as_deref(), Some(ev.user_id.as_bytes()));
        assert!(["view", "click", "purchase", "signup", "logout"].contains(&ev.action.as_str()));
    }

    // With --schema-registry: registered under TOPIC-value, every value framed.
    let run = sluice(
        dir.path(),
        &[
            "produce",
            "user-events",
            "-b",
            &b,
            "--topic",
            "ue-reg",
            "--count",
            "80",
            "--seed",
            "11",
            "--schema-registry",
            registry.url(),
        ],
    )
    .await
    .ok();
    assert!(run.stdout.contains("80 delivered, 0 failed"), "{}", run.stdout);
    let latest = registry_get(&registry, "/subjects/ue-reg-value/versions/latest").await;
    assert_eq!(latest["schemaType"], "PROTOBUF");
    assert!(latest["schema"].as_str().unwrap().contains("message UserEvent"), "{latest}");
    let id = latest["id"].as_u64().unwrap() as u32;
    assert!(run.stderr.contains(&format!("schema id {id}, subject ue-reg-value")), "{}", run.stderr);
    assert_eq!(registry_get(&registry, "/subjects").await, serde_json::json!(["ue-reg-value"]));

    let framed = read(&b, "ue-reg").await;
    assert_eq!(framed.len(), 80);
    for r in &framed {
        let (sid, payload) = unframe(r.value.as_deref().unwrap());
        assert_eq!(sid, id);
        let ev = UserEvent::decode(payload).unwrap();
        assert_eq!(r.key.as_deref(), Some(ev.user_id.as_bytes()));
    }
    // Same seed, same events: the payloads are the plain run's values, partition by partition.
    assert_eq!(by_partition(&framed, |v| unframe(v).1.to_vec()), by_partition(&plain, <[u8]>::to_vec));

    // consume decodes both: plain with --descriptor (the .proto or the .desc), framed with the
    // registry, to the same JSON.
    let proto = formats_proto("user_event.proto");
    let desc = formats_proto("user_event.desc");
    let from_proto = consume_json(dir.path(), &b, "user-events", &["--descriptor", &proto]).await;
    let from_desc =
        consume_json(dir.path(), &b, "user-events", &["--descriptor", &desc, "--message", "protobuf.UserEvent"]).await;
    let from_registry = consume_json(dir.path(), &b, "ue-reg", &["--schema-registry", registry.url()]).await;
    assert_eq!(from_proto.len(), 80);
    let values = |rs: &[serde_json::Value]| {
        let mut m: BTreeMap<i64, Vec<serde_json::Value>> = BTreeMap::new();
        for r in rs {
            m.entry(r["partition"].as_i64().unwrap()).or_default().push(r["value"].clone());
        }
        m
    };
    assert_eq!(values(&from_proto), values(&from_desc));
    assert_eq!(values(&from_proto), values(&from_registry));
    let raw: BTreeMap<(i64, i64), &[u8]> =
        plain.iter().map(|r| ((i64::from(r.partition), r.offset), r.value.as_deref().unwrap())).collect();
    for r in &from_proto {
        let at = (r["partition"].as_i64().unwrap(), r["offset"].as_i64().unwrap());
        let ev = UserEvent::decode(raw[&at]).unwrap();
        assert_eq!(r["value_format"], "protobuf");
        assert_eq!(r["value_message"], "protobuf.UserEvent");
        // .proto field names, zero values included.
        assert_eq!(r["value"], serde_json::json!({"userId": ev.user_id, "action": ev.action, "value": ev.value}));
    }
    assert!(from_registry.iter().all(|r| r["value_schema_id"] == id && r["value_format"] == "protobuf"));

    // Text output: pretty JSON under a header naming the message and schema.
    let text = sluice(
        dir.path(),
        &["consume", "ue-reg", "-b", &b, "--from-beginning", "-c", "1", "--schema-registry", registry.url()],
    )
    .await
    .ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].ends_with(&format!("protobuf.UserEvent (schema id {id})")), "{}", text.stdout);
    assert_eq!(lines[1], "{");
    assert!(lines[2].starts_with("  \"userId\": \"user"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_register_in_the_configured_registry_or_go_plain_when_told() {
    let broker = TestBroker::start().await;
    let registry = TestRegistry::start(&broker.bootstrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let before = now_ms();

    // --no-schema-registry: plain numbers.MyEvent with created_at.
    let run = sluice(
        dir.path(),
        &["produce", "numbers", "-b", &b, "--count", "3", "--interval", "20ms", "--no-schema-registry"],
    )
    .await
    .ok();
    assert!(run.stderr.contains("numbers.MyEvent from the built-in my_event.proto, plain"), "{}", run.stderr);
    let plain = read(&b, "numbers").await;
    assert_eq!(plain.len(), 3);
    for r in &plain {
        let e = MyEvent::decode(r.value.as_deref().unwrap()).unwrap();
        assert!((1..=100).contains(&e.number));
        assert!((before..=now_ms()).contains(&created_ms(&e)));
    }

    // SCHEMA_REGISTRY_URL from ./.env, as the seeds configure their services.
    std::fs::write(dir.path().join(".env"), format!("SCHEMA_REGISTRY_URL={}\n", registry.url())).unwrap();
    let run =
        sluice(dir.path(), &["produce", "numbers", "-b", &b, "--topic", "n-reg", "--count", "4", "--interval", "20ms"])
            .await
            .ok();
    assert!(run.stderr.contains("(from SCHEMA_REGISTRY_URL in "), "{}", run.stderr);
    // The well-known import is not registered as a subject; the registry resolves it.
    assert_eq!(registry_get(&registry, "/subjects").await, serde_json::json!(["n-reg-value"]));
    let latest = registry_get(&registry, "/subjects/n-reg-value/versions/latest").await;
    assert!(latest["references"].as_array().is_none_or(Vec::is_empty), "{latest}");
    let id = latest["id"].as_u64().unwrap() as u32;
    let framed = read(&b, "n-reg").await;
    assert_eq!(framed.len(), 4);
    let mut numbers = BTreeMap::new();
    for r in &framed {
        let (sid, payload) = unframe(r.value.as_deref().unwrap());
        assert_eq!(sid, id);
        let e = MyEvent::decode(payload).unwrap();
        assert!((1..=100).contains(&e.number));
        numbers.insert((r.partition, r.offset), (e.number, created_ms(&e)));
    }

    // --no-schema-registry overrides the environment.
    sluice(dir.path(), &["produce", "numbers", "-b", &b, "--topic", "n-plain", "--count", "1", "--no-schema-registry"])
        .await
        .ok();
    let v = read(&b, "n-plain").await;
    assert!(MyEvent::decode(v[0].value.as_deref().unwrap()).is_ok_and(|e| (1..=100).contains(&e.number)));

    // consume through the registry (SCHEMA_REGISTRY_URL from .env with --value-format proto).
    let decoded = consume_json(dir.path(), &b, "n-reg", &["--value-format", "proto"]).await;
    assert_eq!(decoded.len(), 4);
    for d in &decoded {
        let (number, ms) = numbers[&(d["partition"].as_i64().unwrap() as i32, d["offset"].as_i64().unwrap())];
        assert_eq!(d["value"]["number"], number);
        let text = d["value"]["created_at"].as_str().unwrap();
        assert_eq!(text.len(), "2024-01-01T00:00:00.000Z".len(), "{text}");
        assert!(text.ends_with(&format!(".{:03}Z", ms % 1000)), "{text} is not {ms} ms");
        assert_eq!(d["value_schema_id"], id);
    }
    // A plain value read through the registry is shown as hex with the reason.
    let wrong = consume_json(dir.path(), &b, "numbers", &["--schema-registry", registry.url(), "-c", "1"]).await;
    assert_eq!(wrong[0]["value_format"], "hex");
    assert!(wrong[0]["value_error"].as_str().unwrap().contains("not the Confluent magic byte"), "{}", wrong[0]);
    // A framed value read with a descriptor says how to read it.
    let proto = formats_proto("my_event.proto");
    let wrong = consume_json(dir.path(), &b, "n-reg", &["--descriptor", &proto, "-c", "1"]).await;
    assert_eq!(wrong[0]["value_format"], "hex");
    assert!(wrong[0]["value_error"].as_str().unwrap().contains("--schema-registry"), "{}", wrong[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_descriptor_and_message_are_used_by_field_name() {
    let broker = TestBroker::start().await;
    let registry = TestRegistry::start(&broker.bootstrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    std::fs::write(dir.path().join("mine.proto"), REORDERED_PROTO).unwrap();
    sluice(dir.path(), &["schemas", "compile", "mine.proto", "-o", "mine.desc"]).await.ok();

    let run = sluice(
        dir.path(),
        &[
            "produce",
            "user-events",
            "-b",
            &b,
            "--topic",
            "mine",
            "--count",
            "30",
            "--descriptor",
            "mine.desc",
            "--message",
            "mine.Reordered",
            "--schema-registry",
            registry.url(),
        ],
    )
    .await
    .ok();
    assert!(run.stderr.contains("protobuf mine.Reordered from mine.desc"), "{}", run.stderr);
    assert!(run.stderr.contains("left unset: extra"), "{}", run.stderr);
    let records = read(&b, "mine").await;
    assert_eq!(records.len(), 30);
    for r in &records {
        let value = r.value.as_deref().unwrap();
        // mine.Reordered is the file's second message: index path [1], written 02 02.
        assert_eq!(value[0], 0);
        assert_eq!(value[5..7], [2, 2], "{}", hex(value));
        let ev = Reordered::decode(&value[7..]).unwrap();
        assert_eq!(r.key.as_deref(), Some(ev.user_id.as_bytes()));
        assert!(ev.user_id.starts_with("user") && (0.0..=500.0).contains(&ev.value) && ev.extra == 0);
    }
    // Read back through the registry: the message is found by its index path.
    let decoded = consume_json(dir.path(), &b, "mine", &["--schema-registry", registry.url()]).await;
    assert!(decoded.iter().all(|d| d["value_message"] == "mine.Reordered"), "{}", decoded[0]);
    assert_eq!(
        decoded[0]["value"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["value", "action", "user_id", "extra"]
    );

    // Errors name the flag, the value and the fix, before anything connects.
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--descriptor", "mine.desc"]).await.failed();
    assert!(
        bad.stderr.contains("declares 2 messages (mine.Other, mine.Reordered); pick one with --message NAME"),
        "{}",
        bad.stderr
    );
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--message", "Nope"]).await.failed();
    assert!(
        bad.stderr.contains("no message named \"Nope\"") && bad.stderr.contains("protobuf.UserEvent"),
        "{}",
        bad.stderr
    );
    let bad = sluice(
        dir.path(),
        &[
            "produce",
            "numbers",
            "-b",
            &b,
            "--descriptor",
            "mine.desc",
            "--message",
            "mine.Other",
            "--no-schema-registry",
        ],
    )
    .await
    .failed();
    assert!(bad.stderr.contains("none of its fields (x) matches a column"), "{}", bad.stderr);
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--descriptor", "missing.desc"]).await.failed();
    assert!(bad.stderr.contains("--descriptor missing.desc: cannot read missing.desc"), "{}", bad.stderr);
    std::fs::write(dir.path().join("junk.desc"), b"\xff\xff\xff").unwrap();
    let bad = sluice(dir.path(), &["produce", "user-events", "-b", &b, "--descriptor", "junk.desc"]).await.failed();
    assert!(bad.stderr.contains("not a valid protobuf FileDescriptorSet"), "{}", bad.stderr);
    let closed = format!("http://127.0.0.1:{}", super::closed_port());
    let bad = sluice(dir.path(), &["produce", "numbers", "-b", &b, "--count", "1", "--schema-registry", &closed])
        .await
        .failed();
    assert!(bad.stderr.contains(&format!("no schema registry answered at {closed}")), "{}", bad.stderr);
    let bad =
        sluice(dir.path(), &["produce", "numbers", "-b", &b, "--schema-registry", "localhost:8081"]).await.failed();
    assert!(bad.stderr.contains("\"localhost:8081\"") && bad.stderr.contains("http://"), "{}", bad.stderr);
    let bad = sluice(dir.path(), &["consume", "mine", "-b", &b, "--value-format", "proto"]).await.failed();
    assert!(bad.stderr.contains("--value-format proto needs a schema"), "{}", bad.stderr);
    let bad = sluice(dir.path(), &["consume", "mine", "-b", &b, "--key-format", "proto"]).await.failed();
    assert!(bad.stderr.contains("--key-format proto"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_decodes_values_framed_by_another_writer() {
    let broker = TestBroker::start().await;
    let registry = TestRegistry::start(&broker.bootstrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    // The schema registered over plain HTTP, the values encoded by prost and framed by hand.
    let body = serde_json::json!({
        "schemaType": "PROTOBUF",
        "schema": std::fs::read_to_string(formats_proto("user_event.proto")).unwrap(),
    });
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/subjects/other-value/versions", registry.url()))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = resp["id"].as_u64().unwrap() as u32;
    let events: Vec<UserEvent> = (0..5)
        .map(|i| UserEvent { user_id: format!("user{i}"), action: "view".into(), value: f64::from(i) * 1.5 })
        .collect();
    let mut input = String::new();
    for e in &events {
        let mut v = vec![0];
        v.extend_from_slice(&id.to_be_bytes());
        // the long form of [0] (count 1, index 0), which readers must accept too
        v.extend_from_slice(&[2, 0]);
        v.extend_from_slice(&e.encode_to_vec());
        input.push_str(&format!("{}\n", hex(&v)));
    }
    input.push_str("00ff\n"); // not a framed value
    sluice_with(
        dir.path(),
        &["produce", "lines", "other", "-b", &b, "--input-format", "hex", "--partition", "0"],
        &[],
        Some(input.as_bytes()),
    )
    .await
    .ok();
    let got = consume_json(dir.path(), &b, "other", &["--schema-registry", registry.url()]).await;
    assert_eq!(got.len(), 6);
    for (g, e) in got.iter().zip(&events) {
        assert_eq!(g["value"], serde_json::json!({"userId": e.user_id, "action": "view", "value": e.value}));
        assert_eq!(g["value_schema_id"], id);
    }
    assert_eq!((got[5]["value"].as_str(), got[5]["value_format"].as_str()), (Some("00ff"), Some("hex")));
    assert!(got[5]["value_error"].as_str().unwrap().contains("too short"), "{}", got[5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_register_list_get() {
    let broker = TestBroker::start().await;
    let registry = TestRegistry::start(&broker.bootstrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = registry.url();
    std::fs::create_dir(dir.path().join("shop")).unwrap();
    std::fs::write(
        dir.path().join("shop/common.proto"),
        "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 cents = 1; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("shop/order.proto"),
        "syntax = \"proto3\";\npackage shop;\nimport \"shop/common.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\
         message Order { string id = 1; Money total = 2; google.protobuf.Timestamp at = 3; }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.avsc"), r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}"#)
        .unwrap();

    let run = sluice(
        dir.path(),
        &["schemas", "register", "shop/order.proto", "-I", ".", "--subject", "orders-value", "--schema-registry", url],
    )
    .await
    .ok();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "registered shop/order.proto under subject orders-value: schema id 2, version 1",
            "  references shop/common.proto (subject shop/common.proto, version 1)",
        ]
    );
    // As confluent-kafka does: the import under its own subject, the well-known type not at all.
    assert_eq!(registry_get(&registry, "/subjects").await, serde_json::json!(["orders-value", "shop/common.proto"]));
    let run = sluice(
        dir.path(),
        &["schemas", "register", "a.avsc", "--subject", "a-value", "--schema-registry", url, "--format", "json"],
    )
    .await
    .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"subject": "a-value", "version": 1, "id": 3, "schemaType": "AVRO", "references": []})
    );
    // Registering the same schema again keeps its id and version.
    let again = sluice_with(
        dir.path(),
        &["schemas", "register", "shop/order.proto", "-I", ".", "--subject", "orders-value", "--format", "json"],
        &[("SCHEMA_REGISTRY_URL", url)],
        None,
    )
    .await
    .ok();
    let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!((v["id"].as_u64(), v["version"].as_i64()), (Some(2), Some(1)));

    let list = sluice(dir.path(), &["schemas", "list", "--schema-registry", url]).await.ok();
    let rows: Vec<Vec<&str>> = list.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["SUBJECT", "VERSION", "ID", "TYPE", "REFERENCES"]);
    assert_eq!(
        rows[2..],
        [
            vec!["a-value", "1", "3", "AVRO"],
            vec!["orders-value", "1", "2", "PROTOBUF", "shop/common.proto"],
            vec!["shop/common.proto", "1", "1", "PROTOBUF"],
        ]
    );
    let list = sluice(dir.path(), &["schemas", "list", "--schema-registry", url, "--format", "json"]).await.ok();
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let subjects: Vec<&str> = v.as_array().unwrap().iter().map(|s| s["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["a-value", "orders-value", "shop/common.proto"]);

    let get = sluice(dir.path(), &["schemas", "get", "orders-value", "--schema-registry", url]).await.ok();
    let lines: Vec<&str> = get.stdout.lines().collect();
    assert_eq!(lines[0], "schema id 2 (PROTOBUF), orders-value version 1");
    assert_eq!(lines[1], "references shop/common.proto (subject shop/common.proto, version 1)");
    assert!(get.stdout.contains("message Order {"), "{}", get.stdout);
    let get =
        sluice(dir.path(), &["schemas", "get", "--id", "1", "--schema-registry", url, "--format", "json"]).await.ok();
    let v: serde_json::Value = serde_json::from_str(&get.stdout).unwrap();
    assert_eq!(v["subjects"], serde_json::json!([{"subject": "shop/common.proto", "version": 1}]));
    assert!(v["schema"].as_str().unwrap().contains("message Money"), "{v}");
    assert_eq!(v["schemaType"], "PROTOBUF");

    let bad = sluice(dir.path(), &["schemas", "get", "nope", "--schema-registry", url]).await.failed();
    assert!(bad.stderr.contains("Subject 'nope' not found") && bad.stderr.contains("40401"), "{}", bad.stderr);
    let bad =
        sluice(dir.path(), &["schemas", "get", "a-value", "--version", "x", "--schema-registry", url]).await.failed();
    assert!(bad.stderr.contains("--version \"x\""), "{}", bad.stderr);
    let bad = sluice(dir.path(), &["schemas", "register", "a.txt", "--subject", "s", "--schema-registry", url])
        .await
        .failed();
    assert!(bad.stderr.contains("pass --type PROTOBUF, AVRO or JSON"), "{}", bad.stderr);
    let closed = format!("http://127.0.0.1:{}", super::closed_port());
    let bad = sluice(dir.path(), &["schemas", "list", "--schema-registry", &closed]).await.failed();
    assert!(bad.stderr.contains("no schema registry answered at"), "{}", bad.stderr);
}
