//! `sluice produce lines` and `sluice consume`: stdin in, records out, bytes intact.

use super::{consume_json, hex, sluice, sluice_with, unhex};
use sluice_testkit::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_values_round_trip_through_lines_and_consume() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    // Every byte value, newlines and NULs included, split over a few records.
    let all: Vec<u8> = (0..=255u8).collect();
    let values: Vec<&[u8]> = all.chunks(50).collect();
    let input: String =
        values.iter().enumerate().map(|(i, v)| format!("{}:{}\n", hex(&[i as u8, 0, 10]), hex(v))).collect();
    let run = sluice_with(
        dir.path(),
        &["produce", "lines", "bin", "-b", &b, "--key-separator", ":", "--input-format", "hex", "--partition", "1"],
        &[],
        Some(input.as_bytes()),
    )
    .await
    .ok();
    assert!(run.stdout.contains(&format!("{} delivered, 0 failed", values.len())), "{}", run.stdout);
    let records =
        consume_json(dir.path(), &b, "bin", &["--value-format", "hex", "--key-format", "hex", "--partition", "1"])
            .await;
    assert_eq!(records.len(), values.len());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["partition"], 1);
        assert_eq!(r["offset"], i as i64);
        assert_eq!(unhex(r["key"].as_str().unwrap()), [i as u8, 0, 10]);
        assert_eq!(unhex(r["value"].as_str().unwrap()), values[i]);
    }
    // base64 output of the same bytes.
    let b64 = consume_json(dir.path(), &b, "bin", &["--value-format", "base64", "--count", "1"]).await;
    assert_eq!(b64.len(), 1);
    assert_eq!(b64[0]["value_format"], "base64");
    assert_eq!(b64[0]["value"].as_str().unwrap().len(), 68); // 50 bytes → 4·⌈50/3⌉ characters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_json_values_and_offsets() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    let lines = "k1\t{\"a\": 1, \"b\": [true]}\nk2\tplain text\nk3\t{not json\n";
    sluice_with(
        dir.path(),
        &["produce", "lines", "mixed", "-b", &b, "--key-separator", "\t", "--partition", "0"],
        &[],
        Some(lines.as_bytes()),
    )
    .await
    .ok();
    let records = consume_json(dir.path(), &b, "mixed", &[]).await;
    let got: Vec<(&str, &serde_json::Value, &str)> = records
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), &r["value"], r["value_format"].as_str().unwrap()))
        .collect();
    assert_eq!(got[0], ("k1", &serde_json::json!({"a": 1, "b": [true]}), "json"));
    assert_eq!(got[1], ("k2", &serde_json::json!("plain text"), "text"));
    assert_eq!(got[2], ("k3", &serde_json::json!("{not json"), "text"));
    assert!(records.iter().all(|r| r["timestamp"].as_i64().unwrap() > 1_600_000_000_000));

    // --offset, negative --offset (from the end), --count.
    let from1 = consume_json(dir.path(), &b, "mixed", &["--offset", "1", "--partition", "0"]).await;
    assert_eq!(from1.iter().map(|r| r["offset"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    let last = consume_json(dir.path(), &b, "mixed", &["--offset", "-1", "--partition", "0"]).await;
    assert_eq!(last.iter().map(|r| r["offset"].as_i64().unwrap()).collect::<Vec<_>>(), [2]);
    // --from-timestamp in the future: nothing yet.
    let none = consume_json(dir.path(), &b, "mixed", &["--from-timestamp", "2999-01-01"]).await;
    assert!(none.is_empty());

    // Text output: a header line per record, JSON pretty-printed.
    let text = sluice(dir.path(), &["consume", "mixed", "-b", &b, "--from-beginning", "-e", "--count", "1"]).await.ok();
    let out: Vec<&str> = text.stdout.lines().collect();
    assert!(out[0].starts_with("partition 0 offset 0  ") && out[0].ends_with("  key k1"), "{}", text.stdout);
    assert_eq!(out[1..], ["{", "  \"a\": 1,", "  \"b\": [", "    true", "  ]", "}"]);

    let missing = sluice(dir.path(), &["consume", "nope", "-b", &b]).await.failed();
    assert!(missing.stderr.contains("topic nope does not exist"), "{}", missing.stderr);
    let bad = sluice(dir.path(), &["consume", "mixed", "-b", &b, "--partition", "9"]).await.failed();
    assert!(bad.stderr.contains("--partition 9"), "{}", bad.stderr);
}
