use super::Connector;
use super::HeldReason;
use super::apply::{Applier, StepOutcome};
use super::options::{Approval, Baseline, RunMode, RunOptions};
use super::people::{self, Whom};
use super::progress::{RunContext, Stage, stopped};
use crate::model::Problem;
use crate::plan;
use crate::pullers::Puller;
use crate::pullers::http::PullCounts;
use crate::pushers::{PushError, Pusher};
use crate::report::{PullSummary, Report, RunOutcome, StepReport};
use crate::snapshot::{SnapshotError, SnapshotStore};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tracing::{debug, error, info, instrument};

/// How often a pull's counts are published while it runs.
const PUBLISH_PULL_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("connector {0} is already running")]
    AlreadyRunning(String),
    #[error("the plan was made for connector {plan}, not {connector}")]
    WrongConnector { plan: String, connector: String },
    #[error(
        "the snapshot of connector {connector} has changed since the plan was made (another sync ran, or this plan was applied \
         already); \
         make a new plan with `orgsync diff {connector} --save FILE` and review it again"
    )]
    StalePlan { connector: String },
    #[error(transparent)]
    PlanFile(#[from] super::saved::PlanFileError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// Runs connectors against one snapshot store, at most one run per connector at a time.
pub struct Engine<S> {
    store: Arc<S>,
    running: Mutex<HashSet<String>>,
    /// Set when orgsync shuts down: pulls are abandoned, no new step starts.
    stop: watch::Receiver<bool>,
}

/// Releases the per-connector lock however the run ends.
pub(super) struct RunGuard<'a> {
    running: &'a Mutex<HashSet<String>>,
    name: String,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
    }
}

/// How far a run got: as far as the caller asked (`Ready`), or it ended early with its report
/// (the pull failed, the target refused its check or its listing, orgsync is stopping).
#[allow(
    clippy::large_enum_variant,
    reason = "one value per run, returned once: its size does not matter"
)]
pub enum Reached<T> {
    Ready(T),
    Ended(Report),
}

/// Whether the target's check already ran in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetCheck {
    /// Checked before planning.
    Passed,
    /// Not yet (a reviewed plan applied later): checked before the first write.
    Pending,
}

/// A run planned and judged by the guard, not yet applied.
pub(crate) struct Prepared {
    pub(crate) report: Report,
    pub(crate) plan: plan::Plan,
    /// Where applying starts: the stored snapshot, or the one rebuilt from the target.
    pub(crate) start: crate::snapshot::Snapshot,
    /// Whether `start` replaces the stored snapshot before applying.
    pub(crate) rebuild: bool,
    pub(crate) verdict: plan::Verdict,
    pub(crate) directory: crate::model::Directory,
    /// What the plan was computed against.
    pub(crate) baseline: crate::snapshot::Snapshot,
    /// Digest of the stored snapshot when planning started; only a dry run (which a saved plan
    /// is made from) computes it, as it serializes the whole snapshot.
    pub(crate) stored_digest: Option<String>,
    pub(crate) target_check: TargetCheck,
}

impl<S: SnapshotStore> Engine<S> {
    pub fn new(store: Arc<S>) -> Self {
        // Nobody holds the sender: this engine is never asked to stop.
        let (_, stop) = watch::channel(false);
        Self::with_stop(store, stop)
    }

