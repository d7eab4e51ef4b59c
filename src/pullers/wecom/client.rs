//! WeCom requests: token in the query, errors inside 200 bodies, retries and token refresh.

use super::config::WecomSourceConfig;
use super::wire;
use crate::config::{PullBudgets, Secret};
use crate::pullers::Platform;
use crate::pullers::http::{self, CallCounter, PullError, RateLimiter, Retrier, TokenCache};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::{debug, instrument, warn};

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
    /// Per endpoint, when its current run of frequency refusals (45009/45033) began and when it
    /// was last refused.
    refused_since: Mutex<HashMap<&'static str, Streak>>,
}

/// A run of frequency refusals of one endpoint.
#[derive(Debug, Clone, Copy)]
struct Streak {
    since: Instant,
    last: Instant,
}

/// The frequency refusals: WeCom answers either code for its minute and its hour limits alike.
fn is_frequency_refusal(code: i64) -> bool {
    matches!(code, 45009 | 45033)
}

/// How long to stay away after an API has refused for `refused_for` on end. A refusal that
/// outlasts the minute block can only be the hour block (150 000 calls an hour per API), which
/// lasts an hour from its start: wait out the rest of that hour (at least one more minute
/// window). Within the first minute it may be the minute block: `None`, the usual backoff.
pub(super) fn hourly_wait(
    refused_for: Duration,
    minute: Duration,
    hour: Duration,
) -> Option<Duration> {
    (refused_for >= minute).then(|| hour.saturating_sub(refused_for).max(minute))
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
            refused_since: Mutex::new(HashMap::new()),
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
        self.limiter
            .acquire_shown(endpoint, PLATFORM, self.calls.progress())
            .await;
        self.calls.record(endpoint);
        let response = request
            .send()
            .await
            .map_err(|e| PullError::transport(PLATFORM, endpoint, e))?;
        let body = crate::pullers::http::success_body(response, PLATFORM, endpoint).await?;
        let head: wire::Head = serde_json::from_slice(&body)
            .map_err(|e| PullError::malformed(PLATFORM, endpoint, &body, &e))?;
        match head.errcode {
            Some(0) => {
                self.refusals().remove(endpoint);
            }
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
                    Disposition::Retry if is_frequency_refusal(code) => {
                        self.frequency_refusal(endpoint, code, message)
                    }
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

    fn refusals(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Streak>> {
        // A poisoned map still holds plain instants.
        self.refused_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A 45009/45033: retried with the usual backoff while it may be the minute block; once the
    /// refusals have lasted longer than a minute, a throttle that waits out the hour.
    fn frequency_refusal(&self, endpoint: &'static str, code: i64, message: String) -> PullError {
        let now = Instant::now();
        let windows = self.config.throttle_windows;
        let since = {
            let mut refusals = self.refusals();
            let streak = refusals.entry(endpoint).or_insert(Streak {
                since: now,
                last: now,
            });
            // A run quiet for several minute blocks (left over from an earlier pull, or from
            // before a throttle's wait) starts afresh; backoff gaps are far shorter.
            if now.duration_since(streak.last) > windows.minute * 5 {
                streak.since = now;
            }
            streak.last = now;
            streak.since
        };
        match hourly_wait(now - since, windows.minute, windows.hour) {
            Some(wait) => {
                warn!(
                    endpoint,
                    code,
                    wait_s = wait.as_secs(),
                    "WeCom has refused this API for longer than its minute block; treating it as the hourly block."
                );
                PullError::Throttled {
                    platform: PLATFORM,
                    endpoint: endpoint.into(),
                    detail: format!(
                        "code {code}, refused for {} s: the API's hourly limit is spent",
                        (now - since).as_secs()
                    ),
                    wait,
                }
            }
            None => PullError::Api {
                platform: PLATFORM,
                endpoint: endpoint.into(),
                code,
                message,
                retryable: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn refusals_within_a_minute_are_not_the_hourly_block() {
        assert_eq!(hourly_wait(Duration::ZERO, MINUTE, HOUR), None);
        assert_eq!(hourly_wait(Duration::from_secs(59), MINUTE, HOUR), None);
    }

    #[test]
    fn refusals_past_a_minute_wait_out_the_rest_of_the_hour() {
        assert_eq!(
            hourly_wait(MINUTE, MINUTE, HOUR),
            Some(Duration::from_secs(3540))
        );
        assert_eq!(
            hourly_wait(Duration::from_secs(600), MINUTE, HOUR),
            Some(Duration::from_secs(3000))
        );
        // Past the hour (the block outlived its documented length): probe again after a minute.
        assert_eq!(
            hourly_wait(Duration::from_secs(4000), MINUTE, HOUR),
            Some(MINUTE)
        );
    }

    #[test]
    fn a_refusal_streak_becomes_the_hourly_throttle_and_a_stale_one_starts_afresh() {
        let mut config = WecomSourceConfig::new(
            "ww1",
            crate::config::SecretRef::Env("UNUSED".into()),
            url::Url::parse("http://127.0.0.1:9").unwrap(),
        );
        config.throttle_windows = crate::pullers::wecom::ThrottleWindows {
            minute: Duration::from_millis(10),
            hour: Duration::from_secs(1),
        };
        let client = WecomClient::new(config, Secret::new("s")).unwrap();
        let refuse = || client.frequency_refusal("/cgi-bin/user/list", 45009, String::new());
        assert!(matches!(
            refuse(),
            PullError::Api {
                retryable: true,
                ..
            }
        ));
        std::thread::sleep(Duration::from_millis(15));
        match refuse() {
            PullError::Throttled { wait, endpoint, .. } => {
                assert_eq!(endpoint, "/cgi-bin/user/list");
                assert!(wait > Duration::from_millis(900) && wait < Duration::from_secs(1));
            }
            other => panic!("expected Throttled, got {other:?}"),
        }
        // Quiet for more than five minute blocks: a new streak.
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(
            refuse(),
            PullError::Api {
                retryable: true,
                ..
            }
        ));
        // Another endpoint has its own streak.
        assert!(matches!(
            client.frequency_refusal("/cgi-bin/department/list", 45033, String::new()),
            PullError::Api {
                retryable: true,
                ..
            }
        ));
    }

    #[test]
    fn only_the_frequency_codes_are_refusals() {
        for code in [45009, 45033] {
            assert!(is_frequency_refusal(code), "{code}");
            assert!(matches!(classify(code), Disposition::Retry), "{code}");
        }
        for code in [-1, 40014, 48002, 60011] {
            assert!(!is_frequency_refusal(code), "{code}");
        }
    }
}
