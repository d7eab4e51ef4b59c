use crate::model::{Attributes, DepartmentId, GroupAttributes, TargetId, UserKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What orgsync last successfully applied to one connector's target. Pure data; stores persist it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub users: BTreeMap<UserKey, AppliedUser>,
    /// Departments synced as groups, keyed by department id.
    #[serde(default)]
    pub groups: BTreeMap<DepartmentId, AppliedGroup>,
}

/// One group as the target acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedGroup {
    pub target_id: TargetId,
    pub attributes: GroupAttributes,
    /// The members the target acknowledged, by upstream key. Members orgsync did not add (an
    /// adopted group's own) are not here and are left alone.
    #[serde(default)]
    pub members: BTreeSet<UserKey>,
}

/// One person as the target acknowledged them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedUser {
    pub target_id: TargetId,
    pub attributes: Attributes,
    pub active: bool,
    pub manager: Option<UserKey>,
    /// When the target acknowledged the deactivation; starts the grace period before deletion.
    #[serde(default)]
    pub deactivated_at: Option<Timestamp>,
}

/// One acknowledged change to record. Upserts are nearly all of them, so the entry is kept inline
/// rather than boxed (an allocation per change).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotChange {
    Upsert(UserKey, AppliedUser),
    Remove(UserKey),
    /// The group's id and attributes; its recorded members are kept.
    UpsertGroup {
        group: DepartmentId,
        target_id: TargetId,
        attributes: GroupAttributes,
    },
    /// The group and its memberships.
    RemoveGroup(DepartmentId),
    AddMembers(DepartmentId, Vec<UserKey>),
    RemoveMembers(DepartmentId, Vec<UserKey>),
}

impl Snapshot {
    pub fn apply(&mut self, change: SnapshotChange) {
        match change {
            SnapshotChange::Upsert(key, user) => {
                self.users.insert(key, user);
            }
            SnapshotChange::Remove(key) => {
                self.users.remove(&key);
            }
            SnapshotChange::UpsertGroup {
                group,
                target_id,
                attributes,
            } => match self.groups.get_mut(&group) {
                Some(applied) => {
                    applied.target_id = target_id;
                    applied.attributes = attributes;
                }
                None => {
                    self.groups.insert(
                        group,
                        AppliedGroup {
                            target_id,
                            attributes,
                            members: BTreeSet::new(),
                        },
                    );
                }
            },
            SnapshotChange::RemoveGroup(group) => {
                self.groups.remove(&group);
            }
            // Members of a group the snapshot does not hold cannot be recorded: the engine
            // records a group before any of its memberships.
            SnapshotChange::AddMembers(group, members) => {
                if let Some(applied) = self.groups.get_mut(&group) {
                    applied.members.extend(members);
                }
            }
            SnapshotChange::RemoveMembers(group, members) => {
                if let Some(applied) = self.groups.get_mut(&group) {
                    for member in &members {
                        applied.members.remove(member);
                    }
                }
            }
        }
    }
}
