//! The HTTP surface: routes under `/scim/v2` and their handlers.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::discovery;
use super::error::ScimError;
use super::filter::Filter;
use super::group_routes;
use super::group_wire::group_location;
use super::list::{ListQuery, list_response};
use super::middleware::{authenticate, count, inject_faults};
use super::patch;
use super::state::Shared;
use super::store::{Entry, Store};
use super::wire::{self, IfMatch, SCIM_CONTENT_TYPE};

pub(crate) const PREFIX: &str = "/scim/v2";

type Reply = Result<Response, ScimError>;
pub(crate) type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;
pub(crate) type Id = Result<Path<String>, PathRejection>;
pub(crate) type Body = Result<Bytes, BytesRejection>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let route = |path: &str| format!("{PREFIX}{path}");
    Router::new()
        .route(
            &route("/ServiceProviderConfig"),
            get(service_provider_config),
        )
        .route(&route("/Schemas"), get(list_schemas))
        .route(&route("/Schemas/{id}"), get(get_schema))
        .route(&route("/ResourceTypes"), get(list_resource_types))
        .route(&route("/ResourceTypes/{id}"), get(get_resource_type))
        .route(&route("/Users"), get(list_users).post(create_user))
        .route(
            &route("/Users/{id}"),
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route(
            &route("/Groups"),
            get(group_routes::list).post(group_routes::create),
        )
        .route(
            &route("/Groups/{id}"),
            get(group_routes::get)
                .put(group_routes::replace)
                .patch(group_routes::patch)
                .delete(group_routes::delete),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(from_fn_with_state(shared.clone(), inject_faults))
        .layer(from_fn_with_state(shared.clone(), authenticate))
        .layer(from_fn_with_state(shared.clone(), count))
        .with_state(shared)
}

async fn not_found() -> ScimError {
    ScimError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not supported on this endpoint",
    )
}

async fn service_provider_config(State(shared): State<Arc<Shared>>) -> Response {
    let body = discovery::service_provider_config(&shared.base_url, shared.config.max_page_size);
    wire::scim_json(StatusCode::OK, &body)
}

async fn list_schemas(State(shared): State<Arc<Shared>>) -> Response {
    let schemas = discovery::schemas(
        &shared.base_url,
        shared.config.unique_emails,
        shared.known(),
    );
    list_response(schemas.len(), 1, schemas)
}

async fn get_schema(State(shared): State<Arc<Shared>>, id: Id) -> Reply {
    let schemas = discovery::schemas(
        &shared.base_url,
        shared.config.unique_emails,
        shared.known(),
    );
    find_by_id(schemas, id, "Schema")
}

async fn list_resource_types(State(shared): State<Arc<Shared>>) -> Response {
    let types = discovery::resource_types(&shared.base_url, shared.known());
    list_response(types.len(), 1, types)
}

async fn get_resource_type(State(shared): State<Arc<Shared>>, id: Id) -> Reply {
    find_by_id(
        discovery::resource_types(&shared.base_url, shared.known()),
        id,
        "ResourceType",
    )
}

fn find_by_id(resources: Vec<Value>, id: Id, kind: &str) -> Reply {
    let id = path_id(id)?;
    resources
        .into_iter()
        .find(|resource| resource["id"] == id.as_str())
        .map(|resource| wire::scim_json(StatusCode::OK, &resource))
        .ok_or_else(|| ScimError::not_found(format!("{kind} {id:?} not found")))
}

async fn list_users(State(shared): State<Arc<Shared>>, params: Params) -> Reply {
    let query = ListQuery::parse(params, shared.config.max_page_size)?;
    if let Some(max) = shared.max_start_index()
        && query.start_index > max
    {
        return Err(ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "injected fault: startIndex {} is beyond {max}",
                query.start_index
            ),
        ));
    }
    let store = shared.store();
    // An equality on an indexed attribute (the pusher's externalId lookups) avoids a full scan.
    let candidates: Vec<&Entry> = query
        .filter
        .as_ref()
        .and_then(Filter::required_equality)
        .and_then(|(attr, value)| store.candidates(attr, value))
        .unwrap_or_else(|| store.entries().collect());
    let matching: Vec<&Entry> = candidates
        .into_iter()
        .filter(|entry| {
            query
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(&entry.user))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(query.start_index - 1)
        .take(query.count)
        .map(|entry| render(&store, entry, &shared))
        .collect();
    Ok(list_response(matching.len(), query.start_index, page))
}

