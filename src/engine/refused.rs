//! A run whose plan the deletion guard refuses keeps that plan, so an operator can approve
//! exactly it later (the daemon's "plans waiting for approval").

use super::options::{Approval, RunMode, RunOptions};
use super::progress::RunContext;
use super::run::{Engine, Reached, RunError};
use super::{Connector, SavedPlan};
use crate::plan;
use crate::pullers::Puller;
use crate::pushers::Pusher;
use crate::report::Report;
use crate::snapshot::SnapshotStore;

impl<S: SnapshotStore> Engine<S> {
    /// One run, like [`Engine::run_with`]; when it applies without approval and the deletion
    /// guard refuses its plan, also returns that plan, ready to be sealed and approved later.
    pub async fn run_keeping_refused<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        options: RunOptions,
        context: &RunContext,
    ) -> Result<(Report, Option<SavedPlan>), RunError> {
        let _guard = self.lock(&connector.name)?;
        let prepared = match self.prepare(connector, options, context).await? {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok((report, None)),
        };
        let refused = options.mode == RunMode::Apply
            && options.approval == Approval::None
            && prepared.verdict.is_refused();
        let kept = if refused {
            // Under this run's lock nothing has written the snapshot since it was planned
            // against, so its digest now is the digest then.
            let stored = self.load_snapshot(&connector.name).await?;
            Some((
                super::snapshot_digest(&stored),
                prepared.rebuild.then(|| prepared.start.clone()),
                plan::Pulled::of(&prepared.directory),
                prepared.plan.clone(),
            ))
        } else {
            None
        };
        let report = self
            .execute(connector, prepared, options.mode, options.approval, context)
            .await?;
        let saved = kept.map(
            |(snapshot_digest, rebuilt_snapshot, pulled, plan)| SavedPlan {
                connector: connector.name.clone(),
                created_at: jiff::Timestamp::now(),
                snapshot_digest,
                rebuilt_snapshot,
                pulled,
                plan,
                report: report.clone(),
            },
        );
        Ok((report, saved))
    }
}
