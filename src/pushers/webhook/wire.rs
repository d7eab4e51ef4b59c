//! The event JSON orgsync POSTs (documented in docs/webhooks.md). Private to the webhook pusher.

use crate::model::{Attributes, FieldChange};
use serde::Serialize;

/// Bumped when a field is renamed or removed; adding fields keeps the version.
pub(super) const EVENT_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub(super) struct Event<'a> {
    /// The delivery id, also sent as `X-Orgsync-Delivery` and `Idempotency-Key`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: u32,
    pub connector: &'a str,
    /// Whom the event is about: `user` (a person's upstream key, also their id for this
    /// target) or `group` (a department's id, also its group's id).
    #[serde(flatten)]
    pub subject: Subject<'a>,
    pub occurred_at: jiff::Timestamp,
    pub data: Data,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Subject<'a> {
    User(&'a str),
    Group(&'a str),
}

impl<'a> Subject<'a> {
    pub fn as_str(self) -> &'a str {
        match self {
            Subject::User(id) | Subject::Group(id) => id,
        }
    }
}

/// What each event type carries.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Data {
    /// `user.created`
    Created {
        attributes: Attributes,
        active: bool,
    },
    /// `user.updated`: only the fields that changed, with their old and new values.
    Updated { changes: Vec<FieldChange> },
    /// `manager.changed`: the manager's key, or null when the link is removed.
    Manager { manager: Option<String> },
    /// `group.created`, `group.updated`: the group as it is now.
    Group {
        display_name: String,
        /// The parent department's id, when the parent is a synced group too.
        parent: Option<String>,
        /// The department head's upstream key, when they are a synced person.
        head: Option<String>,
    },
    /// `group.members_added`, `group.members_removed`: people by upstream key.
    Members { members: Vec<String> },
    /// `user.deactivated`, `user.reactivated`, `user.deleted`, `group.deleted`
    Empty {},
}
