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
        }
    }
}

impl Policy {
    /// No removal limits: for tests and tools that approve every plan.
    pub fn without_guard(self) -> Self {
        Policy {
            max_deletions: usize::MAX,
            max_deletion_ratio: 1.0,
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
