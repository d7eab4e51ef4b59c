//! Groups on the wire (RFC 7643 §4.2, plus orgsync's department extension): attribute paths,
//! writing JSON values onto a [`ScimGroup`], POST/PUT bodies, and rendering.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::assign::Mode;
use super::error::{ScimError, ScimType};
use super::filter::{Token, tokenize};
use super::group_store::GroupEntry;
use super::schema::{DEPARTMENT_SCHEMA, GROUP_SCHEMA};
use super::store::Store;
use super::wire::{etag, parse_json, user_location};
use super::{GroupHead, ScimGroup};

/// What a Group attribute path points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupPath {
    Id,
    ExternalId,
    DisplayName,
    Members,
    /// `members[value eq "ID"]`: one member, by a value filter.
    Member(String),
    /// The whole department extension object.
    Department,
    Head,
    Parent,
    /// `meta` and `schemas`.
    ReadOnly,
}

/// Resolves a path case-insensitively, optionally qualified by its schema URN (RFC 7644 §3.10).
pub(crate) fn resolve(path: &str) -> Option<GroupPath> {
    if let Some(open) = path.find('[') {
        let (attr, filter) = path.split_at(open);
        let inner = filter.strip_prefix('[')?.strip_suffix(']')?;
        return (resolve(attr)? == GroupPath::Members)
            .then(|| member_filter(inner))
            .flatten()
            .map(GroupPath::Member);
    }
    let lower = path.to_ascii_lowercase();
    let department = DEPARTMENT_SCHEMA.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix(&department) {
        return match rest {
            "" => Some(GroupPath::Department),
            ":head" => Some(GroupPath::Head),
            ":parentdepartment" => Some(GroupPath::Parent),
            _ => None,
        };
    }
    let core = GROUP_SCHEMA.to_ascii_lowercase() + ":";
    Some(match lower.strip_prefix(&core).unwrap_or(&lower) {
        "id" => GroupPath::Id,
        "externalid" => GroupPath::ExternalId,
        "displayname" => GroupPath::DisplayName,
        "members" => GroupPath::Members,
        "meta" | "schemas" => GroupPath::ReadOnly,
        _ => return None,
    })
}

/// `value eq "ID"`, the one value filter this service provider answers in a path.
fn member_filter(filter: &str) -> Option<String> {
    match tokenize(filter).ok()?.as_slice() {
        [Token::Word(attr), Token::Word(op), Token::Str(id)]
            if attr.eq_ignore_ascii_case("value") && op.eq_ignore_ascii_case("eq") =>
        {
            Some(id.clone())
        }
        _ => None,
    }
}

/// Writes `value` at `path` (RFC 7644 §3.5.2.1/3: add appends members, replace overwrites them).
pub(crate) fn assign(
    group: &mut ScimGroup,
    path: &GroupPath,
    value: &Value,
    mode: Mode,
) -> Result<(), ScimError> {
    match path {
        GroupPath::Id | GroupPath::ReadOnly => return Err(read_only()),
        GroupPath::DisplayName => match value {
            Value::String(name) => group.display_name.clone_from(name),
            _ => {
                return Err(ScimError::invalid_value(
                    "displayName is required and must be a string",
                ));
            }
        },
        GroupPath::ExternalId => group.external_id = optional_string(value, "externalId")?,
        GroupPath::Members => {
            let members = members(value)?;
            match mode {
                Mode::Add => group.members.extend(members),
                Mode::Replace => group.members = members,
            }
        }
        GroupPath::Member(_) => {
            return Err(ScimError::invalid_path(
                "a member filter can only be removed; add members by value",
            ));
        }
        GroupPath::Department => match value {
            Value::Null => clear(group, path)?,
            Value::Object(attributes) => {
                for (key, member) in attributes {
                    let path = match key.to_ascii_lowercase().as_str() {
                        "head" => GroupPath::Head,
                        "parentdepartment" => GroupPath::Parent,
                        _ => return Err(unknown_attribute(key)),
                    };
                    assign(group, &path, member, mode)?;
                }
            }
            _ => {
                return Err(ScimError::invalid_value(
                    "the department extension must be an object",
                ));
            }
        },
        GroupPath::Head => group.head = head(value)?,
        GroupPath::Parent => {
            group.parent_department = optional_string(value, "parentDepartment")?;
        }
    }
    Ok(())
}

