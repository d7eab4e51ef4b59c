//! Departments as `/Groups`: created without members or adopted (by externalId, then by an
//! unclaimed displayName), renamed and re-headed by PATCH, members added and removed by PATCH in
//! one request per step.

use super::ScimPusher;
use super::client;
use super::convert;
use super::group_convert::{self, Extension, Owner};
use super::wire;
use crate::model::{DepartmentId, TargetId};
use crate::pushers::{GroupWrite, PersonRef, PushError};
use reqwest::Method;
use std::collections::BTreeSet;
use tracing::debug;

impl ScimPusher {
    pub(super) async fn create_group_resource(
        &self,
        group: &GroupWrite<'_>,
    ) -> Result<TargetId, PushError> {
        if let Some((id, owner)) = self.find_group(group).await? {
            return self.adopt_group(id, owner, group).await;
        }
        let resource = group_convert::resource(group, self.extension);
        let answer = match self
            .client
            .request(Method::POST, "/Groups", &[], Some(&resource))
            .await
        {
            Ok(answer) => answer,
            // A POST retried after an ambiguous failure meets its own group; one created by
            // someone else meanwhile is adopted like any other.
            Err(conflict @ PushError::Conflict { .. }) => {
                return match self.find_group(group).await? {
                    Some((id, owner)) => {
                        debug!(group = %group.key, %id, "The group was created before the create failed; adopting it.");
                        self.adopt_group(id, owner, group).await
                    }
                    None => Err(conflict),
                };
            }
            Err(error) => return Err(self.extension_hint(error)),
        };
        let created: wire::ReadGroup = client::parse(&answer.body)?;
        convert::target_id(&created.id)
    }

    pub(super) async fn update_group_resource(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<(), PushError> {
        let ops = group_convert::attribute_operations(group, self.extension, Owner::Ours);
        self.patch_group(id, ops)
            .await
            .map_err(|e| self.extension_hint(e))
    }

    pub(super) async fn add_group_members(
        &self,
        id: &TargetId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        if members.is_empty() {
            return Ok(());
        }
        let op = group_convert::add_members(members.iter().map(|m| m.id.as_str()));
        self.patch_group(id, vec![op]).await
    }

    /// One request; a server that refuses a remove matching no member (400 `noTarget`, as RFC
    /// 7644 §3.5.2.3 answers for replace) applied none of them, so the group's members are read
    /// and the request is sent again for those still in it.
    pub(super) async fn remove_group_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        let ids = || members.iter().map(|m| m.id.as_str());
        match self
            .patch_group(id, group_convert::remove_members(ids()))
            .await
        {
            Err(PushError::Status {
                status: 400,
                scim_type: Some(t),
                ..
            }) if t == "noTarget" => {
                let present = self.group_members(id).await?;
                let still: Vec<&str> = ids().filter(|m| present.contains(*m)).collect();
                debug!(%group, asked = members.len(), present = still.len(), "Some members to remove were not in the group; removing the others.");
                if still.is_empty() {
                    return Ok(());
                }
                self.patch_group(id, group_convert::remove_members(still))
                    .await
            }
            other => other,
        }
    }

    pub(super) async fn delete_group_resource(&self, id: &TargetId) -> Result<(), PushError> {
        match self
            .client
            .request::<()>(Method::DELETE, &resource_path("Groups", id)?, &[], None)
            .await
        {
            Err(PushError::Status { status: 404, .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The group to adopt: the one carrying the department id, else an unclaimed one of the
    /// same name.
    async fn find_group(
        &self,
        group: &GroupWrite<'_>,
    ) -> Result<Option<(TargetId, Owner)>, PushError> {
        let key = group.key.as_str();
        let by_key = self.search_groups("externalId", key).await?;
        if let Some(id) = group_convert::with_key(&by_key, key) {
            return Ok(Some((convert::target_id(id)?, Owner::Ours)));
        }
        let by_name = self
            .search_groups("displayName", group.display_name)
            .await?;
        group_convert::unclaimed_named(&by_name, group.display_name)
            .map(|id| Ok((convert::target_id(id)?, Owner::AdoptedByName)))
            .transpose()
    }

    /// Groups whose attribute equals the value, without their (possibly thousands of) members.
    async fn search_groups(
        &self,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<wire::ReadGroup>, PushError> {
        let filter = format!("{attribute} eq {}", convert::filter_literal(value));
        let list: wire::GroupList = self
            .client
            .get_json(
                "/Groups",
                &[("filter", &filter), ("excludedAttributes", "members")],
            )
            .await?;
        Ok(list.resources)
    }

    async fn adopt_group(
        &self,
        id: TargetId,
        owner: Owner,
        group: &GroupWrite<'_>,
    ) -> Result<TargetId, PushError> {
        debug!(group = %group.key, %id, ?owner, "The group already exists in the target; adopting it.");
        let ops = group_convert::attribute_operations(group, self.extension, owner);
        self.patch_group(&id, ops)
            .await
            .map_err(|e| self.extension_hint(e))?;
        Ok(id)
    }

    async fn group_members(&self, id: &TargetId) -> Result<BTreeSet<String>, PushError> {
        let group: wire::ReadGroup = self
            .client
            .get_json(&resource_path("Groups", id)?, &[("attributes", "members")])
            .await?;
        Ok(group.members.into_iter().filter_map(|m| m.value).collect())
    }

    async fn patch_group(
        &self,
        id: &TargetId,
        operations: Vec<wire::PatchOperation>,
    ) -> Result<(), PushError> {
        self.patch(&resource_path("Groups", id)?, operations).await
    }

    /// A 400 to a write that carried the extension names the setting that turns it off.
    fn extension_hint(&self, error: PushError) -> PushError {
        match error {
            PushError::Status {
                status: 400,
                scim_type,
                detail,
                retry_after,
            } if self.extension == Extension::Department => PushError::Status {
                status: 400,
                scim_type,
                detail: format!(
                    "{detail} (a server that does not know orgsync's department extension \
                     needs `group_extension = false` in the target's config)"
                ),
                retry_after,
            },
            other => other,
        }
    }
}

/// `/{endpoint}/{id}`, the id checked again (a snapshot written before ids were checked may hold
/// a bad one) and percent-encoded: ids are opaque, nothing in one may change the path.
pub(super) fn resource_path(endpoint: &str, id: &TargetId) -> Result<String, PushError> {
    convert::target_id(id.as_str())?;
    let escaped: String = url::form_urlencoded::byte_serialize(id.as_str().as_bytes()).collect();
    Ok(format!("/{endpoint}/{}", escaped.replace('+', "%20")))
}
