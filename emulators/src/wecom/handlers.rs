//! One function per WeCom endpoint. Each checks the token first (as WeCom does), then its
//! parameters, then scope; every failure is an [`ApiError`] answered as HTTP 200 JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::response::Response;

use super::ListAccess;
use super::convert;
use super::state::Shared;
use super::wire::{self, ApiError, ok};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The query string. Never rejects with axum's own error page: a query that cannot be decoded is
/// WeCom's "invalid parameter".
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
            .filter(|value| !value.is_empty())
    }

    fn int(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|value| {
                value
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::INVALID_PARAMETER)
            })
            .transpose()
    }

    fn required_int(&self, key: &str) -> Result<i64> {
        self.int(key)?.ok_or(ApiError::INVALID_PARAMETER)
    }

    fn token(&self) -> Option<&str> {
        self.get("access_token")
    }
}

type AppState = State<Arc<Shared>>;

pub(super) async fn gettoken(State(shared): AppState, params: Params) -> Result<Response> {
    let corpid = params.get("corpid").ok_or(ApiError::MISSING_CORPID)?;
    let secret = params.get("corpsecret").ok_or(ApiError::MISSING_SECRET)?;
    if corpid != shared.config.corpid {
        return Err(ApiError::INVALID_CORPID);
    }
    if secret != shared.config.corpsecret {
        return Err(ApiError::INVALID_SECRET);
    }
    let issued = shared.tokens.issue(shared.config.token_ttl);
    Ok(ok(wire::Token {
        access_token: issued.token,
        expires_in: shared.faults.announced_lifetime(issued.expires_in),
    }))
}

/// `id` given: that department and its subtree; absent: every visible department.
pub(super) async fn department_list(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    lists_granted(&shared)?;
    let directory = shared.directory();
    let departments = match params.int("id")? {
        Some(id) => directory
            .visible_department(id)
            .map(|_| directory.subtree(id))?,
        None => directory.visible_tree(),
    };
    let department = departments
        .into_iter()
        .map(|d| convert::department(&directory, d))
        .collect();
    Ok(ok(wire::DepartmentList { department }))
}

pub(super) async fn department_simplelist(
    State(shared): AppState,
    params: Params,
) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let departments = match params.int("id")? {
        Some(id) => directory
            .visible_department(id)
            .map(|_| directory.subtree(id))?,
        None => directory.visible_tree(),
    };
    let department_id = departments
        .into_iter()
        .map(convert::department_simple)
        .collect();
    Ok(ok(wire::DepartmentSimpleList { department_id }))
}

pub(super) async fn department_get(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let department = directory.visible_department(params.required_int("id")?)?;
    Ok(ok(wire::DepartmentGet {
        department: convert::department(&directory, department),
    }))
}

/// Direct members only: WeCom dropped `fetch_child`, clients walk the tree themselves.
pub(super) async fn user_list(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    lists_granted(&shared)?;
    let directory = shared.directory();
    let id = params.required_int("department_id")?;
    directory.visible_department(id)?;
    let sensitive = directory.org.sensitive_fields;
    let userlist = directory
        .members(id)
        .map(|u| convert::user(&directory, u, sensitive))
        .collect();
    Ok(ok(wire::UserList { userlist }))
}

pub(super) async fn user_simplelist(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let id = params.required_int("department_id")?;
    directory.visible_department(id)?;
    let userlist = directory
        .members(id)
        .map(|u| convert::user_simple(&directory, u))
        .collect();
    Ok(ok(wire::UserSimpleList { userlist }))
}

pub(super) async fn user_get(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let user = directory.visible_user(params.get("userid").ok_or(ApiError::MISSING_USERID)?)?;
    Ok(ok(convert::user(
        &directory,
        user,
        directory.org.sensitive_fields,
    )))
}

/// The app's visible range exactly as configured (departments not expanded to their subtrees).
pub(super) async fn agent_get(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    if params.required_int("agentid")? != shared.config.agentid {
        return Err(ApiError::INVALID_AGENTID);
    }
    let directory = shared.directory();
    let scope = &directory.org.scope;
    Ok(ok(wire::Agent {
        agentid: shared.config.agentid,
        name: "orgsync",
        square_logo_url: "",
        description: "directory sync (emulated)",
        allow_userinfos: wire::AllowUsers {
            user: scope
                .users
                .iter()
                .map(|userid| wire::AllowUser {
                    userid: userid.clone(),
                })
                .collect(),
        },
        allow_partys: wire::AllowParties {
            partyid: scope.departments.clone(),
        },
        allow_tags: wire::AllowTags {
            tagid: shared.config.allow_tags.clone(),
        },
        close: 0,
        redirect_domain: "",
        report_location_flag: 0,
        isreportenter: 0,
        home_url: "",
    }))
}

/// An app refused the full lists answers 48002 (after the token check, as WeCom does).
fn lists_granted(shared: &Shared) -> Result<()> {
    match shared.config.list_access {
        ListAccess::Granted => Ok(()),
        ListAccess::Refused => Err(ApiError::NOT_PERMITTED),
    }
}

/// A tag's people and departments, as configured (departments not expanded to their subtrees).
pub(super) async fn tag_get(State(shared): AppState, params: Params) -> Result<Response> {
    shared.authorize(params.token())?;
    let directory = shared.directory();
    let tag = directory.tag(params.required_int("tagid")?)?;
    let userlist = tag
        .users
        .iter()
        .map(|userid| wire::TagUser {
            userid: userid.clone(),
            name: directory
                .visible_user(userid)
                .map(|u| u.name.clone())
                .unwrap_or_default(),
        })
        .collect();
    Ok(ok(wire::Tag {
        tagname: tag.name.clone(),
        userlist,
        partylist: tag.departments.clone(),
    }))
}
