//! `[target.attributes]` of a SCIM target: each key is a SCIM attribute path (RFC 7644 §3.10),
//! parsed once into the place its value goes in a User resource.
//!
//! The paths accepted are the subset of `attrPath` / `valuePath` that names one string: `attr`,
//! `attr.sub`, either of them qualified by a schema URN (`urn:…:User:attr`, the URN being
//! everything up to the last `:`), and one typed entry of a multi-valued core attribute,
//! `multi[type eq "x"].value`. Attribute names are case-insensitive (RFC 7643 §2.1).

use super::wire::{ENTERPRISE_SCHEMA, USER_SCHEMA};
use crate::mapping::{Mapping, MappingError};
use crate::model::Field;
use std::collections::BTreeMap;

/// Where one mapped value lives in a User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ScimPath {
    /// A single-valued attribute, or a sub-attribute of a complex one: of the core schema
    /// (`schema: None`), or of an extension, whose object sits under its URN.
    Attribute {
        schema: Option<String>,
        name: String,
        sub: Option<String>,
    },
    /// The `value` of the entry of a multi-valued core attribute (`emails`, `phoneNumbers`, …)
    /// whose `type` is `kind`.
    Entry { attr: String, kind: String },
}

/// Core attributes orgsync writes itself, or that the service provider owns.
const OWNED: [&str; 6] = ["id", "externalId", "active", "schemas", "meta", "groups"];

/// The multi-valued attributes of the core User schema (RFC 7643 §4.1.2).
const MULTI_VALUED: [&str; 8] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];

