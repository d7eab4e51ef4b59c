//! Writing JSON values onto a [`ScimUser`]: the one place that knows each attribute's type, shared by
//! POST/PUT bodies (which start from a blank user) and PATCH operations (which start from the stored one).

use serde_json::{Map, Value};

use super::ScimUser;
use super::error::{ScimError, ScimType};
use super::schema::{self, Attr, ENTERPRISE_SCHEMA, Known, Target};

/// How a value meets what is already stored (RFC 7644 §3.5.2.1–2): `Add` appends to multi-valued
/// attributes, `Replace` overwrites them; both overwrite single-valued ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Add,
    Replace,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Add => "add",
            Mode::Replace => "replace",
        }
    }
}

/// Where an object of attributes came from, which decides how read-only members are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A POST/PUT resource: read-only members (`id`, `meta`, `schemas`) are ignored (RFC 7643 §2.2);
    /// the caller has checked `schemas` already.
    Resource,
    /// A PATCH value: touching a read-only member is an error (RFC 7644 §3.5.2, `mutability`).
    Patch,
}

/// Writes `value` to one attribute. `null` unassigns it (RFC 7643 §2.5), which required attributes refuse.
pub(crate) fn assign(
    user: &mut ScimUser,
    attr: Attr,
    value: &Value,
    mode: Mode,
) -> Result<(), ScimError> {
    match attr {
        Attr::Id => return Err(read_only("id")),
        Attr::UserName => user.user_name = required_string(value, "userName")?,
        Attr::Active => {
            user.active = value
                .as_bool()
                .ok_or_else(|| ScimError::invalid_value("active must be true or false"))?;
        }
        Attr::ExternalId => user.external_id = optional_string(value, "externalId")?,
        Attr::DisplayName => user.display_name = optional_string(value, "displayName")?,
        Attr::NameFormatted => user.formatted_name = optional_string(value, "name.formatted")?,
        Attr::Title => user.title = optional_string(value, "title")?,
        Attr::EmployeeNumber => {
            user.employee_number = optional_string(value, "employeeNumber")?;
        }
        Attr::Department => user.department = optional_string(value, "department")?,
        Attr::Emails => {
            let values = multi_valued(value, "emails")?;
            let mut entries = entries(&user.emails, &user.email_types);
            merge_multi(&mut entries, values, mode, |a, b| a.eq_ignore_ascii_case(b));
            (user.emails, user.email_types) = entries.into_iter().unzip();
        }
        Attr::PhoneNumbers => {
            let values = multi_valued(value, "phoneNumbers")?;
            let mut entries = entries(&user.phone_numbers, &user.phone_types);
            merge_multi(&mut entries, values, mode, |a, b| a == b);
            (user.phone_numbers, user.phone_types) = entries.into_iter().unzip();
        }
        Attr::Manager => user.manager_id = manager_object(value)?,
        Attr::ManagerValue => user.manager_id = manager_id(value, "manager.value")?,
    }
    Ok(())
}

/// Unassigns one attribute (PATCH `remove` with a path).
pub(crate) fn clear(user: &mut ScimUser, attr: Attr) -> Result<(), ScimError> {
    match attr {
        Attr::Id => return Err(read_only("id")),
        // scim2-server answers `mutability` here too.
        Attr::UserName => {
            return Err(ScimError::bad_request(
                ScimType::Mutability,
                "userName is required and cannot be removed",
            ));
        }
        // A boolean has no "unassigned" state we could store without guessing its meaning.
        Attr::Active => {
            return Err(ScimError::invalid_value(
                "active cannot be removed: replace it with true or false",
            ));
        }
        Attr::ExternalId => user.external_id = None,
        Attr::DisplayName => user.display_name = None,
        Attr::NameFormatted => user.formatted_name = None,
        Attr::Title => user.title = None,
        Attr::EmployeeNumber => user.employee_number = None,
        Attr::Department => user.department = None,
        Attr::Emails => {
            user.emails.clear();
            user.email_types.clear();
        }
        Attr::PhoneNumbers => {
            user.phone_numbers.clear();
            user.phone_types.clear();
        }
        Attr::Manager | Attr::ManagerValue => user.manager_id = None,
    }
    Ok(())
}

/// Unassigns every attribute a complex target holds (PATCH `remove` of `name` or the extension).
pub(crate) fn clear_target(user: &mut ScimUser, target: Target) -> Result<(), ScimError> {
    match target {
        Target::Attr(attr) => clear(user, attr),
        Target::Name => {
            clear_extras_under(user, "name.");
            clear(user, Attr::NameFormatted)
        }
        Target::Enterprise => {
            clear_extras_under(user, &format!("{ENTERPRISE_SCHEMA}:"));
            for attr in [Attr::EmployeeNumber, Attr::Department, Attr::Manager] {
                clear(user, attr)?;
            }
            Ok(())
        }
        Target::ReadOnly => Err(read_only("meta and schemas")),
    }
}

