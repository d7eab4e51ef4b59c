//! Departments as groups (`[connectors.NAME.groups]`): the groups the target should hold, and the
//! steps that take the snapshot's groups there.
//!
//! - Every in-scope department (the pull's `departments`) selected by `include` (empty: all)
//!   and not named by `exclude` (exclude wins) is a group. Its parent is the parent department
//!   when that is a group too; its head is the first of the department's heads who is an active
//!   person of this plan (or a held one the group already has); its name follows `naming` (naming.rs); its members follow `members`
//!   (members.rs).
//! - A recorded group whose department left the scope, was deleted or is no longer selected is
//!   deleted (`DeleteGroup`, counted by the guard); its memberships go with it, so no
//!   `RemoveMembers` is planned for it.
//! - Memberships change by adds and removes in batches of [`MEMBER_BATCH`], in key order.
//! - With groups disabled nothing is planned for groups, and groups the snapshot recorded while
//!   they were enabled are left alone in the target: turning the feature off is not a reason to
//!   delete anything.

mod members;
mod naming;

use super::Steps;
use super::desired::{Desired, Disposition};
use super::merge::outer_join;
use super::roster::{Index, Roster};
use super::step::{MEMBER_BATCH, RemovalReason, Step};
use crate::model::{Department, DepartmentId, Directory, GroupAttributes, Problem, UserKey};
use crate::plan::GroupPolicy;
use crate::snapshot::{AppliedGroup, Snapshot};
use foldhash::{HashMap, HashSet};
use std::collections::BTreeMap;

/// The in-scope departments under dense positions (id order), and which of them are groups.
pub(super) struct Tree<'a> {
    pub(super) ids: Vec<&'a DepartmentId>,
    departments: Vec<&'a Department>,
    pub(super) position: HashMap<&'a DepartmentId, u32>,
    /// Each department's parent, when the parent is in scope.
    pub(super) parent: Vec<Option<u32>>,
    /// Each department's group slot, when it is a group.
    pub(super) slot: Vec<Option<u32>>,
    /// The departments that are groups, by slot (id order).
    pub(super) groups: Vec<u32>,
}

