//! `orgsync snapshot rebuild`: the snapshot replaced by what the target holds, without a pull.

use super::{Connector, Engine, RunError};
use crate::model::Problem;
use crate::pullers::Puller;
use crate::pushers::{PushError, Pusher};
use crate::snapshot::SnapshotStore;
use tracing::{info, instrument};

/// What a rebuild found.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// Accounts linked by externalId, now the snapshot.
    pub linked: usize,
    /// Accounts without an externalId, left out (a `--full` sync may adopt them).
    pub unlinked: usize,
    /// Several accounts carrying one key (the lowest id was kept).
    pub problems: Vec<Problem>,
}

impl<S: SnapshotStore> Engine<S> {
    /// Lists the target's accounts and replaces the connector's snapshot with those carrying an
    /// externalId. `Ok(Err(_))`: the target could not be listed; the snapshot is unchanged.
    #[instrument(level = "info", skip(self, connector), fields(connector = %connector.name))]
    pub async fn rebuild_snapshot<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
    ) -> Result<Result<Rebuilt, PushError>, RunError> {
        let _guard = self.lock(&connector.name)?;
        // A corrupt snapshot is what a rebuild repairs: only its grace-period clocks would be kept.
        let stored = self
            .load_snapshot(&connector.name)
            .await
            .unwrap_or_default();
        let accounts = match connector.pusher.list().await {
            Ok(accounts) => accounts,
            Err(e) => return Ok(Err(e)),
        };
        let observed = crate::plan::rebuild(&stored, &accounts);
        let linked = self
            .replace_snapshot(&connector.name, observed.linked)
            .await?;
        let rebuilt = Rebuilt {
            linked: linked.users.len(),
            unlinked: accounts.iter().filter(|a| a.external_id.is_none()).count(),
            problems: observed.problems,
        };
        info!(
            linked = rebuilt.linked,
            unlinked = rebuilt.unlinked,
            "Snapshot rebuilt from the target."
        );
        Ok(Ok(rebuilt))
    }
}
