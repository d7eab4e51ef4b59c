//! The command line: parses arguments and calls into the library. `main.rs` only sets up logging.

mod check;
mod commands;
#[cfg(feature = "demo")]
mod demo;
mod exit;
pub mod logging;
mod man;
mod notify;
mod person;
mod plans;
pub mod process;
mod progress;
mod remote;
mod service;

pub use exit::Exit;

use crate::engine::RunMode;
use crate::report::{Format, RenderOptions};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The configuration file when neither `--config` nor `$ORGSYNC_CONFIG` names one.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/orgsync/orgsync.toml";

#[derive(Debug, Parser)]
#[command(
    name = "orgsync",
    version,
    about = "Keeps a target app's users and org chart in step with your IM platform."
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "ORGSYNC_CONFIG",
        default_value = DEFAULT_CONFIG
    )]
    pub config: PathBuf,
    /// Log filter (tracing syntax, e.g. `info` or `orgsync=debug`); logs go to stderr. Defaults to
    /// `info`, and to `warn` for the demo, `check-config` and `explain`, whose output says the
    /// same thing.
    #[arg(long, global = true, env = "ORGSYNC_LOG")]
    pub log: Option<String>,
    /// The log's shape: `auto` is `journal` under systemd (stderr is `$JOURNAL_STREAM`), else
    /// `text`; `json` is one object per line for log shippers.
    #[arg(
        long,
        global = true,
        env = "ORGSYNC_LOG_FORMAT",
        value_enum,
        default_value_t = logging::LogFormat::Auto
    )]
    pub log_format: logging::LogFormat,
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
        /// Plan against the target's actual accounts instead of the snapshot: repairs edits
        /// made directly in the target and rebuilds the snapshot.
        #[arg(long)]
        full: bool,
        /// Apply this run's plan even if the deletion guard refuses it (never an empty pull).
        #[arg(long)]
        allow_deletions: bool,
        /// Sync only this person now (their upstream id; repeat, or separate with commas): their
        /// own changes and what those need, such as a new manager's account. Everyone else is
        /// left for the next full run.
        #[arg(
            long = "person",
            value_name = "KEY",
            value_delimiter = ',',
            conflicts_with_all = ["full", "allow_deletions"]
        )]
        people: Vec<String>,
        /// When the daemon runs the sync: follow its progress and print the report (without a
        /// daemon, sync always runs in-process and prints the report).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        output: ReportArgs,
    },
    /// Run as a service: every connector on its schedule, the admin API, until SIGTERM.
    Run,
    /// Show each connector's schedule, next and last run (from the daemon, or the history).
    Status {
        /// text, or json for machines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The run history: list runs, show one's report, compare two.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Print what a sync would do (a dry-run report) without writing anything.
    Diff {
        connector: String,
        /// Compare with the target's actual accounts instead of the snapshot.
        #[arg(long)]
        full: bool,
        /// Also save the plan to this file, for `orgsync apply`.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        #[command(flatten)]
        output: ReportArgs,
    },
    /// Apply a plan saved by `orgsync diff --save`, exactly, if nothing was applied since.
    Apply {
        plan: PathBuf,
        /// Approve the removals the deletion guard held back in that plan.
        #[arg(long)]
        allow_deletions: bool,
        #[command(flatten)]
        output: ReportArgs,
    },
    /// Explain from a fresh pull why one person is synced the way they are.
    Explain { connector: String, user: String },
    /// Validate the configuration file and check that every secret can be read.
    CheckConfig {
        /// Also check each connector's upstream token and scope and the target's access, with
        /// reads only; one line per check.
        #[arg(long)]
        online: bool,
    },
    /// Plans the deletion guard refused in the daemon, waiting for an operator's approval.
    #[command(subcommand)]
    Plans(PlansCommand),
    /// The `[[notify]]` channels (IM robots, webhooks).
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Manage a connector's snapshot (what orgsync last applied to the target).
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Sync an emulated org into an emulated SCIM app, all on loopback: no set-up needed.
    Demo {
        /// The emulated upstream platform.
        #[arg(long, value_enum, default_value_t = crate::pullers::Platform::Wecom)]
        upstream: crate::pullers::Platform,
        /// People in the generated org.
        #[arg(long, default_value_t = 200)]
        people: usize,
        /// Seed of the org generator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Also write the dry run's report to this file as a self-contained HTML page.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Sync into a real target instead: a TOML file holding one target table, written as
        /// under [connectors.NAME.target] (e.g. config/demo-ldap.toml).
        #[arg(long, value_name = "FILE")]
        target: Option<PathBuf>,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, …) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (orgsync.1, one per subcommand, orgsync.toml.5) into DIR.
    #[command(hide = true)]
    Man {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Runs, newest first.
    List {
        /// Only this connector's runs.
        connector: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// text, or json for machines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One run's report.
    Show {
        run: String,
        #[command(flatten)]
        output: ReportArgs,
    },
    /// What changed between two runs' plans (usually two dry runs): text, markdown or json.
    Compare {
        run_a: String,
        run_b: String,
        /// text for a terminal, json for machines, markdown for tickets and e-mail.
        #[arg(long, value_enum, default_value_t = ComparisonFormat::Text)]
        format: ComparisonFormat,
        /// Show at most N rows per section of a text or Markdown comparison.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

/// The forms a comparison has (no HTML page: the console shows comparisons in its own pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ComparisonFormat {
    Text,
    Json,
    Markdown,
}

impl From<ComparisonFormat> for Format {
    fn from(format: ComparisonFormat) -> Self {
        match format {
            ComparisonFormat::Text => Format::Text,
            ComparisonFormat::Json => Format::Json,
            ComparisonFormat::Markdown => Format::Markdown,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message to every configured channel and print each result.
    Test,
}

#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// The plans waiting: run, connector, when, the counts and the guard's reason.
    List,
    /// Apply exactly the plan run RUN left, its removals approved (as `apply --allow-deletions`).
    Approve {
        run: String,
        #[command(flatten)]
        output: ReportArgs,
    },
    /// Drop the plan run RUN left; nothing is written.
    Dismiss { run: String },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Pull, then replace the snapshot with the target's accounts whose externalId is a pulled
    /// person's (after the state directory was lost or corrupted); accounts of other systems are
    /// listed and left alone. The next sync repairs any difference.
    Rebuild { connector: String },
}

/// How to print a report; shared by every command that prints one.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ReportArgs {
    /// text for a terminal, json for machines, markdown for tickets and e-mail, html for a
    /// self-contained page (`> report.html`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show at most N rows per section of a text or Markdown report, and how many were left out.
    /// JSON and HTML always hold everything.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

impl ReportArgs {
    pub fn options(&self) -> RenderOptions {
        RenderOptions {
            limit: self.limit,
            color: self.format == Format::Text && stdout_wants_color(),
        }
    }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything (no-color.org).
pub(crate) fn stdout_wants_color() -> bool {
    wants_color(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn wants_color(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

impl Cli {
    pub fn log_filter(&self) -> &str {
        match (&self.log, &self.command) {
            (Some(filter), _) => filter,
            (None, Command::Demo { .. }) => "warn",
            // Their output is the answer, line by line: the pull's own log lines would only
            // interleave with it on a terminal.
            (None, Command::CheckConfig { .. } | Command::Explain { .. } | Command::Notify(_)) => {
                "warn"
            }
            (None, _) => "info",
        }
    }
}

pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Sync {
            connector,
            dry_run,
            full,
            allow_deletions,
            people,
            wait,
            output,
        } => {
            let mode = if dry_run {
                RunMode::DryRun
            } else {
                RunMode::Apply
            };
            if !people.is_empty() {
                let keys: Vec<crate::model::UserKey> = people
                    .iter()
                    .map(|key| key.trim())
                    .filter(|key| !key.is_empty())
                    .map(crate::model::UserKey::new)
                    .collect();
                if keys.is_empty() {
                    return commands::fail(Exit::Usage, "--person needs an upstream id");
                }
                return person::sync_people(&cli.config, &connector, &keys, mode, output).await;
            }
            let options = commands::options(mode, full, allow_deletions);
            if let Some(exit) =
                service::sync_via_daemon(&cli.config, &connector, options, wait, output).await
            {
                return exit;
            }
            commands::sync(
                &cli.config,
                &connector,
                commands::SyncArgs { options, output },
            )
            .await
        }
        Command::Diff {
            connector,
            full,
            save: None,
            output,
        } => {
            let options = commands::options(RunMode::DryRun, full, false);
            // A running daemon holds the state: it makes the dry run, and we wait for it.
            if let Some(exit) =
                service::sync_via_daemon(&cli.config, &connector, options, true, output).await
            {
                return exit;
            }
            commands::sync(
                &cli.config,
                &connector,
                commands::SyncArgs { options, output },
            )
            .await
        }
        Command::Diff {
            connector,
            full,
            save: Some(path),
            output,
        } => {
            let baseline = commands::options(RunMode::DryRun, full, false).baseline;
            commands::diff_and_save(&cli.config, &connector, baseline, &path, output).await
        }
        Command::Apply {
            plan,
            allow_deletions,
            output,
        } => {
            let approval = commands::options(RunMode::Apply, false, allow_deletions).approval;
            commands::apply(&cli.config, &plan, approval, output).await
        }
        Command::Explain { connector, user } => {
            commands::explain(&cli.config, &connector, &user).await
        }
        Command::CheckConfig { online } => {
            let depth = if online {
                check::Depth::Online
            } else {
                check::Depth::Offline
            };
            check::check_config(&cli.config, depth).await
        }
        Command::Snapshot {
            action: SnapshotAction::Rebuild { connector },
        } => commands::rebuild_snapshot(&cli.config, &connector).await,
        Command::Run => service::run(&cli.config).await,
        Command::Plans(PlansCommand::List) => plans::list(&cli.config).await,
        Command::Notify(NotifyCommand::Test) => notify::test(&cli.config).await,
        Command::Plans(PlansCommand::Approve { run, output }) => {
            plans::approve(&cli.config, &run, output).await
        }
        Command::Plans(PlansCommand::Dismiss { run }) => plans::dismiss(&cli.config, &run).await,
        Command::Status { format } => service::status(&cli.config, format).await,
        Command::Reports(ReportsCommand::List {
            connector,
            limit,
            format,
        }) => service::list(&cli.config, connector.as_deref(), limit, format).await,
        Command::Reports(ReportsCommand::Show { run, output }) => {
            service::show(&cli.config, &run, output).await
        }
        Command::Reports(ReportsCommand::Compare {
            run_a,
            run_b,
            format,
            limit,
        }) => {
            let output = ReportArgs {
                format: format.into(),
                limit,
            };
            service::compare(&cli.config, &run_a, &run_b, output).await
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            upstream,
            people,
            seed,
            html,
            target,
        } => {
            demo::run(demo::DemoArgs {
                upstream,
                people,
                seed,
                html,
                target,
            })
            .await
        }
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => commands::fail(
            Exit::Usage,
            "this orgsync was built without its demo (the `demo` cargo feature); \
             `cargo run --release -- demo` in the source tree runs it",
        ),
        Command::Completions { shell } => man::print_completions(shell),
        Command::Man { dir } => man::write_pages(&dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(wants_color(true, None));
        assert!(wants_color(true, Some("".as_ref())));
        assert!(!wants_color(true, Some("1".as_ref())));
        assert!(!wants_color(false, None));
    }

    #[test]
    fn check_config_and_explain_log_warnings_only_unless_asked() {
        for args in [
            &["orgsync", "check-config", "--online"][..],
            &["orgsync", "explain", "hq", "lin"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            if cli.log.is_none() {
                assert_eq!(cli.log_filter(), "warn", "{args:?}");
            }
        }
        let cli = Cli::try_parse_from(["orgsync", "--log", "debug", "check-config"]).unwrap();
        assert_eq!(cli.log_filter(), "debug");
        let cli = Cli::try_parse_from(["orgsync", "sync", "hq"]).unwrap();
        if cli.log.is_none() {
            assert_eq!(cli.log_filter(), "info");
        }
    }

    #[test]
    fn person_is_repeatable_or_comma_separated_and_excludes_full() {
        let cli = Cli::try_parse_from([
            "orgsync", "sync", "hq", "--person", "lin,zhou", "--person", "wang",
        ])
        .unwrap();
        let Command::Sync { people, .. } = cli.command else {
            panic!("not a sync");
        };
        assert_eq!(people, ["lin", "zhou", "wang"]);
        for other in ["--full", "--allow-deletions"] {
            let refused = Cli::try_parse_from(["orgsync", "sync", "hq", "--person", "lin", other]);
            assert!(refused.is_err(), "--person with {other}");
        }
    }

    #[test]
    fn format_and_limit_on_diff_and_sync() {
        let cli = Cli::try_parse_from(["orgsync", "diff", "hq", "--format", "html"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Diff {
                output: ReportArgs {
                    format: Format::Html,
                    limit: None
                },
                ..
            }
        ));
        let cli = Cli::try_parse_from([
            "orgsync", "sync", "hq", "--format", "markdown", "--limit", "5",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Sync {
                output: ReportArgs {
                    format: Format::Markdown,
                    limit: Some(5)
                },
                ..
            }
        ));
    }
}
