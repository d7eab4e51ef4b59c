//! The JSON shapes on the wire: User resources in and out, ETags, and the `application/scim+json`
//! response helper.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::ScimUser;
use super::assign::{self, Mode, Source};
use super::error::ScimError;
use super::schema::{ENTERPRISE_SCHEMA, Known, USER_SCHEMA};
use super::store::Entry;

pub(crate) const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A JSON response with the SCIM media type (RFC 7644 §3.1).
pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    // Serialising a `Value` cannot fail: its map keys are always strings.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

/// The weak entity tag of a version, as in `meta.version` and the `ETag` header.
pub(crate) fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// A parsed `If-Match` / `If-None-Match` header: `*` or a list of entity tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IfMatch(String);

impl IfMatch {
    pub(crate) fn new(header: &str) -> Self {
        Self(header.to_owned())
    }

    /// Whether the header names `version`. Tags compare by their opaque part, weak or not: SCIM
    /// hands out weak tags and expects them back in `If-Match` (RFC 7644 §3.14).
    pub(crate) fn matches(&self, version: u64) -> bool {
        let wanted = format!("\"{version}\"");
        self.0
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == wanted)
    }
}

/// Where a user lives, for `Location`, `meta.location` and `manager.$ref`.
pub(crate) fn user_location(base_url: &str, id: &str) -> String {
    format!("{base_url}/Users/{id}")
}

/// Renders a stored user. Unassigned attributes are omitted rather than sent as null.
pub(crate) fn render_user(
    entry: &Entry,
    base_url: &str,
    manager_name: Option<&str>,
    known: Known,
) -> Value {
    let user = &entry.user;
    let mut out = Map::new();
    let mut schemas = vec![Value::from(USER_SCHEMA)];
    out.insert("id".into(), user.id.clone().into());
    put_opt(&mut out, "externalId", user.external_id.as_deref());
    out.insert("userName".into(), user.user_name.clone().into());
    put_opt(&mut out, "displayName", user.display_name.as_deref());
    if let Some(formatted) = &user.formatted_name {
        out.insert("name".into(), json!({ "formatted": formatted }));
    }
    if !user.emails.is_empty() {
        out.insert(
            "emails".into(),
            multi_valued(&user.emails, &user.email_types, true),
        );
    }
    if !user.phone_numbers.is_empty() {
        out.insert(
            "phoneNumbers".into(),
            multi_valued(&user.phone_numbers, &user.phone_types, false),
        );
    }
    put_opt(&mut out, "title", user.title.as_deref());
    out.insert("active".into(), user.active.into());

    let mut enterprise = Map::new();
    put_opt(
        &mut enterprise,
        "employeeNumber",
        user.employee_number.as_deref(),
    );
    put_opt(&mut enterprise, "department", user.department.as_deref());
    if let Some(manager) = &user.manager_id {
        let mut link = json!({ "value": manager, "$ref": user_location(base_url, manager) });
        if let Some(name) = manager_name {
            link["displayName"] = name.into();
        }
        enterprise.insert("manager".into(), link);
    }
    render_extras(&mut out, &mut enterprise, user, known);
    if !enterprise.is_empty() {
        schemas.push(ENTERPRISE_SCHEMA.into());
        out.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    for urn in known.extensions() {
        if out.contains_key(urn) {
            schemas.push(urn.into());
        }
    }

    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": entry.created,
            "lastModified": entry.last_modified,
            "location": user_location(base_url, &user.id),
            "version": etag(user.version),
        }),
    );
    out.insert("schemas".into(), Value::Array(schemas));
    Value::Object(out)
}

/// Puts each configured attribute where its path says: the core resource, `name`, the
/// enterprise object or a custom extension's object under its URN.
fn render_extras(
    out: &mut Map<String, Value>,
    enterprise: &mut Map<String, Value>,
    user: &ScimUser,
    known: Known,
) {
    let enterprise_prefix = format!("{ENTERPRISE_SCHEMA}:");
    for (name, value) in &user.extra {
        let (object, path) = if let Some(rest) = name.strip_prefix(&enterprise_prefix) {
            (&mut *enterprise, rest.to_owned())
        } else if let Some(urn) = known.extensions().find(|urn| {
            name.len() > urn.len() && name.starts_with(urn) && name[urn.len()..].starts_with(':')
        }) {
            let slot = out
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match slot {
                Value::Object(object) => (object, name[urn.len() + 1..].to_owned()),
                _ => continue,
            }
        } else {
            (&mut *out, name.clone())
        };
        match path.split_once('.') {
            Some((attr, sub)) => {
                let slot = object
                    .entry(attr.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(inner) = slot {
                    inner.insert(sub.to_owned(), value.clone().into());
                }
            }
            None => {
                object.insert(path, value.clone().into());
            }
        }
    }
}

fn put_opt(out: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.insert(key.into(), value.into());
    }
}

