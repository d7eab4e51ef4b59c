use super::{Exit, ReportArgs};
use crate::config::{Config, ConfigError};
use crate::engine::{
    Approval, Baseline, Connector, Engine, RunError, RunMode, RunOptions, SavedPlan,
};
use crate::history::History;
use crate::model::UserKey;
use crate::report::{self, Format, Report, RunOutcome};
use crate::snapshot::{SledStore, SnapshotError};
use crate::terminal::{visible, visible_lines};
use std::path::Path;
use std::sync::Arc;

/// Everything a command needs to run a connector.
struct Opened {
    connector: Connector,
    engine: Engine<SledStore>,
    history: History,
}

impl Opened {
    /// Keeps the run in the history; a failure to do so is worth a warning, not a failed run.
    fn record(&self, result: &Result<Report, RunError>) {
        if let Ok(report) = result
            && let Err(e) = self.history.record(report)
        {
            tracing::warn!(error = %e, run_id = %report.run_id, "Cannot keep the report in the run history.");
        }
    }
}

fn open(config_path: &Path, name: &str) -> Result<Opened, Exit> {
    let config = Config::load(config_path).map_err(fail_config)?;
    let connector_config = config.connector(name, config_path).map_err(fail_config)?;
    let connector =
        Connector::from_config(name, connector_config).map_err(|e| fail(Exit::Config, e))?;
    let store = SledStore::open(&config.state_dir).map_err(|e| fail(Exit::State, e))?;
    let history =
        History::open(store.db(), config.history.keep).map_err(|e| fail(Exit::State, e))?;
    Ok(Opened {
        connector,
        engine: Engine::new(Arc::new(store)),
        history,
    })
}

pub(super) struct SyncArgs {
    pub options: RunOptions,
    pub output: ReportArgs,
}

pub(super) async fn sync(config_path: &Path, name: &str, args: SyncArgs) -> Exit {
    let opened = match open(config_path, name) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let result = opened.engine.run(&opened.connector, args.options).await;
    opened.record(&result);
    finish(result, args.output)
}

pub(super) async fn diff_and_save(
    config_path: &Path,
    name: &str,
    baseline: Baseline,
    save: &Path,
    output: ReportArgs,
) -> Exit {
    let opened = match open(config_path, name) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let saved = match opened
        .engine
        .plan_for_review(&opened.connector, baseline)
        .await
    {
        Ok(Ok(saved)) => saved,
        Ok(Err(report)) => {
            let result = Ok(report);
            opened.record(&result);
            return finish(result, output);
        }
        Err(e) => return run_error(e),
    };
    opened.record(&Ok(saved.report.clone()));
    let json = match serde_json::to_vec_pretty(&saved) {
        Ok(json) => json,
        Err(e) => return fail(Exit::RunFailed, format!("cannot encode the plan: {e}")),
    };
    if let Err(e) = std::fs::write(save, json) {
        return fail(
            Exit::RunFailed,
            format!("cannot write {}: {e}", save.display()),
        );
    }
    eprintln!(
        "Saved the plan ({} steps) to {}. Review it, then run `orgsync apply {}`.",
        saved.plan.steps.len(),
        save.display(),
        save.display()
    );
    finish(Ok(saved.report), output)
}

pub(super) async fn apply(
    config_path: &Path,
    plan_path: &Path,
    approval: Approval,
    output: ReportArgs,
) -> Exit {
    let saved: SavedPlan = match std::fs::read(plan_path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(saved) => saved,
        Err(e) => {
            return fail(
                Exit::StalePlan,
                format!(
                    "{} is not a readable orgsync plan: {e}",
                    plan_path.display()
                ),
            );
        }
    };
    let opened = match open(config_path, &saved.connector) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let result = opened
        .engine
        .apply_saved(&opened.connector, saved, approval)
        .await;
    opened.record(&result);
    finish(result, output)
}

pub(super) async fn explain(config_path: &Path, name: &str, user: &str) -> Exit {
    let opened = match open(config_path, name) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    match opened
        .engine
        .explain(&opened.connector, &UserKey::new(user))
        .await
    {
        Ok(Ok(explained)) => {
            // The sentences quote upstream names as they are: shown, never acted on.
            for line in explained.lines {
                println!("{}", visible(&line));
            }
            Exit::Ok
        }
        Ok(Err(report)) => finish(
            Ok(report),
            ReportArgs {
                format: Format::Text,
                limit: None,
            },
        ),
        Err(e) => run_error(e),
    }
}

