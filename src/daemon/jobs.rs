//! What one run of the daemon does, by kind: the engine call behind each [`Job`], and what the
//! run leaves besides its report (a sealed plan, explanations, a plan waiting for approval).
//! Every kind is a run of its connector: queued behind a busy one, followed by its progress.

use super::types::{Job, JobKind, JobOutput, ModeParam, RefusalCode};
use crate::engine::{
    Approval, Baseline, Connector, Engine, Reached, Rebuild, RunContext, RunError, RunMode,
    RunOptions, SavedPlan, VerifiedPlan, plan_connector, verify_plan,
};
use crate::model::UserKey;
use crate::report::{EventsReach, EventsReport, Report, RunOutcome};
use crate::state::{PendingPlan, PlanKey, StateDb};

/// A job checked and ready to run.
pub(super) enum Work {
    Sync(RunOptions),
    People {
        keys: Vec<UserKey>,
        mode: RunMode,
    },
    Review {
        baseline: Baseline,
    },
    ApplyPlan {
        plan: Box<VerifiedPlan>,
        approval: Approval,
        /// The refused run whose kept plan this approves: its pending entry goes once applied.
        approving: Option<String>,
    },
    Explain {
        user: String,
    },
    Rebuild,
    /// What upstream events announced: a focused or a full run, reported as event-driven.
    Events(Box<EventsReport>),
}

/// A job the daemon will not run, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Invalid(String),
    /// The plan file is not for this connector, not sealed by this state directory, or damaged.
    #[error("{0}")]
    Plan(String),
}

impl Work {
    /// Checks `job` for `connector`. A plan file is verified here, before it is queued: a
    /// forged or foreign plan is refused at once, never run.
    pub(super) fn of(
        job: Job,
        connector: &str,
        key: impl FnOnce() -> Option<PlanKey>,
    ) -> Result<Work, JobError> {
        Ok(match job {
            Job::Sync(request) => Work::Sync(request.options()),
            Job::People { keys, mode } => {
                let keys: Vec<UserKey> = keys
                    .iter()
                    .map(|k| k.trim())
                    .filter(|k| !k.is_empty())
                    .map(UserKey::new)
                    .collect();
                if keys.is_empty() {
                    return Err(JobError::Invalid(
                        "name at least one person by their upstream id".into(),
                    ));
                }
                Work::People {
                    keys,
                    mode: mode.map(RunMode::from).unwrap_or(RunMode::Apply),
                }
            }
            Job::Review { full } => Work::Review {
                baseline: if full {
                    Baseline::Target
                } else {
                    Baseline::Snapshot
                },
            },
            Job::ApplyPlan {
                plan,
                allow_deletions,
            } => Work::ApplyPlan {
                plan: Box::new(verify(&plan, connector, key)?),
                approval: if allow_deletions {
                    Approval::AllowDeletions
                } else {
                    Approval::None
                },
                approving: None,
            },
            Job::Explain { user } => {
                let user = user.trim().to_owned();
                if user.is_empty() {
                    return Err(JobError::Invalid(
                        "say whom to explain: an upstream id, a name or an e-mail address".into(),
                    ));
                }
                Work::Explain { user }
            }
            Job::Rebuild => Work::Rebuild,
            Job::Events(events) => Work::Events(Box::new(events)),
        })
    }

    pub(super) fn kind(&self) -> JobKind {
        match self {
            Work::Sync(_) => JobKind::Sync,
            Work::People { .. } => JobKind::People,
            Work::Review { .. } => JobKind::Review,
            Work::ApplyPlan { .. } => JobKind::ApplyPlan,
            Work::Explain { .. } => JobKind::Explain,
            Work::Rebuild => JobKind::Rebuild,
            Work::Events(_) => JobKind::Events,
        }
    }

    pub(super) fn mode(&self) -> RunMode {
        match self {
            Work::Sync(options) => options.mode,
            Work::People { mode, .. } => *mode,
            Work::ApplyPlan { .. } | Work::Rebuild | Work::Events(_) => RunMode::Apply,
            Work::Review { .. } | Work::Explain { .. } => RunMode::DryRun,
        }
    }
}

