//! The SCIM 2.0 pusher (RFC 7643/7644): `/Users` with the enterprise extension's `manager`;
//! departments as `/Groups` (groups.rs) with orgsync's department extension (docs/scim.md).

mod client;
mod config;
mod convert;
#[doc(hidden)]
pub mod fuzz;
mod group_convert;
mod groups;
mod mapping;
mod place;
mod wire;

pub use config::ScimTargetConfig;

use super::{GroupWrite, PersonRef, PushError, Pusher, TargetAccount, TargetKind};
use crate::config::Secret;
use crate::model::{Attributes, Checked, DepartmentId, FieldChange, TargetId, UserKey};
use client::ScimClient;
use group_convert::Extension;
use groups::resource_path;
use reqwest::Method;
use tracing::{debug, instrument};

pub struct ScimPusher {
    client: ScimClient,
    extension: Extension,
    /// The mapped attributes beyond the roles, with their places in a User resource.
    extras: mapping::Extras,
}

impl ScimPusher {
    pub fn new(config: ScimTargetConfig, token: Secret) -> Result<Self, PushError> {
        let extension = if config.group_extension {
            Extension::Department
        } else {
            Extension::Off
        };
        let mapping = config
            .attribute_mapping()
            .map_err(|error| PushError::Setup {
                detail: error.to_string(),
            })?;
        Ok(ScimPusher {
            extras: mapping::Extras::of(&mapping),
            client: ScimClient::new(config, token)?,
            extension,
        })
    }

    async fn find_by_external_id(&self, key: &UserKey) -> Result<Option<TargetId>, PushError> {
        let filter = format!("externalId eq {}", convert::filter_literal(key.as_str()));
        let list: wire::ListResponse = self
            .client
            .get_json("/Users", &[("filter", &filter)])
            .await?;
        // externalId is not unique on every server; the lowest id is chosen so reruns agree.
        let mut ids: Vec<&str> = list
            .resources
            .iter()
            .filter(|u| u.external_id.as_deref() == Some(key.as_str()))
            .map(|u| u.id.as_str())
            .collect();
        ids.sort_unstable();
        ids.first().map(|id| convert::target_id(id)).transpose()
    }

    /// PATCHes the resource at `path` (`/Users/…` or `/Groups/…`); nothing to change sends
    /// nothing.
    async fn patch(
        &self,
        path: &str,
        operations: Vec<wire::PatchOperation>,
    ) -> Result<(), PushError> {
        if operations.is_empty() {
            return Ok(());
        }
        let body = wire::PatchRequest {
            schemas: [wire::PATCH_SCHEMA],
            operations,
        };
        self.client
            .request(Method::PATCH, path, &[], Some(&body))
            .await?;
        Ok(())
    }

    async fn patch_user(
        &self,
        id: &TargetId,
        operations: Vec<wire::PatchOperation>,
    ) -> Result<(), PushError> {
        self.patch(&user_path(id)?, operations).await
    }

    /// Takes over an account that already carries the person's key, replacing its attributes.
    async fn adopt(
        &self,
        id: TargetId,
        resource: &wire::UserResource,
    ) -> Result<TargetId, PushError> {
        self.client
            .request(Method::PUT, &user_path(&id)?, &[], Some(resource))
            .await?;
        Ok(id)
    }
}

impl ScimPusher {
    /// POSTs the new account. A POST retried after an ambiguous failure (applied, but answered
    /// after the timeout) meets its own account holding the userName: that account is adopted
    /// rather than reported as a clash.
    async fn post(
        &self,
        key: &UserKey,
        resource: &wire::UserResource,
    ) -> Result<TargetId, PushError> {
        let answer = match self
            .client
            .request(Method::POST, "/Users", &[], Some(resource))
            .await
        {
            Ok(answer) => answer,
            Err(conflict @ PushError::Conflict { .. }) => {
                return match self.find_by_external_id(key).await? {
                    Some(existing) => {
                        debug!(user = %key, id = %existing, "The create was applied before it failed; adopting the account.");
                        self.adopt(existing, resource).await
                    }
                    None => Err(conflict),
                };
            }
            Err(error) => return Err(error),
        };
        let created: wire::ReadUser = client::parse(&answer.body)?;
        convert::target_id(&created.id)
    }
}

fn user_path(id: &TargetId) -> Result<String, PushError> {
    resource_path("Users", id)
}

