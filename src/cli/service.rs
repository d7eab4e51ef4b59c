//! Commands that talk to the daemon, or stand in for it when none runs: `run`, `status`,
//! `reports`, and `sync` through the daemon.

use super::{Exit, ReportArgs};
use crate::config::Config;
use crate::daemon::client::{Client, ClientError};
use crate::daemon::types::{RunState, RunView, SyncRequest};
use crate::daemon::{self, DaemonError};
use crate::engine::{Approval, Baseline, RunMode, RunOptions};
use crate::history::{History, RunSummary};
use crate::report::{self, Format, Report};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use super::commands::{fail, fail_config};
use super::progress;
use crate::terminal::visible;

/// One line of output. Names, run ids and messages come from the configuration, the daemon and,
/// through error messages, from upstreams and targets: shown, never acted on by the terminal.
fn say(line: &str) {
    println!("{}", visible(line));
}

/// `orgsync run`: the daemon, until SIGTERM or SIGINT; SIGHUP reloads.
pub(super) async fn run(config_path: &Path) -> Exit {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return fail(Exit::RunFailed, "cannot install signal handlers");
    };
    let (reload_tx, reload) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            if reload_tx.send(()).await.is_err() {
                break;
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "Asked to stop."),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "Asked to stop."),
        }
    };
    match daemon::run(config_path, shutdown, reload).await {
        Ok(()) => Exit::Ok,
        Err(DaemonError::Config(e)) => fail_config(e),
        Err(e) => {
            let exit = match &e {
                DaemonError::Config(_)
                | DaemonError::Build(_)
                | DaemonError::Token(_)
                | DaemonError::Web(_)
                | DaemonError::Events(_)
                | DaemonError::Notify(_) => Exit::Config,
                DaemonError::State(_) | DaemonError::History(_) | DaemonError::Listen(_) => {
                    Exit::State
                }
                DaemonError::Scheduler(_) => Exit::RunFailed,
            };
            fail(exit, e)
        }
    }
}

/// The daemon of this configuration, if one answers on its socket.
pub(super) async fn daemon_of(config_path: &Path) -> Result<(Config, Option<Client>), Exit> {
    let config = Config::load(config_path).map_err(fail_config)?;
    let client = match Client::connect(&daemon::socket_of(&config)).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!(
                "warning: {}; working on the state directory directly",
                visible(&e.to_string())
            );
            None
        }
    };
    Ok((config, client))
}

/// `orgsync sync` when a daemon runs: hand the run over, optionally follow it to its report.
/// `None`: there is no daemon; the caller runs in-process.
pub(super) async fn sync_via_daemon(
    config_path: &Path,
    name: &str,
    options: RunOptions,
    wait: bool,
    output: ReportArgs,
) -> Option<Exit> {
    let (_, client) = match daemon_of(config_path).await {
        Ok(found) => found,
        Err(_) => return None, // the in-process path reports the config error
    };
    let client = client?;
    let request = SyncRequest {
        mode: Some(match options.mode {
            RunMode::Apply => daemon::types::ModeParam::Apply,
            RunMode::DryRun => daemon::types::ModeParam::DryRun,
        }),
        full: options.baseline == Baseline::Target,
        allow_deletions: options.approval == Approval::AllowDeletions,
    };
    let accepted = match client.sync(name, &request).await {
        Ok(accepted) => accepted,
        Err(e) => return Some(client_error(e)),
    };
    let how = match (accepted.queued, accepted.coalesced) {
        (_, true) => "joined the run already queued",
        (true, false) => "queued behind the run in progress",
        (false, false) => "started",
    };
    eprintln!(
        "{}",
        visible(&format!(
            "Run {} ({}) {how} by the orgsync daemon.",
            accepted.run_id, accepted.mode
        ))
    );
    if !wait {
        say(&accepted.run_id);
        return Some(Exit::Ok);
    }
    let view = match follow(&client, &accepted.run_id).await {
        Ok(view) => view,
        Err(e) => return Some(client_error(e)),
    };
    if view.state != RunState::Finished {
        return Some(fail(
            Exit::RunFailed,
            format!(
                "run {} ended without a report: {}",
                view.run_id,
                view.error.unwrap_or_default()
            ),
        ));
    }
    Some(match client.report(&accepted.run_id).await {
        Ok(report) => print_report(&report, output),
        Err(e) => client_error(e),
    })
}

/// Polls the run until it ends: a progress bar on a terminal, a line per change otherwise
/// (both on stderr, so stdout carries only the report). Ctrl-C stops following, not the run:
/// the run is the daemon's, which waits out long throttles within its budget, so the process
/// says where to find it and ends as a shell expects of Ctrl-C.
pub(super) async fn follow(client: &Client, run_id: &str) -> Result<RunView, ClientError> {
    tokio::select! {
        followed = poll_until_done(client, run_id) => followed,
        Ok(()) = tokio::signal::ctrl_c() => {
            if std::io::stderr().is_terminal() {
                eprintln!();
            }
            eprintln!(
                "stopped following run {run_id}; it goes on in the daemon: `orgsync status` \
                 shows where it is, `orgsync reports show {run_id}` its report once it ends"
            );
            // 128 + SIGINT, as a shell reports a process Ctrl-C ended.
            std::process::exit(130)
        }
    }
}

