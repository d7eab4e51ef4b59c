//! The emulator's user table: ids, versions, timestamps, uniqueness and the manager guard.
//!
//! Every write is checked and applied under one lock by the caller, so a refused write leaves no trace.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::error::{ScimError, ScimType};
use super::group_store::{GroupEntry, Groups};
use super::schema::Attr;
use super::wire::IfMatch;
use super::{ManagerGuard, ScimGroup, ScimUser, clock};
use axum::http::StatusCode;

/// A stored user and the server-owned parts of its `meta`.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) user: ScimUser,
    pub(crate) created: String,
    pub(crate) last_modified: String,
}

/// The checks a write through the SCIM API must pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(crate) unique_emails: bool,
    pub(crate) guard: ManagerGuard,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    entries: BTreeMap<String, Entry>,
    /// How many ids were handed out; ids are never reused, even after a delete.
    issued: u64,
    /// Lower-cased userName → ids holding it (several only after `insert_unchecked`).
    user_names: Index,
    /// Lower-cased email → ids holding it.
    emails: Index,
    /// Manager id → ids of the users naming it.
    reports: Index,
    /// externalId → ids holding it (not unique, like scim2-server).
    external_ids: Index,
    /// The groups, whose members and heads name users of this store.
    pub(crate) groups: Groups,
}

impl Store {
    pub(crate) fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// All entries, ordered by id (which is creation order).
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entries that can satisfy `attr eq value`, by id, when an index covers `attr`: a superset
    /// of the matches under the filter's comparison rules, which the caller still applies.
    pub(crate) fn candidates(&self, attr: Attr, value: &str) -> Option<Vec<&Entry>> {
        let index = match attr {
            Attr::Id => return Some(self.entries.get(value).into_iter().collect()),
            Attr::UserName => self.user_names.holders(&fold(value)),
            Attr::Emails => self.emails.holders(&fold(value)),
            Attr::ExternalId => self.external_ids.holders(value),
            Attr::Manager | Attr::ManagerValue => self.reports.holders(value),
            _ => return None,
        };
        Some(index.filter_map(|id| self.entries.get(id)).collect())
    }

    /// Creates a user through the API: uniqueness is enforced.
    pub(crate) fn create(&mut self, user: ScimUser, rules: Rules) -> Result<&Entry, ScimError> {
        self.check_unique(&user, "", rules)?;
        let id = self.insert_unchecked(user);
        Ok(&self.entries[&id])
    }

    /// Creates a user behind the API's back (test set-up): no uniqueness check, so tests can build
    /// states the API would refuse.
    pub(crate) fn insert_unchecked(&mut self, mut user: ScimUser) -> String {
        self.issued += 1;
        // UUID-shaped and zero-padded: opaque to clients, yet ordered by creation when sorted.
        user.id = format!("00000000-0000-4000-8000-{:012x}", self.issued);
        user.version = 1;
        let now = clock::now_rfc3339();
        self.index(&user);
        let id = user.id.clone();
        self.entries.insert(
            id.clone(),
            Entry {
                user,
                created: now.clone(),
                last_modified: now,
            },
        );
        id
    }

    /// Applies `edit` to a copy of the user, checks the result, and stores it. The version moves only
    /// when something changed, so a no-op write is visible as such.
    pub(crate) fn update(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        rules: Rules,
        edit: impl FnOnce(&mut ScimUser) -> Result<(), ScimError>,
    ) -> Result<&Entry, ScimError> {
        let old = &self
            .entries
            .get(id)
            .ok_or_else(|| ScimError::user_not_found(id))?
            .user;
        check_precondition(if_match, old.version)?;
        let mut new = old.clone();
        edit(&mut new)?;
        // Identity and version are the server's; an edit cannot move them.
        new.id.clone_from(&old.id);
        new.version = old.version;
        if new == *old {
            return Ok(&self.entries[id]);
        }
        self.check_unique(&new, id, rules)?;
        if old.active && !new.active {
            self.check_unreferenced(id, rules, "deactivate")?;
        }
        new.version += 1;
        let old = old.clone();
        self.unindex(&old);
        self.index(&new);
        let entry = self
            .entries
            .get_mut(id)
            .ok_or_else(|| ScimError::user_not_found(id))?;
        entry.user = new;
        entry.last_modified = clock::now_rfc3339();
        Ok(entry)
    }

    pub(crate) fn delete(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        rules: Rules,
    ) -> Result<(), ScimError> {
        let version = self
            .entries
            .get(id)
            .ok_or_else(|| ScimError::user_not_found(id))?
            .user
            .version;
        check_precondition(if_match, version)?;
        self.check_unreferenced(id, rules, "delete")?;
        if let Some(entry) = self.entries.remove(id) {
            self.unindex(&entry.user);
        }
        self.groups.forget_user(id);
        Ok(())
    }

