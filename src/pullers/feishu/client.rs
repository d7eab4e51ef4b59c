//! Feishu requests: the tenant token in the Authorization header, `code` in every body (with or
//! without an HTTP error status), retries honoring `x-ogw-ratelimit-reset`, token refresh, paging.

use super::config::FeishuSourceConfig;
use super::wire;
use crate::config::{PullBudgets, Secret};
use crate::pullers::Platform;
use crate::pullers::http::{
    self, Attempt, CallCounter, PullError, RateLimiter, Retrier, TokenCache,
};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::time::Duration;
use tracing::{debug, instrument};
use url::Url;

const PLATFORM: Platform = Platform::Feishu;
pub(super) const TOKEN_ENDPOINT: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// Feishu mints a new token only in the old one's last 30 minutes; asking earlier returns the
/// same token, so that is when to refresh.
const REFRESH_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Feishu's windows are a second or a minute; a longer reset is not trusted.
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);
/// A listing longer than this many pages (500 000 records at 50 a page) is taken as a server that
/// never stops, even if every page token is new.
const MAX_PAGES: usize = 10_000;

/// The docs list this Content-Type as required on every request, GETs (which have no body)
/// included; `json()` keeps it on the token POST.
const JSON_UTF8: &str = "application/json; charset=utf-8";

pub(super) const RATE_LIMITED: i64 = 99991400;
const TOKEN_INVALID: i64 = 99991663;

/// What to do about a non-zero `code`, per the error table in the Feishu notes.
fn classify(code: i64) -> Disposition {
    match code {
        TOKEN_INVALID => Disposition::RefreshToken,
        RATE_LIMITED => Disposition::Retry,
        // Internal error: "retry, keep X-Request-Id".
        40003 => Disposition::Retry,
        // Invalid app token, missing API scope, IP whitelist, app not usable in the tenant.
        99991664 | 99991672 | 99991401 | 99991673 => Disposition::Credentials,
        _ => Disposition::Fail,
    }
}

enum Disposition {
    RefreshToken,
    Retry,
    Credentials,
    Fail,
}

/// A failed attempt and, for a rate limit, how long Feishu asked to wait before the next one.
struct Failure {
    error: PullError,
    wait: Option<Duration>,
}

impl Attempt for Failure {
    fn error(&self) -> &PullError {
        &self.error
    }

    fn asked_wait(&self) -> Option<Duration> {
        self.wait
    }

    fn into_error(self) -> PullError {
        self.error
    }
}

impl From<PullError> for Failure {
    fn from(error: PullError) -> Self {
        Failure { error, wait: None }
    }
}

#[derive(Serialize)]
struct TokenRequest<'a> {
    app_id: &'a str,
    app_secret: &'a str,
}

pub(super) struct FeishuClient {
    http: reqwest::Client,
    config: FeishuSourceConfig,
    secret: Secret,
    tokens: TokenCache,
    limiter: RateLimiter,
    retrier: Retrier,
    pub(super) calls: CallCounter,
}

/// How long a run may wait to retry: Feishu's windows are a second and a minute.
pub(super) const BUDGETS: PullBudgets = PullBudgets {
    interactive: Duration::from_secs(15 * 60),
    service: Duration::from_secs(30 * 60),
};

impl FeishuClient {
    pub(super) fn new(config: FeishuSourceConfig, secret: Secret) -> Result<Self, PullError> {
        Ok(FeishuClient {
            http: http::client(config.timeout.0)?,
            limiter: RateLimiter::new(config.rate_limits.clone()),
            retrier: Retrier::new(PLATFORM, config.retry.clone(), BUDGETS),
            config,
            secret,
            tokens: TokenCache::default(),
            calls: CallCounter::default(),
        })
    }

