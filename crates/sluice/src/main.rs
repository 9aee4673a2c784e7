//! The `sluice` binary: all of it lives in `sluice-cli`.

fn main() -> std::process::ExitCode {
    sluice_cli::main()
}
