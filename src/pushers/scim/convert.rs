//! Model attributes ⇄ SCIM resources and PATCH operations.

use super::mapping::{Extras, ScimPath};
use super::place;
use super::wire::{self, ENTERPRISE_SCHEMA, MultiValue, USER_SCHEMA};
use crate::model::{Attributes, Field, FieldChange, TargetId, UserKey};
use crate::pushers::{PushError, TargetAccount};
use serde_json::{Value, json};

pub(super) fn resource(
    key: &UserKey,
    attributes: &Attributes,
    active: bool,
    extras: &Extras,
) -> wire::UserResource {
    let text = |field| attributes.get(field).map(str::to_owned);
    let enterprise = wire::Enterprise {
        employee_number: text(Field::EmployeeNumber),
        department: text(Field::Department),
        manager: None,
        other: Default::default(),
    };
    let has_enterprise = enterprise.employee_number.is_some() || enterprise.department.is_some();
    let mut resource = wire::UserResource {
        schemas: vec![USER_SCHEMA.to_owned()],
        external_id: key.as_str().to_owned(),
        user_name: attributes.user_name().to_owned(),
        display_name: text(Field::DisplayName).unwrap_or_default(),
        name: wire::Name {
            formatted: text(Field::DisplayName),
            other: Default::default(),
        },
        emails: text(Field::Email).map(email).into_iter().collect(),
        phone_numbers: text(Field::Mobile).map(mobile).into_iter().collect(),
        title: text(Field::Title),
        active,
        enterprise: has_enterprise.then_some(enterprise),
        extensions: Default::default(),
    };
    for (field, value) in attributes.iter() {
        if let Some(path) = extras.path(field) {
            place::put(&mut resource, path, value);
        }
    }
    // RFC 7643 §3: `schemas` lists every extension whose attributes the resource carries.
    if resource.enterprise.is_some() {
        resource.schemas.push(ENTERPRISE_SCHEMA.to_owned());
    }
    let custom: Vec<String> = resource
        .extensions
        .keys()
        .filter(|key| key.to_ascii_lowercase().starts_with("urn:"))
        .cloned()
        .collect();
    resource.schemas.extend(custom);
    resource
}

fn email(value: String) -> MultiValue {
    place::typed(&value, "work", Some(true))
}

fn mobile(value: String) -> MultiValue {
    place::typed(&value, "mobile", None)
}

/// The PATCH operations for the changed fields, in order; clearing a field is a `remove`.
/// The e-mail and the mobile replace the whole attribute, as they always did, unless a mapped
/// attribute is another entry of it: then only their own entry changes (see
/// [`place::entry_operations`]).
pub(super) fn patch_operations(
    changes: &[FieldChange],
    extras: &Extras,
) -> Vec<wire::PatchOperation> {
    let mut ops = Vec::new();
    for change in changes {
        let value = change.after.clone();
        let had = change.before.is_some();
        if let Some((attr, kind, primary)) = role_entry(change.field, extras) {
            ops.extend(place::entry_operations(
                attr,
                kind,
                had,
                value.as_deref(),
                primary,
            ));
            continue;
        }
        let (paths, value): (&[&str], Option<Value>) = match change.field {
            Field::UserName => (&["userName"], value.map(Value::String)),
            Field::DisplayName => (&["displayName", "name.formatted"], value.map(Value::String)),
            Field::Email => (&["emails"], value.map(|v| json!([email(v)]))),
            Field::Mobile => (&["phoneNumbers"], value.map(|v| json!([mobile(v)]))),
            Field::Title => (&["title"], value.map(Value::String)),
            Field::EmployeeNumber => (&[EMPLOYEE_NUMBER], value.map(Value::String)),
            Field::Department => (&[DEPARTMENT], value.map(Value::String)),
            Field::Extra(_) => {
                match extras.path(change.field) {
                    Some(ScimPath::Entry { attr, kind }) => {
                        let value = value.as_deref();
                        ops.extend(place::entry_operations(attr, kind, had, value, None));
                    }
                    Some(path) => {
                        ops.push(set_or_remove(path.patch_path(), value.map(Value::String)))
                    }
                    // Not mapped by this target's configuration: nothing of orgsync's to change.
                    None => {}
                }
                continue;
            }
        };
        for path in paths {
            ops.push(set_or_remove((*path).to_owned(), value.clone()));
        }
    }
    ops
}

/// The entry the e-mail or the mobile is, when a mapped entry shares its attribute (and it
/// must change alone): the attribute, the type and the primary flag.
fn role_entry(field: Field, extras: &Extras) -> Option<(&'static str, &'static str, Option<bool>)> {
    let entry = match field {
        Field::Email => ("emails", "work", Some(true)),
        Field::Mobile => ("phoneNumbers", "mobile", None),
        _ => return None,
    };
    extras.shares(entry.0).then_some(entry)
}