    /// Every page of a listing, in order. Stops with an error, never a loop, when a page says
    /// there is more but gives no token, or gives a token already used.
    pub(super) async fn pages<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        id: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, PullError> {
        let paging = |detail: &str| PullError::Paging {
            platform: PLATFORM,
            endpoint: endpoint.to_owned(),
            detail: detail.to_owned(),
        };
        let mut bodies = Vec::new();
        let mut used = HashSet::new();
        let mut token: Option<String> = None;
        while bodies.len() < MAX_PAGES {
            let mut page_query = query.to_vec();
            if let Some(token) = &token {
                page_query.push(("page_token", token));
            }
            let page: wire::Page<T> = self.get(endpoint, id, &page_query).await?;
            let has_more = page.has_more.ok_or_else(|| PullError::Malformed {
                platform: PLATFORM,
                endpoint: endpoint.to_owned(),
                detail: "field `data.has_more` is missing".into(),
            })?;
            bodies.push(page.body);
            if !has_more {
                return Ok(bodies);
            }
            let next = page
                .page_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| paging("`has_more` is true but no `page_token` was given"))?;
            if !used.insert(next.clone()) {
                return Err(paging(
                    "the same `page_token` came back twice; the listing does not advance",
                ));
            }
            token = Some(next);
        }
        Err(paging(&format!(
            "more than {MAX_PAGES} pages; the listing does not end"
        )))
    }

    /// One logical GET returning `data`: retried with backoff on transient errors; a rejected
    /// token is replaced and the call sent once more. `id` fills the `:param` of `endpoint`.
    #[instrument(level = "debug", skip(self, query), fields(platform = "feishu"))]
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        id: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<T, PullError> {
        let attempt = || async {
            let token = self.token().await?;
            match self.send_get(endpoint, id, query, &token).await {
                Err(Failure {
                    error: PullError::Api { code, .. },
                    ..
                }) if matches!(classify(code), Disposition::RefreshToken) => {
                    debug!(
                        endpoint,
                        code, "Feishu rejected the tenant access token; fetching a new one."
                    );
                    self.tokens.invalidate(&token).await;
                    let token = self.token().await?;
                    self.send_get(endpoint, id, query, &token).await
                }
                other => other,
            }
        };
        let body = self.with_retries(endpoint, attempt).await?;
        let envelope: wire::Envelope<T> = serde_json::from_slice(&body)
            .map_err(|e| PullError::malformed(PLATFORM, endpoint, &body, &e))?;
        envelope.data.ok_or_else(|| PullError::Malformed {
            platform: PLATFORM,
            endpoint: endpoint.to_owned(),
            detail: "field `data` is missing".into(),
        })
    }

    async fn send_get(
        &self,
        endpoint: &'static str,
        id: Option<&str>,
        query: &[(&str, &str)],
        token: &str,
    ) -> Result<bytes::Bytes, Failure> {
        // Both id types on every request: the defaults (open ids) differ from the configured
        // ones, and a mismatch silently changes every id in the answer.
        let request = self
            .http
            .get(self.url(endpoint, id)?)
            .header(CONTENT_TYPE, JSON_UTF8)
            .bearer_auth(token)
            .query(&[
                ("user_id_type", self.config.user_id_type.as_str()),
                (
                    "department_id_type",
                    self.config.department_id_type.as_str(),
                ),
            ])
            .query(query);
        self.exchange(endpoint, request).await
    }

    pub(super) async fn token(&self) -> Result<String, PullError> {
        self.tokens
            .get(Duration::ZERO, || async {
                let fetch = || async {
                    let request = self
                        .http
                        .post(self.url(TOKEN_ENDPOINT, None)?)
                        .header(CONTENT_TYPE, JSON_UTF8)
                        .json(&TokenRequest {
                            app_id: &self.config.app_id,
                            app_secret: self.secret.expose(),
                        });
                    let body = self
                        .exchange(TOKEN_ENDPOINT, request)
                        .await
                        .map_err(refused_credentials)?;
                    let token: wire::Token = serde_json::from_slice(&body)
                        .map_err(|e| PullError::malformed(PLATFORM, TOKEN_ENDPOINT, &body, &e))?;
                    let missing = |field: &str| PullError::Malformed {
                        platform: PLATFORM,
                        endpoint: TOKEN_ENDPOINT.to_owned(),
                        detail: format!("field `{field}` is missing"),
                    };
                    let value = token
                        .tenant_access_token
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| missing("tenant_access_token"))?;
                    let expire = token.expire.ok_or_else(|| missing("expire"))?;
                    Ok::<_, Failure>((value, usable_for(http::lifetime_from_secs(expire.into()))))
                };
                self.with_retries(TOKEN_ENDPOINT, fetch).await
            })
            .await
    }

    async fn with_retries<T, F, Fut>(
        &self,
        endpoint: &'static str,
        attempt: F,
    ) -> Result<T, PullError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        // Never sooner than Feishu asked (its reset header).
        self.retrier
            .run(&self.calls, endpoint, |_| None, attempt)
            .await
    }

    /// The URL of `endpoint` under `api_base`, with `id` (percent-encoded) in its `:param`.
    fn url(&self, endpoint: &str, id: Option<&str>) -> Result<Url, PullError> {
        let mut url = self.config.api_base.clone();
        url.path_segments_mut()
            .map_err(|()| PullError::Setup {
                detail: format!("api_base {} cannot take a path", self.config.api_base),
            })?
            .pop_if_empty()
            .extend(endpoint.split('/').filter(|s| !s.is_empty()).map(|s| {
                if s.starts_with(':') {
                    id.unwrap_or_default()
                } else {
                    s
                }
            }));
        Ok(url)
    }

    /// One HTTP request and the envelope check; returns the body of a `code: 0` answer. The token
    /// travels in a header and the secret in the body, so neither is in a URL or an error.
    async fn exchange(
        &self,
        endpoint: &'static str,
        request: RequestBuilder,
    ) -> Result<bytes::Bytes, Failure> {
        let result = self.exchange_once(endpoint, request).await;
        if let Err(failure) = &result {
            self.calls.count_error(&failure.error);
        }
        result
    }

    async fn exchange_once(
        &self,
        endpoint: &'static str,
        request: RequestBuilder,
    ) -> Result<bytes::Bytes, Failure> {
        self.limiter
            .acquire_shown(endpoint, PLATFORM, self.calls.progress())
            .await;
        self.calls.record(endpoint);
        let response = request
            .send()
            .await
            .map_err(|e| PullError::transport(PLATFORM, endpoint, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::pullers::http::read_body(response, PLATFORM, endpoint).await?;
        let by_status = || Failure {
            error: PullError::HttpStatus {
                platform: PLATFORM,
                endpoint: endpoint.to_owned(),
                status: status.as_u16(),
            },
            wait: reset(&headers),
        };
        let head: wire::Head = match serde_json::from_slice(&body) {
            Ok(head) => head,
            // A gateway's HTML page behind an error status: the status says what happened.
            Err(_) if !status.is_success() => return Err(by_status()),
            Err(e) => return Err(PullError::malformed(PLATFORM, endpoint, &body, &e).into()),
        };
        match head.code {
            Some(0) if status.is_success() => Ok(body),
            None if status.is_success() => Err(PullError::Malformed {
                platform: PLATFORM,
                endpoint: endpoint.to_owned(),
                detail: "field `code` is missing".into(),
            }
            .into()),
            Some(0) | None => Err(by_status()),
            Some(code) => Err(api_error(endpoint, status, &headers, code, head.msg)),
        }
    }
}

fn api_error(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    code: i64,
    msg: Option<String>,
) -> Failure {
    let mut message = msg.unwrap_or_default();
    // Feishu support asks for the log id of a failed call.
    if let Some(log_id) = ["x-tt-logid", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
    {
        message.push_str(&format!(" (x-tt-logid {log_id})"));
    }
    let api = |retryable| PullError::Api {
        platform: PLATFORM,
        endpoint: endpoint.to_owned(),
        code,
        message: message.clone(),
        retryable,
    };
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS || code == RATE_LIMITED;
    let error = match classify(code) {
        _ if rate_limited => api(true),
        Disposition::Credentials => PullError::Credentials {
            platform: PLATFORM,
            code,
            message,
        },
        Disposition::Retry => api(true),
        Disposition::RefreshToken => api(false),
        Disposition::Fail => api(status.is_server_error()),
    };
    Failure {
        error,
        wait: rate_limited.then(|| reset(headers)).flatten(),
    }
}

/// The token endpoint refusing the app id or secret is a configuration problem, whatever code it
/// uses; transient failures stay retryable.
fn refused_credentials(failure: Failure) -> Failure {
    match failure.error {
        PullError::Api {
            code,
            message,
            retryable: false,
            ..
        } => PullError::Credentials {
            platform: PLATFORM,
            code,
            message,
        }
        .into(),
        error => Failure { error, ..failure },
    }
}

/// `x-ogw-ratelimit-reset`: seconds until the window resets (whole seconds from Feishu; fractions
/// accepted).
fn reset(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get("x-ogw-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::from_secs_f64(secs.min(MAX_RESET_WAIT.as_secs_f64())))
}

/// How long to use a token handed out with `expire` left before asking again: until its last
/// 30 minutes, when Feishu mints a new one. A token that arrives with less than an hour left (a
/// test server) is used for half of it, so short lifetimes never mean a token call per request.
fn usable_for(expire: Duration) -> Duration {
    if expire > 2 * REFRESH_WINDOW {
        expire - REFRESH_WINDOW
    } else {
        expire / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_in_their_last_half_hour() {
        assert_eq!(
            usable_for(Duration::from_secs(7200)),
            Duration::from_secs(5400)
        );
        assert_eq!(
            usable_for(Duration::from_secs(3600)),
            Duration::from_secs(1800)
        );
        assert_eq!(usable_for(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn reset_header_is_read_and_bounded() {
        let mut headers = HeaderMap::new();
        assert_eq!(reset(&headers), None);
        for (value, expected) in [
            ("2", Some(Duration::from_secs(2))),
            ("0.25", Some(Duration::from_millis(250))),
            ("86400", Some(MAX_RESET_WAIT)),
            ("-1", None),
            ("soon", None),
        ] {
            headers.insert("x-ogw-ratelimit-reset", value.parse().unwrap());
            assert_eq!(reset(&headers), expected, "{value}");
        }
    }

    /// `tests/samples/feishu-99991400-rate-limited.json`, served the way Feishu documents it:
    /// HTTP 429 with `x-ogw-ratelimit-limit: 100` and `x-ogw-ratelimit-reset: <reset>`. The first
    /// `limited` member-list calls get it, later ones the find_by_department sample.
    async fn rate_limited_server(
        reset: &'static str,
        limited: usize,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use axum::http::header::CONTENT_TYPE;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        const LIMITED: &str =
            include_str!("../../../tests/samples/feishu-99991400-rate-limited.json");
        const MEMBERS: &str = include_str!("../../../tests/samples/feishu-find-by-department.json");
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let app = axum::Router::new()
            .route(
                TOKEN_ENDPOINT,
                axum::routing::post(|| async {
                    axum::Json(serde_json::json!({
                        "code": 0, "msg": "ok", "tenant_access_token": "t-sample", "expire": 7200
                    }))
                }),
            )
            .route(
                "/open-apis/contact/v3/users/find_by_department",
                axum::routing::get(move || {
                    let call = counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        // The documented 429 until `limited` calls are spent, then the page.
                        let (status, reset, body) = if call < limited {
                            (axum::http::StatusCode::TOO_MANY_REQUESTS, reset, LIMITED)
                        } else {
                            (axum::http::StatusCode::OK, "0", MEMBERS)
                        };
                        let header = axum::http::HeaderName::from_static;
                        (
                            status,
                            [
                                (CONTENT_TYPE, "application/json"),
                                (header("x-ogw-ratelimit-limit"), "100"),
                                (header("x-ogw-ratelimit-reset"), reset),
                            ],
                            body,
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, calls)
    }

    fn client(addr: std::net::SocketAddr) -> FeishuClient {
        let mut config = FeishuSourceConfig::new(
            "cli_sample",
            crate::config::SecretRef::Env("UNUSED".into()),
            format!("http://{addr}").parse().unwrap(),
        );
        config.retry.min_delay = crate::config::HumanDuration(Duration::from_millis(1));
        config.retry.max_delay = crate::config::HumanDuration(Duration::from_millis(5));
        config.rate_limits = Vec::new();
        FeishuClient::new(config, Secret::new("sample-secret".to_owned())).unwrap()
    }

    const MEMBERS: &str = "/open-apis/contact/v3/users/find_by_department";

    #[tokio::test]
    async fn the_documented_rate_limit_sample_waits_for_its_reset() {
        let (addr, _) = rate_limited_server("52", usize::MAX).await;
        let client = client(addr);
        let url = format!("http://{addr}{MEMBERS}");
        let Err(failure) = client.exchange(MEMBERS, client.http.get(url)).await else {
            panic!("a 429 is not a success");
        };
        assert_eq!(failure.wait, Some(Duration::from_secs(52)));
        assert!(failure.error.is_retryable(), "{}", failure.error);
        assert!(
            failure.error.to_string().contains("99991400"),
            "{}",
            failure.error
        );
    }

    /// The wait is honoured, not just read: with a reset of 1 s and retries set to a few
    /// milliseconds, the second call comes no sooner than a second after the first.
    #[tokio::test]
    async fn a_rate_limited_call_is_sent_again_only_after_the_reset() {
        let (addr, calls) = rate_limited_server("1", 1).await;
        let client = client(addr);
        let started = std::time::Instant::now();
        let page: wire::Page<wire::Items<wire::User>> = client
            .get(MEMBERS, None, &[("department_id", "0")])
            .await
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(page.body.items.len(), 1);
    }
}
