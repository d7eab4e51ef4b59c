//! The planner: a pure function from (snapshot, desired directory, policy) to ordered steps, the
//! manager links it skipped and the problems it found. No IO, no failure, same inputs → same plan.

mod desired;
mod explain;
mod explain_attributes;
mod focus;
mod groups;
mod guard;
mod links;
mod merge;
mod numbering;
mod observe;
mod policy;
mod roster;
mod step;
#[cfg(test)]
mod tests;
mod values;

pub use explain::explain;
pub use focus::{Focus, Reach};
pub use guard::{Pulled, Verdict, approve, check as guard};
pub use links::{LinkSkipReason, SkippedLink};
pub use observe::{Observed, observe, rebuild, with_adoptions};
pub use policy::{
    DisabledPolicy, GroupMembers, GroupNaming, GroupPolicy, ManagerFallback, MatchBy,
    NotActivatedPolicy, Policy, RemovalPolicy, UserNameSource,
};
pub use step::{LinkSource, MEMBER_BATCH, Phase, RemovalReason, Step, StepKind, Subject};
pub use values::{is_placeholder, placeholder};

use crate::model::{Attributes, DepartmentId, Directory, Problem, TargetId, UserKey};
use crate::snapshot::{AppliedUser, Snapshot, SnapshotChange};
use desired::{Desired, Disposition};
use roster::{Index, Roster, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Sorted by phase, then by subject (people by key, then groups by department id).
    pub steps: Vec<Step>,
    pub skipped_links: Vec<SkippedLink>,
    /// Upstream problems carried over from the pull, then problems the planner found.
    pub problems: Vec<Problem>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn count(&self, kind: StepKind) -> usize {
        self.steps.iter().filter(|s| s.kind() == kind).count()
    }
}

/// Computes the steps that take the target from `snapshot` to what `directory` and `policy` ask for.
/// `now` decides which staged deletions are due.
pub fn plan(
    snapshot: &Snapshot,
    directory: &Directory,
    policy: &Policy,
    now: jiff::Timestamp,
) -> Plan {
    let roster = Roster::new(directory, snapshot);
    let paths = desired::DepartmentPaths::new(directory, policy);
    let desired = desired::compute(&roster, directory, policy, &paths, now);
    let links = links::resolve(&roster, &desired, directory, policy);
    let releases = values::release_contested(&roster, &desired);

    // Who this run deactivates or deletes while the target has them active or at all.
    let removed: Vec<bool> = roster
        .rows()
        .iter()
        .zip(&desired.dispositions)
        .map(|(row, d)| leaves_active_set(d, row.applied))
        .collect();

    let mut steps = Steps::default();
    steps.push_all(releases.steps);
    for (i, row) in roster.rows().iter().enumerate() {
        let index = i as Index;
        let person = Person {
            index,
            row: *row,
            current_attributes: releases
                .released
                .get(&index)
                .or(row.applied.map(|a| &a.attributes)),
            desired_manager: links.managers[i].map(|m| roster.row(m).key),
            link_source: links.source(index),
        };
        diff_user(person, &desired, &roster, &removed, &mut steps);
    }

    let mut group_problems = Vec::new();
    groups::plan(
        &roster,
        &desired,
        directory,
        snapshot,
        &policy.groups,
        &mut steps,
        &mut group_problems,
    );

    let mut skipped_links = links.skipped;
    skipped_links.sort();
    let mut problems = directory.problems.clone();
    problems.extend(desired.problems);
    problems.extend(group_problems);
    Plan {
        steps: steps.into_ordered(),
        skipped_links,
        problems,
    }
}

/// Steps collected per phase. The diff visits people in key order, so each phase's steps arrive
/// sorted by user and the plan is their concatenation: no sort of the whole plan.
struct Steps {
    by_phase: [Vec<Step>; Phase::ALL.len()],
}

impl Default for Steps {
    fn default() -> Self {
        Steps {
            by_phase: std::array::from_fn(|_| Vec::new()),
        }
    }
}

impl Steps {
    fn push(&mut self, step: Step) {
        self.by_phase[step.phase() as usize].push(step);
    }

    fn push_all(&mut self, steps: Vec<Step>) {
        for step in steps {
            self.push(step);
        }
    }

