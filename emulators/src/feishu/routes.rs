//! Paths, plus the layer every request passes: counting per API, delay, the documented rate
//! limits, injected faults, and the `x-tt-logid` stamp.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::handlers;
use super::state::Shared;
use super::wire;
use crate::faults::Fault;

pub(super) const TOKEN: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub(super) const SCOPES: &str = "/open-apis/contact/v3/scopes";
pub(super) const CHILDREN: &str = "/open-apis/contact/v3/departments/:department_id/children";
pub(super) const DEPARTMENT: &str = "/open-apis/contact/v3/departments/:department_id";
pub(super) const DEPARTMENTS_BATCH: &str = "/open-apis/contact/v3/departments/batch";
pub(super) const FIND_BY_DEPARTMENT: &str = "/open-apis/contact/v3/users/find_by_department";
pub(super) const USER: &str = "/open-apis/contact/v3/users/:user_id";
pub(super) const USERS_BATCH: &str = "/open-apis/contact/v3/users/batch";

/// The contact reads: the calls fault schedules count and rate limits apply to.
const DATA_APIS: &[&str] = &[
    SCOPES,
    CHILDREN,
    DEPARTMENT,
    DEPARTMENTS_BATCH,
    FIND_BY_DEPARTMENT,
    USER,
    USERS_BATCH,
];

/// The limit named in `x-ogw-ratelimit-limit` (the per-second one, the first a burst hits).
const LIMIT_HEADER: u32 = 50;
/// What an injected rate-limit answer asks the client to wait, before the speed-up.
const INJECTED_RESET: Duration = Duration::from_secs(1);

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(TOKEN, post(handlers::tenant_access_token))
        .route(SCOPES, get(handlers::scopes))
        .route(
            "/open-apis/contact/v3/departments/{department_id}/children",
            get(handlers::department_children),
        )
        .route(DEPARTMENTS_BATCH, get(handlers::departments_batch))
        .route(
            "/open-apis/contact/v3/departments/{department_id}",
            get(handlers::department_get),
        )
        .route(FIND_BY_DEPARTMENT, get(handlers::find_by_department))
        .route(USERS_BATCH, get(handlers::users_batch))
        .route(
            "/open-apis/contact/v3/users/{user_id}",
            get(handlers::user_get),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
        // `layer` (not `route_layer`) so unknown paths are counted too: a client calling a wrong
        // path shows up in the counters.
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

/// The API a path belongs to, named as Feishu's docs name it (`:department_id` for the id), so
/// counters and rate limits are per API; unknown paths are named as they are.
pub(super) fn api_of(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/open-apis/contact/v3/") else {
        return path;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["scopes"] => SCOPES,
        ["departments", "batch"] => DEPARTMENTS_BATCH,
        ["departments", id] if !id.is_empty() => DEPARTMENT,
        ["departments", id, "children"] if !id.is_empty() => CHILDREN,
        ["users", "find_by_department"] => FIND_BY_DEPARTMENT,
        ["users", "batch"] => USERS_BATCH,
        ["users", id] if !id.is_empty() => USER,
        _ => path,
    }
}

async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let api = api_of(request.uri().path()).to_owned();
    shared.calls.record(&api);
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = if DATA_APIS.contains(&api.as_str()) {
        data_call(&shared, &api, request, next).await
    } else {
        next.run(request).await
    };
    if let Ok(log_id) = HeaderValue::from_str(&shared.next_log_id()) {
        response.headers_mut().insert("x-tt-logid", log_id);
    }
    response
}

/// The gateway's rate limits come first; a refused call never reaches the backend, so it uses
/// no token budget and no fault schedule slot.
async fn data_call(shared: &Shared, api: &str, request: Request, next: Next) -> Response {
    let speedup = shared.config.rate_limit_speedup;
    if let Err(wait) = shared.limits.check(api) {
        return wire::rate_limited(LIMIT_HEADER, &wire::reset_seconds(wait, speedup));
    }
    let key = request.uri().to_string();
    match shared.faults.next_data_call(key.as_bytes()) {
        None => next.run(request).await,
        // Feishu has no separate concurrency error: both are its one rate-limit answer.
        Some(Fault::RateLimit | Fault::ConcurrencyLimit) => {
            let reset = INJECTED_RESET.div_f64(if speedup > 0.0 { speedup } else { 1.0 });
            wire::rate_limited(LIMIT_HEADER, &wire::reset_seconds(reset, speedup))
        }
        Some(Fault::Http5xx) => bad_gateway(),
        Some(Fault::MalformedJson) => truncated(next.run(request).await).await,
    }
}

/// What the gateway in front of Feishu sends when the backend fails.
fn bad_gateway() -> Response {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html")],
        html,
    )
        .into_response()
}

/// The real answer cut in half, as HTTP 200. A strict prefix of a JSON object is never valid JSON.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_counted_per_api() {
        assert_eq!(
            api_of("/open-apis/contact/v3/departments/0/children"),
            CHILDREN
        );
        assert_eq!(api_of("/open-apis/contact/v3/departments/od-1"), DEPARTMENT);
        assert_eq!(
            api_of("/open-apis/contact/v3/departments/batch"),
            DEPARTMENTS_BATCH
        );
        assert_eq!(api_of("/open-apis/contact/v3/users/lin"), USER);
        assert_eq!(api_of("/open-apis/contact/v3/users/batch"), USERS_BATCH);
        assert_eq!(api_of(TOKEN), TOKEN);
        assert_eq!(
            api_of("/open-apis/contact/v3/users"),
            "/open-apis/contact/v3/users"
        );
        assert_eq!(api_of("/elsewhere"), "/elsewhere");
    }
}
