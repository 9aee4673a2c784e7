//! Drives the sinks through the fixed workload of `tests/common/scenario.rs`, the way the
//! runtime will: recover, then per epoch write → pre_commit → checkpoint → commit. It can
//! crash for real (`abort()`, no clean-up) at two points, and resume from its checkpoint file.
//! `interop/tests/test_sinks.py` runs it against a local directory and moto's S3 and checks the
//! output with pyarrow, boto3 and Python protobuf.
//!
//! ```text
//! sink_fixture ROOT CHECKPOINT_FILE MODE [--endpoint URL]
//!   MODE: full                    epochs 1..=3, no crash
//!         crash-after-precommit   epoch 1; epoch 2 pre-committed, no checkpoint; abort
//!         crash-after-checkpoint  epoch 1; epoch 2 checkpointed but not committed; half of
//!                                 epoch 3 written; abort
//!         resume                  recover(checkpoint) and run the remaining epochs
//! ```
//! Prints the recovery reports as JSON lines: `{"sink":N,"published":[[2,4]],"discarded":[]}`.

#[path = "../tests/common/scenario.rs"]
mod scenario;

use scenario::{EPOCHS, Sinks};
use sluice_connect::sink::Epoch;
use sluice_connect::sink::storage::S3Options;
use sluice_stream::plan::OptionValue;
use std::path::Path;
use std::process::ExitCode;

fn read_checkpoint(path: &Path) -> Result<Option<Epoch>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => t.trim().parse().map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The checkpoint, written the way a real one must be: atomically and durably.
fn write_checkpoint(path: &Path, epoch: Epoch) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let run = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, epoch.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    run().map_err(|e| format!("{}: {e}", path.display()))
}

async fn run(root: &str, ckpt: &Path, mode: &str, endpoint: Option<&str>) -> Result<(), String> {
    let mut storage = Vec::new();
    if let Some(e) = endpoint {
        storage.push(("endpoint", OptionValue::Str(e.to_string())));
        storage.push(("allow_http", OptionValue::Bool(e.starts_with("http://"))));
    }
    let mut sinks = Sinks::open(root, S3Options::from_env(), &storage).map_err(|e| e.to_string())?;
    let err = |e: sluice_connect::sink::SinkError| e.to_string();
    let last = if mode == "resume" { read_checkpoint(ckpt)? } else { None };
    let reports = sinks.recover(last).await.map_err(err)?;
    for (i, r) in reports.iter().enumerate() {
        let line = format!("{{\"sink\":{i},\"published\":{:?},\"discarded\":{:?}}}", r.published, r.discarded)
            .replace('(', "[")
            .replace(')', "]");
        println!("{line}");
    }
    let checkpoint = |e: Epoch| write_checkpoint(ckpt, e);
    match mode {
        "full" | "resume" => {
            for e in last.map_or(1, |l| l + 1)..=EPOCHS {
                sinks.write(e, 5).await.map_err(err)?;
                sinks.pre_commit(e).await.map_err(err)?;
                checkpoint(e)?;
                sinks.commit(e).await.map_err(err)?;
            }
            Ok(())
        }
        "crash-after-precommit" | "crash-after-checkpoint" => {
            sinks.write(1, 5).await.map_err(err)?;
            sinks.pre_commit(1).await.map_err(err)?;
            checkpoint(1)?;
            sinks.commit(1).await.map_err(err)?;
            sinks.write(2, 5).await.map_err(err)?;
            sinks.pre_commit(2).await.map_err(err)?;
            if mode == "crash-after-checkpoint" {
                checkpoint(2)?;
                sinks.write(3, 3).await.map_err(err)?;
            }
            eprintln!("sink_fixture: crashing on purpose ({mode})");
            std::process::abort();
        }
        other => Err(format!("unknown mode `{other}`")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (pos, endpoint) = match args.iter().position(|a| a == "--endpoint") {
        Some(i) => {
            let mut pos = args.clone();
            let ep = pos.get(i + 1).cloned();
            pos.drain(i..(i + 2).min(pos.len()));
            (pos, ep)
        }
        None => (args, None),
    };
    let [root, ckpt, mode] = pos.as_slice() else {
        eprintln!("usage: sink_fixture ROOT CHECKPOINT_FILE MODE [--endpoint URL]");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sink_fixture: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(root, Path::new(ckpt), mode, endpoint.as_deref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sink_fixture: {e}");
            ExitCode::FAILURE
        }
    }
}
