//! Reviewed plans and explanations: dry runs whose plan is kept, and applying a kept plan.

use super::options::{Approval, Baseline, RunMode, RunOptions};
use super::progress::RunContext;
use super::run::{Engine, Prepared, Reached, RunError, TargetCheck};
use super::{Connector, SavedPlan};
use crate::plan;
use crate::pullers::Puller;
use crate::pushers::Pusher;
use crate::report::Report;
use crate::snapshot::SnapshotStore;
use tracing::info;

/// What `orgsync explain` prints, with the dry run's report.
pub struct Explained {
    pub report: Report,
    pub lines: Vec<String>,
}

impl<S: SnapshotStore> Engine<S> {
    /// A dry run whose plan is returned for saving (`orgsync diff --save`).
    pub async fn plan_for_review<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        baseline: Baseline,
    ) -> Result<Reached<SavedPlan>, RunError> {
        let options = RunOptions {
            baseline,
            ..RunOptions::new(RunMode::DryRun)
        };
        let context = RunContext::default();
        let _guard = self.lock(&connector.name)?;
        let prepared = match self.prepare(connector, options, &context).await? {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok(Reached::Ended(report)),
        };
        let saved = SavedPlan {
            format: super::saved::FORMAT.to_owned(),
            connector: connector.name.clone(),
            created_at: jiff::Timestamp::now(),
            // Prepared as a dry run, so the digest is there; without it the plan could never apply.
            snapshot_digest: prepared.stored_digest.clone().unwrap_or_default(),
            rebuilt_snapshot: prepared.rebuild.then(|| prepared.start.clone()),
            verdict: prepared.verdict.clone(),
            plan: prepared.plan.clone(),
            report: self
                .execute(
                    connector,
                    prepared,
                    RunMode::DryRun,
                    Approval::None,
                    &context,
                )
                .await?,
        };
        Ok(Reached::Ready(saved))
    }

    /// Applies a reviewed plan exactly, provided nothing was applied since it was made.
    pub async fn apply_saved<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        saved: SavedPlan,
        approval: Approval,
    ) -> Result<Report, RunError> {
        if saved.format != super::saved::FORMAT {
            return Err(RunError::NotAPlan(saved.connector, saved.format));
        }
        if saved.connector != connector.name {
            return Err(RunError::WrongConnector {
                plan: saved.connector,
                connector: connector.name.clone(),
            });
        }
        let _guard = self.lock(&connector.name)?;
        let stored = self.store().load(&connector.name)?;
        if super::snapshot_digest(&stored) != saved.snapshot_digest {
            return Err(RunError::StalePlan {
                connector: connector.name.clone(),
            });
        }
        let mut report = saved.report;
        report.restart(RunMode::Apply);
        let rebuild = saved.rebuilt_snapshot.is_some();
        let start = saved.rebuilt_snapshot.unwrap_or_else(|| stored.clone());
        let prepared = Prepared {
            report,
            plan: saved.plan,
            start,
            rebuild,
            verdict: saved.verdict,
            directory: crate::model::Directory::default(),
            baseline: stored,
            stored_digest: Some(saved.snapshot_digest),
            target_check: TargetCheck::Pending,
        };
        info!(connector = %connector.name, "Applying a reviewed plan.");
        self.execute(
            connector,
            prepared,
            RunMode::Apply,
            approval,
            &RunContext::default(),
        )
        .await
    }

    /// Why one person is (or is not) synced the way they are, from a fresh pull and plan.
    pub async fn explain<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        user: &crate::model::UserKey,
    ) -> Result<Reached<Explained>, RunError> {
        let context = RunContext::default();
        let _guard = self.lock(&connector.name)?;
        let prepared = match self
            .prepare(connector, RunOptions::new(RunMode::DryRun), &context)
            .await?
        {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok(Reached::Ended(report)),
        };
        let lines = plan::explain(
            user,
            &prepared.baseline,
            &prepared.directory,
            &connector.policy,
            &prepared.plan,
            &prepared.verdict,
        );
        let report = self
            .execute(
                connector,
                prepared,
                RunMode::DryRun,
                Approval::None,
                &context,
            )
            .await?;
        Ok(Reached::Ready(Explained { report, lines }))
    }
}
