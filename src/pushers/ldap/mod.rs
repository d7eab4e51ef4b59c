//! The LDAP pusher: people as `inetOrgPerson` entries under a base DN, the direct manager as the
//! `manager` attribute holding the manager's DN. Target ids are DNs; renames (modrdn) and moves
//! to a disabled OU change them, and the pusher reports the new DN. Departments are groups under
//! `groups_base` (groups.rs).

pub mod ad;
mod ad_ops;
mod attributes;
mod config;
mod connection;
mod convert;
mod dn;
mod groups;

pub use ad::sam::{MAX_CHARS as SAM_MAX_CHARS, account_name as sam_account_name};
pub use attributes::{Holds, default_attributes};
pub use config::{Deactivation, GroupClass, LdapTargetConfig};

use super::{GroupWrite, PersonRef, PushError, Pusher, TargetAccount, TargetKind};
use crate::config::Secret;
use crate::model::{Attributes, Checked, DepartmentId, Field, FieldChange, TargetId, UserKey};
use connection::{Connection, OpError};
use convert::{Entry, GroupLayout, Layout};
use ldap3::{Mod, Scope};
use std::collections::{BTreeMap, HashSet};
use tracing::{debug, instrument, warn};

/// Asks a search for no attributes, only DNs (RFC 4511 §4.5.1.8).
const NO_ATTRIBUTES: &str = "1.1";

pub struct LdapPusher {
    conn: Connection,
    layout: Layout,
    /// None without `groups_base`: group steps then fail with a message saying to set it.
    groups: Option<GroupLayout>,
    page_size: i32,
}

impl LdapPusher {
    pub fn new(config: LdapTargetConfig, password: Secret) -> Result<Self, PushError> {
        let config = config.effective().into_owned();
        config
            .validate()
            .map_err(|detail| PushError::Setup { detail })?;
        let tls = config.url.scheme() == "ldaps" || config.starttls;
        if tls && !config.tls_verify {
            warn!(url = %config.url, "TLS certificate verification is off for this LDAP target (tls_verify = false): anyone on the network path can pose as the server and read the bind password.");
        }
        if !tls && !crate::config::transport::is_loopback(&config.url) {
            warn!(url = %config.url, "The LDAP bind password travels unencrypted: use ldaps:// or starttls = true.");
        }
        Ok(LdapPusher {
            conn: Connection::new(&config, password)?,
            layout: Layout::new(&config).map_err(|e| PushError::Setup {
                detail: e.to_string(),
            })?,
            groups: GroupLayout::new(&config),
            page_size: i32::try_from(config.page_size).unwrap_or(i32::MAX),
        })
    }

    async fn search_dns(&self, filter: &str) -> Result<Vec<String>, PushError> {
        let mut dns = Vec::new();
        for base in self.layout.containers() {
            let entries = self
                .conn
                .search(
                    &base,
                    Scope::Subtree,
                    filter,
                    &[NO_ATTRIBUTES.to_owned()],
                    self.page_size,
                )
                .await
                .map_err(|e| missing_container(e, "search", &base))?;
            dns.extend(entries.into_iter().map(|e| e.dn));
        }
        Ok(dns)
    }

    async fn find_by_key(&self, key: &UserKey) -> Result<Option<String>, PushError> {
        let mut dns = self.search_dns(&self.layout.key_filter(key)).await?;
        dns.sort();
        if dns.len() > 1 {
            // The lowest DN is chosen so reruns agree; the others are left for an admin.
            // The DNs are left out: they are made of people's values (a name, an address).
            warn!(user = %key, entries = dns.len(), "Several entries carry this key; using the first.");
        }
        Ok(dns.into_iter().next())
    }

    async fn exists(&self, dn: &str) -> Result<bool, PushError> {
        match self
            .conn
            .search(
                dn,
                Scope::Base,
                "(objectClass=*)",
                &[NO_ATTRIBUTES.to_owned()],
                self.page_size,
            )
            .await
        {
            Ok(entries) => Ok(!entries.is_empty()),
            Err(e) if e.code() == Some(32) => Ok(false),
            Err(e) => Err(e.into_push("read", dn)),
        }
    }

    async fn add(&self, dn: &str, entry: &Entry) -> Result<(), OpError> {
        self.conn
            .run("add", |mut ldap| {
                let entry = entry.clone();
                async move { ldap.add(dn, entry).await?.success().map(drop) }
            })
            .await
    }