fn finish(result: Result<Report, RunError>, output: ReportArgs) -> Exit {
    match result {
        Ok(report) => {
            print!(
                "{}",
                report::render_with(&report, output.format, &output.options())
            );
            exit_of(&report.outcome)
        }
        Err(e) => run_error(e),
    }
}

/// The exit code a run's outcome gives.
pub(super) fn exit_of(outcome: &RunOutcome) -> Exit {
    match outcome {
        RunOutcome::Planned | RunOutcome::Applied => Exit::Ok,
        RunOutcome::Refused { .. } => Exit::Refused,
        RunOutcome::Running
        | RunOutcome::PartiallyApplied { .. }
        | RunOutcome::Interrupted { .. }
        | RunOutcome::BreakerTripped { .. }
        | RunOutcome::Failed { .. } => Exit::RunFailed,
    }
}

fn run_error(error: RunError) -> Exit {
    let exit = match &error {
        RunError::AlreadyRunning(_) => Exit::Busy,
        RunError::Snapshot(_) => Exit::State,
        RunError::StalePlan { .. } | RunError::WrongConnector { .. } | RunError::NotAPlan(..) => {
            Exit::StalePlan
        }
    };
    let hint = match &error {
        RunError::Snapshot(SnapshotError::Corrupt { connector, .. }) => Some(format!(
            "hint: rebuild the snapshot from the target with `orgsync snapshot rebuild {connector}`"
        )),
        _ => None,
    };
    fail(exit, error);
    if let Some(hint) = hint {
        eprintln!("{}", visible(&hint));
    }
    exit
}

pub(super) async fn rebuild_snapshot(config_path: &Path, name: &str) -> Exit {
    let opened = match open(config_path, name) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    match opened.engine.rebuild_snapshot(&opened.connector).await {
        Ok(Ok(rebuilt)) => {
            println!(
                "Rebuilt the snapshot of connector {name} from the target: {} account(s) linked by \
                 externalId; {} account(s) without an externalId left out.",
                rebuilt.linked, rebuilt.unlinked
            );
            for problem in &rebuilt.problems {
                println!("  problem: {}", visible(&problem.to_string()));
            }
            Exit::Ok
        }
        Ok(Err(e)) => fail(
            Exit::RunFailed,
            format!("cannot list the target's accounts; the snapshot is unchanged: {e}"),
        ),
        Err(e) => run_error(e),
    }
}

pub(super) fn check_config(config_path: &Path) -> Exit {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => return fail_config(e),
    };
    let mut ok = true;
    for (name, connector) in &config.connectors {
        let secrets = connector
            .source
            .secret_refs()
            .into_iter()
            .chain(connector.target.secret_refs());
        for secret in secrets {
            if let Err(e) = secret.resolve() {
                eprintln!("error: {}", visible(&format!("connector {name}: {e}")));
                ok = false;
            }
        }
    }
    if !ok {
        return Exit::Config;
    }
    println!(
        "{}: valid; {} connector(s): {}",
        config_path.display(),
        config.connectors.len(),
        config
            .connectors
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Exit::Ok
}

/// Prints the error and gives its exit code. Errors quote upstream and target messages as they
/// came (an `errmsg`, a SCIM `detail`), so they are shown only as visible text, on one line.
pub(super) fn fail(exit: Exit, error: impl std::fmt::Display) -> Exit {
    eprintln!("error: {}", visible(&error.to_string()));
    exit
}

/// A configuration error: from the operator's own file and environment, and a TOML syntax error
/// spans several lines (the line, a caret under the column), which are kept.
pub(super) fn fail_config(error: ConfigError) -> Exit {
    eprintln!("error: {}", visible_lines(&error.to_string()));
    Exit::Config
}

/// Maps the command-line switches onto run options.
pub(super) fn options(mode: RunMode, full: bool, allow_deletions: bool) -> RunOptions {
    RunOptions {
        mode,
        approval: if allow_deletions {
            Approval::AllowDeletions
        } else {
            Approval::None
        },
        baseline: if full {
            Baseline::Target
        } else {
            Baseline::Snapshot
        },
    }
}
