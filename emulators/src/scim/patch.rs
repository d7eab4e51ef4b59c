//! PATCH requests (RFC 7644 §3.5.2): parsed whole before anything is applied, then applied to a copy
//! of the user so a failing operation leaves the stored user untouched.

use serde_json::{Map, Value};

use super::ScimUser;
use super::assign::{self, Mode, Source};
use super::error::{ScimError, ScimType};
use super::schema::{self, Attr, Known, PATCH_OP_SCHEMA, Target};
use super::wire::parse_json;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operation {
    /// `add` or `replace` at a path.
    Set(Mode, Target, Value),
    /// `add` or `replace` without a path: the value object's members are written one by one.
    Merge(Mode, Map<String, Value>),
    Remove(Target),
    /// A configured attribute ([`crate::scim::ScimConfig::user_attributes`]), by its name.
    SetExtra(String, Value),
    RemoveExtra(String),
    /// `emails[type eq "x"].value` / `phoneNumbers[…]`: the value of the entries of that type.
    SetEntry(Attr, String, Value),
    /// `emails[type eq "x"]`: the entries of that type.
    RemoveEntry(Attr, String),
}

/// What a PATCH path names.
enum PathTarget {
    Schema(Target),
    Extra(String),
    /// The multi-valued attribute, the type the filter selects, and whether `.value` follows.
    Entry(Attr, String, bool),
}

/// One operation of a PatchOp message, checked for shape but not yet resolved against a
/// resource's schema (Users and Groups resolve paths their own way).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RawOperation {
    /// `add` or `replace`, with a path or (`None`) without one.
    Set(Mode, Option<String>, Value),
    Remove(String),
}

/// Parses a PatchOp message for a User; any malformed operation refuses the whole request.
pub(crate) fn parse(body: &[u8], known: Known) -> Result<Vec<Operation>, ScimError> {
    parse_message(body)?
        .into_iter()
        .map(|raw| match raw {
            RawOperation::Remove(path) => match parse_path(&path, known)? {
                PathTarget::Schema(target) => Ok(Operation::Remove(target)),
                PathTarget::Extra(name) => Ok(Operation::RemoveExtra(name)),
                PathTarget::Entry(attr, kind, false) => Ok(Operation::RemoveEntry(attr, kind)),
                // RFC 7643 §2.4: `value` is what an entry is; an entry cannot lose it.
                PathTarget::Entry(..) => Err(ScimError::invalid_value(format!(
                    "{path}: an entry's value cannot be removed; remove the entry (the path \
                     without .value)"
                ))),
            },
            RawOperation::Set(mode, Some(path), value) => match parse_path(&path, known)? {
                PathTarget::Schema(target) => Ok(Operation::Set(mode, target, value)),
                PathTarget::Extra(name) => Ok(Operation::SetExtra(name, value)),
                PathTarget::Entry(attr, kind, true) => Ok(Operation::SetEntry(attr, kind, value)),
                PathTarget::Entry(..) => Err(ScimError::invalid_path(format!(
                    "{path}: this service provider sets an entry's .value only"
                ))),
            },
            RawOperation::Set(mode, None, Value::Object(members)) => {
                Ok(Operation::Merge(mode, members))
            }
            RawOperation::Set(mode, None, _) => Err(ScimError::invalid_value(format!(
                "{} without a path needs an object of attributes as its value",
                mode.as_str()
            ))),
        })
        .collect()
}

/// Parses the PatchOp envelope and each operation's shape (RFC 7644 §3.5.2).
pub(crate) fn parse_message(body: &[u8]) -> Result<Vec<RawOperation>, ScimError> {
    let Value::Object(message) = parse_json(body)? else {
        return Err(ScimError::invalid_syntax(
            "the body must be a PatchOp object",
        ));
    };
    let mut schemas = None;
    let mut operations = None;
    for (key, value) in message {
        match key.to_ascii_lowercase().as_str() {
            "schemas" => schemas = Some(value),
            "operations" => operations = Some(value),
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "unknown PatchOp member {key:?}"
                )));
            }
        }
    }
    let lists_patch_op = schemas
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|urns| {
            urns.iter().any(|urn| {
                urn.as_str()
                    .is_some_and(|urn| urn.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            })
        });
    if !lists_patch_op {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must be [\"{PATCH_OP_SCHEMA}\"]"
        )));
    }
    match operations {
        Some(Value::Array(items)) if !items.is_empty() => {
            items.into_iter().map(parse_operation).collect()
        }
        _ => Err(ScimError::invalid_syntax(
            "Operations must be a non-empty array",
        )),
    }
}

