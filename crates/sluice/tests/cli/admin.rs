//! `sluice topics` end to end.

use super::sluice;
use serde_json::Value;
use sluice_testkit::TestBroker;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_list_describe_alter_delete() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = broker.bootstrap();
    let t = |args: &[&str]| {
        let mut v = vec!["topics"];
        v.extend_from_slice(args);
        v.extend_from_slice(&["-b", &b]);
        v.into_iter().map(String::from).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| async move {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        sluice(d, &a).await
    };

    let created =
        run(t(&["create", "orders", "--partitions", "4", "--config", "retention.ms=60000", "--format", "json"]))
            .await
            .ok();
    assert_eq!(json(&created.stdout), serde_json::json!({"topic": "orders", "created": true, "partitions": 4}));
    let again = run(t(&["create", "orders"])).await.failed();
    assert!(again.stderr.contains("topic orders already exists") && again.stderr.contains("--if-not-exists"));
    run(t(&["create", "orders", "--if-not-exists"])).await.ok();
    run(t(&["create", "events", "--partitions", "1"])).await.ok();

    let listed = json(&run(t(&["list", "--format", "json"])).await.ok().stdout);
    let names: Vec<(&str, i64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["partitions"].as_i64().unwrap()))
        .collect();
    assert_eq!(names, [("events", 1), ("orders", 4)]);
    let table = run(t(&["list"])).await.ok().stdout;
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["TOPIC", "PARTITIONS", "REPLICATION"]);
    assert_eq!(rows[2..], [vec!["events", "1", "1"], vec!["orders", "4", "1"]]);

    let described = json(&run(t(&["describe", "orders", "--format", "json"])).await.ok().stdout);
    let o = &described[0];
    assert_eq!(o["partitions"].as_array().unwrap().len(), 4);
    assert_eq!(o["configs"]["retention.ms"]["value"], "60000");
    assert_eq!(o["configs"]["retention.ms"]["default"], false);
    assert_eq!(o["partitions"][0]["records"], 0);
    let text = run(t(&["describe", "orders"])).await.ok().stdout;
    assert!(text.starts_with("topic orders: 4 partitions, replication factor 1, 0 records"), "{text}");
    assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["retention.ms", "60000"]), "{text}");

    let altered = run(t(&["alter", "orders", "--partitions", "6", "--config", "cleanup.policy=compact"])).await.ok();
    assert_eq!(altered.stdout.trim(), "altered topic orders: partitions 4 → 6, cleanup.policy=compact");
    let described = json(&run(t(&["describe", "orders", "--format", "json"])).await.ok().stdout);
    assert_eq!(described[0]["partitions"].as_array().unwrap().len(), 6);
    assert_eq!(described[0]["configs"]["cleanup.policy"]["value"], "compact");
    // AlterConfigs replaces the whole set: the earlier setting must survive.
    assert_eq!(described[0]["configs"]["retention.ms"]["value"], "60000");
    let shrink = run(t(&["alter", "orders", "--partitions", "2"])).await.failed();
    assert!(shrink.stderr.contains("--partitions 2") && shrink.stderr.contains("can only add"), "{}", shrink.stderr);

    let deleted = json(&run(t(&["delete", "orders", "--format", "json"])).await.ok().stdout);
    assert_eq!(deleted, serde_json::json!({"deleted": ["orders"]}));
    let listed = json(&run(t(&["list", "--format", "json"])).await.ok().stdout);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let missing = run(t(&["delete", "orders"])).await.failed();
    assert_eq!(
        missing.stderr.trim(),
        format!("error: topic orders does not exist at {b}; pass --if-exists to accept that")
    );
    run(t(&["delete", "orders", "--if-exists"])).await.ok();
    let bad = run(t(&["create", "bad name"])).await.failed();
    assert!(bad.stderr.contains("\"bad name\" is not a valid topic name"), "{}", bad.stderr);
    // The broker refuses; the line says why and what would do.
    let replicas = run(t(&["create", "replicated", "--replication-factor", "3"])).await.failed();
    assert_eq!(
        replicas.stderr.trim(),
        "error: cannot create topic replicated: InvalidReplicationFactor (Broker: Invalid replication factor); the \
         cluster has 1 broker, so give --replication-factor 1 or less (or leave it out for the broker's default)"
    );
}
