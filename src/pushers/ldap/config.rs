use super::ad::{AdSettings, Flavor, NewAccounts};
use super::attributes::{Holds, Resolved, check_attribute_name, resolve};
use crate::config::{HumanDuration, RetryConfig, SecretRef};
use crate::mapping::{Mapping, MappingError};
use crate::model::Field;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.target]` with `kind = "ldap"`: people as `inetOrgPerson` entries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapTargetConfig {
    /// `ldap://host[:389]` or `ldaps://host[:636]`.
    pub url: Url,
    /// `openldap` (the default) or `active_directory`, which changes the defaults below and
    /// adds AD's account rules (ad/).
    #[serde(default)]
    pub flavor: Flavor,
    /// Active Directory's settings (`flavor = "active_directory"` only).
    #[serde(default)]
    pub active_directory: Option<AdSettings>,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// Certificate verification for `ldaps://` and StartTLS. Turning it off is possible only
    /// here, explicitly, and orgsync warns about it at every start.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// PEM file of the CA certificates that sign the server's certificate (an internal CA),
    /// trusted instead of the system store, like `TLS_CACERT` in ldap.conf.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub bind_password: SecretRef,
    /// Where people live, e.g. `ou=people,dc=example,dc=com`. It must exist.
    pub base_dn: String,
    /// The attribute that names each entry (its RDN). Its source must be `key` or `user_name`:
    /// values that can collide (display names) would make two people fight over one DN.
    #[serde(default = "default_uid")]
    pub rdn_attribute: String,
    /// The attribute holding the upstream key: how a rerun finds an entry it created before,
    /// and the `external_id` of listed accounts. It must be mapped to `key`.
    #[serde(default = "default_uid")]
    pub key_attribute: String,
    /// Object classes of a new entry; the last one is the structural class searched for.
    #[serde(default = "default_object_classes")]
    pub object_classes: Vec<String>,
    /// LDAP attribute → what it holds: a role name (`key`, `user_name`, `display_name`, …), a
    /// source expression, or `"none"` to stop writing it. Merged over the defaults (see
    /// [`default_attributes`](super::default_attributes) and attributes.rs for the rules).
    #[serde(default, deserialize_with = "crate::mapping::table")]
    pub attributes: BTreeMap<String, String>,
    /// Holds the manager's DN.
    #[serde(default = "default_manager_attribute")]
    pub manager_attribute: String,
    /// One `ou=<department name>` under `base_dn` per main department, created on demand; a
    /// department change moves the entry (modrdn with newSuperior).
    #[serde(default)]
    pub department_ous: bool,
    #[serde(default)]
    pub deactivation: Deactivation,
    /// Per operation, and for connecting.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Operations in flight at once (multiplexed over one connection).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Entries per page when listing (paged results control, RFC 2696).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Retries when the server is busy or unavailable (51, 52) or an operation times out.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Where department groups live, e.g. `ou=groups,dc=example,dc=com`; it must exist.
    /// Required when the connector's `[groups]` are enabled.
    #[serde(default)]
    pub groups_base: Option<String>,
    /// The structural class of a group, which fixes its member attribute.
    #[serde(default)]
    pub group_class: GroupClass,
    /// Holds the department id on the group, how a rerun (or a renamed department) finds it.
    /// `businessCategory` by default: both group classes allow it in the core schema, and unlike
    /// `description`, `ou` or `o`, which admins and directory tools fill with names and notes,
    /// nothing else writes it on a group.
    #[serde(default = "default_group_key_attribute")]
    pub group_key_attribute: String,
    /// The member of a group with nobody in it (both classes require one member). None: the
    /// group's own DN, which needs no extra entry and grants nothing to anyone.
    #[serde(default)]
    pub empty_member: Option<String>,
}

/// The structural class of department groups (RFC 4519).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum GroupClass {
    /// Members in `member`.
    #[default]
    #[serde(rename = "groupOfNames")]
    GroupOfNames,
    /// Members in `uniqueMember`.
    #[serde(rename = "groupOfUniqueNames")]
    GroupOfUniqueNames,
    /// Active Directory's global security group (the only class there): members in `member`.
    #[serde(rename = "group")]
    Group,
}

