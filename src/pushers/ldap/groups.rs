//! Departments as groups: `groupOfNames` (or `groupOfUniqueNames`) entries under `groups_base`,
//! named `cn=<display name>`, the department id in `group_key_attribute`, the head's DN in
//! `owner`, people's DNs in `member` (`uniqueMember`). Both classes require a member, so a group
//! with nobody in it holds a placeholder (its own DN, or `empty_member`): taken out in the modify
//! that adds the first person, put back in the modify that removes the last one.
//!
//! Every write is optimistic and idempotent: a modify is atomic, so when one is refused because a
//! member is there already (20; 68 in Active Directory), gone already (16; 53 in Active
//! Directory) or would be the last (65), the group is read
//! and the modify sent again with exactly what is left to do. Concurrent steps on one group (the
//! engine runs the batches of a big group side by side) meet the same way.

use super::config::missing_groups_base;
use super::connection::OpError;
use super::convert::{GroupEntry, GroupLayout, SAM_ACCOUNT_NAME};
use super::{LdapPusher, NO_ATTRIBUTES, dn};
use crate::model::{DepartmentId, TargetId};
use crate::plan::MEMBER_BATCH;
use crate::pushers::{GroupWrite, PersonRef, PushError, Pusher};
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use tracing::{debug, warn};

// Result codes this file reads (RFC 4511 appendix A).
const NO_SUCH_ATTRIBUTE: u32 = 16;
const VALUE_EXISTS: u32 = 20;
const NO_SUCH_OBJECT: u32 = 32;
const OBJECT_CLASS_VIOLATION: u32 = 65;
/// Active Directory's answer to removing a member value that is not there.
const UNWILLING_TO_PERFORM: u32 = 53;
/// An entry that exists; also Active Directory's answer to adding a member already linked
/// (`member` is a linked attribute there), where OpenLDAP answers 20.
const ALREADY_EXISTS: u32 = 68;

/// Sends of one membership modify, each after reading what the group holds: enough for a few
/// concurrent steps on the same group to change it in between.
const TRIES: usize = 6;

fn values(value: &str) -> HashSet<String> {
    HashSet::from([value.to_owned()])
}

/// A missing groups base (32) says what to fix; other errors name the operation and entry.
fn missing_groups_container(error: OpError, operation: &str, base: &str) -> PushError {
    if error.code() == Some(NO_SUCH_OBJECT) {
        PushError::Directory {
            code: NO_SUCH_OBJECT,
            detail: format!(
                "{operation}: the groups container {base} does not exist in the directory; \
                 create it or correct groups_base"
            ),
        }
    } else {
        error.into_push(operation, base)
    }
}

fn group_gone(operation: &str, id: &str, key: &DepartmentId) -> PushError {
    PushError::Directory {
        code: NO_SUCH_OBJECT,
        detail: format!(
            "{operation} {id}: the group of department {key} does not exist (deleted by hand?); \
             `orgsync snapshot rebuild` forgets it"
        ),
    }
}

impl LdapPusher {
    fn group_layout(&self) -> Result<&GroupLayout, PushError> {
        self.groups.as_ref().ok_or_else(|| PushError::Setup {
            detail: missing_groups_base(),
        })
    }

    async fn search_groups(
        &self,
        layout: &GroupLayout,
        filter: &str,
        attributes: &[String],
    ) -> Result<Vec<ldap3::SearchEntry>, PushError> {
        self.conn
            .search(
                &layout.base,
                Scope::Subtree,
                filter,
                attributes,
                self.page_size,
            )
            .await
            .map_err(|e| missing_groups_container(e, "search", &layout.base))
    }

    /// The group at `dn`, if there is one of the configured class.
    async fn read_group(
        &self,
        layout: &GroupLayout,
        dn: &str,
    ) -> Result<Option<GroupEntry>, PushError> {
        let filter = format!("(objectClass={})", layout.class.name());
        match self
            .conn
            .search(
                dn,
                Scope::Base,
                &filter,
                &layout.read_attributes(),
                self.page_size,
            )
            .await
        {
            Ok(entries) => Ok(entries.into_iter().next().map(|e| layout.group(e))),
            Err(e) if e.code() == Some(NO_SUCH_OBJECT) => Ok(None),
            Err(e) => Err(e.into_push("read", dn)),
        }
    }

    /// The group carrying the department id, the lowest DN when several do (reruns agree).
    async fn find_group(
        &self,
        layout: &GroupLayout,
        key: &DepartmentId,
    ) -> Result<Option<String>, PushError> {
        let found = self
            .search_groups(
                layout,
                &layout.key_filter(key.as_str()),
                &[NO_ATTRIBUTES.to_owned()],
            )
            .await?;
        let mut dns: Vec<String> = found.into_iter().map(|e| e.dn).collect();
        dns.sort();
        if dns.len() > 1 {
            warn!(group = %key, entries = dns.len(), "Several groups carry this department id; using the first.");
        }
        Ok(dns.into_iter().next())
    }

