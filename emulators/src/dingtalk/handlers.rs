//! One function per old-API (OAPI) endpoint. Each checks the token first, then its parameters, then
//! scope; every failure is an [`ApiError`] answered as HTTP 200 JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Map, Value};

use super::state::{Directory, Shared};
use super::wire::{self, ApiError, ok, ok_result};
use super::{MAX_PAGE_SIZE, MAX_ROSTER_IDS, Quirk, RosterAccess, convert};

type Result<T, E = ApiError> = std::result::Result<T, E>;
type AppState = State<Arc<Shared>>;

/// The query string. A query that cannot be decoded is DingTalk's "invalid parameter", never
/// axum's own error page.
pub(super) struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(map)| Params(map))
            .map_err(|_| ApiError::INVALID_PARAMETER)
    }
}

impl Params {
    /// A parameter; an empty value counts as absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn token(&self) -> Option<&str> {
        self.get("access_token")
    }
}

/// A JSON object body. An empty body reads as `{}`; anything else that is not an object is
/// "invalid parameter".
pub(super) struct Body(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::INVALID_PARAMETER)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            _ => Err(ApiError::INVALID_PARAMETER),
        }
    }
}

impl Body {
    /// An integer given as a JSON number or a numeric string.
    fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(ApiError::INVALID_PARAMETER),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::INVALID_PARAMETER),
            Some(_) => Err(ApiError::INVALID_PARAMETER),
        }
    }

    fn required_int(&self, key: &str) -> Result<i64> {
        self.int(key)?.ok_or(ApiError::INVALID_PARAMETER)
    }

    fn string(&self, key: &str) -> Result<&str> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::INVALID_PARAMETER),
        }
    }

    fn bool(&self, key: &str) -> Result<bool> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::INVALID_PARAMETER),
        }
    }
}

pub(super) async fn gettoken(State(shared): AppState, params: Params) -> Result<Response> {
    let (Some(appkey), Some(appsecret)) = (params.get("appkey"), params.get("appsecret")) else {
        return Err(ApiError::INVALID_PARAMETER);
    };
    if appkey != shared.config.app_key || appsecret != shared.config.app_secret {
        return Err(ApiError::INVALID_CREDENTIAL);
    }
    let issued = shared.tokens.issue(shared.config.token_ttl);
    Ok(ok(wire::Token {
        access_token: issued.token,
        expires_in: shared.faults.announced_lifetime(issued.expires_in),
    }))
}

/// The app's contact scope exactly as configured (departments not expanded to their subtrees).
pub(super) async fn auth_scopes(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let scope = &directory.org.scope;
    let auth_user_field = if directory.org.sensitive_fields {
        vec!["name", "email", "mobile", "jobNumber", "title"]
    } else {
        vec!["name", "jobNumber", "title"]
    };
    Ok(ok(wire::Scopes {
        auth_user_field,
        auth_org_scopes: wire::OrgScopes {
            authed_dept: scope.departments.clone(),
            authed_user: scope.users.clone(),
        },
    }))
}

/// `dept_id` defaults to the root, as documented.
fn parent_department(directory: &Directory, body: &Body) -> Result<i64> {
    let id = body.int("dept_id")?.unwrap_or(1);
    directory.visible_department(id)?;
    Ok(id)
}

/// Direct children only; the department asked about is not in the answer.
pub(super) async fn department_listsub(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let id = parent_department(&directory, &body)?;
    let children: Vec<wire::DepartmentBrief> = directory
        .children(id)
        .map(convert::department_brief)
        .collect();
    Ok(ok_result(children))
}

pub(super) async fn department_listsubid(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let id = parent_department(&directory, &body)?;
    Ok(ok_result(wire::DepartmentIds {
        dept_id_list: directory.children(id).map(|d| d.id).collect(),
    }))
}

pub(super) async fn department_get(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let department = directory.visible_department(body.required_int("dept_id")?)?;
    Ok(ok_result(convert::department(&directory, department)))
}

/// The page `cursor`/`size` selects from a department's direct members, after the checks the
/// API makes: `dept_id`, `cursor` and `size` are required, `size` is 1..=100.
struct PageRequest {
    dept_id: i64,
    cursor: i64,
    size: i64,
}

