//! `sluice run JOB` and `sluice demo` as a user runs them: seed producers feed a real broker,
//! the job's results are read back with `sluice consume` and files, and compared with what
//! this test computes from the input records read back from the topic.

use super::{closed_port, consume_json, published, sluice, sluice_with};
use sluice_testkit::TestBroker;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// (name, surname) → (messages, total amount, sum of delta_t, flagged), from the input.
type PerPerson = BTreeMap<(String, String), (i64, f64, f64, i64)>;

fn per_person(records: &[serde_json::Value]) -> PerPerson {
    let mut m = PerPerson::new();
    for r in records {
        let v = &r["value"];
        let k = (v["name"].as_str().unwrap().to_string(), v["surname"].as_str().unwrap().to_string());
        let e = m.entry(k).or_default();
        e.0 += 1;
        e.1 += v["amount"].as_f64().unwrap();
        e.2 += v["delta_t"].as_f64().unwrap();
        e.3 += v["flag"].as_i64().unwrap();
    }
    m
}

/// The last result per (name, surname) on the `results` topic (update mode: later rows replace
/// earlier ones; a name's rows share a partition, so their order is the order written).
fn latest(results: &[serde_json::Value]) -> BTreeMap<(String, String), serde_json::Value> {
    let mut m = BTreeMap::new();
    for r in results {
        let v = &r["value"];
        m.insert((v["name"].as_str().unwrap().to_string(), v["surname"].as_str().unwrap().to_string()), v.clone());
    }
    m
}

