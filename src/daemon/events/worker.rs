//! One connector's event worker: gathers its events for `window`, decides (events::coalesce),
//! submits one run and waits for it, and only then removes the events it answered from the
//! state. A kill at any point loses nothing: the events stay until their run has finished, and a
//! new worker starts with them.

use crate::config::EventsConfig;
use crate::daemon::state::{Shared, TriggerError};
use crate::daemon::types::{Job, RunState, RunView};
use crate::events::StoredEvent;
use crate::events::coalesce::{Coalesced, coalesce};
use crate::report::{EventsReach, EventsReport, RunOutcome};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

/// Waits before a failed run's events are run again; after the last, they are dropped.
const RETRY_AFTER: [Duration; 3] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];

/// How often a waiting worker looks at its run.
const POLL: Duration = Duration::from_millis(50);

/// What became of the run that answered a batch of events.
enum Ended {
    /// It finished (applied, or refused by the deletion guard: the plan waits for approval):
    /// its events are consumed.
    Consumed(Option<Timestamp>),
    /// It failed or was cut short: its events stay for another try.
    Failed(String),
    /// The daemon is stopping.
    Stopping,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    name: String,
    events: EventsConfig,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0usize;
    let mut prune = tokio::time::interval(events.max_age.0);
    // The first round reads what the state kept from before a restart.
    wake.notify_one();
    loop {
        tokio::select! {
            () = wake.notified() => {}
            _ = prune.tick() => {
                prune_seen(&shared, &name, &events).await;
                continue;
            }
            () = stopped(&mut stop) => return,
        }
        // Gather: the changes of a burst arrive over a few seconds.
        if sleep_or_stop(events.window.0, &mut stop).await {
            return;
        }
        let queued = {
            let (shared, name) = (Arc::clone(&shared), name.clone());
            tokio::task::spawn_blocking(move || shared.store().queued_events(&name)).await
        };
        let queued = match queued {
            Ok(Ok(queued)) => queued,
            Ok(Err(e)) => {
                error!(connector = name, error = %e, "Cannot read the queued events; trying again later.");
                if sleep_or_stop(RETRY_AFTER[0], &mut stop).await {
                    return;
                }
                wake.notify_one();
                continue;
            }
            Err(_) => continue,
        };
        if queued.is_empty() {
            continue;
        }
        let (seqs, batch): (Vec<u64>, Vec<StoredEvent>) = queued.into_iter().unzip();
        let report = match coalesce(&batch, events.full_run_above) {
            Coalesced::Nothing => {
                info!(
                    connector = name,
                    events = batch.len(),
                    "Events about nothing orgsync syncs; no run."
                );
                remove(&shared, &name, seqs).await;
                continue;
            }
            Coalesced::Run(report) => report,
        };
        let reach = reach_label(&report);
        let count = report.events;
        match run_to_end(&shared, &name, report, &mut stop).await {
            Ended::Consumed(finished_at) => {
                failures = 0;
                remove(&shared, &name, seqs).await;
                shared.metrics.events.run(&name, reach, count);
                let end = finished_at.unwrap_or_else(Timestamp::now);
                for event in &batch {
                    let from = event.occurred_at.unwrap_or(event.received_at);
                    let lag = end.duration_since(from).as_secs_f64().max(0.0);
                    shared.metrics.events.lag(&name, lag);
                }
            }
            Ended::Stopping => return,
            Ended::Failed(why) => {
                let Some(wait) = RETRY_AFTER.get(failures).copied() else {
                    warn!(
                        connector = name,
                        events = count,
                        error = why,
                        "Runs for these events kept failing; they are dropped, and the next \
                         scheduled run reconciles what they announced."
                    );
                    failures = 0;
                    remove(&shared, &name, seqs).await;
                    continue;
                };
                failures += 1;
                warn!(
                    connector = name,
                    events = count,
                    error = why,
                    retry_in_s = wait.as_secs(),
                    "The run for these events failed; they are kept and run again."
                );
                if sleep_or_stop(wait, &mut stop).await {
                    return;
                }
                wake.notify_one();
            }
        }
    }
}

/// Submits the run and waits until it has ended.
async fn run_to_end(
    shared: &Arc<Shared>,
    name: &str,
    report: EventsReport,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let accepted = match shared.submit(name, Job::Events(report)) {
        Ok(accepted) => accepted,
        Err(TriggerError::Stopping) => return Ended::Stopping,
        Err(e) => return Ended::Failed(e.to_string()),
    };
    loop {
        // A stopping daemon interrupts the run; its events stay for the next start.
        if sleep_or_stop(POLL, stop).await {
            return Ended::Stopping;
        }
        let Some(view) = shared.run(&accepted.run_id) else {
            return Ended::Failed("the run is no longer known".into());
        };
        if let Some(ended) = ended(&view) {
            return ended;
        }
    }
}

fn ended(view: &RunView) -> Option<Ended> {
    match view.state {
        RunState::Queued | RunState::Running => None,
        RunState::Cancelled => Some(Ended::Stopping),
        RunState::Failed => Some(Ended::Failed(
            view.error.clone().unwrap_or_else(|| "no report".into()),
        )),
        RunState::Finished => Some(match &view.outcome {
            Some(RunOutcome::Applied | RunOutcome::Refused { .. } | RunOutcome::Planned) => {
                Ended::Consumed(view.finished_at)
            }
            Some(RunOutcome::Failed { error }) => Ended::Failed(error.clone()),
            Some(other) => Ended::Failed(format!(
                "the run ended {}",
                crate::daemon::outcome_label(other)
            )),
            None => Ended::Failed("the run ended without a report".into()),
        }),
    }
}

fn reach_label(report: &EventsReport) -> &'static str {
    match report.reach {
        EventsReach::People { .. } => "people",
        EventsReach::Everyone { .. } => "everyone",
    }
}

/// Sleeps `wait`; true when the worker was told to stop meanwhile.
async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = stopped(stop) => return true,
    }
    *stop.borrow()
}

/// Resolves once the worker is told to stop (or its hub is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn remove(shared: &Arc<Shared>, name: &str, seqs: Vec<u64>) {
    let (store, connector) = (Arc::clone(shared.store()), name.to_owned());
    let removed = tokio::task::spawn_blocking(move || store.remove_events(&connector, &seqs)).await;
    if let Ok(Err(e)) = removed {
        error!(
            connector = name,
            error = %e,
            "Cannot remove answered events from the state; they will be run again."
        );
    }
}

/// Forgets de-duplication keys older than twice `max_age`: older requests are refused by their
/// timestamp anyway.
async fn prune_seen(shared: &Arc<Shared>, name: &str, events: &EventsConfig) {
    let before = Timestamp::now()
        - jiff::SignedDuration::try_from(events.max_age.0 * 2).unwrap_or(jiff::SignedDuration::MAX);
    let (store, connector) = (Arc::clone(shared.store()), name.to_owned());
    let pruned =
        tokio::task::spawn_blocking(move || store.prune_seen_events(&connector, before)).await;
    if let Ok(Err(e)) = pruned {
        warn!(connector = name, error = %e, "Cannot prune the events seen; trying again later.");
    }
}