fn page_request(directory: &Directory, body: &Body) -> Result<PageRequest> {
    let dept_id = body.required_int("dept_id")?;
    let cursor = body.required_int("cursor")?;
    let size = body.required_int("size")?;
    if cursor < 0 || !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(ApiError::INVALID_PARAMETER);
    }
    directory.visible_department(dept_id)?;
    Ok(PageRequest {
        dept_id,
        cursor,
        size,
    })
}

/// Cuts one page and sets `has_more` / `next_cursor`, bending them as a paging quirk says.
fn page<T>(
    request: &PageRequest,
    members: &[usize],
    quirk: Option<Quirk>,
    item: impl Fn(usize) -> T,
) -> wire::Page<T> {
    let total = members.len() as i64;
    let start = request.cursor.min(total);
    let end = request.cursor.saturating_add(request.size).min(total);
    let list = members[start as usize..end as usize]
        .iter()
        .map(|&i| item(i))
        .collect();
    let (has_more, next_cursor) = match quirk {
        Some(Quirk::StuckCursor) => (true, Some(request.cursor)),
        Some(Quirk::HasMoreWithoutCursor) => (true, None),
        Some(Quirk::CursorBackwards) if request.cursor == 0 => (true, Some(request.size)),
        Some(Quirk::CursorBackwards) => (true, Some(0)),
        Some(Quirk::EndlessPages) => (true, Some(request.cursor.saturating_add(request.size))),
        _ if end < total => (true, Some(end)),
        _ => (false, None),
    };
    wire::Page {
        has_more,
        next_cursor,
        list,
    }
}

/// Full details of a department's direct members, cursor-paged. The order is the fixture's
/// whatever `order_field` says.
pub(super) async fn user_list(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let request = page_request(&directory, &body)?;
    let members = directory.members(request.dept_id);
    let with_manager = shared.config.manager_in_list;
    Ok(ok_result(page(&request, members, shared.quirk(), |i| {
        convert::listed_user(
            &directory,
            directory.user_at(i),
            request.dept_id,
            with_manager,
        )
    })))
}

pub(super) async fn user_listsimple(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let request = page_request(&directory, &body)?;
    let members = directory.members(request.dept_id);
    Ok(ok_result(page(&request, members, shared.quirk(), |i| {
        let user = directory.user_at(i);
        wire::SimpleUser {
            userid: user.id.clone(),
            name: user.name.clone(),
        }
    })))
}

/// Direct members' ids, unpaged.
pub(super) async fn user_listid(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let id = body.required_int("dept_id")?;
    directory.visible_department(id)?;
    Ok(ok_result(wire::UserIds {
        userid_list: directory
            .members(id)
            .iter()
            .map(|&i| directory.user_at(i).id.clone())
            .collect(),
    }))
}

pub(super) async fn user_count(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let only_active = body.bool("only_active")?;
    Ok(ok_result(wire::Count {
        count: shared.directory().visible_user_count(only_active),
    }))
}

pub(super) async fn user_get(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let user = directory.visible_user(body.string("userid")?)?;
    Ok(ok_result(convert::user(&directory, user)))
}

/// The HR roster (`smartwork/hrm/employee/v2/list`): `userid_list` (comma-separated, at most
/// 100), `field_filter_list` (comma-separated field codes), `agentid` (the app's). Answers for
/// the current members among the ids, in the order asked, each once; unknown or resigned ids
/// are left out. The roster is HR data, not the contact scope: managers are not filtered.
pub(super) async fn roster(
    State(shared): AppState,
    params: Params,
    body: Body,
) -> Result<Response> {
    shared.authorize(params.token())?;
    if shared.config.roster == RosterAccess::NotGranted {
        return Err(ApiError::NO_PERMISSION);
    }
    if body.int("agentid")? != Some(shared.config.agent_id) {
        return Err(ApiError::INVALID_PARAMETER);
    }
    let ids: Vec<&str> = body
        .string("userid_list")?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    let fields: Vec<&str> = body
        .string("field_filter_list")?
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if ids.len() > MAX_ROSTER_IDS || fields.is_empty() || fields.len() > MAX_ROSTER_IDS {
        return Err(ApiError::INVALID_PARAMETER);
    }
    shared.charge_quota()?;
    let directory = shared.directory();
    let mut seen = std::collections::HashSet::new();
    let result = ids
        .into_iter()
        .filter(|id| seen.insert(*id))
        .filter_map(|id| directory.current_user(id))
        .map(|user| convert::roster_person(user, &fields))
        .collect();
    Ok(ok(wire::Roster {
        success: true,
        result,
    }))
}
