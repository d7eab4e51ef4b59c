//! Departments as SCIM Groups: the resource, its PATCH operations, and which of the target's
//! groups may be adopted. No IO.

use super::convert::filter_literal;
use super::wire::{self, DEPARTMENT_SCHEMA, GROUP_SCHEMA};
use crate::pushers::{GroupWrite, PersonRef};
use serde_json::{Value, json};

/// Whether groups carry orgsync's department extension (head, parent department).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Extension {
    Department,
    /// For servers that refuse schemas they do not know: name and members only.
    Off,
}

pub(super) const HEAD: &str = "urn:orgsync:params:scim:schemas:extension:department:1.0:Group:head";
pub(super) const PARENT: &str =
    "urn:orgsync:params:scim:schemas:extension:department:1.0:Group:parentDepartment";

/// The POSTed group: no members (they follow in batches), the extension listed in `schemas` only
/// when it carries something.
pub(super) fn resource(group: &GroupWrite<'_>, extension: Extension) -> wire::GroupResource {
    let department = match extension {
        Extension::Department if group.head.is_some() || group.parent.is_some() => {
            Some(wire::Department {
                head: group.head.map(head),
                parent_department: group.parent.map(|p| p.as_str().to_owned()),
            })
        }
        _ => None,
    };
    let mut schemas = vec![GROUP_SCHEMA];
    if department.is_some() {
        schemas.push(DEPARTMENT_SCHEMA);
    }
    wire::GroupResource {
        schemas,
        external_id: group.key.as_str().to_owned(),
        display_name: group.display_name.to_owned(),
        department,
    }
}

fn head(person: PersonRef<'_>) -> wire::Head {
    wire::Head {
        value: person.id.as_str().to_owned(),
        external_id: person.key.as_str().to_owned(),
    }
}

/// How an operation finds the group it changes: orgsync's own, or one adopted by its name (whose
/// externalId is set too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    Ours,
    AdoptedByName,
}

/// Replaces the group's name and, with the extension, its head and parent (a cleared one is
/// removed).
pub(super) fn attribute_operations(
    group: &GroupWrite<'_>,
    extension: Extension,
    owner: Owner,
) -> Vec<wire::PatchOperation> {
    let mut ops = Vec::new();
    if owner == Owner::AdoptedByName {
        ops.push(replace("externalId", group.key.as_str().into()));
    }
    ops.push(replace("displayName", group.display_name.into()));
    if extension == Extension::Department {
        ops.push(match group.head {
            Some(person) => replace(HEAD, json!(head(person))),
            None => remove(HEAD.to_owned()),
        });
        ops.push(match group.parent {
            Some(parent) => replace(PARENT, parent.as_str().into()),
            None => remove(PARENT.to_owned()),
        });
    }
    ops
}

/// One `add` of every member (RFC 7644 §3.5.2.1: a value already present is left as it is).
pub(super) fn add_members<'a>(ids: impl IntoIterator<Item = &'a str>) -> wire::PatchOperation {
    let values: Vec<Value> = ids.into_iter().map(|id| json!({ "value": id })).collect();
    wire::PatchOperation {
        op: "add",
        path: "members".into(),
        value: Some(Value::Array(values)),
    }
}

/// One `remove` per member, each naming it by a value filter (RFC 7644 §3.5.2.2), all in one
/// request.
pub(super) fn remove_members<'a>(
    ids: impl IntoIterator<Item = &'a str>,
) -> Vec<wire::PatchOperation> {
    ids.into_iter()
        .map(|id| remove(format!("members[value eq {}]", filter_literal(id))))
        .collect()
}

fn replace(path: &str, value: Value) -> wire::PatchOperation {
    wire::PatchOperation {
        op: "replace",
        path: path.to_owned(),
        value: Some(value),
    }
}

fn remove(path: String) -> wire::PatchOperation {
    wire::PatchOperation {
        op: "remove",
        path,
        value: None,
    }
}

/// The group carrying the department id as externalId (the lowest id when several do, so reruns
/// agree).
pub(super) fn with_key<'a>(groups: &'a [wire::ReadGroup], key: &str) -> Option<&'a str> {
    groups
        .iter()
        .filter(|g| g.external_id.as_deref() == Some(key))
        .map(|g| g.id.as_str())
        .min()
}

/// A group of that display name that nobody claims (no externalId): one of the same case first,
/// then the lowest id. A group carrying another externalId belongs to another department or tool
/// and is never taken over.
pub(super) fn unclaimed_named<'a>(groups: &'a [wire::ReadGroup], name: &str) -> Option<&'a str> {
    let folded = fold(name);
    groups
        .iter()
        .filter(|g| g.external_id.as_deref().is_none_or(str::is_empty))
        .filter_map(|g| {
            let found = g.display_name.as_deref()?;
            (fold(found) == folded).then_some((found != name, g.id.as_str()))
        })
        .min()
        .map(|(_, id)| id)
}

