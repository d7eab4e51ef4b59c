//! Logging in (a role's token for a session cookie) and out.

use crate::daemon::web::html::{self, esc};
use crate::daemon::web::session::COOKIE;
use crate::daemon::web::{Form, WebState, csrf};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use std::time::Instant;
use tracing::{info, warn};

fn login_page(state: &WebState, status: StatusCode, note: Option<&str>) -> Response {
    let note = note
        .map(|n| format!(r#"<p class="bad" role="alert">{}</p>"#, esc(n)))
        .unwrap_or_default();
    let body = format!(
        r#"<main id="main" class="narrow"><h1>orgsync console</h1>{note}
<form method="post" action="{base}/login" class="stack">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<p class="hint">The viewer or operator token from <code>[daemon.web]</code>.</p>
<button type="submit">Log in</button>
</form></main>"#,
        base = esc(state.base()),
    );
    html::html_response(status, html::frame(state.base(), "Log in", &body))
}

pub async fn form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if state.session(&headers).is_some() {
        return state.see_other("/");
    }
    login_page(&state, StatusCode::OK, None)
}

pub async fn submit(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let expected = csrf::expected_origin(&headers, state.inner.external.as_ref());
    if let Err(failure) = csrf::same_origin(&headers, &expected) {
        return login_page(&state, StatusCode::FORBIDDEN, Some(&failure.to_string()));
    }
    let now = Instant::now();
    if let Err(wait) = state.inner.logins.check(now) {
        warn!(
            wait_s = wait.as_secs(),
            "Console logins paused: too many wrong tokens in the last minute."
        );
        return login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed logins; try again in {} s.",
                wait.as_secs().max(1)
            )),
        );
    }
    let form = Form::parse(&body);
    let Some(role) = state.inner.tokens.role_of(form.get("token").unwrap_or("")) else {
        state.inner.logins.failed(now);
        warn!("Console login refused: the token is not a configured one.");
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid."),
        );
    };
    let (id, _) = match state.inner.sessions.open(role, now) {
        Ok(opened) => opened,
        Err(e) => {
            return html::message(
                state.base(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot log in",
                &format!("no random numbers for a session id: {e}"),
            );
        }
    };
    info!(role = role.as_str(), "Console login.");
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={ttl}{secure}",
        path = if state.base().is_empty() {
            "/"
        } else {
            state.base()
        },
        ttl = state.inner.sessions.ttl().as_secs(),
        secure = if state.secure_cookies() {
            "; Secure"
        } else {
            ""
        },
    );
    with_cookie(state.see_other("/"), &cookie)
}

pub async fn logout(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(refused) =
        state.post_viewer(&headers, &form, crate::daemon::web::session::Role::Viewer)
    {
        return refused;
    }
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(crate::daemon::web::session::from_cookie_header);
    if let Some(id) = id {
        state.inner.sessions.close(id);
    }
    let cookie = format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path={}; Max-Age=0",
        if state.base().is_empty() {
            "/"
        } else {
            state.base()
        }
    );
    with_cookie(state.see_other("/login"), &cookie)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
