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
use tracing::{error, info, instrument};

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
    pub async fn run(
        &self,
        connector: &Connector,
        options: impl Into<RunOptions>,
    ) -> Result<Report, RunError> {
        let RunOptions {
            mode,
            approval,
            baseline: _,
        } = options.into();
        let _guard = self.lock(&connector.name)?;
        let mut report = Report::start(
            &connector.name,
            connector.puller.platform(),
            connector.pusher.kind(),
            mode,
        );
        info!(%mode, "Run started.");

        let pulled = match connector.puller.pull().await {
            Ok(pulled) => pulled,
            Err(e) => {
                error!(error = %e, "The pull failed; nothing was planned or written.");
                report.finish(RunOutcome::Failed {
                    error: e.to_string(),
                });
                return Ok(report);
            }
        };
        report.pull = Some(PullSummary::new(&pulled));

        let mut snapshot = self.store.load(&connector.name)?;
        let plan = plan::plan(
            &snapshot,
            &pulled.directory,
            &connector.policy,
            jiff::Timestamp::now(),
        );
        report.set_plan(&plan, &pulled.directory, &snapshot);

        let mut verdict = plan::guard(&plan, &snapshot, &pulled.directory, &connector.policy);
        if approval == Approval::AllowDeletions {
            verdict = plan::approve(verdict);
        }
        report.guard = Some(verdict.clone());
        if let plan::Verdict::Refused { reasons, .. } = &verdict {
            error!(reasons = %reasons.join("; "), "The deletion guard refused the plan; nothing was written.");
            let outcome = match mode {
                RunMode::DryRun => RunOutcome::Planned,
                RunMode::Apply => RunOutcome::Refused {
                    reasons: reasons.clone(),
                },
            };
            report.finish(outcome);
            return Ok(report);
        }

        if mode == RunMode::DryRun || plan.is_empty() {
            let outcome = if mode == RunMode::DryRun {
                RunOutcome::Planned
            } else {
                RunOutcome::Applied
            };
            report.finish(outcome);
            info!(steps = plan.steps.len(), "Run finished.");
            return Ok(report);
        }

        // One check before the first write: a refused bind or a missing base fails the run
        // once, instead of every step the same way (and a directory locking the account).
        if let Err(e) = connector.pusher.check().await {
            error!(error = %e, "The target cannot be written; nothing was written.");
            report.finish(RunOutcome::Failed {
                error: format!("target: {e}"),
            });
            return Ok(report);
        }

        let applier = Applier {
            pusher: &connector.pusher,
            store: self.store.as_ref(),
            connector: &connector.name,
            concurrency: connector.concurrency,
        };
        let outcomes = applier.apply(&plan.steps, &mut snapshot).await?;
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

impl StepReport {
    pub(crate) fn planned(step: plan::Step, name: Option<String>) -> Self {
        StepReport {
            step,
            name,
            outcome: StepOutcome::Planned,
        }
    }
}
