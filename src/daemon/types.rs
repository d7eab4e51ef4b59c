//! What the admin API says, as JSON. Shared by the server and by the CLI's client.

use crate::config::ZoneOrigin;
use crate::engine::{Progress, RunMode};
use crate::history::RunSummary;
use crate::report::RunOutcome;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// `POST /connectors/{name}/sync`: body (JSON) or query; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// `apply` (default) or `dry-run`.
    #[serde(default)]
    pub mode: Option<ModeParam>,
    /// Plan against the target's actual accounts (`--full`).
    #[serde(default)]
    pub full: bool,
    /// Apply a plan the deletion guard refused (`--allow-deletions`).
    #[serde(default)]
    pub allow_deletions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModeParam {
    #[serde(rename = "apply")]
    Apply,
    #[serde(rename = "dry-run", alias = "dry_run")]
    DryRun,
}

impl From<ModeParam> for RunMode {
    fn from(mode: ModeParam) -> Self {
        match mode {
            ModeParam::Apply => RunMode::Apply,
            ModeParam::DryRun => RunMode::DryRun,
        }
    }
}

/// The answer to a sync request (202): the run it started, or the queued run it joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncAccepted {
    pub run_id: String,
    pub connector: String,
    pub mode: RunMode,
    /// The connector was busy: the run starts when the current one ends.
    pub queued: bool,
    /// A run was already queued: this request joined it rather than queueing another.
    pub coalesced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Finished,
    /// Ended without a report (the state storage failed); see `error`.
    Failed,
    /// Queued, then dropped because the daemon stopped.
    Cancelled,
}

/// What kind of job a run is (`Job` without its arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    #[default]
    Sync,
    People,
    /// A run for the changes upstream events announced.
    Events,
    Review,
    ApplyPlan,
    Explain,
    Rebuild,
}

/// `GET /runs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub run_id: String,
    pub connector: String,
    #[serde(default)]
    pub kind: JobKind,
    pub mode: RunMode,
    pub state: RunState,
    pub progress: Progress,
    /// Set once the run finished.
    pub outcome: Option<RunOutcome>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Steps per kind (kinds with none left out), once planned.
    pub counts: std::collections::BTreeMap<crate::plan::StepKind, usize>,
    pub error: Option<String>,
}

impl RunView {
    pub fn from_summary(summary: &RunSummary) -> Self {
        RunView {
            run_id: summary.run_id.clone(),
            connector: summary.connector.clone(),
            kind: if summary.events.is_some() {
                JobKind::Events
            } else {
                JobKind::Sync
            },
            mode: summary.mode,
            state: RunState::Finished,
            progress: Progress {
                stage: crate::engine::Stage::Finished,
                done: summary.steps(),
                total: summary.steps(),
                ..Progress::default()
            },
            outcome: Some(summary.outcome.clone()),
            started_at: Some(summary.started_at),
            finished_at: summary.finished_at,
            counts: summary.counts.clone(),
            error: None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(
            self.state,
            RunState::Finished | RunState::Failed | RunState::Cancelled
        )
    }
}

/// `GET /connectors`: one per configured connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorView {
    pub name: String,
    pub source: String,
    pub target: String,
    /// Cron expression, when scheduled.
    pub schedule: Option<String>,
    /// The zone the schedule is read in: an IANA name (`Asia/Shanghai`).
    pub timezone: String,
    /// Whether `timezone` is configured, the system's, or UTC for want of one.
    pub timezone_origin: ZoneOrigin,
    pub jitter_ms: Option<u64>,
    /// The next scheduled start (before jitter).
    pub next_run: Option<Timestamp>,
    pub running: Option<String>,
    pub queued: Option<String>,
    pub last_run: Option<RunSummary>,
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    pub at: Timestamp,
    pub run_id: String,
    pub message: String,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// What a run of the daemon does. Every kind is a run: queued behind a busy connector, followed
/// by `GET /runs/{id}`, and (except `Rebuild`) recorded in the history with its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// A scheduled run, "sync now", or a dry run (`diff`).
    Sync(SyncRequest),
    /// Pull, plan and apply only what concerns these people (`sync NAME --person KEY`).
    People {
        keys: Vec<String>,
        #[serde(default)]
        mode: Option<ModeParam>,
    },
    /// A dry run whose sealed plan is the output (`diff --save`).
    Review {
        #[serde(default)]
        full: bool,
    },
    /// Apply a sealed plan file's content exactly (`apply PLAN`).
    ApplyPlan {
        plan: String,
        #[serde(default)]
        allow_deletions: bool,
    },
    /// Why one person is synced the way they are: `user` is an upstream id, a name or an
    /// e-mail address (`explain`).
    Explain { user: String },
    /// Replace the snapshot with the target's accounts of pulled people (`snapshot rebuild`).
    Rebuild,
    /// A run for what upstream change events announced (`[connectors.NAME.events]`), started
    /// by the daemon's event worker, never by a client.
    Events(crate::report::EventsReport),
}

/// `GET /runs/{id}/output`: what a finished run of a kind with output produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobOutput {
    /// The sealed plan file's content, for the CLI to write.
    Review { plan: String, steps: usize },
    /// The people the query matched; `lines` explains the one when exactly one matched.
    Explain {
        matches: Vec<PersonMatch>,
        lines: Vec<String>,
    },
    /// The sentences `snapshot rebuild` prints.
    Rebuild { lines: Vec<String> },
    /// The run could not do what was asked (a stale or forged plan, no such person); the CLI's
    /// exit code follows `code`.
    Refused { code: RefusalCode, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The plan does not apply (stale, wrong connector, bad seal): exit 7.
    StalePlan,
    /// The rebuild failed; the snapshot is unchanged.
    Failed,
}

/// One person a query matched, from the pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonMatch {
    pub key: String,
    pub name: String,
    pub email: Option<String>,
    /// Department paths, for telling namesakes apart.
    pub departments: Vec<String>,
}

/// `GET /plans`: a plan the deletion guard refused, kept until approved, dismissed or replaced
/// by a newer refusal of the same connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPlanView {
    /// The refused run's id; approving starts a new run.
    pub run_id: String,
    pub connector: String,
    pub created_at: Timestamp,
    /// The guard's sentence (why it refused).
    pub reason: String,
    /// Steps per kind of the whole plan.
    pub counts: std::collections::BTreeMap<crate::plan::StepKind, usize>,
}
