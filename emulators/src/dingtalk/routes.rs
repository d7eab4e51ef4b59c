//! Paths, plus the layer every request passes: counting, delay, the rate limits, injected faults
//! and quirks.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::state::Shared;
use super::wire::{ApiError, OpenApiError};
use super::{Ban, Quirk, handlers, openapi, stream};
use crate::faults::Fault;

pub(super) const GETTOKEN: &str = "/gettoken";
pub(super) const OPENAPI_TOKEN: &str = "/v1.0/oauth2/accessToken";
pub(super) const AUTH_SCOPES: &str = "/auth/scopes";
pub(super) const DEPARTMENT_LISTSUB: &str = "/topapi/v2/department/listsub";
pub(super) const DEPARTMENT_LISTSUBID: &str = "/topapi/v2/department/listsubid";
pub(super) const DEPARTMENT_GET: &str = "/topapi/v2/department/get";
pub(super) const USER_LIST: &str = "/topapi/v2/user/list";
pub(super) const USER_GET: &str = "/topapi/v2/user/get";
pub(super) const USER_LISTSIMPLE: &str = "/topapi/user/listsimple";
pub(super) const USER_LISTID: &str = "/topapi/user/listid";
pub(super) const USER_COUNT: &str = "/topapi/user/count";
pub(super) const LEAVE_RECORDS: &str = "/v1.0/contact/empLeaveRecords";
pub(super) const ROSTER: &str = "/topapi/smartwork/hrm/employee/v2/list";

/// Data endpoints: the calls fault schedules and quirks apply to (everything but the tokens).
const DATA_PATHS: &[&str] = &[
    AUTH_SCOPES,
    DEPARTMENT_LISTSUB,
    DEPARTMENT_LISTSUBID,
    DEPARTMENT_GET,
    USER_LIST,
    USER_GET,
    USER_LISTSIMPLE,
    USER_LISTID,
    USER_COUNT,
    LEAVE_RECORDS,
    ROSTER,
];

/// Paths of the new API, which answer errors as HTTP statuses instead of `errcode`.
const OPENAPI_PATHS: &[&str] = &[OPENAPI_TOKEN, LEAVE_RECORDS];

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(GETTOKEN, get(handlers::gettoken))
        .route(OPENAPI_TOKEN, post(openapi::access_token))
        .route(AUTH_SCOPES, get(handlers::auth_scopes))
        .route(DEPARTMENT_LISTSUB, post(handlers::department_listsub))
        .route(DEPARTMENT_LISTSUBID, post(handlers::department_listsubid))
        .route(DEPARTMENT_GET, post(handlers::department_get))
        .route(USER_LIST, post(handlers::user_list))
        .route(USER_GET, post(handlers::user_get))
        .route(USER_LISTSIMPLE, post(handlers::user_listsimple))
        .route(USER_LISTID, post(handlers::user_listid))
        .route(USER_COUNT, post(handlers::user_count))
        .route(LEAVE_RECORDS, get(openapi::leave_records))
        .route(ROSTER, post(handlers::roster))
        .route(stream::OPEN, post(stream::open))
        .route(stream::CONNECT, get(stream::connect))
        .fallback(|| async { StatusCode::NOT_FOUND })
        // `layer` (not `route_layer`) so unknown paths are counted too: a client calling a wrong
        // path shows up in the counters.
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

/// The largest request body the emulator reads (DingTalk's own requests are a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    shared.calls.record(&path);
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let openapi = OPENAPI_PATHS.contains(&path.as_str());
    let known = openapi || path == GETTOKEN || DATA_PATHS.contains(&path.as_str());
    if known && shared.limits.check(&path).is_err() {
        return if openapi {
            OpenApiError::APP_QPS.into_response()
        } else {
            ApiError::APP_QPS.into_response()
        };
    }
    if !DATA_PATHS.contains(&path.as_str()) {
        return next.run(request).await;
    }
    let quirk = shared.quirk();
    match quirk {
        Some(Quirk::AntiAbuseJson) => return anti_abuse_json(StatusCode::OK, 5),
        Some(Quirk::AntiAbuseHtml) => return anti_abuse_html(StatusCode::OK),
        _ => {}
    }
    match shared.ban() {
        Some(Ban::Json { status, wait }) => return anti_abuse_json(status_code(status), wait),
        Some(Ban::Html(status)) => return anti_abuse_html(status_code(status)),
        None => {}
    }
    // DingTalk names the person or page in the POST body: read it to tell requests apart.
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let key = [parts.uri.to_string().as_bytes(), &body].concat();
    let request = Request::from_parts(parts, body.into());
    let response = match shared.faults.next_data_call(&key) {
        None => next.run(request).await,
        Some(Fault::RateLimit) if openapi => match shared.next_rate_limit_error().code {
            90002 => OpenApiError::GLOBAL_QPS,
            _ => OpenApiError::APP_QPS,
        }
        .into_response(),
        Some(Fault::RateLimit) => shared.next_rate_limit_error().into_response(),
        // DingTalk has no concurrency-limit code; "system busy" is what an overloaded backend says.
        Some(Fault::ConcurrencyLimit) if openapi => OpenApiError::SYSTEM_BUSY.into_response(),
        Some(Fault::ConcurrencyLimit) => ApiError::SYSTEM_BUSY.into_response(),
        Some(Fault::Http5xx) => return bad_gateway(),
        Some(Fault::MalformedJson) => return truncated(next.run(request).await).await,
    };
    match quirk {
        Some(Quirk::MissingErrcode) if !openapi => without_field(response, "errcode").await,
        Some(Quirk::MissingResult) if !openapi => without_field(response, "result").await,
        _ => response,
    }
}

/// What the gateway in front of DingTalk sends when the backend fails.
fn bad_gateway() -> Response {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n";
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html")],
        html,
    )
        .into_response()
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN)
}

/// The per-IP anti-abuse ban's non-standard body: no `errcode` at all.
fn anti_abuse_json(status: StatusCode, wait: i64) -> Response {
    let body = format!(
        r#"{{"status":1111,"wait":{wait},"punish":"deny","msg":"访问频率过高，请稍后再试"}}"#
    );
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn anti_abuse_html(status: StatusCode) -> Response {
    let html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>访问被拒绝</title></head>\
                <body><h1>您的访问过于频繁，已被暂时限制</h1><p>请5分钟后再试</p></body></html>";
    (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
}

/// The real answer cut in half. A strict prefix of a JSON object is never valid JSON.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

/// The answer without one top-level field (a broken envelope). Error answers keep theirs.
async fn without_field(response: Response, field: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if object.get("errcode").and_then(Value::as_i64) == Some(0) {
        object.remove(field);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = serde_json::to_vec(&object).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}
