//! The webhook pusher: every step POSTed to one URL as a signed JSON event (docs/webhooks.md).
//! A step counts as applied only when the receiver answers 2xx. The target id of a person is
//! their upstream key: a receiver has no ids of its own to give back.

mod client;
mod config;
mod ids;
mod wire;

pub use config::WebhookTargetConfig;

/// The target's signing, reused by the notify webhook so both sign alike (docs/webhooks.md).
pub(crate) mod signing {
    pub(crate) use super::client::{
        DELIVERY_HEADER, EVENT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign,
    };
}

use super::{GroupWrite, PersonRef, PushError, Pusher, TargetAccount, TargetKind};
use crate::config::Secret;
use crate::model::{Attributes, Checked, DepartmentId, Field, FieldChange, TargetId, UserKey};
use client::Deliverer;
use ids::DeliveryIds;
use tracing::{debug, instrument};
use wire::{Data, Event, Subject};

/// The header names, for receivers written in Rust and for tests.
pub mod headers {
    pub use super::client::{
        DELIVERY_HEADER as DELIVERY, EVENT_HEADER as EVENT, IDEMPOTENCY_HEADER as IDEMPOTENCY_KEY,
        SIGNATURE_HEADER as SIGNATURE, TIMESTAMP_HEADER as TIMESTAMP,
    };
}

pub struct WebhookPusher {
    deliverer: Deliverer,
    ids: DeliveryIds,
    connector: String,
    /// Roles mapped to `"none"`: never sent, whatever the attributes handed over hold.
    unsent: Vec<Field>,
}

impl WebhookPusher {
    /// `connector` goes into every event and into the delivery ids.
    pub fn new(
        config: WebhookTargetConfig,
        secret: Secret,
        connector: &str,
    ) -> Result<Self, PushError> {
        config
            .validate()
            .map_err(|detail| PushError::Setup { detail })?;
        let mapping = config.attribute_mapping().map_err(|e| PushError::Setup {
            detail: e.to_string(),
        })?;
        Ok(WebhookPusher {
            deliverer: Deliverer::new(&config, secret)?,
            ids: DeliveryIds::new(),
            connector: connector.to_owned(),
            unsent: Field::ROLES
                .into_iter()
                .filter(|&role| !mapping.manages(role))
                .collect(),
        })
    }

    async fn send(&self, kind: &'static str, user: &str, data: Data) -> Result<(), PushError> {
        self.send_about(kind, Subject::User(user), data).await
    }

    /// A group's event: its envelope names the department id as `group`.
    async fn send_group(
        &self,
        kind: &'static str,
        group: &DepartmentId,
        data: Data,
    ) -> Result<(), PushError> {
        self.send_about(kind, Subject::Group(group.as_str()), data)
            .await
    }

    async fn send_about(
        &self,
        kind: &'static str,
        subject: Subject<'_>,
        data: Data,
    ) -> Result<(), PushError> {
        let content = serde_json::to_vec(&data).map_err(|e| PushError::Malformed {
            detail: e.to_string(),
        })?;
        // Event types differ between people and groups, so a person and a department with the
        // same id never name the same change.
        let change = DeliveryIds::change(&self.connector, subject.as_str(), kind, &content);
        let event = Event {
            id: self.ids.id_for(&change),
            kind,
            version: wire::EVENT_VERSION,
            connector: &self.connector,
            subject,
            occurred_at: jiff::Timestamp::now(),
            data,
        };
        let body = serde_json::to_vec(&event).map_err(|e| PushError::Malformed {
            detail: e.to_string(),
        })?;
        self.deliverer.deliver(&event.id, kind, &body).await?;
        self.ids.acknowledged(&change);
        debug!(
            delivery = %event.id,
            event = kind,
            subject = subject.as_str(),
            "The receiver acknowledged the event."
        );
        Ok(())
    }
}

