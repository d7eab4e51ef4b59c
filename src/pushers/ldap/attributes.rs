//! The `attributes` table of an LDAP target: what each LDAP attribute holds, and the connector's
//! [`Mapping`] it implies. No IO.
//!
//! A value is a role name (the attribute holds that role, as before mappings existed), `key`,
//! `none`, or a source expression. An expression on a role's home attribute (`mail`, `uid`, …)
//! changes what the role holds; on any other attribute it adds a mapped attribute of that name.

use super::ad::Flavor;
use crate::mapping::{Mapping, MappingError, RoleMapping, ValueRule};
use crate::model::{AttrName, Field};
use std::collections::BTreeMap;
use std::fmt;

/// What an LDAP attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// The upstream key (WeCom userid): stable and unique.
    Key,
    /// A role, or a mapped attribute (`Field::Extra`, by this attribute's configured name).
    Field(Field),
}

impl Holds {
    /// Values every person has, so attributes the schema requires can hold them.
    pub fn always_present(self) -> bool {
        matches!(
            self,
            Holds::Key | Holds::Field(Field::UserName | Field::DisplayName)
        )
    }

    /// The role or mapped attribute, if this holds one.
    pub fn field(self) -> Option<Field> {
        match self {
            Holds::Key => None,
            Holds::Field(field) => Some(field),
        }
    }
}

impl fmt::Display for Holds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holds::Key => f.write_str("key"),
            Holds::Field(Field::Extra(_)) => f.write_str("a mapped expression"),
            Holds::Field(role) => f.write_str(role.as_str()),
        }
    }
}

/// The default mapping. `sn` is required by the `person` schema and upstreams have no reliable
/// surname, so it holds the display name, like `cn`.
pub fn default_attributes() -> BTreeMap<String, String> {
    DEFAULTS
        .iter()
        .map(|(attribute, holds)| ((*attribute).to_owned(), holds.to_string()))
        .collect()
}

const DEFAULTS: [(&str, Holds); 9] = [
    ("uid", Holds::Key),
    ("cn", Holds::Field(Field::DisplayName)),
    ("sn", Holds::Field(Field::DisplayName)),
    ("displayName", Holds::Field(Field::DisplayName)),
    ("mail", Holds::Field(Field::Email)),
    ("mobile", Holds::Field(Field::Mobile)),
    ("title", Holds::Field(Field::Title)),
    ("employeeNumber", Holds::Field(Field::EmployeeNumber)),
    ("departmentNumber", Holds::Field(Field::Department)),
];

/// Active Directory's default mapping: employeeID holds the key, sAMAccountName the userName
/// (under AD's rules), `department` the department's name.
const AD_DEFAULTS: [(&str, Holds); 9] = [
    ("employeeID", Holds::Key),
    ("cn", Holds::Field(Field::DisplayName)),
    ("sAMAccountName", Holds::Field(Field::UserName)),
    ("displayName", Holds::Field(Field::DisplayName)),
    ("mail", Holds::Field(Field::Email)),
    ("mobile", Holds::Field(Field::Mobile)),
    ("title", Holds::Field(Field::Title)),
    ("employeeNumber", Holds::Field(Field::EmployeeNumber)),
    ("department", Holds::Field(Field::Department)),
];

/// Active Directory's homes of the roles.
const AD_HOMES: [(&str, Field); 7] = [
    ("sAMAccountName", Field::UserName),
    ("mail", Field::Email),
    ("displayName", Field::DisplayName),
    ("mobile", Field::Mobile),
    ("title", Field::Title),
    ("employeeNumber", Field::EmployeeNumber),
    ("department", Field::Department),
];

fn defaults(flavor: Flavor) -> &'static [(&'static str, Holds)] {
    match flavor {
        Flavor::Openldap => &DEFAULTS,
        Flavor::ActiveDirectory => &AD_DEFAULTS,
    }
}

fn homes(flavor: Flavor) -> &'static [(&'static str, Field)] {
    match flavor {
        Flavor::Openldap => &HOMES,
        Flavor::ActiveDirectory => &AD_HOMES,
    }
}

