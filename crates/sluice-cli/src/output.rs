//! Output for people (aligned tables) and for scripts (`--format json`).

use comfy_table::{ContentArrangement, Table};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
}

/// Aligned columns with a rule under the header, no other lines (kubectl-like, easy to grep).
const HEADER_RULE_ONLY: &str = "     ──            ";

/// An aligned table with a header row.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(HEADER_RULE_ONLY).set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// Prints a JSON value on one line.
pub(crate) fn print_json(v: &serde_json::Value) {
    write_line(format_args!("{v}"));
}

/// `println!` that does not panic when stdout is closed: a reader that went away (`| head`)
/// ends the program quietly, as C tools do on SIGPIPE; other write errors end it with one line.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write_line(format_args!($($arg)*)) };
}
pub(crate) use outln;

/// `eprintln!` that does not panic when stderr is gone (`sluice run ... 2>&1 | tee log` after
/// `tee` ended): the message is lost, the command goes on (a stop under way must still finish
/// and write its checkpoint).
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::write_err_line(format_args!($($arg)*)) };
}
pub(crate) use errln;

/// Writes one line to stderr, ignoring errors; see [`errln`].
pub(crate) fn write_err_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// Writes one line to stdout; see [`outln`].
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) {
    if let Err(e) = try_write_line(args) {
        exit_on_write_error(&e);
    }
}

/// Writes one line to stdout and flushes it; the error goes to the caller.
pub(crate) fn try_write_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush())
}

/// Ends the program after stdout failed: quietly for a closed pipe, with one line otherwise.
pub(crate) fn exit_on_write_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    errln!("error: cannot write to stdout: {e}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_aligned_with_a_header_rule() {
        let t = super::table(
            &["TOPIC", "PARTITIONS"],
            vec![vec!["a".into(), "3".into()], vec!["long-name".into(), "12".into()]],
        );
        let lines: Vec<&str> = t.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].contains("TOPIC") && lines[1].starts_with("──"), "{t}");
        let col = |l: &str, w: &str| l.find(w).unwrap();
        assert_eq!(col(lines[0], "PARTITIONS"), col(lines[2], "3"));
        assert_eq!(col(lines[2], "3"), col(lines[3], "12"));
    }
}
