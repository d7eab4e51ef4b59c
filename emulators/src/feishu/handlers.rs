//! One function per Feishu endpoint. Each checks the token first, then its parameters, then the
//! contact scope; every failure is an [`ApiError`] (an HTTP error status with a JSON `code`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::convert::{self, View};
use super::ids::{DepartmentIdType, IdTypes, UserIdType};
use super::paging;
use super::state::Shared;
use super::wire::{self, ApiError, ok};

type Result<T, E = ApiError> = std::result::Result<T, E>;
type AppState = State<Arc<Shared>>;

/// Department and member pages: default 10, at most 50.
const PAGE_DEFAULT: usize = 10;
const PAGE_MAX: usize = 50;
/// `scopes` pages: default 50, at most 100 (the notes' example asks for 100).
const SCOPE_PAGE_DEFAULT: usize = 50;
const SCOPE_PAGE_MAX: usize = 100;
/// Ids per `users/batch` and `departments/batch` call.
const BATCH_MAX: usize = 50;

/// The query string, repeated keys kept (`user_ids=a&user_ids=b`). A query that cannot be
/// decoded is Feishu's "field validation failed", never axum's own error page.
pub(super) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| Params(pairs))
            .map_err(|_| ApiError::INVALID_PARAMETER)
    }
}

impl Params {
    /// The first value of a parameter; an empty value counts as absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The id schemes asked for, with the app's permissions: how the records are shown.
    fn view(&self, shared: &Shared) -> Result<View> {
        Ok(View {
            ids: self.ids()?,
            redact: shared.config.redact_out_of_scope_leader,
            user_ids: shared.config.user_id_permission,
            custom_attrs: shared.config.custom_attrs_open,
        })
    }

    fn ids(&self) -> Result<IdTypes> {
        Ok(IdTypes {
            user: UserIdType::parse(self.get("user_id_type"))?,
            department: DepartmentIdType::parse(self.get("department_id_type"))?,
        })
    }

    fn flag(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::INVALID_PARAMETER),
        }
    }

    fn page(&self, default: usize, max: usize) -> Result<paging::PageRequest> {
        paging::request(self.get("page_size"), self.get("page_token"), default, max)
    }
}

/// `POST /open-apis/auth/v3/tenant_access_token/internal` with `{"app_id", "app_secret"}`.
pub(super) async fn tenant_access_token(State(shared): AppState, body: Bytes) -> Result<Response> {
    let body: Value = serde_json::from_slice(&body).map_err(|_| ApiError::TOKEN_BAD_REQUEST)?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let app_id = field("app_id").ok_or(ApiError::TOKEN_BAD_REQUEST)?;
    let app_secret = field("app_secret").ok_or(ApiError::TOKEN_BAD_REQUEST)?;
    if app_id != shared.config.app_id {
        return Err(ApiError::TOKEN_BAD_REQUEST);
    }
    if app_secret != shared.config.app_secret {
        return Err(ApiError::APP_SECRET_INVALID);
    }
    let issued = shared
        .tokens
        .issue_renewing(shared.config.token_ttl, shared.config.refresh_window);
    Ok(axum::Json(wire::Token {
        code: 0,
        msg: "ok",
        tenant_access_token: issued.token,
        expire: shared.faults.announced_lifetime(issued.expires_in),
    })
    .into_response())
}

/// `GET /open-apis/contact/v3/scopes`.
pub(super) async fn scopes(
    State(shared): AppState,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let ids = params.ids()?;
    let page = params.page(SCOPE_PAGE_DEFAULT, SCOPE_PAGE_MAX)?;
    let directory = shared.directory();
    let (departments, users) = directory.scope_entries();
    // One listing, departments first: a page may hold both kinds.
    let entries: Vec<(bool, String)> = departments
        .into_iter()
        .map(|d| (true, super::ids::department_id(ids.department, d)))
        .chain(
            users
                .into_iter()
                .map(|u| (false, directory.user_ref(ids.user, &u))),
        )
        .collect();
    let (entries, has_more, page_token) = paging::slice(entries, page, shared.paging_defect());
    let (department_ids, user_ids) = entries.into_iter().partition::<Vec<_>, _>(|(d, _)| *d);
    Ok(ok(wire::Scopes {
        department_ids: department_ids.into_iter().map(|(_, id)| id).collect(),
        user_ids: user_ids.into_iter().map(|(_, id)| id).collect(),
        group_ids: Vec::new(),
        has_more,
        page_token,
    }))
}