fn parse_operation(item: Value) -> Result<RawOperation, ScimError> {
    let Value::Object(members) = item else {
        return Err(ScimError::invalid_syntax(
            "each operation must be an object",
        ));
    };
    let (mut op, mut path, mut value) = (None, None, None);
    for (key, member) in members {
        match key.to_ascii_lowercase().as_str() {
            "op" => op = Some(member),
            "path" => path = Some(member),
            "value" => value = Some(member),
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "unknown operation member {key:?}"
                )));
            }
        }
    }
    let op = op
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| ScimError::invalid_syntax("each operation needs an \"op\" string"))?;
    let path = match path {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(path),
        Some(_) => return Err(ScimError::invalid_path("path must be a string")),
    };
    let mode = match op.as_str() {
        "add" => Mode::Add,
        "replace" => Mode::Replace,
        "remove" => {
            // RFC 7644 §3.5.2.2: a remove without a target is `noTarget`.
            let path = path
                .ok_or_else(|| ScimError::bad_request(ScimType::NoTarget, "remove needs a path"))?;
            return Ok(RawOperation::Remove(path));
        }
        _ => return Err(ScimError::invalid_syntax(format!("unknown op {op:?}"))),
    };
    let value = value.ok_or_else(|| ScimError::invalid_syntax(format!("{op} needs a value")))?;
    Ok(RawOperation::Set(mode, path, value))
}

fn parse_path(path: &str, known: Known) -> Result<PathTarget, ScimError> {
    if let Some((attr, filtered)) = path.split_once('[') {
        return parse_value_path(path, attr, filtered);
    }
    if let Some(target) = schema::resolve(path) {
        return Ok(PathTarget::Schema(target));
    }
    known
        .find(path)
        .map(|name| PathTarget::Extra(name.to_owned()))
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute path {path:?}")))
}

/// `attr[type eq "x"]` or `attr[type eq "x"].value` (RFC 7644 §3.10 valuePath), on emails and
/// phoneNumbers; other filters are refused as unsupported.
fn parse_value_path(path: &str, attr: &str, filtered: &str) -> Result<PathTarget, ScimError> {
    let unsupported = || {
        ScimError::invalid_path(format!(
            "{path:?}: this service provider supports value filters of the form \
             emails[type eq \"…\"] or phoneNumbers[type eq \"…\"] only"
        ))
    };
    let attr = match schema::resolve(attr) {
        Some(Target::Attr(attr @ (Attr::Emails | Attr::PhoneNumbers))) => attr,
        _ => return Err(unsupported()),
    };
    let (filter, after) = filtered.rsplit_once(']').ok_or_else(unsupported)?;
    let value = match after.to_ascii_lowercase().as_str() {
        "" => false,
        ".value" => true,
        _ => return Err(unsupported()),
    };
    let mut words = filter.trim().splitn(3, ' ');
    let (name, op, literal) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    if !name.eq_ignore_ascii_case("type") || !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let kind: String = serde_json::from_str(literal.trim()).map_err(|_| unsupported())?;
    Ok(PathTarget::Entry(attr, kind, value))
}

/// Applies the operations in order (RFC 7644 §3.5.2: all or nothing; the caller discards the copy
/// on error).
pub(crate) fn apply(
    user: &mut ScimUser,
    operations: &[Operation],
    known: Known,
) -> Result<(), ScimError> {
    for operation in operations {
        match operation {
            Operation::Set(mode, target, value) => {
                assign::assign_target(user, *target, value, *mode, Source::Patch, known)?;
            }
            Operation::Merge(mode, members) => {
                assign::assign_object(user, members, *mode, Source::Patch, known)?;
            }
            Operation::Remove(target) => assign::clear_target(user, *target)?,
            Operation::SetExtra(name, value) => assign::set_extra(user, name, value)?,
            Operation::RemoveExtra(name) => {
                user.extra.remove(name);
            }
            Operation::SetEntry(attr, kind, value) => set_entries(user, *attr, kind, value)?,
            Operation::RemoveEntry(attr, kind) => {
                let (values, types) = multi(user, *attr);
                let kept: Vec<_> = assign::entries(values, types)
                    .into_iter()
                    .filter(|(_, t)| !same_type(t.as_deref(), kind))
                    .collect();
                (*values, *types) = kept.into_iter().unzip();
            }
        }
    }
    Ok(())
}