    async fn modify(&self, dn: &str, mods: &[Mod<String>]) -> Result<(), OpError> {
        self.conn
            .run("modify", |mut ldap| {
                let mods = mods.to_vec();
                async move { ldap.modify(dn, mods).await?.success().map(drop) }
            })
            .await
    }

    async fn modify_dn(&self, dn: &str, rdn: &str, superior: Option<&str>) -> Result<(), OpError> {
        self.conn
            .run("modrdn", |mut ldap| async move {
                ldap.modifydn(dn, rdn, true, superior)
                    .await?
                    .success()
                    .map(drop)
            })
            .await
    }

    /// Adds `dn`; a missing department OU is created on the way.
    async fn add_in_place(&self, dn: &str, entry: &Entry) -> Result<(), OpError> {
        match self.add(dn, entry).await {
            Err(e) if e.code() == Some(32) => {
                let parent = dn::parent(dn).1;
                if !self.is_department_ou(parent) {
                    return Err(OpError::Failed(missing_container(e, "add", parent)));
                }
                self.ensure_ou(parent).await.map_err(OpError::Failed)?;
                self.add(dn, entry).await
            }
            other => other,
        }
    }

    fn is_department_ou(&self, dn: &str) -> bool {
        self.layout.department_ous
            && dn::within(dn, &self.layout.base_dn)
            && !dn::same(dn, &self.layout.base_dn)
    }

    async fn ensure_ou(&self, dn: &str) -> Result<(), PushError> {
        let name = dn::rdn_value(dn).unwrap_or_default();
        let entry: Entry = vec![
            (
                "objectClass".into(),
                HashSet::from(["top".into(), "organizationalUnit".into()]),
            ),
            ("ou".into(), HashSet::from([name])),
        ];
        match self.add(dn, &entry).await {
            Ok(()) => {
                debug!(dn, "Created the department's OU.");
                Ok(())
            }
            // Another worker created it a moment ago.
            Err(e) if e.code() == Some(68) => Ok(()),
            Err(e) => Err(missing_container(e, "add", dn)),
        }
    }

    /// Renames and/or moves `from` to `to`, then points every `manager` that named `from` at
    /// `to`. Repeating a move that already happened (the snapshot missed it) is a success.
    /// In Active Directory a `cn` a namesake holds in the target OU is made distinct (see
    /// [`LdapPusher::ad_distinct_move`]). Returns where the entry is now.
    async fn move_entry(&self, from: &str, to: &str) -> Result<String, PushError> {
        match self.move_exact(from, to).await {
            Err(PushError::Conflict { .. }) if self.layout.ad.is_some() => {
                self.ad_distinct_move(from, to).await
            }
            other => other.map(|()| to.to_owned()),
        }
    }

    async fn move_exact(&self, from: &str, to: &str) -> Result<(), PushError> {
        let (new_rdn, new_parent) = dn::parent(to);
        let superior = (!dn::same(dn::parent(from).1, new_parent)).then_some(new_parent);
        match self.modify_dn(from, new_rdn, superior).await {
            Ok(()) => debug!(from, to, "Moved the entry."),
            Err(e) if e.code() == Some(32) => {
                if !self.exists(from).await? {
                    if !self.exists(to).await? {
                        return Err(e.into_push("modrdn", from));
                    }
                    debug!(from, to, "The entry had been moved already.");
                } else if let Some(superior) = superior.filter(|s| self.is_department_ou(s)) {
                    self.ensure_ou(superior).await?;
                    self.modify_dn(from, new_rdn, Some(superior))
                        .await
                        .map_err(|e| e.into_push("modrdn", from))?;
                } else {
                    return Err(missing_container(e, "modrdn", new_parent));
                }
            }
            Err(e) if e.code() == Some(68) => {
                return Err(PushError::Conflict {
                    detail: format!(
                        "cannot move {from} to {to}: another entry already has that name"
                    ),
                });
            }
            Err(e) => return Err(e.into_push("modrdn", from)),
        }
        self.repoint_reports(from, to).await?;
        self.repoint_groups(from, to).await
    }