fn check_people(input: &[serde_json::Value], results: &[serde_json::Value]) {
    let want = per_person(input);
    let got = latest(results);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, (n, amount, delta, flagged)) in &want {
        let v = &got[k];
        assert_eq!(v["messages"].as_i64(), Some(*n), "{k:?}: {v}");
        assert!((v["total_amount"].as_f64().unwrap() - amount).abs() < 0.0051, "{k:?}: {v} vs {amount}");
        let avg = delta / *n as f64;
        assert!((v["avg_delta_t"].as_f64().unwrap() - avg).abs() < 0.0051, "{k:?}: {v} vs {avg}");
        assert_eq!(v["flagged"].as_i64(), Some(*flagged), "{k:?}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_people_writes_exact_aggregates_and_resumes_from_its_checkpoint() {
    let broker = TestBroker::start().await;
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/people.toml");
    let job = job.to_str().unwrap();
    sluice(dir.path(), &["produce", "people", "-b", &b, "--rate", "0", "--seed", "11"]).await.ok();

    let first = sluice(dir.path(), &["run", job, "-b", &b, "--available-now", "--quiet"]).await.ok();
    assert!(first.stderr.contains("job people reading topic a_partitioned_topic"), "{}", first.stderr);
    // sluice's own fetch client reads the partitions (plaintext); librdkafka keeps the group.
    assert!(first.stderr.contains("partitions assigned (fetched by sluice)"), "{}", first.stderr);
    assert!(first.stderr.contains("20 records read in all"), "{}", first.stderr);
    // The console sink prints Spark's tables.
    assert!(first.stdout.contains("Batch: ") && first.stdout.contains("|total_amount|"), "{}", first.stdout);
    assert!(dir.path().join("checkpoints/people").is_dir());
    let input = consume_json(dir.path(), &b, "a_partitioned_topic", &[]).await;
    assert_eq!(input.len(), 20);
    check_people(&input, &consume_json(dir.path(), &b, "results", &[]).await);

    // More input, and a second run resumes: it reads only the new records.
    sluice(dir.path(), &["produce", "people", "-b", &b, "--rate", "0", "--seed", "12"]).await.ok();
    let second = sluice(dir.path(), &["run", job, "-b", &b, "--available-now", "--quiet"]).await.ok();
    assert!(second.stderr.contains("40 records read in all"), "{}", second.stderr);
    let input = consume_json(dir.path(), &b, "a_partitioned_topic", &[]).await;
    assert_eq!(input.len(), 40);
    check_people(&input, &consume_json(dir.path(), &b, "results", &[]).await);
    assert!(!second.stderr.contains("no checkpoint to resume from"), "{}", second.stderr);

    // Without its checkpoint (deleted, as a Spark user starts a query over), the job starts at
    // its starting_offsets (earliest) with empty state, not at the offsets the earlier runs
    // committed to the group: it reads all 40 records again and its rows are again the
    // aggregates of all of them.
    // This run has librdkafka fetch (SLUICE_FETCH=librdkafka): the same rows.
    std::fs::remove_dir_all(dir.path().join("checkpoints/people")).unwrap();
    let third = sluice_with(
        dir.path(),
        &["run", job, "-b", &b, "--available-now", "--quiet"],
        &[("SLUICE_FETCH", "librdkafka")],
        None,
    )
    .await
    .ok();
    assert!(third.stderr.contains("partitions assigned (fetched by librdkafka)"), "{}", third.stderr);
    assert!(third.stderr.contains("no checkpoint to resume from"), "{}", third.stderr);
    assert!(third.stderr.contains("40 records read in all"), "{}", third.stderr);
    let results = consume_json(dir.path(), &b, "results", &[]).await;
    check_people(&input, &results);

    // Offsets a user set in the group (here: to the end) are where a new job starts.
    std::fs::remove_dir_all(dir.path().join("checkpoints/people")).unwrap();
    // (The last run's static membership lasts until its 10 s session ends.)
    let mut reset = None;
    for _ in 0..30 {
        let r = sluice(dir.path(), &["groups", "reset-offsets", "-b", &b, "--to-latest", "--execute", "sluice-people"])
            .await;
        if r.code == Some(0) {
            reset = Some(r);
            break;
        }
        assert!(r.stderr.contains("active members"), "{}", r.stderr);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(reset.is_some(), "the group kept its members for 30 s");
    let fourth = sluice(dir.path(), &["run", job, "-b", &b, "--available-now", "--quiet"]).await.ok();
    assert!(!fourth.stderr.contains("no checkpoint to resume from"), "{}", fourth.stderr);
    assert!(fourth.stderr.contains("0 records read in all"), "{}", fourth.stderr);

    // The job file changed under its checkpoint: refused, once, with the way out.
    let text = std::fs::read_to_string(job).unwrap();
    let changed = text.replace("\"sum(flag) AS flagged\",", "\"sum(flag) AS flagged\", \"max(amount) AS biggest\",");
    assert_ne!(changed, text);
    std::fs::write(dir.path().join("changed.toml"), changed).unwrap();
    let fifth = sluice(dir.path(), &["run", "changed.toml", "-b", &b, "--available-now", "--quiet"]).await.failed();
    let cp = dir.path().join("checkpoints/people").canonicalize().unwrap();
    let last = fifth.stderr.trim_end().lines().last().unwrap_or_default();
    let (head, tail) = last.split_once(": epoch 1: ").unwrap_or_else(|| panic!("{}", fifth.stderr));
    assert_eq!(head, format!("error: the job stopped: checkpoints at {}", cp.display()));
    assert_eq!(
        tail,
        "the queries of job `people` changed since this checkpoint was taken, so its state does not fit them; run the \
         job file the checkpoint was taken with, or start with a new [checkpoint] location"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/people.toml");
    let port = closed_port();
    let b = format!("127.0.0.1:{port}");
    let run = sluice_with(dir.path(), &["run", job.to_str().unwrap(), "-b", &b], &[], None).await.failed();
    assert!(run.stderr.contains(&b) && run.stderr.contains("sluice broker"), "{}", run.stderr);

    let run = sluice(dir.path(), &["run", "jobs/nope.toml"]).await.failed();
    assert!(run.stderr.contains("nope.toml") && run.stderr.contains("no such file"), "{}", run.stderr);

    std::fs::write(dir.path().join("bad.toml"), "name = \"x\"\n[source]\ntopic = \"t\"\nformat = { kind = \"xml\" }\n")
        .unwrap();
    let run = sluice(dir.path(), &["run", "bad.toml"]).await.failed();
    assert!(run.stderr.contains("bad.toml:4") && run.stderr.contains("xml"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_source_waits_for_its_schema_as_long_as_told_and_says_so_once() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/numbers.toml");
    let registry = format!("http://127.0.0.1:{}", closed_port());
    let args = ["run", job.to_str().unwrap(), "-b", &broker.bootstrap(), "--schema-registry", &registry];
    let wait = [&args[..], &["--wait-for-schema", "3s"]].concat();
    let run = sluice_with(dir.path(), &wait, &[("SLUICE_LOG", "info")], None).await.failed();
    // Six attempts, half a second apart, over the three seconds: one line says it waits.
    let waiting: Vec<&str> = run.stderr.lines().filter(|l| l.contains("waiting for it at")).collect();
    assert_eq!(waiting.len(), 1, "{}", run.stderr);
    assert!(waiting[0].contains("no schema registry answered (Connection refused"), "{}", run.stderr);
    assert!(waiting[0].contains(&registry) && waiting[0].contains("(up to 3 s more)"), "{}", run.stderr);
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: the job stopped: schema registry {registry}: no schema registry answered"))
            && last.contains("cannot learn the columns of topic numbers")
            && last.ends_with("or wait longer with --wait-for-schema"),
        "{}",
        run.stderr
    );
    assert!(run.elapsed >= std::time::Duration::from_secs(3) && run.elapsed < std::time::Duration::from_secs(20));

    let bad = [&args[..], &["--wait-for-schema", "soon"]].concat();
    let run = sluice_with(dir.path(), &bad, &[], None).await.failed();
    assert!(run.stderr.contains("--wait-for-schema") && run.stderr.contains("soon"), "{}", run.stderr);
}

#[test]
fn demo_runs_the_five_seed_pipelines_and_writes_their_results() {
    let dir = tempfile::tempdir().unwrap();
    let (bp, rp) = (closed_port().to_string(), closed_port().to_string());
    let (listen, registry) = (format!("127.0.0.1:{bp}"), format!("127.0.0.1:{rp}"));
    let run = super::sluice_blocking(
        dir.path(),
        &["demo", "--duration", "20s", "--listen", &listen, "--registry-listen", &registry],
        &[],
        None,
    )
    .ok();
    assert!(run.stdout.contains(&format!("broker on {listen}")), "{}", run.stdout);
    // Live tables of the console sinks (Spark's show()).
    assert!(run.stdout.contains("action|count|") && run.stdout.contains("Batch: "), "{}", run.stdout);
    // Each table is headed by its job and query, so the five jobs' tables can be told apart.
    for (job, query) in [("user-events", "events_per_action"), ("user-events", "top_users"), ("numbers", "prime")] {
        let heading = format!("Job: {job} | Query: {query} | Batch: ");
        assert!(run.stdout.contains(&heading), "no `{heading}` in:\n{}", run.stdout);
    }
    let demo = dir.path().join("sluice-demo");
    let expect = [
        ("user-events/events_per_action", ".pb"),
        ("user-events/top_users", ".pb"),
        ("numbers/prime", ".jsonl"),
        ("numbers/sqrt", ".jsonl"),
        ("numbers/square", ".jsonl"),
        ("transactions/sliding_window_counts", ".jsonl"),
        ("people/per_person", ".jsonl"),
        ("campaign-views/views_per_minute", ".parquet"),
    ];
    for (sub, ext) in expect {
        let files = published(&demo.join(sub));
        let nonempty: Vec<_> = files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with(ext) && std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
            .collect();
        assert!(
            !nonempty.is_empty(),
            "no {ext} results in {sub}: {files:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
    // Every job read records and wrote rows (the summary).
    for job in ["user-events", "numbers", "transactions", "people", "campaign-views"] {
        let line =
            run.stdout.lines().find(|l| l.trim_start().starts_with(job)).unwrap_or_else(|| panic!("{}", run.stdout));
        let n: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(n[0] > 0 && n[1] > 0, "{line}");
    }
}

#[test]
fn demo_whose_reader_goes_away_still_stops_at_its_duration() {
    // `sluice demo | head -2`: stdout closes while the demo runs. The demo must still stop at
    // its duration and exit (it used to panic on the closed pipe and then hang, deaf to SIGTERM).
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--duration", "3s", "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("sluice demo: broker on"), "{first}");
    // The reader is dropped here: the pipe is closed.
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
            panic!("sluice demo did not exit 90 s after its 3 s duration; stderr:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(status.success(), "{status:?}; stderr:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    // Its producer processes (started in its directory) ended with it.
    let left = processes_in(dir.path());
    for &pid in &left {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    assert!(left.is_empty(), "processes left running in the demo's directory: {left:?}");
}

/// PIDs of the processes whose working directory is `dir` (Linux: /proc/PID/cwd).
fn processes_in(dir: &Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap();
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            (std::fs::read_link(e.path().join("cwd")).ok()? == dir).then_some(pid)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_whose_stderr_goes_away_still_stops_on_ctrl_c_with_its_checkpoint() {
    // `sluice run JOB 2>&1 | tee log`, and tee ends: stderr is a closed pipe when Ctrl-C comes.
    // The stop must still write the final checkpoint, leave the group and exit 0. It used to
    // hang for good: a log line that could not be written made tracing panic inside the
    // consumer's rebalance callback, so librdkafka's close waited for an unassign that never
    // came.
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let broker = TestBroker::start().await;
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    sluice(dir.path(), &["produce", "people", "-b", &b, "--rate", "0", "--seed", "11"]).await.ok();
    let job = repo().join("jobs/people.toml");
    let child = super::run_command(dir.path(), &b, job.to_str().unwrap()).stderr(Stdio::piped()).spawn().unwrap();
    let mut child = super::Running(child);
    let stderr = child.0.stderr.take().unwrap();
    let pid = child.0.id().to_string();
    let checkpoints = dir.path().join("checkpoints/people");
    let status = tokio::task::spawn_blocking(move || {
        // Wait until the job has its partitions, then close the pipe (drop its reader).
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("partitions assigned") {
                break;
            }
        }
        assert!(seen.contains("partitions assigned"), "the job ended before it had partitions:\n{seen}");
        std::thread::sleep(Duration::from_millis(300));
        assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "sluice run did not stop within 60 s of Ctrl-C with its stderr closed");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    let committed: Vec<_> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".committed"))
        .collect();
    assert!(!committed.is_empty(), "no committed checkpoint in {}", checkpoints.display());
}