impl ScimPath {
    /// Parses a configuration key; the error says what is wrong, without the key.
    pub(super) fn parse(key: &str) -> Result<ScimPath, String> {
        let key = key.trim();
        // The URN ends at the last ':' before any filter (a filter's literal may hold ':').
        let head_end = key.find('[').unwrap_or(key.len());
        let (schema, rest) = match key[..head_end].rfind(':') {
            Some(at) => {
                let urn = &key[..at];
                if !urn.to_ascii_lowercase().starts_with("urn:") {
                    return Err(format!(
                        "{urn:?} is not a schema URN: a qualified path is `urn:…:attribute`"
                    ));
                }
                let schema = if urn.eq_ignore_ascii_case(USER_SCHEMA) {
                    None
                } else if urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
                    Some(ENTERPRISE_SCHEMA.to_owned())
                } else {
                    Some(urn.to_owned())
                };
                (schema, &key[at + 1..])
            }
            None => (None, key),
        };
        let path = match rest.split_once('[') {
            Some((attr, filtered)) => {
                check_name(attr)?;
                if schema.is_some() {
                    return Err(
                        "a [type eq \"…\"] filter is supported on core attributes only".into(),
                    );
                }
                let kind = parse_type_filter(filtered)?;
                ScimPath::Entry {
                    attr: canonical(attr, &MULTI_VALUED).to_owned(),
                    kind,
                }
            }
            None => {
                let (name, sub) = match rest.split_once('.') {
                    Some((name, sub)) => (name, Some(sub)),
                    None => (rest, None),
                };
                check_name(name)?;
                if let Some(sub) = sub {
                    check_name(sub)?;
                }
                ScimPath::Attribute {
                    schema,
                    name: name.to_owned(),
                    sub: sub.map(str::to_owned),
                }
            }
        };
        path.check_writable()?;
        Ok(path)
    }

    /// Refuses what orgsync or the service provider owns, and what is not one string.
    fn check_writable(&self) -> Result<(), String> {
        let ScimPath::Attribute { schema, name, sub } = self else {
            return Ok(());
        };
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match schema.as_deref() {
            None => {
                if let Some(owned) = OWNED.iter().find(|o| is(o, name)) {
                    return Err(format!(
                        "{owned} is written by orgsync or the service provider, not mapped"
                    ));
                }
                // `emails` and `phoneNumbers` alone are the homes of the e-mail and the mobile.
                let role_home = is(name, "emails") || is(name, "phoneNumbers");
                if MULTI_VALUED.iter().any(|m| is(m, name)) && (sub.is_some() || !role_home) {
                    return Err(format!(
                        "{name} is multi-valued: select one entry, as in \
                         {name}[type eq \"work\"].value"
                    ));
                }
                if is(name, "name") {
                    match sub.as_deref() {
                        None => {
                            return Err("name is complex: map its sub-attributes, as in \
                                 name.familyName"
                                .into());
                        }
                        Some(s) if is(s, "formatted") => {
                            return Err("name.formatted is written from displayName".into());
                        }
                        Some(_) => {}
                    }
                }
            }
            Some(ENTERPRISE_SCHEMA) if is(name, "manager") => {
                return Err("the enterprise manager is written by orgsync from the \
                            upstream's manager links"
                    .into());
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The path as a PATCH `path` names it (the valuePath form selects the whole entry).
    pub(super) fn patch_path(&self) -> String {
        match self {
            ScimPath::Attribute { schema, name, sub } => {
                let attr = match sub {
                    Some(sub) => format!("{name}.{sub}"),
                    None => name.clone(),
                };
                match schema {
                    Some(urn) => format!("{urn}:{attr}"),
                    None => attr,
                }
            }
            ScimPath::Entry { attr, kind } => {
                format!("{attr}[type eq {}]", super::convert::filter_literal(kind))
            }
        }
    }

    /// The spelling two keys are compared by: names are case-insensitive, and so are the
    /// canonical `type` values.
    fn folded(&self) -> String {
        match self {
            ScimPath::Entry { attr, kind } => format!("{attr}[type eq {kind}].value"),
            ScimPath::Attribute { .. } => self.patch_path(),
        }
        .to_ascii_lowercase()
    }

    /// The role this path is the home of, if any.
    fn role(&self) -> Option<Field> {
        let folded = self.folded();
        let enterprise = |attr: &str| format!("{ENTERPRISE_SCHEMA}:{attr}").to_ascii_lowercase();
        Some(match folded.as_str() {
            "username" => Field::UserName,
            "displayname" => Field::DisplayName,
            "emails" | "emails[type eq work].value" => Field::Email,
            "phonenumbers" | "phonenumbers[type eq mobile].value" => Field::Mobile,
            "title" => Field::Title,
            f if f == enterprise("employeeNumber") => Field::EmployeeNumber,
            f if f == enterprise("department") => Field::Department,
            _ => return None,
        })
    }
}

/// The known spelling of a name, or the name as written.
fn canonical<'a>(name: &'a str, known: &[&'static str]) -> &'a str {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

/// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_alpha = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if starts_alpha && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an attribute name (a letter, then letters, digits, - or _); \
             paths are attr, attr.sub, urn:…:attr or multi[type eq \"x\"].value"
        ))
    }
}

/// `type eq "x"].value`, after the `[`: the one filter a mapping may use.
fn parse_type_filter(filtered: &str) -> Result<String, String> {
    let only = "only a [type eq \"…\"] filter followed by .value selects an entry, as in \
                phoneNumbers[type eq \"work\"].value";
    let (filter, after) = filtered.rsplit_once(']').ok_or(only)?;
    if !after.eq_ignore_ascii_case(".value") {
        return Err(only.into());
    }
    let mut words = filter.trim().splitn(3, ' ');
    let (attr, op, literal) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default().trim(),
    );
    if !attr.eq_ignore_ascii_case("type") || !op.eq_ignore_ascii_case("eq") {
        return Err(only.into());
    }
    match serde_json::from_str::<String>(literal) {
        Ok(kind) if !kind.trim().is_empty() => Ok(kind),
        _ => Err(format!(
            "the type in the filter must be a non-empty quoted string; {only}"
        )),
    }
}

