//! Model attributes ⇄ SCIM resources and PATCH operations.

use super::wire::{self, ENTERPRISE_SCHEMA, MultiValue, USER_SCHEMA};
use crate::model::{Attributes, Field, FieldChange, TargetId, UserKey};
use crate::pushers::TargetAccount;
use serde_json::{Value, json};

pub(super) fn resource(key: &UserKey, attributes: &Attributes, active: bool) -> wire::UserResource {
    let text = |field| attributes.get(field).map(str::to_owned);
    let enterprise = wire::Enterprise {
        employee_number: text(Field::EmployeeNumber),
        department: text(Field::Department),
        manager: None,
    };
    let has_enterprise = enterprise.employee_number.is_some() || enterprise.department.is_some();
    let mut schemas = vec![USER_SCHEMA];
    if has_enterprise {
        schemas.push(ENTERPRISE_SCHEMA);
    }
    wire::UserResource {
        schemas,
        external_id: key.as_str().to_owned(),
        user_name: attributes.user_name().to_owned(),
        display_name: text(Field::DisplayName).unwrap_or_default(),
        name: wire::Name {
            formatted: text(Field::DisplayName),
        },
        emails: text(Field::Email).map(email).into_iter().collect(),
        phone_numbers: text(Field::Mobile).map(mobile).into_iter().collect(),
        title: text(Field::Title),
        active,
        enterprise: has_enterprise.then_some(enterprise),
    }
}

fn email(value: String) -> MultiValue {
    MultiValue {
        value,
        kind: Some("work".into()),
        primary: Some(true),
    }
}

fn mobile(value: String) -> MultiValue {
    MultiValue {
        value,
        kind: Some("mobile".into()),
        primary: None,
    }
}

/// One or two PATCH operations per changed field; clearing a field is a `remove`.
pub(super) fn patch_operations(changes: &[FieldChange]) -> Vec<wire::PatchOperation> {
    let mut ops = Vec::new();
    for change in changes {
        let value = change.after.clone();
        let (paths, value): (&[&str], Option<Value>) = match change.field {
            Field::UserName => (&["userName"], value.map(Value::String)),
            Field::DisplayName => (&["displayName", "name.formatted"], value.map(Value::String)),
            Field::Email => (&["emails"], value.map(|v| json!([email(v)]))),
            Field::Mobile => (&["phoneNumbers"], value.map(|v| json!([mobile(v)]))),
            Field::Title => (&["title"], value.map(Value::String)),
            Field::EmployeeNumber => (&[EMPLOYEE_NUMBER], value.map(Value::String)),
            Field::Department => (&[DEPARTMENT], value.map(Value::String)),
        };
        for path in paths {
            ops.push(match &value {
                Some(value) => wire::PatchOperation {
                    op: "replace",
                    path: (*path).to_owned(),
                    value: Some(value.clone()),
                },
                None => wire::PatchOperation {
                    op: "remove",
                    path: (*path).to_owned(),
                    value: None,
                },
            });
        }
    }
    ops
}

pub(super) const EMPLOYEE_NUMBER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber";
pub(super) const DEPARTMENT: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
pub(super) const MANAGER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

pub(super) fn manager_operation(manager: Option<&TargetId>) -> wire::PatchOperation {
    match manager {
        Some(id) => wire::PatchOperation {
            op: "replace",
            path: MANAGER.to_owned(),
            value: Some(json!({ "value": id.as_str() })),
        },
        None => wire::PatchOperation {
            op: "remove",
            path: MANAGER.to_owned(),
            value: None,
        },
    }
}

pub(super) fn account(user: wire::ReadUser) -> TargetAccount {
    let primary = |values: &[MultiValue]| {
        values
            .iter()
            .find(|v| v.primary == Some(true))
            .or_else(|| values.first())
            .map(|v| v.value.clone())
    };
    let enterprise = user.enterprise.unwrap_or_default();
    let display_name = user
        .display_name
        .or_else(|| user.name.and_then(|n| n.formatted))
        .unwrap_or_default();
    let attributes = Attributes::new(user.user_name.unwrap_or_default(), display_name)
        .with(Field::Email, primary(&user.emails))
        .with(Field::Mobile, primary(&user.phone_numbers))
        .with(Field::Title, user.title)
        .with(Field::EmployeeNumber, enterprise.employee_number)
        .with(Field::Department, enterprise.department);
    TargetAccount {
        id: TargetId::new(user.id),
        external_id: user.external_id.filter(|e| !e.is_empty()).map(UserKey::new),
        attributes,
        // RFC 7643: `active` absent means the service provider did not say; treat as active.
        active: user.active.unwrap_or(true),
        manager: enterprise
            .manager
            .and_then(|m| m.value)
            .filter(|v| !v.is_empty())
            .map(TargetId::new),
    }
}

/// A filter string literal: JSON string syntax, so quotes and backslashes in hostile values are
/// escaped rather than ending the literal.
pub(super) fn filter_literal(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_literals_escape_quotes() {
        assert_eq!(filter_literal(r#"a" or "1"="1"#), r#""a\" or \"1\"=\"1""#);
    }

    #[test]
    fn clearing_a_field_is_a_remove() {
        let ops = patch_operations(&[FieldChange {
            field: Field::Title,
            before: Some("x".into()),
            after: None,
        }]);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, "remove");
        assert_eq!(ops[0].path, "title");
    }
}
