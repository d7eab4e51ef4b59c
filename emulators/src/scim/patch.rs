//! PATCH requests (RFC 7644 §3.5.2): parsed whole before anything is applied, then applied to a copy
//! of the user so a failing operation leaves the stored user untouched.

use serde_json::{Map, Value};

use super::ScimUser;
use super::assign::{self, Mode, Source};
use super::error::{ScimError, ScimType};
use super::schema::{self, PATCH_OP_SCHEMA, Target};
use super::wire::parse_json;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operation {
    /// `add` or `replace` at a path.
    Set(Mode, Target, Value),
    /// `add` or `replace` without a path: the value object's members are written one by one.
    Merge(Mode, Map<String, Value>),
    Remove(Target),
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
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Operation>, ScimError> {
    parse_message(body)?
        .into_iter()
        .map(|raw| match raw {
            RawOperation::Remove(path) => Ok(Operation::Remove(parse_path(&path)?)),
            RawOperation::Set(mode, Some(path), value) => {
                Ok(Operation::Set(mode, parse_path(&path)?, value))
            }
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

fn parse_path(path: &str) -> Result<Target, ScimError> {
    if path.contains('[') {
        return Err(ScimError::invalid_path(format!(
            "value filters in paths ({path:?}) are not supported by this service provider"
        )));
    }
    schema::resolve(path)
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute path {path:?}")))
}

/// Applies the operations in order (RFC 7644 §3.5.2: all or nothing; the caller discards the copy
/// on error).
pub(crate) fn apply(user: &mut ScimUser, operations: &[Operation]) -> Result<(), ScimError> {
    for operation in operations {
        match operation {
            Operation::Set(mode, target, value) => {
                assign::assign_target(user, *target, value, *mode, Source::Patch)?;
            }
            Operation::Merge(mode, members) => {
                assign::assign_object(user, members, *mode, Source::Patch)?;
            }
            Operation::Remove(target) => assign::clear_target(user, *target)?,
        }
    }
    Ok(())
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
        apply(&mut user, &parse(body.as_bytes())?)?;
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
                r#"[{"op":"add","path":"emails[type eq \"work\"].value","value":"x"}]"#,
                ScimType::InvalidPath,
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
