use super::remote::Finished;
use super::{Exit, ReportArgs};
use crate::config::ProcessMode;
use crate::config::{Config, ConfigError};
use crate::daemon::types::{Job, JobOutput};
use crate::engine::{
    Approval, Baseline, Connector, Engine, Progress, Reached, Rebuild, RunContext, RunError,
    RunMode, RunOptions, plan_connector, verify_plan,
};
use crate::history::History;
use crate::report::{self, Format, Report, RunOutcome};
use crate::snapshot::SnapshotError;
use crate::state::StateDb;
use crate::terminal::{visible, visible_lines};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// Everything a command needs to run a connector.
pub(super) struct Opened {
    pub(super) connector: Connector,
    pub(super) engine: Engine<StateDb>,
    history: History,
}

impl Opened {
    /// Keeps the run in the history; a failure to do so is worth a warning, not a failed run.
    pub(super) fn record(&self, result: &Result<Report, RunError>) {
        if let Ok(report) = result
            && let Err(e) = self.history.record(report)
        {
            tracing::warn!(error = %e, run_id = %report.run_id, "Cannot keep the report in the run history.");
        }
    }
}

pub(super) async fn open(config_path: &Path, name: &str) -> Result<Opened, Exit> {
    let config = Config::load(config_path).map_err(fail_config)?;
    let connector_config = config.connector(name, config_path).map_err(fail_config)?;
    let connector =
        Connector::from_config(name, connector_config).map_err(|e| fail(Exit::Config, e))?;
    let store = open_state(&config).await?;
    let history = store
        .history(config.history.keep)
        .map_err(|e| fail(Exit::State, e))?;
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
    let opened = match open(config_path, name).await {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let watched = Watched::new(&opened);
    let result = watched
        .engine
        .run_with(&opened.connector, args.options, &watched.context)
        .await;
    watched.done().await;
    opened.record(&result);
    finish(result, args.output)
}

/// A run in this process, watched from the terminal: its progress on stderr, and Ctrl-C ends
/// it as interrupted (also in a long throttle wait), not the process.
pub(super) struct Watched {
    pub(super) engine: Engine<StateDb>,
    pub(super) context: RunContext,
    printer: tokio::task::JoinHandle<()>,
}

impl Watched {
    pub(super) fn new(opened: &Opened) -> Self {
        let engine = Engine::with_stop(opened.engine.store().clone(), stop_on_signal());
        let terminal = std::io::stderr().is_terminal();
        let (progress, shown) = watch::channel(Progress::default());
        let printer = tokio::spawn(super::progress::follow_local(shown, terminal));
        let context = RunContext {
            run_id: None,
            progress: Some(progress),
            mode: mode_of(terminal),
        };
        Watched {
            engine,
            context,
            printer,
        }
    }

    /// Once the run is over: the progress printer finishes its last line.
    pub(super) async fn done(self) {
        drop(self.context);
        let _ = self.printer.await;
    }
}

/// A run from a terminal is watched: short retry budget, waits shown as they start. Output to a
/// file or a pipe (cron, CI) is a service's: it may wait out long throttles.
fn mode_of(terminal: bool) -> ProcessMode {
    if terminal {
        ProcessMode::Interactive
    } else {
        ProcessMode::Service
    }
}

/// Turns Ctrl-C (SIGINT) and SIGTERM into the engine's stop: the run ends `interrupted` with
/// nothing half-done (a pull or a throttle wait is abandoned; steps in flight finish).
fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::warn!(
            "Interrupted; stopping the run without starting new steps (Ctrl-C again quits at once)."
        );
        let _ = stop.send(true);
        // A second Ctrl-C does not wait for the steps in flight. The sender stays alive until
        // then, so the engine keeps seeing the stop.
        if tokio::signal::ctrl_c().await.is_ok() {
            // 128 + SIGINT, as a shell reports a process Ctrl-C ended.
            std::process::exit(130);
        }
        std::future::pending::<()>().await;
    });
    stopped
}

