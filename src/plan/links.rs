//! The scope rule and cycle breaking: which manager links may exist in the target.

use super::desired::Disposition;
use super::merge::Cursor;
use crate::model::{Directory, Status, UserKey};
use crate::snapshot::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A manager link the upstream has but the target will not get, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SkippedLink {
    pub user: UserKey,
    pub manager: UserKey,
    pub reason: LinkSkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "status", rename_all = "snake_case")]
pub enum LinkSkipReason {
    /// The manager is not in the pulled in-scope set (outside the app's scope, or unknown upstream).
    OutsideScope,
    /// The manager is in scope but will not be an active account in the target.
    ManagerNotSynced(Status),
    /// The manager's upstream record could not be read; a new link waits until it can.
    ManagerHeld,
    /// Following managers from here comes back to this person; this link closes the loop.
    Cycle,
}

impl fmt::Display for LinkSkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkSkipReason::OutsideScope => f.write_str("manager is outside the authorized scope"),
            LinkSkipReason::ManagerNotSynced(status) => {
                write!(
                    f,
                    "manager is not an active account (upstream status {})",
                    status.as_str()
                )
            }
            LinkSkipReason::ManagerHeld => f.write_str("manager's upstream record is unreadable"),
            LinkSkipReason::Cycle => f.write_str("link closes a manager cycle"),
        }
    }
}

pub(super) struct Links {
    /// Desired manager per active person.
    pub(super) managers: BTreeMap<UserKey, UserKey>,
    pub(super) skipped: Vec<SkippedLink>,
}

/// Applies the scope rule to every active person's upstream manager, then breaks cycles.
pub(super) fn resolve(
    directory: &Directory,
    dispositions: &BTreeMap<UserKey, Disposition>,
    snapshot: &Snapshot,
) -> Links {
    let mut managers = Vec::new();
    let mut skipped = Vec::new();
    let mut own = Cursor::new(dispositions);
    for (key, user) in &directory.users {
        let Some(manager) = &user.manager else {
            continue;
        };
        if !own.get(key).is_some_and(Disposition::is_active) {
            continue;
        }
        let reason = match (directory.users.get(manager), dispositions.get(manager)) {
            // A link already in the target stays while its manager's record is unreadable.
            (_, Some(Disposition::Held))
                if snapshot.users.get(key).and_then(|u| u.manager.as_ref()) == Some(manager) =>
            {
                None
            }
            (_, Some(Disposition::Held)) => Some(LinkSkipReason::ManagerHeld),
            (None, _) => Some(LinkSkipReason::OutsideScope),
            (Some(_), Some(d)) if d.is_active() => None,
            (Some(m), _) => Some(LinkSkipReason::ManagerNotSynced(m.status)),
        };
        match reason {
            None => managers.push((key.clone(), manager.clone())),
            Some(reason) => skipped.push(SkippedLink {
                user: key.clone(),
                manager: manager.clone(),
                reason,
            }),
        }
    }
    // Pushed in key order: the map is built without searching.
    let mut managers: BTreeMap<UserKey, UserKey> = managers.into_iter().collect();
    break_cycles(&mut managers, &mut skipped);
    Links { managers, skipped }
}

/// Walks the manager graph from each person in key order. Every person has at most one manager, so
/// a walk either ends or meets a person already on its own path; the link that reached that person
/// closes the loop and is dropped. Deterministic because starts and walks follow key order.
fn break_cycles(managers: &mut BTreeMap<UserKey, UserKey>, skipped: &mut Vec<SkippedLink>) {
    // Each walk marks the people it passes with its number: meeting its own mark again closes a
    // loop, meeting an earlier walk's mark joins a chain already known to end.
    let mut closing: Vec<(UserKey, UserKey)> = Vec::new();
    {
        let mut walked: HashMap<&UserKey, usize> = HashMap::with_capacity(managers.len());
        for (walk, start) in managers.keys().enumerate() {
            if walked.contains_key(start) {
                continue;
            }
            walked.insert(start, walk);
            let mut current = start;
            while let Some(next) = managers.get(current) {
                match walked.get(next) {
                    Some(&mark) if mark == walk => {
                        closing.push((current.clone(), next.clone()));
                        break;
                    }
                    Some(_) => break,
                    None => {
                        walked.insert(next, walk);
                        current = next;
                    }
                }
            }
        }
    }
    // Later walks stop at people an earlier walk passed, so they never follow a closing link:
    // removing them afterwards gives what removing them on the way would.
    for (user, manager) in closing {
        managers.remove(&user);
        skipped.push(SkippedLink {
            user,
            manager,
            reason: LinkSkipReason::Cycle,
        });
    }
}
