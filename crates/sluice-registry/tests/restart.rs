//! The state lives in the `_schemas` topic: a new registry on the same broker, and a restarted
//! broker on the same data directory, give the same ids and versions.

use crate::common::{TestRegistry, USER_EVENT, call, proto};
use serde_json::json;
use sluice_broker::BrokerConfig;
use sluice_testkit::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_keep_ids_versions_config_and_deletes() {
    let http = reqwest::Client::new();
    let broker = TestBroker::start_on_disk().await;
    let reg = TestRegistry::start(&broker.bootstrap()).await;
    let u = |r: &TestRegistry, p: &str| format!("{}{p}", r.url());
    let v2 = USER_EVENT.replace("double value = 3;", "double value = 3; int64 ts = 4;");
    assert_eq!(call(&http, &u(&reg, "/subjects/a-value/versions"), "POST", Some(proto(USER_EVENT))).await.1["id"], 1);
    assert_eq!(call(&http, &u(&reg, "/subjects/a-value/versions"), "POST", Some(proto(&v2))).await.1["id"], 2);
    let third = proto("syntax = \"proto3\"; message Gone { int32 n = 1; }");
    assert_eq!(call(&http, &u(&reg, "/subjects/b-value/versions"), "POST", Some(third)).await.1["id"], 3);
    call(&http, &u(&reg, "/config/a-value"), "PUT", Some(json!({"compatibility": "FULL"}))).await;
    assert_eq!(call(&http, &u(&reg, "/subjects/b-value"), "DELETE", None).await.0, 200);
    reg.stop().await;

    // a second registry on the same broker rebuilds the same state from the topic
    let reg = TestRegistry::start(&broker.bootstrap()).await;
    let check = |reg: TestRegistry, live: serde_json::Value, all: serde_json::Value| {
        let http = http.clone();
        async move {
            let u = |p: &str| format!("{}{p}", reg.url());
            assert_eq!(call(&http, &u("/subjects"), "GET", None).await.1, live);
            assert_eq!(call(&http, &u("/subjects?deleted=true"), "GET", None).await.1, all);
            assert_eq!(call(&http, &u("/subjects/a-value/versions"), "GET", None).await.1, json!([1, 2]));
            let latest = call(&http, &u("/subjects/a-value/versions/latest"), "GET", None).await.1;
            assert_eq!((latest["id"].clone(), latest["version"].clone()), (json!(2), json!(2)));
            assert_eq!(call(&http, &u("/config/a-value"), "GET", None).await.1, json!({"compatibilityLevel": "FULL"}));
            // the same schema keeps its id; a new one continues after the highest
            let again = call(&http, &u("/subjects/c-value/versions"), "POST", Some(proto(USER_EVENT))).await.1;
            assert_eq!(again["id"], 1);
            reg
        }
    };
    let reg = check(reg, json!(["a-value"]), json!(["a-value", "b-value"])).await;
    let fresh = proto("syntax = \"proto3\"; message New { int32 n = 1; }");
    assert_eq!(call(&http, &format!("{}/subjects/d-value/versions", reg.url()), "POST", Some(fresh)).await.1["id"], 4);
    reg.stop().await;

    // the broker restarts from its data directory; the registry reads the topic back
    let dir = broker.shutdown().await.expect("data dir");
    let broker = TestBroker::start_in(dir.path(), BrokerConfig::default()).await;
    let reg = TestRegistry::start(&broker.bootstrap()).await;
    let reg =
        check(reg, json!(["a-value", "c-value", "d-value"]), json!(["a-value", "b-value", "c-value", "d-value"])).await;
    let again = call(&http, &format!("{}/subjects/d-value/versions/1", reg.url()), "GET", None).await.1;
    assert_eq!(again["id"], 4);
    reg.stop().await;
    broker.shutdown().await;
    drop(dir);
}
