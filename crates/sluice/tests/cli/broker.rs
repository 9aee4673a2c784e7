//! `sluice broker` as a user runs it: the broker and its embedded schema registry come up, serve,
//! and stop cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A minimal HTTP/1.1 exchange (Connection: close): status code and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the registry");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn broker_serves_its_schema_registry_and_stops_on_sigterm() {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["broker", "--memory", "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"])
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sluice broker");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut registry = None;
    let mut broker = None;
    while registry.is_none() {
        let line = lines.next().expect("sluice broker exited before printing its addresses").unwrap();
        if let Some(rest) = line.strip_prefix("sluice broker listening on ") {
            broker = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("sluice schema registry listening on http://") {
            registry = rest.split([',', ' ']).next().map(str::to_string);
        }
    }
    let (broker, registry) = (broker.expect("broker address"), registry.unwrap());
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?} to come up", started.elapsed());
    assert!(TcpStream::connect(&broker).is_ok());

    let schema = r#"{"schemaType":"PROTOBUF","schema":"syntax = \"proto3\"; package protobuf; message UserEvent { string userId = 1; string action = 2; double value = 3; }"}"#;
    let (status, body) = http(&registry, "POST", "/subjects/user-events-value/versions", schema);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""id":1"#), "{body}");
    let (status, body) = http(&registry, "GET", "/subjects", "");
    assert_eq!((status, body.as_str()), (200, r#"["user-events-value"]"#));

    // SIGTERM: both stop and the process exits 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "sluice broker did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn log_lines_written_to_a_pipe_carry_no_colour_codes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["broker", "--memory", "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"])
        .env("SLUICE_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice broker");
    // The registry creates its `_schemas` topic at start-up and logs it.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let line = loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains("created topic") => break line,
            Ok(line) => seen.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("no `created topic` log line within 20 s ({e}); stderr so far: {seen:?}");
            }
        }
    };
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let _ = child.wait();
    assert!(!line.contains('\x1b'), "escape codes in a log line sent to a pipe: {line:?}");
    assert!(line.contains(r#"INFO created topic topic="_schemas""#), "{line:?}");
}
