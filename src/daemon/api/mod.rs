//! The admin API (axum): on a Unix socket (mode 0660) and, optionally, on loopback TCP behind a
//! bearer token. Every error answer is JSON `{"error": "..."}` with a fitting status.

mod auth;
mod handlers;
mod jobs;
mod listen;
mod serve;

pub use listen::{ListenError, bind_tcp, bind_unix};
pub use serve::{Limits, serve};

use super::scheduler::Scheduler;
use super::state::Shared;
use crate::config::Secret;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

#[derive(Clone)]
pub struct ApiState {
    pub shared: Arc<Shared>,
    pub scheduler: Arc<tokio::sync::Mutex<Option<Scheduler>>>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .route("/connectors", get(handlers::connectors))
        .route("/connectors/{name}/sync", post(handlers::sync))
        .route("/connectors/{name}/jobs", post(jobs::submit))
        .route("/plans", get(jobs::pending))
        .route("/plans/{run_id}/approve", post(jobs::approve))
        .route("/plans/{run_id}/dismiss", post(jobs::dismiss))
        .route("/runs/{id}/output", get(jobs::output))
        .route("/runs", get(handlers::runs))
        .route("/runs/{id}", get(handlers::run))
        .route("/runs/{id}/report", get(handlers::report))
        .fallback(handlers::not_found)
        .with_state(state)
}

/// The same routes, each request checked for `Authorization: Bearer <token>`.
pub fn tcp_router(state: ApiState, token: Secret) -> Router {
    router(state).layer(axum::middleware::from_fn_with_state(
        Arc::new(auth::TokenCheck::new(&token)),
        auth::require_token,
    ))
}