/// Unassigns the target of a `remove`. Removing a member that is not there matches no value:
/// 400 `noTarget`, as RFC 7644 §3.5.2.3 answers for a replace (some servers succeed instead).
pub(crate) fn clear(group: &mut ScimGroup, path: &GroupPath) -> Result<(), ScimError> {
    match path {
        GroupPath::Id | GroupPath::ReadOnly => return Err(read_only()),
        GroupPath::DisplayName => {
            return Err(ScimError::bad_request(
                ScimType::Mutability,
                "displayName is required and cannot be removed",
            ));
        }
        GroupPath::ExternalId => group.external_id = None,
        GroupPath::Members => group.members.clear(),
        GroupPath::Member(id) => {
            if !group.members.remove(id) {
                return Err(ScimError::bad_request(
                    ScimType::NoTarget,
                    format!("no member has the value {id:?}"),
                ));
            }
        }
        GroupPath::Department => {
            group.head = None;
            group.parent_department = None;
        }
        GroupPath::Head => group.head = None,
        GroupPath::Parent => group.parent_department = None,
    }
    Ok(())
}

/// Writes every member of a resource-level object (a POST/PUT body, or a PATCH value without a
/// path). `schemas`, `id` and `meta` of a resource are the server's and ignored there.
pub(crate) fn assign_object(
    group: &mut ScimGroup,
    attributes: &Map<String, Value>,
    mode: Mode,
    resource: bool,
) -> Result<(), ScimError> {
    for (key, value) in attributes {
        let path = match resolve(key) {
            Some(GroupPath::Member(_)) | None => return Err(unknown_attribute(key)),
            Some(GroupPath::Id | GroupPath::ReadOnly) if resource => continue,
            Some(path) => path,
        };
        assign(group, &path, value, mode)?;
    }
    Ok(())
}

/// Parses a POST/PUT body. `schemas` must list the Group schema, and the extension when the
/// body uses it; anything else is refused like scim2-server does.
pub(crate) fn parse_group(body: &[u8]) -> Result<ScimGroup, ScimError> {
    let Value::Object(attributes) = parse_json(body)? else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    let listed: Vec<String> = attributes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, value)| value.as_array())
        .ok_or_else(|| ScimError::invalid_syntax("schemas must be an array of schema URNs"))?
        .iter()
        .map(|urn| urn.as_str().map(str::to_ascii_lowercase))
        .collect::<Option<_>>()
        .ok_or_else(|| ScimError::invalid_syntax("schemas must hold strings"))?;
    let lists = |urn: &str| listed.iter().any(|item| *item == urn.to_ascii_lowercase());
    if !lists(GROUP_SCHEMA) {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must include {GROUP_SCHEMA}"
        )));
    }
    let known = [
        GROUP_SCHEMA.to_ascii_lowercase(),
        DEPARTMENT_SCHEMA.to_ascii_lowercase(),
    ];
    if let Some(unknown) = listed.iter().find(|urn| !known.contains(urn)) {
        return Err(ScimError::invalid_syntax(format!(
            "unknown schema {unknown:?}"
        )));
    }
    let uses_department = attributes
        .iter()
        .any(|(key, value)| key.eq_ignore_ascii_case(DEPARTMENT_SCHEMA) && !value.is_null());
    if uses_department && !lists(DEPARTMENT_SCHEMA) {
        return Err(ScimError::invalid_syntax(format!(
            "the body uses the department extension but schemas does not list {DEPARTMENT_SCHEMA}"
        )));
    }
    let mut group = ScimGroup::new("");
    assign_object(&mut group, &attributes, Mode::Replace, true)?;
    if group.display_name.trim().is_empty() {
        return Err(ScimError::invalid_value("displayName is required"));
    }
    Ok(group)
}

