//! The daemon's shared state: the configured connectors, the runs it knows of, and the rule
//! "one run per connector at a time; triggers during a run coalesce into one queued run".

use super::jobs::{Done, JobError, Work};
use super::metrics::Metrics;
use super::notify::Notifier;
use super::types::{
    ConnectorView, Job, JobKind, JobOutput, LastError, RunState, RunView, SyncAccepted,
};
use crate::config::{Config, ConnectorConfig};
use crate::engine::{Connector, Engine, Progress, RunContext, RunMode, RunOptions};
use crate::history::{History, RunSummary};
use crate::pullers::Puller;
use crate::pushers::Pusher;
use crate::report::{Report, RunOutcome, new_run_id};
use crate::state::StateDb;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Finished runs remembered in memory; older ones are read from the history.
const FINISHED_KEPT: usize = 256;

pub struct Shared {
    engine: Engine<StateDb>,
    stop: watch::Sender<bool>,
    inner: Mutex<Inner>,
    pub metrics: Metrics,
    pub notifier: Notifier,
    /// `[[notify]]`: IM robots and webhooks told how runs ended.
    pub notices: crate::notify::Notices,
    /// Run tasks alive; shutdown waits for zero.
    active: watch::Sender<usize>,
}

struct Inner {
    config: Config,
    history: History,
    connectors: BTreeMap<String, Slot>,
    runs: HashMap<String, RunEntry>,
    finished: VecDeque<String>,
    stopping: bool,
}

struct Slot {
    config: ConnectorConfig,
    connector: Arc<Connector>,
    running: Option<String>,
    /// Runs waiting for this one, first to start first. At most one of them is a sync: later
    /// sync triggers join it.
    queue: VecDeque<String>,
    last_error: Option<LastError>,
}

struct RunEntry {
    connector: String,
    kind: JobKind,
    mode: RunMode,
    /// What the run does; taken when it starts.
    work: Option<Work>,
    state: RunState,
    progress: watch::Receiver<Progress>,
    /// Held until the run starts, then moved into its context.
    progress_tx: Option<watch::Sender<Progress>>,
    summary: Option<RunSummary>,
    error: Option<String>,
    output: Option<JobOutput>,
}

/// A new configuration checked and its changed connectors built, not yet in effect.
pub struct PreparedReload {
    config: Config,
    /// Every connector of `config`: `None` when its settings did not change.
    connectors: BTreeMap<String, Option<Arc<Connector>>>,
}

impl PreparedReload {
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// Why a trigger was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no connector named {name:?} (configured: {known})")]
    UnknownConnector { name: String, known: String },
    #[error("orgsync is stopping; no new runs start")]
    Stopping,
    #[error(transparent)]
    Job(#[from] JobError),
}

/// Why a pending plan could not be approved or dismissed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "no plan of run {0:?} is waiting for approval (approved, dismissed, or replaced by a newer refusal)"
    )]
    NotFound(String),
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error("the state storage failed: {0}")]
    Storage(String),
}

/// Whether a run of this kind is told to the `[[notify]]` channels: the runs that keep the
/// target in step, not an operator's review, explain or rebuild (they see the outcome).
fn notifies(kind: JobKind) -> bool {
    matches!(
        kind,
        JobKind::Sync | JobKind::People | JobKind::Events | JobKind::ApplyPlan
    )
}

/// Builds every configured connector (secrets resolved, clients ready).
pub fn build_connectors(
    config: &Config,
) -> Result<BTreeMap<String, Arc<Connector>>, crate::engine::BuildError> {
    config
        .connectors
        .iter()
        .map(|(name, c)| Ok((name.clone(), Arc::new(Connector::from_config(name, c)?))))
        .collect()
}

