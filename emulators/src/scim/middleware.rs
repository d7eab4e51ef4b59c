//! Layers every request passes through, outermost first: counting, authentication, fault injection.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ScimError;
use super::state::{FaultAction, Shared};

/// Counts each request by method and each error answer, including those of the inner layers.
pub(crate) async fn count(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    shared.counters().count_request(request.method());
    let response = next.run(request).await;
    shared.counters().count_answer(response.status());
    response
}

/// `Authorization: Bearer <token>` on every path, before anything else can answer (RFC 7644 §2).
pub(crate) async fn authenticate(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if presented == Some(shared.config.bearer_token.as_str()) {
        next.run(request).await
    } else {
        // Never echo the presented credential back.
        ScimError::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token").into_response()
    }
}

/// Delays requests and fails or stalls write requests as configured with `ScimHandle::set_faults`.
/// Failed writes never reach the handler, so they never change the store.
pub(crate) async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let planned = shared.plan_request(is_write);
    if !planned.delay.is_zero() {
        tokio::time::sleep(planned.delay).await;
    }
    match planned.action {
        FaultAction::Serve => next.run(request).await,
        FaultAction::Fail(error) => {
            tracing::debug!(status = %error.status, "scim emulator: injected fault");
            error.into_response()
        }
        FaultAction::ApplyThenStall(stall) => {
            let response = next.run(request).await;
            tracing::debug!(?stall, "scim emulator: write applied, stalling the answer");
            tokio::time::sleep(stall).await;
            response
        }
    }
}