/// Renders a stored group; `members` is left out when `wanted` says so (RFC 7644 §3.9).
pub(crate) fn render_group(
    store: &Store,
    entry: &GroupEntry,
    base_url: &str,
    wanted: &Projection,
) -> Value {
    let group = &entry.group;
    let mut out = Map::new();
    let mut schemas = vec![Value::from(GROUP_SCHEMA)];
    out.insert("id".into(), group.id.clone().into());
    if wanted.returns("externalId")
        && let Some(external_id) = &group.external_id
    {
        out.insert("externalId".into(), external_id.clone().into());
    }
    if wanted.returns("displayName") {
        out.insert("displayName".into(), group.display_name.clone().into());
    }
    if wanted.returns("members") && !group.members.is_empty() {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|id| {
                let mut member = json!({
                    "value": id, "$ref": user_location(base_url, id), "type": "User"
                });
                if let Some(name) = store.user_display_name(id) {
                    member["display"] = name.into();
                }
                member
            })
            .collect();
        out.insert("members".into(), members.into());
    }
    let mut department = Map::new();
    if let Some(head) = &group.head {
        let mut value = json!({ "value": head.value });
        if let Some(external_id) = &head.external_id {
            value["externalId"] = external_id.clone().into();
        }
        department.insert("head".into(), value);
    }
    if let Some(parent) = &group.parent_department {
        department.insert("parentDepartment".into(), parent.clone().into());
    }
    if !department.is_empty() {
        schemas.push(DEPARTMENT_SCHEMA.into());
        if wanted.returns(DEPARTMENT_SCHEMA) {
            out.insert(DEPARTMENT_SCHEMA.into(), department.into());
        }
    }
    if wanted.returns("meta") {
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "Group",
                "created": entry.created,
                "lastModified": entry.last_modified,
                "location": group_location(base_url, &group.id),
                "version": etag(group.version),
            }),
        );
    }
    out.insert("schemas".into(), schemas.into());
    Value::Object(out)
}

pub(crate) fn group_location(base_url: &str, id: &str) -> String {
    format!("{base_url}/Groups/{id}")
}

/// The `attributes` / `excludedAttributes` parameters (RFC 7644 §3.4.2.5): top-level names,
/// compared case-insensitively; `id` and `schemas` are always returned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Projection {
    only: Option<BTreeSet<String>>,
    excluded: BTreeSet<String>,
}

impl Projection {
    pub(crate) fn from_params(params: &[(String, String)]) -> Self {
        let names = |value: &str| -> BTreeSet<String> {
            value
                .split(',')
                .map(|name| top_level(name.trim()))
                .filter(|name| !name.is_empty())
                .collect()
        };
        let mut projection = Self::default();
        for (key, value) in params {
            match key.as_str() {
                "attributes" => projection.only = Some(names(value)),
                "excludedAttributes" => projection.excluded = names(value),
                _ => {}
            }
        }
        projection
    }

    fn returns(&self, attribute: &str) -> bool {
        let name = attribute.to_ascii_lowercase();
        match &self.only {
            Some(only) => only.contains(&name),
            None => !self.excluded.contains(&name),
        }
    }
}

/// `members.value` → `members`; an extension attribute → the extension's URN; lower-cased.
fn top_level(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let department = DEPARTMENT_SCHEMA.to_ascii_lowercase();
    if lower.starts_with(&department) {
        return department;
    }
    let core = GROUP_SCHEMA.to_ascii_lowercase() + ":";
    let lower = lower.strip_prefix(&core).unwrap_or(&lower);
    lower.split('.').next().unwrap_or_default().to_owned()
}

