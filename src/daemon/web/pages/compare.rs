//! `GET /compare?a=RUN&b=RUN`: what changed between two runs' plans, as the text renderer of
//! `orgsync reports compare` says it.

use crate::daemon::web::html::{self, esc};
use crate::daemon::web::{WebState, blocking};
use crate::report::{self, RenderOptions};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    a: Option<String>,
    b: Option<String>,
}

pub async fn page(
    State(state): State<WebState>,
    headers: HeaderMap,
    query: Result<Query<CompareQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let (Some(a), Some(b)) = query.ok().map(|Query(q)| (q.a, q.b)).unwrap_or_default() else {
        return html::message(
            state.base(),
            StatusCode::BAD_REQUEST,
            "Pick two runs",
            "Choose run A and run B in the history to compare them.",
        );
    };
    let history = state.shared().history();
    let (ida, idb) = (a.clone(), b.clone());
    let found = blocking(move || {
        Ok::<_, crate::history::HistoryError>((history.get(&ida)?, history.get(&idb)?))
    })
    .await;
    let (ra, rb) = match found {
        Some(Ok((Some(ra), Some(rb)))) => (ra, rb),
        Some(Ok((ra, _))) => {
            let missing = if ra.is_none() { &a } else { &b };
            return html::message(
                state.base(),
                StatusCode::NOT_FOUND,
                "No such run",
                &format!("The history has no run {missing:?}."),
            );
        }
        Some(Err(e)) => {
            return html::message(
                state.base(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot read the history",
                &e.to_string(),
            );
        }
        None => {
            return html::message(
                state.base(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot read the history",
                "the read stopped unexpectedly",
            );
        }
    };
    let comparison = report::compare(&ra, &rb);
    let text = report::render_comparison_text(&comparison, &RenderOptions::default());
    let body = format!(
        r#"<p>A: {} · B: {}</p><pre class="comparison" tabindex="0">{}</pre>"#,
        super::runs::run_link(&viewer, &a),
        super::runs::run_link(&viewer, &b),
        esc(&text)
    );
    html::page(&viewer, "/runs", "Comparison", &body)
}
