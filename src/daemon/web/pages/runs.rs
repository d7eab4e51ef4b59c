//! Runs: starting one (Sync now, Dry run), a run's page with its live progress, its report (the
//! HTML report, as its own page) and the history, with the form that compares two runs.

use crate::daemon::outcome_label;
use crate::daemon::state::TriggerError;
use crate::daemon::types::{JobKind, RunState, RunView};
use crate::daemon::web::html::{self, Viewer, esc, when};
use crate::daemon::web::session::Role;
use crate::daemon::web::{Form, WebState, blocking};
use crate::engine::{Approval, Baseline, RunMode, RunOptions, Stage};
use crate::history::RunSummary;
use crate::report::{self, Format, RunOutcome};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// `POST /connectors/{name}/sync` (operators): `mode` = `apply` or `dry-run`; then the run's page.
pub async fn sync(
    State(state): State<WebState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(refused) = state.post_viewer(&headers, &form, Role::Operator) {
        return refused;
    }
    let mode = match form.get("mode") {
        Some("dry-run") => RunMode::DryRun,
        _ => RunMode::Apply,
    };
    let options = RunOptions {
        mode,
        approval: Approval::None,
        baseline: Baseline::Snapshot,
    };
    match state.shared().trigger(&name, options) {
        Ok(accepted) => state.see_other(&format!("/runs/{}", accepted.run_id)),
        Err(e) => refused_trigger(&state, &e),
    }
}

/// The page for a trigger the daemon did not accept.
pub fn refused_trigger(state: &WebState, e: &TriggerError) -> Response {
    let status = match e {
        TriggerError::UnknownConnector { .. } => StatusCode::NOT_FOUND,
        TriggerError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
        TriggerError::Job(_) => StatusCode::BAD_REQUEST,
    };
    html::message(state.base(), status, "Not started", &e.to_string())
}