    /// A group with the department's name that no department claims yet (made by hand).
    async fn unclaimed_by_name(
        &self,
        layout: &GroupLayout,
        display_name: &str,
    ) -> Result<Option<GroupEntry>, PushError> {
        let found = self
            .search_groups(
                layout,
                &layout.name_filter(display_name),
                &layout.read_attributes(),
            )
            .await?;
        let mut free: Vec<GroupEntry> = found
            .into_iter()
            .map(|e| layout.group(e))
            .filter(|g| g.keys.is_empty())
            .collect();
        free.sort_by(|a, b| a.dn.cmp(&b.dn));
        Ok(free.into_iter().next())
    }

    /// Creates the group, or takes over the one carrying the department id, then an unclaimed
    /// one with the same name.
    pub(super) async fn write_new_group(
        &self,
        group: &GroupWrite<'_>,
    ) -> Result<TargetId, PushError> {
        let layout = self.group_layout()?;
        if let Some(dn) = self.find_group(layout, group.key).await? {
            debug!(group = %group.key, "The group exists already; taking it over.");
            let entry = self
                .read_group(layout, &dn)
                .await?
                .ok_or_else(|| group_gone("read", &dn, group.key))?;
            return Ok(self.reconcile_group(layout, entry, group).await?.0);
        }
        if let Some(entry) = self.unclaimed_by_name(layout, group.display_name).await? {
            debug!(group = %group.key, "Adopting the group of the same name.");
            return Ok(self.reconcile_group(layout, entry, group).await?.0);
        }
        let dn = layout.dn(group.display_name);
        let entry = layout.entry(
            &dn,
            group.key.as_str(),
            group.display_name,
            group.head.map(|h| h.id.as_str()),
        );
        let added = match self.add(&dn, &entry).await {
            // AD: the name's sAMAccountName is someone else's (a person, another group).
            Err(e)
                if layout.is_ad()
                    && e.code() == Some(ALREADY_EXISTS)
                    && !self.exists(&dn).await? =>
            {
                let fallback =
                    super::ad::naming::group_account_name(group.display_name, group.key.as_str());
                warn!(group = %group.key, account = %fallback, "The group's name is taken as a sAMAccountName in the domain; the group gets a name made unique with its department id.");
                let entry: Vec<_> = entry
                    .into_iter()
                    .map(|(a, v)| match a.eq_ignore_ascii_case(SAM_ACCOUNT_NAME) {
                        true => (a, values(&fallback)),
                        false => (a, v),
                    })
                    .collect();
                self.add(&dn, &entry).await
            }
            other => other,
        };
        match added {
            Ok(()) => Ok(TargetId::new(dn)),
            // Added a moment ago by a step whose answer was lost, or by another worker.
            Err(e) if e.code() == Some(ALREADY_EXISTS) => match self.read_group(layout, &dn).await?
            {
                Some(existing)
                    if existing.keys.is_empty()
                        || existing.keys.iter().any(|k| k == group.key.as_str()) =>
                {
                    Ok(self.reconcile_group(layout, existing, group).await?.0)
                }
                Some(existing) => Err(PushError::Conflict {
                    detail: format!(
                        "cannot create the group of department {}: {dn} is the group of \
                         department {} ({})",
                        group.key,
                        existing.keys.join(", "),
                        layout.key_attribute
                    ),
                }),
                None => Err(PushError::Conflict {
                    detail: format!(
                        "cannot create the group of department {}: {dn} exists and is not a {}",
                        group.key,
                        layout.class.name()
                    ),
                }),
            },
            Err(e) => Err(missing_groups_container(e, "add", &layout.base)),
        }
    }

