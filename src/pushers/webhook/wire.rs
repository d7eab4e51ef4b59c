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
    /// The person's upstream key, which is also their id for this target.
    pub user: &'a str,
    pub occurred_at: jiff::Timestamp,
    pub data: Data,
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
    /// `user.deactivated`, `user.reactivated`, `user.deleted`
    Empty {},
}
