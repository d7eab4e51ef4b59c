//! The deletion guard: refuses a plan that would remove too many accounts or groups at once, the
//! mark of a shrunken scope or an upstream outage rather than of real departures.

use super::{Plan, StepKind};
use crate::model::Directory;
use crate::snapshot::Snapshot;
use serde::{Deserialize, Serialize};

/// How many people a pull returned: all the guard needs of the directory, and what a saved plan
/// keeps (sealed) so that apply can judge it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pulled {
    /// People in scope, synced.
    pub people: usize,
    /// People in scope held back (unknown status, missing name).
    pub held: usize,
}

impl Pulled {
    pub fn of(directory: &Directory) -> Self {
        Pulled {
            people: directory.users.len(),
            held: directory.held.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass {
        removals: usize,
    },
    /// Nothing may be applied. `overridable` plans can be approved with `--allow-deletions`.
    Refused {
        removals: usize,
        managed: usize,
        reasons: Vec<String>,
        overridable: bool,
        /// Groups the plan deletes; left out of the JSON when none (as before groups existed).
        #[serde(default, skip_serializing_if = "is_zero")]
        group_deletions: usize,
    },
    /// Refused, then approved by the operator for this run.
    Approved {
        removals: usize,
        reasons: Vec<String>,
    },
}

impl Verdict {
    pub fn is_refused(&self) -> bool {
        matches!(self, Verdict::Refused { .. })
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Counts deactivations and deletions, and group deletions, against the policy's limits.
pub fn check(plan: &Plan, snapshot: &Snapshot, pulled: Pulled, policy: &super::Policy) -> Verdict {
    let removals = plan.count(StepKind::Deactivate) + plan.count(StepKind::Delete);
    let group_deletions = plan.count(StepKind::DeleteGroup);
    let managed = snapshot.users.len();
    if removals == 0 && group_deletions == 0 {
        return Verdict::Pass { removals };
    }
    if removals > 0 && pulled.people == 0 && pulled.held == 0 {
        return Verdict::Refused {
            removals,
            managed,
            reasons: vec![format!(
                "the pull returned nobody, which would remove all {managed} managed accounts; \
                 an empty pull is taken as an outage or a revoked scope and is never applied"
            )],
            overridable: false,
            group_deletions,
        };
    }
    let mut reasons = Vec::new();
    if removals > 0 {
        people_limits(removals, managed, policy, &mut reasons);
    }
    if group_deletions > policy.max_group_deletions {
        let recorded = snapshot.groups.len();
        reasons.push(format!(
            "{group_deletions} group deletions (of {recorded} groups) exceed max_group_deletions = {}",
            policy.max_group_deletions
        ));
    }
    if reasons.is_empty() {
        Verdict::Pass { removals }
    } else {
        Verdict::Refused {
            removals,
            managed,
            reasons,
            overridable: true,
            group_deletions,
        }
    }
}

/// The people's limits: a count and a share of the managed accounts.
fn people_limits(
    removals: usize,
    managed: usize,
    policy: &super::Policy,
    reasons: &mut Vec<String>,
) {
    if removals > policy.max_deletions {
        reasons.push(format!(
            "{removals} deactivations and deletions exceed max_deletions = {}",
            policy.max_deletions
        ));
    }
    let ratio = removals as f64 / managed.max(1) as f64;
    if ratio > policy.max_deletion_ratio {
        reasons.push(format!(
            "{removals} of {managed} managed accounts ({:.0} %) exceed max_deletion_ratio = {}",
            ratio * 100.0,
            policy.max_deletion_ratio
        ));
    }
}

/// The operator's approval turns an overridable refusal into an approval; nothing else changes.
pub fn approve(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Refused {
            removals,
            reasons,
            overridable: true,
            ..
        } => Verdict::Approved { removals, reasons },
        other => other,
    }
}
