//! Model attributes ⇄ LDAP entries, modifications, DNs and filters, as the configured layout
//! says. No IO.

use super::ad::{NewAccounts, UpnFrom, sam, uac};
use super::attributes::Holds;
use super::config::{Deactivation, GroupClass, LdapTargetConfig};
use super::dn;
use crate::mapping::MappingError;
use crate::model::{Attributes, Field, FieldChange, TargetId, UserKey};
use crate::pushers::TargetAccount;
use ldap3::{Mod, SearchEntry, ldap_escape};
use std::collections::HashSet;

/// The directory layout of one target, compiled from its (validated) config.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub base_dn: String,
    /// Every written attribute and what it holds: roles, the key, and mapped attributes.
    pub mapping: Vec<(String, Holds)>,
    pub rdn_attribute: String,
    pub rdn_holds: Holds,
    pub key_attribute: String,
    pub manager_attribute: String,
    pub object_classes: Vec<String>,
    pub department_ous: bool,
    pub deactivation: Deactivation,
    /// Active Directory's account rules; None for OpenLDAP.
    pub ad: Option<AdLayout>,
}

/// What Active Directory adds to the layout.
#[derive(Debug, Clone)]
pub(super) struct AdLayout {
    pub upn_suffix: String,
    pub upn_from: UpnFrom,
    pub new_accounts: NewAccounts,
}

pub(super) const SAM_ACCOUNT_NAME: &str = "sAMAccountName";
pub(super) const USER_PRINCIPAL_NAME: &str = "userPrincipalName";
pub(super) const USER_ACCOUNT_CONTROL: &str = "userAccountControl";
pub(super) const PWD_LAST_SET: &str = "pwdLastSet";

impl AdLayout {
    /// Whether an account counts as active for orgsync. An account created disabled and
    /// waiting for its first password (pwdLastSet 0) is active: the administrator enables it.
    pub fn reads_active(&self, control: Option<i64>, never_set: bool) -> bool {
        let disabled = control.is_some_and(uac::is_disabled);
        !disabled || (self.new_accounts == NewAccounts::Disabled && never_set)
    }

    /// The userPrincipalName of a person with this key and sAMAccountName.
    pub fn principal(&self, key: &UserKey, account_name: &str) -> String {
        let name = match self.upn_from {
            UpnFrom::SamAccountName => account_name,
            UpnFrom::Key => key.as_str(),
        };
        sam::principal_name(name, &self.upn_suffix)
    }
}

/// An add request's attributes.
pub(super) type Entry = Vec<(String, HashSet<String>)>;

fn set(value: Option<&str>) -> HashSet<String> {
    value.map(str::to_owned).into_iter().collect()
}

impl Layout {
    pub fn new(config: &LdapTargetConfig) -> Result<Self, MappingError> {
        let resolved = config.resolve()?;
        let ad = config.ad_settings().is_some();
        let mut mapping = resolved.attributes.clone();
        if ad {
            // AD refuses modifying the naming attribute: cn changes by modrdn only, and a
            // namesake's distinct cn must not read back as a changed display name.
            mapping.retain(|(a, _)| !a.eq_ignore_ascii_case(&config.rdn_attribute));
        }
        Ok(Layout {
            base_dn: config.base_dn.clone(),
            rdn_holds: resolved.holds(&config.rdn_attribute).unwrap_or(Holds::Key),
            mapping,
            rdn_attribute: config.rdn_attribute.clone(),
            key_attribute: config.key_attribute.clone(),
            manager_attribute: config.manager_attribute.clone(),
            object_classes: config.object_classes.clone(),
            department_ous: config.department_ous,
            deactivation: config.deactivation.clone(),
            ad: config.ad_settings().map(|settings| AdLayout {
                upn_suffix: settings.suffix(&config.base_dn).unwrap_or_default(),
                upn_from: settings.upn_from,
                new_accounts: settings.new_accounts,
            }),
        })
    }

