//! The overview: every connector with its schedule, next run, last outcome, and (operators) the
//! Sync now and Dry run buttons.

use super::runs::{outcome_cell, run_link};
use crate::config::ZoneOrigin;
use crate::daemon::types::ConnectorView;
use crate::daemon::web::html::{self, Viewer, esc, when};
use crate::daemon::web::{WebState, blocking};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;

/// Every connector as the admin API's `GET /connectors` has it, next runs included.
pub async fn connector_views(state: &WebState) -> Vec<ConnectorView> {
    let next = match state.api.scheduler.lock().await.as_mut() {
        Some(scheduler) => scheduler.next_runs().await,
        None => Default::default(),
    };
    let shared = Arc::clone(state.shared());
    let mut views = blocking(move || shared.connectors())
        .await
        .unwrap_or_default();
    for view in &mut views {
        view.next_run = next.get(&view.name).copied();
    }
    views
}

pub async fn page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let views = connector_views(&state).await;
    let body = if views.is_empty() {
        "<p>No connector is configured.</p>".to_owned()
    } else {
        views.iter().map(|v| card(&viewer, v)).collect()
    };
    html::page(&viewer, "/", "Overview", &body)
}

fn card(viewer: &Viewer, v: &ConnectorView) -> String {
    let name = esc(&v.name);
    let schedule = match &v.schedule {
        Some(cron) => format!("<code>{}</code>{}", esc(cron), zone(v)),
        None => "on demand only".to_owned(),
    };
    let next = v
        .next_run
        .map(|at| in_zone(at, &v.timezone))
        .unwrap_or_else(|| "not scheduled".into());
    let last = match &v.last_run {
        Some(run) => format!(
            "{} {} ({})",
            outcome_cell(&run.outcome),
            run_link(viewer, &run.run_id),
            when(run.finished_at.unwrap_or(run.started_at))
        ),
        None => "no run yet".to_owned(),
    };
    let now = match (&v.running, &v.queued) {
        (Some(running), queued) => format!(
            r#"<p class="live">Running: {}{}</p>"#,
            run_link(viewer, running),
            queued
                .as_ref()
                .map(|q| format!("; queued next: {}", run_link(viewer, q)))
                .unwrap_or_default()
        ),
        (None, Some(queued)) => format!(
            r#"<p class="live">Queued: {}</p>"#,
            run_link(viewer, queued)
        ),
        (None, None) => String::new(),
    };
    let error = v
        .last_error
        .as_ref()
        .map(|e| {
            format!(
                r#"<p class="bad">Last error ({}, {}): {}</p>"#,
                when(e.at),
                run_link(viewer, &e.run_id),
                esc(&e.message)
            )
        })
        .unwrap_or_default();
    let actions = if viewer.can_operate() {
        let path = format!("/connectors/{}/sync", v.name);
        format!(
            r#"<div class="actions">{}{}</div>"#,
            viewer.button(&path, &[("mode", "apply")], "Sync now", "primary"),
            viewer.button(&path, &[("mode", "dry-run")], "Dry run", ""),
        )
    } else {
        String::new()
    };
    format!(
        r#"<section class="card" aria-labelledby="c-{name}" data-connector="{name}">
<h2 id="c-{name}">{name} <span class="flow">{source} → {target}</span></h2>
<dl>
<dt>Schedule</dt><dd>{schedule}</dd>
<dt>Next run</dt><dd>{next}</dd>
<dt>Last run</dt><dd>{last}</dd>
</dl>
{now}{error}{actions}
<p><a href="{history}">History of {name}</a></p>
</section>
"#,
        source = esc(&v.source),
        target = esc(&v.target),
        history = viewer.href(&format!("/runs?connector={}", v.name)),
    )
}

/// The zone the schedule is read in, and where that choice comes from.
fn zone(v: &ConnectorView) -> String {
    let origin = match v.timezone_origin {
        ZoneOrigin::Configured => "",
        ZoneOrigin::System => ", the system's zone",
        ZoneOrigin::UtcFallback => ", for want of a system zone",
    };
    format!(" in {}{origin}", esc(&v.timezone))
}

/// A moment in the connector's zone (as its schedule reads), with UTC beside it.
fn in_zone(at: jiff::Timestamp, zone: &str) -> String {
    match at.in_tz(zone) {
        Ok(local) if zone != "UTC" => format!(
            "{} ({})",
            esc(&local.strftime("%Y-%m-%d %H:%M:%S %Z").to_string()),
            when(at)
        ),
        _ => when(at),
    }
}
