//! The command line: parses arguments and calls into the library. `main.rs` only sets up logging.

mod commands;
mod demo;
mod exit;

pub use exit::Exit;

use crate::report::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "orgsync",
    version,
    about = "Keeps a target app's users and org chart in step with your IM platform."
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "ORGSYNC_CONFIG",
        default_value = "/etc/orgsync/orgsync.toml"
    )]
    pub config: PathBuf,
    /// Log filter (tracing syntax, e.g. `info` or `orgsync=debug`); logs go to stderr. Defaults to
    /// `info`, and to `warn` for the demo, whose reports say the same thing.
    #[arg(long, global = true, env = "ORGSYNC_LOG")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one connector now: pull, plan, apply, report.
    Sync {
        connector: String,
        /// Plan and report only; write nothing to the target or the snapshot.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print what a sync would do (a dry-run report) without writing anything.
    Diff {
        connector: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Validate the configuration file and check that every secret can be read.
    CheckConfig,
    /// Sync an emulated WeCom org into an emulated SCIM app, all on loopback: no set-up needed.
    Demo {
        /// People in the generated org.
        #[arg(long, default_value_t = 200)]
        people: usize,
        /// Seed of the org generator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

impl Cli {
    pub fn log_filter(&self) -> &str {
        match (&self.log, &self.command) {
            (Some(filter), _) => filter,
            (None, Command::Demo { .. }) => "warn",
            (None, _) => "info",
        }
    }
}

pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Sync {
            connector,
            dry_run,
            format,
        } => {
            let mode = if dry_run {
                crate::engine::RunMode::DryRun
            } else {
                crate::engine::RunMode::Apply
            };
            commands::sync(&cli.config, &connector, mode, format).await
        }
        Command::Diff { connector, format } => {
            commands::sync(
                &cli.config,
                &connector,
                crate::engine::RunMode::DryRun,
                format,
            )
            .await
        }
        Command::CheckConfig => commands::check_config(&cli.config),
        Command::Demo { people, seed } => demo::run(people, seed).await,
    }
}