    /// Creates a group through the API: members and head must be users, the name unique.
    pub(crate) fn create_group(&mut self, group: ScimGroup) -> Result<&GroupEntry, ScimError> {
        let users = &self.entries;
        self.groups.create(group, |id| users.contains_key(id))
    }

    /// Applies `edit` to a copy of the group and stores it if it passes the same checks.
    pub(crate) fn update_group(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        edit: impl FnOnce(&mut ScimGroup) -> Result<(), ScimError>,
    ) -> Result<&GroupEntry, ScimError> {
        let users = &self.entries;
        self.groups
            .update(id, if_match, |user| users.contains_key(user), edit)
    }

    /// A member's or head's display name, for rendering.
    pub(crate) fn user_display_name(&self, id: &str) -> Option<&str> {
        self.entries.get(id)?.user.display_name.as_deref()
    }

    /// `(user id, manager id)` for every manager link naming no stored user, ordered by user id.
    pub(crate) fn dangling_managers(&self) -> Vec<(String, String)> {
        self.entries
            .values()
            .filter_map(|entry| {
                let manager = entry.user.manager_id.as_ref()?;
                (!self.entries.contains_key(manager))
                    .then(|| (entry.user.id.clone(), manager.clone()))
            })
            .collect()
    }

    /// 409 `uniqueness` when another user (not `own_id`) holds the userName or, if configured, an email.
    fn check_unique(&self, user: &ScimUser, own_id: &str, rules: Rules) -> Result<(), ScimError> {
        if self
            .user_names
            .held_by_other(&fold(&user.user_name), own_id)
        {
            return Err(ScimError::conflict(
                ScimType::Uniqueness,
                format!("userName {:?} is already in use", user.user_name),
            ));
        }
        if rules.unique_emails
            && let Some(email) = user
                .emails
                .iter()
                .find(|email| self.emails.held_by_other(&fold(email), own_id))
        {
            return Err(ScimError::conflict(
                ScimType::Uniqueness,
                format!("email {email:?} is already in use by another user"),
            ));
        }
        Ok(())
    }

    /// Under [`ManagerGuard::Strict`], 409 while another user names `id` as their manager.
    fn check_unreferenced(&self, id: &str, rules: Rules, action: &str) -> Result<(), ScimError> {
        if rules.guard == ManagerGuard::Off {
            return Ok(());
        }
        let reports: Vec<&str> = self.reports.holders_other_than(id, id).collect();
        if reports.is_empty() {
            return Ok(());
        }
        Err(ScimError {
            scim_type: Some(ScimType::Mutability),
            ..ScimError::new(
                StatusCode::CONFLICT,
                format!(
                    "cannot {action} user {id:?}: it is the manager of {} user(s) ({}); \
                     clear or move those manager links first",
                    reports.len(),
                    reports.join(", ")
                ),
            )
        })
    }

    fn index(&mut self, user: &ScimUser) {
        self.user_names.add(fold(&user.user_name), &user.id);
        for email in &user.emails {
            self.emails.add(fold(email), &user.id);
        }
        if let Some(manager) = &user.manager_id {
            self.reports.add(manager.clone(), &user.id);
        }
        if let Some(external_id) = &user.external_id {
            self.external_ids.add(external_id.clone(), &user.id);
        }
    }

    fn unindex(&mut self, user: &ScimUser) {
        self.user_names.remove(&fold(&user.user_name), &user.id);
        for email in &user.emails {
            self.emails.remove(&fold(email), &user.id);
        }
        if let Some(manager) = &user.manager_id {
            self.reports.remove(manager, &user.id);
        }
        if let Some(external_id) = &user.external_id {
            self.external_ids.remove(external_id, &user.id);
        }
    }
}

/// 412 when the client's `If-Match` names another version (RFC 7644 §3.14).
pub(crate) fn check_precondition(
    if_match: Option<&IfMatch>,
    version: u64,
) -> Result<(), ScimError> {
    match if_match {
        Some(tags) if !tags.matches(version) => Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("If-Match does not match the current version W/\"{version}\""),
        )),
        _ => Ok(()),
    }
}

/// Case folding for caseless attributes (userName, emails), char by char so that the filter's
/// allocation-free comparison folds exactly the same way (`str::to_lowercase` treats a final
/// sigma differently).
pub(crate) fn fold(value: &str) -> String {
    value.chars().flat_map(char::to_lowercase).collect()
}

/// A multimap from a key to the ids holding it.
#[derive(Debug, Default)]
pub(crate) struct Index(HashMap<String, BTreeSet<String>>);

