//! Pushers apply steps to one kind of target and report each step's outcome.

pub mod ldap;
pub mod scim;
pub mod webhook;

pub use crate::model::TargetAccount;
use crate::model::{Attributes, Checked, DepartmentId, FieldChange, TargetId, UserKey};
use serde::Serialize;
use std::fmt;
use std::future::Future;

pub use error::{PushError, ldap_result_name};
mod error;

/// The target kinds orgsync writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Scim,
    Ldap,
    Webhook,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Scim => "scim",
            TargetKind::Ldap => "ldap",
            TargetKind::Webhook => "webhook",
        })
    }
}

/// A person as a group's head or member: the upstream key (webhooks) and the target's id (SCIM
/// id, LDAP DN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonRef<'a> {
    pub key: &'a UserKey,
    pub id: &'a TargetId,
}

/// A group as written: its department, name, parent group and head, resolved to target ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupWrite<'a> {
    pub key: &'a DepartmentId,
    pub display_name: &'a str,
    /// The parent department, when it is a synced group too (its group may be created in the
    /// same phase, so targets name it by department id).
    pub parent: Option<&'a DepartmentId>,
    pub head: Option<PersonRef<'a>>,
}

/// Writes to one target. Every method is idempotent: the engine may repeat a step after a crash
/// or an ambiguous timeout, and the target must end in the same state.
pub trait Pusher: Send + Sync {
    fn kind(&self) -> TargetKind;

    /// Verifies, before a run plans anything, that the target can be written at all (it
    /// accepts the credentials, its base exists), with a read that needs them. A failure fails
    /// the run with nothing planned or written: a wrong token must not pass for "in sync", nor
    /// fail every step the same way and hammer a bind that will not succeed.
    fn check(&self) -> impl Future<Output = Result<Checked, PushError>> + Send {
        async { Ok(Checked::NotChecked("this target has no check")) }
    }

    /// Creates the person without a manager, or adopts the account that already carries their
    /// upstream key (so a rerun after a crash never duplicates anyone). Returns the target id.
    fn create(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> impl Future<Output = Result<TargetId, PushError>> + Send;

    /// Creates a person the target was just listed without: the engine planned this run against
    /// the target's own accounts, listed in this run. A target whose `create` first looks the key
    /// up may skip that lookup here (one request per person on a first sync); it must still adopt
    /// the account when the create meets one holding the key. The default is `create`.
    fn create_unlisted(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> impl Future<Output = Result<TargetId, PushError>> + Send {
        self.create(key, attributes, active)
    }

    /// Changes the listed fields. Returns the account's new id when the change moved it (an LDAP
    /// rename changes the DN); the engine records it.
    fn update(
        &self,
        id: &TargetId,
        changes: &[FieldChange],
    ) -> impl Future<Output = Result<Option<TargetId>, PushError>> + Send;

    fn set_manager(
        &self,
        id: &TargetId,
        manager: Option<&TargetId>,
    ) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Returns the account's new id when (de)activation moved it (e.g. to a disabled OU).
    fn set_active(
        &self,
        id: &TargetId,
        active: bool,
    ) -> impl Future<Output = Result<Option<TargetId>, PushError>> + Send;

    /// Links an existing account to the upstream key (SCIM `externalId`), adopting it.
    fn link(
        &self,
        id: &TargetId,
        key: &UserKey,
    ) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Deletes the account; one already gone counts as deleted.
    fn delete(&self, id: &TargetId) -> impl Future<Output = Result<(), PushError>> + Send;

    fn list(&self) -> impl Future<Output = Result<Vec<TargetAccount>, PushError>> + Send;

    /// Creates the department's group without members, or adopts the target's group that
    /// carries the department id (SCIM `externalId`), then one with the same display name.
    /// Returns the group's target id.
    fn create_group(
        &self,
        group: &GroupWrite<'_>,
    ) -> impl Future<Output = Result<TargetId, PushError>> + Send;

    /// Sets the group's name, parent and head. Returns the group's new id when the change
    /// moved it (an LDAP rename changes the DN).
    fn update_group(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> impl Future<Output = Result<Option<TargetId>, PushError>> + Send;

    /// Adds people to the group; one already a member counts as added.
    fn add_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Removes people from the group; one not a member counts as removed.
    fn remove_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Deletes the group; one already gone counts as deleted.
    fn delete_group(
        &self,
        id: &TargetId,
        group: &DepartmentId,
    ) -> impl Future<Output = Result<(), PushError>> + Send;
}

/// The pushers a config can name, dispatched without boxing.
// One per connector, built once and never moved in a loop: boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum AnyPusher {
    Scim(scim::ScimPusher),
    Ldap(ldap::LdapPusher),
    Webhook(webhook::WebhookPusher),
}

/// Calls the same method on whichever pusher `self` holds.
macro_rules! dispatch {
    ($self:expr, $p:ident => $call:expr) => {
        match $self {
            AnyPusher::Scim($p) => $call,
            AnyPusher::Ldap($p) => $call,
            AnyPusher::Webhook($p) => $call,
        }
    };
}

impl Pusher for AnyPusher {
    fn kind(&self) -> TargetKind {
        dispatch!(self, p => p.kind())
    }

    async fn check(&self) -> Result<Checked, PushError> {
        dispatch!(self, p => p.check().await)
    }

    async fn create(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        dispatch!(self, p => p.create(key, attributes, active).await)
    }

    async fn create_unlisted(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        dispatch!(self, p => p.create_unlisted(key, attributes, active).await)
    }

    async fn update(
        &self,
        id: &TargetId,
        changes: &[FieldChange],
    ) -> Result<Option<TargetId>, PushError> {
        dispatch!(self, p => p.update(id, changes).await)
    }

    async fn set_manager(
        &self,
        id: &TargetId,
        manager: Option<&TargetId>,
    ) -> Result<(), PushError> {
        dispatch!(self, p => p.set_manager(id, manager).await)
    }

    async fn set_active(&self, id: &TargetId, active: bool) -> Result<Option<TargetId>, PushError> {
        dispatch!(self, p => p.set_active(id, active).await)
    }

    async fn link(&self, id: &TargetId, key: &UserKey) -> Result<(), PushError> {
        dispatch!(self, p => p.link(id, key).await)
    }

    async fn delete(&self, id: &TargetId) -> Result<(), PushError> {
        dispatch!(self, p => p.delete(id).await)
    }

    async fn list(&self) -> Result<Vec<TargetAccount>, PushError> {
        dispatch!(self, p => p.list().await)
    }

    async fn create_group(&self, group: &GroupWrite<'_>) -> Result<TargetId, PushError> {
        dispatch!(self, p => p.create_group(group).await)
    }

    async fn update_group(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<Option<TargetId>, PushError> {
        dispatch!(self, p => p.update_group(id, group).await)
    }

    async fn add_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        dispatch!(self, p => p.add_members(id, group, members).await)
    }

    async fn remove_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        dispatch!(self, p => p.remove_members(id, group, members).await)
    }

    async fn delete_group(&self, id: &TargetId, group: &DepartmentId) -> Result<(), PushError> {
        dispatch!(self, p => p.delete_group(id, group).await)
    }
}