fn set_or_remove(path: String, value: Option<Value>) -> wire::PatchOperation {
    match value {
        Some(value) => wire::PatchOperation {
            op: "replace",
            path,
            value: Some(value),
        },
        None => wire::PatchOperation {
            op: "remove",
            path,
            value: None,
        },
    }
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

/// A target-supplied account id, checked before it can aim a request. Ids are opaque, but the path
/// `/Users/{id}` must name one account: `.` and `..` (even percent-encoded, URL parsers treat
/// `%2e` as a dot) would be normalised away and aim a PATCH or DELETE at the base URL, and `/`,
/// `?`, `#` or control characters would change the path or end it.
pub(super) fn target_id(id: &str) -> Result<TargetId, PushError> {
    let dots = |s: &str| {
        let decoded = s.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    };
    if id.is_empty()
        || dots(id)
        || id.contains(['/', '?', '#', '\\'])
        || id.chars().any(char::is_control)
    {
        return Err(PushError::Malformed {
            detail: format!(
                "the target gave the account id {:?}, which cannot name one account in a URL \
                 (empty, `.`, `..`, or holding `/`, `?`, `#`, `\\` or a control character); refused",
                id.chars().take(64).collect::<String>()
            ),
        });
    }
    Ok(TargetId::new(id))
}

pub(super) fn account(user: wire::ReadUser, extras: &Extras) -> Result<TargetAccount, PushError> {
    let id = target_id(&user.id)?;
    // The role's value: the primary entry (the first without one), among the entries no mapped
    // attribute claims by its type when some mapped attribute shares the attribute.
    let role = |attr: &str, values: &[MultiValue], kind: &str| {
        if !extras.shares(attr) {
            return values
                .iter()
                .find(|v| v.primary == Some(true))
                .or_else(|| values.first())
                .map(|v| v.value.clone());
        }
        let free: Vec<&MultiValue> = values
            .iter()
            .filter(|v| !extras.claims(attr, v.kind.as_deref()))
            .collect();
        place::of_type(values, kind)
            .or_else(|| free.iter().find(|v| v.primary == Some(true)).copied())
            .or_else(|| free.first().copied())
            .map(|v| v.value.clone())
    };
    let mut attributes = Attributes::new(
        user.user_name.clone().unwrap_or_default(),
        user.display_name
            .clone()
            .or_else(|| user.name.as_ref().and_then(|n| n.formatted.clone()))
            .unwrap_or_default(),
    )
    .with(
        Field::Email,
        role("emails", &user.emails, "work").map(Into::into),
    )
    .with(
        Field::Mobile,
        role("phoneNumbers", &user.phone_numbers, "mobile").map(Into::into),
    )
    .with(Field::Title, user.title.clone().map(Into::into));
    for (field, path) in &extras.0 {
        attributes.set(*field, place::read(&user, path).map(Into::into));
    }
    let enterprise = user.enterprise.unwrap_or_default();
    let attributes = attributes
        .with(
            Field::EmployeeNumber,
            enterprise.employee_number.map(Into::into),
        )
        .with(Field::Department, enterprise.department.map(Into::into));
    Ok(TargetAccount {
        id,
        external_id: user.external_id.filter(|e| !e.is_empty()).map(UserKey::new),
        attributes,
        // RFC 7643: `active` absent means the service provider did not say; treat as active.
        active: user.active.unwrap_or(true),
        manager: enterprise
            .manager
            .and_then(|m| m.value)
            .filter(|v| !v.is_empty())
            .map(TargetId::new),
    })
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
        let ops = patch_operations(
            &[FieldChange {
                field: Field::Title,
                before: Some("x".into()),
                after: None,
            }],
            &Extras::default(),
        );
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, "remove");
        assert_eq!(ops[0].path, "title");
    }
}

#[cfg(test)]
mod wire_tests {
    //! The JSON the pusher sends and reads, checked exactly.

    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn full() -> Attributes {
        Attributes::new("lin.xiao@example.cn", "林晓")
            .with(Field::Email, Some("lin.xiao@example.cn".into()))
            .with(Field::Mobile, Some("13800000004".into()))
            .with(Field::Title, Some("后端工程师".into()))
            .with(Field::EmployeeNumber, Some("E000004".into()))
            .with(Field::Department, Some("平台组".into()))
    }