/// The `attributes` table as a [`Mapping`]: a role's home changes what the role holds, any
/// other path adds a mapped attribute of that name.
pub(super) fn attribute_mapping(
    attributes: &BTreeMap<String, String>,
) -> Result<Mapping, MappingError> {
    let mut mapping = Mapping::default();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (key, value) in attributes {
        let error = |detail: String| MappingError {
            key: key.clone(),
            detail,
        };
        let path = ScimPath::parse(key).map_err(error)?;
        if let Some(other) = seen.insert(path.folded(), key) {
            return Err(error(format!(
                "names the same attribute as attributes.{other:?} (SCIM attribute names are \
                 case-insensitive); keep one of them"
            )));
        }
        let field = match path.role() {
            Some(role) => role,
            // A key spelled like a role's own name would be taken for the role.
            None if Field::role(key).is_some() => {
                return Err(error(format!(
                    "{key:?} is not a SCIM attribute of the User schema; map the SCIM \
                     attribute that holds it (docs/scim.md, \"Attribute mapping\")"
                )));
            }
            None => Field::named(key),
        };
        mapping.set(key, field, value)?;
    }
    Ok(mapping)
}

/// The mapped attributes beyond the roles, each with its place in the resource.
#[derive(Debug, Clone, Default)]
pub(super) struct Extras(pub(super) Vec<(Field, ScimPath)>);

impl Extras {
    /// The extras of a mapping already checked by [`attribute_mapping`].
    pub(super) fn of(mapping: &Mapping) -> Extras {
        Extras(
            mapping
                .extras()
                .iter()
                .filter_map(|extra| {
                    let path = ScimPath::parse(extra.name.as_str()).ok()?;
                    Some((Field::Extra(extra.name), path))
                })
                .collect(),
        )
    }

