//! Thin shell: harden the process, parse the command line, set up logging, hand over to the library.

use clap::Parser;
use orgsync::cli::{self, Cli};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Before the runtime starts its threads: the umask is process-wide.
    cli::process::harden();
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(cli.log_filter()).unwrap_or_else(|e| {
        eprintln!(
            "warning: invalid log filter {:?} ({e}); using `info`",
            cli.log_filter()
        );
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(cli::run(cli)).into()
}
