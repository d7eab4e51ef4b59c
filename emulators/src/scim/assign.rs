//! Writing JSON values onto a [`ScimUser`]: the one place that knows each attribute's type, shared by
//! POST/PUT bodies (which start from a blank user) and PATCH operations (which start from the stored one).

use serde_json::{Map, Value};

use super::ScimUser;
use super::error::{ScimError, ScimType};
use super::schema::{self, Attr, Target};

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
            merge_multi(&mut user.emails, values, mode, |a, b| {
                a.eq_ignore_ascii_case(b)
            });
        }
        Attr::PhoneNumbers => {
            let values = multi_valued(value, "phoneNumbers")?;
            merge_multi(&mut user.phone_numbers, values, mode, |a, b| a == b);
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
        Attr::Emails => user.emails.clear(),
        Attr::PhoneNumbers => user.phone_numbers.clear(),
        Attr::Manager | Attr::ManagerValue => user.manager_id = None,
    }
    Ok(())
}

/// Unassigns every attribute a complex target holds (PATCH `remove` of `name` or the extension).
pub(crate) fn clear_target(user: &mut ScimUser, target: Target) -> Result<(), ScimError> {
    match target {
        Target::Attr(attr) => clear(user, attr),
        Target::Name => clear(user, Attr::NameFormatted),
        Target::Enterprise => {
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
) -> Result<(), ScimError> {
    match (target, value) {
        (Target::Attr(attr), _) => assign(user, attr, value, mode),
        (Target::ReadOnly, _) => match source {
            Source::Resource => Ok(()),
            Source::Patch => Err(read_only("meta and schemas")),
        },
        (Target::Name | Target::Enterprise, Value::Null) => clear_target(user, target),
        (Target::Name | Target::Enterprise, Value::Object(members)) => {
            for (key, member) in members {
                let attr =
                    schema::resolve_within(target, key).ok_or_else(|| unknown_attribute(key))?;
                assign(user, attr, member, mode)?;
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
) -> Result<(), ScimError> {
    for (key, value) in members {
        let target = match schema::resolve(key) {
            // A member name is an attribute name, never a dotted sub-attribute path.
            Some(Target::Attr(Attr::NameFormatted | Attr::ManagerValue)) | None => {
                return Err(unknown_attribute(key));
            }
            Some(Target::Attr(Attr::Id)) if source == Source::Resource => continue,
            Some(target) => target,
        };
        assign_target(user, target, value, mode, source)?;
    }
    Ok(())
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

/// The values of a multi-valued attribute, the one marked primary (if any) first.
struct MultiValues {
    values: Vec<String>,
    has_primary: bool,
}

/// Parses `[{"value": …, "type": …, "primary": …, "display": …}]`.
/// `type` and `display` are accepted for compatibility but not stored (answers say `"type": "work"`).
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
                "type" | "display" => {
                    optional_string(member, &format!("{name}.{key}"))?;
                }
                _ => return Err(unknown_attribute(&format!("{name}.{key}"))),
            }
        }
        values
            .push(entry.ok_or_else(|| {
                ScimError::invalid_value(format!("each of {name} needs a value"))
            })?);
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
    stored: &mut Vec<String>,
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
        if !stored.iter().any(|existing| same(existing, &value)) {
            stored.push(value);
        }
    }
    if let Some(primary) = primary {
        stored.retain(|existing| !same(existing, &primary));
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