    /// The value written to `attribute`: a sAMAccountName always under AD's rules (a userName
    /// that fell back to the key may break them).
    fn written(&self, attribute: &str, value: &str) -> String {
        if self.ad.is_some() && attribute.eq_ignore_ascii_case(SAM_ACCOUNT_NAME) {
            sam::account_name(value).unwrap_or_else(|| value.to_owned())
        } else {
            value.to_owned()
        }
    }

    /// The sAMAccountName of a person (AD).
    pub fn account_name(&self, key: &UserKey, attributes: &Attributes) -> String {
        self.written(
            SAM_ACCOUNT_NAME,
            attributes.get(Field::UserName).unwrap_or(key.as_str()),
        )
    }

    /// AD: userPrincipalName, from the key or the sAMAccountName.
    fn principal_mod(&self, key: &UserKey, attributes: &Attributes) -> Option<(String, String)> {
        let ad = self.ad.as_ref()?;
        Some((
            USER_PRINCIPAL_NAME.to_owned(),
            ad.principal(key, &self.account_name(key, attributes)),
        ))
    }

    fn value<'a>(holds: Holds, key: &'a UserKey, attributes: &'a Attributes) -> Option<&'a str> {
        match holds {
            Holds::Key => Some(key.as_str()),
            Holds::Field(field) => attributes.get(field),
        }
    }

    /// The roles and mapped attributes some attribute holds, each once.
    fn fields(&self) -> Vec<Field> {
        let mut fields: Vec<Field> = self
            .mapping
            .iter()
            .filter_map(|(_, holds)| holds.field())
            .collect();
        fields.sort();
        fields.dedup();
        fields
    }

    /// The structural class, searched for when listing and finding entries.
    pub fn structural_class(&self) -> &str {
        self.object_classes
            .last()
            .map_or("inetOrgPerson", String::as_str)
    }

    pub fn rdn(&self, key: &UserKey, attributes: &Attributes) -> String {
        // The source is key or user_name (validated), both always present.
        let value = Self::value(self.rdn_holds, key, attributes).unwrap_or(key.as_str());
        dn::rdn(&self.rdn_attribute, value)
    }

    /// Where an active person with this main department lives.
    pub fn home(&self, department: Option<&str>) -> String {
        match self.department_ou(department) {
            Some(ou) => ou,
            None => self.base_dn.clone(),
        }
    }

    /// The department's OU under the base, when the layout has one per department.
    pub fn department_ou(&self, department: Option<&str>) -> Option<String> {
        let department = department.filter(|d| !d.is_empty() && self.department_ous)?;
        Some(dn::child(&dn::rdn("ou", department), &self.base_dn))
    }

    pub fn disabled_ou(&self) -> Option<&str> {
        match &self.deactivation {
            Deactivation::Move { ou } => Some(ou),
            Deactivation::Attribute { .. } | Deactivation::Disable => None,
        }
    }

    pub fn container(&self, department: Option<&str>, active: bool) -> String {
        match self.disabled_ou() {
            Some(ou) if !active => ou.to_owned(),
            _ => self.home(department),
        }
    }

    pub fn dn(&self, key: &UserKey, attributes: &Attributes, active: bool) -> String {
        dn::child(
            &self.rdn(key, attributes),
            &self.container(attributes.get(Field::Department), active),
        )
    }

    /// Whether an entry under `parent` counts as deactivated by being there.
    pub fn in_disabled_ou(&self, parent: &str) -> bool {
        self.disabled_ou().is_some_and(|ou| dn::same(parent, ou))
    }

    /// The subtrees holding orgsync's people: the base, and the disabled OU when it lies outside.
    pub fn containers(&self) -> Vec<String> {
        let mut containers = vec![self.base_dn.clone()];
        if let Some(ou) = self.disabled_ou()
            && !dn::within(ou, &self.base_dn)
        {
            containers.push(ou.to_owned());
        }
        containers
    }