/// The plan file's connector must be `connector`, and its seal this state directory's.
fn verify(
    plan: &str,
    connector: &str,
    key: impl FnOnce() -> Option<PlanKey>,
) -> Result<VerifiedPlan, JobError> {
    let named = plan_connector(plan.as_bytes()).map_err(|e| JobError::Plan(e.to_string()))?;
    if named != connector {
        return Err(JobError::Plan(format!(
            "the plan is for connector {named}, not {connector}"
        )));
    }
    let key = key()
        .ok_or_else(|| JobError::Plan("the state directory's plan key cannot be read".into()))?;
    verify_plan(plan.as_bytes(), &key).map_err(|e| JobError::Plan(e.to_string()))
}

/// How a run of any kind ended.
#[derive(Default)]
pub(super) struct Done {
    /// The run's report, for the history (every kind but a rebuild and a refused plan).
    pub report: Option<Report>,
    pub output: Option<JobOutput>,
    /// A plan the guard refused, to keep for approval.
    pub refused: Option<PendingPlan>,
    /// The refused run whose kept plan this run applied (or found stale).
    pub approving: Option<String>,
}

pub(super) async fn perform(
    engine: &Engine<StateDb>,
    connector: &Connector,
    work: Work,
    context: &RunContext,
) -> Result<Done, RunError> {
    let mut done = run(engine, connector, work, context).await?;
    // The history keeps the report under the id the daemon answered with, whichever engine
    // call made it.
    if let (Some(report), Some(id)) = (&mut done.report, &context.run_id) {
        report.run_id = id.clone();
    }
    Ok(done)
}

async fn run(
    engine: &Engine<StateDb>,
    connector: &Connector,
    work: Work,
    context: &RunContext,
) -> Result<Done, RunError> {
    match work {
        Work::Sync(options) => full_sync(engine, connector, options, None, context).await,
        Work::People { keys, mode } => {
            let report = engine.sync_people(connector, &keys, mode, context).await?;
            Ok(Done {
                report: Some(report),
                ..Done::default()
            })
        }
        Work::Events(events) => announced(engine, connector, *events, context).await,
        Work::Review { baseline } => {
            match engine
                .plan_for_review_with(connector, baseline, context)
                .await?
            {
                Reached::Ready(saved) => {
                    let output = match engine.store().plan_key().and_then(|key| {
                        saved
                            .seal(&key)
                            .map_err(|e| crate::snapshot::SnapshotError::Storage(e.to_string()))
                    }) {
                        Ok(bytes) => JobOutput::Review {
                            plan: String::from_utf8_lossy(&bytes).into_owned(),
                            steps: saved.plan.steps.len(),
                        },
                        Err(e) => JobOutput::Refused {
                            code: RefusalCode::Failed,
                            message: format!("cannot seal the plan: {e}"),
                        },
                    };
                    Ok(Done {
                        report: Some(saved.report),
                        output: Some(output),
                        ..Done::default()
                    })
                }
                Reached::Ended(report) => Ok(Done {
                    report: Some(report),
                    ..Done::default()
                }),
            }
        }
        Work::ApplyPlan {
            plan,
            approval,
            approving,
        } => {
            match engine
                .apply_saved_with(connector, *plan, approval, context)
                .await
            {
                Ok(report) => Ok(Done {
                    report: Some(report),
                    approving,
                    ..Done::default()
                }),
                Err(
                    e @ (RunError::StalePlan { .. }
                    | RunError::WrongConnector { .. }
                    | RunError::PlanFile(_)),
                ) => Ok(Done {
                    output: Some(JobOutput::Refused {
                        code: RefusalCode::StalePlan,
                        message: e.to_string(),
                    }),
                    approving,
                    ..Done::default()
                }),
                Err(e) => Err(e),
            }
        }
        Work::Explain { user } => match engine.explain_with(connector, &user, context).await? {
            Reached::Ready(explained) => Ok(Done {
                report: Some(explained.report),
                output: Some(JobOutput::Explain {
                    matches: explained.matches,
                    lines: explained.lines,
                }),
                ..Done::default()
            }),
            Reached::Ended(report) => Ok(Done {
                report: Some(report),
                ..Done::default()
            }),
        },
        Work::Rebuild => {
            let output = match engine.rebuild_snapshot(connector).await? {
                Rebuild::Rebuilt(rebuilt) => JobOutput::Rebuild {
                    lines: rebuilt.lines(&connector.name),
                },
                Rebuild::Failed(e) => JobOutput::Refused {
                    code: RefusalCode::Failed,
                    message: format!("{e}; the snapshot is unchanged"),
                },
            };
            Ok(Done {
                output: Some(output),
                ..Done::default()
            })
        }
    }
}