/// A run id as a link to its page.
pub fn run_link(viewer: &Viewer, run_id: &str) -> String {
    format!(
        r#"<a href="{}">{}</a>"#,
        viewer.href(&format!("/runs/{}", urlencode(run_id))),
        esc(run_id)
    )
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An outcome in a word or two, marked for colour and for screen readers alike.
pub fn outcome_cell(outcome: &RunOutcome) -> String {
    let label = outcome_label(outcome);
    let words = match outcome {
        RunOutcome::Running => "running".to_owned(),
        RunOutcome::Planned => "planned (dry run)".to_owned(),
        RunOutcome::Applied => "applied".to_owned(),
        RunOutcome::PartiallyApplied { failed } => format!("partially applied ({failed} failed)"),
        RunOutcome::Interrupted { left, .. } => format!("interrupted ({left} left)"),
        RunOutcome::BreakerTripped { left, .. } => {
            format!("stopped by the circuit breaker ({left} left)")
        }
        RunOutcome::Refused { .. } => "refused by the deletion guard".to_owned(),
        RunOutcome::Failed { .. } => "failed".to_owned(),
    };
    format!(r#"<span class="outcome {label}" data-outcome="{label}">{words}</span>"#)
}

/// Where a run is, in a sentence (the run page and its progress endpoint say the same).
pub fn progress_text(view: &RunView) -> String {
    let p = &view.progress;
    match view.state {
        RunState::Queued => "Queued: waiting for the connector's current run to end.".into(),
        RunState::Cancelled => "Cancelled: orgsync stopped before the run started.".into(),
        RunState::Failed => format!(
            "Failed without a report: {}",
            view.error.as_deref().unwrap_or("unknown")
        ),
        RunState::Finished => "Finished.".into(),
        RunState::Running => match p.stage {
            Stage::Queued => "Starting…".into(),
            Stage::Checking => "Checking that the target accepts our credentials…".into(),
            Stage::Pulling => format!("Pulling: {}…", p.pull),
            Stage::Planning => "Planning…".into(),
            Stage::Applying => format!("Applying: {} of {} steps done…", p.done, p.total),
            Stage::Finished => "Finishing…".into(),
        },
    }
}

async fn run_view(state: &WebState, id: String) -> Option<RunView> {
    let shared = Arc::clone(state.shared());
    blocking(move || shared.run(&id)).await.flatten()
}

/// `GET /runs/{id}/progress`: the run as JSON plus its sentence, polled by the run page.
pub async fn progress(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(unauthorized) = state.data_viewer(&headers) {
        return unauthorized;
    }
    match run_view(&state, id).await {
        Some(view) => Json(serde_json::json!({
            "text": progress_text(&view),
            "done": view.is_done(),
            "state": view.state,
            "stage": view.progress.stage,
            "steps_done": view.progress.done,
            "steps_total": view.progress.total,
            "outcome": view.outcome.as_ref().map(outcome_label),
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such run" })),
        )
            .into_response(),
    }
}

/// `GET /runs/{id}`: the run, live until it ends, then its outcome and report.
pub async fn run(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let Some(view) = run_view(&state, id.clone()).await else {
        return html::message(
            state.base(),
            StatusCode::NOT_FOUND,
            "No such run",
            &format!("orgsync knows no run {id:?}."),
        );
    };
    let body = run_body(&viewer, &view);
    html::page(&viewer, "/runs", &format!("Run {}", view.run_id), &body)
}

/// The run's facts, its live progress and, once done, its outcome and report link.
pub fn run_body(viewer: &Viewer, view: &RunView) -> String {
    let id = urlencode(&view.run_id);
    let mode = match (view.kind, view.mode) {
        (JobKind::Sync, RunMode::Apply) => "sync",
        (JobKind::Sync, RunMode::DryRun) => "dry run",
        (JobKind::People, RunMode::Apply) => "sync of one person",
        (JobKind::People, RunMode::DryRun) => "dry run of one person",
        (JobKind::Review, _) => "plan for review (diff --save)",
        (JobKind::ApplyPlan, _) => "apply of a saved or approved plan",
        (JobKind::Explain, _) => "person search (explain)",
        (JobKind::Rebuild, _) => "snapshot rebuild",
        (JobKind::Events, _) => "sync of what upstream events announced",
    };
    let (bar_value, bar_max) = match view.progress.stage {
        Stage::Applying | Stage::Finished if view.progress.total > 0 => {
            (view.progress.done, view.progress.total)
        }
        _ => (0, 1),
    };
    let done = view.is_done();
    let outcome = match &view.outcome {
        Some(outcome) => format!(
            r#"<p>Outcome: {} · <a href="{}">Open the report</a></p>"#,
            outcome_cell(outcome),
            viewer.href(&format!("/runs/{id}/report"))
        ),
        None => String::new(),
    };
    let counts: Vec<String> = view
        .counts
        .iter()
        .map(|(kind, n)| format!("{} {n}", kind.as_str()))
        .collect();
    format!(
        r#"<section id="run" data-progress="{progress}" data-done="{done}" aria-live="polite">
<dl>
<dt>Connector</dt><dd>{connector}</dd>
<dt>Kind</dt><dd>{mode}</dd>
<dt>Started</dt><dd>{started}</dd>
<dt>Steps</dt><dd>{counts}</dd>
</dl>
<p id="progress-text">{text}</p>
<progress id="progress-bar" value="{bar_value}" max="{bar_max}"></progress>
{outcome}
{reload}
</section>"#,
        progress = viewer.href(&format!("/runs/{id}/progress")),
        connector = esc(&view.connector),
        started = view
            .started_at
            .map(when)
            .unwrap_or_else(|| "not yet".into()),
        counts = if counts.is_empty() {
            "none yet".to_owned()
        } else {
            esc(&counts.join(", "))
        },
        text = esc(&progress_text(view)),
        reload = if done {
            String::new()
        } else {
            format!(
                r#"<p class="hint">This page follows the run; without JavaScript, <a href="{}">reload it</a>.</p>"#,
                viewer.href(&format!("/runs/{id}"))
            )
        },
    )
}

/// `GET /runs/{id}/report`: the run's HTML report, as its own page (with its own policy).
pub async fn report(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(login) = state.page_viewer(&headers) {
        return login;
    }
    let history = state.shared().history();
    let lookup = id.clone();
    match blocking(move || history.get(&lookup)).await {
        Some(Ok(Some(report))) => {
            let mut response =
                html::html_response(StatusCode::OK, report::render(&report, Format::Html));
            // The page's own <meta> policy allows its inline script and style by hash; this
            // header adds what a <meta> cannot say.
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; connect-src 'none'",
                ),
            );
            response
        }
        Some(Ok(None)) => html::message(
            state.base(),
            StatusCode::NOT_FOUND,
            "No report",
            &format!("Run {id} has no report (yet): it is still going, or it left none."),
        ),
        Some(Err(e)) => html::message(
            state.base(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot read the history",
            &e.to_string(),
        ),
        None => html::message(
            state.base(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot read the history",
            "the read stopped unexpectedly",
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    connector: Option<String>,
}

/// `GET /runs[?connector=NAME]`: the history, newest first, with a compare form.
pub async fn history(
    State(state): State<WebState>,
    headers: HeaderMap,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let connector = query
        .ok()
        .and_then(|Query(q)| q.connector)
        .filter(|c| !c.is_empty());
    let history = state.shared().history();
    let filter = connector.clone();
    let runs = match blocking(move || history.list(filter.as_deref(), 200)).await {
        Some(Ok(runs)) => runs,
        Some(Err(e)) => {
            return html::message(
                state.base(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot read the history",
                &e.to_string(),
            );
        }
        None => Vec::new(),
    };
    let names: Vec<String> = state.shared().is_running().into_keys().collect();
    let title = match &connector {
        Some(name) => format!("Runs of {name}"),
        None => "Runs".to_owned(),
    };
    let body = format!(
        "{}{}",
        filter_form(&viewer, &names, connector.as_deref()),
        runs_table(&viewer, &runs)
    );
    html::page(&viewer, "/runs", &title, &body)
}

fn filter_form(viewer: &Viewer, names: &[String], current: Option<&str>) -> String {
    let options: String = std::iter::once(("", "every connector"))
        .chain(names.iter().map(|n| (n.as_str(), n.as_str())))
        .map(|(value, label)| {
            let selected = if Some(value) == current || (value.is_empty() && current.is_none()) {
                " selected"
            } else {
                ""
            };
            format!(
                r#"<option value="{}"{selected}>{}</option>"#,
                esc(value),
                esc(label)
            )
        })
        .collect();
    format!(
        r#"<form method="get" action="{}" class="row"><label for="connector">Connector</label> <select id="connector" name="connector">{options}</select> <button type="submit">Show</button></form>"#,
        viewer.href("/runs")
    )
}

/// The runs, each with two radio buttons: pick an older (A) and a newer (B) run to compare.
fn runs_table(viewer: &Viewer, runs: &[RunSummary]) -> String {
    if runs.is_empty() {
        return "<p>No run yet.</p>".to_owned();
    }
    let rows: String = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let id = esc(&run.run_id);
            let checked = |want: usize| if i == want { " checked" } else { "" };
            format!(
                r#"<tr><td><input type="radio" name="a" value="{id}" aria-label="Compare from {id}"{a}></td><td><input type="radio" name="b" value="{id}" aria-label="Compare to {id}"{b}></td><td>{link}</td><td>{connector}</td><td>{mode}</td><td>{started}</td><td>{outcome}</td><td>{steps}</td><td><a href="{report}">report</a></td></tr>"#,
                a = checked(1),
                b = checked(0),
                link = run_link(viewer, &run.run_id),
                connector = esc(&run.connector),
                mode = match (run.events, run.mode) {
                    (Some(n), _) => format!("sync of {n} upstream event{}", if n == 1 { "" } else { "s" }),
                    (None, RunMode::Apply) => "sync".to_owned(),
                    (None, RunMode::DryRun) => "dry run".to_owned(),
                },
                started = when(run.started_at),
                outcome = outcome_cell(&run.outcome),
                steps = run.steps(),
                report = viewer.href(&format!("/runs/{}/report", urlencode(&run.run_id))),
            )
        })
        .collect();
    format!(
        r#"<form method="get" action="{action}">
<div class="scroll"><table>
<caption>Newest first. Pick run A (older) and run B (newer) to compare them.</caption>
<thead><tr><th scope="col">A</th><th scope="col">B</th><th scope="col">Run</th><th scope="col">Connector</th><th scope="col">Kind</th><th scope="col">Started</th><th scope="col">Outcome</th><th scope="col">Steps</th><th scope="col">Report</th></tr></thead>
<tbody>{rows}</tbody>
</table></div>
<button type="submit">Compare A with B</button>
</form>"#,
        action = viewer.href("/compare"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Progress;
    use crate::pullers::Platform;
    use crate::pullers::http::{PullCounts, WaitReason, Waiting};

    fn pulling(pull: PullCounts) -> RunView {
        RunView {
            run_id: "r1".into(),
            connector: "hq".into(),
            kind: JobKind::Sync,
            mode: RunMode::Apply,
            state: RunState::Running,
            progress: Progress {
                stage: Stage::Pulling,
                pull,
                ..Progress::default()
            },
            outcome: None,
            started_at: None,
            finished_at: None,
            counts: Default::default(),
            error: None,
        }
    }

    /// The run page says what the CLI's progress says: the estimate, and what a wait is for
    /// and how long it lasts.
    #[test]
    fn a_pull_in_progress_shows_the_estimate_and_the_wait() {
        let mut pull = PullCounts {
            calls: 431,
            people: 2100,
            people_total: Some(3000),
            eta_seconds: Some(40),
            waiting: None,
        };
        assert_eq!(
            progress_text(&pulling(pull)),
            "Pulling: 2100/3000 people, 431 calls, about 40 s left…"
        );
        pull.waiting = Some(Waiting {
            platform: Platform::Dingtalk,
            reason: WaitReason::Throttled,
            seconds: 300,
        });
        assert_eq!(
            progress_text(&pulling(pull)),
            "Pulling: 2100/3000 people, 431 calls; throttled by dingtalk, waiting 300 s…"
        );
    }
}