impl Shared {
    pub fn new(
        config: Config,
        connectors: BTreeMap<String, Arc<Connector>>,
        store: Arc<StateDb>,
        history: History,
        notifier: Notifier,
        notices: crate::notify::Notices,
    ) -> Arc<Self> {
        let (stop, stop_rx) = watch::channel(false);
        let slots = connectors
            .into_iter()
            .map(|(name, connector)| {
                let slot = Slot {
                    config: config.connectors[&name].clone(),
                    connector,
                    running: None,
                    queue: VecDeque::new(),
                    last_error: None,
                };
                (name, slot)
            })
            .collect();
        Arc::new(Shared {
            engine: Engine::with_stop(store, stop_rx),
            stop,
            inner: Mutex::new(Inner {
                config,
                history,
                connectors: slots,
                runs: HashMap::new(),
                finished: VecDeque::new(),
                stopping: false,
            }),
            metrics: Metrics::with_notify(notices.metrics().clone()),
            notifier,
            notices,
            active: watch::channel(0).0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> Config {
        self.lock().config.clone()
    }

    pub fn history(&self) -> History {
        self.lock().history.clone()
    }

    pub fn store(&self) -> &Arc<StateDb> {
        self.engine.store()
    }

    /// Starts a run of `name` now, or queues one behind the run in progress, or joins the run
    /// already queued. An apply request upgrades a queued dry run (the apply reports its plan too).
    pub fn trigger(
        self: &Arc<Self>,
        name: &str,
        options: RunOptions,
    ) -> Result<SyncAccepted, TriggerError> {
        self.enqueue(name, Work::Sync(options))
    }

    /// Runs `job` on connector `name`: now, or after the runs queued before it. A sync joins
    /// the sync already queued, if any (see [`Shared::trigger`]). Reads the plan key when the
    /// job carries a plan: call it off the runtime's threads.
    pub fn submit(self: &Arc<Self>, name: &str, job: Job) -> Result<SyncAccepted, TriggerError> {
        self.known(name)?;
        let store = Arc::clone(self.store());
        let work = Work::of(job, name, move || store.plan_key().ok())?;
        self.enqueue(name, work)
    }

    fn known(&self, name: &str) -> Result<(), TriggerError> {
        let inner = self.lock();
        if inner.connectors.contains_key(name) {
            return Ok(());
        }
        Err(unknown(&inner, name))
    }

    pub(super) fn enqueue(
        self: &Arc<Self>,
        name: &str,
        work: Work,
    ) -> Result<SyncAccepted, TriggerError> {
        let mut inner = self.lock();
        if inner.stopping {
            return Err(TriggerError::Stopping);
        }
        let Some(slot) = inner.connectors.get(name) else {
            return Err(unknown(&inner, name));
        };
        let busy = slot.running.is_some();
        let queue = slot.queue.clone();
        if let Work::Sync(options) = &work {
            // A queued sync always has an entry (entries go only once finished or cancelled).
            let queued_sync = queue.iter().find_map(|id| {
                let entry = inner.runs.get(id)?;
                matches!(entry.work, Some(Work::Sync(_))).then(|| id.clone())
            });
            if let Some(run_id) = queued_sync
                && let Some(entry) = inner.runs.get_mut(&run_id)
            {
                if options.mode == RunMode::Apply {
                    entry.work = Some(Work::Sync(*options));
                    entry.mode = RunMode::Apply;
                }
                return Ok(SyncAccepted {
                    run_id,
                    connector: name.to_owned(),
                    mode: entry.mode,
                    queued: true,
                    coalesced: true,
                });
            }
        }
        let run_id = unique_run_id(&inner.runs, name);
        let (progress_tx, progress) = watch::channel(Progress::default());
        let mode = work.mode();
        inner.runs.insert(
            run_id.clone(),
            RunEntry {
                connector: name.to_owned(),
                kind: work.kind(),
                mode,
                work: Some(work),
                state: RunState::Queued,
                progress,
                progress_tx: Some(progress_tx),
                summary: None,
                error: None,
                output: None,
            },
        );
        if let Some(slot) = inner.connectors.get_mut(name).filter(|_| busy) {
            slot.queue.push_back(run_id.clone());
            info!(
                connector = name,
                run_id, "Run queued behind the one in progress."
            );
        } else {
            self.start(&mut inner, name, &run_id);
        }
        Ok(SyncAccepted {
            run_id,
            connector: name.to_owned(),
            mode,
            queued: busy,
            coalesced: false,
        })
    }

    /// Starts the run `run_id` (an entry the caller made) of connector `name`, under the lock.
    fn start(self: &Arc<Self>, inner: &mut Inner, name: &str, run_id: &str) {
        let (Some(slot), Some((entry, work))) = (
            inner.connectors.get_mut(name),
            inner
                .runs
                .get_mut(run_id)
                .and_then(|entry| entry.work.take().map(|work| (entry, work))),
        ) else {
            error!(
                connector = name,
                run_id, "Cannot start a run the daemon does not know; skipped."
            );
            return;
        };
        slot.running = Some(run_id.to_owned());
        slot.config.warn_plain_http(name);
        let connector = slot.connector.clone();
        entry.state = RunState::Running;
        let context = RunContext {
            run_id: Some(run_id.to_owned()),
            progress: entry.progress_tx.take(),
            // The daemon waits out long throttles (WeCom's hour) within its budget.
            mode: crate::config::ProcessMode::Service,
        };
        let mode = entry.mode;
        let kind = entry.kind;
        if notifies(kind) {
            tokio::spawn(crate::notify::watch_throttle(
                self.notices.clone(),
                name.to_owned(),
                run_id.to_owned(),
                entry.progress.clone(),
            ));
        }
        self.active.send_modify(|n| *n += 1);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let _alive = ActiveGuard(&this.active);
            let started_at = Timestamp::now();
            // The run in a task of its own, so a panic in it ends only that task: its join handle
            // turns the panic into a failed run, and the connector is freed, never left "running".
            let run = tokio::spawn({
                let (this, connector, context) =
                    (Arc::clone(&this), Arc::clone(&connector), context.clone());
                async move {
                    #[cfg(debug_assertions)]
                    super::debug_hooks::maybe_panic(&connector.name);
                    super::jobs::perform(&this.engine, &connector, work, &context).await
                }
            });
            let result = match run.await {
                Ok(result) => result,
                Err(joined) => Ok(Done {
                    report: Some(panicked(&connector, mode, &context, started_at, joined)),
                    ..Done::default()
                }),
            };
            if let Ok(done) = &result {
                if let Some(report) = &done.report {
                    this.record(report.clone()).await;
                }
                this.settle_pending(&connector.name, done).await;
            }
            // Told once the run is recorded; handing over never waits.
            if notifies(kind) {
                let notice = match &result {
                    Ok(done) => done
                        .report
                        .as_ref()
                        .and_then(crate::notify::Notice::of_report),
                    Err(e) => Some(crate::notify::Notice::failed_without_report(
                        &connector.name,
                        context.run_id.as_deref().unwrap_or_default(),
                        &e.to_string(),
                    )),
                };
                if let Some(notice) = notice {
                    this.notices.send(notice);
                }
            }
            this.finished(&connector.name, &context, result);
        });
    }

    /// Keeps a finished run's report in the history, on the blocking pool (a write and an fsync).
    async fn record(&self, report: Report) {
        let history = self.history();
        let run_id = report.run_id.clone();
        let recorded =
            tokio::task::spawn_blocking(move || history.record(&report).map_err(|e| e.to_string()))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = recorded {
            error!(error = %e, run_id, "Cannot keep the report in the run history.");
        }
    }

    fn finished(
        self: &Arc<Self>,
        name: &str,
        context: &RunContext,
        result: Result<Done, crate::engine::RunError>,
    ) {
        let run_id = context.run_id.clone().unwrap_or_default();
        let mut output = None;
        let mut ended = false;
        let (summary, error) = match result {
            Ok(Done {
                report: Some(report),
                output: out,
                ..
            }) => {
                output = out;
                self.metrics.observe(&report);
                let failure = match &report.outcome {
                    RunOutcome::Failed { error } => Some(error.clone()),
                    _ => None,
                };
                (Some(RunSummary::of(&report)), failure)
            }
            // A rebuild, or a plan that did not apply: no report, the output says what happened.
            Ok(Done {
                report: None,
                output: out,
                ..
            }) => {
                output = out;
                ended = true;
                (None, None)
            }
            Err(e) => {
                error!(error = %e, run_id, "The run ended without a report.");
                self.metrics.observe_error(name);
                (None, Some(e.to_string()))
            }
        };
        self.notifier.status(&match &summary {
            Some(s) => format!(
                "Last run {}: {} ({} steps)",
                s.run_id,
                super::metrics::outcome_label(&s.outcome),
                s.steps()
            ),
            None => format!("Last run {run_id}: failed without a report"),
        });
        if let Some(tx) = &context.progress {
            tx.send_modify(|p| p.stage = crate::engine::Stage::Finished);
        }
        let mut inner = self.lock();
        if let Some(entry) = inner.runs.get_mut(&run_id) {
            entry.state = if summary.is_some() || ended {
                RunState::Finished
            } else {
                RunState::Failed
            };
            entry.summary = summary;
            entry.error = error.clone();
            entry.output = output;
        }
        inner.finished.push_back(run_id.clone());
        while inner.finished.len() > FINISHED_KEPT {
            if let Some(old) = inner.finished.pop_front() {
                inner.runs.remove(&old);
            }
        }
        let stopping = inner.stopping;
        let Some(slot) = inner.connectors.get_mut(name) else {
            return; // removed by a reload while it ran
        };
        slot.running = None;
        if let Some(message) = error {
            slot.last_error = Some(LastError {
                at: Timestamp::now(),
                run_id,
                message,
            });
        }
        if let Some(next) = slot.queue.pop_front() {
            if stopping {
                cancel(&mut inner, &next);
            } else {
                self.start(&mut inner, name, &next);
            }
        }
    }

    /// Shutdown, first half: no new runs, queued runs dropped, the engine told to stop (the step in
    /// flight finishes, the rest is held).
    pub fn begin_stop(&self) {
        let mut inner = self.lock();
        inner.stopping = true;
        let queued: Vec<String> = inner
            .connectors
            .values_mut()
            .flat_map(|s| std::mem::take(&mut s.queue))
            .collect();
        for run_id in queued {
            cancel(&mut inner, &run_id);
        }
        drop(inner);
        self.stop.send_replace(true);
    }

    /// Resolves when no run task is alive.
    pub async fn idle(&self) {
        let mut active = self.active.subscribe();
        let _ = active.wait_for(|n| *n == 0).await;
    }

    /// A reload, first half: checks `config` against the running one and builds every connector
    /// whose settings changed. Nothing changes yet; an error leaves everything as it is.
    pub fn prepare_reload(&self, config: Config) -> Result<PreparedReload, String> {
        let inner = self.lock();
        if config.state_dir != inner.config.state_dir {
            return Err(format!(
                "state_dir changed from {} to {}; restart orgsync to move it",
                inner.config.state_dir.display(),
                config.state_dir.display()
            ));
        }
        if config.daemon != inner.config.daemon {
            warn!("The [daemon] settings changed; they take effect when orgsync restarts.");
        }
        let mut connectors = BTreeMap::new();
        for (name, c) in &config.connectors {
            let built = match inner.connectors.get(name) {
                Some(slot) if &slot.config == c => None,
                _ => Some(Arc::new(
                    Connector::from_config(name, c).map_err(|e| e.to_string())?,
                )),
            };
            connectors.insert(name.clone(), built);
        }
        Ok(PreparedReload { config, connectors })
    }

    /// A reload, second half (cannot fail): the prepared connectors replace the running ones. A
    /// run in progress finishes with the connector it started with.
    pub fn apply_reload(&self, prepared: PreparedReload) {
        let PreparedReload { config, connectors } = prepared;
        let mut inner = self.lock();
        let mut old = std::mem::take(&mut inner.connectors);
        for (name, built) in connectors {
            let Some(c) = config.connectors.get(&name) else {
                continue;
            };
            let slot = match (old.remove(&name), built) {
                (Some(mut slot), Some(connector)) => {
                    slot.connector = connector;
                    slot.config = c.clone();
                    slot
                }
                (Some(slot), None) => slot,
                (None, Some(connector)) => Slot {
                    config: c.clone(),
                    connector,
                    running: None,
                    queue: VecDeque::new(),
                    last_error: None,
                },
                (None, None) => {
                    // Reloads run one at a time, so an unchanged connector is still there.
                    error!(
                        connector = name,
                        "A connector vanished during the reload; it is not configured until the next one."
                    );
                    continue;
                }
            };
            inner.connectors.insert(name, slot);
        }
        for (name, slot) in old {
            info!(
                connector = name,
                "Connector removed from the configuration."
            );
            for queued in slot.queue {
                cancel(&mut inner, &queued);
            }
        }
        inner.history.set_keep(config.history.keep);
        inner.config = config;
    }

    pub fn is_running(&self) -> BTreeMap<String, bool> {
        self.lock()
            .connectors
            .iter()
            .map(|(name, slot)| (name.clone(), slot.running.is_some()))
            .collect()
    }

    /// Connectors without scheduling information (the scheduler adds the next run).
    /// Reads the history (each connector's last run): call it off the runtime's threads.
    pub fn connectors(&self) -> Vec<ConnectorView> {
        let inner = self.lock();
        let history = inner.history.clone();
        let mut views: Vec<ConnectorView> = inner
            .connectors
            .iter()
            .map(|(name, slot)| ConnectorView {
                name: name.clone(),
                source: slot.connector.puller.platform().to_string(),
                target: slot.connector.pusher.kind().to_string(),
                schedule: slot.config.schedule.clone(),
                timezone: slot.config.zone_or_utc().name,
                timezone_origin: slot.config.zone_or_utc().origin,
                jitter_ms: slot.config.jitter.map(|j| j.0.as_millis() as u64),
                next_run: None,
                running: slot.running.clone(),
                queued: slot.queue.front().cloned(),
                last_run: None,
                last_error: slot.last_error.clone(),
            })
            .collect();
        // Read after the lock is released: a slow disk must not hold up triggers and runs.
        drop(inner);
        for view in &mut views {
            view.last_run = history.latest(&view.name).ok().flatten();
        }
        views
    }

    pub fn has_connector(&self, name: &str) -> bool {
        self.lock().connectors.contains_key(name)
    }

    /// What a finished run produced besides its report, while the daemon remembers the run.
    pub fn output(&self, run_id: &str) -> Option<JobOutput> {
        self.lock().runs.get(run_id)?.output.clone()
    }

    /// A run the daemon knows of, live or from the history.
    pub fn run(&self, run_id: &str) -> Option<RunView> {
        let inner = self.lock();
        if let Some(entry) = inner.runs.get(run_id) {
            let progress = *entry.progress.borrow();
            let summary = entry.summary.as_ref();
            return Some(RunView {
                run_id: run_id.to_owned(),
                connector: entry.connector.clone(),
                kind: entry.kind,
                mode: entry.mode,
                state: entry.state,
                progress,
                outcome: summary.map(|s| s.outcome.clone()),
                started_at: summary.map(|s| s.started_at),
                finished_at: summary.and_then(|s| s.finished_at),
                counts: summary.map(|s| s.counts.clone()).unwrap_or_default(),
                error: entry.error.clone(),
            });
        }
        let history = inner.history.clone();
        drop(inner);
        let report = history.get(run_id).ok().flatten()?;
        Some(RunView::from_summary(&RunSummary::of(&report)))
    }
}

/// The report of a run whose task panicked (or was cancelled): failed, with the panic's message,
/// so the history, the metrics and `last_error` show it like any failed run.
fn panicked(
    connector: &Connector,
    mode: RunMode,
    context: &RunContext,
    started_at: Timestamp,
    joined: tokio::task::JoinError,
) -> Report {
    let why = if joined.is_panic() {
        let payload = joined.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        format!("run panicked: {message}")
    } else {
        "run task was cancelled".to_owned()
    };
    error!(
        connector = connector.name,
        run_id = context.run_id.as_deref().unwrap_or_default(),
        error = why,
        "A run ended in a panic; it counts as failed. This is a bug in orgsync: please report it with the log."
    );
    let mut report = crate::engine::start_report(connector, mode, context);
    report.started_at = started_at;
    report.finish(RunOutcome::Failed { error: why });
    report
}

fn unknown(inner: &Inner, name: &str) -> TriggerError {
    TriggerError::UnknownConnector {
        name: name.to_owned(),
        known: inner
            .connectors
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn cancel(inner: &mut Inner, run_id: &str) {
    if let Some(entry) = inner.runs.get_mut(run_id) {
        entry.state = RunState::Cancelled;
        entry.error = Some("orgsync stopped before the run started".into());
        if let Some(tx) = entry.progress_tx.take() {
            tx.send_modify(|p| p.stage = crate::engine::Stage::Finished);
        }
    }
    inner.finished.push_back(run_id.to_owned());
}

/// A run id not yet used in this process (two triggers can land in the same microsecond).
fn unique_run_id(runs: &HashMap<String, RunEntry>, connector: &str) -> String {
    let mut at = Timestamp::now();
    loop {
        let id = new_run_id(connector, at);
        if !runs.contains_key(&id) {
            return id;
        }
        at += jiff::SignedDuration::from_micros(1);
    }
}

struct ActiveGuard<'a>(&'a watch::Sender<usize>);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