    pub(super) fn path(&self, field: Field) -> Option<&ScimPath> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, p)| p)
    }

    /// True when an extra is an entry of this multi-valued attribute.
    pub(super) fn shares(&self, multi: &str) -> bool {
        self.0.iter().any(
            |(_, p)| matches!(p, ScimPath::Entry { attr, .. } if attr.eq_ignore_ascii_case(multi)),
        )
    }

    /// True when an extra claims entries of this attribute and type.
    pub(super) fn claims(&self, multi: &str, kind: Option<&str>) -> bool {
        self.0.iter().any(|(_, p)| {
            matches!(p, ScimPath::Entry { attr, kind: k }
                if attr.eq_ignore_ascii_case(multi)
                    && kind.is_some_and(|kind| kind.eq_ignore_ascii_case(k)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn attribute(schema: Option<&str>, name: &str, sub: Option<&str>) -> ScimPath {
        ScimPath::Attribute {
            schema: schema.map(str::to_owned),
            name: name.into(),
            sub: sub.map(str::to_owned),
        }
    }

    #[test]
    fn parses_each_path_form() {
        assert_eq!(
            ScimPath::parse("nickName"),
            Ok(attribute(None, "nickName", None))
        );
        assert_eq!(
            ScimPath::parse("name.familyName"),
            Ok(attribute(None, "name", Some("familyName")))
        );
        assert_eq!(
            ScimPath::parse(&format!("{ENT}:costCenter")),
            Ok(attribute(Some(ENT), "costCenter", None))
        );
        assert_eq!(
            ScimPath::parse("URN:IETF:params:scim:schemas:extension:ENTERPRISE:2.0:User:division"),
            Ok(attribute(Some(ENT), "division", None)),
            "a URN is case-insensitive and kept in its canonical spelling"
        );
        assert_eq!(
            ScimPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:nickName"),
            Ok(attribute(None, "nickName", None)),
            "the core schema's URN qualifies core attributes"
        );
        assert_eq!(
            ScimPath::parse("urn:example:acme:2.0:User:badge.level"),
            Ok(attribute(
                Some("urn:example:acme:2.0:User"),
                "badge",
                Some("level")
            ))
        );
        assert_eq!(
            ScimPath::parse(r#"PhoneNumbers[type eq "work"].value"#),
            Ok(ScimPath::Entry {
                attr: "phoneNumbers".into(),
                kind: "work".into()
            })
        );
        assert_eq!(
            ScimPath::parse(r#"emails[TYPE EQ "a:b"].Value"#),
            Ok(ScimPath::Entry {
                attr: "emails".into(),
                kind: "a:b".into()
            }),
            "a ':' inside the filter is no URN"
        );
    }

    #[test]
    fn refuses_bad_syntax_and_owned_attributes() {
        for (key, wanted) in [
            ("", "not an attribute name"),
            ("nick name", "not an attribute name"),
            ("1st", "not an attribute name"),
            ("name.", "not an attribute name"),
            ("a.b.c", "not an attribute name"),
            ("foo:bar", "not a schema URN"),
            (r#"emails[value eq "x"].value"#, "only a [type eq"),
            (r#"emails[type eq "x"]"#, "only a [type eq"),
            (r#"emails[type eq "x"].display"#, "only a [type eq"),
            (r#"emails[type eq x].value"#, "quoted string"),
            (r#"emails[type eq ""].value"#, "quoted string"),
            (r#"urn:x:y:tags[type eq "a"].value"#, "core attributes only"),
            ("id", "written by orgsync"),
            ("ExternalId", "written by orgsync"),
            ("active", "written by orgsync"),
            ("schemas", "written by orgsync"),
            ("meta", "written by orgsync"),
            ("groups", "written by orgsync"),
            (&format!("{ENT}:manager"), "enterprise manager"),
            (&format!("{ENT}:manager.value"), "enterprise manager"),
            ("name", "complex"),
            ("name.formatted", "displayName"),
            ("photos", "multi-valued"),
            ("emails.value", "multi-valued"),
        ] {
            let error = ScimPath::parse(key).expect_err(key);
            assert!(error.contains(wanted), "{key}: {error}");
        }
    }

    fn mapping(pairs: &[(&str, &str)]) -> Result<Mapping, MappingError> {
        attribute_mapping(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn role_homes_map_the_roles_and_other_paths_add_extras() {
        let cost = format!("{ENT}:costCenter");
        let m = mapping(&[
            ("userName", "{name|pinyin}"),
            ("Title", "none"),
            (r#"phoneNumbers[type eq "mobile"].value"#, "mobile"),
            (&format!("{ENT}:employeeNumber"), "key"),
            (&cost, "custom.成本中心"),
            ("name.familyName", "name"),
        ])
        .unwrap();
        assert!(m.expression(Field::UserName).is_some());
        assert!(!m.manages(Field::Title));
        assert!(m.expression(Field::Mobile).is_some());
        assert!(m.expression(Field::EmployeeNumber).is_some());
        assert!(m.manages(Field::named(&cost)));
        assert!(m.manages(Field::named("name.familyName")));
        assert_eq!(m.extras().len(), 2);
        let extras = Extras::of(&m);
        assert_eq!(
            extras.path(Field::named(&cost)),
            Some(&attribute(Some(ENT), "costCenter", None))
        );
    }

    #[test]
    fn double_mappings_are_errors_naming_the_key() {
        for pair in [
            [
                ("emails", "email"),
                (r#"emails[type eq "work"].value"#, "email"),
            ],
            [("nickName", "name"), ("NICKNAME", "name")],
            [
                ("urn:x:acme:User:badge", "key"),
                ("urn:X:ACME:User:Badge", "key"),
            ],
            [
                (r#"phoneNumbers[type eq "work"].value"#, "mobile"),
                (r#"phoneNumbers[type eq "Work"].value"#, "mobile"),
            ],
        ] {
            let error = mapping(&pair).expect_err(pair[0].0);
            assert!(error.detail.contains("same attribute"), "{pair:?}: {error}");
        }
        let error = mapping(&[("id", "key")]).unwrap_err();
        assert_eq!(error.key, "id");
        let error = mapping(&[("mobile", "mobile")]).unwrap_err();
        assert!(error.detail.contains("not a SCIM attribute"), "{error}");
        let error = mapping(&[("nickName", "{nope")]).unwrap_err();
        assert_eq!(error.key, "nickName");
        assert!(mapping(&[("userName", "none")]).is_err());
    }
}