    /// An engine that stops starting work once `stop` turns true.
    pub fn with_stop(store: Arc<S>, stop: watch::Receiver<bool>) -> Self {
        Engine {
            store,
            running: Mutex::new(HashSet::new()),
            stop,
        }
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    pub(super) fn lock(&self, name: &str) -> Result<RunGuard<'_>, RunError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if !running.insert(name.to_owned()) {
            return Err(RunError::AlreadyRunning(name.to_owned()));
        }
        Ok(RunGuard {
            running: &self.running,
            name: name.to_owned(),
        })
    }

    /// One run. Upstream and target failures end in a report with a failed outcome; only state
    /// storage failures (the snapshot cannot be trusted) and a concurrent run are errors.
    pub async fn run<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: impl Into<RunOptions>,
    ) -> Result<Report, RunError> {
        self.run_with(connector, options.into(), &RunContext::default())
            .await
    }

    /// A run with a caller-chosen id and progress reporting (the daemon).
    #[instrument(level = "info", skip(self, connector, options, context), fields(connector = %connector.name))]
    pub async fn run_with<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: RunOptions,
        context: &RunContext,
    ) -> Result<Report, RunError> {
        let _guard = self.lock(&connector.name)?;
        info!(mode = %options.mode, "Run started.");
        let prepared = match self.prepare(connector, options, context).await? {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok(report),
        };
        self.execute(connector, prepared, options.mode, options.approval, context)
            .await
    }

    /// Adds a pull's calls to metered endpoints to the month's count in the store and returns
    /// the month's totals. A count that cannot be stored is logged, never a failed run: it is
    /// a figure for the admin, not state a run depends on.
    async fn count_metered<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        stats: &crate::pullers::PullStats,
    ) -> std::collections::BTreeMap<String, u64> {
        let calls: std::collections::BTreeMap<String, u64> = connector
            .puller
            .metered_endpoints()
            .iter()
            .filter_map(|&e| {
                stats
                    .calls
                    .get(e)
                    .filter(|&&n| n > 0)
                    .map(|&n| (e.to_owned(), n))
            })
            .collect();
        if calls.is_empty() {
            return calls;
        }
        let month = super::storage::quota_month(jiff::Timestamp::now());
        let name = connector.name.clone();
        let counted = calls.clone();
        match super::storage::blocking(self.store(), move |store| {
            store.count_metered_calls(&name, &month, &counted)
        })
        .await
        {
            Ok(totals) => totals,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot store this month's count of quota-counted calls; the report shows this run's only.");
                calls
            }
        }
    }

    /// Checks the target, pulls, reads the baseline (snapshot, or the target's accounts) and
    /// plans, for everyone: [`Engine::prepare_for`] of [`Whom::Everyone`].
    pub(crate) async fn prepare<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: RunOptions,
        context: &RunContext,
    ) -> Result<Reached<Box<Prepared>>, RunError> {
        self.prepare_for(connector, options, Whom::Everyone, context)
            .await
    }

    /// Checks the target, pulls, reads the baseline (snapshot, or the target's accounts) and
    /// plans, for everyone or for a few people (`whom`). `Ended` is a run that already ended
    /// (the target refused its check, the pull or the target listing failed, a run for a few
    /// people cannot be planned, or orgsync is stopping).
    pub(crate) async fn prepare_for<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: RunOptions,
        whom: Whom<'_>,
        context: &RunContext,
    ) -> Result<Reached<Box<Prepared>>, RunError> {
        let mut report = start_report(connector, options.mode, context);
        // Every run, dry runs included, proves the target accepts its credentials before
        // anything is planned: with a wrong token nothing changes would otherwise read "in sync".
        context.publish(|p| p.stage = Stage::Checking);
        // A read: abandoning it on a stop loses nothing.
        let checked = tokio::select! {
            checked = connector.pusher.check() => checked,
            () = stopped(self.stop.clone()) => {
                report.finish(stopped_before_applying(Stage::Checking));
                return Ok(Reached::Ended(report));
            }
        };
        if let Err(e) = checked {
            error!(error = %e, "The target refused its check; nothing was planned or written.");
            report.finish(RunOutcome::Failed {
                error: format!("target: {e}"),
            });
            return Ok(Reached::Ended(report));
        }
        context.publish(|p| {
            p.stage = Stage::Pulling;
            p.pull = PullCounts::default();
        });
        let live = connector.puller.progress();
        if let Some(live) = &live {
            live.start(context.mode);
        }
        let pull = people::pull(&connector.puller, whom);
        tokio::pin!(pull);
        let mut ticks = tokio::time::interval(PUBLISH_PULL_EVERY);
        let pulled = loop {
            tokio::select! {
                pulled = &mut pull => break pulled,
                _ = ticks.tick(), if live.is_some() && context.progress.is_some() => {
                    if let Some(live) = &live {
                        let counts = live.snapshot();
                        context.publish(|p| p.pull = counts);
                    }
                }
                () = stopped(self.stop.clone()) => {
                    report.finish(stopped_before_applying(Stage::Pulling));
                    return Ok(Reached::Ended(report));
                }
            }
        };
        let crate::pullers::Focused { pulled, coverage } = match pulled {
            Ok(focused) => focused,
            Err(e) => {
                error!(error = %e.for_log(), "The pull failed; nothing was planned or written.");
                let drained = connector.puller.drain_stats();
                if let Some(stats) = &drained {
                    // Quota-counted calls of a failed pull were spent all the same.
                    self.count_metered(connector, stats).await;
                }
                report.pull_errors = drained.map(|s| s.errors).unwrap_or_default();
                report.finish(RunOutcome::Failed {
                    error: e.to_string(),
                });
                return Ok(Reached::Ended(report));
            }
        };
        let mut summary = PullSummary::new(&pulled);
        summary.metered_calls = self.count_metered(connector, &pulled.stats).await;
        report.pull = Some(summary);
        context.publish(|p| {
            p.stage = Stage::Planning;
            p.pull = PullCounts {
                calls: pulled.stats.total_calls(),
                people: pulled.directory.users.len() as u64,
                people_total: Some(pulled.directory.users.len() as u64),
                eta_seconds: None,
                waiting: None,
            };
        });
        let stored = self.load_snapshot(&connector.name).await?;
        let focus = people::focus(whom, &coverage);
        if let Some(focus) = &focus {
            report.focus = Some(people::report_focus(focus, &pulled.directory));
            if let Some(error) = people::refusal(
                focus,
                people::strangers(whom),
                &connector.name,
                &stored,
                &pulled.directory,
            ) {
                tracing::warn!(reason = %error, "The run for a few people cannot be planned.");
                report.finish(RunOutcome::Failed { error });
                return Ok(Reached::Ended(report));
            }
        }
        let stored_digest =
            (options.mode == RunMode::DryRun).then(|| super::snapshot_digest(&stored));

        // A first sync adopts accounts the target already has; `--full` repairs drift. Both plan
        // against the target's real accounts instead of the snapshot.
        let observe = options.baseline == Baseline::Target || stored.users.is_empty();
        let mut not_listed = None;
        let observed = if observe {
            // Listing is a read: abandoning it on a stop loses nothing.
            let listed = tokio::select! {
                listed = connector.pusher.list() => listed,
                () = stopped(self.stop.clone()) => {
                    report.finish(stopped_before_applying(Stage::Planning));
                    return Ok(Reached::Ended(report));
                }
            };
            match listed {
                Ok(accounts) => Some(plan::observe(
                    &stored,
                    &pulled.directory,
                    &accounts,
                    &connector.policy,
                )),
                // A target that cannot be listed by nature (a webhook) has nothing to adopt;
                // the report says existing accounts were not looked for.
                Err(e @ PushError::Unsupported { .. })
                    if options.baseline == Baseline::Snapshot =>
                {
                    debug!(error = %e, "The target cannot be listed; nothing to adopt.");
                    not_listed = Some(Problem::TargetNotListed {
                        target: connector.pusher.kind().to_string(),
                    });
                    None
                }
                // Any other failure fails the run: a plan made as if the target were empty
                // would create everyone it already holds, and a reviewed dry run would mislead.
                Err(e) => {
                    error!(error = %e, "Cannot list the target's accounts; nothing was planned or written.");
                    report.finish(RunOutcome::Failed {
                        error: format!("cannot list the target's accounts: {e}"),
                    });
                    return Ok(Reached::Ended(report));
                }
            }
        } else {
            None
        };
        let (baseline, start) = match &observed {
            Some(observed) => (observed.baseline(), observed.linked.clone()),
            None => (stored.clone(), stored),
        };

        let now = jiff::Timestamp::now();
        let (mut plan, directory) = match &focus {
            None => (
                plan::plan(&baseline, &pulled.directory, &connector.policy, now),
                pulled.directory,
            ),
            Some(focus) => {
                let directory = focus.directory(pulled.directory, &baseline);
                let plan = focus.plan(&baseline, &directory, &connector.policy, now);
                (plan, directory)
            }
        };
        if let Some(observed) = &observed {
            plan.steps.splice(0..0, observed.adoptions.iter().cloned());
            plan.problems.extend(observed.problems.iter().cloned());
        }
        plan.problems.extend(not_listed);
        report.set_plan(&plan, &directory, &baseline);
        let verdict = plan::guard(
            &plan,
            &baseline,
            plan::Pulled::of(&directory),
            &connector.policy,
        );
        Ok(Reached::Ready(Box::new(Prepared {
            report,
            plan,
            start,
            rebuild: observed.is_some(),
            verdict,
            directory,
            baseline,
            stored_digest,
            target_check: TargetCheck::Passed,
        })))
    }

    /// Applies a prepared plan (or only reports it, for a dry run), after the deletion guard.
    pub(crate) async fn execute<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        prepared: Prepared,
        mode: RunMode,
        approval: Approval,
        context: &RunContext,
    ) -> Result<Report, RunError> {
        let Prepared {
            mut report,
            plan,
            mut start,
            rebuild,
            verdict,
            target_check,
            ..
        } = prepared;
        let verdict = match approval {
            Approval::AllowDeletions => plan::approve(verdict),
            Approval::None => verdict,
        };
        report.guard = Some(verdict.clone());
        let finish = |report: &mut Report, outcome| {
            report.finish(outcome);
            context.publish(|p| p.stage = Stage::Finished);
        };
        if let plan::Verdict::Refused { reasons, .. } = &verdict {
            let outcome = match mode {
                RunMode::DryRun => RunOutcome::Planned,
                RunMode::Apply => {
                    error!(reasons = %reasons.join("; "), "The deletion guard refused the plan; nothing was written.");
                    RunOutcome::Refused {
                        reasons: reasons.clone(),
                    }
                }
            };
            finish(&mut report, outcome);
            return Ok(report);
        }
        if mode == RunMode::DryRun {
            finish(&mut report, RunOutcome::Planned);
            info!(
                steps = plan.steps.len(),
                "Dry run finished; nothing was written."
            );
            return Ok(report);
        }
        if rebuild {
            // The target's accounts are the truth now; steps are recorded on top as they land.
            start = self.replace_snapshot(&connector.name, start).await?;
        }
        if plan.is_empty() {
            finish(&mut report, RunOutcome::Applied);
            info!("Run finished; nothing to do.");
            return Ok(report);
        }
        // A reviewed plan applied later was not checked in this run: one check before the first
        // write fails the run once, instead of every step the same way (and a directory
        // locking the account).
        if target_check == TargetCheck::Pending
            && let Err(e) = connector.pusher.check().await
        {
            error!(error = %e, "The target cannot be written; nothing was written.");
            finish(
                &mut report,
                RunOutcome::Failed {
                    error: format!("target: {e}"),
                },
            );
            return Ok(report);
        }
        context.publish(|p| {
            p.stage = Stage::Applying;
            p.total = plan.steps.len();
        });
        let applier = Applier {
            pusher: &connector.pusher,
            store: &self.store,
            connector: &connector.name,
            concurrency: connector.concurrency,
            target_listed: rebuild,
            stop: &self.stop,
            context,
            breaker: super::apply::Breaker::new(connector.policy.max_consecutive_failures),
        };
        let outcomes = applier.apply(&plan.steps, &mut start).await?;
        let tripped = applier.breaker.tripped();
        for (step, outcome) in report.steps.iter_mut().zip(outcomes) {
            step.outcome = outcome;
        }
        let failed = report
            .steps
            .iter()
            .filter(|s| !matches!(s.outcome, StepOutcome::Applied))
            .count();
        let held = |cause: &HeldReason| {
            report
                .steps
                .iter()
                .filter(|s| matches!(&s.outcome, StepOutcome::Held { reason } if reason == cause))
                .count()
        };
        let interrupted = held(&HeldReason::Stopped) > 0;
        let outcome = match (failed, interrupted, tripped) {
            (0, _, _) => RunOutcome::Applied,
            (_, true, _) => RunOutcome::Interrupted {
                left: failed,
                stage: None,
            },
            (_, false, Some(consecutive_failures)) => {
                let left = held(&HeldReason::Breaker {
                    consecutive_failures,
                });
                error!(
                    consecutive_failures,
                    left,
                    "The target failed too many steps in a row; the run stopped early (circuit breaker)."
                );
                RunOutcome::BreakerTripped {
                    consecutive_failures,
                    left,
                }
            }
            (_, false, None) => RunOutcome::PartiallyApplied { failed },
        };
        finish(&mut report, outcome);
        info!(steps = plan.steps.len(), failed, "Run finished.");
        Ok(report)
    }
}

impl StepReport {
    pub(crate) fn planned(step: plan::Step, name: Option<String>) -> Self {
        StepReport {
            step,
            name,
            manager_name: None,
            previous_manager_name: None,
            outcome: StepOutcome::Planned,
        }
    }
}

/// A run orgsync stopped (shutdown, a restart) before it applied anything: interrupted, not
/// failed, so a deploy does not look like a failure; the next run starts over.
fn stopped_before_applying(stage: Stage) -> RunOutcome {
    info!(stage = ?stage, "Stopped before applying; nothing was written.");
    RunOutcome::Interrupted {
        left: 0,
        stage: Some(stage),
    }
}

/// The report a run of `connector` starts with, under the run id the caller chose, if any.
pub fn start_report<P: Puller, Q: Pusher>(
    connector: &Connector<P, Q>,
    mode: RunMode,
    context: &RunContext,
) -> Report {
    let mut report = Report::start(
        &connector.name,
        connector.puller.platform(),
        connector.pusher.kind(),
        mode,
    );
    if let Some(id) = &context.run_id {
        report.run_id = id.clone();
    }
    report
}
