//! The scope rule and cycle breaking: which manager links may exist in the target.

use super::desired::{Desired, Disposition};
use super::policy::{ManagerFallback, Policy};
use super::roster::{Index, Roster};
use super::step::LinkSource;
use crate::model::{DepartmentId, Directory, Status, User, UserKey};
use crate::snapshot::AppliedUser;
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

pub(super) struct Links<'a> {
    /// Desired manager per active person, under their roster index.
    pub(super) managers: Vec<Option<Index>>,
    /// The department whose head a fallback link comes from, per person with such a link
    /// (`policy.manager_fallback = "department_head"`); everyone else's link is direct.
    pub(super) via_head: HashMap<Index, &'a DepartmentId>,
    pub(super) skipped: Vec<SkippedLink>,
}

impl Links<'_> {
    /// Where the desired link of the person at `index` comes from.
    pub(super) fn source(&self, index: Index) -> LinkSource {
        if self.via_head.contains_key(&index) {
            LinkSource::DepartmentHead
        } else {
            LinkSource::Direct
        }
    }
}

/// Applies the scope rule to every active person's upstream manager, gives people without one
/// their department's head when the policy asks for it, then breaks cycles (through heads too).
pub(super) fn resolve<'a>(
    roster: &Roster<'a>,
    desired: &Desired<'_>,
    directory: &'a Directory,
    policy: &Policy,
) -> Links<'a> {
    let dispositions = &desired.dispositions;
    let mut managers: Vec<Option<Index>> = vec![None; roster.len()];
    let mut via_head = HashMap::default();
    let mut skipped = Vec::new();
    let mut heads = (policy.manager_fallback == ManagerFallback::DepartmentHead)
        .then(|| Heads::new(roster, directory, dispositions));
    // Many people share a manager: each manager is searched for once. The memo holds its own
    // copies of the keys (inline, 24 bytes) so a lookup compares within the table instead of
    // following a pointer into some person's record.
    let mut found_managers: HashMap<UserKey, Option<Index>> = HashMap::default();
    for (i, row) in roster.rows().iter().enumerate() {
        let Some(user) = row.upstream else { continue };
        if !dispositions[i].is_active() {
            continue;
        }
        let Some(manager) = user.manager.as_ref() else {
            // Heads found by climbing are active people in scope: the scope rule holds by
            // construction, and cycle breaking below sees these links like any other.
            if let Some(found) = heads
                .as_mut()
                .and_then(|heads| heads.for_person(i as Index, user, row.applied))
            {
                managers[i] = Some(found.head);
                via_head.insert(i as Index, found.at);
            }
            continue;
        };
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
    // A head link dropped as closing a cycle stays in `via_head`: `explain` names its department.
    break_cycles(roster, &mut managers, &mut skipped);
    Links {
        managers,
        via_head,
        skipped,
    }
}

/// Where a person's manager link comes from, for `explain`: the head the fallback gives them and
/// the department they head (`None` when the person's link, if any, is direct). The link itself
/// may still be dropped as closing a cycle (the plan's skipped links say so).
pub(super) fn head_origin(
    user: &UserKey,
    snapshot: &crate::snapshot::Snapshot,
    directory: &Directory,
    policy: &Policy,
    now: jiff::Timestamp,
) -> Option<(UserKey, DepartmentId)> {
    if policy.manager_fallback == ManagerFallback::None {
        return None;
    }
    let roster = Roster::new(directory, snapshot);
    let paths = super::desired::DepartmentPaths::new(directory, policy);
    let desired = super::desired::compute(&roster, directory, policy, &paths, now);
    let index = roster.index_of(user)?;
    let row = roster.row(index);
    if !desired.dispositions[index as usize].is_active() || row.upstream?.manager.is_some() {
        return None;
    }
    let mut heads = Heads::new(&roster, directory, &desired.dispositions);
    let found = heads.for_person(index, row.upstream?, row.applied)?;
    Some((roster.row(found.head).key.clone(), found.at.clone()))
}

/// The nearest department head met climbing from a department.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found<'a> {
    pub(super) head: Index,
    /// The department they head.
    pub(super) at: &'a DepartmentId,
    /// Their upstream record is unreadable: they stay the manager of whoever the target already
    /// has reporting to them (as a direct link to a held manager stays), no one else's.
    held: bool,
}

/// The department-head fallback: climbs the department tree from a person's main department to
/// the first head who is an active person in scope. Many people share a department, so each
/// department's answer is found once.
struct Heads<'a, 'r> {
    roster: &'r Roster<'a>,
    directory: &'a Directory,
    dispositions: &'r [Disposition],
    nearest: HashMap<&'a DepartmentId, Option<Found<'a>>>,
}

impl<'a, 'r> Heads<'a, 'r> {
    fn new(
        roster: &'r Roster<'a>,
        directory: &'a Directory,
        dispositions: &'r [Disposition],
    ) -> Self {
        Heads {
            roster,
            directory,
            dispositions,
            nearest: HashMap::default(),
        }
    }

    /// The head who becomes the manager of `user` (at `index`), who has no direct manager:
    /// their main department's head, or the next one up when they head it themselves.
    fn for_person(
        &mut self,
        index: Index,
        user: &'a User,
        applied: Option<&AppliedUser>,
    ) -> Option<Found<'a>> {
        let current = applied.and_then(|a| a.manager.as_ref());
        let mut from = user.departments.first();
        // A parent loop upstream cannot make this climb forever: at most one step per department.
        for _ in 0..=self.directory.departments.len() {
            let found = self.nearest(from?)?;
            let keeps = !found.held || current == Some(self.roster.row(found.head).key);
            if found.head != index && keeps {
                return Some(found);
            }
            from = self.parent(found.at);
        }
        None
    }

    /// The first head at or above `from` who is an active person in scope, or held.
    fn nearest(&mut self, from: &'a DepartmentId) -> Option<Found<'a>> {
        let mut path: Vec<&'a DepartmentId> = Vec::new();
        let mut current = Some(from);
        let found = loop {
            let Some(id) = current else { break None };
            if let Some(known) = self.nearest.get(id) {
                break *known;
            }
            let Some((id, department)) = self.directory.departments.get_key_value(id) else {
                break None;
            };
            if path.len() > self.directory.departments.len() {
                break None;
            }
            path.push(id);
            if let Some(found) = self.head_of(id, department.heads.first()) {
                break Some(found);
            }
            current = department.parent.as_ref();
        };
        for id in path {
            self.nearest.insert(id, found);
        }
        found
    }

    /// The department's head, when they are an active person in scope (or held).
    fn head_of(&self, at: &'a DepartmentId, head: Option<&UserKey>) -> Option<Found<'a>> {
        let head = self.roster.index_of(head?)?;
        let held = match (
            self.roster.row(head).upstream,
            &self.dispositions[head as usize],
        ) {
            (_, Disposition::Held) => true,
            (Some(_), d) if d.is_active() => false,
            _ => return None,
        };
        Some(Found { head, at, held })
    }

    fn parent(&self, id: &DepartmentId) -> Option<&'a DepartmentId> {
        self.directory.departments.get(id)?.parent.as_ref()
    }
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