    /// By phase, then by user key. The largest phase's vector becomes the plan, so its steps
    /// are moved at most once and never copied to fresh memory (at a million people that
    /// copy cost as much as planning the creates).
    fn into_ordered(self) -> Vec<Step> {
        let mut phases = self.by_phase;
        debug_assert!(
            phases
                .iter()
                .all(|phase| phase.is_sorted_by(|a, b| a.subject() <= b.subject()))
        );
        let largest = (0..phases.len())
            .max_by_key(|&p| phases[p].len())
            .unwrap_or_default();
        let mut ordered = std::mem::take(&mut phases[largest]);
        let (earlier, later) = phases.split_at_mut(largest);
        let later = &mut later[1..];
        ordered.reserve_exact(earlier.iter().chain(later.iter()).map(Vec::len).sum());
        let earlier: Vec<Step> = earlier.iter_mut().flat_map(std::mem::take).collect();
        ordered.splice(0..0, earlier);
        for phase in later {
            ordered.append(phase);
        }
        ordered
    }
}

/// True when this run deactivates or deletes an account the target has active or at all.
fn leaves_active_set(disposition: &Disposition, applied: Option<&AppliedUser>) -> bool {
    let Some(applied) = applied else { return false };
    match disposition {
        Disposition::Present { active, .. } => applied.active && !active,
        Disposition::Deleted(_) => true,
        Disposition::Absent | Disposition::Held => false,
    }
}

/// What the planner knows about one person when diffing them.
struct Person<'a> {
    index: Index,
    row: Row<'a>,
    /// The target's attributes once this run's value releases are applied.
    current_attributes: Option<&'a Attributes>,
    desired_manager: Option<&'a UserKey>,
    /// Where `desired_manager` comes from.
    link_source: LinkSource,
}

fn diff_user<'a>(
    person: Person<'a>,
    desired: &Desired<'a>,
    roster: &Roster<'a>,
    removed: &[bool],
    steps: &mut Steps,
) {
    let user = person.row.key.clone();
    let disposition = desired.dispositions[person.index as usize];
    match (disposition, person.row.applied) {
        (Disposition::Present { active, .. }, None) => {
            let attributes = desired
                .attributes(person.index, person.row)
                .unwrap_or_default();
            steps.push(Step::Create {
                user: user.clone(),
                attributes: Box::new(attributes),
                active,
            });
            if let Some(manager) = person.desired_manager {
                steps.push(Step::SetManager {
                    user,
                    manager: manager.clone(),
                    previous: None,
                    source: person.link_source,
                });
            }
        }
        (
            Disposition::Present {
                active,
                inactive_reason,
                ..
            },
            Some(applied),
        ) => {
            let current = person.current_attributes.unwrap_or(&applied.attributes);
            let changes = desired.changes_from(current, person.index, person.row);
            if !changes.is_empty() {
                steps.push(Step::Update {
                    user: user.clone(),
                    changes,
                });
            }
            link_step(
                &user,
                applied.manager.as_ref(),
                person.desired_manager,
                person.link_source,
                steps,
            );
            match (applied.active, active) {
                (false, true) => steps.push(Step::Reactivate { user }),
                (true, false) => steps.push(Step::Deactivate {
                    user,
                    reason: inactive_reason.unwrap_or(RemovalReason::Vanished),
                }),
                _ => {}
            }
        }
        // The deleted person's own link goes with them; links *to* them are cleared by the others.
        (Disposition::Deleted(reason), Some(_)) => steps.push(Step::Delete { user, reason }),
        // A held person keeps everything, except a link to someone this run removes: that link
        // would dangle (or block the removal in strict targets).
        (Disposition::Held, Some(applied)) => {
            let dangling = applied.manager.as_ref().filter(|m| {
                roster
                    .index_of(m)
                    .is_some_and(|index| removed[index as usize])
            });
            if let Some(previous) = dangling {
                steps.push(Step::ClearManager {
                    user,
                    previous: previous.clone(),
                });
            }
        }
        _ => {}
    }
}

fn link_step(
    user: &UserKey,
    current: Option<&UserKey>,
    desired: Option<&UserKey>,
    source: LinkSource,
    steps: &mut Steps,
) {
    match (current, desired) {
        (current, Some(desired)) if current != Some(desired) => steps.push(Step::SetManager {
            user: user.clone(),
            manager: desired.clone(),
            previous: current.cloned(),
            source,
        }),
        (Some(current), None) => steps.push(Step::ClearManager {
            user: user.clone(),
            previous: current.clone(),
        }),
        _ => {}
    }
}