/// Writes a value to any target: an attribute, or a complex attribute whose members are merged
/// (RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged).
pub(crate) fn assign_target(
    user: &mut ScimUser,
    target: Target,
    value: &Value,
    mode: Mode,
    source: Source,
    known: Known,
) -> Result<(), ScimError> {
    match (target, value) {
        (Target::Attr(attr), _) => assign(user, attr, value, mode),
        (Target::ReadOnly, _) => match source {
            Source::Resource => Ok(()),
            Source::Patch => Err(read_only("meta and schemas")),
        },
        (Target::Name | Target::Enterprise, Value::Null) => clear_target(user, target),
        (Target::Name | Target::Enterprise, Value::Object(members)) => {
            let prefix = match target {
                Target::Name => "name.".to_owned(),
                _ => format!("{ENTERPRISE_SCHEMA}:"),
            };
            for (key, member) in members {
                match schema::resolve_within(target, key) {
                    Some(attr) => assign(user, attr, member, mode)?,
                    None => {
                        let path = format!("{prefix}{key}");
                        let name = known.find(&path).ok_or_else(|| unknown_attribute(key))?;
                        set_extra(user, name, member)?;
                    }
                }
            }
            Ok(())
        }
        (Target::Name, _) => Err(ScimError::invalid_value("name must be an object")),
        (Target::Enterprise, _) => Err(ScimError::invalid_value(
            "the enterprise extension must be an object",
        )),
    }
}

/// Writes every member of a resource-level object (a POST/PUT body, or a PATCH value without `path`).
pub(crate) fn assign_object(
    user: &mut ScimUser,
    members: &Map<String, Value>,
    mode: Mode,
    source: Source,
    known: Known,
) -> Result<(), ScimError> {
    for (key, value) in members {
        let target = match schema::resolve(key) {
            // A member name is an attribute name, never a dotted sub-attribute path.
            Some(Target::Attr(Attr::NameFormatted | Attr::ManagerValue)) => {
                return Err(unknown_attribute(key));
            }
            None if known.is_extension(key) => {
                assign_extension(user, key, value, known)?;
                continue;
            }
            None if !key.contains('.') => {
                let name = known.find(key).ok_or_else(|| unknown_attribute(key))?;
                set_extra(user, name, value)?;
                continue;
            }
            None => return Err(unknown_attribute(key)),
            Some(Target::Attr(Attr::Id)) if source == Source::Resource => continue,
            Some(target) => target,
        };
        assign_target(user, target, value, mode, source, known)?;
    }
    Ok(())
}

/// Writes a custom extension's object (`null` unassigns all of it): each member an attribute,
/// or a complex attribute whose members are its sub-attributes.
fn assign_extension(
    user: &mut ScimUser,
    urn: &str,
    value: &Value,
    known: Known,
) -> Result<(), ScimError> {
    let members = match value {
        Value::Null => {
            clear_extras_under(user, &format!("{urn}:"));
            return Ok(());
        }
        Value::Object(members) => members,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "the extension {urn} must be an object"
            )));
        }
    };
    for (key, member) in members {
        let subs = match member {
            Value::Object(subs) => subs
                .iter()
                .map(|(s, v)| (format!("{key}.{s}"), v))
                .collect(),
            _ => vec![(key.clone(), member)],
        };
        for (attr, value) in subs {
            let path = format!("{urn}:{attr}");
            let name = known.find(&path).ok_or_else(|| unknown_attribute(&path))?;
            set_extra(user, name, value)?;
        }
    }
    Ok(())
}

/// Writes one configured attribute: a string, or `null` to unassign it.
pub(crate) fn set_extra(user: &mut ScimUser, name: &str, value: &Value) -> Result<(), ScimError> {
    match value {
        Value::String(s) => {
            user.extra.insert(name.to_owned(), s.clone());
        }
        Value::Null => {
            user.extra.remove(name);
        }
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{name} must be a string or null"
            )));
        }
    }
    Ok(())
}

fn clear_extras_under(user: &mut ScimUser, prefix: &str) {
    user.extra.retain(|name, _| {
        !name
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    });
}

pub(crate) fn unknown_attribute(name: &str) -> ScimError {
    ScimError::invalid_syntax(format!(
        "unknown attribute {name:?}: this service provider's User schema does not define it"
    ))
}

