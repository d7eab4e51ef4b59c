//! The deletion guard: refuses a plan that would remove too many accounts at once, the mark of a
//! shrunken scope or an upstream outage rather than of real departures.

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

/// Counts deactivations and deletions against the policy's limits.
pub fn check(plan: &Plan, snapshot: &Snapshot, pulled: Pulled, policy: &super::Policy) -> Verdict {
    let removals = plan.count(StepKind::Deactivate) + plan.count(StepKind::Delete);
    let managed = snapshot.users.len();
    if removals == 0 {
        return Verdict::Pass { removals };
    }
    if pulled.people == 0 && pulled.held == 0 {
        return Verdict::Refused {
            removals,
            managed,
            reasons: vec![format!(
                "the pull returned nobody, which would remove all {managed} managed accounts; \
                 an empty pull is taken as an outage or a revoked scope and is never applied"
            )],
            overridable: false,
        };
    }
    let mut reasons = Vec::new();
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
    if reasons.is_empty() {
        Verdict::Pass { removals }
    } else {
        Verdict::Refused {
            removals,
            managed,
            reasons,
            overridable: true,
        }
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