impl<'a> Tree<'a> {
    fn new(directory: &'a Directory, policy: &GroupPolicy) -> Self {
        let ids: Vec<&DepartmentId> = directory.departments.keys().collect();
        let departments: Vec<&Department> = directory.departments.values().collect();
        let position: HashMap<&DepartmentId, u32> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| (*id, n as u32))
            .collect();
        let parent = departments
            .iter()
            .map(|d| d.parent.as_ref().and_then(|p| position.get(p).copied()))
            .collect();
        let include: HashSet<&DepartmentId> = policy.include.iter().collect();
        let exclude: HashSet<&DepartmentId> = policy.exclude.iter().collect();
        let mut slot = vec![None; ids.len()];
        let mut groups = Vec::new();
        for (pos, id) in ids.iter().enumerate() {
            if (include.is_empty() || include.contains(id)) && !exclude.contains(id) {
                slot[pos] = Some(groups.len() as u32);
                groups.push(pos as u32);
            }
        }
        Tree {
            ids,
            departments,
            position,
            parent,
            slot,
            groups,
        }
    }

    pub(super) fn department(&self, pos: u32) -> &'a Department {
        self.departments[pos as usize]
    }

    /// The department and every department above it in scope, nearest first, each once: a
    /// loop in the parents (bad upstream data) ends the walk where it closes.
    pub(super) fn ancestry(&self, pos: u32) -> Vec<u32> {
        let mut chain = vec![pos];
        let mut current = pos;
        while let Some(parent) = self.parent[current as usize] {
            if chain.contains(&parent) {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }
}

/// One group as the target should hold it.
struct Wanted {
    attributes: GroupAttributes,
    members: Vec<Index>,
}

/// Plans the group steps into `steps` and reports renamed groups in `problems`.
pub(super) fn plan<'a>(
    roster: &Roster<'a>,
    desired: &Desired<'a>,
    directory: &'a Directory,
    snapshot: &'a Snapshot,
    policy: &GroupPolicy,
    steps: &mut Steps,
    problems: &mut Vec<Problem>,
) {
    if !policy.enabled {
        return;
    }
    let tree = Tree::new(directory, policy);
    let names = naming::display_names(&tree, policy.naming, snapshot, problems);
    let members = members::members(&tree, roster, desired, policy.members);
    let wanted: BTreeMap<DepartmentId, Wanted> = tree
        .groups
        .iter()
        .zip(names)
        .zip(members)
        .map(|((&pos, display_name), members)| {
            let department = tree.department(pos);
            let parent = tree.parent[pos as usize]
                .filter(|&p| tree.slot[p as usize].is_some())
                .map(|p| tree.ids[p as usize].clone());
            // A held head the target already has stays, as everything about a held person.
            let recorded = snapshot
                .groups
                .get(&department.id)
                .and_then(|g| g.attributes.head.as_ref());
            let head = department
                .heads
                .iter()
                .find(|head| {
                    roster
                        .index_of(head)
                        .is_some_and(|i| match desired.dispositions[i as usize] {
                            Disposition::Held => recorded == Some(*head),
                            disposition => disposition.is_active(),
                        })
                })
                .cloned();
            let attributes = GroupAttributes {
                display_name,
                parent,
                head,
            };
            (
                department.id.clone(),
                Wanted {
                    attributes,
                    members,
                },
            )
        })
        .collect();
    for (group, wanted, applied) in outer_join(&wanted, &snapshot.groups) {
        match (wanted, applied) {
            (Some(wanted), None) => {
                steps.push(Step::CreateGroup {
                    group: group.clone(),
                    attributes: Box::new(wanted.attributes.clone()),
                });
                let adds = wanted.members.iter().map(|&i| roster.row(i).key.clone());
                push_batches(group, adds.collect(), Batch::Add, steps);
            }
            (Some(wanted), Some(applied)) => {
                if wanted.attributes != applied.attributes {
                    steps.push(Step::UpdateGroup {
                        group: group.clone(),
                        before: Box::new(applied.attributes.clone()),
                        after: Box::new(wanted.attributes.clone()),
                    });
                }
                let (adds, removes) = membership_changes(&wanted.members, applied, roster, desired);
                push_batches(group, adds, Batch::Add, steps);
                push_batches(group, removes, Batch::Remove, steps);
            }
            (None, Some(_)) => steps.push(Step::DeleteGroup {
                group: group.clone(),
                reason: RemovalReason::Vanished,
            }),
            (None, None) => {}
        }
    }
}

/// The people to add to and remove from a recorded group, each in key order. A held person's
/// recorded membership stays (the planner leaves held people as they are).
fn membership_changes(
    wanted: &[Index],
    applied: &AppliedGroup,
    roster: &Roster<'_>,
    desired: &Desired<'_>,
) -> (Vec<UserKey>, Vec<UserKey>) {
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    let mut recorded = applied.members.iter().peekable();
    let remove = |key: &UserKey, removes: &mut Vec<UserKey>| {
        let held = roster
            .index_of(key)
            .is_some_and(|i| desired.dispositions[i as usize] == Disposition::Held);
        if !held {
            removes.push(key.clone());
        }
    };
    for &index in wanted {
        let key = roster.row(index).key;
        while let Some(old) = recorded.next_if(|old| *old < key) {
            remove(old, &mut removes);
        }
        if recorded.next_if(|old| *old == key).is_none() {
            adds.push(key.clone());
        }
    }
    for old in recorded {
        remove(old, &mut removes);
    }
    (adds, removes)
}

#[derive(Clone, Copy)]
enum Batch {
    Add,
    Remove,
}

/// `members` (sorted) as steps of at most [`MEMBER_BATCH`] people.
fn push_batches(group: &DepartmentId, members: Vec<UserKey>, batch: Batch, steps: &mut Steps) {
    if members.is_empty() {
        return;
    }
    let mut members = members.into_iter().peekable();
    while members.peek().is_some() {
        let members: Vec<UserKey> = members.by_ref().take(MEMBER_BATCH).collect();
        let group = group.clone();
        steps.push(match batch {
            Batch::Add => Step::AddMembers { group, members },
            Batch::Remove => Step::RemoveMembers { group, members },
        });
    }
}