impl Index {
    pub(crate) fn add(&mut self, key: String, id: &str) {
        self.0.entry(key).or_default().insert(id.to_owned());
    }

    pub(crate) fn remove(&mut self, key: &str, id: &str) {
        if let Some(ids) = self.0.get_mut(key) {
            ids.remove(id);
            if ids.is_empty() {
                self.0.remove(key);
            }
        }
    }

    /// The ids holding `key`, in id order.
    pub(crate) fn holders<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        self.0.get(key).into_iter().flatten().map(String::as_str)
    }

    fn holders_other_than<'a>(&'a self, key: &str, id: &'a str) -> impl Iterator<Item = &'a str> {
        self.holders(key).filter(move |holder| *holder != id)
    }

    pub(crate) fn held_by_other(&self, key: &str, id: &str) -> bool {
        self.holders_other_than(key, id).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::Filter;

    const RULES: Rules = Rules {
        unique_emails: true,
        guard: ManagerGuard::Off,
    };

    fn user(name: &str, external_id: &str, email: &str, manager: Option<&str>) -> ScimUser {
        ScimUser {
            external_id: Some(external_id.into()),
            emails: vec![email.into()],
            manager_id: manager.map(str::to_owned),
            ..ScimUser::new(name)
        }
    }

    /// The ids a filter selects through the index, and by scanning every user.
    fn both_ways(store: &Store, filter: &str) -> (Vec<String>, Vec<String>) {
        let filter = Filter::parse(filter).unwrap();
        let (attr, value) = filter.required_equality().unwrap();
        let select = |entries: Vec<&Entry>| -> Vec<String> {
            entries
                .into_iter()
                .filter(|entry| filter.matches(&entry.user))
                .map(|entry| entry.user.id.clone())
                .collect()
        };
        (
            select(store.candidates(attr, value).unwrap()),
            select(store.entries().collect()),
        )
    }

    #[test]
    fn indexes_follow_updates_and_deletes() {
        let mut store = Store::default();
        let boss = store.insert_unchecked(user("ΟΔΟΣ", "e0", "Boss@x.com", None));
        let ann = store
            .create(user("ann", "e1", "ann@x.com", Some(&boss)), RULES)
            .unwrap()
            .user
            .id
            .clone();
        store
            .update(&ann, None, RULES, |u| {
                u.external_id = Some("e2".into());
                u.emails = vec!["ANN2@x.com".into()];
                Ok(())
            })
            .unwrap();
        let bob = store.insert_unchecked(user("bob", "e2", "bob@x.com", Some(&boss)));
        store.delete(&bob, None, RULES).unwrap();

        for (filter, expected) in [
            (r#"externalId eq "e1""#.to_owned(), vec![]),
            (r#"externalId eq "e2""#.to_owned(), vec![ann.clone()]),
            (r#"emails eq "ann2@X.com""#.to_owned(), vec![ann.clone()]),
            (r#"emails eq "ann@x.com""#.to_owned(), vec![]),
            (r#"userName eq "οδοσ""#.to_owned(), vec![boss.clone()]),
            (format!(r#"id eq "{boss}""#), vec![boss.clone()]),
            (
                format!(
                    r#"{}:manager.value eq "{boss}" and active eq true"#,
                    super::super::schema::ENTERPRISE_SCHEMA
                ),
                vec![ann.clone()],
            ),
        ] {
            let (indexed, scanned) = both_ways(&store, &filter);
            assert_eq!(indexed, scanned, "{filter}");
            assert_eq!(indexed, expected, "{filter}");
        }
    }

    #[test]
    fn refused_writes_leave_no_trace() {
        let mut store = Store::default();
        let ann = store
            .create(user("ann", "e1", "a@x.com", None), RULES)
            .unwrap()
            .user
            .id
            .clone();
        store
            .create(user("bob", "e2", "b@x.com", None), RULES)
            .unwrap();
        let before = store.get(&ann).unwrap().user.clone();
        let clash = store.update(&ann, None, RULES, |u| {
            u.external_id = Some("e9".into());
            u.emails = vec!["B@x.com".into()];
            Ok(())
        });
        assert_eq!(clash.unwrap_err().status, StatusCode::CONFLICT);
        assert_eq!(store.get(&ann).unwrap().user, before);
        assert!(store.candidates(Attr::ExternalId, "e9").unwrap().is_empty());
        let stale = store.update(&ann, Some(&IfMatch::new("W/\"2\"")), RULES, |_| Ok(()));
        assert_eq!(stale.unwrap_err().status, StatusCode::PRECONDITION_FAILED);
    }
}