impl GroupClass {
    pub fn name(self) -> &'static str {
        match self {
            GroupClass::GroupOfNames => "groupOfNames",
            GroupClass::GroupOfUniqueNames => "groupOfUniqueNames",
            GroupClass::Group => "group",
        }
    }

    pub fn member_attribute(self) -> &'static str {
        match self {
            GroupClass::GroupOfNames | GroupClass::Group => "member",
            GroupClass::GroupOfUniqueNames => "uniqueMember",
        }
    }
}

/// How a deactivated person looks in the directory. Reactivation reverses it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Deactivation {
    /// Move the entry under this OU (which must exist); the DN changes.
    Move { ou: String },
    /// Add `value` to `attribute` (e.g. `employeeType: disabled`); other values are kept.
    Attribute { attribute: String, value: String },
    /// Active Directory: set ACCOUNTDISABLE in userAccountControl (the default there). The
    /// move mode sets it too: a moved leaver must not log on either.
    Disable,
}

impl Default for Deactivation {
    fn default() -> Self {
        Deactivation::Attribute {
            attribute: "employeeType".into(),
            value: "disabled".into(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_uid() -> String {
    "uid".into()
}

fn default_manager_attribute() -> String {
    "manager".into()
}

fn default_object_classes() -> Vec<String> {
    ["top", "person", "organizationalPerson", "inetOrgPerson"]
        .map(str::to_owned)
        .to_vec()
}

fn default_group_key_attribute() -> String {
    "businessCategory".into()
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_concurrency() -> usize {
    4
}

fn default_page_size() -> usize {
    500
}

impl LdapTargetConfig {
    pub fn new(url: Url, bind_dn: &str, bind_password: SecretRef, base_dn: &str) -> Self {
        LdapTargetConfig {
            url,
            flavor: Flavor::default(),
            active_directory: None,
            starttls: false,
            tls_verify: true,
            tls_ca_file: None,
            bind_dn: bind_dn.to_owned(),
            bind_password,
            base_dn: base_dn.to_owned(),
            rdn_attribute: default_uid(),
            key_attribute: default_uid(),
            object_classes: default_object_classes(),
            attributes: BTreeMap::new(),
            manager_attribute: default_manager_attribute(),
            department_ous: false,
            deactivation: Deactivation::default(),
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            page_size: default_page_size(),
            retry: RetryConfig::default(),
            groups_base: None,
            group_class: GroupClass::default(),
            group_key_attribute: default_group_key_attribute(),
            empty_member: None,
        }
    }

    /// What the connector's `[groups]` section needs from this target: a place for the groups.
    pub fn validate_groups(&self, enabled: bool) -> Result<(), String> {
        if enabled && self.groups_base.is_none() {
            return Err(missing_groups_base());
        }
        Ok(())
    }

    /// The `attributes` table read over the flavor's defaults.
    pub(super) fn resolve(&self) -> Result<Resolved, MappingError> {
        resolve(&self.attributes, self.flavor)
    }

    /// The `attributes` table as the connector's [`Mapping`].
    pub fn attribute_mapping(&self) -> Result<Mapping, MappingError> {
        Ok(self.effective().resolve()?.mapping)
    }

    /// Active Directory's settings (their defaults when the table is absent).
    pub fn ad_settings(&self) -> Option<Cow<'_, AdSettings>> {
        (self.flavor == Flavor::ActiveDirectory).then(|| match &self.active_directory {
            Some(settings) => Cow::Borrowed(settings),
            None => Cow::Owned(AdSettings::default()),
        })
    }

    /// The configuration with the flavor's defaults in place of OpenLDAP's: in Active Directory
    /// people are `user` objects named by `cn`, found by `employeeID`, disabled by
    /// userAccountControl, and groups are security groups. Keys left at OpenLDAP's default take
    /// AD's.
    pub fn effective(&self) -> Cow<'_, LdapTargetConfig> {
        if self.flavor != Flavor::ActiveDirectory {
            return Cow::Borrowed(self);
        }
        let mut c = self.clone();
        if c.rdn_attribute == default_uid() {
            c.rdn_attribute = "cn".into();
        }
        if c.key_attribute == default_uid() {
            c.key_attribute = "employeeID".into();
        }
        if c.object_classes == default_object_classes() {
            c.object_classes = ["top", "person", "organizationalPerson", "user"]
                .map(str::to_owned)
                .to_vec();
        }
        if c.deactivation == Deactivation::default() {
            c.deactivation = Deactivation::Disable;
        }
        if c.group_class == GroupClass::default() {
            c.group_class = GroupClass::Group;
        }
        // AD's group class has no businessCategory; adminDescription (on every object) is what
        // directory tools leave alone.
        if c.group_key_attribute == default_group_key_attribute() {
            c.group_key_attribute = "adminDescription".into();
        }
        Cow::Owned(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.effective().validate_effective()
    }

    /// What Active Directory needs beyond the common checks.
    fn validate_ad(&self, resolved: &Resolved) -> Result<(), String> {
        let Some(settings) = self.ad_settings() else {
            if self.active_directory.is_some() {
                return Err(
                    "[active_directory] settings need flavor = \"active_directory\"".into(),
                );
            }
            if self.deactivation == Deactivation::Disable || self.group_class == GroupClass::Group {
                return Err(
                    "deactivation mode \"disable\" and group_class \"group\" are Active \
                     Directory's: set flavor = \"active_directory\""
                        .into(),
                );
            }
            return Ok(());
        };
        let fixed = |what: &str, value: &str, wanted: &str| -> Result<(), String> {
            if value.eq_ignore_ascii_case(wanted) {
                Ok(())
            } else {
                Err(format!(
                    "{what} is {wanted} in Active Directory (it is {value:?} here): leave it out"
                ))
            }
        };
        fixed("rdn_attribute", &self.rdn_attribute, "cn")?;
        fixed(
            "object_classes' last (structural) class",
            self.object_classes.last().map_or("", String::as_str),
            "user",
        )?;
        fixed("group_class", self.group_class.name(), "group")?;
        if let Deactivation::Attribute { .. } = self.deactivation {
            return Err(
                "in Active Directory a leaver is disabled (deactivation = { mode = \"disable\" }, \
                 the default) or disabled and moved (deactivation = { mode = \"move\", ou = \"…\" })"
                    .into(),
            );
        }
        if resolved.holds("sAMAccountName") != Some(Holds::Field(Field::UserName)) {
            return Err(
                "sAMAccountName holds the userName in Active Directory: give it an expression \
                 (e.g. sAMAccountName = \"{name|pinyin}\"), not another role or none"
                    .into(),
            );
        }
        if resolved.holds("cn") != Some(Holds::Field(Field::DisplayName)) {
            return Err(
                "cn names the entry and holds the display name in Active Directory; map \
                 displayName instead"
                    .into(),
            );
        }
        if resolved.holds("userPrincipalName").is_some() {
            return Err(
                "userPrincipalName is written by orgsync from [active_directory] upn_from and \
                 upn_suffix; remove it from attributes"
                    .into(),
            );
        }
        match settings.suffix(&self.base_dn) {
            Some(suffix) if !suffix.is_empty() && !suffix.contains(['@', ' ']) => {}
            Some(suffix) => {
                return Err(format!(
                    "active_directory.upn_suffix {suffix:?} is not a DNS domain name"
                ));
            }
            None => {
                return Err(
                    "base_dn has no DC= components: set active_directory.upn_suffix (e.g. \
                     \"example.com\")"
                        .into(),
                );
            }
        }
        let tls = self.url.scheme() == "ldaps" || self.starttls;
        if settings.new_accounts == NewAccounts::EnabledWithPassword && !tls {
            return Err(
                "active_directory.new_accounts = \"enabled_with_password\" sets passwords, which \
                 Active Directory accepts only over TLS: use an ldaps:// URL or starttls = true"
                    .into(),
            );
        }
        Ok(())
    }

    fn validate_effective(&self) -> Result<(), String> {
        match self.url.scheme() {
            "ldap" => {}
            "ldaps" if self.starttls => {
                return Err("starttls is for ldap:// URLs; ldaps:// is TLS already".into());
            }
            "ldaps" => {}
            other => return Err(format!("url scheme {other:?} is not ldap or ldaps")),
        }
        if self.tls_ca_file.is_some() {
            if self.url.scheme() == "ldap" && !self.starttls {
                return Err(
                    "tls_ca_file is for TLS: use an ldaps:// URL or starttls = true".into(),
                );
            }
            if !self.tls_verify {
                return Err("tls_ca_file and tls_verify = false contradict each other".into());
            }
        }
        if self.url.host_str().is_none_or(str::is_empty) {
            return Err("url names no host".into());
        }
        for (name, dn) in [("bind_dn", &self.bind_dn), ("base_dn", &self.base_dn)] {
            super::dn::split(dn).map_err(|e| format!("{name}: {e}"))?;
        }
        for name in [
            &self.rdn_attribute,
            &self.key_attribute,
            &self.manager_attribute,
        ] {
            check_attribute_name(name)?;
        }
        let resolved = self.resolve().map_err(|e| e.to_string())?;
        self.validate_ad(&resolved)?;
        self.validate_layout(&resolved)?;
        if self.object_classes.is_empty() {
            return Err("object_classes is empty".into());
        }
        match &self.deactivation {
            Deactivation::Move { ou } => {
                super::dn::split(ou).map_err(|e| format!("deactivation.ou: {e}"))?;
                if super::dn::same(ou, &self.base_dn) {
                    return Err("deactivation.ou must differ from base_dn".into());
                }
            }
            Deactivation::Disable => {}
            Deactivation::Attribute { attribute, value } => {
                check_attribute_name(attribute)?;
                if value.is_empty() {
                    return Err("deactivation.value is empty".into());
                }
                if resolved.holds(attribute).is_some()
                    || attribute.eq_ignore_ascii_case(&self.manager_attribute)
                {
                    return Err(format!(
                        "deactivation.attribute {attribute} is already mapped{}; pick another \
                         (or deactivation = {{ mode = \"move\", ou = \"…\" }})",
                        self.blame(attribute)
                    ));
                }
            }
        }
        if self.concurrency == 0 || self.page_size == 0 {
            return Err("concurrency and page_size must be at least 1".into());
        }
        if self.page_size > i32::MAX as usize {
            return Err("page_size is too large".into());
        }
        self.validate_group_layout()
    }

    /// What the attributes must hold for entries to be found, named and accepted by the schema.
    fn validate_layout(&self, resolved: &Resolved) -> Result<(), String> {
        let holds = |attribute: &str| resolved.holds(attribute);
        let what = |attribute: &str| {
            holds(attribute).map_or_else(|| "nothing".to_owned(), |h| h.to_string())
        };
        if holds(&self.key_attribute) != Some(Holds::Key) {
            return Err(format!(
                "key_attribute {key} must be mapped to \"key\" in attributes, but it holds \
                 {what}{blame}: map another attribute to \"key\" (e.g. employeeNumber = \"key\") \
                 and set key_attribute to it",
                key = self.key_attribute,
                what = what(&self.key_attribute),
                blame = self.blame(&self.key_attribute),
            ));
        }
        // Active Directory's cn holds the display name: the pusher gives a namesake in the same
        // OU a distinct one.
        let ad = self.flavor == Flavor::ActiveDirectory;
        if !ad
            && !matches!(
                holds(&self.rdn_attribute),
                Some(Holds::Key | Holds::Field(Field::UserName))
            )
        {
            return Err(format!(
                "rdn_attribute {rdn} must be mapped to \"key\" or \"user_name\" (values that \
                 cannot collide), but it holds {what}{blame}",
                rdn = self.rdn_attribute,
                what = what(&self.rdn_attribute),
                blame = self.blame(&self.rdn_attribute),
            ));
        }
        let required: &[&str] = if ad { &["cn"] } else { &["cn", "sn"] };
        for &required in required {
            if !holds(required).is_some_and(Holds::always_present) {
                return Err(format!(
                    "{required} is required by the person schema: map it to key, user_name or \
                     display_name{blame} (to compose a name, give displayName the expression: cn \
                     and sn hold the display name)",
                    blame = self.blame(required),
                ));
            }
        }
        if holds(&self.manager_attribute).is_some() {
            return Err(format!(
                "manager_attribute {manager} must not also be in attributes{blame}",
                manager = self.manager_attribute,
                blame = self.blame(&self.manager_attribute),
            ));
        }
        if self.department_ous
            && !resolved
                .attributes
                .iter()
                .any(|(_, h)| *h == Holds::Field(Field::Department))
        {
            return Err(
                "department_ous needs an attribute mapped to \"department\" (reactivation reads it)"
                    .into(),
            );
        }
        Ok(())
    }

    /// ` (attributes."X" = "…")` when the configuration sets `attribute`, for errors.
    fn blame(&self, attribute: &str) -> String {
        self.attributes
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(attribute))
            .map(|(a, v)| format!(" (attributes.{a:?} = {v:?})"))
            .unwrap_or_default()
    }

    fn validate_group_layout(&self) -> Result<(), String> {
        if let Some(base) = &self.groups_base {
            super::dn::split(base).map_err(|e| format!("groups_base: {e}"))?;
        }
        check_attribute_name(&self.group_key_attribute)?;
        let taken = [
            "objectClass",
            "cn",
            "owner",
            GroupClass::GroupOfNames.member_attribute(),
            GroupClass::GroupOfUniqueNames.member_attribute(),
        ];
        if taken
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&self.group_key_attribute))
        {
            return Err(format!(
                "group_key_attribute {} is written by orgsync already; pick another (the default \
                 is businessCategory)",
                self.group_key_attribute
            ));
        }
        if let Some(member) = &self.empty_member {
            super::dn::split(member).map_err(|e| format!("empty_member: {e}"))?;
            let people = std::iter::once(self.base_dn.as_str()).chain(match &self.deactivation {
                Deactivation::Move { ou } => Some(ou.as_str()),
                Deactivation::Attribute { .. } | Deactivation::Disable => None,
            });
            for container in people {
                if super::dn::within(member, container) {
                    return Err(format!(
                        "empty_member {member} lies where people live ({container}): a \
                         placeholder must never be a person"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The error for groups enabled on an LDAP target with nowhere to put them.
pub(super) fn missing_groups_base() -> String {
    "groups are enabled for this connector but the LDAP target has no groups_base: set \
     groups_base under [connectors.NAME.target] to the DN groups live under (it must exist), \
     e.g. \"ou=groups,dc=example,dc=com\""
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LdapTargetConfig {
        LdapTargetConfig::new(
            "ldap://127.0.0.1:389".parse().unwrap(),
            "cn=admin,dc=example,dc=com",
            SecretRef::Env("X".into()),
            "ou=people,dc=example,dc=com",
        )
    }

    #[test]
    fn defaults_are_valid() {
        config().validate().unwrap();
        let resolved = config().resolve().unwrap();
        assert_eq!(resolved.holds("sn"), Some(Holds::Field(Field::DisplayName)));
        assert_eq!(resolved.holds("uid"), Some(Holds::Key));
        assert!(resolved.mapping.is_default());
    }

    #[test]
    fn overrides_merge_in_any_case_and_none_drops() {
        let mut c = config();
        c.attributes.insert("MAIL".into(), "none".into());
        c.attributes
            .insert("givenName".into(), "display_name".into());
        let resolved = c.resolve().unwrap();
        assert_eq!(resolved.holds("mail"), None);
        assert_eq!(
            resolved.holds("givenName"),
            Some(Holds::Field(Field::DisplayName))
        );
        c.validate().unwrap();
    }

    #[test]
    fn refuses_unsafe_layouts() {
        let refuse = |edit: &dyn Fn(&mut LdapTargetConfig), needle: &str| {
            let mut c = config();
            edit(&mut c);
            let error = c.validate().expect_err(needle);
            assert!(error.contains(needle), "{error}");
        };
        refuse(&|c| c.rdn_attribute = "cn".into(), "rdn_attribute cn");
        refuse(&|c| c.key_attribute = "mail".into(), "key_attribute mail");
        refuse(
            &|c| {
                c.attributes.insert("sn".into(), "email".into());
            },
            "sn is required",
        );
        refuse(
            &|c| {
                c.attributes.insert("manager".into(), "title".into());
            },
            "manager_attribute",
        );
        refuse(&|c| c.url = "http://x".parse().unwrap(), "scheme");
        refuse(
            &|c| {
                c.url = "ldaps://x".parse().unwrap();
                c.starttls = true;
            },
            "starttls",
        );
        refuse(
            &|c| c.tls_ca_file = Some("/etc/ssl/ca.pem".into()),
            "tls_ca_file is for TLS",
        );
        refuse(
            &|c| {
                c.url = "ldaps://x".parse().unwrap();
                c.tls_ca_file = Some("/etc/ssl/ca.pem".into());
                c.tls_verify = false;
            },
            "contradict",
        );
        refuse(&|c| c.base_dn = "not a dn".into(), "base_dn");
        refuse(
            &|c| {
                c.deactivation = Deactivation::Attribute {
                    attribute: "title".into(),
                    value: "x".into(),
                }
            },
            "already mapped",
        );
        refuse(
            &|c| {
                c.deactivation = Deactivation::Move {
                    ou: "ou=People,dc=example,dc=com".into(),
                }
            },
            "differ",
        );
        refuse(
            &|c| {
                c.attributes.insert("bad name".into(), "title".into());
            },
            "not an LDAP attribute name",
        );
    }

    #[test]
    fn parses_from_toml() {
        let config: LdapTargetConfig = toml::from_str(
            r#"
            url = "ldaps://ldap.example.com"
            bind_dn = "cn=orgsync,dc=example,dc=com"
            bind_password = "env:LDAP_PASSWORD"
            base_dn = "ou=people,dc=example,dc=com"
            deactivation = { mode = "move", ou = "ou=disabled,dc=example,dc=com" }
            attributes = { givenName = "display_name", mobile = "none" }
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.deactivation,
            Deactivation::Move {
                ou: "ou=disabled,dc=example,dc=com".into()
            }
        );
        assert!(
            toml::from_str::<LdapTargetConfig>(
                r#"
                url = "ldap://x"
                bind_dn = "cn=a"
                bind_password = "env:P"
                base_dn = "dc=x"
                deactivation = { mode = "attribute", attribute = "employeeType", value = "x", extra = 1 }
                "#
            )
            .is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn groups_need_a_base_and_a_safe_layout() {
        let mut c = config();
        c.validate_groups(false).unwrap();
        let error = c.validate_groups(true).unwrap_err();
        assert!(error.contains("groups_base"), "{error}");
        c.groups_base = Some("ou=groups,dc=example,dc=com".into());
        c.validate_groups(true).unwrap();
        c.validate().unwrap();
        let refuse = |edit: &dyn Fn(&mut LdapTargetConfig), needle: &str| {
            let mut c = config();
            c.groups_base = Some("ou=groups,dc=example,dc=com".into());
            edit(&mut c);
            let error = c.validate().expect_err(needle);
            assert!(error.contains(needle), "{error}");
        };
        refuse(&|c| c.groups_base = Some("groups".into()), "groups_base");
        refuse(
            &|c| c.group_key_attribute = "Member".into(),
            "written by orgsync",
        );
        refuse(
            &|c| c.group_key_attribute = "x y".into(),
            "not an LDAP attribute name",
        );
        refuse(
            &|c| c.empty_member = Some("uid=nobody,ou=People,dc=example,dc=com".into()),
            "never be a person",
        );
        refuse(
            &|c| {
                c.deactivation = Deactivation::Move {
                    ou: "ou=disabled,dc=example,dc=com".into(),
                };
                c.empty_member = Some("uid=nobody,ou=disabled,dc=example,dc=com".into());
            },
            "never be a person",
        );
        refuse(&|c| c.empty_member = Some("nobody".into()), "empty_member");
    }

    fn ad(extra: &str) -> Result<LdapTargetConfig, String> {
        let config: LdapTargetConfig = toml::from_str(&format!(
            "url = \"ldaps://dc.example.com\"\nflavor = \"active_directory\"\n\
             bind_dn = \"CN=svc,DC=example,DC=com\"\nbind_password = \"env:P\"\n\
             base_dn = \"OU=People,DC=example,DC=com\"\n{extra}"
        ))
        .map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn active_directory_takes_its_own_defaults() {
        let config = ad("").unwrap();
        let effective = config.effective();
        assert_eq!(effective.rdn_attribute, "cn");
        assert_eq!(effective.key_attribute, "employeeID");
        assert_eq!(effective.object_classes.last().unwrap(), "user");
        assert_eq!(effective.deactivation, Deactivation::Disable);
        assert_eq!(effective.group_class, GroupClass::Group);
        let resolved = effective.resolve().unwrap();
        assert_eq!(resolved.holds("employeeID"), Some(Holds::Key));
        assert_eq!(
            resolved.holds("sAMAccountName"),
            Some(Holds::Field(Field::UserName))
        );
        assert_eq!(resolved.holds("uid"), None);
        assert_eq!(resolved.mapping.max_chars(Field::UserName), Some(20));
        assert_eq!(
            config
                .ad_settings()
                .unwrap()
                .suffix(&config.base_dn)
                .as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn active_directory_refuses_what_it_cannot_hold() {
        let cases = [
            ("rdn_attribute = \"sAMAccountName\"", "rdn_attribute is cn"),
            (
                "deactivation = { mode = \"attribute\", attribute = \"info\", value = \"x\" }",
                "disabled",
            ),
            (
                "attributes = { sAMAccountName = \"none\" }",
                "sAMAccountName holds",
            ),
            (
                "attributes = { userPrincipalName = \"email\" }",
                "userPrincipalName",
            ),
            ("group_class = \"groupOfUniqueNames\"", "group_class"),
            (
                "[active_directory]\nupn_suffix = \"a b\"",
                "not a DNS domain",
            ),
            (
                "[active_directory]\nnew_accounts = \"never\"",
                "unknown variant",
            ),
        ];
        for (extra, needle) in cases {
            let error = ad(extra).expect_err(extra);
            assert!(error.contains(needle), "{extra}: {error}");
        }
        let plain = ad("url = \"ldap://dc.example.com\"");
        assert!(plain.is_err(), "url twice");
        let mut config = ad("").unwrap();
        config.url = "ldap://dc.example.com".parse().unwrap();
        config.active_directory = Some(AdSettings {
            new_accounts: NewAccounts::EnabledWithPassword,
            ..AdSettings::default()
        });
        assert!(config.validate().unwrap_err().contains("only over TLS"));
        config.flavor = Flavor::Openldap;
        assert!(config.validate().unwrap_err().contains("need flavor"));
        config.base_dn = "OU=People,O=Example".into();
        config.flavor = Flavor::ActiveDirectory;
        config.url = "ldaps://dc.example.com".parse().unwrap();
        assert!(config.validate().unwrap_err().contains("upn_suffix"));
    }

    #[test]
    fn group_settings_parse_from_toml() {
        let config: LdapTargetConfig = toml::from_str(
            r#"
            url = "ldap://x"
            bind_dn = "cn=a"
            bind_password = "env:P"
            base_dn = "ou=people,dc=x"
            groups_base = "ou=groups,dc=x"
            group_class = "groupOfUniqueNames"
            group_key_attribute = "description"
            empty_member = "cn=nobody,dc=x"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.group_class, GroupClass::GroupOfUniqueNames);
        assert_eq!(config.group_class.member_attribute(), "uniqueMember");
        assert!(
            toml::from_str::<LdapTargetConfig>(
                r#"
                url = "ldap://x"
                bind_dn = "cn=a"
                bind_password = "env:P"
                base_dn = "dc=x"
                group_class = "posixGroup"
                "#
            )
            .is_err(),
            "only the two classes"
        );
    }
}
