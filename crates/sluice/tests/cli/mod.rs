//! `sluice produce | consume | topics | generate` as a user runs them.

mod admin;
mod broker;
mod config;
mod console;
mod groups;
mod kill;
mod produce;
mod protobuf;
mod publish;
mod run;
mod scale_out;
mod silent;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sluice run JOB_FILE -b B --quiet` in `dir`, with no broker from the environment, stdin and
/// stdout null; the caller sets stderr and spawns it.
pub(crate) fn run_command(dir: &Path, b: &str, job_file: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["run", job_file, "-b", b, "--quiet"])
        .current_dir(dir)
        .env_remove("KAFKA_SERVER")
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// `sluice run JOB_FILE -b B --quiet EXTRA..` in `dir`, in the background, its log (info level)
/// written to `dir/LOG`.
pub(crate) fn spawn_run(dir: &Path, b: &str, job_file: &str, extra: &[&str], log: &str) -> Child {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    run_command(dir, b, job_file).args(extra).env("RUST_LOG", "info").stderr(log).spawn().unwrap()
}

/// A `sluice run` child, killed (by its PID) when the test ends, passing or not.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a run of the binary left behind.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Run {
    /// Panics with both streams unless the run succeeded.
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "sluice failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
    /// Panics unless the run failed with exit code 1.
    pub(crate) fn failed(self) -> Self {
        assert_eq!(self.code, Some(1), "sluice should have failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs `sluice args...` in `dir` with `envs` set, KAFKA_*, SCHEMA_REGISTRY_URL and
/// PRODUCER_INTERVAL removed, and
/// `stdin` fed; kills it after 60 s so a hang fails the test instead of blocking CI.
pub(crate) fn sluice_blocking(dir: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("KAFKA_SERVER")
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env_remove("PRODUCER_INTERVAL")
        .env_remove("SLUICE_LOG")
        .env_remove("SCHEMA_REGISTRY_URL")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn sluice");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write stdin");
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // Only the child started above, by its PID.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    });
    let out = child.wait_with_output().expect("wait for sluice");
    let _ = tx.send(());
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// [`sluice_blocking`] off the async runtime (the in-test broker runs on it).
pub(crate) async fn sluice(dir: &Path, args: &[&str]) -> Run {
    sluice_with(dir, args, &[], None).await
}

/// [`sluice`] with environment variables and stdin.
pub(crate) async fn sluice_with(dir: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let stdin = stdin.map(<[u8]>::to_vec);
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        sluice_blocking(&dir, &a, &e, stdin.as_deref())
    })
    .await
    .expect("sluice thread")
}

/// `sluice consume TOPIC --exit-at-end --format json` (from the beginning unless `extra` picks
/// an offset or time) parsed, one value per record.
pub(crate) async fn consume_json(dir: &Path, bootstrap: &str, topic: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["consume", topic, "-b", bootstrap, "--exit-at-end", "--format", "json"];
    if !extra.iter().any(|a| matches!(*a, "--offset" | "--from-timestamp")) {
        args.push("--from-beginning");
    }
    args.extend_from_slice(extra);
    let run = sluice(dir, &args).await.ok();
    run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// A port nothing listens on.
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Lowercase hex decoding for test data.
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Files published under `dir` (recursively), not staged ones.
pub(crate) fn published(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "_sluice_staging") {
            continue;
        }
        if p.is_dir() {
            out.extend(published(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every published JSON line under `dir` (not staged), sorted.
pub(crate) fn published_json_lines(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = published(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|p| std::fs::read_to_string(&p).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    out.sort();
    out
}
