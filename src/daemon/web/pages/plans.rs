//! `GET /plans`: the plans the deletion guard refused, each with its removals and the guard's
//! sentence; operators approve exactly that plan (applied as `apply --allow-deletions`) or
//! dismiss it.

use super::runs::{run_link, urlencode};
use crate::daemon::types::PendingPlanView;
use crate::daemon::web::html::{self, Viewer, esc, when};
use crate::daemon::web::session::Role;
use crate::daemon::web::{Form, WebState, blocking};
use crate::plan::StepKind;
use crate::report::Report;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

pub async fn page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let shared = Arc::clone(state.shared());
    let history = state.shared().history();
    let listed = blocking(move || {
        shared.pending_plans().map(|plans| {
            plans
                .into_iter()
                .map(|plan| {
                    let report = history.get(&plan.run_id).ok().flatten();
                    (plan, report)
                })
                .collect::<Vec<(PendingPlanView, Option<Report>)>>()
        })
    })
    .await;
    let pending = match listed {
        Some(Ok(pending)) => pending,
        Some(Err(e)) => {
            return html::message(
                state.base(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot list the plans",
                &e.to_string(),
            );
        }
        None => Vec::new(),
    };
    let body = if pending.is_empty() {
        "<p>No plan is waiting for approval: the deletion guard has refused nothing that is still pending.</p>".to_owned()
    } else {
        pending
            .iter()
            .map(|(plan, report)| card(&viewer, plan, report.as_ref()))
            .collect()
    };
    html::page(&viewer, "/plans", "Plans waiting for approval", &body)
}

fn card(viewer: &Viewer, plan: &PendingPlanView, report: Option<&Report>) -> String {
    let removals: Vec<String> = report
        .map(|r| {
            r.steps
                .iter()
                .filter(|s| matches!(s.step.kind(), StepKind::Deactivate | StepKind::Delete))
                .map(|s| {
                    let verb = match s.step.kind() {
                        StepKind::Delete => "delete",
                        _ => "deactivate",
                    };
                    let who = match s.step.subject() {
                        crate::plan::Subject::User(key) => {
                            crate::report::view::person(s.name.as_deref(), key)
                        }
                        crate::plan::Subject::Group(group) => format!("group {group}"),
                    };
                    format!(
                        r#"<li data-removal="{verb}"><span class="bad">{verb}</span> {}</li>"#,
                        esc(&who)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // The guard's own words; the report's sentence would point at the CLI instead of the button.
    let guard = format!("Refused by the deletion guard: {}", plan.reason);
    let counts: Vec<String> = plan
        .counts
        .iter()
        .map(|(kind, n)| format!("{} {n}", kind.as_str()))
        .collect();
    let id = urlencode(&plan.run_id);
    let actions = if viewer.can_operate() {
        format!(
            r#"<div class="actions">{}{}</div>"#,
            viewer.button(
                &format!("/plans/{id}/approve"),
                &[],
                &format!("Approve these {} removals", removals.len()),
                "danger"
            ),
            viewer.button(&format!("/plans/{id}/dismiss"), &[], "Dismiss", ""),
        )
    } else {
        String::new()
    };
    format!(
        r#"<section class="card plan" data-run="{run}" aria-label="Plan of {connector}">
<h2>{connector} <span class="flow">refused {at}</span></h2>
<p>Run {link}: <span class="bad">{guard}</span></p>
<p>The whole plan: {counts}. <a href="{report}">Open the report</a></p>
<h3>Removals</h3>
<ul class="removals">{removals}</ul>
{actions}
</section>"#,
        run = esc(&plan.run_id),
        connector = esc(&plan.connector),
        at = when(plan.created_at),
        link = run_link(viewer, &plan.run_id),
        guard = esc(&guard),
        counts = esc(&counts.join(", ")),
        report = viewer.href(&format!("/runs/{id}/report")),
        removals = removals.concat(),
    )
}

/// What an operator decided about a waiting plan.
#[derive(Debug, Clone, Copy)]
enum Decision {
    Approve,
    Dismiss,
}

pub async fn approve(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(state, id, headers, body, Decision::Approve).await
}

pub async fn dismiss(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(state, id, headers, body, Decision::Dismiss).await
}

/// Approve (then the new run's page) or dismiss (then the plans), on the blocking pool: both
/// read and write the state database.
async fn decide(
    state: WebState,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    decision: Decision,
) -> Response {
    if let Err(refused) = state.post_viewer(&headers, &Form::parse(&body), Role::Operator) {
        return refused;
    }
    let (shared, run_id) = (Arc::clone(state.shared()), id.clone());
    let decided = blocking(move || match decision {
        Decision::Approve => shared.approve(&run_id).map(Some),
        Decision::Dismiss => shared.dismiss(&run_id).map(|()| None),
    })
    .await;
    match decided {
        None => state.see_other("/plans"),
        Some(Ok(Some(accepted))) => {
            tracing::info!(
                run_id = id,
                new_run_id = accepted.run_id,
                "Plan approved in the console."
            );
            state.see_other(&format!("/runs/{}", urlencode(&accepted.run_id)))
        }
        Some(Ok(None)) => {
            tracing::info!(run_id = id, "Plan dismissed in the console.");
            state.see_other("/plans")
        }
        Some(Err(e)) => html::message(
            state.base(),
            StatusCode::CONFLICT,
            match decision {
                Decision::Approve => "Not approved",
                Decision::Dismiss => "Not dismissed",
            },
            &e.to_string(),
        ),
    }
}
