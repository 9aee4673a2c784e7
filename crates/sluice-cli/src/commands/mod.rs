//! One module per subcommand.

mod broker;
pub(crate) mod consume;
pub(crate) mod demo;
pub(crate) mod generate;
pub(crate) mod groups;
pub(crate) mod produce;
mod registry;
pub(crate) mod run;
pub(crate) mod schemas;
pub(crate) mod topics;

use crate::args::Command;

/// Runs a parsed command.
pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Broker(args) => broker::run(args).await,
        Command::Produce(args) => produce::run(args).await,
        Command::Generate(args) => generate::run(args).await,
        Command::Consume(args) => consume::run(args).await,
        Command::Topics(args) => topics::run(args).await,
        Command::Groups(args) => groups::run(args).await,
        Command::Registry(args) => registry::run(args).await,
        Command::Schemas(args) => schemas::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Demo(args) => demo::run(args).await,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