    /// A new entry: object classes, every mapped attribute that has a value, and the deactivation
    /// marker for an inactive person.
    pub fn entry(&self, key: &UserKey, attributes: &Attributes, active: bool) -> Entry {
        let mut entry: Entry = vec![(
            "objectClass".to_owned(),
            self.object_classes.iter().cloned().collect(),
        )];
        for (attribute, holds) in &self.mapping {
            if let Some(value) = Self::value(*holds, key, attributes) {
                entry.push((
                    attribute.clone(),
                    set(Some(&self.written(attribute, value))),
                ));
            }
        }
        if let Some((attribute, value)) = self.principal_mod(key, attributes) {
            entry.push((attribute, set(Some(&value))));
        }
        if let Some(ad) = &self.ad {
            let enabled = active && ad.new_accounts == NewAccounts::EnabledWithPassword;
            entry.push((
                USER_ACCOUNT_CONTROL.to_owned(),
                set(Some(&uac::new_account(enabled).to_string())),
            ));
        }
        if let Deactivation::Attribute { attribute, value } = &self.deactivation
            && !active
        {
            entry.push((attribute.clone(), set(Some(value))));
        }
        entry
    }

    /// Every mapped attribute set to the desired value (or removed), and the manager cleared: the
    /// state a fresh create would leave, for an existing entry being taken over.
    pub fn replace_all(&self, key: &UserKey, attributes: &Attributes) -> Vec<Mod<String>> {
        let mut mods: Vec<Mod<String>> = self
            .mapping
            .iter()
            .map(|(attribute, holds)| {
                let value = Self::value(*holds, key, attributes);
                let value = value.map(|v| self.written(attribute, v));
                Mod::Replace(attribute.clone(), set(value.as_deref()))
            })
            .collect();
        if let Some((attribute, value)) = self.principal_mod(key, attributes) {
            mods.push(Mod::Replace(attribute, set(Some(&value))));
        }
        mods.push(self.manager_mod(None));
        mods
    }

    /// One replace per attribute mapped to a changed field; a cleared field removes the attribute.
    pub fn changes(&self, changes: &[FieldChange]) -> Vec<Mod<String>> {
        let mut mods = Vec::new();
        for change in changes {
            for (attribute, holds) in &self.mapping {
                if *holds == Holds::Field(change.field) {
                    let value = change.after.as_deref().map(|v| self.written(attribute, v));
                    mods.push(Mod::Replace(attribute.clone(), set(value.as_deref())));
                }
            }
            // AD: a userPrincipalName made from the sAMAccountName follows it.
            if let (Some(ad), Field::UserName, Some(after)) =
                (&self.ad, change.field, change.after.as_deref())
                && ad.upn_from == UpnFrom::SamAccountName
            {
                let name = self.written(SAM_ACCOUNT_NAME, after);
                mods.push(Mod::Replace(
                    USER_PRINCIPAL_NAME.to_owned(),
                    set(Some(&sam::principal_name(&name, &ad.upn_suffix))),
                ));
            }
        }
        mods
    }

    pub fn manager_mod(&self, manager: Option<&str>) -> Mod<String> {
        Mod::Replace(self.manager_attribute.clone(), set(manager))
    }

    /// The field the RDN is built from, if a field change can rename the entry. Never a mapped
    /// attribute (validated): a DN depends only on the key, the userName and the department.
    pub fn rdn_field(&self) -> Option<Field> {
        self.rdn_holds.field()
    }

    /// The attribute holding the department, read back to find a reactivated person's home OU.
    pub fn department_attribute(&self) -> Option<&str> {
        self.mapping
            .iter()
            .find(|(_, holds)| *holds == Holds::Field(Field::Department))
            .map(|(a, _)| a.as_str())
    }

    pub fn key_filter(&self, key: &UserKey) -> String {
        format!(
            "(&(objectClass={})({}={}))",
            ldap_escape(self.structural_class()),
            self.key_attribute,
            ldap_escape(key.as_str())
        )
    }

    pub fn manager_filter(&self, manager_dn: &str) -> String {
        format!("({}={})", self.manager_attribute, ldap_escape(manager_dn))
    }

    pub fn list_filter(&self) -> String {
        format!("(objectClass={})", ldap_escape(self.structural_class()))
    }