    /// Rewrites `manager: <old>` to `manager: <new>` wherever it remains. With slapd's refint
    /// overlay the server has done it already and the search finds nothing; without it this is
    /// what keeps reports pointing at their manager. Done always, so both kinds of server work.
    async fn repoint_reports(&self, old: &str, new: &str) -> Result<(), PushError> {
        let filter = self.layout.manager_filter(old);
        let set = [self.layout.manager_mod(Some(new))];
        let mut repointed = 0;
        // A report renamed concurrently is missed under its old DN (32); the next pass finds it
        // under the new one.
        for _ in 0..3 {
            let reports = self.search_dns(&filter).await?;
            if reports.is_empty() {
                break;
            }
            for report in reports {
                match self.modify(&report, &set).await {
                    Ok(()) => repointed += 1,
                    Err(e) if e.code() == Some(32) => {}
                    Err(e) => return Err(e.into_push("modify", &report)),
                }
            }
        }
        if repointed > 0 {
            debug!(
                old,
                new, repointed, "Pointed the reports' manager at the new DN."
            );
        }
        Ok(())
    }

    /// Takes over an existing entry: moved to where the person belongs, every mapped attribute
    /// set, the manager cleared (links come later), the deactivation marker matching `active`.
    async fn reconcile(
        &self,
        current: &str,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        let desired = self.layout.dn(key, attributes, active);
        let dn = if dn::same(current, &desired) || self.ad_keeps_name(current, &desired) {
            current.to_owned()
        } else {
            self.move_entry(current, &desired).await?
        };
        self.modify(&dn, &self.layout.replace_all(key, attributes))
            .await
            .map_err(|e| e.into_push("modify", &dn))?;
        self.mark(&dn, active).await?;
        Ok(TargetId::new(dn))
    }

    /// Adds or removes the deactivation value (attribute mode only). Other values of the
    /// attribute are left alone; a value already there (20) or already gone (16) is success.
    async fn mark(&self, dn: &str, active: bool) -> Result<(), PushError> {
        if self.layout.ad.is_some() {
            return self.ad_mark(dn, active).await;
        }
        let Deactivation::Attribute { attribute, value } = &self.layout.deactivation else {
            return Ok(());
        };
        let values = HashSet::from([value.clone()]);
        let (change, done) = if active {
            (Mod::Delete(attribute.clone(), values), 16)
        } else {
            (Mod::Add(attribute.clone(), values), 20)
        };
        match self.modify(dn, &[change]).await {
            Err(e) if e.code() != Some(done) => Err(e.into_push("modify", dn)),
            _ => Ok(()),
        }
    }

    /// The department recorded on the entry, to find a reactivated person's OU.
    async fn department_of(&self, dn: &str) -> Result<Option<String>, PushError> {
        let Some(attribute) = self.layout.department_attribute() else {
            return Ok(None);
        };
        Ok(self.read_first(dn, &[attribute]).await?.pop().flatten())
    }

    /// The first value of each of `attributes` on the entry `dn` (names without case).
    async fn read_first(
        &self,
        dn: &str,
        attributes: &[&str],
    ) -> Result<Vec<Option<String>>, PushError> {
        let wanted: Vec<String> = attributes.iter().map(|a| (*a).to_owned()).collect();
        let entries = self
            .conn
            .search(dn, Scope::Base, "(objectClass=*)", &wanted, self.page_size)
            .await
            .map_err(|e| e.into_push("read", dn))?;
        let entry = entries.into_iter().next();
        Ok(attributes
            .iter()
            .map(|attribute| {
                entry.as_ref().and_then(|entry| {
                    entry
                        .attrs
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                        .and_then(|(_, values)| values.first().cloned())
                })
            })
            .collect())
    }

    /// Where an entry with `dn`'s RDN now lives under the base, if exactly one does: a
    /// reactivation repeated after the snapshot missed it finds the entry already back.
    async fn relocated(&self, dn: &str) -> Result<Option<String>, PushError> {
        let Some(value) = dn::rdn_value(dn) else {
            return Ok(None);
        };
        let filter = format!(
            "({}={})",
            self.layout.rdn_attribute,
            ldap3::ldap_escape(value.as_str())
        );
        let entries = self
            .conn
            .search(
                &self.layout.base_dn,
                Scope::Subtree,
                &filter,
                &[NO_ATTRIBUTES.to_owned()],
                self.page_size,
            )
            .await
            .map_err(|e| missing_container(e, "search", &self.layout.base_dn))?;
        Ok(match entries.as_slice() {
            [one] => Some(one.dn.clone()),
            _ => None,
        })
    }
}

/// A missing container (32 on the base, the disabled OU or a parent) gets a message that says
/// what to fix; other errors name the operation and the entry.
fn missing_container(error: OpError, operation: &str, container: &str) -> PushError {
    if error.code() == Some(32) {
        PushError::Directory {
            code: 32,
            detail: format!(
                "{operation}: the container {container} does not exist in the directory; create \
                 it or correct base_dn / deactivation.ou"
            ),
        }
    } else {
        error.into_push(operation, container)
    }
}

