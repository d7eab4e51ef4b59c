//! Mapped attributes in a User resource: written to their place on create, changed by PATCH,
//! read back by their path for adoption and drift.

use super::mapping::ScimPath;
use super::wire::{self, ENTERPRISE_SCHEMA, MultiValue, PatchOperation};
use serde_json::{Map, Value, json};

/// Puts one mapped value where its path says, in a resource being created.
pub(super) fn put(resource: &mut wire::UserResource, path: &ScimPath, value: &str) {
    match path {
        ScimPath::Attribute { schema, name, sub } => {
            let sub = sub.as_deref();
            let (object, keys) = match schema.as_deref() {
                // The parser lets `name` through only with a sub-attribute.
                None if name.eq_ignore_ascii_case("name") => (&mut resource.name.other, vec![sub]),
                None => (&mut resource.extensions, vec![Some(name.as_str()), sub]),
                Some(ENTERPRISE_SCHEMA) => (
                    &mut resource
                        .enterprise
                        .get_or_insert_with(Default::default)
                        .other,
                    vec![Some(name.as_str()), sub],
                ),
                Some(urn) => (
                    &mut resource.extensions,
                    vec![Some(urn), Some(name.as_str()), sub],
                ),
            };
            let keys: Vec<&str> = keys.into_iter().flatten().collect();
            insert(object, &keys, value.into());
        }
        ScimPath::Entry { attr, kind } => {
            let entry = typed(value, kind, None);
            match attr.as_str() {
                "emails" => resource.emails.push(entry),
                "phoneNumbers" => resource.phone_numbers.push(entry),
                other => {
                    let list = resource
                        .extensions
                        .entry(other.to_owned())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = list {
                        list.push(json!(entry));
                    }
                }
            }
        }
    }
}

/// Inserts `value` at the path of member names `keys`, making the objects on the way.
fn insert(map: &mut Map<String, Value>, keys: &[&str], value: Value) {
    match keys {
        [] => {}
        [last] => {
            map.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let slot = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert(inner, rest, value);
            }
        }
    }
}

pub(super) fn typed(value: &str, kind: &str, primary: Option<bool>) -> MultiValue {
    MultiValue {
        value: value.to_owned(),
        kind: Some(kind.to_owned()),
        primary,
    }
}

/// The PATCH operations that set (`Some`) or clear (`None`) one typed entry of a multi-valued
/// attribute, given whether orgsync last saw it set.
///
/// Why `remove attr[type eq "x"]` then `add attr [entry]`, and not `replace attr[type eq
/// "x"].value` or a `replace` of the whole attribute: RFC 7644 §3.5.2.3 makes a `replace`
/// whose filter matches nothing fail (`noTarget`; scim2-server does), so it breaks on an entry
/// removed in the target since orgsync last looked, or never typed as orgsync types it; a
/// `replace` of the whole attribute would drop the entries orgsync does not manage (a home
/// phone the target's admin added) and those other mapped entries whose values are not in this
/// update. A `remove` with a filter takes out exactly the entries of that type (§3.5.2.2), and
/// `add` to a multi-valued attribute appends the new entry (§3.5.2.1), with `primary` moving
/// to it. The `remove` is sent only when orgsync saw the entry, so a server that answers
/// `noTarget` to an unmatched `remove` never sees one in a run that reads what it changes.
pub(super) fn entry_operations(
    attr: &str,
    kind: &str,
    had_value: bool,
    value: Option<&str>,
    primary: Option<bool>,
) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    if had_value {
        ops.push(PatchOperation {
            op: "remove",
            path: ScimPath::Entry {
                attr: attr.to_owned(),
                kind: kind.to_owned(),
            }
            .patch_path(),
            value: None,
        });
    }
    if let Some(value) = value {
        ops.push(PatchOperation {
            op: "add",
            path: attr.to_owned(),
            value: Some(json!([typed(value, kind, primary)])),
        });
    }
    ops
}

/// Reads one mapped value back from a listed resource. Numbers and booleans a target holds for
/// a mapped attribute are read as their text, so they compare with what orgsync would write.
pub(super) fn read(user: &wire::ReadUser, path: &ScimPath) -> Option<String> {
    let found = match path {
        ScimPath::Attribute { schema, name, sub } => {
            let container = match schema.as_deref() {
                None if name.eq_ignore_ascii_case("name") => {
                    let sub = sub.as_deref()?;
                    return user
                        .name
                        .as_ref()
                        .and_then(|n| text(member(&n.other, sub)?));
                }
                None => Some(&user.other),
                Some(ENTERPRISE_SCHEMA) => user.enterprise.as_ref().map(|e| &e.other),
                Some(urn) => member(&user.other, urn).and_then(Value::as_object),
            }?;
            let value = member(container, name)?;
            match sub {
                Some(sub) => member(value.as_object()?, sub)?,
                None => value,
            }
        }
        ScimPath::Entry { attr, kind } => {
            let listed = match attr.as_str() {
                "emails" => &user.emails,
                "phoneNumbers" => &user.phone_numbers,
                other => {
                    return member(&user.other, other)?
                        .as_array()?
                        .iter()
                        .find(|entry| {
                            entry
                                .get("type")
                                .and_then(Value::as_str)
                                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
                        })
                        .and_then(|entry| text(entry.get("value")?));
                }
            };
            return of_type(listed, kind).map(|entry| entry.value.clone());
        }
    };
    text(found)
}

/// The first entry of this type (types compare case-insensitively, RFC 7643 §2.4).
pub(super) fn of_type<'a>(entries: &'a [MultiValue], kind: &str) -> Option<&'a MultiValue> {
    entries.iter().find(|entry| {
        entry
            .kind
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })
}

/// A member by name, case-insensitively (RFC 7643 §2.1).
fn member<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
