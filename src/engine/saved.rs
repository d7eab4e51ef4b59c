//! Reviewed plans: `orgsync diff --save plan.json` writes the plan an admin reviews;
//! `orgsync apply plan.json` applies exactly that plan, or refuses if the snapshot has moved since.

use crate::plan::{Plan, Verdict};
use crate::report::Report;
use crate::snapshot::Snapshot;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "orgsync-plan/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub connector: String,
    pub created_at: Timestamp,
    /// Digest of the stored snapshot the plan was computed against.
    pub snapshot_digest: String,
    /// When the plan was made against the target's accounts (first sync, `--full`), the snapshot
    /// rebuilt from them, installed before applying.
    pub rebuilt_snapshot: Option<Snapshot>,
    pub verdict: Verdict,
    pub plan: Plan,
    /// The dry-run report shown when the plan was made.
    pub report: Report,
}

/// A stable fingerprint of a snapshot: FNV-1a over its canonical JSON (maps are ordered).
pub fn snapshot_digest(snapshot: &Snapshot) -> String {
    let json = serde_json::to_vec(snapshot).unwrap_or_default();
    let hash = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}-{}", snapshot.users.len())
}