    /// The attributes `list` asks for.
    pub fn read_attributes(&self) -> Vec<String> {
        let mut attributes: Vec<String> = self.mapping.iter().map(|(a, _)| a.clone()).collect();
        attributes.push(self.manager_attribute.clone());
        if let Deactivation::Attribute { attribute, .. } = &self.deactivation {
            attributes.push(attribute.clone());
        }
        if self.ad.is_some() {
            attributes.push(USER_ACCOUNT_CONTROL.to_owned());
            attributes.push(PWD_LAST_SET.to_owned());
        }
        attributes
    }

    /// An entry as a target account. Servers spell attribute names as their schema does, so
    /// names are matched without case. With no attribute mapped to `user_name`, the key stands in.
    pub fn account(&self, entry: &SearchEntry) -> TargetAccount {
        let values = |attribute: &str| -> &[String] {
            entry
                .attrs
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                .map_or(&[], |(_, v)| v.as_slice())
        };
        let first = |attribute: &str| values(attribute).first().cloned();
        // A field several attributes hold (display name: cn, sn, displayName) reads as the
        // first value of the first one, cn and sn last (they often hold several spellings).
        // When another of them lacks that value (edited by hand) the field reads as the values
        // joined, which equals no upstream value: the planner then updates the field, and that
        // update rewrites every attribute mapped to it.
        let read = |field: Field| {
            let mut candidates: Vec<&str> = self
                .mapping
                .iter()
                .filter(|(_, holds)| *holds == Holds::Field(field))
                .map(|(a, _)| a.as_str())
                .collect();
            candidates.sort_by_key(|a| ["cn", "sn"].iter().any(|r| a.eq_ignore_ascii_case(r)));
            let present: Vec<&[String]> = candidates
                .into_iter()
                .map(values)
                .filter(|v| !v.is_empty())
                .collect();
            let value = present.first()?[0].clone();
            let drifted: Vec<&str> = present
                .iter()
                .filter(|v| !v.contains(&value))
                .map(|v| v[0].as_str())
                .collect();
            if drifted.is_empty() {
                Some(value)
            } else {
                Some(
                    std::iter::once(value.as_str())
                        .chain(drifted)
                        .collect::<Vec<_>>()
                        .join(" | "),
                )
            }
        };
        let key = first(&self.key_attribute);
        let user_name = read(Field::UserName)
            .or_else(|| key.clone())
            .or_else(|| dn::rdn_value(&entry.dn))
            .unwrap_or_default();
        let mut attributes =
            Attributes::new(user_name, read(Field::DisplayName).unwrap_or_default());
        // Mapped attributes are read like roles, so drift in them is seen too.
        for field in self.fields() {
            if !matches!(field, Field::UserName | Field::DisplayName) {
                attributes.set(field, read(field).map(Into::into));
            }
        }
        let active = match &self.deactivation {
            Deactivation::Move { ou } => !dn::same(dn::parent(&entry.dn).1, ou),
            Deactivation::Attribute { attribute, value } => !values(attribute)
                .iter()
                .any(|v| v.eq_ignore_ascii_case(value)),
            Deactivation::Disable => self.ad.as_ref().is_none_or(|ad| {
                let control = first(USER_ACCOUNT_CONTROL).and_then(|v| uac::parse(&v));
                let never_set = first(PWD_LAST_SET).as_deref() == Some("0");
                ad.reads_active(control, never_set)
            }),
        };
        TargetAccount {
            id: TargetId::new(entry.dn.clone()),
            external_id: key.filter(|k| !k.is_empty()).map(UserKey::new),
            attributes,
            active,
            manager: first(&self.manager_attribute)
                .filter(|m| !m.is_empty())
                .map(TargetId::new),
        }
    }
}

/// Where and how department groups are written, compiled from a config with `groups_base`.
#[derive(Debug, Clone)]
pub(super) struct GroupLayout {
    pub base: String,
    pub class: GroupClass,
    pub key_attribute: String,
    /// None: a group with nobody in it holds its own DN.
    pub empty_member: Option<String>,
}