async fn get_user(State(shared): State<Arc<Shared>>, headers: HeaderMap, id: Id) -> Reply {
    let id = path_id(id)?;
    let store = shared.store();
    let entry = store
        .get(&id)
        .ok_or_else(|| ScimError::user_not_found(&id))?;
    if if_match_header(&headers, header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.matches(entry.user.version))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, entry.user.version);
        return Ok(response);
    }
    Ok(user_response(StatusCode::OK, &store, entry, &shared))
}

async fn create_user(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Reply {
    let user = wire::parse_user(&json_body(&headers, body)?, shared.known())?;
    let mut store = shared.store();
    let entry = store.create(user, shared.rules())?.clone();
    let mut response = user_response(StatusCode::CREATED, &store, &entry, &shared);
    if let Ok(location) =
        HeaderValue::from_str(&wire::user_location(&shared.base_url, &entry.user.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn replace_user(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Id,
    body: Body,
) -> Reply {
    let id = path_id(id)?;
    let replacement = wire::parse_user(&json_body(&headers, body)?, shared.known())?;
    let if_match = if_match_header(&headers, header::IF_MATCH);
    let mut store = shared.store();
    let entry = store
        .update(&id, if_match.as_ref(), shared.rules(), |user| {
            *user = replacement;
            Ok(())
        })?
        .clone();
    Ok(user_response(StatusCode::OK, &store, &entry, &shared))
}

/// 204 like scim2-server; 200 with the (full) resource when the client names `attributes` or
/// `excludedAttributes`.
async fn patch_user(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Id,
    params: Params,
    body: Body,
) -> Reply {
    let id = path_id(id)?;
    let operations = patch::parse(&json_body(&headers, body)?, shared.known())?;
    let wants_body = params
        .map_err(|rejection| ScimError::invalid_value(rejection.body_text()))?
        .0
        .iter()
        .any(|(key, _)| key == "attributes" || key == "excludedAttributes");
    let if_match = if_match_header(&headers, header::IF_MATCH);
    let mut store = shared.store();
    let entry = store
        .update(&id, if_match.as_ref(), shared.rules(), |user| {
            patch::apply(user, &operations, shared.known())
        })?
        .clone();
    if wants_body {
        return Ok(user_response(StatusCode::OK, &store, &entry, &shared));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_etag(&mut response, entry.user.version);
    Ok(response)
}

async fn delete_user(State(shared): State<Arc<Shared>>, headers: HeaderMap, id: Id) -> Reply {
    let id = path_id(id)?;
    let if_match = if_match_header(&headers, header::IF_MATCH);
    shared
        .store()
        .delete(&id, if_match.as_ref(), shared.rules())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn render(store: &Store, entry: &Entry, shared: &Shared) -> Value {
    let base_url = shared.base_url.as_str();
    let manager_name = entry
        .user
        .manager_id
        .as_deref()
        .and_then(|manager| store.get(manager))
        .and_then(|manager| manager.user.display_name.as_deref());
    let mut user = wire::render_user(entry, base_url, manager_name, shared.known());
    let groups: Vec<Value> = store
        .groups
        .of_member(&entry.user.id)
        .map(|group| {
            serde_json::json!({
                "value": group.id,
                "$ref": group_location(base_url, &group.id),
                "display": group.display_name,
                "type": "direct",
            })
        })
        .collect();
    // RFC 7643 §4.1.2: the read-only `groups` a user is a member of.
    if !groups.is_empty() {
        user["groups"] = groups.into();
    }
    user
}

fn user_response(status: StatusCode, store: &Store, entry: &Entry, shared: &Shared) -> Response {
    let mut response = wire::scim_json(status, &render(store, entry, shared));
    set_etag(&mut response, entry.user.version);
    response
}

pub(crate) fn set_etag(response: &mut Response, version: u64) {
    if let Ok(tag) = HeaderValue::from_str(&wire::etag(version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
}

pub(crate) fn path_id(id: Id) -> Result<String, ScimError> {
    id.map(|Path(id)| id)
        .map_err(|rejection| ScimError::not_found(rejection.body_text()))
}

/// A present but unreadable header matches nothing, so a write guarded by it fails with 412.
pub(crate) fn if_match_header(headers: &HeaderMap, name: header::HeaderName) -> Option<IfMatch> {
    headers
        .get(name)
        .map(|value| IfMatch::new(value.to_str().unwrap_or_default()))
}

/// The body of a write, after checking it is declared as JSON (RFC 7644 §3.1: `application/scim+json`,
/// with `application/json` accepted as clients commonly send it).
pub(crate) fn json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ScimError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some(SCIM_CONTENT_TYPE | "application/json") => {}
        _ => {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be sent as application/scim+json or application/json",
            ));
        }
    }
    body.map_err(|rejection| ScimError::new(rejection.status(), rejection.body_text()))
}
