//! How a connector maps upstream account states and attributes onto target actions, and the
//! safety limits on removals.

use crate::config::HumanDuration;
use serde::{Deserialize, Serialize};

/// Per-connector planning policy (`[connectors.NAME.policy]`). Every choice is explicit so nothing
/// happens by accident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Where the target's `userName` comes from.
    pub user_name: UserNameSource,
    pub disabled: DisabledPolicy,
    pub resigned: RemovalPolicy,
    pub not_activated: NotActivatedPolicy,
    /// People who vanish from the pull (deleted upstream or moved out of the authorized scope).
    pub vanished: RemovalPolicy,
    /// With `delete`, deletion is staged: the account is deactivated first and deleted only once
    /// it has been inactive this long. A person who comes back before then is reactivated.
    pub delete_after: Option<HumanDuration>,
    /// A plan that deactivates or deletes more accounts than this is refused whole.
    pub max_deletions: usize,
    /// …or more than this share of the accounts orgsync manages (0.0–1.0).
    pub max_deletion_ratio: f64,
    /// On a first sync, existing target accounts without an externalId are adopted when this
    /// attribute matches exactly one person.
    pub match_by: MatchBy,
    /// Circuit breaker: after this many target failures in a row the run stops starting steps,
    /// so a broken target is not hammered with every remaining step. 0 never stops.
    pub max_consecutive_failures: usize,
    /// Who becomes the manager of a person the upstream gives no direct manager.
    pub manager_fallback: ManagerFallback,
    /// A plan that deletes more groups than this is refused whole.
    pub max_group_deletions: usize,
    /// Departments as groups: `[connectors.NAME.groups]`, a section of its own in the file.
    #[serde(skip)]
    pub groups: GroupPolicy,
    /// What each target attribute holds: the target's `[target.attributes]`, read by its kind.
    #[serde(skip)]
    pub mapping: crate::mapping::Mapping,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            user_name: UserNameSource::default(),
            disabled: DisabledPolicy::default(),
            resigned: RemovalPolicy::Deactivate,
            not_activated: NotActivatedPolicy::default(),
            vanished: RemovalPolicy::Deactivate,
            delete_after: None,
            max_deletions: 100,
            max_deletion_ratio: 0.3,
            match_by: MatchBy::default(),
            max_consecutive_failures: 20,
            manager_fallback: ManagerFallback::default(),
            max_group_deletions: 10,
            groups: GroupPolicy::default(),
            mapping: crate::mapping::Mapping::default(),
        }
    }
}

impl Policy {
    /// No removal limits: for tests and tools that approve every plan.
    pub fn without_guard(self) -> Self {
        Policy {
            max_deletions: usize::MAX,
            max_deletion_ratio: 1.0,
            max_group_deletions: usize::MAX,
            ..self
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.max_deletion_ratio) {
            return Err("max_deletion_ratio must be between 0.0 and 1.0".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserNameSource {
    /// The upstream user id: always present, never reused.
    #[default]
    Key,
    /// The email address; people without one fall back to the upstream id (reported).
    Email,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledPolicy {
    /// Keep the account but mark it inactive (SCIM `active=false`).
    #[default]
    Deactivate,
}

/// What happens to the account of someone who resigned or vanished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalPolicy {
    Deactivate,
    /// Delete (staged when `delete_after` is set).
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotActivatedPolicy {
    /// Create the account inactive so it is ready the day the person activates.
    #[default]
    CreateInactive,
    /// Leave such people out of the target entirely.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    #[default]
    Email,
    UserName,
    /// Adopt only accounts whose externalId is already the upstream key.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerFallback {
    /// A person without a direct manager upstream has none in the target.
    #[default]
    None,
    /// Their main department's head, climbing to the parent department when they head it
    /// themselves, when it has no head, or when its head is not an active person in scope.
    DepartmentHead,
}

/// Departments as groups in the target (`[connectors.NAME.groups]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupPolicy {
    /// Off by default: a connector written before groups existed keeps its behaviour.
    pub enabled: bool,
    pub naming: GroupNaming,
    pub members: GroupMembers,
    /// Only these departments (ids as the upstream gives them) become groups; empty: all.
    pub include: Vec<crate::model::DepartmentId>,
    /// These departments never become groups (applied after `include`).
    pub exclude: Vec<crate::model::DepartmentId>,
}

/// A group's display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupNaming {
    /// The department's name; a name two departments share gets the parent's name appended
    /// on the later one by id (then its id if still needed), and the report lists it.
    #[default]
    Name,
    /// The department's path from the top of the scope, joined with ` / `.
    Path,
}

/// Who is a member of a department's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMembers {
    /// The department's own people.
    #[default]
    Direct,
    /// The people of the department and of every department below it.
    Nested,
}
