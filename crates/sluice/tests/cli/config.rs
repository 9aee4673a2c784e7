//! Where the broker address comes from, and what happens when nobody answers there.

use super::{closed_port, sluice, sluice_with};
use sluice_testkit::TestBroker;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_is_one_line_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let addr = format!("127.0.0.1:{port}");
    let expected = format!(
        "error: no broker answered at {addr} (Connection refused); start one with `sluice broker` or pass \
         --bootstrap-servers HOST:PORT, or wait for it with --wait-for-broker 30s"
    );
    for args in [
        vec!["produce", "user-events", "-b", &addr],
        vec!["consume", "user-events", "-b", &addr],
        vec!["topics", "list", "-b", &addr],
    ] {
        let run = sluice(dir.path(), &args).await.failed();
        assert_eq!(run.stderr.trim_end(), expected, "{args:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.elapsed < Duration::from_secs(4), "{args:?} took {:?}", run.elapsed);
    }
    // A job says it once too, after the lines naming the job.
    let job = concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs/user-events.toml");
    let run = sluice(dir.path(), &["run", job, "-b", &addr]).await.failed();
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("error: the job stopped: job user-events ({job}): {}", expected.trim_start_matches("error: ")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("sluice broker").count(), 1, "the fix is said once: {}", run.stderr);
    assert!(run.elapsed < Duration::from_secs(4), "run took {:?}", run.elapsed);
    // The default address when nothing is configured.
    let run = sluice_with(dir.path(), &["topics", "list"], &[], None).await.failed();
    assert!(run.stderr.starts_with("error: no broker answered at 127.0.0.1:9092 ("), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotenv_and_environment_name_the_broker() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = broker.bootstrap();
    std::fs::write(dir.path().join(".env"), format!("# seed 004's .env\nKAFKA_NODE_ID=1\nKAFKA_SERVER={b}\n")).unwrap();
    let run = sluice(dir.path(), &["produce", "user-events", "--count", "2"]).await.ok();
    assert!(run.stderr.contains(&format!("at {b} (from KAFKA_SERVER in .env)")), "{}", run.stderr);
    assert!(run.stdout.contains("2 delivered"));

    // A variable in the environment wins over .env, as with dotenv.
    let closed = format!("127.0.0.1:{}", closed_port());
    let run = sluice_with(dir.path(), &["topics", "list"], &[("KAFKA_SERVER", &closed)], None).await.failed();
    assert!(run.stderr.contains(&format!("no broker answered at {closed}")), "{}", run.stderr);
    // KAFKA_BOOTSTRAP_SERVERS works too, and --bootstrap-servers beats everything.
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let run = sluice_with(dir.path(), &["topics", "list"], &[("KAFKA_BOOTSTRAP_SERVERS", &b)], None).await.ok();
    assert!(run.stdout.contains("user-events"), "{}", run.stdout);
    let run = sluice_with(dir.path(), &["topics", "list", "-b", &b], &[("KAFKA_SERVER", &closed)], None).await.ok();
    assert!(run.stdout.contains("user-events"));

    std::fs::write(dir.path().join(".env"), "KAFKA_SERVER='unterminated\n").unwrap();
    let run = sluice(dir.path(), &["topics", "list"]).await.failed();
    assert!(run.stderr.starts_with("error: .env: "), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_broker_waits_for_a_late_broker() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, then start the broker on it a second after the producer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let b = addr.to_string();
    let producer = {
        let (d, b) = (dir.path().to_path_buf(), b.clone());
        tokio::spawn(async move {
            sluice(&d, &["produce", "user-events", "-b", &b, "--count", "3", "--wait-for-broker", "20s"]).await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let handle = sluice_broker::start(listener, Default::default()).unwrap();
    let run = producer.await.unwrap().ok();
    assert!(run.stderr.starts_with(&format!("waiting up to 20s for a broker at {b}")), "{}", run.stderr);
    assert!(run.stdout.contains("3 delivered, 0 failed"), "{}", run.stdout);
    handle.shutdown().await;
}
