//! The planner: a pure function from (snapshot, desired directory, policy) to ordered steps, the
//! manager links it skipped and the problems it found. No IO, no failure, same inputs → same plan.

mod desired;
mod explain;
mod guard;
mod links;
mod merge;
mod observe;
mod policy;
mod step;
#[cfg(test)]
mod tests;
mod values;

pub use explain::explain;
pub use guard::{Verdict, approve, check as guard};
pub use links::{LinkSkipReason, SkippedLink};
pub use observe::{Observed, observe, rebuild};
pub use policy::{
    DisabledPolicy, MatchBy, NotActivatedPolicy, Policy, RemovalPolicy, UserNameSource,
};
pub use step::{Phase, RemovalReason, Step, StepKind};
pub use values::{is_placeholder, placeholder};

use crate::model::{Directory, Problem, UserKey};
use crate::snapshot::{AppliedUser, Snapshot};
use desired::Disposition;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Sorted by phase, then by user key.
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
    let desired = desired::compute(snapshot, directory, policy, now);
    let links = links::resolve(directory, &desired.dispositions, snapshot);
    let releases = values::release_contested(snapshot, &desired.dispositions);

    // Every person's disposition with their snapshot entry, in key order (the dispositions
    // cover every snapshot key).
    let removed: BTreeSet<UserKey> = merge::outer_join(&desired.dispositions, &snapshot.users)
        .filter(|(_, d, applied)| d.is_some_and(|d| leaves_active_set(d, *applied)))
        .map(|(key, _, _)| key.clone())
        .collect();

    let mut steps = releases.steps;
    let mut applied_users = merge::Cursor::new(&snapshot.users);
    let mut managers = merge::Cursor::new(&links.managers);
    // Consumed: a person's desired attributes move into their create step, not copied.
    for (key, disposition) in desired.dispositions {
        let applied = applied_users.get(&key);
        let released = if releases.released.is_empty() {
            None
        } else {
            releases.released.get(&key)
        };
        let current = released.or(applied.map(|a| &a.attributes));
        let person = Person {
            key: &key,
            disposition,
            applied,
            current_attributes: current,
            desired_manager: managers.get(&key),
        };
        diff_user(person, &removed, &mut steps);
    }
    sort_steps(&mut steps);

    let mut skipped_links = links.skipped;
    skipped_links.sort();
    let mut problems = directory.problems.clone();
    problems.extend(desired.problems);
    Plan {
        steps,
        skipped_links,
        problems,
    }
}

/// By phase, then by user key. Steps come out of the diff in key order within each phase, so
/// after a stable sort by phase each phase is usually sorted already and is only checked.
fn sort_steps(steps: &mut [Step]) {
    steps.sort_by_key(Step::phase);
    for phase in steps.chunk_by_mut(|a, b| a.phase() == b.phase()) {
        if !phase.is_sorted_by(|a, b| a.user() <= b.user()) {
            phase.sort_by(|a, b| a.user().cmp(b.user()));
        }
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
    key: &'a UserKey,
    disposition: Disposition,
    applied: Option<&'a AppliedUser>,
    /// The target's attributes once this run's value releases are applied.
    current_attributes: Option<&'a crate::model::Attributes>,
    desired_manager: Option<&'a UserKey>,
}

fn diff_user(person: Person<'_>, removed: &BTreeSet<UserKey>, steps: &mut Vec<Step>) {
    let user = person.key.clone();
    match (person.disposition, person.applied) {
        (
            Disposition::Present {
                attributes, active, ..
            },
            None,
        ) => {
            steps.push(Step::Create {
                user: user.clone(),
                attributes: attributes.clone(),
                active,
            });
            if let Some(manager) = person.desired_manager {
                steps.push(Step::SetManager {
                    user,
                    manager: manager.clone(),
                    previous: None,
                });
            }
        }
        (
            Disposition::Present {
                attributes,
                active,
                inactive_reason,
                ..
            },
            Some(applied),
        ) => {
            let current = person.current_attributes.unwrap_or(&applied.attributes);
            let changes = current.changes_to(&attributes);
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
            if let Some(previous) = applied.manager.as_ref().filter(|m| removed.contains(m)) {
                steps.push(Step::ClearManager {
                    user,
                    previous: previous.clone(),
                });
            }
        }
        (Disposition::Deleted(_), None) | (Disposition::Absent | Disposition::Held, _) => {}
    }
}

fn link_step(
    user: &UserKey,
    current: Option<&UserKey>,
    desired: Option<&UserKey>,
    steps: &mut Vec<Step>,
) {
    match (current, desired) {
        (current, Some(desired)) if current != Some(desired) => steps.push(Step::SetManager {
            user: user.clone(),
            manager: desired.clone(),
            previous: current.cloned(),
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
        Step::Adopt { account, .. } => Some(account.clone()),
        Step::Create {
            attributes, active, ..
        } => Some(AppliedUser {
            target_id: target_id?,
            attributes: attributes.clone(),
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
                Step::Adopt { .. } | Step::Create { .. } | Step::Delete { .. } => {}
            }
            Some(entry)
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
