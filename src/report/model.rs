use crate::engine::{RunMode, StepOutcome};
use crate::model::{DepartmentId, Directory, Problem, UserKey};
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
    /// Every group the plan touches, with its member counts before and after (by department id).
    /// Reports written before groups existed have none.
    #[serde(default)]
    pub groups: Vec<GroupReport>,
    pub skipped_links: Vec<SkippedLinkReport>,
    pub problems: Vec<ProblemReport>,
    /// A run for a few people (`orgsync sync NAME --person KEY`): whom, and how much the pull
    /// read. `None` for every other run, and in reports written before such runs existed.
    #[serde(default)]
    pub focus: Option<FocusReport>,
    /// A run started by upstream change events: which and why this run. `None` for every other
    /// run, and in reports written before event-driven runs existed.
    #[serde(default)]
    pub events: Option<EventsReport>,
}

/// What started an event-driven run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsReport {
    /// Events the run answers, coalesced.
    pub events: usize,
    /// Their count per platform event type (`contact.user.updated_v3`, ...).
    pub types: BTreeMap<String, usize>,
    /// When the first of them was received.
    pub first_received_at: Timestamp,
    /// When the earliest change happened, as the platform says (where it says).
    #[serde(default)]
    pub first_occurred_at: Option<Timestamp>,
    pub reach: EventsReach,
}

/// How much an event-driven run reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventsReach {
    /// The people the events named (and whom their links need): a focused run.
    People { keys: Vec<UserKey> },
    /// Everyone: a full run, for `reason` (a scope change, a burst, an event orgsync cannot
    /// read, departments changed).
    Everyone { reason: String },
}

/// Whom a run for a few people was for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FocusReport {
    /// The people asked for, by upstream key.
    pub people: Vec<UserKey>,
    pub coverage: FocusCoverage,
    /// People asked for whom the pull did not return (left, or outside the app's scope).
    pub absent: Vec<UserKey>,
}

/// How much of the upstream a run for a few people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusCoverage {
    /// The whole directory (the platform has no single reads).
    Whole,
    /// Only these people and the managers their links need; everyone else was left as the
    /// target has them.
    Partial,
}

/// A group the plan creates, changes or deletes, with the members orgsync manages in it: a big
/// group's membership changes in many batched steps, and this is the one line that sums them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    pub group: DepartmentId,
    /// The group's name as the plan leaves it (for a deleted group, as it was).
    pub name: Option<String>,
    /// What the plan does to the group itself: created, updated, deleted, or only its members.
    pub change: GroupChange,
    /// Members orgsync recorded in the target before the run (0 for a group it creates).
    /// Members an adopted group already had, which orgsync did not add, are not counted.
    pub members_before: usize,
    /// Members once every planned step is applied (0 for a group it deletes).
    pub members_after: usize,
    /// People the plan adds and removes (summed over the group's batches).
    pub added: usize,
    pub removed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupChange {
    Created,
    Updated,
    Deleted,
    /// Only members are added or removed.
    Members,
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
            groups: Vec::new(),
            skipped_links: Vec::new(),
            problems: Vec::new(),
            focus: None,
            events: None,
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
        self.groups = group_reports(&plan.steps, snapshot, group_name);
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

/// One entry per group the steps touch, in department id order. `name` gives a group's name as
/// a step leaves it.
fn group_reports(
    steps: &[Step],
    snapshot: &Snapshot,
    name: impl Fn(&Step, &DepartmentId) -> Option<String>,
) -> Vec<GroupReport> {
    let mut groups: BTreeMap<&DepartmentId, GroupReport> = BTreeMap::new();
    for step in steps {
        let plan::Subject::Group(id) = step.subject() else {
            continue;
        };
        let entry = groups.entry(id).or_insert_with(|| {
            let before = snapshot.groups.get(id).map_or(0, |g| g.members.len());
            GroupReport {
                group: id.clone(),
                name: None,
                change: GroupChange::Members,
                members_before: before,
                members_after: before,
                added: 0,
                removed: 0,
            }
        });
        // A create or update names the group as it will be; otherwise the first step's name.
        if entry.name.is_none()
            || matches!(step, Step::CreateGroup { .. } | Step::UpdateGroup { .. })
        {
            entry.name = name(step, id);
        }
        match step {
            Step::CreateGroup { .. } => entry.change = GroupChange::Created,
            Step::UpdateGroup { .. } => entry.change = GroupChange::Updated,
            Step::DeleteGroup { .. } => entry.change = GroupChange::Deleted,
            Step::AddMembers { members, .. } => entry.added += members.len(),
            Step::RemoveMembers { members, .. } => entry.removed += members.len(),
            _ => {}
        }
    }
    groups
        .into_values()
        .map(|mut g| {
            g.members_after = match g.change {
                GroupChange::Deleted => 0,
                _ => (g.members_before + g.added).saturating_sub(g.removed),
            };
            g
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupAttributes, TargetId};
    use crate::plan::RemovalReason;
    use crate::snapshot::AppliedGroup;

    fn attributes(name: &str) -> Box<GroupAttributes> {
        Box::new(GroupAttributes {
            display_name: name.into(),
            parent: None,
            head: None,
        })
    }

    fn keys(prefix: &str, n: usize) -> Vec<UserKey> {
        (0..n)
            .map(|i| UserKey::new(format!("{prefix}{i}")))
            .collect()
    }

    #[test]
    fn group_member_counts_sum_the_batches() {
        let d = DepartmentId::new;
        let mut snapshot = Snapshot::default();
        for (id, members) in [("sales", 3), ("old", 7)] {
            snapshot.groups.insert(
                d(id),
                AppliedGroup {
                    target_id: TargetId::new(id),
                    attributes: *attributes(id),
                    members: keys("m", members).into_iter().collect(),
                },
            );
        }
        let mut steps = vec![Step::CreateGroup {
            group: d("new"),
            attributes: attributes("新部门"),
        }];
        // 5 000 new members in 25 batches, as the planner cuts them.
        for batch in keys("p", 5000).chunks(plan::MEMBER_BATCH) {
            steps.push(Step::AddMembers {
                group: d("new"),
                members: batch.to_vec(),
            });
        }
        steps.push(Step::AddMembers {
            group: d("sales"),
            members: keys("x", 2),
        });
        steps.push(Step::RemoveMembers {
            group: d("sales"),
            members: keys("m", 1),
        });
        steps.push(Step::DeleteGroup {
            group: d("old"),
            reason: RemovalReason::Vanished,
        });
        let name = |step: &Step, group: &DepartmentId| match step {
            Step::CreateGroup { attributes, .. } => Some(attributes.display_name.to_string()),
            _ => Some(format!("named {group}")),
        };
        let groups = group_reports(&steps, &snapshot, name);
        let summary: Vec<_> = groups
            .iter()
            .map(|g| {
                (
                    g.group.as_str(),
                    g.name.as_deref().unwrap(),
                    g.change,
                    g.members_before,
                    g.members_after,
                    g.added,
                    g.removed,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("new", "新部门", GroupChange::Created, 0, 5000, 5000, 0),
                ("old", "named old", GroupChange::Deleted, 7, 0, 0, 0),
                ("sales", "named sales", GroupChange::Members, 3, 4, 2, 1),
            ]
        );
    }
}