/// The rule a flavor imposes on a role's values: AD's on the userName (sAMAccountName).
fn rule(flavor: Flavor, role: Field) -> Option<ValueRule> {
    (flavor == Flavor::ActiveDirectory && role == Field::UserName)
        .then_some(ValueRule::SamAccountName)
}

/// Each role's home: the attribute an expression sets the role through.
const HOMES: [(&str, Field); 7] = [
    ("uid", Field::UserName),
    ("mail", Field::Email),
    ("displayName", Field::DisplayName),
    ("mobile", Field::Mobile),
    ("title", Field::Title),
    ("employeeNumber", Field::EmployeeNumber),
    ("departmentNumber", Field::Department),
];

/// The role whose home this attribute is (names without case, as LDAP compares them).
pub fn home_of(attribute: &str, flavor: Flavor) -> Option<Field> {
    homes(flavor)
        .iter()
        .find(|(home, _)| home.eq_ignore_ascii_case(attribute))
        .map(|(_, role)| *role)
}

/// A value that names what the attribute holds rather than an expression: `key` or a role name.
fn bare(value: &str) -> Option<Holds> {
    match value {
        "key" => Some(Holds::Key),
        _ => Field::role(value).map(Holds::Field),
    }
}

/// The `attributes` table read: every written attribute with what it holds (sorted by name
/// without case), and the mapping the planner evaluates.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub attributes: Vec<(String, Holds)>,
    pub mapping: Mapping,
}

impl Resolved {
    /// What `attribute` holds, if it is written.
    pub fn holds(&self, attribute: &str) -> Option<Holds> {
        self.attributes
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(attribute))
            .map(|(_, holds)| *holds)
    }
}

/// Reads `configured` (the target's `attributes`) over the defaults.
pub fn resolve(
    configured: &BTreeMap<String, String>,
    flavor: Flavor,
) -> Result<Resolved, MappingError> {
    let mut mapping = Mapping::default();
    let mut attributes: Vec<(String, Holds)> = defaults(flavor)
        .iter()
        .map(|(a, holds)| ((*a).to_owned(), *holds))
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    for (attribute, value) in configured {
        let error = |detail: String| MappingError {
            key: attribute.clone(),
            detail,
        };
        check_attribute_name(attribute).map_err(error)?;
        if let Some(other) = seen.iter().find(|a| a.eq_ignore_ascii_case(attribute)) {
            return Err(error(format!(
                "names the same LDAP attribute as attributes.{other:?} (names are \
                 case-insensitive); keep one of them"
            )));
        }
        seen.push(attribute);
        if attribute.eq_ignore_ascii_case("objectClass") {
            return Err(error(
                "orgsync writes objectClass from object_classes; it cannot be mapped".into(),
            ));
        }
        attributes.retain(|(a, _)| !a.eq_ignore_ascii_case(attribute));
        let value = value.trim();
        if value == "none" {
            continue;
        }
        let holds = match (bare(value), home_of(attribute, flavor)) {
            (Some(holds), _) => holds,
            (None, Some(role)) => {
                mapping.set_with(attribute, role, value, rule(flavor, role))?;
                Holds::Field(role)
            }
            (None, None) => {
                if Field::role(attribute).is_some() {
                    // An extra must not share a role's name: the snapshot stores attributes by
                    // name, and the name would read back as the role.
                    return Err(error(format!(
                        "{attribute:?} is also the name of orgsync's {attribute} role; spell the \
                         LDAP attribute with a capital (LDAP names are case-insensitive)"
                    )));
                }
                let field = Field::Extra(AttrName::new(attribute));
                mapping.set(attribute, field, value)?;
                Holds::Field(field)
            }
        };
        attributes.push((attribute.clone(), holds));
    }
    // A role no attribute holds any more is neither written nor compared. userName stays: the
    // planner needs it whether or not an attribute holds it (the default holds none).
    for &(home, role) in homes(flavor) {
        if role == Field::UserName
            || attributes
                .iter()
                .any(|(_, holds)| *holds == Holds::Field(role))
        {
            continue;
        }
        let key = configured
            .keys()
            .find(|a| a.eq_ignore_ascii_case(home))
            .map_or(home, String::as_str);
        mapping.set(key, role, "none")?;
    }
    // Active Directory's rules hold whatever the userName comes from.
    if let Some(rule) = rule(flavor, Field::UserName)
        && *mapping.role(Field::UserName) == RoleMapping::Default
    {
        mapping.set_with("sAMAccountName", Field::UserName, "user_name", Some(rule))?;
    }
    attributes.sort_by_key(|(a, _)| a.to_ascii_lowercase());
    Ok(Resolved {
        attributes,
        mapping,
    })
}