/// A group's name, parent and head as an event carries them.
fn group_data(group: &GroupWrite<'_>) -> Data {
    Data::Group {
        display_name: group.display_name.to_owned(),
        parent: group.parent.map(|p| p.as_str().to_owned()),
        head: group.head.map(|h| h.key.as_str().to_owned()),
    }
}

/// Members by upstream key: the receiver knows people by it.
fn members_data(members: &[PersonRef<'_>]) -> Data {
    Data::Members {
        members: members.iter().map(|m| m.key.as_str().to_owned()).collect(),
    }
}

impl Pusher for WebhookPusher {
    fn kind(&self) -> TargetKind {
        TargetKind::Webhook
    }

    /// Called once per run before its first write: a receiver given up on in the last run is
    /// tried again. Nothing is sent; a receiver has no way to be checked without an event.
    async fn check(&self) -> Result<Checked, PushError> {
        // Called once per run: the per-run give-up state starts afresh.
        self.deliverer.reset();
        Ok(Checked::NotChecked(
            "a receiver cannot be checked without sending it an event",
        ))
    }

    #[instrument(level = "debug", skip(self, attributes), fields(target = "webhook"))]
    async fn create(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        let mut attributes = attributes.clone();
        for &role in &self.unsent {
            attributes.set(role, None);
        }
        let data = Data::Created { attributes, active };
        self.send("user.created", key.as_str(), data).await?;
        Ok(TargetId::new(key.as_str()))
    }

    #[instrument(level = "debug", skip(self, changes), fields(target = "webhook"))]
    async fn update(
        &self,
        id: &TargetId,
        changes: &[FieldChange],
    ) -> Result<Option<TargetId>, PushError> {
        let data = Data::Updated {
            changes: changes.to_vec(),
        };
        self.send("user.updated", id.as_str(), data).await?;
        Ok(None)
    }

    #[instrument(level = "debug", skip(self), fields(target = "webhook"))]
    async fn set_manager(
        &self,
        id: &TargetId,
        manager: Option<&TargetId>,
    ) -> Result<(), PushError> {
        let data = Data::Manager {
            manager: manager.map(|m| m.as_str().to_owned()),
        };
        self.send("manager.changed", id.as_str(), data).await
    }

    #[instrument(level = "debug", skip(self), fields(target = "webhook"))]
    async fn set_active(&self, id: &TargetId, active: bool) -> Result<Option<TargetId>, PushError> {
        let kind = if active {
            "user.reactivated"
        } else {
            "user.deactivated"
        };
        self.send(kind, id.as_str(), Data::Empty {}).await?;
        Ok(None)
    }

    /// Never planned: adoption needs `list`, which a receiver cannot answer.
    async fn link(&self, _id: &TargetId, _key: &UserKey) -> Result<(), PushError> {
        Err(PushError::Unsupported {
            detail: "a webhook target has no existing accounts to adopt".into(),
        })
    }

    #[instrument(level = "debug", skip(self), fields(target = "webhook"))]
    async fn delete(&self, id: &TargetId) -> Result<(), PushError> {
        self.send("user.deleted", id.as_str(), Data::Empty {}).await
    }

    /// A receiver cannot be read back, so adoption of existing accounts and drift repair
    /// (`--full`) are not available for webhook targets.
    async fn list(&self) -> Result<Vec<TargetAccount>, PushError> {
        Err(PushError::Unsupported {
            detail: "a webhook target cannot list accounts: adoption and drift repair need a \
                     target that can be read back"
                .into(),
        })
    }

    /// A group's id for this target is its department id, as a person's is their key: there is
    /// nothing to adopt, the receiver keys its records by the department id.
    #[instrument(level = "debug", skip(self, group), fields(target = "webhook", group = %group.key))]
    async fn create_group(&self, group: &GroupWrite<'_>) -> Result<TargetId, PushError> {
        self.send_group("group.created", group.key, group_data(group))
            .await?;
        Ok(TargetId::new(group.key.as_str()))
    }

    #[instrument(level = "debug", skip(self, group), fields(target = "webhook", group = %group.key))]
    async fn update_group(
        &self,
        _id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<Option<TargetId>, PushError> {
        self.send_group("group.updated", group.key, group_data(group))
            .await?;
        Ok(None)
    }

    #[instrument(level = "debug", skip(self, members), fields(target = "webhook", count = members.len()))]
    async fn add_members(
        &self,
        _id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.send_group("group.members_added", group, members_data(members))
            .await
    }

    #[instrument(level = "debug", skip(self, members), fields(target = "webhook", count = members.len()))]
    async fn remove_members(
        &self,
        _id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.send_group("group.members_removed", group, members_data(members))
            .await
    }

    #[instrument(level = "debug", skip(self), fields(target = "webhook"))]
    async fn delete_group(&self, _id: &TargetId, group: &DepartmentId) -> Result<(), PushError> {
        self.send_group("group.deleted", group, Data::Empty {})
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_bodies_are_exact() {
        let data = Data::Created {
            attributes: Attributes::new("lin", "林晓").with(Field::Email, Some("l@x.cn".into())),
            active: true,
        };
        let event = Event {
            id: "abc".into(),
            kind: "user.created",
            version: 1,
            connector: "hq",
            subject: Subject::User("lin"),
            occurred_at: "2025-01-02T03:04:05Z".parse().unwrap(),
            data,
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({
                "id": "abc", "type": "user.created", "version": 1, "connector": "hq",
                "user": "lin", "occurred_at": "2025-01-02T03:04:05Z",
                "data": {
                    "attributes": { "user_name": "lin", "display_name": "林晓", "email": "l@x.cn" },
                    "active": true
                }
            })
        );
        let updated = Data::Updated {
            changes: vec![FieldChange {
                field: Field::Title,
                before: Some("a".into()),
                after: None,
            }],
        };
        assert_eq!(
            serde_json::to_value(&updated).unwrap(),
            json!({ "changes": [{ "field": "title", "before": "a", "after": null }] })
        );
        assert_eq!(
            serde_json::to_value(Data::Manager { manager: None }).unwrap(),
            json!({ "manager": null })
        );
        assert_eq!(serde_json::to_value(Data::Empty {}).unwrap(), json!({}));
    }

    #[test]
    fn group_event_bodies_are_exact() {
        let key = DepartmentId::new("12");
        let parent = DepartmentId::new("3");
        let (head, head_id) = (UserKey::new("wang"), TargetId::new("wang"));
        let write = GroupWrite {
            key: &key,
            display_name: "销售部 / 华东",
            parent: Some(&parent),
            head: Some(PersonRef {
                key: &head,
                id: &head_id,
            }),
        };
        let event = Event {
            id: "abc".into(),
            kind: "group.created",
            version: 1,
            connector: "hq",
            subject: Subject::Group("12"),
            occurred_at: "2025-01-02T03:04:05Z".parse().unwrap(),
            data: group_data(&write),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({
                "id": "abc", "type": "group.created", "version": 1, "connector": "hq",
                "group": "12", "occurred_at": "2025-01-02T03:04:05Z",
                "data": { "display_name": "销售部 / 华东", "parent": "3", "head": "wang" }
            })
        );
        let top = GroupWrite {
            parent: None,
            head: None,
            ..write
        };
        assert_eq!(
            serde_json::to_value(group_data(&top)).unwrap(),
            json!({ "display_name": "销售部 / 华东", "parent": null, "head": null })
        );
        let (lin, lin_id) = (UserKey::new("lin"), TargetId::new("ignored"));
        let members = [PersonRef {
            key: &lin,
            id: &lin_id,
        }];
        assert_eq!(
            serde_json::to_value(members_data(&members)).unwrap(),
            json!({ "members": ["lin"] })
        );
    }
}
