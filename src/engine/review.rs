//! Reviewed plans and explanations: dry runs whose plan is kept, and applying a kept plan.

use super::options::{Approval, Baseline, RunMode, RunOptions};
use super::progress::RunContext;
use super::run::{Engine, Prepared, Reached, RunError, TargetCheck};
use super::saved::VerifiedPlan;
use super::{Connector, SavedPlan};
use crate::daemon::types::PersonMatch;
use crate::model::UserKey;
use crate::plan;
use crate::pullers::Puller;
use crate::pushers::Pusher;
use crate::report::Report;
use crate::snapshot::SnapshotStore;
use tracing::info;

/// What `orgsync explain` prints, with the dry run's report: everyone the query matched, and
/// the explanation when exactly one did (otherwise a sentence saying what to do).
pub struct Explained {
    pub report: Report,
    pub matches: Vec<PersonMatch>,
    pub lines: Vec<String>,
}

impl<S: SnapshotStore> Engine<S> {
    /// A dry run whose plan is returned for saving (`orgsync diff --save`).
    pub async fn plan_for_review<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        baseline: Baseline,
    ) -> Result<Reached<SavedPlan>, RunError> {
        self.plan_for_review_with(connector, baseline, &RunContext::default())
            .await
    }

    /// [`Engine::plan_for_review`] under a caller-chosen run id and progress (the daemon).
    pub async fn plan_for_review_with<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        baseline: Baseline,
        context: &RunContext,
    ) -> Result<Reached<SavedPlan>, RunError> {
        let options = RunOptions {
            baseline,
            ..RunOptions::new(RunMode::DryRun)
        };
        let _guard = self.lock(&connector.name)?;
        let prepared = match self.prepare(connector, options, context).await? {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok(Reached::Ended(report)),
        };
        let saved = SavedPlan {
            connector: connector.name.clone(),
            created_at: jiff::Timestamp::now(),
            // Prepared as a dry run, so the digest is there; without it the plan could never apply.
            snapshot_digest: prepared.stored_digest.clone().unwrap_or_default(),
            rebuilt_snapshot: prepared.rebuild.then(|| prepared.start.clone()),
            pulled: plan::Pulled::of(&prepared.directory),
            plan: prepared.plan.clone(),
            report: self
                .execute(
                    connector,
                    prepared,
                    RunMode::DryRun,
                    Approval::None,
                    context,
                )
                .await?,
        };
        Ok(Reached::Ready(saved))
    }

    /// Applies a reviewed plan exactly, provided nothing was applied since it was made. The
    /// deletion guard judges it again, from its sealed content and the policy in force now.
    pub async fn apply_saved<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        saved: VerifiedPlan,
        approval: Approval,
    ) -> Result<Report, RunError> {
        self.apply_saved_with(connector, saved, approval, &RunContext::default())
            .await
    }

    /// [`Engine::apply_saved`] under a caller-chosen run id and progress (the daemon).
    pub async fn apply_saved_with<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        saved: VerifiedPlan,
        approval: Approval,
        context: &RunContext,
    ) -> Result<Report, RunError> {
        let saved = saved.into_inner();
        if saved.connector != connector.name {
            return Err(RunError::WrongConnector {
                plan: saved.connector,
                connector: connector.name.clone(),
            });
        }
        let _guard = self.lock(&connector.name)?;
        let stored = self.load_snapshot(&connector.name).await?;
        if super::snapshot_digest(&stored) != saved.snapshot_digest {
            return Err(RunError::StalePlan {
                connector: connector.name.clone(),
            });
        }
        let mut report = saved.report;
        report.restart(RunMode::Apply);
        if let Some(id) = &context.run_id {
            report.run_id = id.clone();
        }
        let rebuild = saved.rebuilt_snapshot.is_some();
        let start = saved.rebuilt_snapshot.unwrap_or_else(|| stored.clone());
        // What the plan was computed against: the stored snapshot (the digest proved it is the
        // same), or the target's accounts it was made from plus the ones it adopts.
        let baseline = if rebuild {
            plan::with_adoptions(&start, &saved.plan.steps)
        } else {
            stored
        };
        let verdict = plan::guard(&saved.plan, &baseline, saved.pulled, &connector.policy);
        let prepared = Prepared {
            report,
            plan: saved.plan,
            start,
            rebuild,
            verdict,
            directory: crate::model::Directory::default(),
            baseline,
            stored_digest: Some(saved.snapshot_digest),
            target_check: TargetCheck::Pending,
        };
        info!(connector = %connector.name, "Applying a reviewed plan.");
        self.execute(connector, prepared, RunMode::Apply, approval, context)
            .await
    }

    /// Why one person is (or is not) synced the way they are, from a fresh pull and plan.
    /// `query` is an upstream id, an e-mail address, a user name or a display name
    /// ([`find_people`](super::find_people)); namesakes are listed, not explained.
    pub async fn explain<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        query: &str,
    ) -> Result<Reached<Explained>, RunError> {
        self.explain_with(connector, query, &RunContext::default())
            .await
    }

    /// [`Engine::explain`] under a caller-chosen run id and progress (the daemon, the console's
    /// person search).
    pub async fn explain_with<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        query: &str,
        context: &RunContext,
    ) -> Result<Reached<Explained>, RunError> {
        let _guard = self.lock(&connector.name)?;
        let prepared = match self
            .prepare(connector, RunOptions::new(RunMode::DryRun), context)
            .await?
        {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok(Reached::Ended(report)),
        };
        let matches = super::find_people(query, &prepared.directory, &prepared.baseline);
        let lines = match matches.as_slice() {
            [one] => plan::explain(
                &UserKey::new(&one.key),
                &prepared.baseline,
                &prepared.directory,
                &connector.policy,
                &prepared.plan,
                &prepared.verdict,
                jiff::Timestamp::now(),
            ),
            [] => vec![format!(
                "Nobody matches {query:?}: it is not the upstream id, e-mail address, user name \
                 or display name of anyone in the pull or in the target. Try the upstream id or \
                 an e-mail address; a display name must match exactly."
            )],
            several => vec![format!(
                "{} people match {query:?}; explain one of them by id: `orgsync explain {} ID`.",
                several.len(),
                connector.name
            )],
        };
        let report = self
            .execute(
                connector,
                prepared,
                RunMode::DryRun,
                Approval::None,
                context,
            )
            .await?;
        Ok(Reached::Ready(Explained {
            report,
            matches,
            lines,
        }))
    }
}