fn read_only(what: &str) -> ScimError {
    ScimError::bad_request(ScimType::Mutability, format!("{what} is read-only"))
}

fn required_string(value: &Value, name: &str) -> Result<String, ScimError> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) | Value::Null => Err(ScimError::invalid_value(format!(
            "{name} is required and must not be empty"
        ))),
        _ => Err(ScimError::invalid_value(format!("{name} must be a string"))),
    }
}

fn optional_string(value: &Value, name: &str) -> Result<Option<String>, ScimError> {
    match value {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        _ => Err(ScimError::invalid_value(format!(
            "{name} must be a string or null"
        ))),
    }
}

/// One entry of a multi-valued attribute: its value and type.
pub(crate) type Entry = (String, Option<String>);

/// The stored entries: values with their types (a value beyond the types' end has none).
pub(crate) fn entries(values: &[String], types: &[Option<String>]) -> Vec<Entry> {
    values
        .iter()
        .enumerate()
        .map(|(at, value)| (value.clone(), types.get(at).cloned().flatten()))
        .collect()
}

/// The values of a multi-valued attribute, the one marked primary (if any) first.
struct MultiValues {
    values: Vec<Entry>,
    has_primary: bool,
}

/// Parses `[{"value": …, "type": …, "primary": …, "display": …}]`.
/// `display` is accepted for compatibility but not stored.
fn multi_valued(value: &Value, name: &str) -> Result<MultiValues, ScimError> {
    let items = match value {
        Value::Null => {
            return Ok(MultiValues {
                values: Vec::new(),
                has_primary: false,
            });
        }
        Value::Array(items) => items,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{name} must be an array of objects"
            )));
        }
    };
    let mut values = Vec::with_capacity(items.len());
    let mut primary = None;
    for item in items {
        let Value::Object(members) = item else {
            return Err(ScimError::invalid_value(format!(
                "each of {name} must be an object"
            )));
        };
        let mut entry = None;
        let mut kind = None;
        for (key, member) in members {
            match key.to_ascii_lowercase().as_str() {
                "value" => entry = Some(required_string(member, &format!("{name}.value"))?),
                "primary" => match member {
                    Value::Bool(true) if primary.is_some() => {
                        return Err(ScimError::invalid_value(format!(
                            "at most one of {name} may be primary"
                        )));
                    }
                    Value::Bool(true) => primary = Some(values.len()),
                    Value::Bool(false) | Value::Null => {}
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "{name}.primary must be a boolean"
                        )));
                    }
                },
                "type" => kind = optional_string(member, &format!("{name}.type"))?,
                "display" => {
                    optional_string(member, &format!("{name}.{key}"))?;
                }
                _ => return Err(unknown_attribute(&format!("{name}.{key}"))),
            }
        }
        let value = entry
            .ok_or_else(|| ScimError::invalid_value(format!("each of {name} needs a value")))?;
        values.push((value, kind));
    }
    if let Some(index) = primary {
        let first = values.remove(index);
        values.insert(0, first);
    }
    Ok(MultiValues {
        values,
        has_primary: primary.is_some(),
    })
}

/// Replaces, or appends without duplicates; an added value marked primary moves to the front,
/// which demotes the old primary (RFC 7644 §3.5.2.1).
fn merge_multi(
    stored: &mut Vec<Entry>,
    new: MultiValues,
    mode: Mode,
    same: impl Fn(&str, &str) -> bool,
) {
    let MultiValues {
        mut values,
        has_primary,
    } = new;
    if mode == Mode::Replace {
        *stored = values;
        return;
    }
    let primary = (has_primary && !values.is_empty()).then(|| values.remove(0));
    for value in values {
        if !stored.iter().any(|existing| same(&existing.0, &value.0)) {
            stored.push(value);
        }
    }
    if let Some(primary) = primary {
        stored.retain(|existing| !same(&existing.0, &primary.0));
        stored.insert(0, primary);
    }
}

fn manager_object(value: &Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(members) => {
            let mut id = None;
            for (key, member) in members {
                match key.to_ascii_lowercase().as_str() {
                    "value" => id = manager_id(member, "manager.value")?,
                    // `$ref` and `displayName` are derived by the server from `value`.
                    "$ref" | "displayname" => {}
                    _ => return Err(unknown_attribute(&format!("manager.{key}"))),
                }
            }
            Ok(id)
        }
        _ => Err(ScimError::invalid_value(
            "manager must be an object like {\"value\": \"<user id>\"}",
        )),
    }
}

fn manager_id(value: &Value, name: &str) -> Result<Option<String>, ScimError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        _ => Err(ScimError::invalid_value(format!(
            "{name} must be a non-empty user id or null"
        ))),
    }
}