    /// Sets the group's name, department id and head; renames it in place (modrdn) when its
    /// name changed. Returns the DN, and whether it was renamed.
    async fn reconcile_group(
        &self,
        layout: &GroupLayout,
        entry: GroupEntry,
        group: &GroupWrite<'_>,
    ) -> Result<(TargetId, bool), PushError> {
        let (rdn, parent) = dn::parent(&entry.dn);
        let new_rdn = dn::rdn("cn", group.display_name);
        let mut current = entry.dn.clone();
        let renamed = !dn::same(rdn, &new_rdn) || !entry.cn.iter().any(|c| c == group.display_name);
        if renamed {
            // A name changing case only is a modrdn too: cn keeps the exact spelling.
            match self.modify_dn(&entry.dn, &new_rdn, None).await {
                Ok(()) => debug!(group = %group.key, "Renamed the group."),
                Err(e) if e.code() == Some(ALREADY_EXISTS) => {
                    return Err(PushError::Conflict {
                        detail: format!(
                            "cannot rename the group of department {} to {:?}: another entry \
                             under {parent} has that name",
                            group.key, group.display_name
                        ),
                    });
                }
                Err(e) => return Err(e.into_push("modrdn", &entry.dn)),
            }
            current = dn::child(&new_rdn, parent);
            let old = dn::canonical(&entry.dn);
            if layout.empty_member.is_none()
                && !layout.is_ad()
                && entry.members.iter().any(|m| dn::canonical(m) == old)
            {
                self.swap_value(&current, layout.member_attribute(), &entry.dn, &current)
                    .await?;
            }
        }
        let mut mods = Vec::new();
        if !entry.keys.iter().any(|k| k == group.key.as_str()) {
            mods.push(Mod::Add(
                layout.key_attribute.clone(),
                values(group.key.as_str()),
            ));
        }
        let owner: HashSet<String> = group
            .head
            .map(|h| h.id.as_str().to_owned())
            .into_iter()
            .collect();
        let canonical = |v: &String| dn::canonical(v);
        if entry.owners.iter().map(canonical).collect::<HashSet<_>>()
            != owner.iter().map(canonical).collect::<HashSet<_>>()
        {
            mods.push(Mod::Replace(layout.owner_attribute().to_owned(), owner));
        }
        if !mods.is_empty() {
            self.modify(&current, &mods)
                .await
                .map_err(|e| e.into_push("modify", &current))?;
        }
        Ok((TargetId::new(current), renamed))
    }