pub(super) async fn diff_and_save(
    config_path: &Path,
    name: &str,
    baseline: Baseline,
    save: &Path,
    output: ReportArgs,
) -> Exit {
    // Checked first, so the dry run is not made for nothing; write_private checks again.
    if save.exists() {
        return fail(
            Exit::Usage,
            format!(
                "{} already exists; a saved plan is never overwritten: choose another file or remove it",
                save.display()
            ),
        );
    }
    let full = baseline == Baseline::Target;
    if let Some(result) = super::remote::run_job(config_path, name, Job::Review { full }).await {
        return match result {
            Ok(Finished {
                report,
                output: Some(JobOutput::Review { plan, steps }),
            }) => {
                if let Err(e) = write_private(save, plan.as_bytes()) {
                    return fail(
                        Exit::RunFailed,
                        format!("cannot write {}: {e}", save.display()),
                    );
                }
                saved_message(config_path, steps, save);
                finish_remote(report, output)
            }
            Ok(Finished {
                output: Some(JobOutput::Refused { message, .. }),
                ..
            }) => fail(Exit::RunFailed, message),
            Ok(Finished { report, .. }) => finish_remote(report, output),
            Err(exit) => exit,
        };
    }
    let opened = match open(config_path, name).await {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let saved = match opened
        .engine
        .plan_for_review(&opened.connector, baseline)
        .await
    {
        Ok(Reached::Ready(saved)) => saved,
        Ok(Reached::Ended(report)) => {
            let result = Ok(report);
            opened.record(&result);
            return finish(result, output);
        }
        Err(e) => return run_error(e),
    };
    opened.record(&Ok(saved.report.clone()));
    let sealed = match opened.engine.store().plan_key() {
        Ok(key) => saved.seal(&key).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let written = sealed.and_then(|bytes| {
        write_private(save, &bytes).map_err(|e| format!("cannot write {}: {e}", save.display()))
    });
    if let Err(e) = written {
        return fail(Exit::RunFailed, e);
    }
    saved_message(config_path, saved.plan.steps.len(), save);
    finish(Ok(saved.report), output)
}

/// What `diff --save` says once the plan file is written: the command to run next.
fn saved_message(config_path: &Path, steps: usize, save: &Path) {
    // The command to run next, with the configuration this plan was made with: `apply` without
    // it would read the default file, and another state directory's key refuses the plan.
    let config_option = if config_path == Path::new(super::DEFAULT_CONFIG) {
        String::new()
    } else {
        format!("--config {} ", config_path.display())
    };
    eprintln!(
        "Saved the plan ({steps} steps) to {}. Review it, then run `orgsync {config_option}apply {}`.",
        save.display(),
        save.display()
    );
}

/// A report in full, as text: what `explain` and `snapshot rebuild` print when a run ended early.
const TEXT: ReportArgs = ReportArgs {
    format: Format::Text,
    limit: None,
};

/// Prints a report the daemon sent back; a run that left none has said why already.
fn finish_remote(report: Option<Report>, output: ReportArgs) -> Exit {
    match report {
        Some(report) => finish(Ok(report), output),
        None => fail(Exit::RunFailed, "the run left no report"),
    }
}

pub(super) async fn apply(
    config_path: &Path,
    plan_path: &Path,
    approval: Approval,
    output: ReportArgs,
) -> Exit {
    let bytes = match std::fs::read(plan_path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return fail(
                Exit::StalePlan,
                format!("cannot read the plan {}: {e}", plan_path.display()),
            );
        }
    };
    // The seal's key lives in the state directory of the connector the plan names: that much
    // of the file is read before the seal is checked, nothing more.
    let connector = match plan_connector(&bytes) {
        Ok(connector) => connector,
        Err(e) => return fail(Exit::StalePlan, format!("{}: {e}", plan_path.display())),
    };
    // A plan of a connector this configuration does not have was made with another one: the
    // plan does not apply here (exit 7), the configuration is not wrong.
    if let Ok(config) = Config::load(config_path)
        && !config.connectors.contains_key(&connector)
    {
        let configured: Vec<&str> = config.connectors.keys().map(String::as_str).collect();
        return fail(
            Exit::StalePlan,
            format!(
                "{}: the plan is for connector {connector}, which {} does not have (configured: \
                 {}); nothing was applied. Apply it with the configuration it was made with \
                 (`--config`)",
                plan_path.display(),
                config_path.display(),
                if configured.is_empty() {
                    "none".to_owned()
                } else {
                    configured.join(", ")
                }
            ),
        );
    }
    apply_sealed(
        config_path,
        &plan_path.display().to_string(),
        &connector,
        &bytes,
        approval,
        output,
    )
    .await
}

/// Applies a sealed plan's bytes (named `label` in messages) of `connector`: in the daemon when
/// one answers, else in this process.
pub(super) async fn apply_sealed(
    config_path: &Path,
    label: &str,
    connector: &str,
    bytes: &[u8],
    approval: Approval,
    output: ReportArgs,
) -> Exit {
    // The daemon holds the key and the snapshot: it checks the seal and applies the plan.
    let job = || {
        Some(Job::ApplyPlan {
            plan: String::from_utf8(bytes.to_vec()).ok()?,
            allow_deletions: approval == Approval::AllowDeletions,
        })
    };
    if let Some(job) = job()
        && let Some(result) = super::remote::run_job(config_path, connector, job).await
    {
        return match result {
            Ok(Finished {
                output: Some(JobOutput::Refused { message, .. }),
                ..
            }) => fail(Exit::StalePlan, format!("{label}: {message}")),
            Ok(Finished { report, .. }) => finish_remote(report, output),
            Err(exit) => exit,
        };
    }
    let opened = match open(config_path, connector).await {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let verified = match opened.engine.store().plan_key() {
        Ok(key) => verify_plan(bytes, &key),
        Err(e) => return fail(Exit::State, e),
    };
    let saved = match verified {
        Ok(saved) => saved,
        Err(e) => return fail(Exit::StalePlan, format!("{label}: {e}")),
    };
    let result = opened
        .engine
        .apply_saved(&opened.connector, saved, approval)
        .await;
    opened.record(&result);
    finish(result, output)
}

/// `orgsync explain NAME QUERY`: the one person the query names explained, or everyone it
/// matches listed (exit 0), or nobody (exit 1). Through the daemon when one runs.
pub(super) async fn explain(config_path: &Path, name: &str, query: &str) -> Exit {
    let job = Job::Explain {
        user: query.to_owned(),
    };
    if let Some(result) = super::remote::run_job(config_path, name, job).await {
        return match result {
            Ok(Finished {
                output: Some(JobOutput::Explain { matches, lines }),
                ..
            }) => print_explained(&matches, &lines),
            Ok(Finished { report, .. }) => finish_remote(report, TEXT),
            Err(exit) => exit,
        };
    }
    let opened = match open(config_path, name).await {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    match opened.engine.explain(&opened.connector, query).await {
        Ok(Reached::Ready(explained)) => print_explained(&explained.matches, &explained.lines),
        Ok(Reached::Ended(report)) => finish(Ok(report), TEXT),
        Err(e) => run_error(e),
    }
}

/// Prints an explanation, and the people matched when several were: 0 when anyone matched.
fn print_explained(matches: &[crate::daemon::types::PersonMatch], lines: &[String]) -> Exit {
    // The sentences quote upstream names as they are: shown, never acted on.
    for line in lines {
        println!("{}", visible(line));
    }
    if matches.len() > 1 {
        for line in match_lines(matches) {
            println!("{}", visible(&line));
        }
    }
    if matches.is_empty() {
        Exit::RunFailed
    } else {
        Exit::Ok
    }
}

/// One line per person a query matched: id, name, e-mail and department paths, to tell
/// namesakes apart.
pub(super) fn match_lines(matches: &[crate::daemon::types::PersonMatch]) -> Vec<String> {
    matches
        .iter()
        .map(|m| {
            let departments = if m.departments.is_empty() {
                "no department".to_owned()
            } else {
                m.departments.join("; ")
            };
            format!(
                "  {}  {}  {}  {}",
                m.key,
                m.name,
                m.email.as_deref().unwrap_or("(no e-mail)"),
                departments
            )
        })
        .collect()
}

pub(super) fn finish(result: Result<Report, RunError>, output: ReportArgs) -> Exit {
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
        RunError::StalePlan { .. } | RunError::WrongConnector { .. } | RunError::PlanFile(_) => {
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
    if let Some(result) = super::remote::run_job(config_path, name, Job::Rebuild).await {
        return match result {
            Ok(Finished {
                output: Some(JobOutput::Rebuild { lines }),
                ..
            }) => {
                for line in lines {
                    println!("{}", visible(&line));
                }
                Exit::Ok
            }
            Ok(Finished {
                output: Some(JobOutput::Refused { message, .. }),
                ..
            }) => fail(Exit::RunFailed, message),
            Ok(Finished { report, .. }) => finish_remote(report, TEXT),
            Err(exit) => exit,
        };
    }
    let opened = match open(config_path, name).await {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    match opened.engine.rebuild_snapshot(&opened.connector).await {
        Ok(Rebuild::Rebuilt(rebuilt)) => {
            // Another system's ids and externalIds: the target's text, shown, never acted on.
            for line in rebuilt.lines(name) {
                println!("{}", visible(&line));
            }
            Exit::Ok
        }
        Ok(Rebuild::Failed(e)) => fail(Exit::RunFailed, format!("{e}; the snapshot is unchanged")),
        Err(e) => run_error(e),
    }
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

/// Writes a new file only orgsync's user can read (plans carry names and e-mail addresses); an
/// existing file is never overwritten, so a plan under review cannot be swapped silently.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Opens the state directory. When another process holds it, says which and what to do: a
/// running daemon serves every command itself, so getting here with the daemon holding the
/// state means its socket did not answer this configuration; another command is waited for.
pub(super) async fn open_state(config: &Config) -> Result<StateDb, Exit> {
    let error = match StateDb::open(&config.state_dir) {
        Ok(store) => return Ok(store),
        Err(error) => error,
    };
    let SnapshotError::Locked { owner, .. } = &error else {
        return Err(fail(Exit::State, error));
    };
    let socket = crate::daemon::socket_of(config);
    let daemon_answers = matches!(
        crate::daemon::client::Client::connect(&socket).await,
        Ok(Some(_))
    );
    let held_by_daemon = owner.as_ref().is_some_and(|o| o.command == "run");
    fail(Exit::State, &error);
    let hint = if daemon_answers {
        format!(
            "hint: the orgsync daemon holds it and answers on {}; run the command again (it \
             goes through the daemon).",
            socket.display()
        )
    } else if held_by_daemon {
        format!(
            "hint: the orgsync daemon holds it, but nothing answers on {}, the admin socket this \
             configuration names ([daemon] socket). Run the command with the configuration the \
             daemon was started with (`--config`), or as a user allowed to use the socket \
             (group orgsync); if the daemon hangs, restart it (`systemctl restart orgsync`).",
            socket.display()
        )
    } else {
        "hint: another orgsync command is using it; run this one again when that one has \
         finished (or stop it)."
            .to_owned()
    };
    eprintln!("{}", visible(&hint));
    Err(Exit::State)
}
