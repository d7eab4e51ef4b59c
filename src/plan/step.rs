use crate::model::{Attributes, FieldChange, Status, UserKey};
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
    /// Links are set, moved or cleared before anyone they pointed at is removed.
    Link,
    Deactivate,
    Delete,
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
}

impl Step {
    pub fn user(&self) -> &UserKey {
        match self {
            Step::Adopt { user, .. }
            | Step::Create { user, .. }
            | Step::FreeValues { user, .. }
            | Step::Update { user, .. }
            | Step::Reactivate { user }
            | Step::SetManager { user, .. }
            | Step::ClearManager { user, .. }
            | Step::Deactivate { user, .. }
            | Step::Delete { user, .. } => user,
        }
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
        }
    }
}

impl Phase {
    /// Every phase, in the order they run.
    pub const ALL: [Phase; 8] = [
        Phase::Adopt,
        Phase::FreeValues,
        Phase::Update,
        Phase::Reactivate,
        Phase::Create,
        Phase::Link,
        Phase::Deactivate,
        Phase::Delete,
    ];
}

impl StepKind {
    pub const ALL: [StepKind; 9] = [
        StepKind::Adopt,
        StepKind::FreeValues,
        StepKind::Create,
        StepKind::Update,
        StepKind::Reactivate,
        StepKind::SetManager,
        StepKind::ClearManager,
        StepKind::Deactivate,
        StepKind::Delete,
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
                for field in crate::model::Field::ALL {
                    if let Some(value) = attributes.get(field) {
                        write!(f, " {field}={value:?}")?;
                    }
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
            } => write!(
                f,
                "set_manager {user} → {manager} (was {})",
                previous.as_ref().map_or("none", UserKey::as_str)
            ),
            Step::ClearManager { user, previous } => {
                write!(f, "clear_manager {user} (was {previous})")
            }
            Step::Deactivate { user, reason } => write!(f, "deactivate {user}: {reason}"),
            Step::Delete { user, reason } => write!(f, "delete {user}: {reason}"),
        }
    }
}

fn quoted_or_none(value: Option<&str>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"))
}