    /// Replaces `old` with `new` among `attribute`'s values, if `old` is there. Another writer
    /// (slapd's refint overlay) may have done it already: both 16 and 20 then mean done.
    async fn swap_value(
        &self,
        dn: &str,
        attribute: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, PushError> {
        let swap = [
            Mod::Delete(attribute.to_owned(), values(old)),
            Mod::Add(attribute.to_owned(), values(new)),
        ];
        match self.modify(dn, &swap).await {
            Ok(()) => Ok(true),
            Err(e) if e.code() == Some(VALUE_EXISTS) => {
                let drop_old = [Mod::Delete(attribute.to_owned(), values(old))];
                match self.modify(dn, &drop_old).await {
                    Ok(()) => Ok(true),
                    Err(e) if matches!(e.code(), Some(NO_SUCH_ATTRIBUTE | NO_SUCH_OBJECT)) => {
                        Ok(false)
                    }
                    Err(e) => Err(e.into_push("modify", dn)),
                }
            }
            Err(e) if matches!(e.code(), Some(NO_SUCH_ATTRIBUTE | NO_SUCH_OBJECT)) => Ok(false),
            Err(e) => Err(e.into_push("modify", dn)),
        }
    }

    pub(super) async fn rewrite_group(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<Option<TargetId>, PushError> {
        let layout = self.group_layout()?;
        let found = match self.read_group(layout, id.as_str()).await? {
            Some(entry) => entry,
            // Renamed by a step whose answer the snapshot missed: found by its department id.
            None => match self.find_group(layout, group.key).await? {
                Some(dn) => self
                    .read_group(layout, &dn)
                    .await?
                    .ok_or_else(|| group_gone("update", &dn, group.key))?,
                None => return Err(group_gone("update", id.as_str(), group.key)),
            },
        };
        let elsewhere = !dn::same(&found.dn, id.as_str());
        let (dn, renamed) = self.reconcile_group(layout, found, group).await?;
        Ok((renamed || elsewhere).then_some(dn))
    }

    /// Adds the people (one modify per batch), taking the placeholder out in the same modify.
    pub(super) async fn add_group_members(
        &self,
        id: &TargetId,
        key: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        let layout = self.group_layout()?;
        let group = id.as_str();
        let attribute = layout.member_attribute();
        let placeholder = layout.placeholder(group);
        for batch in members.chunks(MEMBER_BATCH) {
            let mut adding: HashSet<String> =
                batch.iter().map(|m| m.id.as_str().to_owned()).collect();
            let mut drop_placeholder = placeholder.is_some();
            for attempt in 1..=TRIES {
                let mut mods = Vec::new();
                if !adding.is_empty() {
                    mods.push(Mod::Add(attribute.to_owned(), adding.clone()));
                }
                if let Some(placeholder) = placeholder.as_deref().filter(|_| drop_placeholder) {
                    mods.push(Mod::Delete(attribute.to_owned(), values(placeholder)));
                }
                if mods.is_empty() {
                    break;
                }
                match self.modify(group, &mods).await {
                    Ok(()) => break,
                    Err(e)
                        if attempt < TRIES
                            && matches!(
                                e.code(),
                                Some(
                                    NO_SUCH_ATTRIBUTE
                                        | VALUE_EXISTS
                                        | UNWILLING_TO_PERFORM
                                        | ALREADY_EXISTS
                                )
                            ) =>
                    {
                        let held = self.held(layout, group, key).await?;
                        adding.retain(|m| !held.contains(&dn::canonical(m)));
                        drop_placeholder = placeholder
                            .as_deref()
                            .is_some_and(|p| held.contains(&dn::canonical(p)));
                    }
                    Err(e) if e.code() == Some(NO_SUCH_OBJECT) => {
                        return Err(group_gone("modify", group, key));
                    }
                    Err(e) => return Err(e.into_push("modify", group)),
                }
            }
        }
        Ok(())
    }

    /// Removes the people (one modify per batch); when that would leave the group empty, the
    /// placeholder goes in first, in the same modify.
    pub(super) async fn remove_group_members(
        &self,
        id: &TargetId,
        key: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        let layout = self.group_layout()?;
        let group = id.as_str();
        let attribute = layout.member_attribute();
        let placeholder = layout.placeholder(group);
        for batch in members.chunks(MEMBER_BATCH) {
            let mut removing: HashSet<String> =
                batch.iter().map(|m| m.id.as_str().to_owned()).collect();
            let mut fill = false;
            for attempt in 1..=TRIES {
                if removing.is_empty() {
                    break;
                }
                let mut mods = Vec::new();
                if let Some(placeholder) = placeholder.as_deref().filter(|_| fill) {
                    mods.push(Mod::Add(attribute.to_owned(), values(placeholder)));
                }
                mods.push(Mod::Delete(attribute.to_owned(), removing.clone()));
                match self.modify(group, &mods).await {
                    Ok(()) => break,
                    // The last members: the group needs its placeholder.
                    Err(e)
                        if attempt < TRIES
                            && !fill
                            && placeholder.is_some()
                            && e.code() == Some(OBJECT_CLASS_VIOLATION) =>
                    {
                        fill = true;
                    }
                    Err(e)
                        if attempt < TRIES
                            && matches!(
                                e.code(),
                                Some(NO_SUCH_ATTRIBUTE | VALUE_EXISTS | UNWILLING_TO_PERFORM)
                            ) =>
                    {
                        let held = self.held(layout, group, key).await?;
                        removing.retain(|m| held.contains(&dn::canonical(m)));
                        fill = fill
                            && !placeholder
                                .as_deref()
                                .is_some_and(|p| held.contains(&dn::canonical(p)));
                    }
                    Err(e) if e.code() == Some(NO_SUCH_OBJECT) => {
                        return Err(group_gone("modify", group, key));
                    }
                    Err(e) => return Err(e.into_push("modify", group)),
                }
            }
        }
        Ok(())
    }

    /// The group's member values, canonical.
    async fn held(
        &self,
        layout: &GroupLayout,
        group: &str,
        key: &DepartmentId,
    ) -> Result<HashSet<String>, PushError> {
        let entry = self
            .read_group(layout, group)
            .await?
            .ok_or_else(|| group_gone("read", group, key))?;
        Ok(entry.members.iter().map(|m| dn::canonical(m)).collect())
    }

    pub(super) async fn remove_group(
        &self,
        id: &TargetId,
        key: &DepartmentId,
    ) -> Result<(), PushError> {
        self.group_layout()?;
        debug!(group = %key, "Deleting the group.");
        self.delete(id).await
    }

    /// Points every group's member and owner value naming a person's old DN at the new one.
    /// With a refint overlay covering these attributes the server has done it and the searches
    /// find nothing; without one this is what keeps groups right.
    pub(super) async fn repoint_groups(&self, old: &str, new: &str) -> Result<(), PushError> {
        let Some(layout) = &self.groups else {
            return Ok(());
        };
        let mut repointed = 0;
        for (attribute, filter) in [
            (layout.member_attribute(), layout.member_filter(old)),
            (layout.owner_attribute(), layout.owner_filter(old)),
        ] {
            // A group renamed concurrently is missed under its old DN; the next pass finds it.
            for _ in 0..3 {
                let groups = self
                    .search_groups(layout, &filter, &[NO_ATTRIBUTES.to_owned()])
                    .await?;
                if groups.is_empty() {
                    break;
                }
                for group in groups {
                    if self.swap_value(&group.dn, attribute, old, new).await? {
                        repointed += 1;
                    }
                }
            }
        }
        if repointed > 0 {
            // No DNs: they are made of people's values.
            debug!(
                repointed,
                "Pointed the groups' member and owner values at a person's new DN."
            );
        }
        Ok(())
    }
}