/// The snapshot entry after a step the target acknowledged. `target_id` is the id the target
/// reported for a create, or the new id of an account the step moved; `now` stamps deactivations
/// for the deletion grace period.
pub fn applied_after(
    step: &Step,
    before: Option<&AppliedUser>,
    target_id: Option<crate::model::TargetId>,
    now: jiff::Timestamp,
) -> Option<AppliedUser> {
    match step {
        Step::Adopt { account, .. } => Some((**account).clone()),
        Step::Create {
            attributes, active, ..
        } => Some(AppliedUser {
            target_id: target_id?,
            attributes: (**attributes).clone(),
            active: *active,
            manager: None,
            deactivated_at: (!active).then_some(now),
        }),
        Step::Delete { .. } => None,
        _ => {
            let mut entry = before?.clone();
            if let Some(moved_to) = target_id {
                entry.target_id = moved_to;
            }
            match step {
                Step::FreeValues { changes, .. } | Step::Update { changes, .. } => {
                    entry.attributes.apply(changes)
                }
                Step::Reactivate { .. } => {
                    entry.active = true;
                    entry.deactivated_at = None;
                }
                Step::SetManager { manager, .. } => entry.manager = Some(manager.clone()),
                Step::ClearManager { .. } => entry.manager = None,
                Step::Deactivate { .. } => {
                    entry.active = false;
                    entry.deactivated_at = Some(now);
                }
                // Group steps change no person's entry (the engine records them per group).
                Step::Adopt { .. }
                | Step::Create { .. }
                | Step::Delete { .. }
                | Step::CreateGroup { .. }
                | Step::UpdateGroup { .. }
                | Step::AddMembers { .. }
                | Step::RemoveMembers { .. }
                | Step::DeleteGroup { .. } => {}
            }
            Some(entry)
        }
    }
}

/// The snapshot change a step the target acknowledged makes. `target_id` is the id the target
/// reported for a create, or the new id of an account or group the step moved; `now` stamps
/// deactivations.
pub fn snapshot_change(
    step: &Step,
    snapshot: &Snapshot,
    target_id: Option<crate::model::TargetId>,
    now: jiff::Timestamp,
) -> SnapshotChange {
    let group_id = |group: &DepartmentId| {
        target_id
            .clone()
            .or_else(|| snapshot.groups.get(group).map(|g| g.target_id.clone()))
            .unwrap_or_else(|| TargetId::new(""))
    };
    match step {
        Step::CreateGroup { group, attributes } => SnapshotChange::UpsertGroup {
            group: group.clone(),
            target_id: group_id(group),
            attributes: (**attributes).clone(),
        },
        Step::UpdateGroup { group, after, .. } => SnapshotChange::UpsertGroup {
            group: group.clone(),
            target_id: group_id(group),
            attributes: (**after).clone(),
        },
        Step::AddMembers { group, members } => {
            SnapshotChange::AddMembers(group.clone(), members.clone())
        }
        Step::RemoveMembers { group, members } => {
            SnapshotChange::RemoveMembers(group.clone(), members.clone())
        }
        Step::DeleteGroup { group, .. } => SnapshotChange::RemoveGroup(group.clone()),
        Step::Adopt { user, .. }
        | Step::Create { user, .. }
        | Step::FreeValues { user, .. }
        | Step::Update { user, .. }
        | Step::Reactivate { user }
        | Step::SetManager { user, .. }
        | Step::ClearManager { user, .. }
        | Step::Deactivate { user, .. }
        | Step::Delete { user, .. } => {
            match applied_after(step, snapshot.users.get(user), target_id, now) {
                Some(entry) => SnapshotChange::Upsert(user.clone(), entry),
                None => SnapshotChange::Remove(user.clone()),
            }
        }
    }
}

/// Summary counts per step kind, in a fixed order.
pub fn counts(steps: &[Step]) -> BTreeMap<StepKind, usize> {
    let mut counts: BTreeMap<StepKind, usize> = StepKind::ALL.iter().map(|k| (*k, 0)).collect();
    for step in steps {
        *counts.entry(step.kind()).or_default() += 1;
    }
    counts
}
