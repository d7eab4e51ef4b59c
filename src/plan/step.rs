use crate::model::{Attributes, DepartmentId, FieldChange, GroupAttributes, Status, UserKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One change to make in the target. Steps name people by upstream key; the engine resolves target ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Link an existing target account to the person (it had no externalId but matched them).
    Adopt {
        user: UserKey,
        /// The account as listed; it becomes the person's snapshot entry once linked. Boxed, as
        /// are a create's attributes, so that every step is small: a first sync of a million
        /// people plans two million steps.
        account: Box<crate::snapshot::AppliedUser>,
        matched_by: crate::model::Field,
    },
    /// Create the person (without a manager; links come in a later phase).
    Create {
        user: UserKey,
        attributes: Box<Attributes>,
        active: bool,
    },
    /// Release unique values (userName, email) another person takes over in this run, by setting
    /// them to a placeholder or clearing them, before any update or create needs them.
    FreeValues {
        user: UserKey,
        changes: Vec<FieldChange>,
    },
    /// Change the listed fields only.
    Update {
        user: UserKey,
        changes: Vec<FieldChange>,
    },
    Reactivate {
        user: UserKey,
    },
    SetManager {
        user: UserKey,
        manager: UserKey,
        previous: Option<UserKey>,
        /// Where the link comes from: the upstream's direct manager, or (with
        /// `policy.manager_fallback = "department_head"`) a department's head. Left out of the
        /// JSON when direct, as every link was before the fallback existed.
        #[serde(default, skip_serializing_if = "LinkSource::is_direct")]
        source: LinkSource,
    },
    ClearManager {
        user: UserKey,
        previous: UserKey,
    },
    Deactivate {
        user: UserKey,
        reason: RemovalReason,
    },
    Delete {
        user: UserKey,
        reason: RemovalReason,
    },
    /// Create the department's group without members (or adopt the target's group with its
    /// externalId, then its displayName). Its head, when set, already exists.
    CreateGroup {
        group: DepartmentId,
        attributes: Box<GroupAttributes>,
    },
    /// Rename, re-parent or change the head of a group.
    UpdateGroup {
        group: DepartmentId,
        before: Box<GroupAttributes>,
        after: Box<GroupAttributes>,
    },
    /// Add people who exist in the target to a group (at most [`MEMBER_BATCH`] per step).
    AddMembers {
        group: DepartmentId,
        members: Vec<UserKey>,
    },
    /// Remove people from a group (at most [`MEMBER_BATCH`] per step), before any of them is
    /// deactivated or deleted.
    RemoveMembers {
        group: DepartmentId,
        members: Vec<UserKey>,
    },
    /// Delete a group whose department was deleted, left the scope or is no longer selected.
    DeleteGroup {
        group: DepartmentId,
        reason: RemovalReason,
    },
}

/// The most members one `AddMembers` or `RemoveMembers` step carries: a big group changes in
/// several requests of a size every target accepts, each recorded when acknowledged.
pub const MEMBER_BATCH: usize = 200;

/// Where a manager link comes from.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LinkSource {
    /// The upstream's direct manager (直属上级).
    #[default]
    Direct,
    /// The head of the person's main department, or of the nearest department above it with a
    /// head who is an active person in scope (`policy.manager_fallback = "department_head"`).
    DepartmentHead,
}

impl LinkSource {
    pub fn is_direct(&self) -> bool {
        *self == LinkSource::Direct
    }
}

/// Who or what a step changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject<'a> {
    User(&'a UserKey),
    Group(&'a DepartmentId),
}

impl<'a> Subject<'a> {
    pub fn as_str(self) -> &'a str {
        match self {
            Subject::User(key) => key.as_str(),
            Subject::Group(id) => id.as_str(),
        }
    }

    pub fn user(self) -> Option<&'a UserKey> {
        match self {
            Subject::User(key) => Some(key),
            Subject::Group(_) => None,
        }
    }
}

/// A person by key; a group as `group ID`.
impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(key) => write!(f, "{key}"),
            Subject::Group(id) => write!(f, "group {id}"),
        }
    }
}

/// Why a person is deactivated or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// The upstream reports this status.
    Status(Status),
    /// The person is no longer in the pull: deleted upstream or moved out of the authorized scope.
    Vanished,
}