/// Active Directory's global security group (ADS_GROUP_TYPE_GLOBAL_GROUP |
/// ADS_GROUP_TYPE_SECURITY_ENABLED), as the signed 32-bit value AD stores.
pub(super) const GLOBAL_SECURITY_GROUP: i64 = -2147483646;

/// The `owner` attribute (core schema): the department head's DN.
pub(super) const OWNER: &str = "owner";

impl GroupLayout {
    pub fn new(config: &LdapTargetConfig) -> Option<Self> {
        Some(GroupLayout {
            base: config.groups_base.clone()?,
            class: config.group_class,
            key_attribute: config.group_key_attribute.clone(),
            empty_member: config.empty_member.clone(),
        })
    }

    pub fn member_attribute(&self) -> &'static str {
        self.class.member_attribute()
    }

    /// Active Directory's groups: managedBy for the head, no placeholder member, a
    /// sAMAccountName and a groupType.
    pub fn is_ad(&self) -> bool {
        self.class == GroupClass::Group
    }

    /// Holds the department head's DN: `owner` (core schema), AD's `managedBy`.
    pub fn owner_attribute(&self) -> &'static str {
        if self.is_ad() { "managedBy" } else { OWNER }
    }

    /// `cn=<display name>` directly under the groups base.
    pub fn dn(&self, display_name: &str) -> String {
        dn::child(&dn::rdn("cn", display_name), &self.base)
    }

    /// The member a group with nobody in it holds; none in AD, where groups may be empty.
    pub fn placeholder(&self, group_dn: &str) -> Option<String> {
        if self.is_ad() {
            return None;
        }
        Some(
            self.empty_member
                .clone()
                .unwrap_or_else(|| group_dn.to_owned()),
        )
    }

    /// A new group: its name, department id, head, and the placeholder as its only member.
    pub fn entry(&self, dn: &str, key: &str, display_name: &str, head: Option<&str>) -> Entry {
        let mut entry: Entry = vec![
            (
                "objectClass".to_owned(),
                HashSet::from(["top".to_owned(), self.class.name().to_owned()]),
            ),
            ("cn".to_owned(), set(Some(display_name))),
            (self.key_attribute.clone(), set(Some(key))),
        ];
        if let Some(placeholder) = self.placeholder(dn) {
            entry.push((self.member_attribute().to_owned(), set(Some(&placeholder))));
        }
        if self.is_ad() {
            let account_name = sam::account_name(display_name)
                .unwrap_or_else(|| super::ad::naming::group_account_name(display_name, key));
            entry.push((SAM_ACCOUNT_NAME.to_owned(), set(Some(&account_name))));
            entry.push((
                "groupType".to_owned(),
                set(Some(&GLOBAL_SECURITY_GROUP.to_string())),
            ));
        }
        if let Some(head) = head {
            entry.push((self.owner_attribute().to_owned(), set(Some(head))));
        }
        entry
    }

    fn class_and(&self, attribute: &str, value: &str) -> String {
        format!(
            "(&(objectClass={})({attribute}={}))",
            self.class.name(),
            ldap_escape(value)
        )
    }

    pub fn key_filter(&self, key: &str) -> String {
        self.class_and(&self.key_attribute, key)
    }

    pub fn name_filter(&self, display_name: &str) -> String {
        self.class_and("cn", display_name)
    }

    /// Groups holding `dn` as a member.
    pub fn member_filter(&self, dn: &str) -> String {
        self.class_and(self.member_attribute(), dn)
    }

    pub fn owner_filter(&self, dn: &str) -> String {
        self.class_and(self.owner_attribute(), dn)
    }

    /// What reading a group asks for.
    pub fn read_attributes(&self) -> Vec<String> {
        vec![
            "cn".to_owned(),
            self.key_attribute.clone(),
            self.member_attribute().to_owned(),
            self.owner_attribute().to_owned(),
        ]
    }

    pub fn group(&self, entry: SearchEntry) -> GroupEntry {
        let mut attrs = entry.attrs;
        let mut take = |attribute: &str| {
            attrs
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                .map(|(name, _)| name.clone())
                .and_then(|name| attrs.remove(&name))
                .unwrap_or_default()
        };
        GroupEntry {
            cn: take("cn"),
            keys: take(&self.key_attribute),
            members: take(self.member_attribute()),
            owners: take(self.owner_attribute()),
            dn: entry.dn,
        }
    }
}