impl Pusher for LdapPusher {
    fn kind(&self) -> TargetKind {
        TargetKind::Ldap
    }

    /// Binds, and checks the base (and the disabled OU, and the groups base) exist, before a
    /// run writes.
    #[instrument(level = "debug", skip(self), fields(target = "ldap"))]
    async fn check(&self) -> Result<Checked, PushError> {
        let mut containers = vec![self.layout.base_dn.clone()];
        containers.extend(self.layout.disabled_ou().map(str::to_owned));
        containers.extend(self.groups.as_ref().map(|g| g.base.clone()));
        for container in containers {
            if !self.exists(&container).await? {
                return Err(PushError::Directory {
                    code: 32,
                    detail: format!(
                        "the container {container} does not exist in the directory; create it \
                         or correct base_dn / deactivation.ou / groups_base"
                    ),
                });
            }
        }
        Ok(Checked::Verified(format!(
            "bound, {} exists",
            self.layout.base_dn
        )))
    }

    #[instrument(level = "debug", skip(self, attributes), fields(target = "ldap"))]
    async fn create(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        if let Some(existing) = self.find_by_key(key).await? {
            debug!(user = %key, dn = %existing, "The entry already exists; taking it over.");
            return self.reconcile(&existing, key, attributes, active).await;
        }
        if self.layout.ad.is_some() {
            return self.ad_create(key, attributes, active).await;
        }
        let dn = self.layout.dn(key, attributes, active);
        match self
            .add_in_place(&dn, &self.layout.entry(key, attributes, active))
            .await
        {
            Ok(()) => Ok(TargetId::new(dn)),
            // An entry already has this DN (created by hand, or by a create whose answer was
            // lost): it is this person's, so it is brought to the desired state.
            Err(e) if e.code() == Some(68) => {
                debug!(user = %key, %dn, "An entry with this DN exists; taking it over.");
                self.reconcile(&dn, key, attributes, active).await
            }
            Err(e) => Err(e.into_push("add", &dn)),
        }
    }

    #[instrument(level = "debug", skip(self, changes), fields(target = "ldap"))]
    async fn update(
        &self,
        id: &TargetId,
        changes: &[FieldChange],
    ) -> Result<Option<TargetId>, PushError> {
        let current = id.as_str();
        let (rdn, parent) = dn::parent(current);
        let new_rdn = match self
            .layout
            .rdn_field()
            .and_then(|field| changes.iter().find(|c| c.field == field))
        {
            Some(FieldChange {
                after: Some(value), ..
            }) => dn::rdn(&self.layout.rdn_attribute, value),
            Some(FieldChange { field, .. }) => {
                return Err(PushError::Setup {
                    detail: format!("{current}: {field} names the entry and cannot be cleared"),
                });
            }
            None => rdn.to_owned(),
        };
        // A deactivated person stays in the disabled OU whatever their department becomes.
        let new_parent = match changes.iter().find(|c| c.field == Field::Department) {
            Some(change) if self.layout.department_ous && !self.layout.in_disabled_ou(parent) => {
                self.layout.home(change.after.as_deref())
            }
            _ => parent.to_owned(),
        };
        let target = dn::child(&new_rdn, &new_parent);
        let moved = if dn::same(current, &target) {
            None
        } else {
            Some(self.move_entry(current, &target).await?)
        };
        let dn = moved.as_deref().unwrap_or(current);
        let mods = self.layout.changes(changes);
        if !mods.is_empty() {
            self.modify(dn, &mods)
                .await
                .map_err(|e| e.into_push("modify", dn))?;
        }
        Ok(moved.map(TargetId::new))
    }

    #[instrument(level = "debug", skip(self), fields(target = "ldap"))]
    async fn set_manager(
        &self,
        id: &TargetId,
        manager: Option<&TargetId>,
    ) -> Result<(), PushError> {
        let change = self.layout.manager_mod(manager.map(TargetId::as_str));
        self.modify(id.as_str(), &[change])
            .await
            .map_err(|e| e.into_push("modify", id.as_str()))
    }

