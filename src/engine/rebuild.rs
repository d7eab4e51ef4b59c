//! `orgsync snapshot rebuild`: the snapshot replaced by the target's accounts that belong to the
//! people of a fresh pull.

use super::{Connector, Engine, RunError};
use crate::model::{Problem, TargetId, UserKey};
use crate::pullers::{PullError, Puller};
use crate::pushers::{PushError, Pusher};
use crate::snapshot::SnapshotStore;
use tracing::{error, info, instrument};

/// What a rebuild found.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// Accounts linked by externalId to a pulled person, now the snapshot.
    pub linked: usize,
    /// Accounts without an externalId, left out (a `--full` sync may adopt them).
    pub unlinked: usize,
    /// Accounts whose externalId is no key of the pull: another system's, left unmanaged.
    pub unmanaged: Vec<Unmanaged>,
    /// Several accounts carrying one key (the lowest id was kept).
    pub problems: Vec<Problem>,
}

/// Unmanaged accounts listed after a rebuild; the rest are counted.
const UNMANAGED_SHOWN: usize = 20;

impl Rebuilt {
    /// What `orgsync snapshot rebuild` says (in the terminal, or from the daemon).
    pub fn lines(&self, connector: &str) -> Vec<String> {
        let mut lines = vec![format!(
            "Rebuilt the snapshot of connector {connector} from the target: {} account(s) linked \
             by externalId to people of the pull; {} account(s) without an externalId left out.",
            self.linked, self.unlinked
        )];
        lines.extend(unmanaged_lines(&self.unmanaged, UNMANAGED_SHOWN));
        lines.extend(
            self.problems
                .iter()
                .map(|problem| format!("  problem: {problem}")),
        );
        lines
    }
}

/// The accounts a rebuild left unmanaged, by target id and key (what an admin needs to find
/// them, no personal field); beyond `shown`, a count.
fn unmanaged_lines(unmanaged: &[Unmanaged], shown: usize) -> Vec<String> {
    if unmanaged.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "{} account(s) with an externalId no person of the pull has were left unmanaged \
         (another system's; orgsync will not change or remove them):",
        unmanaged.len()
    )];
    lines.extend(
        unmanaged
            .iter()
            .take(shown)
            .map(|u| format!("  {}  {}", u.id, u.key)),
    );
    if unmanaged.len() > shown {
        lines.push(format!("  … and {} more", unmanaged.len() - shown));
    }
    lines
}

/// An account a rebuild left alone: what an admin needs to find it, nothing personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmanaged {
    pub id: TargetId,
    pub key: UserKey,
}

/// How a rebuild ended.
#[derive(Debug)]
pub enum Rebuild {
    Rebuilt(Rebuilt),
    /// Nothing was replaced: the snapshot is as it was.
    Failed(RebuildError),
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("the pull failed: {0}")]
    Pull(#[source] PullError),
    #[error("cannot list the target's accounts: {0}")]
    List(#[source] PushError),
}

impl<S: SnapshotStore> Engine<S> {
    /// Pulls, lists the target's accounts and replaces the connector's snapshot with those linked
    /// to a pulled person. A failed pull or listing leaves the snapshot unchanged.
    #[instrument(level = "info", skip(self, connector), fields(connector = %connector.name))]
    pub async fn rebuild_snapshot<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
    ) -> Result<Rebuild, RunError> {
        let _guard = self.lock(&connector.name)?;
        // A corrupt snapshot is what a rebuild repairs: only its keys and grace-period clocks
        // would be kept.
        let stored = self
            .load_snapshot(&connector.name)
            .await
            .unwrap_or_default();
        let pulled = match connector.puller.pull().await {
            Ok(pulled) => pulled,
            Err(e) => {
                error!(error = %e, "The pull failed; the snapshot was not rebuilt.");
                return Ok(Rebuild::Failed(RebuildError::Pull(e)));
            }
        };
        let accounts = match connector.pusher.list().await {
            Ok(accounts) => accounts,
            Err(e) => {
                error!(error = %e, "Cannot list the target's accounts; the snapshot was not rebuilt.");
                return Ok(Rebuild::Failed(RebuildError::List(e)));
            }
        };
        let observed = crate::plan::rebuild(&stored, &pulled.directory, &accounts);
        let unmanaged: Vec<Unmanaged> = accounts
            .iter()
            .filter_map(|a| {
                let key = a.external_id.as_ref()?;
                (!observed.linked.users.contains_key(key)).then(|| Unmanaged {
                    id: a.id.clone(),
                    key: key.clone(),
                })
            })
            .collect();
        let linked = self
            .replace_snapshot(&connector.name, observed.linked)
            .await?;
        let rebuilt = Rebuilt {
            linked: linked.users.len(),
            unlinked: accounts.iter().filter(|a| a.external_id.is_none()).count(),
            unmanaged,
            problems: observed.problems,
        };
        info!(
            linked = rebuilt.linked,
            unlinked = rebuilt.unlinked,
            unmanaged = rebuilt.unmanaged.len(),
            "Snapshot rebuilt from the target."
        );
        Ok(Rebuild::Rebuilt(rebuilt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_unmanaged_list_is_truncated_with_a_count() {
        let unmanaged: Vec<Unmanaged> = (0..25)
            .map(|n| Unmanaged {
                id: TargetId::new(format!("id-{n}")),
                key: UserKey::new(format!("key-{n}")),
            })
            .collect();
        let lines = unmanaged_lines(&unmanaged, 20);
        assert_eq!(lines.len(), 22, "{lines:?}");
        assert!(lines[0].starts_with("25 account(s)"), "{lines:?}");
        assert_eq!(lines[1], "  id-0  key-0");
        assert_eq!(lines[21], "  … and 5 more");
        assert!(unmanaged_lines(&[], 20).is_empty());
    }
}
