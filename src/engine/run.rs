use super::Connector;
use super::apply::{Applier, StepOutcome};
use crate::plan;
use crate::pullers::Puller;
use crate::pushers::Pusher;
use crate::report::{PullSummary, Report, RunOutcome, StepReport};
use crate::snapshot::{SnapshotError, SnapshotStore};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use tracing::{error, info, instrument, warn};

/// Whether a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Same pull and plan as `Apply`; writes nothing to the target or the snapshot.
    DryRun,
    Apply,
}

impl fmt::Display for RunMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunMode::DryRun => "dry-run",
            RunMode::Apply => "apply",
        })
    }
}

/// Whether the operator approved removals beyond the guard's limits for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    None,
    /// `--allow-deletions`: apply a plan the deletion guard refused (never an empty pull).
    AllowDeletions,
}

/// What to plan against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The snapshot of what orgsync last applied (normal runs).
    #[default]
    Snapshot,
    /// The target's actual accounts, listed now: repairs edits made directly in the target and
    /// rebuilds the snapshot (`--full`).
    Target,
}

/// Everything a caller chooses about one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    pub mode: RunMode,
    pub approval: Approval,
    pub baseline: Baseline,
}

impl RunOptions {
    pub fn new(mode: RunMode) -> Self {
        RunOptions {
            mode,
            approval: Approval::None,
            baseline: Baseline::Snapshot,
        }
    }
}

impl From<RunMode> for RunOptions {
    fn from(mode: RunMode) -> Self {
        RunOptions::new(mode)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("connector {0} is already running")]
    AlreadyRunning(String),
    #[error("the plan was made for connector {plan}, not {connector}")]
    WrongConnector { plan: String, connector: String },
    #[error(
        "the snapshot of connector {connector} has changed since the plan was made (another sync ran); \
         make a new plan with `orgsync diff {connector} --save FILE` and review it again"
    )]
    StalePlan { connector: String },
    #[error("{0} is not an orgsync plan file (format {1:?})")]
    NotAPlan(String, String),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// Runs connectors against one snapshot store, at most one run per connector at a time.
pub struct Engine<S> {
    store: Arc<S>,
    running: Mutex<HashSet<String>>,
}

/// Releases the per-connector lock however the run ends.
struct RunGuard<'a> {
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

impl<S: SnapshotStore> Engine<S> {
    pub fn new(store: Arc<S>) -> Self {
        Engine {
            store,
            running: Mutex::new(HashSet::new()),
        }
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    fn lock(&self, name: &str) -> Result<RunGuard<'_>, RunError> {
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
    #[instrument(level = "info", skip(self, connector, options), fields(connector = %connector.name))]
    pub async fn run<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: impl Into<RunOptions>,
    ) -> Result<Report, RunError> {
        let options = options.into();
        let _guard = self.lock(&connector.name)?;
        info!(mode = %options.mode, "Run started.");
        let prepared = match self.prepare(connector, options).await? {
            Ok(prepared) => prepared,
            Err(report) => return Ok(report),
        };
        self.execute(connector, prepared, options.mode, options.approval)
            .await
    }

    /// Pulls, reads the baseline (snapshot, or the target's accounts) and plans. `Err(report)` is a
    /// run that already ended (the pull or the target listing failed).
    pub(crate) async fn prepare<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: RunOptions,
    ) -> Result<Result<Prepared, Report>, RunError> {
        let mut report = Report::start(
            &connector.name,
            connector.puller.platform(),
            connector.pusher.kind(),
            options.mode,
        );
        let pulled = match connector.puller.pull().await {
            Ok(pulled) => pulled,
            Err(e) => {
                error!(error = %e, "The pull failed; nothing was planned or written.");
                report.finish(RunOutcome::Failed {
                    error: e.to_string(),
                });
                return Ok(Err(report));
            }
        };
        report.pull = Some(PullSummary::new(&pulled));
        let stored = self.store.load(&connector.name)?;

        // A first sync adopts accounts the target already has; `--full` repairs drift. Both plan
        // against the target's real accounts instead of the snapshot.
        let observe = options.baseline == Baseline::Target || stored.users.is_empty();
        let observed = if observe {
            match connector.pusher.list().await {
                Ok(accounts) => Some(plan::observe(
                    &stored,
                    &pulled.directory,
                    &accounts,
                    &connector.policy,
                )),
                Err(e) if options.baseline == Baseline::Target => {
                    error!(error = %e, "Cannot list the target's accounts; nothing was planned or written.");
                    report.finish(RunOutcome::Failed {
                        error: format!("cannot list the target's accounts: {e}"),
                    });
                    return Ok(Err(report));
                }
                Err(e) => {
                    warn!(error = %e, "Cannot list the target's accounts; existing accounts will not be adopted.");
                    None
                }
            }
        } else {
            None
        };
        let (baseline, start) = match &observed {
            Some(observed) => (observed.baseline(), observed.linked.clone()),
            None => (stored.clone(), stored),
        };

        let mut plan = plan::plan(
            &baseline,
            &pulled.directory,
            &connector.policy,
            jiff::Timestamp::now(),
        );
        if let Some(observed) = &observed {
            plan.steps.splice(0..0, observed.adoptions.iter().cloned());
            plan.problems.extend(observed.problems.iter().cloned());
        }
        report.set_plan(&plan, &pulled.directory, &baseline);
        let verdict = plan::guard(&plan, &baseline, &pulled.directory, &connector.policy);
        let stored_digest = super::snapshot_digest(&self.store.load(&connector.name)?);
        Ok(Ok(Prepared {
            report,
            plan,
            start,
            rebuild: observed.is_some(),
            verdict,
            directory: pulled.directory,
            baseline,
            stored_digest,
        }))
    }

    /// Applies a prepared plan (or only reports it, for a dry run), after the deletion guard.
    pub(crate) async fn execute<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        prepared: Prepared,
        mode: RunMode,
        approval: Approval,
    ) -> Result<Report, RunError> {
        let Prepared {
            mut report,
            plan,
            mut start,
            rebuild,
            verdict,
            ..
        } = prepared;
        let verdict = match approval {
            Approval::AllowDeletions => plan::approve(verdict),
            Approval::None => verdict,
        };
        report.guard = Some(verdict.clone());
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
            report.finish(outcome);
            return Ok(report);
        }
        if mode == RunMode::DryRun {
            report.finish(RunOutcome::Planned);
            info!(
                steps = plan.steps.len(),
                "Dry run finished; nothing was written."
            );
            return Ok(report);
        }
        if rebuild {
            // The target's accounts are the truth now; steps are recorded on top as they land.
            self.store.replace(&connector.name, &start)?;
        }
        if plan.is_empty() {
            report.finish(RunOutcome::Applied);
            info!("Run finished; nothing to do.");
            return Ok(report);
        }
        let applier = Applier {
            pusher: &connector.pusher,
            store: self.store.as_ref(),
            connector: &connector.name,
            concurrency: connector.concurrency,
        };
        let outcomes = applier.apply(&plan.steps, &mut start).await?;
        for (step, outcome) in report.steps.iter_mut().zip(outcomes) {
            step.outcome = outcome;
        }
        let failed = report
            .steps
            .iter()
            .filter(|s| !matches!(s.outcome, StepOutcome::Applied))
            .count();
        let outcome = if failed == 0 {
            RunOutcome::Applied
        } else {
            RunOutcome::PartiallyApplied { failed }
        };
        report.finish(outcome);
        info!(steps = plan.steps.len(), failed, "Run finished.");
        Ok(report)
    }
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
    /// Digest of the stored snapshot when planning started.
    pub(crate) stored_digest: String,
}

