//! Group steps resolved against the target's ids, sent, and recorded.

use super::HeldReason;
use crate::model::{DepartmentId, GroupAttributes, TargetId, UserKey};
use crate::plan::Step;
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

/// Resolves a group step. A step is held when its group never made it into the target, or when
/// a person it names (head or member) did not: a membership is never written half.
pub(super) fn resolve(step: &Step, snapshot: &Snapshot) -> Result<GroupOp, HeldReason> {
    let person = |key: &UserKey| {
        snapshot
            .users
            .get(key)
            .map(|u| u.target_id.clone())
            .ok_or_else(|| HeldReason::DependsOnFailedStep { user: key.clone() })
    };
    let group_id = |group: &DepartmentId| {
        snapshot
            .groups
            .get(group)
            .map(|g| g.target_id.clone())
            .ok_or_else(|| HeldReason::DependsOnFailedGroup {
                group: group.clone(),
            })
    };
    let members = |keys: &[UserKey]| -> Result<Vec<(UserKey, TargetId)>, HeldReason> {
        keys.iter()
            .map(|key| Ok((key.clone(), person(key)?)))
            .collect()
    };
    Ok(match step {
        Step::CreateGroup { group, attributes } => GroupOp::Create {
            group: group.clone(),
            head: attributes.head.as_ref().map(person).transpose()?,
            attributes: (**attributes).clone(),
        },
        Step::UpdateGroup { group, after, .. } => GroupOp::Update {
            id: group_id(group)?,
            group: group.clone(),
            head: after.head.as_ref().map(person).transpose()?,
            attributes: (**after).clone(),
        },
        Step::AddMembers {
            group,
            members: keys,
        } => GroupOp::AddMembers {
            id: group_id(group)?,
            group: group.clone(),
            members: members(keys)?,
        },
        // A member whose account is already gone is gone from the group too.
        Step::RemoveMembers {
            group,
            members: keys,
        } => GroupOp::RemoveMembers {
            id: group_id(group)?,
            group: group.clone(),
            members: keys
                .iter()
                .filter_map(|key| Some((key.clone(), person(key).ok()?)))
                .collect(),
        },
        Step::DeleteGroup { group, .. } => GroupOp::Delete {
            id: group_id(group)?,
            group: group.clone(),
        },
        _ => unreachable!("resolve is called for group steps only"),
    })
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
