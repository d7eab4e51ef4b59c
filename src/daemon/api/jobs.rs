//! Endpoints for the jobs besides "sync now" (`diff --save`, `apply`, `explain`, `sync
//! --person`, `snapshot rebuild`), their output, and the plans waiting for approval.

use super::ApiState;
use super::handlers::{blocking, error, trigger_error};
use crate::daemon::state::PlanError;
use crate::daemon::types::Job;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `POST /connectors/{name}/jobs` with a [`Job`] as JSON: 202 with the run, like `/sync`.
pub async fn submit(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let job = match serde_json::from_slice::<Job>(&body) {
        Ok(job) => job,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "bad job: {e}; expected JSON like {{\"kind\": \"explain\", \"user\": \"zhangsan\"}}"
                ),
            );
        }
    };
    // A plan's seal is checked with the key in the state directory: off the runtime's threads.
    let shared = Arc::clone(&state.shared);
    match blocking(move || shared.submit(&name, job)).await {
        Ok(Ok(accepted)) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Ok(Err(e)) => trigger_error(e),
        Err(response) => response,
    }
}

/// `GET /runs/{id}/output`: what a finished run produced besides its report.
pub async fn output(State(state): State<ApiState>, Path(id): Path<String>) -> Response {
    if let Some(output) = state.shared.output(&id) {
        return Json(output).into_response();
    }
    let shared = Arc::clone(&state.shared);
    let lookup = id.clone();
    match blocking(move || shared.run(&lookup)).await {
        Ok(Some(view)) if !view.is_done() => error(
            StatusCode::CONFLICT,
            format!("run {id} has not finished; its output is not ready"),
        ),
        Ok(Some(_)) => error(
            StatusCode::NOT_FOUND,
            format!("run {id} left no output (its report says what it did)"),
        ),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run {id:?}")),
        Err(response) => response,
    }
}

/// `GET /plans`: the plans waiting for approval.
pub async fn pending(State(state): State<ApiState>) -> Response {
    let shared = Arc::clone(&state.shared);
    match blocking(move || shared.pending_plans()).await {
        Ok(Ok(plans)) => Json(plans).into_response(),
        Ok(Err(e)) => plan_error(e),
        Err(response) => response,
    }
}

/// `POST /plans/{run_id}/approve`: 202 with the run that applies it.
pub async fn approve(State(state): State<ApiState>, Path(run_id): Path<String>) -> Response {
    let shared = Arc::clone(&state.shared);
    match blocking(move || shared.approve(&run_id)).await {
        Ok(Ok(accepted)) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Ok(Err(e)) => plan_error(e),
        Err(response) => response,
    }
}

/// `POST /plans/{run_id}/dismiss`: 204.
pub async fn dismiss(State(state): State<ApiState>, Path(run_id): Path<String>) -> Response {
    let shared = Arc::clone(&state.shared);
    match blocking(move || shared.dismiss(&run_id)).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => plan_error(e),
        Err(response) => response,
    }
}

fn plan_error(e: PlanError) -> Response {
    match e {
        PlanError::NotFound(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        PlanError::Trigger(e) => trigger_error(e),
        PlanError::Storage(_) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