/// displayName is caseless (RFC 7643 §4.2).
fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    //! The JSON sent for groups, checked exactly.

    use super::*;
    use crate::model::{DepartmentId, TargetId, UserKey};

    fn to_json<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("serializes")
    }

    fn read(id: &str, external_id: Option<&str>, name: &str) -> wire::ReadGroup {
        wire::ReadGroup {
            id: id.into(),
            external_id: external_id.map(Into::into),
            display_name: Some(name.into()),
            members: Vec::new(),
        }
    }

    #[test]
    fn resources_list_the_extension_only_when_it_carries_something() {
        let key = DepartmentId::new("7");
        let parent = DepartmentId::new("1");
        let (lin, lin_id) = (UserKey::new("lin"), TargetId::new("u-4"));
        let bare = GroupWrite {
            key: &key,
            display_name: "平台组",
            parent: None,
            head: None,
        };
        let expected_bare = json!({
            "schemas": [GROUP_SCHEMA], "externalId": "7", "displayName": "平台组"
        });
        assert_eq!(
            to_json(&resource(&bare, Extension::Department)),
            expected_bare
        );
        let full = GroupWrite {
            parent: Some(&parent),
            head: Some(PersonRef {
                key: &lin,
                id: &lin_id,
            }),
            ..bare
        };
        assert_eq!(
            to_json(&resource(&full, Extension::Department)),
            json!({
                "schemas": [GROUP_SCHEMA, DEPARTMENT_SCHEMA],
                "externalId": "7", "displayName": "平台组",
                DEPARTMENT_SCHEMA: {
                    "head": { "value": "u-4", "externalId": "lin" },
                    "parentDepartment": "1"
                }
            })
        );
        assert_eq!(to_json(&resource(&full, Extension::Off)), expected_bare);
    }

    #[test]
    fn attribute_operations_set_or_remove_each_extension_attribute() {
        let key = DepartmentId::new("7");
        let parent = DepartmentId::new("1");
        let (lin, lin_id) = (UserKey::new("lin"), TargetId::new("u-4"));
        let group = GroupWrite {
            key: &key,
            display_name: "Sales",
            parent: Some(&parent),
            head: None,
        };
        assert_eq!(
            to_json(&attribute_operations(
                &group,
                Extension::Department,
                Owner::AdoptedByName
            )),
            json!([
                { "op": "replace", "path": "externalId", "value": "7" },
                { "op": "replace", "path": "displayName", "value": "Sales" },
                { "op": "remove", "path": HEAD },
                { "op": "replace", "path": PARENT, "value": "1" }
            ])
        );
        let headed = GroupWrite {
            parent: None,
            head: Some(PersonRef {
                key: &lin,
                id: &lin_id,
            }),
            ..group
        };
        assert_eq!(
            to_json(&attribute_operations(
                &headed,
                Extension::Department,
                Owner::Ours
            )),
            json!([
                { "op": "replace", "path": "displayName", "value": "Sales" },
                { "op": "replace", "path": HEAD, "value": { "value": "u-4", "externalId": "lin" } },
                { "op": "remove", "path": PARENT }
            ])
        );
        assert_eq!(
            to_json(&attribute_operations(&headed, Extension::Off, Owner::Ours)),
            json!([{ "op": "replace", "path": "displayName", "value": "Sales" }])
        );
    }

    #[test]
    fn member_operations() {
        assert_eq!(
            to_json(&add_members(["a", "b"])),
            json!({ "op": "add", "path": "members", "value": [{ "value": "a" }, { "value": "b" }] })
        );
        assert_eq!(
            to_json(&remove_members(["a", r#"x" or value pr or "#])),
            json!([
                { "op": "remove", "path": r#"members[value eq "a"]"# },
                { "op": "remove", "path": r#"members[value eq "x\" or value pr or "]"# }
            ])
        );
    }

    #[test]
    fn adoption_prefers_the_key_then_an_unclaimed_name() {
        let groups = [
            read("9", Some("7"), "Old name"),
            read("3", Some("7"), "Old name"),
            read("2", Some("8"), "Sales"),
            read("5", None, "SALES"),
            read("6", Some(""), "Sales"),
        ];
        assert_eq!(with_key(&groups, "7"), Some("3"));
        assert_eq!(with_key(&groups, "1"), None);
        assert_eq!(
            unclaimed_named(&groups, "Sales"),
            Some("6"),
            "same case first"
        );
        assert_eq!(unclaimed_named(&groups, "sales"), Some("5"));
        assert_eq!(
            unclaimed_named(&groups[..3], "Sales"),
            None,
            "another department's group is never taken over"
        );
    }
}