impl Pusher for ScimPusher {
    fn kind(&self) -> TargetKind {
        TargetKind::Scim
    }

    /// One page of one account: a read that needs the token (discovery endpoints such as
    /// `/ServiceProviderConfig` are often served without one).
    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn check(&self) -> Result<Checked, PushError> {
        let page: wire::ListResponse = self
            .client
            .get_json("/Users", &[("startIndex", "1"), ("count", "1")])
            .await?;
        Ok(Checked::Verified(match page.total_results {
            Some(total) => format!("{total} account(s)"),
            None => String::new(),
        }))
    }

    #[instrument(level = "debug", skip(self, attributes), fields(target = "scim"))]
    async fn create(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        let resource = convert::resource(key, attributes, active, &self.extras);
        if let Some(existing) = self.find_by_external_id(key).await? {
            debug!(user = %key, id = %existing, "The account already exists in the target; adopting it.");
            return self.adopt(existing, &resource).await;
        }
        self.post(key, &resource).await
    }

    /// No lookup first: the engine listed the target in this run and it had no such account.
    #[instrument(level = "debug", skip(self, attributes), fields(target = "scim"))]
    async fn create_unlisted(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        self.post(
            key,
            &convert::resource(key, attributes, active, &self.extras),
        )
        .await
    }

    #[instrument(level = "debug", skip(self, changes), fields(target = "scim"))]
    async fn update(
        &self,
        id: &TargetId,
        changes: &[FieldChange],
    ) -> Result<Option<TargetId>, PushError> {
        self.patch_user(id, convert::patch_operations(changes, &self.extras))
            .await?;
        Ok(None)
    }

    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn set_manager(
        &self,
        id: &TargetId,
        manager: Option<&TargetId>,
    ) -> Result<(), PushError> {
        self.patch_user(id, vec![convert::manager_operation(manager)])
            .await
    }

    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn set_active(&self, id: &TargetId, active: bool) -> Result<Option<TargetId>, PushError> {
        let op = wire::PatchOperation {
            op: "replace",
            path: "active".into(),
            value: Some(active.into()),
        };
        self.patch_user(id, vec![op]).await?;
        Ok(None)
    }

    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn link(&self, id: &TargetId, key: &UserKey) -> Result<(), PushError> {
        let op = wire::PatchOperation {
            op: "replace",
            path: "externalId".into(),
            value: Some(key.as_str().into()),
        };
        self.patch_user(id, vec![op]).await
    }

    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn delete(&self, id: &TargetId) -> Result<(), PushError> {
        match self
            .client
            .request::<()>(Method::DELETE, &user_path(id)?, &[], None)
            .await
        {
            Err(PushError::Status { status: 404, .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Pages through `/Users` with `startIndex`/`count`; servers may return fewer than asked.
    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn list(&self) -> Result<Vec<TargetAccount>, PushError> {
        let mut accounts = Vec::new();
        let count = self.client.page_size().to_string();
        let mut start = 1usize;
        loop {
            let start_text = start.to_string();
            let page: wire::ListResponse = self
                .client
                .get_json("/Users", &[("startIndex", &start_text), ("count", &count)])
                .await?;
            let fetched = page.resources.len();
            for user in page.resources {
                accounts.push(convert::account(user, &self.extras)?);
            }
            let total = page.total_results.unwrap_or(accounts.len());
            if fetched == 0 || accounts.len() >= total {
                break;
            }
            start += fetched;
        }
        Ok(accounts)
    }

    #[instrument(level = "debug", skip_all, fields(target = "scim", group = %group.key))]
    async fn create_group(&self, group: &GroupWrite<'_>) -> Result<TargetId, PushError> {
        self.create_group_resource(group).await
    }

    #[instrument(level = "debug", skip_all, fields(target = "scim", group = %group.key))]
    async fn update_group(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<Option<TargetId>, PushError> {
        self.update_group_resource(id, group).await?;
        Ok(None)
    }

    #[instrument(level = "debug", skip(self, members), fields(target = "scim", members = members.len()))]
    async fn add_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.add_group_members(id, members).await
    }

    #[instrument(level = "debug", skip(self, members), fields(target = "scim", members = members.len()))]
    async fn remove_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.remove_group_members(id, group, members).await
    }

    #[instrument(level = "debug", skip(self), fields(target = "scim"))]
    async fn delete_group(&self, id: &TargetId, group: &DepartmentId) -> Result<(), PushError> {
        self.delete_group_resource(id).await
    }
}