/// `GET /open-apis/contact/v3/departments/:department_id/children`.
pub(super) async fn department_children(
    State(shared): AppState,
    Path(department_id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let view = params.view(&shared)?;
    let ids = view.ids;
    let page = params.page(PAGE_DEFAULT, PAGE_MAX)?;
    let fetch_child = params.flag("fetch_child")?;
    let directory = shared.directory();
    let parent = directory.visible_department(&department_id, ids.department)?;
    let departments = if fetch_child {
        let all = directory.descendants(parent.id);
        if shared
            .config
            .recursive_fetch_limit
            .is_some_and(|limit| all.len() > limit)
        {
            return Err(ApiError::TOO_LARGE_TO_RECURSE);
        }
        all
    } else {
        directory.children(parent.id)
    };
    let items = departments
        .into_iter()
        .map(|d| convert::department(&directory, d, view))
        .collect();
    let (items, has_more, page_token) = paging::slice(items, page, shared.paging_defect());
    Ok(ok(wire::Page {
        has_more,
        page_token,
        items,
    }))
}

/// `GET /open-apis/contact/v3/departments/:department_id` (`0` is the root).
pub(super) async fn department_get(
    State(shared): AppState,
    Path(department_id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let view = params.view(&shared)?;
    let ids = view.ids;
    let directory = shared.directory();
    let department = directory.visible_department(&department_id, ids.department)?;
    Ok(ok(wire::DepartmentGet {
        department: convert::department(&directory, department, view),
    }))
}

/// `GET /open-apis/contact/v3/departments/batch?department_ids=a&department_ids=b`.
pub(super) async fn departments_batch(
    State(shared): AppState,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let view = params.view(&shared)?;
    let ids = view.ids;
    let requested = params.all("department_ids");
    if requested.is_empty() || requested.len() > BATCH_MAX {
        return Err(ApiError::INVALID_PARAMETER);
    }
    let directory = shared.directory();
    let mut items = Vec::new();
    for raw in requested {
        match directory.visible_department(raw, ids.department) {
            Ok(department) => items.push(convert::department(&directory, department, view)),
            Err(error) if shared.config.batch_all_or_nothing => return Err(error),
            Err(_) => {}
        }
    }
    Ok(ok(wire::Items { items }))
}

/// `GET /open-apis/contact/v3/users/find_by_department`: direct members only.
pub(super) async fn find_by_department(
    State(shared): AppState,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let view = params.view(&shared)?;
    let ids = view.ids;
    let page = params.page(PAGE_DEFAULT, PAGE_MAX)?;
    let department_id = params
        .get("department_id")
        .ok_or(ApiError::INVALID_PARAMETER)?;
    let directory = shared.directory();
    let department = directory.visible_department(department_id, ids.department)?;
    let items = directory
        .members(department.id)
        .map(|u| convert::user(&directory, u, view))
        .collect();
    let (items, has_more, page_token) = paging::slice(items, page, shared.paging_defect());
    Ok(ok(wire::Page {
        has_more,
        page_token,
        items,
    }))
}

/// `GET /open-apis/contact/v3/users/:user_id`.
pub(super) async fn user_get(
    State(shared): AppState,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let view = params.view(&shared)?;
    let ids = view.ids;
    let directory = shared.directory();
    let user = directory.visible_user(&user_id, ids.user)?;
    Ok(ok(wire::UserGet {
        user: convert::user(&directory, user, view),
    }))
}

/// `GET /open-apis/contact/v3/users/batch?user_ids=a&user_ids=b` (at most 50). Ids that are
/// unknown or out of scope are left out, or fail the call with `batch_all_or_nothing`.
pub(super) async fn users_batch(
    State(shared): AppState,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    shared.authorize(&headers)?;
    let view = params.view(&shared)?;
    let ids = view.ids;
    let requested = params.all("user_ids");
    if requested.is_empty() || requested.len() > BATCH_MAX {
        return Err(ApiError::INVALID_PARAMETER);
    }
    let directory = shared.directory();
    let mut items = Vec::new();
    for raw in requested {
        match directory.visible_user(raw, ids.user) {
            Ok(user) => items.push(convert::user(&directory, user, view)),
            Err(error) if shared.config.batch_all_or_nothing => return Err(error),
            Err(_) => {}
        }
    }
    Ok(ok(wire::Items { items }))
}
