//! PATCH of a Group (RFC 7644 §3.5.2): members added by value, removed by a value filter, the
//! name and the department extension replaced; all or nothing.

use serde_json::{Map, Value};

use super::ScimGroup;
use super::assign::Mode;
use super::error::ScimError;
use super::group_wire::{self, GroupPath};
use super::patch::{RawOperation, parse_message};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum GroupOperation {
    Set(Mode, GroupPath, Value),
    Merge(Mode, Map<String, Value>),
    Remove(GroupPath),
}

pub(crate) fn parse(body: &[u8]) -> Result<Vec<GroupOperation>, ScimError> {
    let path = |path: &str| {
        group_wire::resolve(path).ok_or_else(|| {
            ScimError::invalid_path(format!(
                "unknown or unsupported Group attribute path {path:?}"
            ))
        })
    };
    parse_message(body)?
        .into_iter()
        .map(|raw| match raw {
            RawOperation::Remove(p) => Ok(GroupOperation::Remove(path(&p)?)),
            RawOperation::Set(mode, Some(p), value) => {
                Ok(GroupOperation::Set(mode, path(&p)?, value))
            }
            RawOperation::Set(mode, None, Value::Object(members)) => {
                Ok(GroupOperation::Merge(mode, members))
            }
            RawOperation::Set(mode, None, _) => Err(ScimError::invalid_value(format!(
                "{} without a path needs an object of attributes as its value",
                mode.as_str()
            ))),
        })
        .collect()
}

/// Applies the operations in order to a copy the caller discards on error.
pub(crate) fn apply(group: &mut ScimGroup, operations: &[GroupOperation]) -> Result<(), ScimError> {
    for operation in operations {
        match operation {
            GroupOperation::Set(mode, path, value) => {
                group_wire::assign(group, path, value, *mode)?
            }
            GroupOperation::Merge(mode, members) => {
                group_wire::assign_object(group, members, *mode, false)?;
            }
            GroupOperation::Remove(path) => group_wire::clear(group, path)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{DEPARTMENT_SCHEMA, PATCH_OP_SCHEMA};

    fn patched(ops: &str) -> Result<ScimGroup, ScimError> {
        let body = format!(r#"{{"schemas":["{PATCH_OP_SCHEMA}"],"Operations":{ops}}}"#);
        let mut group = ScimGroup {
            members: ["u1".to_owned(), "u2".to_owned()].into(),
            ..ScimGroup::new("Sales")
        };
        apply(&mut group, &parse(body.as_bytes())?)?;
        Ok(group)
    }

    #[test]
    fn applies_member_and_attribute_operations() {
        let group = patched(&format!(
            r#"[{{"op":"add","path":"members","value":[{{"value":"u2"}},{{"value":"u3"}}]}},
                {{"op":"remove","path":"members[value eq \"u1\"]"}},
                {{"op":"replace","path":"displayName","value":"Sales EU"}},
                {{"op":"replace","path":"{DEPARTMENT_SCHEMA}:head","value":{{"value":"u3","externalId":"k3"}}}},
                {{"op":"add","value":{{"externalId":"7","{DEPARTMENT_SCHEMA}":{{"parentDepartment":"1"}}}}}}]"#
        ))
        .unwrap();
        assert_eq!(group.members.iter().collect::<Vec<_>>(), ["u2", "u3"]);
        assert_eq!(group.display_name, "Sales EU");
        assert_eq!(group.head.unwrap().external_id.as_deref(), Some("k3"));
        assert_eq!(group.parent_department.as_deref(), Some("1"));
        assert_eq!(group.external_id.as_deref(), Some("7"));

        let group = patched(&format!(
            r#"[{{"op":"remove","path":"members"}},{{"op":"remove","path":"{DEPARTMENT_SCHEMA}"}}]"#
        ))
        .unwrap();
        assert!(group.members.is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_apply() {
        for (ops, scim_type) in [
            (
                r#"[{"op":"remove","path":"members[value eq \"u9\"]"}]"#,
                ScimType::NoTarget,
            ),
            (
                r#"[{"op":"remove","path":"displayName"}]"#,
                ScimType::Mutability,
            ),
            (
                r#"[{"op":"replace","path":"id","value":"x"}]"#,
                ScimType::Mutability,
            ),
            (
                r#"[{"op":"add","path":"owners","value":"x"}]"#,
                ScimType::InvalidPath,
            ),
            (
                r#"[{"op":"replace","path":"members[value eq \"u1\"]","value":{}}]"#,
                ScimType::InvalidPath,
            ),
            (
                r#"[{"op":"add","path":"members","value":[{"value":"g1","type":"Group"}]}]"#,
                ScimType::InvalidValue,
            ),
            (
                r#"[{"op":"replace","path":"displayName","value":7}]"#,
                ScimType::InvalidValue,
            ),
        ] {
            assert_eq!(
                patched(ops).unwrap_err().scim_type,
                Some(scim_type),
                "{ops}"
            );
        }
    }
}