/// A group as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GroupEntry {
    pub dn: String,
    pub cn: Vec<String>,
    pub keys: Vec<String>,
    pub members: Vec<String>,
    pub owners: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretRef;
    use std::collections::HashMap;

    fn config() -> LdapTargetConfig {
        LdapTargetConfig::new(
            "ldap://127.0.0.1".parse().unwrap(),
            "cn=admin,dc=example,dc=com",
            SecretRef::Env("X".into()),
            "ou=people,dc=example,dc=com",
        )
    }

    fn full() -> Attributes {
        Attributes::new("lin", "林晓")
            .with(Field::Email, Some("lin@example.cn".into()))
            .with(Field::Title, Some("工程师".into()))
            .with(Field::Department, Some("研发部".into()))
    }

    fn sorted(entry: Entry) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = entry
            .into_iter()
            .map(|(a, v)| {
                let mut v: Vec<String> = v.into_iter().collect();
                v.sort();
                (a, v)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_default_entry_is_exact() {
        let layout = Layout::new(&config()).unwrap();
        let key = UserKey::new("lin");
        assert_eq!(
            layout.dn(&key, &full(), true),
            "uid=lin,ou=people,dc=example,dc=com"
        );
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sorted(layout.entry(&key, &full(), true)),
            vec![
                ("cn".into(), strings(&["林晓"])),
                ("departmentNumber".into(), strings(&["研发部"])),
                ("displayName".into(), strings(&["林晓"])),
                ("mail".into(), strings(&["lin@example.cn"])),
                (
                    "objectClass".into(),
                    strings(&["inetOrgPerson", "organizationalPerson", "person", "top"])
                ),
                ("sn".into(), strings(&["林晓"])),
                ("title".into(), strings(&["工程师"])),
                ("uid".into(), strings(&["lin"])),
            ]
        );
        let inactive = sorted(layout.entry(&key, &full(), false));
        assert!(inactive.contains(&("employeeType".into(), strings(&["disabled"]))));
    }

    #[test]
    fn departments_and_the_disabled_ou_place_entries() {
        let mut c = config();
        c.department_ous = true;
        c.deactivation = Deactivation::Move {
            ou: "ou=disabled,dc=example,dc=com".into(),
        };
        let layout = Layout::new(&c).unwrap();
        let key = UserKey::new("lin");
        assert_eq!(
            layout.dn(&key, &full(), true),
            "uid=lin,ou=研发部,ou=people,dc=example,dc=com"
        );
        assert_eq!(
            layout.dn(&key, &full(), false),
            "uid=lin,ou=disabled,dc=example,dc=com"
        );
        let no_department = Attributes::new("lin", "林晓");
        assert_eq!(
            layout.dn(&key, &no_department, true),
            "uid=lin,ou=people,dc=example,dc=com"
        );
        assert_eq!(
            layout.containers(),
            [
                "ou=people,dc=example,dc=com",
                "ou=disabled,dc=example,dc=com"
            ]
        );
        assert!(
            !layout
                .entry(&key, &full(), false)
                .iter()
                .any(|(a, _)| a == "employeeType"),
            "the move is the marker"
        );
    }

    #[test]
    fn changes_touch_every_attribute_of_the_field() {
        let layout = Layout::new(&config()).unwrap();
        let mods = layout.changes(&[
            FieldChange {
                field: Field::DisplayName,
                before: Some("a".into()),
                after: Some("b".into()),
            },
            FieldChange {
                field: Field::Title,
                before: Some("t".into()),
                after: None,
            },
        ]);
        let b: HashSet<String> = ["b".to_owned()].into();
        assert_eq!(
            mods,
            vec![
                Mod::Replace("cn".into(), b.clone()),
                Mod::Replace("displayName".into(), b.clone()),
                Mod::Replace("sn".into(), b),
                Mod::Replace("title".into(), HashSet::new()),
            ]
        );
    }

    #[test]
    fn filters_escape_hostile_values() {
        let layout = Layout::new(&config()).unwrap();
        assert_eq!(
            layout.key_filter(&UserKey::new("*)(uid=*")),
            "(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))"
        );
        assert_eq!(
            layout.manager_filter("uid=a\\2cb,dc=x"),
            "(manager=uid=a\\5c2cb,dc=x)"
        );
    }

    /// Lin's entry as a search returns it, with these attributes.
    fn lin_entry(attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: "uid=lin,ou=people,dc=example,dc=com".into(),
            attrs: attrs
                .iter()
                .map(|(a, v)| ((*a).to_owned(), v.iter().map(|v| (*v).to_owned()).collect()))
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn attributes_that_disagree_read_as_drift() {
        let layout = Layout::new(&config()).unwrap();
        let entry = |cn: &str| {
            lin_entry(&[
                ("uid", &["lin"]),
                ("cn", &[cn]),
                ("sn", &["林晓"]),
                ("displayName", &["林晓"]),
            ])
        };
        let read = |cn: &str| {
            layout
                .account(&entry(cn))
                .attributes
                .get(Field::DisplayName)
                .map(str::to_owned)
        };
        assert_eq!(read("林晓").as_deref(), Some("林晓"));
        assert_eq!(read("Hacked").as_deref(), Some("林晓 | Hacked"));
    }

    #[test]
    fn entries_read_back_as_accounts() {
        let layout = Layout::new(&config()).unwrap();
        let account = layout.account(&lin_entry(&[
            ("uid", &["lin"]),
            ("cn", &["Lin X", "林晓"]),
            ("displayName", &["林晓"]),
            ("mail", &["lin@example.cn"]),
            ("Title", &["工程师"]),
            ("departmentNumber", &["研发部"]),
            ("employeeType", &["contractor", "Disabled"]),
            ("manager", &["uid=boss,ou=people,dc=example,dc=com"]),
        ]));
        assert_eq!(
            account,
            TargetAccount {
                id: TargetId::new("uid=lin,ou=people,dc=example,dc=com"),
                external_id: Some(UserKey::new("lin")),
                attributes: full(),
                active: false,
                manager: Some(TargetId::new("uid=boss,ou=people,dc=example,dc=com")),
            }
        );
    }

    fn with_extras() -> Layout {
        let mut c = config();
        for (attribute, value) in [
            ("l", "work_place"),
            ("telephoneNumber", "{telephone|trim}"),
            ("departmentNumber", "{department_path}"),
        ] {
            c.attributes.insert(attribute.into(), value.into());
        }
        c.validate().unwrap();
        Layout::new(&c).unwrap()
    }

    #[test]
    fn mapped_attributes_are_written_changed_and_read_back() {
        let layout = with_extras();
        let key = UserKey::new("lin");
        let (l, phone) = (Field::named("l"), Field::named("telephoneNumber"));
        let person = full()
            .with(l, Some("上海".into()))
            .with(phone, Some("+86 21 5555 0101".into()));
        let entry = sorted(layout.entry(&key, &person, true));
        assert!(
            entry.contains(&("l".into(), vec!["上海".into()])),
            "{entry:?}"
        );
        assert!(entry.contains(&("telephoneNumber".into(), vec!["+86 21 5555 0101".into()])));
        assert!(entry.contains(&("departmentNumber".into(), vec!["研发部".into()])));
        let without = sorted(layout.entry(&key, &full(), true));
        assert!(!without.iter().any(|(a, _)| a == "l"), "absent, not empty");
        assert_eq!(
            layout.dn(&key, &person, true),
            layout.dn(&key, &full(), true),
            "a DN never depends on a mapped attribute"
        );

        let mods = layout.changes(&[
            FieldChange {
                field: l,
                before: Some("上海".into()),
                after: Some("北京".into()),
            },
            FieldChange {
                field: phone,
                before: Some("+86 21 5555 0101".into()),
                after: None,
            },
        ]);
        assert_eq!(
            mods,
            vec![
                Mod::Replace("l".into(), HashSet::from(["北京".to_owned()])),
                Mod::Replace("telephoneNumber".into(), HashSet::new()),
            ]
        );
        let takeover = layout.replace_all(&key, &full());
        assert!(takeover.contains(&Mod::Replace("l".into(), HashSet::new())));

        let read = layout.read_attributes();
        assert!(read.contains(&"l".to_owned()) && read.contains(&"telephoneNumber".to_owned()));
        let account = layout.account(&lin_entry(&[
            ("uid", &["lin"]),
            ("cn", &["林晓"]),
            ("L", &["北京"]),
            ("telephonenumber", &["+86 21 5555 0199"]),
        ]));
        assert_eq!(account.attributes.get(l), Some("北京"));
        assert_eq!(account.attributes.get(phone), Some("+86 21 5555 0199"));
        assert_eq!(account.attributes.get(Field::Department), None);
    }

    #[test]
    fn a_username_expression_names_the_entry() {
        let mut c = config();
        c.attributes.insert("uid".into(), "{name|pinyin}".into());
        c.attributes.insert("employeeNumber".into(), "key".into());
        c.key_attribute = "employeeNumber".into();
        c.validate().unwrap();
        let layout = Layout::new(&c).unwrap();
        let key = UserKey::new("u-0001");
        let person = Attributes::new("linxiao", "林晓");
        assert_eq!(
            layout.dn(&key, &person, true),
            "uid=linxiao,ou=people,dc=example,dc=com"
        );
        assert_eq!(layout.rdn_field(), Some(Field::UserName));
        let entry = sorted(layout.entry(&key, &person, true));
        assert!(entry.contains(&("employeeNumber".into(), vec!["u-0001".into()])));
        assert_eq!(
            layout.key_filter(&key),
            "(&(objectClass=inetOrgPerson)(employeeNumber=u-0001))"
        );
    }

    fn group_layout(edit: impl FnOnce(&mut LdapTargetConfig)) -> GroupLayout {
        let mut c = config();
        c.groups_base = Some("ou=groups,dc=example,dc=com".into());
        edit(&mut c);
        GroupLayout::new(&c).unwrap()
    }

    #[test]
    fn a_group_entry_is_exact() {
        let layout = group_layout(|_| {});
        let dn = layout.dn("R&D, Beijing");
        assert_eq!(dn, "cn=R&D\\2c Beijing,ou=groups,dc=example,dc=com");
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sorted(layout.entry(&dn, "12", "R&D, Beijing", Some("uid=boss,dc=x"))),
            vec![
                ("businessCategory".into(), strings(&["12"])),
                ("cn".into(), strings(&["R&D, Beijing"])),
                ("member".into(), strings(&[dn.as_str()])),
                ("objectClass".into(), strings(&["groupOfNames", "top"])),
                ("owner".into(), strings(&["uid=boss,dc=x"])),
            ]
        );
        let unique = group_layout(|c| {
            c.group_class = GroupClass::GroupOfUniqueNames;
            c.empty_member = Some("cn=nobody,dc=example,dc=com".into());
        });
        let entry = sorted(unique.entry(&dn, "12", "R&D, Beijing", None));
        assert!(entry.contains(&(
            "uniqueMember".into(),
            strings(&["cn=nobody,dc=example,dc=com"])
        )));
        assert!(
            !entry.iter().any(|(a, _)| a == "owner"),
            "no head, no owner"
        );
        assert!(GroupLayout::new(&config()).is_none(), "no groups_base");
    }

    #[test]
    fn group_filters_escape_hostile_values() {
        let layout = group_layout(|_| {});
        assert_eq!(
            layout.key_filter("1)(cn=*"),
            "(&(objectClass=groupOfNames)(businessCategory=1\\29\\28cn=\\2a))"
        );
        assert_eq!(
            layout.member_filter("uid=a\\2cb,dc=x"),
            "(&(objectClass=groupOfNames)(member=uid=a\\5c2cb,dc=x))"
        );
    }
}
