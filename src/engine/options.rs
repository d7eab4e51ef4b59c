//! What a caller chooses about a run. Modes are enums, never booleans.

use serde::{Deserialize, Serialize};
use std::fmt;

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