    fn to_json<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("serializes")
    }

    fn change(field: Field, after: Option<&str>) -> FieldChange {
        FieldChange {
            field,
            before: Some("old".into()),
            after: after.map(str::to_owned),
        }
    }

    fn read(value: Value) -> TargetAccount {
        account(
            serde_json::from_value(value).expect("a SCIM user parses"),
            &Extras::default(),
        )
        .expect("a valid id")
    }

    #[test]
    fn full_resource_is_exact() {
        let resource = resource(&UserKey::new("lin.xiao"), &full(), true, &Extras::default());
        assert_eq!(
            to_json(&resource),
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "externalId": "lin.xiao",
                "userName": "lin.xiao@example.cn",
                "displayName": "林晓",
                "name": { "formatted": "林晓" },
                "emails": [{ "value": "lin.xiao@example.cn", "type": "work", "primary": true }],
                "phoneNumbers": [{ "value": "13800000004", "type": "mobile" }],
                "title": "后端工程师",
                "active": true,
                ENTERPRISE: { "employeeNumber": "E000004", "department": "平台组" }
            })
        );
    }

    #[test]
    fn minimal_resource_sends_no_empty_attributes() {
        let resource = resource(
            &UserKey::new("kim"),
            &Attributes::new("kim", "김민준"),
            false,
            &Extras::default(),
        );
        assert_eq!(
            to_json(&resource),
            json!({
                "schemas": [USER_SCHEMA],
                "externalId": "kim",
                "userName": "kim",
                "displayName": "김민준",
                "name": { "formatted": "김민준" },
                "active": false
            })
        );
    }

    #[test]
    fn enterprise_extension_is_sent_for_either_of_its_fields() {
        let only_department =
            Attributes::new("k", "K").with(Field::Department, Some("研发部".into()));
        let json = to_json(&resource(
            &UserKey::new("k"),
            &only_department,
            true,
            &Extras::default(),
        ));
        assert_eq!(json["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
        assert_eq!(json[ENTERPRISE], json!({ "department": "研发部" }));
    }

    #[test]
    fn patch_operations_are_exact_and_in_order() {
        let ops = patch_operations(
            &[
                change(Field::UserName, Some("new.name")),
                change(Field::DisplayName, Some("林小晓")),
                change(Field::Email, Some("x@example.cn")),
                change(Field::Mobile, Some("139")),
                change(Field::Title, None),
                change(Field::EmployeeNumber, Some("E1")),
                change(Field::Department, None),
            ],
            &Extras::default(),
        );
        assert_eq!(
            to_json(&ops),
            json!([
                { "op": "replace", "path": "userName", "value": "new.name" },
                { "op": "replace", "path": "displayName", "value": "林小晓" },
                { "op": "replace", "path": "name.formatted", "value": "林小晓" },
                { "op": "replace", "path": "emails",
                  "value": [{ "value": "x@example.cn", "type": "work", "primary": true }] },
                { "op": "replace", "path": "phoneNumbers",
                  "value": [{ "value": "139", "type": "mobile" }] },
                { "op": "remove", "path": "title" },
                { "op": "replace", "path": EMPLOYEE_NUMBER, "value": "E1" },
                { "op": "remove", "path": DEPARTMENT }
            ])
        );
        assert!(patch_operations(&[], &Extras::default()).is_empty());
    }

    #[test]
    fn clearing_multi_valued_fields_removes_them() {
        let ops = patch_operations(
            &[change(Field::Email, None), change(Field::Mobile, None)],
            &Extras::default(),
        );
        assert_eq!(
            to_json(&ops),
            json!([
                { "op": "remove", "path": "emails" },
                { "op": "remove", "path": "phoneNumbers" }
            ])
        );
    }

    #[test]
    fn manager_operations() {
        assert_eq!(
            to_json(&manager_operation(Some(&TargetId::new("42")))),
            json!({ "op": "replace", "path": MANAGER, "value": { "value": "42" } })
        );
        assert_eq!(
            to_json(&manager_operation(None)),
            json!({ "op": "remove", "path": MANAGER })
        );
    }

    #[test]
    fn a_full_read_user_becomes_an_account() {
        let account = read(json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "id": "7", "externalId": "lin.xiao", "userName": "lin.xiao@example.cn",
            "displayName": "林晓", "name": { "formatted": "ignored", "givenName": "晓" },
            "emails": [
                { "value": "other@example.cn", "type": "home" },
                { "value": "lin.xiao@example.cn", "type": "work", "primary": true }
            ],
            "phoneNumbers": [{ "value": "13800000004", "type": "work", "display": "138" }],
            "title": "后端工程师", "active": false,
            "meta": { "resourceType": "User", "version": "W/\"3\"" },
            "groups": [], "x-vendor": { "anything": [1, 2] },
            ENTERPRISE: {
                "employeeNumber": "E000004", "department": "平台组",
                "manager": { "value": "3", "$ref": "../Users/3", "displayName": "Boss" },
                "costCenter": "cc"
            }
        }));
        assert_eq!(
            account,
            TargetAccount {
                id: TargetId::new("7"),
                external_id: Some(UserKey::new("lin.xiao")),
                attributes: full(),
                active: false,
                manager: Some(TargetId::new("3")),
            }
        );
    }

    #[test]
    fn a_sparse_read_user_falls_back_sensibly() {
        let account = read(json!({
            "id": "8", "externalId": "", "userName": "kim",
            "name": { "formatted": "김민준" },
            "emails": [{ "value": "first@example.cn" }, { "value": "second@example.cn" }],
            ENTERPRISE: { "manager": { "value": "" } }
        }));
        assert_eq!(account.external_id, None, "an empty externalId is none");
        assert_eq!(account.attributes.get(Field::DisplayName), Some("김민준"));
        assert_eq!(
            account.attributes.get(Field::Email),
            Some("first@example.cn"),
            "without a primary, the first"
        );
        assert!(account.active, "absent active means active");
        assert_eq!(account.manager, None);
        assert_eq!(account.attributes.get(Field::Title), None);
    }

    #[test]
    fn a_list_response_reads_total_and_resources() {
        let list: wire::ListResponse = serde_json::from_value(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 2, "startIndex": 1, "itemsPerPage": 1,
            "Resources": [{ "id": "1", "userName": "a" }]
        }))
        .unwrap();
        assert_eq!(list.total_results, Some(2));
        assert_eq!(list.resources.len(), 1);
        let empty: wire::ListResponse =
            serde_json::from_value(json!({ "totalResults": 0 })).unwrap();
        assert!(empty.resources.is_empty());
    }

    #[test]
    fn filter_literals_survive_hostile_values() {
        for value in [
            r#"a" or "1"="1"#,
            r"back\slash",
            "林 晓",
            "line\nbreak\ttab",
            r#"\" ) or (userName pr"#,
        ] {
            let literal = filter_literal(value);
            assert!(
                literal.starts_with('"') && literal.ends_with('"'),
                "{literal}"
            );
            let back: String = serde_json::from_str(&literal).expect("a JSON string literal");
            assert_eq!(back, value);
        }
        assert_eq!(filter_literal("林 晓"), "\"林 晓\"");
    }
}

