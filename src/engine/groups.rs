//! Group steps resolved against the target's ids, sent, and recorded.

use super::HeldReason;
use crate::model::{DepartmentId, GroupAttributes, TargetId, UserKey};
use crate::pushers::{GroupWrite, PersonRef, PushError, Pusher};
use crate::snapshot::Snapshot;

/// A group step with every id it needs, ready to send.
pub(super) enum GroupOp {
    Create {
        group: DepartmentId,
        attributes: GroupAttributes,
        head: Option<TargetId>,
    },
    Update {
        id: TargetId,
        group: DepartmentId,
        attributes: GroupAttributes,
        head: Option<TargetId>,
    },
    AddMembers {
        id: TargetId,
        group: DepartmentId,
        members: Vec<(UserKey, TargetId)>,
    },
    RemoveMembers {
        id: TargetId,
        group: DepartmentId,
        members: Vec<(UserKey, TargetId)>,
    },
    Delete {
        id: TargetId,
        group: DepartmentId,
    },
}

/// A person's target id; held when their account never made it into the target.
fn person(snapshot: &Snapshot, key: &UserKey) -> Result<TargetId, HeldReason> {
    snapshot
        .users
        .get(key)
        .map(|u| u.target_id.clone())
        .ok_or_else(|| HeldReason::DependsOnFailedStep { user: key.clone() })
}

/// A group's target id; held when the group never made it into the target.
fn group_id(snapshot: &Snapshot, group: &DepartmentId) -> Result<TargetId, HeldReason> {
    snapshot
        .groups
        .get(group)
        .map(|g| g.target_id.clone())
        .ok_or_else(|| HeldReason::DependsOnFailedGroup {
            group: group.clone(),
        })
}

// Each group step resolved: held when its group, or a person it names (head or member), never
// made it into the target. A membership is never written half.

pub(super) fn create(
    snapshot: &Snapshot,
    group: &DepartmentId,
    attributes: &GroupAttributes,
) -> Result<GroupOp, HeldReason> {
    Ok(GroupOp::Create {
        group: group.clone(),
        head: head(snapshot, attributes)?,
        attributes: attributes.clone(),
    })
}

pub(super) fn update(
    snapshot: &Snapshot,
    group: &DepartmentId,
    after: &GroupAttributes,
) -> Result<GroupOp, HeldReason> {
    Ok(GroupOp::Update {
        id: group_id(snapshot, group)?,
        group: group.clone(),
        head: head(snapshot, after)?,
        attributes: after.clone(),
    })
}

pub(super) fn add_members(
    snapshot: &Snapshot,
    group: &DepartmentId,
    keys: &[UserKey],
) -> Result<GroupOp, HeldReason> {
    Ok(GroupOp::AddMembers {
        id: group_id(snapshot, group)?,
        group: group.clone(),
        members: keys
            .iter()
            .map(|key| Ok((key.clone(), person(snapshot, key)?)))
            .collect::<Result<_, HeldReason>>()?,
    })
}

/// A member whose account is already gone is gone from the group too.
pub(super) fn remove_members(
    snapshot: &Snapshot,
    group: &DepartmentId,
    keys: &[UserKey],
) -> Result<GroupOp, HeldReason> {
    Ok(GroupOp::RemoveMembers {
        id: group_id(snapshot, group)?,
        group: group.clone(),
        members: keys
            .iter()
            .filter_map(|key| Some((key.clone(), person(snapshot, key).ok()?)))
            .collect(),
    })
}

pub(super) fn delete(snapshot: &Snapshot, group: &DepartmentId) -> Result<GroupOp, HeldReason> {
    Ok(GroupOp::Delete {
        id: group_id(snapshot, group)?,
        group: group.clone(),
    })
}

fn head(snapshot: &Snapshot, attributes: &GroupAttributes) -> Result<Option<TargetId>, HeldReason> {
    attributes
        .head
        .as_ref()
        .map(|key| person(snapshot, key))
        .transpose()
}

impl GroupOp {
    /// Sends the step. Returns the group's id when the step created or moved it.
    pub(super) async fn execute<P: Pusher>(
        &self,
        pusher: &P,
    ) -> Result<Option<TargetId>, PushError> {
        match self {
            GroupOp::Create {
                group,
                attributes,
                head,
            } => pusher
                .create_group(&write(group, attributes, head.as_ref()))
                .await
                .map(Some),
            GroupOp::Update {
                id,
                group,
                attributes,
                head,
            } => {
                pusher
                    .update_group(id, &write(group, attributes, head.as_ref()))
                    .await
            }
            GroupOp::AddMembers { id, group, members } => {
                if members.is_empty() {
                    return Ok(None);
                }
                pusher
                    .add_members(id, group, &refs(members))
                    .await
                    .map(|()| None)
            }
            GroupOp::RemoveMembers { id, group, members } => {
                if members.is_empty() {
                    return Ok(None);
                }
                pusher
                    .remove_members(id, group, &refs(members))
                    .await
                    .map(|()| None)
            }
            GroupOp::Delete { id, group } => pusher.delete_group(id, group).await.map(|()| None),
        }
    }
}

fn write<'a>(
    group: &'a DepartmentId,
    attributes: &'a GroupAttributes,
    head: Option<&'a TargetId>,
) -> GroupWrite<'a> {
    GroupWrite {
        key: group,
        display_name: &attributes.display_name,
        parent: attributes.parent.as_ref(),
        head: attributes
            .head
            .as_ref()
            .zip(head)
            .map(|(key, id)| PersonRef { key, id }),
    }
}

fn refs(members: &[(UserKey, TargetId)]) -> Vec<PersonRef<'_>> {
    members
        .iter()
        .map(|(key, id)| PersonRef { key, id })
        .collect()
}