/// RFC 4512 `descr`: a letter, then letters, digits and hyphens (OIDs are not accepted).
pub fn check_attribute_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!("{name:?} is not an LDAP attribute name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretRef;
    use crate::mapping::RoleMapping;
    use crate::pushers::ldap::{Deactivation, LdapTargetConfig};

    fn config(table: &[(&str, &str)]) -> LdapTargetConfig {
        let mut config = LdapTargetConfig::new(
            "ldap://127.0.0.1".parse().unwrap(),
            "cn=admin,dc=example,dc=com",
            SecretRef::Env("X".into()),
            "ou=people,dc=example,dc=com",
        );
        for (attribute, value) in table {
            config
                .attributes
                .insert((*attribute).to_owned(), (*value).to_owned());
        }
        config
    }

    fn resolved(table: &[(&str, &str)]) -> Resolved {
        let config = config(table);
        config
            .validate()
            .unwrap_or_else(|e| panic!("{table:?}: {e}"));
        resolve(&config.attributes, Flavor::Openldap).unwrap()
    }

    fn refused(config: LdapTargetConfig, needles: &[&str]) {
        let error = config.validate().expect_err(needles[0]);
        for needle in needles {
            assert!(error.contains(needle), "{error}\nlacks {needle}");
        }
    }

    #[test]
    fn an_expression_on_a_home_sets_its_role() {
        let r = resolved(&[("MAIL", "{enterprise_email|or:{email}|lower}")]);
        assert_eq!(r.holds("mail"), Some(Holds::Field(Field::Email)));
        assert!(matches!(
            r.mapping.role(Field::Email),
            RoleMapping::Mapped { text, .. } if text == "{enterprise_email|or:{email}|lower}"
        ));
        assert_eq!(r.mapping.key(Field::Email), Some("MAIL"));
        assert_eq!(r.mapping.role(Field::Title), &RoleMapping::Default);
        assert!(r.mapping.extras().is_empty());
    }

    #[test]
    fn an_expression_elsewhere_is_a_mapped_attribute_by_its_name() {
        let r = resolved(&[
            ("l", "work_place"),
            ("preferredLanguage", "{'zh-CN'}"),
            ("carLicense", "custom.车牌"),
            ("st", "title"),
        ]);
        let l = Field::named("l");
        assert_eq!(r.holds("L"), Some(Holds::Field(l)));
        assert_eq!(
            r.holds("st"),
            Some(Holds::Field(Field::Title)),
            "a role name"
        );
        let extras: Vec<&str> = r.mapping.extras().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(extras, ["carLicense", "l", "preferredLanguage"]);
        assert!(r.mapping.manages(l));
        assert_eq!(
            r.mapping.custom_fields().into_iter().collect::<Vec<_>>(),
            ["车牌"]
        );
        let names: Vec<&str> = r.attributes.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "carLicense",
                "cn",
                "departmentNumber",
                "displayName",
                "employeeNumber",
                "l",
                "mail",
                "mobile",
                "preferredLanguage",
                "sn",
                "st",
                "title",
                "uid"
            ]
        );
    }

    #[test]
    fn none_on_a_home_leaves_its_role_alone_unless_another_attribute_holds_it() {
        let r = resolved(&[("mobile", "none"), ("displayName", "none")]);
        assert_eq!(r.holds("mobile"), None);
        assert_eq!(r.mapping.role(Field::Mobile), &RoleMapping::None);
        assert!(!r.mapping.manages(Field::Mobile));
        assert_eq!(r.mapping.key(Field::Mobile), Some("mobile"));
        assert_eq!(r.holds("displayName"), None);
        assert_eq!(
            r.mapping.role(Field::DisplayName),
            &RoleMapping::Default,
            "cn and sn still hold it"
        );
        let moved = resolved(&[("title", "none"), ("businessTitle", "title")]);
        assert_eq!(moved.mapping.role(Field::Title), &RoleMapping::Default);
        let reused = resolved(&[("employeeNumber", "key")]);
        assert_eq!(
            reused.mapping.role(Field::EmployeeNumber),
            &RoleMapping::None,
            "no attribute holds the employee number any more"
        );
    }

    #[test]
    fn the_username_from_an_expression_needs_another_key_attribute() {
        refused(
            config(&[("uid", "{name|pinyin}")]),
            &[
                "key_attribute uid must be mapped to \"key\"",
                "holds user_name",
                "attributes.\"uid\" = \"{name|pinyin}\"",
                "map another attribute to \"key\"",
                "set key_attribute to it",
            ],
        );
        let mut fixed = config(&[("uid", "{name|pinyin}"), ("employeeNumber", "key")]);
        fixed.key_attribute = "employeeNumber".into();
        fixed.validate().unwrap();
        let mapping = fixed.attribute_mapping().unwrap();
        assert!(matches!(
            mapping.role(Field::UserName),
            RoleMapping::Mapped { text, .. } if text == "{name|pinyin}"
        ));
        assert_eq!(mapping.key(Field::UserName), Some("uid"));
    }

    #[test]
    fn existing_configs_keep_their_meaning() {
        let config: LdapTargetConfig = toml::from_str(
            r#"
            url = "ldap://x"
            bind_dn = "cn=a,dc=x"
            bind_password = "env:P"
            base_dn = "ou=people,dc=x"
            key_attribute = "employeeNumber"
            [attributes]
            givenName = "display_name"
            mobile = "none"
            employeeNumber = "key"
            uid = "user_name"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let r = config.resolve().unwrap();
        assert_eq!(r.holds("uid"), Some(Holds::Field(Field::UserName)));
        assert_eq!(r.holds("employeeNumber"), Some(Holds::Key));
        assert_eq!(r.mapping.role(Field::UserName), &RoleMapping::Default);
        assert!(r.mapping.extras().is_empty());
        assert!(
            resolve(&default_attributes(), Flavor::Openldap)
                .unwrap()
                .mapping
                .is_default(),
            "the defaults written out are the default mapping"
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (table, needles) in [
            (
                [("l", "{name|shout}")],
                &["attributes.\"l\": ", "shout"][..],
            ),
            ([("mail", "")], &["attributes.\"mail\": ", "is empty"]),
            (
                [("email", "custom.x")],
                &["attributes.\"email\": ", "capital"],
            ),
            (
                [("objectclass", "title")],
                &["attributes.\"objectclass\": ", "object_classes"],
            ),
            (
                [("x y", "title")],
                &["attributes.\"x y\": ", "not an LDAP attribute name"],
            ),
            (
                [("cn", "{name} ({english_name})")],
                &["cn is required", "attributes.\"cn\" = ", "give displayName"],
            ),
            (
                [("employeeType", "custom.类型")],
                &[
                    "deactivation.attribute employeeType is already mapped",
                    "attributes.\"employeeType\"",
                ],
            ),
            (
                [("manager", "{'x'}")],
                &["manager_attribute manager", "attributes.\"manager\""],
            ),
        ] {
            refused(config(&table), needles);
        }
        refused(
            config(&[("l", "title"), ("L", "mobile")]),
            &[
                "attributes.\"l\": ",
                "same LDAP attribute as attributes.\"L\"",
            ],
        );
        let mut rdn = config(&[("givenName", "{english_name}")]);
        rdn.rdn_attribute = "givenName".into();
        refused(
            rdn,
            &["rdn_attribute givenName", "holds a mapped expression"],
        );
        let mut moved = config(&[("employeeType", "custom.类型")]);
        moved.deactivation = Deactivation::Move {
            ou: "ou=disabled,dc=example,dc=com".into(),
        };
        moved.validate().unwrap();
    }
}
