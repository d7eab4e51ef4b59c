//! The person search: a name, e-mail or id explained by a run of the connector (`Job::Explain`);
//! several matches are listed, one is explained with a **Sync this person** button (operators),
//! which runs `Job::People` for that key.

use super::runs::{refused_trigger, run_body, urlencode};
use crate::daemon::types::{Job, JobOutput, PersonMatch, RunView};
use crate::daemon::web::html::{self, Viewer, esc};
use crate::daemon::web::session::Role;
use crate::daemon::web::{Form, WebState, blocking};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

fn search_form(viewer: &Viewer, names: &[String], connector: Option<&str>, query: &str) -> String {
    let options: String = names
        .iter()
        .map(|n| {
            let selected = if Some(n.as_str()) == connector {
                " selected"
            } else {
                ""
            };
            format!(r#"<option value="{0}"{selected}>{0}</option>"#, esc(n))
        })
        .collect();
    format!(
        r#"<form method="post" action="{action}" class="row" role="search">
<input type="hidden" name="csrf" value="{csrf}">
<label for="person-connector">Connector</label> <select id="person-connector" name="connector">{options}</select>
<label for="person-query">Name, e-mail or id</label> <input id="person-query" name="q" value="{query}" required>
<button type="submit">Search</button>
</form>"#,
        action = viewer.href("/people"),
        csrf = esc(&viewer.csrf),
        query = esc(query),
    )
}

fn connector_names(state: &WebState) -> Vec<String> {
    state.shared().is_running().into_keys().collect()
}

pub async fn page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let names = connector_names(&state);
    let body = format!(
        "<p>Find a person the way the connector's upstream has them, see why they are synced the way they are, and sync them now.</p>{}",
        search_form(&viewer, &names, None, "")
    );
    html::page(&viewer, "/people", "People", &body)
}

/// `POST /people`: starts an explain run for the query; then its page.
pub async fn search(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(refused) = state.post_viewer(&headers, &form, Role::Viewer) {
        return refused;
    }
    let (Some(connector), Some(query)) = (form.get("connector"), form.get("q")) else {
        return html::message(
            state.base(),
            StatusCode::BAD_REQUEST,
            "Nothing to search",
            "Pick a connector and type a name, an e-mail address or an id.",
        );
    };
    let query = query.trim();
    if query.is_empty() {
        return state.see_other("/people");
    }
    let job = Job::Explain {
        user: query.to_owned(),
    };
    match state.shared().submit(connector, job) {
        Ok(accepted) => state.see_other(&format!(
            "/people/{}?q={}",
            urlencode(&accepted.run_id),
            urlencode(query)
        )),
        Err(e) => refused_trigger(&state, &e),
    }
}

/// `POST /people/sync` (operators): `Job::People` for one key; then the run's page.
pub async fn sync(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(refused) = state.post_viewer(&headers, &form, Role::Operator) {
        return refused;
    }
    let (Some(connector), Some(key)) = (form.get("connector"), form.get("key")) else {
        return html::message(
            state.base(),
            StatusCode::BAD_REQUEST,
            "Nobody to sync",
            "The form names no connector or person.",
        );
    };
    let job = Job::People {
        keys: vec![key.to_owned()],
        mode: None,
    };
    match state.shared().submit(connector, job) {
        Ok(accepted) => state.see_other(&format!("/runs/{}", urlencode(&accepted.run_id))),
        Err(e) => refused_trigger(&state, &e),
    }
}

/// `GET /people/{run_id}`: the explain run, live until it ends, then what it found.
#[derive(Debug, serde::Deserialize)]
pub struct ResultQuery {
    q: Option<String>,
}

pub async fn result(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ResultQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let asked = query.ok().and_then(|Query(q)| q.q).unwrap_or_default();
    let viewer = match state.page_viewer(&headers) {
        Ok(viewer) => viewer,
        Err(login) => return login,
    };
    let shared = Arc::clone(state.shared());
    let lookup = id.clone();
    let found: Option<(Option<RunView>, Option<JobOutput>)> =
        blocking(move || (shared.run(&lookup), shared.output(&lookup))).await;
    let Some((Some(view), output)) = found else {
        return html::message(
            state.base(),
            StatusCode::NOT_FOUND,
            "No such search",
            &format!("orgsync knows no run {id:?}."),
        );
    };
    let names = connector_names(&state);
    let body = match output {
        _ if !view.is_done() => run_body(&viewer, &view),
        Some(JobOutput::Explain { matches, lines }) => {
            explained(&viewer, &view.connector, &asked, &matches, &lines)
        }
        Some(JobOutput::Refused { message, .. }) => {
            format!(r#"<p class="bad">{}</p>"#, esc(&message))
        }
        _ => format!(
            r#"<p class="bad">The search ended without an answer.</p>{}"#,
            run_body(&viewer, &view)
        ),
    };
    let body = format!(
        "{}{body}",
        search_form(&viewer, &names, Some(&view.connector), &asked)
    );
    html::page(&viewer, "/people", "People", &body)
}

fn explained(
    viewer: &Viewer,
    connector: &str,
    asked: &str,
    matches: &[PersonMatch],
    lines: &[String],
) -> String {
    // An explanation without a match list: the query was the person's upstream id.
    let by_key;
    let matches = if matches.is_empty() && !lines.is_empty() && !asked.is_empty() {
        by_key = [PersonMatch {
            key: asked.to_owned(),
            name: String::new(),
            email: None,
            departments: Vec::new(),
        }];
        &by_key[..]
    } else {
        matches
    };
    match matches {
        [] => r#"<p class="none">Nobody matched.</p>"#.to_owned(),
        [one] => {
            let sync = if viewer.can_operate() {
                viewer.button(
                    "/people/sync",
                    &[("connector", connector), ("key", &one.key)],
                    "Sync this person",
                    "primary",
                )
            } else {
                String::new()
            };
            let text: String = lines.iter().map(|l| format!("{}\n", esc(l))).collect();
            format!(
                r#"<section class="card person" data-key="{key}"><h2>{who}</h2>{details}<pre tabindex="0">{text}</pre><div class="actions">{sync}</div></section>"#,
                key = esc(&one.key),
                who = esc(&crate::report::view::person(
                    Some(&one.name),
                    &one.key.as_str().into()
                )),
                details = details(one),
            )
        }
        many => {
            let items: String = many
                .iter()
                .map(|m| {
                    format!(
                        r#"<li data-key="{key}">{who} {details} {button}</li>"#,
                        key = esc(&m.key),
                        who = esc(&format!("{} ({})", m.name, m.key)),
                        details = details(m),
                        button = viewer.button(
                            "/people",
                            &[("connector", connector), ("q", &m.key)],
                            "Explain",
                            "",
                        ),
                    )
                })
                .collect();
            format!(
                r#"<p>{} people match; pick one.</p><ul class="matches">{items}</ul>"#,
                many.len()
            )
        }
    }
}

fn details(m: &PersonMatch) -> String {
    let mut parts = Vec::new();
    if let Some(email) = &m.email {
        parts.push(email.clone());
    }
    parts.extend(m.departments.iter().cloned());
    if parts.is_empty() {
        String::new()
    } else {
        format!(r#"<span class="hint">{}</span>"#, esc(&parts.join(" · ")))
    }
}
