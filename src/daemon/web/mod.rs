//! The web console (`[daemon.web]`): server-rendered pages over the daemon's shared state, on a
//! loopback TCP port or a Unix socket behind a reverse proxy. A role's token is exchanged at login
//! for a session cookie; every POST is checked for its session's CSRF token and origin; only
//! operators start runs or approve. Handlers stay thin: the work is `Shared`'s.

mod csrf;
mod html;
mod pages;
mod session;

use super::api::ApiState;
use crate::config::{SecretError, WebConfig};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use html::Viewer;
use session::{LoginLimit, Role, RoleTokens, Session, Sessions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failed logins allowed per minute, for the whole console.
const LOGIN_ATTEMPTS_PER_MINUTE: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("daemon.web.{field}: {source}")]
    Token {
        field: &'static str,
        source: SecretError,
    },
}

/// Where the console listens: loopback TCP, or a Unix socket for a reverse proxy.
pub enum WebListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// Binds the console's listener with the admin API's checks (loopback only; a stale socket file
/// replaced, a live one refused; the socket 0660).
/// None when neither is set (validation refuses such a configuration).
pub async fn bind(config: &WebConfig) -> Result<Option<WebListener>, super::api::ListenError> {
    Ok(match (config.listen, &config.socket) {
        (Some(addr), _) => Some(WebListener::Tcp(super::api::bind_tcp(addr).await?)),
        (None, Some(path)) => Some(WebListener::Unix(super::api::bind_unix(path)?)),
        (None, None) => None,
    })
}

impl WebListener {
    /// Serves with the admin API's connection cap and idle timeout, until `stop`.
    pub async fn serve(
        self,
        router: Router,
        limits: super::api::Limits,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        match self {
            WebListener::Tcp(listener) => super::api::serve(listener, router, limits, stop).await,
            WebListener::Unix(listener) => super::api::serve(listener, router, limits, stop).await,
        }
    }
}

#[derive(Clone)]
pub struct WebState {
    api: ApiState,
    inner: Arc<Inner>,
}

struct Inner {
    tokens: RoleTokens,
    sessions: Sessions,
    logins: LoginLimit,
    external: Option<url::Url>,
    /// The path prefix of `external`, without its trailing slash.
    base: String,
    started: Instant,
}

impl WebState {
    /// Resolves the role tokens (secret references); the error names the field, never the value.
    pub fn new(api: ApiState, config: &WebConfig) -> Result<Self, WebError> {
        let resolve = |field: &'static str, reference: &Option<crate::config::SecretRef>| {
            reference
                .as_ref()
                .map(|r| {
                    r.resolve()
                        .map_err(|source| WebError::Token { field, source })
                })
                .transpose()
        };
        let viewer = resolve("viewer_token", &config.viewer_token)?;
        let operator = resolve("operator_token", &config.operator_token)?;
        let base = config
            .external_url
            .as_ref()
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Ok(WebState {
            api,
            inner: Arc::new(Inner {
                tokens: RoleTokens::new(viewer.as_ref(), operator.as_ref()),
                sessions: Sessions::new(config.session_ttl.0),
                logins: LoginLimit::new(LOGIN_ATTEMPTS_PER_MINUTE, Duration::from_secs(60)),
                external: config.external_url.clone(),
                base,
                started: Instant::now(),
            }),
        })
    }

    fn shared(&self) -> &Arc<super::state::Shared> {
        &self.api.shared
    }

    fn base(&self) -> &str {
        &self.inner.base
    }

    /// Cookies are `Secure` when the console is reached over https.
    fn secure_cookies(&self) -> bool {
        self.inner
            .external
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }

    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .find_map(session::from_cookie_header)?;
        self.inner.sessions.get(id, Instant::now())
    }

    fn viewer_of(&self, session: Session) -> Viewer {
        Viewer {
            role: session.role,
            csrf: session.csrf,
            base: self.inner.base.clone(),
        }
    }

    /// The viewer of a page, or the redirect to the login page.
    #[allow(clippy::result_large_err)]
    fn page_viewer(&self, headers: &HeaderMap) -> Result<Viewer, Response> {
        match self.session(headers) {
            Some(session) => Ok(self.viewer_of(session)),
            None => Err(Redirect::to(&format!("{}/login", self.base())).into_response()),
        }
    }

    /// The viewer of a data endpoint (JSON), or 401.
    #[allow(clippy::result_large_err)]
    fn data_viewer(&self, headers: &HeaderMap) -> Result<Viewer, Response> {
        self.session(headers)
            .map(|s| self.viewer_of(s))
            .ok_or_else(|| {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({ "error": "log in first" })),
                )
                    .into_response()
            })
    }

    /// A POST's session, CSRF token and origin, and the role it needs: the viewer, or the
    /// answer that refuses it (401 without a session, 403 for a bad token or a viewer).
    #[allow(clippy::result_large_err)]
    fn post_viewer(
        &self,
        headers: &HeaderMap,
        form: &Form,
        needs: Role,
    ) -> Result<Viewer, Response> {
        let Some(session) = self.session(headers) else {
            return Err(html::message(
                self.base(),
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "Your session ended or never began: log in again.",
            ));
        };
        let expected = csrf::expected_origin(headers, self.inner.external.as_ref());
        if let Err(failure) = csrf::check(&session, form.get(csrf::FIELD), headers, &expected) {
            return Err(html::message(
                self.base(),
                StatusCode::FORBIDDEN,
                "Refused",
                &failure.to_string(),
            ));
        }
        if needs == Role::Operator && session.role != Role::Operator {
            return Err(html::message(
                self.base(),
                StatusCode::FORBIDDEN,
                "Operators only",
                "Only an operator can start runs, sync people, approve or dismiss plans.",
            ));
        }
        Ok(self.viewer_of(session))
    }

    /// A redirect inside the console (303: the browser follows with a GET).
    fn see_other(&self, path: &str) -> Response {
        Redirect::to(&format!("{}{path}", self.base())).into_response()
    }
}

/// A url-encoded form body.
pub struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &Bytes) -> Form {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

pub fn router(state: WebState) -> Router {
    use pages::*;
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/", get(overview::page))
        .route("/connectors/{name}/sync", post(runs::sync))
        .route("/runs", get(runs::history))
        .route("/runs/{id}", get(runs::run))
        .route("/runs/{id}/progress", get(runs::progress))
        .route("/runs/{id}/report", get(runs::report))
        .route("/compare", get(compare::page))
        .route("/plans", get(plans::page))
        .route("/plans/{id}/approve", post(plans::approve))
        .route("/plans/{id}/dismiss", post(plans::dismiss))
        .route("/people", get(people::page).post(people::search))
        .route("/people/sync", post(people::sync))
        .route("/people/{id}", get(people::result))
        .route("/health", get(health::page))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/console.js", get(assets::js))
        .fallback(not_found)
        .layer(axum::middleware::map_response(html::secure))
        .with_state(state)
}

async fn not_found(axum::extract::State(state): axum::extract::State<WebState>) -> Response {
    html::message(
        state.base(),
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page.",
    )
}

/// Runs a call that reads the state database on the blocking pool.
async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(call).await.ok()
}