#[cfg(test)]
mod mapped_tests {
    //! Mapped attributes in the JSON sent and read, checked exactly.

    use super::*;
    use crate::pushers::scim::mapping::attribute_mapping;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const ACME: &str = "urn:example:acme:2.0:User";
    const COST: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter";
    const BADGE: &str = "urn:example:acme:2.0:User:badge";
    const SITE: &str = "urn:example:acme:2.0:User:workplace.site";
    const WORK_PHONE: &str = r#"phoneNumbers[type eq "work"].value"#;
    const PHOTO: &str = r#"photos[type eq "photo"].value"#;

    fn extras(keys: &[&str]) -> Extras {
        let table = keys
            .iter()
            .map(|key| ((*key).to_owned(), "name".to_owned()))
            .collect();
        Extras::of(&attribute_mapping(&table).expect("a valid mapping"))
    }

    fn all() -> Extras {
        extras(&[
            "nickName",
            "name.familyName",
            COST,
            BADGE,
            SITE,
            WORK_PHONE,
            PHOTO,
        ])
    }

    fn person() -> Attributes {
        Attributes::new("lin", "林晓")
            .with(Field::Mobile, Some("138".into()))
            .with(Field::named("nickName"), Some("Lin".into()))
            .with(Field::named("name.familyName"), Some("林".into()))
            .with(Field::named(COST), Some("CC-1".into()))
            .with(Field::named(BADGE), Some("B-7".into()))
            .with(Field::named(SITE), Some("北京".into()))
            .with(Field::named(WORK_PHONE), Some("010".into()))
            .with(Field::named(PHOTO), Some("https://x/p.png".into()))
    }

    #[test]
    fn a_create_puts_each_extra_in_its_place_and_lists_its_schemas() {
        let resource = resource(&UserKey::new("lin"), &person(), true, &all());
        assert_eq!(
            serde_json::to_value(&resource).unwrap(),
            json!({
                "schemas": [USER_SCHEMA, ENT, ACME],
                "externalId": "lin",
                "userName": "lin",
                "displayName": "林晓",
                "nickName": "Lin",
                "name": { "formatted": "林晓", "familyName": "林" },
                "phoneNumbers": [
                    { "value": "138", "type": "mobile" },
                    { "value": "010", "type": "work" }
                ],
                "photos": [{ "value": "https://x/p.png", "type": "photo" }],
                "active": true,
                ENT: { "costCenter": "CC-1" },
                ACME: { "badge": "B-7", "workplace": { "site": "北京" } }
            })
        );
    }