fn members(value: &Value) -> Result<BTreeSet<String>, ScimError> {
    let items = match value {
        Value::Null => return Ok(BTreeSet::new()),
        Value::Array(items) => items.as_slice(),
        // A single member object is accepted as a one-element list, as many servers do.
        Value::Object(_) => std::slice::from_ref(value),
        _ => {
            return Err(ScimError::invalid_value(
                "members must be an array of {\"value\": \"<user id>\"}",
            ));
        }
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(attributes) = item else {
                return Err(ScimError::invalid_value("each member must be an object"));
            };
            let mut id = None;
            for (key, member) in attributes {
                match key.to_ascii_lowercase().as_str() {
                    "value" => match member {
                        Value::String(value) if !value.is_empty() => id = Some(value.clone()),
                        _ => {
                            return Err(ScimError::invalid_value(
                                "members.value must be a non-empty id",
                            ));
                        }
                    },
                    "type" => {
                        if !member
                            .as_str()
                            .is_some_and(|t| t.eq_ignore_ascii_case("User"))
                        {
                            return Err(ScimError::invalid_value(
                                "only Users can be members of a Group here",
                            ));
                        }
                    }
                    "$ref" | "display" => {}
                    _ => return Err(unknown_attribute(&format!("members.{key}"))),
                }
            }
            id.ok_or_else(|| ScimError::invalid_value("each member needs a value"))
        })
        .collect()
}

fn head(value: &Value) -> Result<Option<GroupHead>, ScimError> {
    let attributes = match value {
        Value::Null => return Ok(None),
        Value::Object(attributes) => attributes,
        _ => {
            return Err(ScimError::invalid_value(
                "head must be an object like {\"value\": \"<user id>\"}",
            ));
        }
    };
    let mut head = GroupHead {
        value: String::new(),
        external_id: None,
    };
    for (key, member) in attributes {
        match key.to_ascii_lowercase().as_str() {
            "value" => match member {
                Value::String(value) if !value.is_empty() => head.value.clone_from(value),
                _ => return Err(ScimError::invalid_value("head.value must be a user id")),
            },
            "externalid" => head.external_id = optional_string(member, "head.externalId")?,
            _ => return Err(unknown_attribute(&format!("head.{key}"))),
        }
    }
    if head.value.is_empty() {
        return Err(ScimError::invalid_value("head needs a value"));
    }
    Ok(Some(head))
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

fn unknown_attribute(name: &str) -> ScimError {
    ScimError::invalid_syntax(format!(
        "unknown attribute {name:?}: this service provider's Group schema does not define it"
    ))
}

fn read_only() -> ScimError {
    ScimError::bad_request(ScimType::Mutability, "id, meta and schemas are read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_and_member_filters() {
        assert_eq!(resolve("DisplayName"), Some(GroupPath::DisplayName));
        assert_eq!(
            resolve("urn:ietf:params:scim:schemas:core:2.0:Group:members"),
            Some(GroupPath::Members)
        );
        assert_eq!(
            resolve(r#"members[value eq "a \"b\""]"#),
            Some(GroupPath::Member(r#"a "b""#.into()))
        );
        assert_eq!(
            resolve(&format!("{DEPARTMENT_SCHEMA}:Head")),
            Some(GroupPath::Head)
        );
        for bad in [
            r#"members[display eq "a"]"#,
            r#"members[value eq "a" or value eq "b"]"#,
            r#"displayName[value eq "a"]"#,
            "members[value eq \"a\"",
            "owners",
            &format!("{DEPARTMENT_SCHEMA}:owner"),
        ] {
            assert_eq!(resolve(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_group_requires_listed_schemas() {
        let ok = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A",
            "externalId":"7","members":[{"value":"u1","type":"User"}]}"#;
        let group = parse_group(ok).unwrap();
        assert_eq!(group.display_name, "A");
        assert_eq!(group.members.len(), 1);
        let unlisted = format!(
            r#"{{"schemas":["{GROUP_SCHEMA}"],"displayName":"A","{DEPARTMENT_SCHEMA}":{{"parentDepartment":"1"}}}}"#
        );
        assert!(parse_group(unlisted.as_bytes()).is_err());
        let unknown = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A","owners":[]}"#;
        assert!(parse_group(unknown).is_err());
        let nameless = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}"#;
        assert!(parse_group(nameless).is_err());
    }
}
