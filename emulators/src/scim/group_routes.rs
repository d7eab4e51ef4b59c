//! `/Groups` handlers, and the group filter: `eq` comparisons on `id`, `externalId`,
//! `displayName` (caseless) and `members.value`, joined by `and`; anything else is 400
//! `invalidFilter`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ScimError;
use super::filter::{Token, invalid, tokenize};
use super::group_patch;
use super::group_store::{GroupAttr, GroupEntry, group_not_found};
use super::group_wire::{Projection, group_location, parse_group, render_group};
use super::list::{ListQuery, list_response};
use super::routes::{Body, Id, Params, if_match_header, json_body, path_id, set_etag};
use super::state::Shared;
use super::store::{Store, fold};
use super::wire;

type Reply = Result<Response, ScimError>;

pub(crate) async fn list(State(shared): State<Arc<Shared>>, params: Params) -> Reply {
    let raw = params
        .map_err(|rejection| ScimError::invalid_value(rejection.body_text()))?
        .0;
    let filter = raw
        .iter()
        .find(|(key, _)| key == "filter")
        .map(|(_, value)| GroupFilter::parse(value))
        .transpose()?;
    // The user filter's parser would refuse group attributes: `filter` is read here.
    let without_filter: Vec<(String, String)> =
        raw.iter().filter(|(k, _)| k != "filter").cloned().collect();
    let query = ListQuery::parse(
        Ok(axum::extract::Query(without_filter)),
        shared.config.max_page_size,
    )?;
    let projection = Projection::from_params(&raw);
    let store = shared.store();
    let candidates: Vec<&GroupEntry> = filter
        .as_ref()
        .and_then(|f| f.terms.first())
        .and_then(|(attr, value)| store.groups.candidates(*attr, value))
        .unwrap_or_else(|| store.groups.entries().collect());
    let matching: Vec<&GroupEntry> = candidates
        .into_iter()
        .filter(|entry| filter.as_ref().is_none_or(|f| f.matches(entry)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(query.start_index - 1)
        .take(query.count)
        .map(|entry| render_group(&store, entry, &shared.base_url, &projection))
        .collect();
    Ok(list_response(matching.len(), query.start_index, page))
}

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Id,
    params: Params,
) -> Reply {
    let id = path_id(id)?;
    let store = shared.store();
    let entry = store.groups.get(&id).ok_or_else(|| group_not_found(&id))?;
    if if_match_header(&headers, header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.matches(entry.group.version))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, entry.group.version);
        return Ok(response);
    }
    Ok(respond(
        StatusCode::OK,
        &store,
        entry,
        &shared.base_url,
        &projection(params),
    ))
}

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let group = parse_group(&json_body(&headers, body)?)?;
    let mut store = shared.store();
    let entry = store.create_group(group)?.clone();
    let mut response = respond(
        StatusCode::CREATED,
        &store,
        &entry,
        &shared.base_url,
        &Projection::default(),
    );
    if let Ok(location) = HeaderValue::from_str(&group_location(&shared.base_url, &entry.group.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub(crate) async fn replace(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Id,
    body: Body,
) -> Reply {
    let id = path_id(id)?;
    let replacement = parse_group(&json_body(&headers, body)?)?;
    let if_match = if_match_header(&headers, header::IF_MATCH);
    let mut store = shared.store();
    let entry = store
        .update_group(&id, if_match.as_ref(), |group| {
            *group = replacement;
            Ok(())
        })?
        .clone();
    Ok(respond(
        StatusCode::OK,
        &store,
        &entry,
        &shared.base_url,
        &Projection::default(),
    ))
}

/// 204 like scim2-server; 200 with the resource when the client names `attributes` or
/// `excludedAttributes`.
pub(crate) async fn patch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Id,
    params: Params,
    body: Body,
) -> Reply {
    let id = path_id(id)?;
    let operations = group_patch::parse(&json_body(&headers, body)?)?;
    let params = params
        .map_err(|rejection| ScimError::invalid_value(rejection.body_text()))?
        .0;
    let wants_body = params
        .iter()
        .any(|(key, _)| key == "attributes" || key == "excludedAttributes");
    let if_match = if_match_header(&headers, header::IF_MATCH);
    let mut store = shared.store();
    let entry = store
        .update_group(&id, if_match.as_ref(), |group| {
            group_patch::apply(group, &operations)
        })?
        .clone();
    if wants_body {
        let projection = Projection::from_params(&params);
        return Ok(respond(
            StatusCode::OK,
            &store,
            &entry,
            &shared.base_url,
            &projection,
        ));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_etag(&mut response, entry.group.version);
    Ok(response)
}

pub(crate) async fn delete(State(shared): State<Arc<Shared>>, headers: HeaderMap, id: Id) -> Reply {
    let id = path_id(id)?;
    let if_match = if_match_header(&headers, header::IF_MATCH);
    shared.store().groups.delete(&id, if_match.as_ref())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn projection(params: Params) -> Projection {
    params
        .map(|query| Projection::from_params(&query.0))
        .unwrap_or_default()
}

fn respond(
    status: StatusCode,
    store: &Store,
    entry: &GroupEntry,
    base_url: &str,
    projection: &Projection,
) -> Response {
    let mut response = wire::scim_json(status, &render_group(store, entry, base_url, projection));
    set_etag(&mut response, entry.group.version);
    response
}

/// `attr eq "value" [and attr eq "value" …]`.
struct GroupFilter {
    terms: Vec<(GroupAttr, String)>,
}

impl GroupFilter {
    fn parse(input: &str) -> Result<Self, ScimError> {
        let tokens = tokenize(input)?;
        let mut terms = Vec::new();
        let mut rest = tokens.as_slice();
        loop {
            let [
                Token::Word(attr),
                Token::Word(op),
                Token::Str(value),
                tail @ ..,
            ] = rest
            else {
                return Err(invalid(
                    "this service provider filters groups by `ATTRIBUTE eq \"VALUE\"` joined by `and` only",
                ));
            };
            if !op.eq_ignore_ascii_case("eq") {
                return Err(invalid(format!(
                    "operator {op:?} is not supported on groups"
                )));
            }
            let attr = match attr.to_ascii_lowercase().as_str() {
                "id" => GroupAttr::Id,
                "externalid" => GroupAttr::ExternalId,
                "displayname" => GroupAttr::DisplayName,
                "members" | "members.value" => GroupAttr::MemberValue,
                _ => return Err(invalid(format!("cannot filter groups on {attr:?}"))),
            };
            terms.push((attr, value.clone()));
            match tail {
                [] => return Ok(Self { terms }),
                [Token::Word(and), more @ ..] if and.eq_ignore_ascii_case("and") => rest = more,
                _ => return Err(invalid("expected `and` between group filter terms")),
            }
        }
    }

    fn matches(&self, entry: &GroupEntry) -> bool {
        let group = &entry.group;
        self.terms.iter().all(|(attr, value)| match attr {
            GroupAttr::Id => group.id == *value,
            GroupAttr::ExternalId => group.external_id.as_deref() == Some(value.as_str()),
            GroupAttr::DisplayName => fold(&group.display_name) == fold(value),
            GroupAttr::MemberValue => group.members.contains(value),
        })
    }
}