/// The order in which kinds of steps run. Steps of one phase are independent of each other and may
/// run concurrently; a phase starts only when the previous one is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Existing accounts are linked before anything else refers to them.
    Adopt,
    /// Values moving between people are released before anyone takes them.
    FreeValues,
    /// Attribute changes first: they free unique values that creates may reuse.
    Update,
    /// People come back before links point at them again.
    Reactivate,
    /// People exist before any link points at them.
    Create,
    /// Groups are created, renamed and re-parented once their heads exist.
    Group,
    /// Links are set, moved or cleared before anyone they pointed at is removed.
    Link,
    /// Members are added once people and groups exist (before removals, so a group that
    /// changes all its members is never empty on the way).
    AddMembers,
    /// Memberships go before the accounts that hold them are deactivated or deleted.
    RemoveMembers,
    Deactivate,
    Delete,
    /// Groups go last, once nobody's step needs them.
    DeleteGroup,
}

/// The kind of a step, for counting and grouping in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Adopt,
    FreeValues,
    Create,
    Update,
    Reactivate,
    SetManager,
    ClearManager,
    Deactivate,
    Delete,
    CreateGroup,
    UpdateGroup,
    AddMembers,
    RemoveMembers,
    DeleteGroup,
}

impl Step {
    /// The person or group the step changes.
    pub fn subject(&self) -> Subject<'_> {
        match self {
            Step::Adopt { user, .. }
            | Step::Create { user, .. }
            | Step::FreeValues { user, .. }
            | Step::Update { user, .. }
            | Step::Reactivate { user }
            | Step::SetManager { user, .. }
            | Step::ClearManager { user, .. }
            | Step::Deactivate { user, .. }
            | Step::Delete { user, .. } => Subject::User(user),
            Step::CreateGroup { group, .. }
            | Step::UpdateGroup { group, .. }
            | Step::AddMembers { group, .. }
            | Step::RemoveMembers { group, .. }
            | Step::DeleteGroup { group, .. } => Subject::Group(group),
        }
    }

    /// The person a person's step changes; `None` for group steps.
    pub fn user(&self) -> Option<&UserKey> {
        self.subject().user()
    }

    pub fn kind(&self) -> StepKind {
        match self {
            Step::Adopt { .. } => StepKind::Adopt,
            Step::Create { .. } => StepKind::Create,
            Step::FreeValues { .. } => StepKind::FreeValues,
            Step::Update { .. } => StepKind::Update,
            Step::Reactivate { .. } => StepKind::Reactivate,
            Step::SetManager { .. } => StepKind::SetManager,
            Step::ClearManager { .. } => StepKind::ClearManager,
            Step::Deactivate { .. } => StepKind::Deactivate,
            Step::Delete { .. } => StepKind::Delete,
            Step::CreateGroup { .. } => StepKind::CreateGroup,
            Step::UpdateGroup { .. } => StepKind::UpdateGroup,
            Step::AddMembers { .. } => StepKind::AddMembers,
            Step::RemoveMembers { .. } => StepKind::RemoveMembers,
            Step::DeleteGroup { .. } => StepKind::DeleteGroup,
        }
    }

    pub fn phase(&self) -> Phase {
        match self.kind() {
            StepKind::Adopt => Phase::Adopt,
            StepKind::FreeValues => Phase::FreeValues,
            StepKind::Update => Phase::Update,
            StepKind::Reactivate => Phase::Reactivate,
            StepKind::Create => Phase::Create,
            StepKind::SetManager | StepKind::ClearManager => Phase::Link,
            StepKind::Deactivate => Phase::Deactivate,
            StepKind::Delete => Phase::Delete,
            StepKind::CreateGroup | StepKind::UpdateGroup => Phase::Group,
            StepKind::AddMembers => Phase::AddMembers,
            StepKind::RemoveMembers => Phase::RemoveMembers,
            StepKind::DeleteGroup => Phase::DeleteGroup,
        }
    }
}

impl Phase {
    /// Every phase, in the order they run.
    pub const ALL: [Phase; 12] = [
        Phase::Adopt,
        Phase::FreeValues,
        Phase::Update,
        Phase::Reactivate,
        Phase::Create,
        Phase::Group,
        Phase::Link,
        Phase::AddMembers,
        Phase::RemoveMembers,
        Phase::Deactivate,
        Phase::Delete,
        Phase::DeleteGroup,
    ];
}

