//! One function per endpoint. Malformed input is a 400 with a JSON error, never a panic.

use super::ApiState;
use crate::daemon::state::TriggerError;
use crate::daemon::types::{ErrorBody, RunState, SyncRequest};
use crate::report::{self, Format};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

pub async fn healthz(State(state): State<ApiState>) -> Response {
    Json(serde_json::json!({ "status": "ok", "connectors": state.shared.is_running().len() }))
        .into_response()
}

pub async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.shared.metrics.render(&state.shared.is_running()),
    )
        .into_response()
}

pub async fn connectors(State(state): State<ApiState>) -> Response {
    let next = match state.scheduler.lock().await.as_mut() {
        Some(scheduler) => scheduler.next_runs().await,
        None => Default::default(),
    };
    let shared = Arc::clone(&state.shared);
    let mut views = match blocking(move || shared.connectors()).await {
        Ok(views) => views,
        Err(response) => return response,
    };
    for view in &mut views {
        view.next_run = next.get(&view.name).copied();
    }
    Json(views).into_response()
}

/// `POST /connectors/{name}/sync`: options from a JSON body, or from the query when the body is
/// empty. Answers 202 at once with the run id.
pub async fn sync(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: Result<Query<SyncRequest>, QueryRejection>,
    body: Bytes,
) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        match query {
            Ok(Query(request)) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("bad query: {}", e.body_text()),
                );
            }
        }
    } else {
        match serde_json::from_slice::<SyncRequest>(&body) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "bad request body: {e}; expected JSON like {{\"mode\": \"apply\" | \"dry-run\", \"full\": false, \"allow_deletions\": false}}"
                    ),
                );
            }
        }
    };
    match state.shared.trigger(&name, request.options()) {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(e) => trigger_error(e),
    }
}

/// The status a refused trigger answers with.
pub fn trigger_error(e: TriggerError) -> Response {
    let status = match &e {
        TriggerError::UnknownConnector { .. } => StatusCode::NOT_FOUND,
        TriggerError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
        TriggerError::Job(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, e.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    connector: Option<String>,
    limit: Option<usize>,
}

/// `GET /runs`: the run history, newest first.
pub async fn runs(
    State(state): State<ApiState>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("bad query: {}", e.body_text()),
            );
        }
    };
    let known = query
        .connector
        .as_ref()
        .is_none_or(|name| state.shared.has_connector(name));
    let history = state.shared.history();
    /// What the history says, as plain data; the responses are built on this side.
    enum Listed {
        Runs(Vec<crate::history::RunSummary>),
        UnknownConnector(String),
        Failed(String),
    }
    let listed = blocking(move || {
        if let Some(name) = query.connector.as_deref().filter(|_| !known)
            && history.latest(name).ok().flatten().is_none()
        {
            return Listed::UnknownConnector(name.to_owned());
        }
        match history.list(query.connector.as_deref(), query.limit.unwrap_or(50)) {
            Ok(runs) => Listed::Runs(runs),
            Err(e) => Listed::Failed(e.to_string()),
        }
    })
    .await;
    match listed {
        Ok(Listed::Runs(runs)) => Json(runs).into_response(),
        Ok(Listed::UnknownConnector(name)) => error(
            StatusCode::NOT_FOUND,
            format!("no connector named {name:?}"),
        ),
        Ok(Listed::Failed(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(response) => response,
    }
}

pub async fn run(State(state): State<ApiState>, Path(id): Path<String>) -> Response {
    let shared = Arc::clone(&state.shared);
    match blocking(move || shared.run(&id).ok_or(id)).await {
        Ok(Ok(view)) => Json(view).into_response(),
        Ok(Err(id)) => error(StatusCode::NOT_FOUND, format!("no run {id:?}")),
        Err(response) => response,
    }
}

/// Runs a call that reads the state database on the blocking pool: a slow disk must not stall
/// the runtime's threads, which serve every other request and run the connectors.
pub(super) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    format: Option<Format>,
}

/// `GET /runs/{id}/report?format=text|json|markdown|html`, once the run finished.
pub async fn report(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    let format = match query {
        Ok(Query(q)) => q.format.unwrap_or(Format::Json),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "bad query: {}; format is one of text, json, markdown, html",
                    e.body_text()
                ),
            );
        }
    };
    let history = state.shared.history();
    let lookup = id.clone();
    let found = match blocking(move || history.get(&lookup)).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match found {
        Ok(Some(report)) => {
            let content_type = match format {
                Format::Text => "text/plain; charset=utf-8",
                Format::Json => "application/json",
                Format::Markdown => "text/markdown; charset=utf-8",
                Format::Html => "text/html; charset=utf-8",
            };
            (
                [(header::CONTENT_TYPE, content_type)],
                report::render(&report, format),
            )
                .into_response()
        }
        Ok(None) => match state.shared.run(&id) {
            Some(view) if matches!(view.state, RunState::Queued | RunState::Running) => error(
                StatusCode::CONFLICT,
                format!("run {id} has not finished; its report is not ready"),
            ),
            Some(view) => error(
                StatusCode::NOT_FOUND,
                format!(
                    "run {id} left no report: {}",
                    view.error.unwrap_or_else(|| "unknown".into())
                ),
            ),
            None => error(StatusCode::NOT_FOUND, format!("no run {id:?}")),
        },
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
