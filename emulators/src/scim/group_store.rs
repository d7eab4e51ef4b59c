//! The emulator's group table: ids, versions, timestamps, displayName uniqueness, and members
//! that must be users. Held inside the user [`Store`](super::store::Store), under its one lock.

use std::collections::BTreeMap;

use super::error::{ScimError, ScimType};
use super::store::{Index, check_precondition, fold};
use super::wire::IfMatch;
use super::{ScimGroup, clock};

/// A stored group and the server-owned parts of its `meta`.
#[derive(Clone, Debug)]
pub(crate) struct GroupEntry {
    pub(crate) group: ScimGroup,
    pub(crate) created: String,
    pub(crate) last_modified: String,
}

/// What a group filter can look up by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupAttr {
    Id,
    ExternalId,
    DisplayName,
    MemberValue,
}

#[derive(Debug, Default)]
pub(crate) struct Groups {
    entries: BTreeMap<String, GroupEntry>,
    /// How many ids were handed out; never reused.
    issued: u64,
    /// Lower-cased displayName → ids holding it (several only after `insert_unchecked`).
    names: Index,
    /// externalId → ids holding it (not unique).
    external_ids: Index,
}

impl Groups {
    pub(crate) fn get(&self, id: &str) -> Option<&GroupEntry> {
        self.entries.get(id)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &GroupEntry> {
        self.entries.values()
    }

    /// The groups a user is a direct member of, by group id.
    pub(crate) fn of_member<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a ScimGroup> {
        self.entries
            .values()
            .map(|entry| &entry.group)
            .filter(move |group| group.members.contains(user))
    }

    /// The entries that can satisfy `attr eq value`, when an index covers it.
    pub(crate) fn candidates(&self, attr: GroupAttr, value: &str) -> Option<Vec<&GroupEntry>> {
        let index = match attr {
            GroupAttr::Id => return Some(self.entries.get(value).into_iter().collect()),
            GroupAttr::DisplayName => self.names.holders(&fold(value)),
            GroupAttr::ExternalId => self.external_ids.holders(value),
            GroupAttr::MemberValue => return None,
        };
        Some(index.filter_map(|id| self.entries.get(id)).collect())
    }

    pub(crate) fn create(
        &mut self,
        group: ScimGroup,
        is_user: impl Fn(&str) -> bool,
    ) -> Result<&GroupEntry, ScimError> {
        self.check(&group, "", is_user)?;
        let id = self.insert_unchecked(group);
        Ok(&self.entries[&id])
    }

    pub(crate) fn insert_unchecked(&mut self, mut group: ScimGroup) -> String {
        self.issued += 1;
        // Another UUID variant than users', so a user id never names a group.
        group.id = format!("00000000-0000-4000-9000-{:012x}", self.issued);
        group.version = 1;
        let now = clock::now_rfc3339();
        self.index(&group);
        let id = group.id.clone();
        self.entries.insert(
            id.clone(),
            GroupEntry {
                group,
                created: now.clone(),
                last_modified: now,
            },
        );
        id
    }

    /// Applies `edit` to a copy, checks it, stores it; the version moves only on a change.
    pub(crate) fn update(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        is_user: impl Fn(&str) -> bool,
        edit: impl FnOnce(&mut ScimGroup) -> Result<(), ScimError>,
    ) -> Result<&GroupEntry, ScimError> {
        let old = &self
            .entries
            .get(id)
            .ok_or_else(|| group_not_found(id))?
            .group;
        check_precondition(if_match, old.version)?;
        let mut new = old.clone();
        edit(&mut new)?;
        new.id.clone_from(&old.id);
        new.version = old.version;
        if new == *old {
            return Ok(&self.entries[id]);
        }
        self.check(&new, id, is_user)?;
        new.version += 1;
        self.store(new);
        Ok(&self.entries[id])
    }

    pub(crate) fn delete(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<(), ScimError> {
        let entry = self.entries.get(id).ok_or_else(|| group_not_found(id))?;
        check_precondition(if_match, entry.group.version)?;
        if let Some(entry) = self.entries.remove(id) {
            self.unindex(&entry.group);
        }
        Ok(())
    }

    /// A deleted user leaves every group and stops heading any (RFC 7643 §4.2: members are
    /// resources that exist).
    pub(crate) fn forget_user(&mut self, user: &str) {
        let touched: Vec<ScimGroup> = self
            .entries
            .values()
            .filter(|e| {
                e.group.members.contains(user)
                    || e.group.head.as_ref().is_some_and(|h| h.value == user)
            })
            .map(|e| e.group.clone())
            .collect();
        for mut group in touched {
            group.members.remove(user);
            if group.head.as_ref().is_some_and(|h| h.value == user) {
                group.head = None;
            }
            group.version += 1;
            self.store(group);
        }
    }

    fn store(&mut self, group: ScimGroup) {
        let Some(old) = self.entries.get(&group.id).map(|e| e.group.clone()) else {
            return;
        };
        self.unindex(&old);
        self.index(&group);
        if let Some(entry) = self.entries.get_mut(&group.id) {
            entry.group = group;
            entry.last_modified = clock::now_rfc3339();
        }
    }

    /// 400 for a member or head naming no user, 409 `uniqueness` for a displayName another
    /// group (not `own_id`) holds.
    fn check(
        &self,
        group: &ScimGroup,
        own_id: &str,
        is_user: impl Fn(&str) -> bool,
    ) -> Result<(), ScimError> {
        if group.display_name.trim().is_empty() {
            return Err(ScimError::invalid_value(
                "displayName is required and must not be empty",
            ));
        }
        if let Some(missing) = group.members.iter().find(|m| !is_user(m)) {
            return Err(ScimError::invalid_value(format!(
                "member {missing:?} is not a User of this service provider"
            )));
        }
        if let Some(head) = group.head.as_ref().filter(|h| !is_user(&h.value)) {
            return Err(ScimError::invalid_value(format!(
                "head {:?} is not a User of this service provider",
                head.value
            )));
        }
        if self.names.held_by_other(&fold(&group.display_name), own_id) {
            return Err(ScimError::conflict(
                ScimType::Uniqueness,
                format!("displayName {:?} is already in use", group.display_name),
            ));
        }
        Ok(())
    }

    fn index(&mut self, group: &ScimGroup) {
        self.names.add(fold(&group.display_name), &group.id);
        if let Some(external_id) = &group.external_id {
            self.external_ids.add(external_id.clone(), &group.id);
        }
    }

    fn unindex(&mut self, group: &ScimGroup) {
        self.names.remove(&fold(&group.display_name), &group.id);
        if let Some(external_id) = &group.external_id {
            self.external_ids.remove(external_id, &group.id);
        }
    }
}

pub(crate) fn group_not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("Group {id:?} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::GroupHead;

    #[test]
    fn names_are_unique_caselessly_and_members_must_be_users() {
        let mut groups = Groups::default();
        let is_user = |id: &str| id.starts_with('u');
        let sales = groups
            .create(ScimGroup::new("Sales"), is_user)
            .unwrap()
            .group
            .id
            .clone();
        let clash = groups.create(ScimGroup::new("SALES"), is_user).unwrap_err();
        assert_eq!(clash.scim_type, Some(ScimType::Uniqueness));
        let stranger = groups
            .update(&sales, None, is_user, |g| {
                g.members.insert("x1".into());
                Ok(())
            })
            .unwrap_err();
        assert_eq!(stranger.status, axum::http::StatusCode::BAD_REQUEST);
        groups
            .update(&sales, None, is_user, |g| {
                g.members.extend(["u1".to_owned(), "u2".to_owned()]);
                g.head = Some(GroupHead {
                    value: "u1".into(),
                    external_id: None,
                });
                Ok(())
            })
            .unwrap();
        groups.forget_user("u1");
        let group = &groups.get(&sales).unwrap().group;
        assert_eq!(group.members.iter().collect::<Vec<_>>(), ["u2"]);
        assert_eq!(group.head, None);
        assert_eq!(group.version, 3);
        assert!(
            groups
                .candidates(GroupAttr::DisplayName, "sAlEs")
                .unwrap()
                .len()
                == 1
        );
    }
}
