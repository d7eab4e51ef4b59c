//! Plans waiting for approval: a run the deletion guard refused keeps its plan (sealed, in the
//! state); an operator approves exactly that plan (applied as `apply --allow-deletions` would)
//! or dismisses it. A newer refusal replaces it; a run that writes makes it stale, so drops it.

use super::jobs::{Done, Work, supersedes_pending};
use super::state::{PlanError, Shared};
use super::types::{PendingPlanView, SyncAccepted};
use crate::engine::{Approval, verify_plan};
use crate::state::PendingPlan;
use std::sync::Arc;
use tracing::{error, info, warn};

impl Shared {
    /// Every plan waiting for approval. Reads the state: call it off the runtime's threads.
    pub fn pending_plans(&self) -> Result<Vec<PendingPlanView>, PlanError> {
        let plans = self
            .store()
            .pending_plans()
            .map_err(|e| PlanError::Storage(e.to_string()))?;
        Ok(plans.iter().map(PendingPlan::view).collect())
    }

    /// Applies the plan run `run_id` left for approval, exactly, with its removals approved.
    /// It runs like any run of its connector (queued behind a busy one); a plan the snapshot
    /// has moved past is refused by that run (its output says so) and dropped. Reads the state:
    /// call it off the runtime's threads.
    pub fn approve(self: &Arc<Self>, run_id: &str) -> Result<SyncAccepted, PlanError> {
        let plan = self.find_pending(run_id)?;
        let key = self
            .store()
            .plan_key()
            .map_err(|e| PlanError::Storage(e.to_string()))?;
        let verified = match verify_plan(plan.sealed.as_bytes(), &key) {
            Ok(verified) => verified,
            Err(e) => {
                // Only a damaged state gets here: the daemon sealed it itself.
                warn!(run_id, error = %e, "A pending plan fails its seal check; dropping it.");
                let _ = self
                    .store()
                    .remove_pending_plan(&plan.connector, Some(run_id));
                return Err(PlanError::Storage(format!(
                    "the kept plan fails its seal check ({e}); it was dropped"
                )));
            }
        };
        info!(
            connector = plan.connector,
            run_id, "A plan waiting for approval was approved."
        );
        Ok(self.enqueue(
            &plan.connector,
            Work::ApplyPlan {
                plan: Box::new(verified),
                approval: Approval::AllowDeletions,
                approving: Some(run_id.to_owned()),
            },
        )?)
    }

    /// Drops the plan run `run_id` left for approval. Reads the state: call it off the
    /// runtime's threads.
    pub fn dismiss(&self, run_id: &str) -> Result<(), PlanError> {
        let plan = self.find_pending(run_id)?;
        let removed = self
            .store()
            .remove_pending_plan(&plan.connector, Some(run_id))
            .map_err(|e| PlanError::Storage(e.to_string()))?;
        if !removed {
            return Err(PlanError::NotFound(run_id.to_owned()));
        }
        info!(
            connector = plan.connector,
            run_id, "A plan waiting for approval was dismissed."
        );
        Ok(())
    }

    fn find_pending(&self, run_id: &str) -> Result<PendingPlan, PlanError> {
        self.store()
            .pending_plans()
            .map_err(|e| PlanError::Storage(e.to_string()))?
            .into_iter()
            .find(|p| p.run_id == run_id)
            .ok_or_else(|| PlanError::NotFound(run_id.to_owned()))
    }

    /// After a run: keep the plan it refused, or drop the connector's kept plan when the run
    /// wrote (the plan is stale) or approved it.
    pub(super) async fn settle_pending(&self, connector: &str, done: &Done) {
        let store = Arc::clone(self.store());
        let connector = connector.to_owned();
        let refused = done.refused.clone();
        let wrote = done.report.as_ref().is_some_and(supersedes_pending);
        let approving = done.approving.clone();
        let stale_approval = approving.is_some() && done.report.is_none();
        let settled = tokio::task::spawn_blocking(move || {
            if let Some(plan) = refused {
                store.put_pending_plan(&plan)?;
                warn!(
                    connector = plan.connector,
                    run_id = plan.run_id,
                    "The deletion guard refused the plan; it waits for approval (console, or `orgsync diff --save` then `apply --allow-deletions`)."
                );
            } else if let Some(run_id) = approving.filter(|_| wrote || stale_approval) {
                store.remove_pending_plan(&connector, Some(&run_id))?;
            } else if wrote {
                store.remove_pending_plan(&connector, None)?;
            }
            Ok::<_, crate::snapshot::SnapshotError>(())
        })
        .await;
        match settled {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %e, "Cannot update the plans waiting for approval in the state.")
            }
            Err(e) => error!(error = %e, "Updating the plans waiting for approval stopped."),
        }
    }
}

impl PendingPlan {
    /// What the API and the CLI show of it (not the sealed plan).
    pub fn view(&self) -> PendingPlanView {
        PendingPlanView {
            run_id: self.run_id.clone(),
            connector: self.connector.clone(),
            created_at: self.created_at,
            reason: self.reasons.join("; "),
            counts: self.counts.clone(),
        }
    }
}
