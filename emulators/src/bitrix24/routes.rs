//! Paths and the steps every REST request passes: counting, delay, the portal's rate limit,
//! injected faults, authentication (webhook code in the path or OAuth `auth` parameter), then
//! the method.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use super::PortalError;
use super::methods;
use super::params::{self, Params};
use super::state::Shared;
use super::wire::{self, ApiError};
use crate::faults::Fault;

/// How the OAuth server's requests are counted.
pub(super) const TOKEN_PATH: &str = "oauth/token";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/rest/{*path}", any(rest))
        .route("/oauth/token", any(oauth_token))
        .route("/oauth/token/", any(oauth_token))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(shared)
}

/// What a path under `/rest/` names.
enum Route {
    /// `/rest/<user_id>/<code>/<method>`.
    Webhook {
        user_id: String,
        code: String,
        method: String,
    },
    /// `/rest/<method>` with an `auth` parameter.
    Oauth { method: String },
    /// Anything else, REST 3.0 (`/rest/api/…`) included: not served.
    Unknown { raw: String },
}

impl Route {
    fn parse(path: &str) -> Route {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["api", ..] => Route::Unknown {
                raw: path.to_owned(),
            },
            [method] => Route::Oauth {
                method: params::method_name(method),
            },
            [user_id, code, method] => Route::Webhook {
                user_id: (*user_id).to_owned(),
                code: (*code).to_owned(),
                method: params::method_name(method),
            },
            _ => Route::Unknown {
                raw: path.to_owned(),
            },
        }
    }

    fn name(&self) -> &str {
        match self {
            Route::Webhook { method, .. } | Route::Oauth { method } => method,
            Route::Unknown { raw } => raw,
        }
    }
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = Route::parse(&path);
    shared.calls.record(route.name());
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // Every HTTP request fills the portal's bucket, a batch once, refused ones too.
    if shared.limits.check("rest").is_err() {
        return ApiError::QUERY_LIMIT_EXCEEDED.into_response();
    }
    let answer = || {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        respond(
            &shared,
            &route,
            query.as_deref().unwrap_or(""),
            content_type,
            &body,
        )
    };
    if let Some(error) = shared.portal_error() {
        return match error {
            PortalError::InvalidCredentials => ApiError::INVALID_CREDENTIALS.into_response(),
            PortalError::AccessDenied => ApiError::ACCESS_DENIED.into_response(),
            PortalError::OverloadLimit => ApiError::OVERLOAD_LIMIT.into_response(),
            PortalError::OperationTimeLimit { reset_in_secs } => {
                wire::operation_time_limit(reset_in_secs)
            }
        };
    }
    let key = [
        path.as_bytes(),
        query.as_deref().unwrap_or("").as_bytes(),
        &body,
    ]
    .concat();
    match shared.faults.next_data_call(&key) {
        None => answer(),
        Some(Fault::RateLimit) => ApiError::QUERY_LIMIT_EXCEEDED.into_response(),
        // A method over its run time, its oldest basket leaving the count a second later.
        Some(Fault::ConcurrencyLimit) => wire::operation_time_limit(1),
        Some(Fault::Http5xx) => bad_gateway(),
        Some(Fault::MalformedJson) => truncated(answer()).await,
    }
}

fn respond(
    shared: &Shared,
    route: &Route,
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Response {
    let mut params = Params::from_query(query);
    if params.merge_body(content_type, body).is_err() {
        return ApiError::INVALID_REQUEST.into_response();
    }
    let method = match route {
        Route::Webhook {
            user_id,
            code,
            method,
        } => {
            if *user_id != shared.config.webhook_user_id.to_string()
                || *code != shared.config.webhook_code
            {
                return ApiError::NO_AUTH_FOUND.into_response();
            }
            method
        }
        Route::Oauth { method } => {
            if let Err(error) = shared.authorize(params.text("auth").as_deref()) {
                return error.into_response();
            }
            method
        }
        Route::Unknown { .. } => return ApiError::METHOD_NOT_FOUND.into_response(),
    };
    let directory = shared.directory();
    let answer = if method == "batch" {
        methods::batch(shared, &directory, &params)
    } else {
        methods::call(shared, &directory, method, &params)
    };
    match answer {
        Ok(answer) => answer.into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /oauth/token/?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…`
/// (a form-encoded POST works too).
async fn oauth_token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.calls.record(TOKEN_PATH);
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut params = Params::from_query(query.as_deref().unwrap_or(""));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if params.merge_body(content_type, &body).is_err() {
        return ApiError::INVALID_REQUEST.into_response();
    }
    if params.text("grant_type").as_deref() != Some("refresh_token") {
        return ApiError::UNSUPPORTED_GRANT.into_response();
    }
    let config = &shared.config;
    if params.text("client_id").as_deref() != Some(config.client_id.as_str())
        || params.text("client_secret").as_deref() != Some(config.client_secret.as_str())
    {
        return ApiError::INVALID_CLIENT.into_response();
    }
    let presented = params.text("refresh_token").unwrap_or_default();
    match shared.refresh(&presented) {
        Err(error) => error.into_response(),
        Ok((access, refresh_token)) => {
            let rest = format!("{}/rest/", shared.origin());
            axum::Json(json!({
                "access_token": access.token,
                "expires_in": shared.faults.announced_lifetime(access.expires_in),
                "refresh_token": refresh_token,
                "scope": config.scopes.join(","),
                "domain": "oauth.bitrix.info",
                "server_endpoint": "https://oauth.bitrix.info/rest/",
                "client_endpoint": rest,
                "member_id": "m-emulated",
                "user_id": config.webhook_user_id,
                "status": "L",
            }))
            .into_response()
        }
    }
}

/// What the nginx in front of a portal sends when PHP fails.
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
