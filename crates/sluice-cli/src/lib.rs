//! The `sluice` command tree as a library; the binary only calls [`main`].
//!
//! # Layout
//! - [`args`]: the clap tree, raw flags as the user typed them.
//! - `commands/`: one module per subcommand; each resolves its raw flags into a validated
//!   config (errors name the flag, the value and the fix) and runs. `produce`, `consume`,
//!   `topics`, `groups` and `generate` keep their flag structs beside their code; [`args`]
//!   re-exports them.
//! - `kafka_opts`: `--bootstrap-servers` / `KAFKA_SERVER` / `.env` / `-X` / `--wait-for-broker`
//!   resolution shared by every Kafka command.
//! - `clients`: admin clients checked for a live broker, topic creation, Ctrl-C handling.
//! - `output`: aligned tables (comfy-table), `--format json`, `outln!` (stdout without a panic
//!   on a closed pipe).
//! - `duration`: `30s`, `500ms`, `2m` as flags take them.

pub mod args;
mod clients;
mod commands;
mod duration;
mod kafka_opts;
mod output;

use clap::Parser;
use output::errln;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Parses the command line, runs the command, reports errors in one line.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(commands::run(cli.command))));
    // Dropping the runtime would wait for every blocking task, and after a panic (or an early
    // error) some wait for a stop that nobody will send, while the signal handlers the command
    // installed keep SIGTERM from ending the process: the process would hang for good.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            errln!("error: {}", error_text(&e));
            ExitCode::FAILURE
        }
        // The panic hook has printed the message; 101 is what an unwinding Rust program exits with.
        Err(_) => ExitCode::from(101),
    }
}

/// An error and its causes on one line, `outer: inner: ...`, each cause said once: many
/// errors already include their source's text in their own message (anyhow's `{:#}` would
/// repeat it).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let t = cause.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
    }
    text
}

/// How long, once the command has returned, tasks still running may take to end.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Without log_internal_errors(false), a log line that cannot be written (stderr closed)
    // makes tracing `eprintln!` about it, which panics; in a callback that panic left
    // librdkafka's consumer close waiting for good.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(log_colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR")))
        .log_internal_errors(false)
        .try_init();
}

/// Whether log lines are coloured: only on a terminal (a log redirected to a file or a pipe
/// gets no escape codes), and never when `NO_COLOR` is set to anything but the empty string
/// (no-color.org).
fn log_colours(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{error_text, log_colours};

    #[derive(Debug, thiserror::Error)]
    #[error("cannot list s3://b/p: access denied")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("sink x: {source}")]
    struct Outer {
        source: Inner,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("sink y failed")]
    struct Terse {
        source: Inner,
    }

    #[test]
    fn an_error_line_says_each_cause_once() {
        let e = anyhow::Error::new(Outer { source: Inner }).context("the job stopped");
        assert_eq!(
            format!("{e:#}"),
            "the job stopped: sink x: cannot list s3://b/p: access denied: cannot list s3://b/p: access denied"
        );
        assert_eq!(error_text(&e), "the job stopped: sink x: cannot list s3://b/p: access denied");
        // A cause the message leaves out is still said.
        let e = anyhow::Error::new(Terse { source: Inner }).context("the job stopped");
        assert_eq!(error_text(&e), "the job stopped: sink y failed: cannot list s3://b/p: access denied");
        assert_eq!(error_text(&anyhow::anyhow!("plain")), "plain");
    }

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some("".into())), "an empty NO_COLOR does not count (no-color.org)");
        assert!(!log_colours(true, Some("1".into())));
        assert!(!log_colours(false, None), "a file or a pipe gets no escape codes");
        assert!(!log_colours(false, Some("1".into())));
    }
}