impl StepKind {
    pub const ALL: [StepKind; 14] = [
        StepKind::Adopt,
        StepKind::FreeValues,
        StepKind::Create,
        StepKind::Update,
        StepKind::Reactivate,
        StepKind::SetManager,
        StepKind::ClearManager,
        StepKind::Deactivate,
        StepKind::Delete,
        StepKind::CreateGroup,
        StepKind::UpdateGroup,
        StepKind::AddMembers,
        StepKind::RemoveMembers,
        StepKind::DeleteGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Adopt => "adopt",
            StepKind::FreeValues => "free_values",
            StepKind::Create => "create",
            StepKind::Update => "update",
            StepKind::Reactivate => "reactivate",
            StepKind::SetManager => "set_manager",
            StepKind::ClearManager => "clear_manager",
            StepKind::Deactivate => "deactivate",
            StepKind::Delete => "delete",
            StepKind::CreateGroup => "create_group",
            StepKind::UpdateGroup => "update_group",
            StepKind::AddMembers => "add_members",
            StepKind::RemoveMembers => "remove_members",
            StepKind::DeleteGroup => "delete_group",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemovalReason::Status(status) => write!(f, "upstream status {}", status.as_str()),
            RemovalReason::Vanished => f.write_str("no longer in the authorized scope"),
        }
    }
}

/// One line per step, as reports and the planner's data-driven tests show it.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create {
                user,
                attributes,
                active,
            } => {
                write!(
                    f,
                    "create {user} ({})",
                    if *active { "active" } else { "inactive" }
                )?;
                for (field, value) in attributes.iter() {
                    write!(f, " {field}={value:?}")?;
                }
                Ok(())
            }
            Step::FreeValues { user, changes } | Step::Update { user, changes } => {
                write!(f, "{} {user}:", self.kind())?;
                for (i, change) in changes.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(
                        f,
                        "{sep}{} {} → {}",
                        change.field,
                        quoted_or_none(change.before.as_deref()),
                        quoted_or_none(change.after.as_deref())
                    )?;
                }
                Ok(())
            }
            Step::Adopt {
                user,
                account,
                matched_by,
            } => write!(
                f,
                "adopt {user}: existing account {} matched by {matched_by} {:?}",
                account.target_id,
                account.attributes.get(*matched_by).unwrap_or_default()
            ),
            Step::Reactivate { user } => write!(f, "reactivate {user}"),
            Step::SetManager {
                user,
                manager,
                previous,
                source,
            } => {
                write!(
                    f,
                    "set_manager {user} → {manager} (was {})",
                    previous.as_ref().map_or("none", UserKey::as_str)
                )?;
                match source {
                    LinkSource::Direct => Ok(()),
                    LinkSource::DepartmentHead => f.write_str(" [department head]"),
                }
            }
            Step::ClearManager { user, previous } => {
                write!(f, "clear_manager {user} (was {previous})")
            }
            Step::Deactivate { user, reason } => write!(f, "deactivate {user}: {reason}"),
            Step::Delete { user, reason } => write!(f, "delete {user}: {reason}"),
            Step::CreateGroup { group, attributes } => {
                write!(f, "create_group {group} {:?}", attributes.display_name)?;
                group_links(f, attributes)
            }
            Step::UpdateGroup {
                group,
                before,
                after,
            } => {
                write!(f, "update_group {group}:")?;
                let mut sep = " ";
                if before.display_name != after.display_name {
                    write!(
                        f,
                        "{sep}name {:?} → {:?}",
                        before.display_name, after.display_name
                    )?;
                    sep = ", ";
                }
                if before.parent != after.parent {
                    write!(
                        f,
                        "{sep}parent {} → {}",
                        none_or(before.parent.as_ref().map(DepartmentId::as_str)),
                        none_or(after.parent.as_ref().map(DepartmentId::as_str))
                    )?;
                    sep = ", ";
                }
                if before.head != after.head {
                    write!(
                        f,
                        "{sep}head {} → {}",
                        none_or(before.head.as_ref().map(UserKey::as_str)),
                        none_or(after.head.as_ref().map(UserKey::as_str))
                    )?;
                }
                Ok(())
            }
            Step::AddMembers { group, members } | Step::RemoveMembers { group, members } => {
                write!(f, "{} {group}: {}", self.kind(), members.len())?;
                for member in members {
                    write!(f, " {member}")?;
                }
                Ok(())
            }
            Step::DeleteGroup { group, reason } => write!(f, "delete_group {group}: {reason}"),
        }
    }
}

fn group_links(f: &mut fmt::Formatter<'_>, attributes: &GroupAttributes) -> fmt::Result {
    if let Some(parent) = &attributes.parent {
        write!(f, " parent={parent}")?;
    }
    if let Some(head) = &attributes.head {
        write!(f, " head={head}")?;
    }
    Ok(())
}

fn none_or(value: Option<&str>) -> &str {
    value.unwrap_or("none")
}

fn quoted_or_none(value: Option<&str>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"))
}
