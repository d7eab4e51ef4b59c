//! Thin shell: harden the process, parse the command line, set up logging, hand over to the library.

use clap::Parser;
use orgsync::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before the runtime starts its threads: the umask is process-wide.
    cli::process::harden();
    let cli = Cli::parse();
    cli::logging::init(cli.log_filter(), cli.log_format);
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
