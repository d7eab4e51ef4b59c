//! `GET /health`: per connector, in words: the last error, the upstream's throttling and error
//! answers, the circuit breaker, the month's quota-counted calls; and how long orgsync has run.

use crate::daemon::events_metrics::EventCounts;
use crate::daemon::types::ConnectorView;
use crate::daemon::web::html::{self, Viewer, esc, when};
use crate::daemon::web::{WebState, blocking};
use crate::report::{Report, RunOutcome};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let views = super::overview::connector_views(&state).await;
    let history = state.shared().history();
    let ids: Vec<Option<String>> = views
        .iter()
        .map(|v| v.last_run.as_ref().map(|r| r.run_id.clone()))
        .collect();
    let last_reports: Vec<Option<Report>> = blocking(move || {
        ids.iter()
            .map(|id| id.as_ref().and_then(|id| history.get(id).ok().flatten()))
            .collect()
    })
    .await
    .unwrap_or_default();
    let uptime = state.inner.started.elapsed().as_secs();
    let mut body = format!(
        "<p>orgsync has been running for {}.</p>",
        duration_words(uptime)
    );
    let config = state.shared().config();
    for (i, view) in views.iter().enumerate() {
        let counts = state.shared().metrics.of_connector(&view.name);
        let events = config
            .connectors
            .get(&view.name)
            .and_then(|c| c.events.as_ref())
            .map(|_| state.shared().metrics.events.of_connector(&view.name));
        body.push_str(&connector(
            &viewer,
            view,
            last_reports.get(i).and_then(Option::as_ref),
            &counts,
            events.as_ref(),
        ));
    }
    html::page(&viewer, "/health", "Health", &body)
}

fn connector(
    viewer: &Viewer,
    view: &ConnectorView,
    last: Option<&Report>,
    counts: &crate::daemon::metrics::ConnectorCounts,
    events: Option<&EventCounts>,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    lines.push(match &view.last_error {
        Some(e) => format!(
            r#"<span class="bad">Last error</span> ({}, run {}): {}"#,
            when(e.at),
            super::runs::run_link(viewer, &e.run_id),
            esc(&e.message)
        ),
        None => "No run has failed since orgsync started.".to_owned(),
    });
    if let Some(pull) = last.and_then(|r| r.pull.as_ref()) {
        let stats = &pull.stats;
        lines.push(if stats.errors.is_empty() && stats.retries == 0 {
            format!(
                "The last pull made {} upstream calls with no throttling and no error answer.",
                stats.total_calls
            )
        } else {
            format!(
                "The last pull made {} upstream calls; {} were retried after an error answer or a throttle ({}).",
                stats.total_calls,
                stats.retries,
                esc(&codes(&stats.errors))
            )
        });
        if !pull.metered_calls.is_empty() {
            let metered: Vec<String> = pull
                .metered_calls
                .iter()
                .map(|(endpoint, n)| format!("{endpoint}: {n}"))
                .collect();
            lines.push(format!(
                "Calls counted against the upstream's monthly quota this month: {}.",
                esc(&metered.join(", "))
            ));
        }
    }
    let tripped = counts.runs.get("breaker_tripped").copied().unwrap_or(0);
    lines.push(match last.map(|r| &r.outcome) {
        Some(RunOutcome::BreakerTripped {
            consecutive_failures,
            left,
        }) => format!(
            r#"<span class="bad">The circuit breaker stopped the last run</span> after {consecutive_failures} target failures in a row; {left} steps wait for the next run."#
        ),
        _ if tripped > 0 => format!(
            "The circuit breaker has stopped {tripped} run(s) since orgsync started; not the last one."
        ),
        _ => "The circuit breaker has not tripped since orgsync started.".to_owned(),
    });
    let runs: u64 = counts.runs.values().sum::<u64>() + counts.runs_without_report;
    lines.push(if counts.upstream_errors.is_empty() {
        format!(
            "Since orgsync started: {runs} run(s), {} upstream calls, no upstream error answers.",
            counts.upstream_calls
        )
    } else {
        format!(
            "Since orgsync started: {runs} run(s), {} upstream calls, upstream error answers {}.",
            counts.upstream_calls,
            esc(&codes(&counts.upstream_errors))
        )
    });
    if let Some(events) = events {
        lines.push(event_line(events));
    }
    let items: String = lines.iter().map(|l| format!("<li>{l}</li>")).collect();
    format!(
        r#"<section class="card" data-connector="{name}"><h2>{name}</h2><ul>{items}</ul></section>"#,
        name = esc(&view.name)
    )
}

/// The connector's upstream events since orgsync started, in one sentence.
fn event_line(events: &EventCounts) -> String {
    let refused: u64 = events.refused.values().sum();
    let runs: u64 = events.runs.values().sum();
    let mut line = format!(
        "Upstream events since orgsync started: {} received, {} repeated by the platform \
         (stored once), ",
        events.received, events.duplicate
    );
    line.push_str(&if refused == 0 {
        "none refused".to_owned()
    } else {
        format!(
            r#"<span class="bad">{refused} refused</span> ({})"#,
            esc(&codes(
                &events
                    .refused
                    .iter()
                    .map(|(reason, n)| ((*reason).to_owned(), *n))
                    .collect()
            ))
        )
    });
    line.push_str(&format!(
        "; {runs} event-driven run(s) ({} focused, {} full), {} event(s) folded into a run \
         with others.",
        events.runs.get("people").copied().unwrap_or(0),
        events.runs.get("everyone").copied().unwrap_or(0),
        events.coalesced
    ));
    line
}

/// "45009 ×3, http_502 ×1"
fn codes(errors: &std::collections::BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "none".to_owned();
    }
    errors
        .iter()
        .map(|(code, n)| format!("{code} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn duration_words(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}
