//! How a connector maps upstream account states and attributes onto target actions.

use serde::{Deserialize, Serialize};

/// Per-connector planning policy. Every choice is explicit so nothing happens by accident.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Where the target's `userName` comes from.
    pub user_name: UserNameSource,
    pub disabled: DisabledPolicy,
    pub resigned: ResignedPolicy,
    pub not_activated: NotActivatedPolicy,
    /// What to do with people who vanish from the pull (left the scope or deleted upstream).
    pub vanished: VanishedPolicy,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResignedPolicy {
    #[default]
    Deactivate,
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
pub enum VanishedPolicy {
    #[default]
    Deactivate,
    Delete,
}
