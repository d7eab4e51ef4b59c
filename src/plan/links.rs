//! The scope rule and cycle breaking: which manager links may exist in the target.

use super::desired::{Desired, Disposition};
use super::roster::{Index, Roster};
use crate::model::{Status, UserKey};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
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
    /// Desired manager per active person, under their roster index.
    pub(super) managers: Vec<Option<Index>>,
    pub(super) skipped: Vec<SkippedLink>,
}

/// Applies the scope rule to every active person's upstream manager, then breaks cycles.
pub(super) fn resolve(roster: &Roster<'_>, desired: &Desired<'_>) -> Links {
    let dispositions = &desired.dispositions;
    let mut managers: Vec<Option<Index>> = vec![None; roster.len()];
    let mut skipped = Vec::new();
    // Many people share a manager: each manager is searched for once. The memo holds its own
    // copies of the keys (inline, 24 bytes) so a lookup compares within the table instead of
    // following a pointer into some person's record.
    let mut found_managers: HashMap<UserKey, Option<Index>> = HashMap::default();
    for (i, row) in roster.rows().iter().enumerate() {
        let Some(manager) = row.upstream.and_then(|user| user.manager.as_ref()) else {
            continue;
        };
        if !dispositions[i].is_active() {
            continue;
        }
        let found = match found_managers.get(manager) {
            Some(found) => *found,
            None => {
                let found = roster.index_of(manager);
                found_managers.insert(manager.clone(), found);
                found
            }
        };
        let their = found.map(|m| (roster.row(m).upstream, &dispositions[m as usize]));
        let reason = match their {
            // A link already in the target stays while its manager's record is unreadable.
            Some((_, Disposition::Held))
                if row.applied.and_then(|u| u.manager.as_ref()) == Some(manager) =>
            {
                None
            }
            Some((_, Disposition::Held)) => Some(LinkSkipReason::ManagerHeld),
            None | Some((None, _)) => Some(LinkSkipReason::OutsideScope),
            Some((Some(_), d)) if d.is_active() => None,
            Some((Some(m), _)) => Some(LinkSkipReason::ManagerNotSynced(m.status)),
        };
        match reason {
            None => managers[i] = found,
            Some(reason) => skipped.push(SkippedLink {
                user: row.key.clone(),
                manager: manager.clone(),
                reason,
            }),
        }
    }
    break_cycles(roster, &mut managers, &mut skipped);
    Links { managers, skipped }
}

/// Walks the manager graph from each person in key order. Every person has at most one manager, so
/// a walk either ends or meets a person already on its own path; the link that reached that person
/// closes the loop and is dropped. Deterministic because starts and walks follow key order.
fn break_cycles(
    roster: &Roster<'_>,
    managers: &mut [Option<Index>],
    skipped: &mut Vec<SkippedLink>,
) {
    // Each walk marks the people it passes with its number: meeting its own mark again closes a
    // loop, meeting an earlier walk's mark joins a chain already known to end.
    const UNWALKED: Index = Index::MAX;
    let mut walked: Vec<Index> = vec![UNWALKED; managers.len()];
    let mut closing: Vec<Index> = Vec::new();
    for start in 0..managers.len() {
        if managers[start].is_none() || walked[start] != UNWALKED {
            continue;
        }
        let walk = start as Index;
        walked[start] = walk;
        let mut current = start;
        while let Some(next) = managers[current] {
            let next = next as usize;
            match walked[next] {
                UNWALKED => {
                    walked[next] = walk;
                    current = next;
                }
                mark if mark == walk => {
                    closing.push(current as Index);
                    break;
                }
                _ => break,
            }
        }
    }
    // Later walks stop at people an earlier walk passed, so they never follow a closing link:
    // removing them afterwards gives what removing them on the way would.
    for user in closing {
        let Some(manager) = managers[user as usize].take() else {
            continue;
        };
        skipped.push(SkippedLink {
            user: roster.row(user).key.clone(),
            manager: roster.row(manager).key.clone(),
            reason: LinkSkipReason::Cycle,
        });
    }
}
