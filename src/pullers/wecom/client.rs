//! WeCom requests: token in the query, errors inside 200 bodies, retries and token refresh.

use super::config::WecomSourceConfig;
use super::wire;
use crate::config::{PullBudgets, Secret};
use crate::pullers::Platform;
use crate::pullers::http::{self, CallCounter, PullError, RateLimiter, Retrier, TokenCache};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tracing::{debug, instrument};

const PLATFORM: Platform = Platform::Wecom;
const TOKEN_ENDPOINT: &str = "/cgi-bin/gettoken";
/// Refresh this long before the announced expiry, so no request carries a token about to lapse.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

pub(super) struct WecomClient {
    http: reqwest::Client,
    config: WecomSourceConfig,
    secret: Secret,
    tokens: TokenCache,
    limiter: RateLimiter,
    retrier: Retrier,
    pub(super) calls: CallCounter,
}

/// How long a run may wait to retry: an interactive run gives up on an hour-long block (saying
/// so at once); the daemon waits out the hour WeCom blocks an API after 150 000 calls.
pub(super) const BUDGETS: PullBudgets = PullBudgets {
    interactive: Duration::from_secs(15 * 60),
    service: Duration::from_secs(75 * 60),
};

/// What to do about a non-zero `errcode`, per the error table in the WeCom notes.
fn classify(code: i64) -> Disposition {
    match code {
        40014 | 42001 => Disposition::RefreshToken,
        -1 | 45009 | 45033 => Disposition::Retry,
        40001 | 40013 | 40091 | 48002 | 48009 | 60020 => Disposition::Credentials,
        _ => Disposition::Fail,
    }
}

enum Disposition {
    RefreshToken,
    Retry,
    Credentials,
    Fail,
}

impl WecomClient {
    pub(super) fn new(config: WecomSourceConfig, secret: Secret) -> Result<Self, PullError> {
        Ok(WecomClient {
            http: http::client(config.timeout.0)?,
            limiter: RateLimiter::new(config.rate_limits.clone()),
            retrier: Retrier::new(PLATFORM, config.retry.clone(), BUDGETS),
            config,
            secret,
            tokens: TokenCache::default(),
            calls: CallCounter::default(),
        })
    }

    /// One logical call: retried with backoff on transient errors; a rejected token is replaced
    /// and the call sent once more.
    #[instrument(level = "debug", skip(self, query), fields(platform = "wecom"))]
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        query: &[(&str, &str)],
    ) -> Result<T, PullError> {
        let attempt = || async {
            let token = self.token().await?;
            match self.send(endpoint, query, Some(&token)).await {
                Err(PullError::Api { code, .. })
                    if matches!(classify(code), Disposition::RefreshToken) =>
                {
                    debug!(
                        endpoint,
                        code, "WeCom rejected the access token; fetching a new one."
                    );
                    self.tokens.invalidate(&token).await;
                    let token = self.token().await?;
                    self.send(endpoint, query, Some(&token)).await
                }
                other => other,
            }
        };
        self.with_retries(endpoint, attempt).await
    }

    pub(super) async fn token(&self) -> Result<String, PullError> {
        self.tokens
            .get(TOKEN_MARGIN, || async {
                let query = [
                    ("corpid", self.config.corp_id.as_str()),
                    ("corpsecret", self.secret.expose()),
                ];
                let fetch = || async {
                    let token: wire::Token = self.send(TOKEN_ENDPOINT, &query, None).await?;
                    Ok::<_, PullError>((
                        token.access_token,
                        http::lifetime_from_secs(token.expires_in.into()),
                    ))
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
        Fut: Future<Output = Result<T, PullError>>,
    {
        self.retrier
            .run(&self.calls, endpoint, |_| None, attempt)
            .await
    }

    /// One HTTP request and the envelope check. The token and the secret travel as query
    /// parameters, so neither the URL nor reqwest's errors (which embed it) are ever logged.
    async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        query: &[(&str, &str)],
        token: Option<&str>,
    ) -> Result<T, PullError> {
        let result = self.send_once(endpoint, query, token).await;
        if let Err(error) = &result {
            self.calls.count_error(error);
        }
        result
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        query: &[(&str, &str)],
        token: Option<&str>,
    ) -> Result<T, PullError> {
        let url = format!(
            "{}{endpoint}",
            self.config.api_base.as_str().trim_end_matches('/')
        );
        let mut request = self.http.get(url).query(query);
        if let Some(token) = token {
            request = request.query(&[("access_token", token)]);
        }
        self.limiter.acquire(endpoint).await;
        self.calls.record(endpoint);
        let response = request
            .send()
            .await
            .map_err(|e| PullError::transport(PLATFORM, endpoint, e))?;
        let body = crate::pullers::http::success_body(response, PLATFORM, endpoint).await?;
        let head: wire::Head = serde_json::from_slice(&body)
            .map_err(|e| PullError::malformed(PLATFORM, endpoint, &body, &e))?;
        match head.errcode {
            Some(0) => {}
            None => {
                return Err(PullError::Malformed {
                    platform: PLATFORM,
                    endpoint: endpoint.into(),
                    detail: "field `errcode` is missing".into(),
                });
            }
            Some(code) => {
                let message = head.errmsg;
                return Err(match classify(code) {
                    Disposition::Credentials => PullError::Credentials {
                        platform: PLATFORM,
                        code,
                        message,
                    },
                    Disposition::Retry => PullError::Api {
                        platform: PLATFORM,
                        endpoint: endpoint.into(),
                        code,
                        message,
                        retryable: true,
                    },
                    Disposition::RefreshToken | Disposition::Fail => PullError::Api {
                        platform: PLATFORM,
                        endpoint: endpoint.into(),
                        code,
                        message,
                        retryable: false,
                    },
                });
            }
        }
        serde_json::from_slice(&body).map_err(|e| PullError::Malformed {
            platform: PLATFORM,
            endpoint: endpoint.into(),
            detail: e.to_string(),
        })
    }
}