/// What `orgsync explain` needs: a dry run's inputs and outputs.
pub struct Explained {
    pub report: Report,
    pub lines: Vec<String>,
}

impl<S: SnapshotStore> Engine<S> {
    /// A dry run whose plan is returned for saving (`orgsync diff --save`).
    pub async fn plan_for_review<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        baseline: Baseline,
    ) -> Result<Result<super::SavedPlan, Report>, RunError> {
        let options = RunOptions {
            baseline,
            ..RunOptions::new(RunMode::DryRun)
        };
        let _guard = self.lock(&connector.name)?;
        let prepared = match self.prepare(connector, options).await? {
            Ok(prepared) => prepared,
            Err(report) => return Ok(Err(report)),
        };
        let saved = super::SavedPlan {
            format: super::saved::FORMAT.to_owned(),
            connector: connector.name.clone(),
            created_at: jiff::Timestamp::now(),
            snapshot_digest: prepared.stored_digest.clone(),
            rebuilt_snapshot: prepared.rebuild.then(|| prepared.start.clone()),
            verdict: prepared.verdict.clone(),
            plan: prepared.plan.clone(),
            report: self
                .execute(connector, prepared, RunMode::DryRun, Approval::None)
                .await?,
        };
        Ok(Ok(saved))
    }

    /// Applies a reviewed plan exactly, provided nothing was applied since it was made.
    pub async fn apply_saved<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        saved: super::SavedPlan,
        approval: Approval,
    ) -> Result<Report, RunError> {
        if saved.format != super::saved::FORMAT {
            return Err(RunError::NotAPlan(saved.connector, saved.format));
        }
        if saved.connector != connector.name {
            return Err(RunError::WrongConnector {
                plan: saved.connector,
                connector: connector.name.clone(),
            });
        }
        let _guard = self.lock(&connector.name)?;
        let stored = self.store.load(&connector.name)?;
        if super::snapshot_digest(&stored) != saved.snapshot_digest {
            return Err(RunError::StalePlan {
                connector: connector.name.clone(),
            });
        }
        let mut report = saved.report;
        report.restart(RunMode::Apply);
        let rebuild = saved.rebuilt_snapshot.is_some();
        let start = saved.rebuilt_snapshot.unwrap_or_else(|| stored.clone());
        let prepared = Prepared {
            report,
            plan: saved.plan,
            start,
            rebuild,
            verdict: saved.verdict,
            directory: crate::model::Directory::default(),
            baseline: stored,
            stored_digest: saved.snapshot_digest,
        };
        info!("Applying a reviewed plan.");
        self.execute(connector, prepared, RunMode::Apply, approval)
            .await
    }

    /// Why one person is (or is not) synced the way they are, from a fresh pull and plan.
    pub async fn explain<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        user: &crate::model::UserKey,
    ) -> Result<Result<Explained, Report>, RunError> {
        let _guard = self.lock(&connector.name)?;
        let prepared = match self
            .prepare(connector, RunOptions::new(RunMode::DryRun))
            .await?
        {
            Ok(prepared) => prepared,
            Err(report) => return Ok(Err(report)),
        };
        let lines = plan::explain(
            user,
            &prepared.baseline,
            &prepared.directory,
            &connector.policy,
            &prepared.plan,
            &prepared.verdict,
        );
        let report = self
            .execute(connector, prepared, RunMode::DryRun, Approval::None)
            .await?;
        Ok(Ok(Explained { report, lines }))
    }
}

impl StepReport {
    pub(crate) fn planned(step: plan::Step, name: Option<String>) -> Self {
        StepReport {
            step,
            name,
            outcome: StepOutcome::Planned,
        }
    }
}
