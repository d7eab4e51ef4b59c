//! Active Directory's IO in the LDAP pusher: creating an account (disabled, or enabled with a
//! generated password), the userAccountControl read-modify-write, and a distinct `cn` for a
//! namesake in the same OU. The rules themselves are pure, in ad/.

use super::ad::{NewAccounts, naming, password, uac};
use super::connection::OpError;
use super::convert::{Entry, PWD_LAST_SET, SAM_ACCOUNT_NAME, USER_ACCOUNT_CONTROL};
use super::{LdapPusher, dn};
use crate::model::{Attributes, Field, TargetId, UserKey};
use crate::pushers::PushError;
use ldap3::Mod;
use std::collections::HashSet;
use tracing::{debug, warn};

const ALREADY_EXISTS: u32 = 68;

/// An add request's attributes as bytes: `unicodePwd` is UTF-16LE, not text.
type BinaryEntry = Vec<(Vec<u8>, HashSet<Vec<u8>>)>;

fn binary(entry: &Entry) -> BinaryEntry {
    entry
        .iter()
        .map(|(attribute, values)| {
            (
                attribute.as_bytes().to_vec(),
                values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            )
        })
        .collect()
}

/// `entry` with its `cn` (the RDN) replaced, for the add of a namesake's distinct name.
fn renamed(entry: &Entry, cn: &str) -> Entry {
    let mut entry: Entry = entry
        .iter()
        .filter(|(a, _)| !a.eq_ignore_ascii_case("cn"))
        .cloned()
        .collect();
    entry.push(("cn".to_owned(), HashSet::from([cn.to_owned()])));
    entry
}

impl LdapPusher {
    /// Creates a person's account: `cn=<display name>` in their OU, or `cn=<display name>
    /// (<sAMAccountName>)` when a namesake has that name there (said in the log). In
    /// `enabled_with_password` mode the add carries a generated password and `pwdLastSet: 0`.
    pub(super) async fn ad_create(
        &self,
        key: &UserKey,
        attributes: &Attributes,
        active: bool,
    ) -> Result<TargetId, PushError> {
        if let Some(detail) = naming::key_too_long(&self.layout.key_attribute, key.as_str()) {
            return Err(PushError::Setup { detail });
        }
        let dn = self.layout.dn(key, attributes, active);
        let entry = self.layout.entry(key, attributes, active);
        match self.ad_add(&dn, &entry).await {
            Ok(()) => return Ok(TargetId::new(dn)),
            Err(e) if e.code() == Some(ALREADY_EXISTS) => {}
            Err(e) => return Err(e.into_push("add", &dn)),
        }
        let account_name = self.layout.account_name(key, attributes);
        if !self.exists(&dn).await? {
            return Err(self.name_taken(&account_name));
        }
        let display_name = attributes.get(Field::DisplayName).unwrap_or(key.as_str());
        let cn = naming::distinct_cn(display_name, &account_name);
        let distinct = dn::child(&dn::rdn("cn", &cn), dn::parent(&dn).1);
        match self.ad_add(&distinct, &renamed(&entry, &cn)).await {
            Ok(()) => {
                warn!(user = %key, "Another entry of the OU has this person's name: the account is named with its sAMAccountName in parentheses.");
                Ok(TargetId::new(distinct))
            }
            Err(e) if e.code() == Some(ALREADY_EXISTS) && self.exists(&distinct).await? => {
                Err(PushError::Conflict {
                    detail: format!(
                        "cannot create {distinct}: an entry without this person's {} has that \
                         name (created by hand?)",
                        self.layout.key_attribute
                    ),
                })
            }
            Err(e) if e.code() == Some(ALREADY_EXISTS) => Err(self.name_taken(&account_name)),
            Err(e) => Err(e.into_push("add", &distinct)),
        }
    }

    /// A sAMAccountName (or userPrincipalName) another account of the domain holds, outside
    /// what orgsync manages: an administrator decides.
    fn name_taken(&self, account_name: &str) -> PushError {
        PushError::Conflict {
            detail: format!(
                "sAMAccountName {account_name:?} (or its userPrincipalName) is taken by another \
                 account of the domain that carries no {}: rename that account, link it with \
                 match_by, or map sAMAccountName differently",
                self.layout.key_attribute
            ),
        }
    }