/// `[{"value", "type", "primary": true}, …]`; only emails carry `primary` (on the first); an
/// entry stored without a type is shown as `work`.
fn multi_valued(values: &[String], types: &[Option<String>], mark_primary: bool) -> Value {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let kind = types
                .get(index)
                .and_then(Option::as_deref)
                .unwrap_or("work");
            let mut item = json!({ "value": value, "type": kind });
            if mark_primary && index == 0 {
                item["primary"] = true.into();
            }
            item
        })
        .collect()
}

/// Parses a POST/PUT body into a user with no id. Strict like scim2-server: unknown attributes and
/// schemas are refused (400 `invalidSyntax`), and `schemas` must list every schema the body uses.
pub(crate) fn parse_user(body: &[u8], known: Known) -> Result<ScimUser, ScimError> {
    let value = parse_json(body)?;
    let Value::Object(members) = &value else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    check_schemas(members, known)?;
    let mut user = ScimUser::new("");
    assign::assign_object(&mut user, members, Mode::Replace, Source::Resource, known)?;
    if user.user_name.is_empty() {
        return Err(ScimError::invalid_value("userName is required"));
    }
    Ok(user)
}

/// Parses a request body as JSON; malformed JSON is 400 `invalidSyntax`.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|err| ScimError::invalid_syntax(format!("the body is not valid JSON: {err}")))
}

fn check_schemas(members: &Map<String, Value>, known: Known) -> Result<(), ScimError> {
    let listed: Vec<&str> = members
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, value)| value.as_array())
        .ok_or_else(|| ScimError::invalid_syntax("schemas must be an array of schema URNs"))?
        .iter()
        .map(|urn| {
            urn.as_str()
                .ok_or_else(|| ScimError::invalid_syntax("schemas must hold strings"))
        })
        .collect::<Result<_, _>>()?;
    let lists = |urn: &str| listed.iter().any(|item| item.eq_ignore_ascii_case(urn));
    if !lists(USER_SCHEMA) {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must include {USER_SCHEMA}"
        )));
    }
    if let Some(unknown) = listed.iter().find(|urn| {
        !urn.eq_ignore_ascii_case(USER_SCHEMA)
            && !urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA)
            && !known.is_extension(urn)
    }) {
        return Err(ScimError::invalid_syntax(format!(
            "unknown schema {unknown:?}"
        )));
    }
    // RFC 7643 §3: `schemas` lists every extension whose attributes the resource carries.
    let uses_enterprise = members.iter().any(|(key, value)| {
        key.to_ascii_lowercase()
            .starts_with(&ENTERPRISE_SCHEMA.to_ascii_lowercase())
            && !value.is_null()
    });
    if uses_enterprise && !lists(ENTERPRISE_SCHEMA) {
        return Err(ScimError::invalid_syntax(format!(
            "the body uses the enterprise extension but schemas does not list {ENTERPRISE_SCHEMA}"
        )));
    }
    if let Some((urn, _)) = members
        .iter()
        .find(|(key, value)| known.is_extension(key) && !value.is_null() && !lists(key))
    {
        return Err(ScimError::invalid_syntax(format!(
            "the body uses the extension {urn} but schemas does not list it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_opaque_tags() {
        assert!(IfMatch::new("W/\"3\"").matches(3));
        assert!(IfMatch::new("\"3\"").matches(3));
        assert!(IfMatch::new("W/\"1\", W/\"3\"").matches(3));
        assert!(IfMatch::new("*").matches(9));
        assert!(!IfMatch::new("W/\"2\"").matches(3));
        assert!(!IfMatch::new("3").matches(3));
    }

    #[test]
    fn parse_user_refuses_unknown_and_reads_known_attributes() {
        let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","nickName":"b"}"#;
        let err = parse_user(body, Known::NONE).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);

        let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id":"ignored","userName":"a","name":{"formatted":"A B"},
            "emails":[{"value":"x@e.com","type":"work"},{"value":"p@e.com","primary":true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}"#;
        let user = parse_user(body, Known::NONE).unwrap();
        assert_eq!(user.id, "");
        assert_eq!(user.formatted_name.as_deref(), Some("A B"));
        assert_eq!(user.emails, ["p@e.com", "x@e.com"]);
        assert_eq!(user.manager_id.as_deref(), Some("m1"));
        assert!(user.active);
    }

    #[test]
    fn parse_user_requires_listed_schemas() {
        let body = br#"{"userName":"a"}"#;
        assert!(parse_user(body, Known::NONE).is_err());
        let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x"}}"#;
        assert!(parse_user(body, Known::NONE).is_err());
        assert!(parse_user(b"{not json", Known::NONE).is_err());
        assert!(parse_user(b"[]", Known::NONE).is_err());
    }
}
