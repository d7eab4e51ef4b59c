//! A run for a few people ("provision on demand": `orgsync sync NAME --person KEY`): the same
//! pipeline as every run, with a pull of these people and a plan narrowed to them
//! (`plan::Focus`).

use super::Connector;
use super::options::{Approval, RunMode, RunOptions};
use super::progress::RunContext;
use super::run::{Engine, Reached, RunError};
use crate::model::{Directory, UserKey};
use crate::plan;
use crate::pullers::{Coverage, Focused, PullError, Puller};
use crate::pushers::Pusher;
use crate::report::{FocusCoverage, FocusReport, Report};
use crate::snapshot::{Snapshot, SnapshotStore};
use std::collections::BTreeSet;
use tracing::info;

/// Whose steps a run plans.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Whom<'k> {
    Everyone,
    /// People an operator named: someone neither side knows is a typo, and refused.
    People(&'k BTreeSet<UserKey>),
    /// People upstream events named: someone neither side knows (created and deleted before
    /// the run, or outside the app's scope) has nothing to sync, and is passed over.
    Announced(&'k BTreeSet<UserKey>),
}

/// Whether a run for a few people refuses people neither side knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strangers {
    Refuse,
    PassOver,
}

impl<S: SnapshotStore> Engine<S> {
    /// Pulls `keys` (and whoever their links need), plans only their steps and applies them (or
    /// only reports them, for a dry run), under the connector's lock like every run. The report
    /// names the people (`focus`); the caller records it. Unknown people, or a connector never
    /// synced, end the run failed with nothing planned or written.
    pub async fn sync_people<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        keys: &[UserKey],
        mode: RunMode,
        context: &RunContext,
    ) -> Result<Report, RunError> {
        let _guard = self.lock(&connector.name)?;
        let people: BTreeSet<UserKey> = keys.iter().cloned().collect();
        // People by count only: keys are personal data in logs.
        info!(connector = %connector.name, %mode, people = people.len(), "Run for a few people started.");
        self.sync_whom(connector, Whom::People(&people), mode, context)
            .await
    }

    /// Pulls, plans and applies what upstream events announced about `keys`, like
    /// [`Engine::sync_people`] except that people neither the upstream nor the target knows are
    /// passed over: an event may name someone already gone, or never in the app's scope.
    pub async fn sync_announced<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        keys: &[UserKey],
        context: &RunContext,
    ) -> Result<Report, RunError> {
        let _guard = self.lock(&connector.name)?;
        let people: BTreeSet<UserKey> = keys.iter().cloned().collect();
        info!(connector = %connector.name, people = people.len(), "Run for the people events announced started.");
        self.sync_whom(connector, Whom::Announced(&people), RunMode::Apply, context)
            .await
    }

    /// Whether `connector` has been synced at least once (its snapshot has people): a run for
    /// a few people needs the accounts a first full run adopts.
    pub async fn has_synced(&self, connector: &str) -> Result<bool, RunError> {
        Ok(!self.load_snapshot(connector).await?.users.is_empty())
    }

    /// A run for a few people, under the lock the caller holds.
    async fn sync_whom<P: Puller, Q: Pusher>(
        &self,
        connector: &Connector<P, Q>,
        whom: Whom<'_>,
        mode: RunMode,
        context: &RunContext,
    ) -> Result<Report, RunError> {
        let options = RunOptions::new(mode);
        let prepared = match self.prepare_for(connector, options, whom, context).await? {
            Reached::Ready(prepared) => *prepared,
            Reached::Ended(report) => return Ok(report),
        };
        self.execute(connector, prepared, mode, Approval::None, context)
            .await
    }
}

/// The pull a run needs: the whole directory, or these people through the puller's single
/// reads (a whole pull where it has none).
pub(super) async fn pull<P: Puller>(puller: &P, whom: Whom<'_>) -> Result<Focused, PullError> {
    match whom {
        Whom::Everyone => Ok(Focused {
            pulled: puller.pull().await?,
            coverage: Coverage::Whole,
        }),
        Whom::People(people) | Whom::Announced(people) => {
            let keys: Vec<UserKey> = people.iter().cloned().collect();
            puller.pull_people(&keys).await
        }
    }
}

/// The planner's focus for a run for a few people; `None` for everyone.
pub(super) fn focus<'a>(whom: Whom<'a>, coverage: &'a Coverage) -> Option<plan::Focus<'a>> {
    let (Whom::People(people) | Whom::Announced(people)) = whom else {
        return None;
    };
    let reach = match coverage {
        Coverage::Whole => plan::Reach::Whole,
        Coverage::Partial { not_found } => plan::Reach::Partial { not_found },
    };
    Some(plan::Focus { people, reach })
}

/// Why a run for a few people cannot be planned, if it cannot: nobody named, someone neither
/// the upstream nor the target knows (a typo must not pass as "nothing to do"), or a snapshot
/// that is still empty (a first sync adopts the accounts the target already has; a plan for a
/// few people would leave the others unadopted).
pub(super) fn refusal(
    focus: &plan::Focus,
    strangers: Strangers,
    connector: &str,
    stored: &Snapshot,
    directory: &Directory,
) -> Option<String> {
    if focus.people.is_empty() {
        return Some("no person was named; nothing was planned or written".to_owned());
    }
    if stored.users.is_empty() {
        return Some(format!(
            "connector {connector} has never been synced: run a full sync first (`orgsync sync \
             {connector}`), which adopts the accounts the target already has; nothing was \
             planned or written"
        ));
    }
    let unknown = focus.unknown(directory, stored);
    if unknown.is_empty() || strangers == Strangers::PassOver {
        return None;
    }
    let unknown: Vec<&str> = unknown.iter().map(UserKey::as_str).collect();
    Some(format!(
        "no person with the id {} upstream or in the target; nothing was planned or written \
         (find people by name or e-mail with `orgsync explain {connector} QUERY`)",
        unknown.join(", ")
    ))
}

/// What the report says about a run for a few people: whom, how much the pull read, and who
/// of them the pull did not return.
pub(super) fn report_focus(focus: &plan::Focus, pulled: &Directory) -> FocusReport {
    FocusReport {
        people: focus.people.iter().cloned().collect(),
        coverage: match focus.reach {
            plan::Reach::Whole => FocusCoverage::Whole,
            plan::Reach::Partial { .. } => FocusCoverage::Partial,
        },
        absent: focus
            .people
            .iter()
            .filter(|key| !pulled.users.contains_key(*key) && !pulled.held.contains(*key))
            .cloned()
            .collect(),
    }
}

/// How a run for `whom` treats people neither side knows.
pub(super) fn strangers(whom: Whom<'_>) -> Strangers {
    match whom {
        Whom::Announced(_) => Strangers::PassOver,
        Whom::Everyone | Whom::People(_) => Strangers::Refuse,
    }
}