    #[test]
    fn extras_without_values_send_nothing_and_no_schema() {
        let resource = resource(&UserKey::new("k"), &Attributes::new("k", "K"), true, &all());
        let json = serde_json::to_value(&resource).unwrap();
        assert_eq!(json["schemas"], json!([USER_SCHEMA]));
        assert_eq!(json.get(ACME), None);
        assert_eq!(json.get("photos"), None);
    }

    fn change(field: &str, before: Option<&str>, after: Option<&str>) -> FieldChange {
        FieldChange {
            field: Field::named(field),
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
        }
    }

    #[test]
    fn patch_paths_for_each_kind_of_extra() {
        let ops = patch_operations(
            &[
                change("nickName", Some("a"), Some("b")),
                change("name.familyName", None, Some("林")),
                change(COST, Some("CC-1"), Some("CC-2")),
                change(SITE, Some("北京"), None),
                change(WORK_PHONE, Some("010"), Some("021")),
                change(PHOTO, None, Some("u")),
                change("mobile", Some("138"), Some("139")),
                change("email", None, Some("a@x")),
            ],
            &all(),
        );
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([
                { "op": "replace", "path": "nickName", "value": "b" },
                { "op": "replace", "path": "name.familyName", "value": "林" },
                { "op": "replace", "path": COST, "value": "CC-2" },
                { "op": "remove", "path": SITE },
                { "op": "remove", "path": r#"phoneNumbers[type eq "work"]"# },
                { "op": "add", "path": "phoneNumbers", "value": [{ "value": "021", "type": "work" }] },
                { "op": "add", "path": "photos", "value": [{ "value": "u", "type": "photo" }] },
                // The mobile shares phoneNumbers with a mapped entry: only its own entry changes.
                { "op": "remove", "path": r#"phoneNumbers[type eq "mobile"]"# },
                { "op": "add", "path": "phoneNumbers", "value": [{ "value": "139", "type": "mobile" }] },
                // The e-mail shares emails with nothing: the whole attribute, as before.
                { "op": "replace", "path": "emails",
                  "value": [{ "value": "a@x", "type": "work", "primary": true }] }
            ])
        );
    }

    #[test]
    fn clearing_extras_removes_them() {
        let ops = patch_operations(
            &[
                change("nickName", Some("a"), None),
                change(BADGE, Some("B"), None),
                change(WORK_PHONE, Some("010"), None),
                change("email", Some("a@x"), None),
            ],
            &extras(&[
                "nickName",
                BADGE,
                WORK_PHONE,
                r#"emails[type eq "home"].value"#,
            ]),
        );
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([
                { "op": "remove", "path": "nickName" },
                { "op": "remove", "path": BADGE },
                { "op": "remove", "path": r#"phoneNumbers[type eq "work"]"# },
                { "op": "remove", "path": r#"emails[type eq "work"]"# }
            ])
        );
    }

    #[test]
    fn extras_are_read_back_by_their_paths() {
        let user: wire::ReadUser = serde_json::from_value(json!({
            "id": "1", "userName": "lin", "displayName": "林晓", "nickname": "Lin",
            "name": { "formatted": "林晓", "familyName": "林" },
            "phoneNumbers": [
                { "value": "010", "type": "Work" },
                { "value": "138", "type": "mobile" }
            ],
            "photos": [{ "value": "https://x/p.png", "type": "photo" }],
            ENT: { "costCenter": 7 },
            ACME: { "badge": "B-7", "workplace": { "site": "北京" } }
        }))
        .unwrap();
        let account = account(user, &all()).unwrap();
        let want = person().with(Field::named(COST), Some("7".into()));
        assert_eq!(account.attributes, want);
    }

    #[test]
    fn the_mobile_is_not_taken_from_an_entry_an_extra_claims() {
        let user: wire::ReadUser = serde_json::from_value(json!({
            "id": "1", "userName": "lin",
            "phoneNumbers": [{ "value": "010", "type": "work" }]
        }))
        .unwrap();
        let account = account(user, &all()).unwrap();
        assert_eq!(account.attributes.get(Field::Mobile), None);
        assert_eq!(
            account.attributes.get(Field::named(WORK_PHONE)),
            Some("010")
        );
    }
}
