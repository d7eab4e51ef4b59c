//! Plans the deletion guard refused in the daemon, kept for an operator to approve or dismiss:
//! one tree, key the connector's name (a newer refusal replaces the older), value the record as
//! JSON. The plan inside is the sealed plan file's content, so approving it goes through the
//! same seal check as `orgsync apply`.

use super::{StateDb, storage};
use crate::snapshot::SnapshotError;
use serde::{Deserialize, Serialize};

const PENDING_TREE: &str = "pending_plans";

/// A refused plan waiting for approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPlan {
    /// The refused run's id.
    pub run_id: String,
    pub connector: String,
    pub created_at: jiff::Timestamp,
    /// The guard's reasons, as the report says them.
    pub reasons: Vec<String>,
    pub counts: std::collections::BTreeMap<crate::plan::StepKind, usize>,
    /// The sealed plan file's content.
    pub sealed: String,
}

impl StateDb {
    /// Keeps `plan` as its connector's pending plan, replacing an older one.
    pub fn put_pending_plan(&self, plan: &PendingPlan) -> Result<(), SnapshotError> {
        let tree = self.db.open_tree(PENDING_TREE).map_err(storage)?;
        let value = serde_json::to_vec(plan)
            .map_err(|e| SnapshotError::Storage(format!("cannot encode the pending plan: {e}")))?;
        tree.insert(plan.connector.as_bytes(), value)
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    /// Every pending plan, by connector name. A record that cannot be read is skipped with a
    /// warning: it can only be dismissed by a newer refusal or `remove_pending_plan`.
    pub fn pending_plans(&self) -> Result<Vec<PendingPlan>, SnapshotError> {
        let tree = self.db.open_tree(PENDING_TREE).map_err(storage)?;
        let mut plans = Vec::new();
        for entry in tree.iter() {
            let (key, value) = entry.map_err(storage)?;
            match serde_json::from_slice::<PendingPlan>(&value) {
                Ok(plan) => plans.push(plan),
                Err(e) => tracing::warn!(
                    connector = %String::from_utf8_lossy(&key),
                    error = %e,
                    "A pending plan in the state cannot be read; it is ignored."
                ),
            }
        }
        Ok(plans)
    }

    /// Removes `connector`'s pending plan when it is the one of run `run_id` (any, when `None`).
    /// Returns whether one was removed.
    pub fn remove_pending_plan(
        &self,
        connector: &str,
        run_id: Option<&str>,
    ) -> Result<bool, SnapshotError> {
        let tree = self.db.open_tree(PENDING_TREE).map_err(storage)?;
        let Some(value) = tree.get(connector.as_bytes()).map_err(storage)? else {
            return Ok(false);
        };
        if let Some(run_id) = run_id {
            let same = serde_json::from_slice::<PendingPlan>(&value)
                .map(|p| p.run_id == run_id)
                .unwrap_or(false);
            if !same {
                return Ok(false);
            }
        }
        // Removed only if unchanged since read: a newer refusal stored meanwhile stays.
        let removed = tree
            .compare_and_swap(connector.as_bytes(), Some(value), None::<&[u8]>)
            .map_err(storage)?
            .is_ok();
        self.db.flush().map_err(storage)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(connector: &str, run_id: &str) -> PendingPlan {
        PendingPlan {
            run_id: run_id.into(),
            connector: connector.into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            reasons: vec!["3 removals exceed max_deletions = 1".into()],
            counts: Default::default(),
            sealed: "{}".into(),
        }
    }

    #[test]
    fn a_newer_refusal_replaces_the_older_and_removal_checks_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        db.put_pending_plan(&plan("hq", "run-1")).unwrap();
        db.put_pending_plan(&plan("hq", "run-2")).unwrap();
        db.put_pending_plan(&plan("lab", "run-3")).unwrap();
        let runs: Vec<String> = db
            .pending_plans()
            .unwrap()
            .into_iter()
            .map(|p| p.run_id)
            .collect();
        assert_eq!(runs, ["run-2", "run-3"]);
        assert!(!db.remove_pending_plan("hq", Some("run-1")).unwrap());
        assert!(db.remove_pending_plan("hq", Some("run-2")).unwrap());
        assert!(!db.remove_pending_plan("hq", None).unwrap());
        assert!(db.remove_pending_plan("lab", None).unwrap());
        assert!(db.pending_plans().unwrap().is_empty());
    }
}
