//! The sinks on S3, against moto's S3 server started here on 127.0.0.1 (port 0), read back
//! through object_store. They need `moto[server]` (interop/setup.sh installs it into
//! interop/.venv), so they are `#[ignore]`d in the plain `cargo test` run and run by the interop
//! suite (interop/tests/test_sinks.py runs `cargo test -p sluice-connect -- --ignored s3::`).
//! Without moto they fail, naming what to install; they never pass by skipping.

use crate::common::scenario::{self, Sinks, batch};
use crate::common::{FailingPublish, split_delimited};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_connect::sink::json::JsonSink;
use sluice_connect::sink::parquet::{ParquetOptions, ParquetSink};
use sluice_connect::sink::storage::{S3Options, S3Storage, Storage, Target};
use sluice_connect::sink::{Sink, Transactional};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const SERVER: &str = r#"
import sys
try:
    from moto.server import ThreadedMotoServer
except ImportError as e:
    print("ERROR " + str(e), flush=True)
    sys.exit(3)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"#;

/// A moto S3 server of our own, stopped (by its PID, through `Child`) on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
    port: u16,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let python = std::env::var_os("SLUICE_INTEROP_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/.venv/bin/python"));
        assert!(
            python.exists(),
            "these S3 tests need moto's S3 server, and {} does not exist: run interop/setup.sh (it installs \
             moto[server] into interop/.venv), or set SLUICE_INTEROP_PYTHON to a python that has moto[server]",
            python.display()
        );
        let mut child = Command::new(&python)
            .args(["-c", SERVER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            panic!(
                "moto's S3 server did not start with {} (said {:?}; stderr: {err}): run interop/setup.sh, \
                 which installs moto[server] into interop/.venv",
                python.display(),
                line.trim()
            );
        };
        Moto { child, endpoint: format!("http://127.0.0.1:{port}"), port }
    }

    /// Creates a bucket with a plain HTTP PUT (object_store cannot create buckets).
    pub(crate) fn create_bucket(&self, name: &str) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "create bucket {name}: {reply}");
    }

    pub(crate) fn options(&self) -> S3Options {
        S3Options {
            env: vec![
                ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
                ("AWS_REGION".into(), "us-east-1".into()),
            ],
            endpoint: Some(self.endpoint.clone()),
            region: None,
            allow_http: Some(true),
        }
    }

    pub(crate) fn storage(&self, url: &str) -> Arc<dyn Storage> {
        Target::parse(url, None).unwrap().open(&self.options()).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every object under a prefix with its bytes, through object_store.
async fn objects(storage: &Arc<dyn Storage>) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for k in storage.list("").await.unwrap() {
        let b = storage.get(&k).await.unwrap().unwrap();
        out.push((k, b));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3 server (interop/setup.sh); run by interop/tests/test_sinks.py"]
async fn s3_workload_survives_crashes_exactly_like_an_uninterrupted_run() {
    let moto = Moto::start();
    moto.create_bucket("sinks");
    let run = |root: &'static str, crash: Option<bool>| {
        let options = moto.options();
        async move {
            let mut s = Sinks::open(root, options.clone(), &[]).unwrap();
            s.recover(None).await.unwrap();
            s.epoch(1).await.unwrap();
            let Some(checkpointed) = crash else {
                s.epoch(2).await.unwrap();
                s.epoch(3).await.unwrap();
                return;
            };
            s.write(2, 5).await.unwrap();
            s.pre_commit(2).await.unwrap();
            if checkpointed {
                s.write(3, 3).await.unwrap();
            }
            drop(s);
            let last = if checkpointed { 2 } else { 1 };
            let mut s = Sinks::open(root, options, &[]).unwrap();
            let reports = s.recover(Some(last)).await.unwrap();
            assert_eq!(reports[0].published, if checkpointed { vec![(2, 3)] } else { vec![] });
            for e in last + 1..=3 {
                s.epoch(e).await.unwrap();
            }
        }
    };
    run("s3://sinks/clean", None).await;
    run("s3://sinks/crash-before-checkpoint", Some(false)).await;
    run("s3://sinks/crash-after-checkpoint", Some(true)).await;

    let clean = objects(&moto.storage("s3://sinks/clean")).await;
    assert_eq!(clean.len(), 21, "{:?}", clean.iter().map(|(k, _)| k).collect::<Vec<_>>());
    assert!(clean.iter().all(|(k, _)| !k.contains("_sluice_staging")));
    assert!(
        clean
            .iter()
            .any(|(k, _)| k == "views/network_id=1/minute_timestamp=2026-11-23 10%3A05%3A00/part-000001-00000.parquet")
    );
    for prefix in ["s3://sinks/crash-before-checkpoint", "s3://sinks/crash-after-checkpoint"] {
        assert_eq!(objects(&moto.storage(prefix)).await, clean, "{prefix}");
    }

    // Read back through object_store: a Parquet file and a Protobuf file.
    let (_, pq) = clean
        .iter()
        .find(|(k, _)| k.starts_with("views/network_id=2/minute_timestamp=2026-11-23 10%3A06%3A00/part-000001"))
        .unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(pq.clone()).unwrap().build().unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);
    let (_, pb) = clean.iter().find(|(k, _)| k == "actions/part-000003-00002.pb").unwrap();
    assert_eq!(split_delimited(pb).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3 server (interop/setup.sh); run by interop/tests/test_sinks.py"]
async fn s3_large_files_go_up_in_parts_and_publish_whole() {
    let moto = Moto::start();
    moto.create_bucket("big");
    let schema = RowSchema::new(vec![Field::new("i", Kind::Int), Field::new("pad", Kind::Str)]);
    let pad = "x".repeat(200);
    let storage = moto.storage("s3://big/lines");
    let mut s = JsonSink::new("q", &schema, storage.clone(), None);
    s.recover(None).await.unwrap();
    // ~12 MiB in one file: more than one 8 MiB part.
    for chunk in 0..6 {
        let rows: Vec<Row> =
            (0..10_000).map(|i| Row::new(vec![Value::Int(chunk * 10_000 + i), Value::from(pad.as_str())])).collect();
        s.write(1, batch(0, chunk as u64, rows)).await.unwrap();
    }
    s.pre_commit(1).await.unwrap();
    assert_eq!(storage.list("").await.unwrap().iter().filter(|k| !k.starts_with("_sluice_staging")).count(), 0);
    s.commit(1).await.unwrap();
    assert_eq!(storage.list("").await.unwrap(), ["part-000001-00000.jsonl"]);
    let data = storage.get("part-000001-00000.jsonl").await.unwrap().unwrap();
    assert!(data.len() > 12 << 20, "{} bytes", data.len());
    let text = std::str::from_utf8(&data).unwrap();
    let ids: Vec<i64> =
        text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["i"].as_i64().unwrap()).collect();
    assert_eq!(ids, (0..60_000).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3 server (interop/setup.sh); run by interop/tests/test_sinks.py"]
async fn s3_commit_cut_short_is_finished_by_recovery() {
    let moto = Moto::start();
    moto.create_bucket("cut");
    let options = ParquetOptions {
        partition_by: vec!["network_id".into(), "minute_timestamp".into()],
        ..ParquetOptions::default()
    };
    let schema = scenario::views_schema();
    let failing = FailingPublish::new(moto.storage("s3://cut/views"), 3);
    let mut s = ParquetSink::new("views", &schema, failing, options.clone()).unwrap();
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, scenario::views_rows(1))).await.unwrap();
    s.pre_commit(1).await.unwrap();
    assert!(s.commit(1).await.is_err());
    drop(s);
    let storage = moto.storage("s3://cut/views");
    let visible = |keys: Vec<String>| keys.into_iter().filter(|k| !k.starts_with("_sluice_staging")).count();
    assert_eq!(visible(storage.list("").await.unwrap()), 2);
    let mut s = ParquetSink::new("views", &schema, storage.clone(), options).unwrap();
    assert_eq!(s.recover(Some(1)).await.unwrap().published, vec![(1, 3)]);
    let keys = storage.list("").await.unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.ends_with("part-000001-00000.parquet")), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3 server (interop/setup.sh); run by interop/tests/test_sinks.py"]
async fn s3_missing_bucket_names_the_fix() {
    let moto = Moto::start();
    let schema = RowSchema::new(vec![Field::new("i", Kind::Int)]);
    let storage = Arc::new(S3Storage::open("no-such-bucket", "x", &moto.options()).unwrap());
    let mut s = JsonSink::new("q", &schema, storage, None);
    let e = s.recover(None).await.unwrap_err().to_string();
    assert!(e.contains("s3://no-such-bucket/x") && e.contains("create the bucket first"), "{e}");
}
