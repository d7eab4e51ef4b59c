//! The Active Directory part of an LDAP target's configuration.

use serde::Deserialize;

/// What kind of directory server the LDAP target is: it fixes the defaults (object classes,
/// naming and key attributes, how a leaver looks) and the account rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// OpenLDAP and other RFC 4519 servers: `inetOrgPerson` entries named by `uid`.
    #[default]
    Openldap,
    /// Microsoft Active Directory (and Samba's AD domain controller): `user` objects named by
    /// `cn`, sAMAccountName and userPrincipalName, userAccountControl, security groups.
    ActiveDirectory,
}

/// `[connectors.NAME.target.active_directory]`: only with `flavor = "active_directory"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdSettings {
    /// The part after `@` of userPrincipalName. Default: the DNS name of base_dn's domain
    /// (`DC=example,DC=com` → `example.com`).
    #[serde(default)]
    pub upn_suffix: Option<String>,
    /// The part before `@`.
    #[serde(default)]
    pub upn_from: UpnFrom,
    #[serde(default)]
    pub new_accounts: NewAccounts,
}

/// What goes before the `@` of userPrincipalName.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpnFrom {
    /// The sAMAccountName: `zhangsan@example.com` (follows its changes).
    #[default]
    SamAccountName,
    /// The upstream key, which never changes.
    Key,
}

/// How orgsync creates an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewAccounts {
    /// Disabled and without a password (userAccountControl 514): an administrator sets the
    /// password and enables the account. orgsync never enables an account that has no password.
    #[default]
    Disabled,
    /// Enabled, with a random password orgsync generates and delivers nowhere, and
    /// `pwdLastSet = 0`: the person gets a password through the helpdesk or self-service reset
    /// and must change it at first logon. Needs TLS (ldaps:// or StartTLS) and the right to
    /// reset passwords.
    EnabledWithPassword,
}

/// The DNS domain of a DN's `DC=` components: `OU=People,DC=example,DC=com` → `example.com`.
pub fn dns_domain(dn: &str) -> Option<String> {
    let labels: Vec<String> = dn
        .split(',')
        .filter_map(|part| {
            let (attribute, value) = part.split_once('=')?;
            attribute
                .trim()
                .eq_ignore_ascii_case("dc")
                .then(|| value.trim().to_ascii_lowercase())
        })
        .collect();
    (!labels.is_empty()).then(|| labels.join("."))
}

impl AdSettings {
    /// The userPrincipalName suffix, from the setting or base_dn.
    pub fn suffix(&self, base_dn: &str) -> Option<String> {
        self.upn_suffix.clone().or_else(|| dns_domain(base_dn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upn_suffix_defaults_to_the_domain_of_the_base() {
        let cases = [
            ("OU=People,DC=example,DC=com", Some("example.com")),
            ("ou=x, dc=Corp , dc=Example,dc=cn", Some("corp.example.cn")),
            ("OU=People,O=Example", None),
        ];
        for (dn, expected) in cases {
            assert_eq!(dns_domain(dn).as_deref(), expected, "{dn}");
        }
        let set = AdSettings {
            upn_suffix: Some("corp.example".into()),
            ..AdSettings::default()
        };
        assert_eq!(set.suffix("DC=x").as_deref(), Some("corp.example"));
    }
}