    /// Adds with the generated password in `enabled_with_password` mode; a missing department
    /// OU is created on the way.
    async fn ad_add(&self, dn: &str, entry: &Entry) -> Result<(), OpError> {
        let mut request = binary(entry);
        if self
            .layout
            .ad
            .as_ref()
            .is_some_and(|ad| ad.new_accounts == NewAccounts::EnabledWithPassword)
        {
            let generated = password::generate().map_err(|e| {
                OpError::Failed(PushError::Setup {
                    detail: format!("cannot generate a password: {e}"),
                })
            })?;
            request.push((
                b"unicodePwd".to_vec(),
                HashSet::from([password::unicode_pwd(&generated)]),
            ));
            request.push((
                PWD_LAST_SET.as_bytes().to_vec(),
                HashSet::from([b"0".to_vec()]),
            ));
        }
        let add = |request: BinaryEntry| {
            self.conn.run("add", move |mut ldap| {
                let request = request.clone();
                async move { ldap.add(dn, request).await?.success().map(drop) }
            })
        };
        match add(request.clone()).await {
            Err(e) if e.code() == Some(32) => {
                let parent = dn::parent(dn).1;
                if !self.is_department_ou(parent) {
                    return Err(OpError::Failed(super::missing_container(e, "add", parent)));
                }
                self.ensure_ou(parent).await.map_err(OpError::Failed)?;
                add(request).await
            }
            other => other,
        }
    }

    /// Reads userAccountControl, sets or clears ACCOUNTDISABLE, writes it back: no other bit
    /// changes. In `disabled` mode an account that never had a password stays disabled on
    /// reactivation: the administrator who gives it one enables it.
    pub(super) async fn ad_mark(&self, dn: &str, active: bool) -> Result<(), PushError> {
        let mut values = self
            .read_first(dn, &[USER_ACCOUNT_CONTROL, PWD_LAST_SET])
            .await?
            .into_iter();
        let (control, last_set) = (values.next().flatten(), values.next().flatten());
        let Some(current) = control.and_then(|v| uac::parse(&v)) else {
            return Err(PushError::Directory {
                code: 16,
                detail: format!("{dn} has no readable userAccountControl: is it a user object?"),
            });
        };
        let never_set = last_set.as_deref() == Some("0");
        let passwordless = self
            .layout
            .ad
            .as_ref()
            .is_some_and(|ad| ad.new_accounts == NewAccounts::Disabled)
            && never_set;
        if active && passwordless {
            debug!(dn, "Left disabled: the account has no password yet.");
            return Ok(());
        }
        let wanted = uac::with_disabled(current, !active);
        if wanted == current {
            return Ok(());
        }
        let set = Mod::Replace(
            USER_ACCOUNT_CONTROL.to_owned(),
            HashSet::from([wanted.to_string()]),
        );
        self.modify(dn, &[set])
            .await
            .map_err(|e| e.into_push("modify", dn))
    }

    /// Whether `current` is already the distinct form of `desired`'s name (a namesake's), so a
    /// takeover leaves it.
    pub(super) fn ad_keeps_name(&self, current: &str, desired: &str) -> bool {
        if self.layout.ad.is_none() || !dn::same(dn::parent(current).1, dn::parent(desired).1) {
            return false;
        }
        match (dn::rdn_value(current), dn::rdn_value(desired)) {
            (Some(held), Some(wanted)) => held.starts_with(&format!("{wanted} (")),
            _ => false,
        }
    }

    /// A move whose `cn` a namesake holds in the target OU: the entry takes `cn=<name>
    /// (<sAMAccountName>)` there instead. Returns the new DN.
    pub(super) async fn ad_distinct_move(&self, from: &str, to: &str) -> Result<String, PushError> {
        let account_name = self.account_name_of(from).await?;
        let name = dn::rdn_value(to).unwrap_or_default();
        let cn = naming::distinct_cn(&name, &account_name);
        let distinct = dn::child(&dn::rdn("cn", &cn), dn::parent(to).1);
        if dn::same(from, &distinct) {
            return Ok(from.to_owned());
        }
        self.move_exact(from, &distinct).await?;
        warn!(
            "Another entry of the OU has this person's name: the account is named with its sAMAccountName in parentheses."
        );
        Ok(distinct)
    }

    async fn account_name_of(&self, dn: &str) -> Result<String, PushError> {
        self.read_first(dn, &[SAM_ACCOUNT_NAME])
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| PushError::Directory {
                code: 16,
                detail: format!("{dn} has no sAMAccountName"),
            })
    }
}