/// The refused plan, sealed under the state's key like a saved plan file, so approving it later
/// takes exactly the path `orgsync apply` takes. A plan that cannot be sealed is not kept (the
/// run's report still says the guard refused; `diff --save` and `apply` remain).
fn keep_refused(
    engine: &Engine<StateDb>,
    saved: SavedPlan,
    report: &Report,
) -> Option<PendingPlan> {
    let sealed = engine
        .store()
        .plan_key()
        .map_err(|e| e.to_string())
        .and_then(|key| saved.seal(&key).map_err(|e| e.to_string()));
    match sealed {
        Ok(bytes) => Some(PendingPlan {
            run_id: report.run_id.clone(),
            connector: report.connector.clone(),
            created_at: report.started_at,
            reasons: match &report.outcome {
                RunOutcome::Refused { reasons } => reasons.clone(),
                _ => Vec::new(),
            },
            counts: crate::history::RunSummary::of(report).counts,
            sealed: String::from_utf8_lossy(&bytes).into_owned(),
        }),
        Err(e) => {
            tracing::error!(run_id = %report.run_id, error = %e, "Cannot keep the refused plan for approval; approve with `orgsync diff --save` and `orgsync apply --allow-deletions` instead.");
            None
        }
    }
}

/// Whether a finished apply moved the snapshot, so a kept refused plan of its connector no longer
/// applies (its digest is stale) and is dropped.
pub(super) fn supersedes_pending(report: &Report) -> bool {
    report.mode == RunMode::Apply
        && matches!(
            report.outcome,
            RunOutcome::Applied
                | RunOutcome::PartiallyApplied { .. }
                | RunOutcome::BreakerTripped { .. }
                | RunOutcome::Interrupted {
                    left: _,
                    stage: None
                }
        )
}

impl super::types::SyncRequest {
    pub(crate) fn options(&self) -> RunOptions {
        RunOptions {
            mode: self.mode.map(RunMode::from).unwrap_or(RunMode::Apply),
            approval: if self.allow_deletions {
                Approval::AllowDeletions
            } else {
                Approval::None
            },
            baseline: if self.full {
                Baseline::Target
            } else {
                Baseline::Snapshot
            },
        }
    }
}

impl From<RunMode> for ModeParam {
    fn from(mode: RunMode) -> Self {
        match mode {
            RunMode::Apply => ModeParam::Apply,
            RunMode::DryRun => ModeParam::DryRun,
        }
    }
}

/// A run for what upstream events announced: the people they named, or everyone (what the
/// worker decided, or a connector never synced: a first run adopts the target's accounts).
/// Either way the report says which events started it.
async fn announced(
    engine: &Engine<StateDb>,
    connector: &Connector,
    mut events: EventsReport,
    context: &RunContext,
) -> Result<Done, RunError> {
    if let EventsReach::People { keys } = &events.reach {
        if engine.has_synced(&connector.name).await? {
            let mut report = engine.sync_announced(connector, keys, context).await?;
            report.events = Some(events);
            return Ok(Done {
                report: Some(report),
                ..Done::default()
            });
        }
        events.reach = EventsReach::Everyone {
            reason: "the connector has never been synced: a first run adopts the target's \
                     accounts"
                .into(),
        };
    }
    let options = RunOptions::new(RunMode::Apply);
    full_sync(engine, connector, options, Some(events), context).await
}

/// A run for everyone; a plan the guard refused is kept for approval. `events`: what started
/// it, for the report (before the refused plan is kept, which quotes the report).
async fn full_sync(
    engine: &Engine<StateDb>,
    connector: &Connector,
    options: RunOptions,
    events: Option<EventsReport>,
    context: &RunContext,
) -> Result<Done, RunError> {
    let (mut report, refused) = engine
        .run_keeping_refused(connector, options, context)
        .await?;
    report.events = events;
    let refused = match refused {
        Some(saved) => keep_refused(engine, saved, &report),
        None => None,
    };
    Ok(Done {
        report: Some(report),
        refused,
        ..Done::default()
    })
}