/// Sets the value of every entry of the type; none of that type is `noTarget`, as RFC 7644
/// §3.5.2.3 requires of a `replace` (and scim2-server answers to an `add` too).
fn set_entries(
    user: &mut ScimUser,
    attr: Attr,
    kind: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let Value::String(value) = value else {
        return Err(ScimError::invalid_value(
            "an entry's value must be a string",
        ));
    };
    let (values, types) = multi(user, attr);
    let mut matched = false;
    for (at, stored) in values.iter_mut().enumerate() {
        if same_type(types.get(at).and_then(Option::as_deref), kind) {
            stored.clone_from(value);
            matched = true;
        }
    }
    if matched {
        Ok(())
    } else {
        Err(ScimError::bad_request(
            ScimType::NoTarget,
            format!("no entry has the type {kind:?}"),
        ))
    }
}

fn multi(user: &mut ScimUser, attr: Attr) -> (&mut Vec<String>, &mut Vec<Option<String>>) {
    match attr {
        Attr::Emails => (&mut user.emails, &mut user.email_types),
        _ => (&mut user.phone_numbers, &mut user.phone_types),
    }
}

/// Types compare case-insensitively (RFC 7643 §2.4: canonical values, caseExact false).
fn same_type(stored: Option<&str>, wanted: &str) -> bool {
    stored.is_some_and(|t| t.eq_ignore_ascii_case(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched(ops: &str) -> Result<ScimUser, ScimError> {
        let body = format!(r#"{{"schemas":["{PATCH_OP_SCHEMA}"],"Operations":{ops}}}"#);
        let mut user = ScimUser {
            emails: vec!["a@e.com".into()],
            manager_id: Some("m0".into()),
            ..ScimUser::new("ann")
        };
        apply(
            &mut user,
            &parse(body.as_bytes(), Known::NONE)?,
            Known::NONE,
        )?;
        Ok(user)
    }

    #[test]
    fn applies_each_form() {
        let user = patched(
            r#"[{"op":"Replace","path":"active","value":false},
                {"op":"add","path":"emails","value":[{"value":"b@e.com"}]},
                {"op":"add","path":"emails","value":[{"value":"p@e.com","primary":true}]},
                {"op":"replace","path":"name.formatted","value":"Ann A"},
                {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m1"}},
                {"op":"replace","value":{"displayName":"Ann","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D"}}},
                {"op":"remove","path":"title"}]"#,
        )
        .unwrap();
        assert!(!user.active);
        assert_eq!(user.emails, ["p@e.com", "a@e.com", "b@e.com"]);
        assert_eq!(user.formatted_name.as_deref(), Some("Ann A"));
        assert_eq!(user.manager_id.as_deref(), Some("m1"));
        assert_eq!(user.display_name.as_deref(), Some("Ann"));
        assert_eq!(user.department.as_deref(), Some("R&D"));

        let user = patched(r#"[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]"#)
            .unwrap();
        assert_eq!(user.manager_id, None);
    }

    #[test]
    fn refuses_malformed_operations() {
        for (ops, scim_type) in [
            ("[]", ScimType::InvalidSyntax),
            (
                r#"[{"op":"move","path":"title","value":"x"}]"#,
                ScimType::InvalidSyntax,
            ),
            (r#"[{"op":"remove"}]"#, ScimType::NoTarget),
            (r#"[{"op":"add","path":"title"}]"#, ScimType::InvalidSyntax),
            (
                r#"[{"op":"add","path":"nickName","value":"x"}]"#,
                ScimType::InvalidPath,
            ),
            (
                r#"[{"op":"add","path":"emails[value eq \"work\"].value","value":"x"}]"#,
                ScimType::InvalidPath,
            ),
            (
                r#"[{"op":"add","path":"emails[type eq \"work\"].value","value":"x"}]"#,
                ScimType::NoTarget,
            ),
            (
                r#"[{"op":"replace","path":"id","value":"x"}]"#,
                ScimType::Mutability,
            ),
            (
                r#"[{"op":"replace","value":{"meta":{}}}]"#,
                ScimType::Mutability,
            ),
            (
                r#"[{"op":"replace","value":{"nickName":"x"}}]"#,
                ScimType::InvalidSyntax,
            ),
            (
                r#"[{"op":"replace","path":"active","value":"false"}]"#,
                ScimType::InvalidValue,
            ),
            (
                r#"[{"op":"remove","path":"userName"}]"#,
                ScimType::Mutability,
            ),
            (r#"[{"op":"replace","value":"x"}]"#, ScimType::InvalidValue),
        ] {
            assert_eq!(
                patched(ops).unwrap_err().scim_type,
                Some(scim_type),
                "{ops}"
            );
        }
    }
}
