use crate::engine::{RunMode, StepOutcome};
use crate::model::{Directory, Problem, UserKey};
use crate::plan::{self, Plan, SkippedLink, Step, StepKind};
use crate::pullers::{Platform, PullStats, Pulled};
use crate::pushers::TargetKind;
use crate::snapshot::Snapshot;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when a field is renamed or removed; adding fields keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

/// What one run did or would do. The JSON form of this struct is the documented report schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run_id: String,
    pub connector: String,
    pub source: String,
    pub target: String,
    pub mode: RunMode,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: RunOutcome,
    pub pull: Option<PullSummary>,
    /// Upstream errors met by a pull that failed, by code (a successful pull reports its own).
    #[serde(default)]
    pub pull_errors: BTreeMap<String, u64>,
    /// The deletion guard's verdict on the plan.
    pub guard: Option<plan::Verdict>,
    /// Steps per kind, every kind listed.
    pub counts: BTreeMap<StepKind, usize>,
    pub steps: Vec<StepReport>,
    pub skipped_links: Vec<SkippedLinkReport>,
    pub problems: Vec<ProblemReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunOutcome {
    Running,
    /// Dry-run finished: the steps are what an apply would do.
    Planned,
    /// Every step was acknowledged by the target (or there was nothing to do).
    Applied,
    /// Some steps failed or were held back; the rest were applied and recorded.
    PartiallyApplied {
        failed: usize,
    },
    /// orgsync stopped part-way (shutdown): what was applied is recorded, `left` steps wait for
    /// the next run.
    Interrupted {
        left: usize,
        /// Where the run was when stopped, if before applying (checking, pulling, planning):
        /// then nothing was planned or written, and the next run starts over.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<crate::engine::Stage>,
    },
    /// The circuit breaker stopped the run after `consecutive_failures` target failures in a row:
    /// what was applied is recorded, `left` steps were not attempted and wait for the next run.
    BreakerTripped {
        consecutive_failures: usize,
        left: usize,
    },
    /// Nothing was written: the deletion guard refused the plan (see `guard`).
    Refused {
        reasons: Vec<String>,
    },
    /// Nothing was written: the pull or the set-up failed.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullSummary {
    pub users: usize,
    pub departments: usize,
    pub held: usize,
    pub stats: PullStatsReport,
    /// Calls this calendar month (UTC+8, the upstream's) to endpoints the upstream counts
    /// against a monthly quota, this run's included, by endpoint; absent when none were made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metered_calls: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullStatsReport {
    pub calls: BTreeMap<String, u64>,
    /// Error answers met (and retried) during the pull, by code.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    pub total_calls: u64,
    pub retries: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    #[serde(flatten)]
    pub step: Step,
    /// The person's display name, for people reading the report.
    pub name: Option<String>,
    /// set_manager: the new manager's display name, so a report can say "A: old manager → new
    /// manager" without a lookup. Absent on other kinds and when the name is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_name: Option<String>,
    /// set_manager and clear_manager: the previous manager's display name, when there was one and
    /// its name is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_manager_name: Option<String>,
    pub outcome: StepOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedLinkReport {
    #[serde(flatten)]
    pub link: SkippedLink,
    pub explanation: String,
    /// Display names of the person and of the manager, when known (a manager outside the scope
    /// was never pulled, so often has none).
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub manager_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemReport {
    #[serde(flatten)]
    pub problem: Problem,
    pub message: String,
}

impl PullSummary {
    pub fn new(pulled: &Pulled) -> Self {
        let PullStats {
            calls,
            errors,
            retries,
            duration,
        } = &pulled.stats;
        PullSummary {
            users: pulled.directory.users.len(),
            departments: pulled.directory.departments.len(),
            held: pulled.directory.held.len(),
            stats: PullStatsReport {
                total_calls: calls.values().sum(),
                calls: calls.clone(),
                errors: errors.clone(),
                retries: *retries,
                duration_ms: duration.as_millis() as u64,
            },
            metered_calls: BTreeMap::new(),
        }
    }
}

impl Report {
    pub fn start(connector: &str, source: Platform, target: TargetKind, mode: RunMode) -> Self {
        let started_at = Timestamp::now();
        Report {
            schema_version: SCHEMA_VERSION,
            run_id: new_run_id(connector, started_at),
            connector: connector.to_owned(),
            source: source.to_string(),
            target: target.to_string(),
            mode,
            started_at,
            finished_at: None,
            outcome: RunOutcome::Running,
            pull: None,
            pull_errors: BTreeMap::new(),
            guard: None,
            counts: plan::counts(&[]),
            steps: Vec::new(),
            skipped_links: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn set_plan(&mut self, plan: &Plan, directory: &Directory, snapshot: &Snapshot) {
        let name = |key: &UserKey| {
            directory
                .users
                .get(key)
                .map(|u| u.display_name.as_str())
                .or_else(|| {
                    snapshot
                        .users
                        .get(key)
                        .and_then(|u| u.attributes.get(crate::model::Field::DisplayName))
                })
                .map(str::to_owned)
        };
        // A group's name as this step leaves it, else as the target or the upstream has it.
        let group_name = |step: &Step, group: &crate::model::DepartmentId| match step {
            Step::CreateGroup { attributes, .. } => Some(attributes.display_name.to_string()),
            Step::UpdateGroup { after, .. } => Some(after.display_name.to_string()),
            _ => snapshot
                .groups
                .get(group)
                .map(|g| g.attributes.display_name.to_string())
                .or_else(|| directory.departments.get(group).map(|d| d.name.clone())),
        };
        self.counts = plan::counts(&plan.steps);
        self.steps = plan
            .steps
            .iter()
            .map(|s| {
                let subject_name = match s.subject() {
                    plan::Subject::User(key) => name(key),
                    plan::Subject::Group(group) => group_name(s, group),
                };
                let mut report = StepReport::planned(s.clone(), subject_name);
                let (manager, previous) = match s {
                    Step::SetManager {
                        manager, previous, ..
                    } => (Some(manager), previous.as_ref()),
                    Step::ClearManager { previous, .. } => (None, Some(previous)),
                    _ => (None, None),
                };
                report.manager_name = manager.and_then(name);
                report.previous_manager_name = previous.and_then(name);
                report
            })
            .collect();
        self.skipped_links = plan
            .skipped_links
            .iter()
            .map(|l| SkippedLinkReport {
                explanation: l.reason.to_string(),
                user_name: name(&l.user),
                manager_name: name(&l.manager),
                link: l.clone(),
            })
            .collect();
        self.problems = plan
            .problems
            .iter()
            .map(|p| ProblemReport {
                message: p.to_string(),
                problem: p.clone(),
            })
            .collect();
    }

    /// Turns a saved dry-run report into the report of a new run of the same plan.
    pub fn restart(&mut self, mode: RunMode) {
        self.started_at = Timestamp::now();
        self.run_id = new_run_id(&self.connector, self.started_at);
        self.mode = mode;
        self.finished_at = None;
        self.outcome = RunOutcome::Running;
    }

    pub fn finish(&mut self, outcome: RunOutcome) {
        self.outcome = outcome;
        self.finished_at = Some(Timestamp::now());
    }
}

/// Sortable and unique enough per connector: the start time to the microsecond.
pub fn new_run_id(connector: &str, at: Timestamp) -> String {
    let micros = at.as_microsecond();
    format!(
        "{connector}-{}-{:06}",
        at.strftime("%Y%m%dT%H%M%S"),
        micros.rem_euclid(1_000_000)
    )
}