    #[instrument(level = "debug", skip(self), fields(target = "ldap"))]
    async fn set_active(&self, id: &TargetId, active: bool) -> Result<Option<TargetId>, PushError> {
        let Some(disabled) = self.layout.disabled_ou() else {
            self.mark(id.as_str(), active).await?;
            return Ok(None);
        };
        if self.layout.ad.is_some() && !active {
            // Disabled before it moves: a leaver never logs on from the disabled OU either.
            self.mark(id.as_str(), active).await?;
        }
        let current = id.as_str();
        let (rdn, parent) = dn::parent(current);
        let in_disabled = self.layout.in_disabled_ou(parent);
        if in_disabled != active {
            if self.layout.ad.is_some() && active {
                self.mark(current, active).await?;
            }
            return Ok(None); // already where it belongs
        }
        let target_parent = if active {
            if self.layout.department_ous && !self.exists(current).await? {
                // Moved back already by a run whose answer the snapshot missed.
                return match self.relocated(current).await? {
                    Some(found) => Ok(Some(TargetId::new(found))),
                    None => Err(PushError::Directory {
                        code: 32,
                        detail: format!("reactivate {current}: the entry does not exist"),
                    }),
                };
            }
            let department = if self.layout.department_ous {
                self.department_of(current).await?
            } else {
                None
            };
            self.layout.home(department.as_deref())
        } else {
            disabled.to_owned()
        };
        let target = dn::child(rdn, &target_parent);
        let moved = self.move_entry(current, &target).await?;
        if self.layout.ad.is_some() && active {
            self.mark(&moved, active).await?;
        }
        Ok(Some(TargetId::new(moved)))
    }

    /// Writes the key into `key_attribute` of an entry adopted by `match_by`. Such an entry has
    /// no key value yet (else it would be linked already), so this never touches its RDN: the
    /// entry keeps its DN, and later renames follow `rdn_attribute` as for any other entry.
    #[instrument(level = "debug", skip(self), fields(target = "ldap"))]
    async fn link(&self, id: &TargetId, key: &UserKey) -> Result<(), PushError> {
        let set = Mod::Replace(
            self.layout.key_attribute.clone(),
            HashSet::from([key.as_str().to_owned()]),
        );
        self.modify(id.as_str(), &[set])
            .await
            .map_err(|e| e.into_push("modify", id.as_str()))
    }

    #[instrument(level = "debug", skip(self), fields(target = "ldap"))]
    async fn delete(&self, id: &TargetId) -> Result<(), PushError> {
        let dn = id.as_str();
        let result = self
            .conn
            .run("delete", |mut ldap| async move {
                ldap.delete(dn).await?.success().map(drop)
            })
            .await;
        match result {
            Err(e) if e.code() == Some(32) => {
                debug!(dn, "The entry was gone already.");
                Ok(())
            }
            other => other.map_err(|e| e.into_push("delete", dn)),
        }
    }

    /// Every entry of the structural class under the base (and the disabled OU), paged.
    #[instrument(level = "debug", skip(self), fields(target = "ldap"))]
    async fn list(&self) -> Result<Vec<TargetAccount>, PushError> {
        let attributes = self.layout.read_attributes();
        let filter = self.layout.list_filter();
        let mut accounts = BTreeMap::new();
        for base in self.layout.containers() {
            let entries = self
                .conn
                .search(&base, Scope::Subtree, &filter, &attributes, self.page_size)
                .await
                .map_err(|e| missing_container(e, "search", &base))?;
            for entry in entries {
                accounts.insert(entry.dn.clone(), self.layout.account(&entry));
            }
        }
        Ok(accounts.into_values().collect())
    }

    #[instrument(level = "debug", skip(self, group), fields(target = "ldap", group = %group.key))]
    async fn create_group(&self, group: &GroupWrite<'_>) -> Result<TargetId, PushError> {
        self.write_new_group(group).await
    }

    #[instrument(level = "debug", skip(self, group), fields(target = "ldap", group = %group.key))]
    async fn update_group(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<Option<TargetId>, PushError> {
        self.rewrite_group(id, group).await
    }

    #[instrument(level = "debug", skip(self, id, members), fields(target = "ldap", members = members.len()))]
    async fn add_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.add_group_members(id, group, members).await
    }

    #[instrument(level = "debug", skip(self, id, members), fields(target = "ldap", members = members.len()))]
    async fn remove_members(
        &self,
        id: &TargetId,
        group: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.remove_group_members(id, group, members).await
    }

    #[instrument(level = "debug", skip(self, id), fields(target = "ldap"))]
    async fn delete_group(&self, id: &TargetId, group: &DepartmentId) -> Result<(), PushError> {
        self.remove_group(id, group).await
    }
}