async fn poll_until_done(client: &Client, run_id: &str) -> Result<RunView, ClientError> {
    let terminal = std::io::stderr().is_terminal();
    let mut last: Option<(RunState, crate::engine::Progress)> = None;
    let mut shown = None;
    loop {
        let view = client.run(run_id).await?;
        let now = (view.state, view.progress);
        if last != Some(now) {
            if let Some(line) =
                progress::line(view.state, &view.progress, view.is_done(), terminal, shown)
            {
                progress::show(&line, terminal);
                shown = Some(progress::shown(&view.progress));
            }
            last = Some(now);
        }
        if view.is_done() {
            if terminal {
                eprintln!();
            }
            return Ok(view);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_report(report: &Report, output: ReportArgs) -> Exit {
    print!(
        "{}",
        report::render_with(report, output.format, &output.options())
    );
    super::commands::exit_of(&report.outcome)
}

pub(super) fn client_error(e: ClientError) -> Exit {
    match &e {
        ClientError::Refused { status: 404, .. } => fail(Exit::Config, e),
        _ => fail(Exit::RunFailed, e),
    }
}

/// Where `status` and `reports` read from: the daemon, or the state directory itself.
enum Source {
    Daemon(Client),
    Local(History),
}

async fn source(config_path: &Path) -> Result<(Config, Source), Exit> {
    let (config, client) = daemon_of(config_path).await?;
    if let Some(client) = client {
        return Ok((config, Source::Daemon(client)));
    }
    let store = super::commands::open_state(&config).await?;
    let history = store
        .history(config.history.keep)
        .map_err(|e| fail(Exit::State, e))?;
    Ok((config, Source::Local(history)))
}

impl Source {
    async fn list(&self, connector: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, Exit> {
        match self {
            Source::Daemon(client) => client.runs(connector, limit).await.map_err(client_error),
            Source::Local(history) => history
                .list(connector, limit)
                .map_err(|e| fail(Exit::State, e)),
        }
    }

    async fn report(&self, run_id: &str) -> Result<Report, Exit> {
        let found = match self {
            Source::Daemon(client) => match client.report(run_id).await {
                Ok(report) => Some(report),
                Err(ClientError::Refused { status: 404, .. }) => None,
                Err(e) => return Err(client_error(e)),
            },
            Source::Local(history) => history.get(run_id).map_err(|e| fail(Exit::State, e))?,
        };
        // Asking for a run that is not there is a wrong argument, not a wrong configuration.
        found.ok_or_else(|| {
            fail(
                Exit::Usage,
                format!("no run {run_id:?} in the history (see `orgsync reports list`)"),
            )
        })
    }
}

/// `orgsync status`: every connector with its schedule, next and last run.
pub(super) async fn status(config_path: &Path, format: Format) -> Exit {
    let (config, client) = match daemon_of(config_path).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    let Some(client) = client else {
        eprintln!(
            "{}",
            visible(&format!(
                "orgsync is not running (no daemon answers on {}).",
                daemon::socket_of(&config).display()
            ))
        );
        let (_, source) = match source(config_path).await {
            Ok(found) => found,
            Err(exit) => return exit,
        };
        for (name, connector) in &config.connectors {
            match source.list(Some(name), 1).await {
                Ok(runs) => match runs.first() {
                    Some(run) => say(&format!("{name}: last run {}", summary_line(run))),
                    None => say(&format!("{name}: never run")),
                },
                Err(exit) => return exit,
            }
            // What the daemon would do, from the configuration: the schedule in its zone.
            let zone = connector.zone_or_utc();
            let (zone_name, origin, tz) = (zone.name.clone(), zone.origin, zone.zone.clone());
            match connector.schedule_in(zone) {
                Ok(Some(schedule)) => say(&format!(
                    "  schedule  {} in {}; next run {} once the daemon runs",
                    connector.schedule.as_deref().unwrap_or_default(),
                    zone_line(&zone_name, origin),
                    schedule
                        .next_after(jiff::Timestamp::now())
                        .map(|at| at
                            .to_zoned(tz)
                            .strftime("%Y-%m-%d %H:%M:%S %:z")
                            .to_string())
                        .unwrap_or_else(|| "never".into())
                )),
                Ok(None) => say("  schedule  on demand only"),
                Err(e) => say(&format!("  schedule  invalid: {e}")),
            }
        }
        return Exit::Ok;
    };
    let connectors = match client.connectors().await {
        Ok(connectors) => connectors,
        Err(e) => return client_error(e),
    };
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&connectors).unwrap_or_default()
        );
        return Exit::Ok;
    }
    say(&format!(
        "orgsync is running ({} connector(s)).",
        connectors.len()
    ));
    for c in &connectors {
        println!();
        say(&format!("{} ({} → {})", c.name, c.source, c.target));
        say(&format!(
            "  schedule  {}",
            c.schedule.as_deref().unwrap_or("on demand only")
        ));
        say(&format!(
            "  timezone  {}",
            zone_line(&c.timezone, c.timezone_origin)
        ));
        if let Some(next) = c.next_run {
            // In the schedule's zone, as the schedule reads; the offset says where that is.
            let zone = jiff::tz::TimeZone::get(&c.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
            say(&format!(
                "  next run  {}",
                next.to_zoned(zone).strftime("%Y-%m-%d %H:%M:%S %:z")
            ));
        }
        if let Some(run) = &c.running {
            // Where the run is: a pull's calls, people and any wait ("throttled by wecom, …").
            let at = match client.run(run).await {
                Ok(view) => progress::line(view.state, &view.progress, false, false, None)
                    .map(|line| format!(" ({line})"))
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            say(&format!("  running   {run}{at}"));
        }
        if let Some(run) = &c.queued {
            say(&format!("  queued    {run}"));
        }
        match &c.last_run {
            Some(run) => say(&format!("  last run  {}", summary_line(run))),
            None => say("  last run  none"),
        }
        // The message quotes the upstream's or the target's own words.
        if let Some(e) = &c.last_error {
            say(&format!(
                "  last error {} ({}): {}",
                e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                e.run_id,
                e.message
            ));
        }
    }
    Exit::Ok
}

fn zone_line(name: &str, origin: crate::config::ZoneOrigin) -> String {
    use crate::config::ZoneOrigin;
    match origin {
        ZoneOrigin::Configured => name.to_owned(),
        ZoneOrigin::System => format!("{name} (the system's local zone)"),
        ZoneOrigin::UtcFallback => {
            format!("{name} (the system's zone cannot be determined; set connectors.NAME.timezone)")
        }
    }
}

fn summary_line(run: &RunSummary) -> String {
    let events = match run.events {
        Some(1) => "  (1 upstream event)".to_owned(),
        Some(n) => format!("  ({n} upstream events)"),
        None => String::new(),
    };
    format!(
        "{}  {}  {}  {}  {} steps{events}",
        run.run_id,
        run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        run.mode,
        crate::daemon::outcome_label(&run.outcome),
        run.steps()
    )
}

/// `orgsync reports list`.
pub(super) async fn list(
    config_path: &Path,
    connector: Option<&str>,
    limit: usize,
    format: Format,
) -> Exit {
    let (config, source) = match source(config_path).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    if let Some(name) = connector
        && !config.connectors.contains_key(name)
        && let Err(e) = config.connector(name, config_path)
    {
        return fail(Exit::Config, e);
    }
    let runs = match source.list(connector, limit).await {
        Ok(runs) => runs,
        Err(exit) => return exit,
    };
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).unwrap_or_default()
        );
        return Exit::Ok;
    }
    if runs.is_empty() {
        eprintln!("No runs in the history yet.");
        return Exit::Ok;
    }
    let width = runs
        .iter()
        .map(|r| visible(&r.run_id).len())
        .max()
        .unwrap_or(6);
    println!(
        "{:<width$}  {:<23}  {:<7}  {:<17}  STEPS",
        "RUN", "STARTED", "MODE", "OUTCOME"
    );
    for r in &runs {
        println!(
            "{:<width$}  {:<23}  {:<7}  {:<17}  {}",
            visible(&r.run_id),
            r.started_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
            r.mode.to_string(),
            crate::daemon::outcome_label(&r.outcome),
            r.steps()
        );
    }
    Exit::Ok
}

/// `orgsync reports show RUN`.
pub(super) async fn show(config_path: &Path, run_id: &str, output: ReportArgs) -> Exit {
    let (_, source) = match source(config_path).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    match source.report(run_id).await {
        Ok(report) => {
            print!(
                "{}",
                report::render_with(&report, output.format, &output.options())
            );
            Exit::Ok
        }
        Err(exit) => exit,
    }
}

/// `orgsync reports compare A B`.
pub(super) async fn compare(config_path: &Path, a: &str, b: &str, output: ReportArgs) -> Exit {
    let (_, source) = match source(config_path).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    let (a, b) = match (source.report(a).await, source.report(b).await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(exit), _) | (_, Err(exit)) => return exit,
    };
    if a.connector != b.connector {
        eprintln!(
            "{}",
            visible(&format!(
                "warning: comparing runs of two connectors ({} and {})",
                a.connector, b.connector
            ))
        );
    }
    let comparison = report::compare(&a, &b);
    match report::render_comparison(&comparison, output.format, &output.options()) {
        Some(text) => {
            print!("{text}");
            Exit::Ok
        }
        None => fail(
            Exit::Usage,
            "a comparison has text, markdown and json forms, not html",
        ),
    }
}
