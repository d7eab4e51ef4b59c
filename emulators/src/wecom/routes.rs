//! Paths, plus the layer every request passes: counting, delay and injected faults.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::handlers;
use super::state::Shared;
use super::wire::ApiError;
use crate::faults::Fault;

pub(super) const GETTOKEN: &str = "/cgi-bin/gettoken";

/// Data endpoints: the calls fault schedules count.
const DATA_PATHS: &[&str] = &[
    "/cgi-bin/department/list",
    "/cgi-bin/department/simplelist",
    "/cgi-bin/department/get",
    "/cgi-bin/user/list",
    "/cgi-bin/user/simplelist",
    "/cgi-bin/user/get",
    "/cgi-bin/agent/get",
    "/cgi-bin/tag/get",
];

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(GETTOKEN, get(handlers::gettoken))
        .route(DATA_PATHS[0], get(handlers::department_list))
        .route(DATA_PATHS[1], get(handlers::department_simplelist))
        .route(DATA_PATHS[2], get(handlers::department_get))
        .route(DATA_PATHS[3], get(handlers::user_list))
        .route(DATA_PATHS[4], get(handlers::user_simplelist))
        .route(DATA_PATHS[5], get(handlers::user_get))
        .route(DATA_PATHS[6], get(handlers::agent_get))
        .route(DATA_PATHS[7], get(handlers::tag_get))
        .fallback(|| async { StatusCode::NOT_FOUND })
        // `layer` (not `route_layer`) so unknown paths are counted too: a client calling a wrong
        // path shows up in the counters.
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    shared.calls.record(path);
    let is_data_call = DATA_PATHS.contains(&path);
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let known = is_data_call || path == GETTOKEN;
    if known && shared.limits.check(path).is_err() {
        return ApiError::RATE_LIMITED.into_response();
    }
    // Blocked for the hour: the same code as the minute limit (clients cannot tell them apart).
    if known && !shared.hourly.allows(path) {
        return ApiError::RATE_LIMITED.into_response();
    }
    if !is_data_call {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    match shared.faults.next_data_call(key.as_bytes()) {
        None => next.run(request).await,
        Some(Fault::RateLimit) => ApiError::RATE_LIMITED.into_response(),
        Some(Fault::ConcurrencyLimit) => ApiError::TOO_CONCURRENT.into_response(),
        Some(Fault::Http5xx) => bad_gateway(),
        Some(Fault::MalformedJson) => truncated(next.run(request).await).await,
    }
}

/// What the gateway in front of WeCom sends when the backend fails.
fn bad_gateway() -> Response {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>stgw</center>\r\n</body>\r\n</html>\r\n";
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html")],
        html,
    )
        .into_response()
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
