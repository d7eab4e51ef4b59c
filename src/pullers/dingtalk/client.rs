//! DingTalk old-API (`oapi`) requests: token in the query, errors inside 200 bodies (code 88
//! deferring to `sub_code`), retries with backoff and token refresh.

use super::config::DingtalkSourceConfig;
use super::wire;
use crate::config::{PullBudgets, Secret};
use crate::pullers::Platform;
use crate::pullers::http::{
    self, CallCounter, LimitScope, PullError, RateLimiter, Retrier, TokenCache,
};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, instrument};

const PLATFORM: Platform = Platform::Dingtalk;
const TOKEN_ENDPOINT: &str = "/gettoken";
/// Refresh this long before the announced expiry, so no request carries a token about to lapse.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// The documented lifetime, used when `expires_in` is missing.
const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

pub(super) struct DingtalkClient {
    http: reqwest::Client,
    config: DingtalkSourceConfig,
    secret: Secret,
    tokens: TokenCache,
    limiter: RateLimiter,
    /// One turn at a time per endpoint in the limiter (see [`DingtalkClient::pace`]).
    gates: Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<()>>>>,
    /// The shortest wait after a QPS refusal: one window of the configured limits, which the notes
    /// say clears it ("sleep ≥ 1 s").
    qps_pause: Duration,
    retrier: Retrier,
    pub(super) calls: CallCounter,
}

/// How long a run may wait to retry: the anti-abuse ban lasts about 5 minutes (longer when its
/// `wait` says so), which an interactive run waits out with time to spare.
pub(super) const BUDGETS: PullBudgets = PullBudgets {
    interactive: Duration::from_secs(15 * 60),
    service: Duration::from_secs(30 * 60),
};

/// What to do about a non-zero code met at `endpoint`, per the error table in the DingTalk notes
/// and their corrections: `40001` ("access_token 无效") means bad credentials only where the
/// credentials are sent (`/gettoken`); anywhere else the token stopped working.
fn classify(code: i64, endpoint: &str) -> Disposition {
    match code {
        40001 if endpoint == TOKEN_ENDPOINT => Disposition::Credentials,
        40001 | 40014 | 42001 | 33001 => Disposition::RefreshToken,
        -1 | 90001..=90012 | 90018 => Disposition::Retry,
        40089 | 60020 => Disposition::Credentials,
        _ => Disposition::Fail,
    }
}

enum Disposition {
    RefreshToken,
    Retry,
    Credentials,
    Fail,
}

/// The per-app and per-API QPS refusals, and the other "temporarily banned" throttles.
fn is_throttled(error: &PullError) -> bool {
    matches!(error, PullError::Api { code, .. } if matches!(code, 90001..=90012 | 90018))
}

/// How a request is sent.
#[derive(Clone, Copy)]
pub(super) enum Method<'a> {
    Get,
    Post(&'a serde_json::Value),
}

impl DingtalkClient {
    pub(super) fn new(config: DingtalkSourceConfig, secret: Secret) -> Result<Self, PullError> {
        // One window of the per-API limits (the per-address window is 20 s, not what a QPS
        // refusal needs).
        let qps_pause = config
            .rate_limits
            .iter()
            .filter(|limit| limit.scope == LimitScope::Endpoint)
            .map(|limit| limit.per.0)
            .max()
            .unwrap_or(Duration::from_secs(1));
        Ok(DingtalkClient {
            http: http::client(config.timeout.0)?,
            limiter: RateLimiter::new(config.rate_limits.clone()),
            gates: Mutex::new(HashMap::new()),
            retrier: Retrier::new(PLATFORM, config.retry.clone(), BUDGETS),
            config,
            secret,
            tokens: TokenCache::default(),
            qps_pause,
            calls: CallCounter::default(),
        })
    }

    /// One logical call: retried with backoff on transient errors; a rejected token is replaced
    /// and the call sent once more.
    #[instrument(level = "debug", skip(self, method), fields(platform = "dingtalk"))]
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method<'_>,
    ) -> Result<T, PullError> {
        let attempt = || async {
            let token = self.token().await?;
            match self
                .send(endpoint, method, &[("access_token", &token)])
                .await
            {
                Err(PullError::Api { code, .. })
                    if matches!(classify(code, endpoint), Disposition::RefreshToken) =>
                {
                    debug!(
                        endpoint,
                        code, "DingTalk rejected the access token; fetching a new one."
                    );
                    self.tokens.invalidate(&token).await;
                    let token = self.token().await?;
                    self.send(endpoint, method, &[("access_token", &token)])
                        .await
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
                    ("appkey", self.config.app_key.as_str()),
                    ("appsecret", self.secret.expose()),
                ];
                let fetch = || async {
                    let token: wire::Token = self.send(TOKEN_ENDPOINT, Method::Get, &query).await?;
                    if token.access_token.is_empty() {
                        return Err(PullError::Malformed {
                            platform: PLATFORM,
                            endpoint: TOKEN_ENDPOINT.into(),
                            detail: "field `access_token` is empty".into(),
                        });
                    }
                    let lifetime = token
                        .expires_in
                        .map_or(TOKEN_LIFETIME, http::lifetime_from_secs);
                    Ok::<_, PullError>((token.access_token, lifetime))
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
        // A QPS refusal clears only when its window has passed.
        let floor = |error: &PullError| is_throttled(error).then_some(self.qps_pause);
        self.retrier
            .run(&self.calls, endpoint, floor, attempt)
            .await
    }

    /// Waits for the endpoint's next slot. Requests queue for the limiter one at a time: were
    /// several to book slots ahead and sleep, a stall of the process (a busy host) would wake them
    /// together, and DingTalk's fixed 1 s window counts arrivals, not bookings.
    async fn pace(&self, endpoint: &'static str) {
        let gate = self
            .gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint)
            .or_default()
            .clone();
        let _turn = gate.lock().await;
        self.limiter
            .acquire_shown(endpoint, PLATFORM, self.calls.progress())
            .await;
    }

    /// One HTTP request and the envelope check. The token and the secret travel as query
    /// parameters, so neither the URL nor reqwest's errors (which embed it) are ever logged.
    async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method<'_>,
        query: &[(&str, &str)],
    ) -> Result<T, PullError> {
        let result = self.send_once(endpoint, method, query).await;
        if let Err(error) = &result {
            self.calls.count_error(error);
        }
        result
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method<'_>,
        query: &[(&str, &str)],
    ) -> Result<T, PullError> {
        let url = format!(
            "{}{endpoint}",
            self.config.api_base.as_str().trim_end_matches('/')
        );
        let request = match method {
            Method::Get => self.http.get(url),
            Method::Post(body) => self.http.post(url).json(body),
        }
        .query(query);
        self.pace(endpoint).await;
        self.calls.record(endpoint);
        let response = request
            .send()
            .await
            .map_err(|e| PullError::transport(PLATFORM, endpoint, e))?;
        let status = response.status();
        // DingTalk's anti-abuse ban may come with any status: read the body to recognise it.
        let body = http::read_body(response, PLATFORM, endpoint).await?;
        if let Some(wait) = ban_wait(status.as_u16(), &body, self.config.ban_wait.0) {
            let html = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
            return Err(banned(endpoint, wait, html));
        }
        if !status.is_success() {
            return Err(PullError::HttpStatus {
                platform: PLATFORM,
                endpoint: endpoint.to_owned(),
                status: status.as_u16(),
            });
        }
        let head: wire::Head = serde_json::from_slice(&body)
            .map_err(|e| PullError::malformed(PLATFORM, endpoint, &body, &e))?;
        check(endpoint, head)?;
        serde_json::from_slice(&body).map_err(|e| PullError::Malformed {
            platform: PLATFORM,
            endpoint: endpoint.into(),
            detail: e.to_string(),
        })
    }
}

/// The per-IP anti-abuse ban's answer: a JSON body with `punish` and no `errcode`, at any HTTP
/// status, or an HTML page where JSON was due — unless a 5xx says a gateway answered for a failed
/// backend (that is retried as the status). Returns how long to wait before probing again: at
/// least `floor` (the ban is documented as about 5 minutes), longer when the body's `wait`, read
/// as minutes (its unit is undocumented), says more, believed up to a day.
pub(super) fn ban_wait(status: u16, body: &[u8], floor: Duration) -> Option<Duration> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') if status < 500 => Some(floor),
        Some(b'{') => {
            let value: serde_json::Value = serde_json::from_slice(body).ok()?;
            let object = value.as_object()?;
            if object.contains_key("errcode") || !object.contains_key("punish") {
                return None;
            }
            let minutes = match object.get("wait") {
                Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
                Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
                _ => 0,
            };
            let said = Duration::from_secs(minutes.saturating_mul(60).min(MAX_BAN_WAIT_SECS));
            Some(floor.max(said))
        }
        _ => None,
    }
}

/// The longest wait a ban's `wait` field is believed for.
const MAX_BAN_WAIT_SECS: u64 = 24 * 3600;

/// The ban as an error; `html` when it came as an HTML page (said, as a proxy's page looks alike).
fn banned(endpoint: &'static str, wait: Duration, html: bool) -> PullError {
    let form = if html {
        "an HTML page instead of JSON, taken for "
    } else {
        ""
    };
    PullError::Throttled {
        platform: PLATFORM,
        endpoint: endpoint.into(),
        detail: format!(
            "{form}an anti-abuse ban: this address exceeded DingTalk's 10 000 calls per 20 s"
        ),
        wait,
    }
}

/// Turns a non-zero `errcode` into an error, reading code 88's `sub_code` as the real code.
fn check(endpoint: &'static str, head: wire::Head) -> Result<(), PullError> {
    let code = match head.errcode {
        Some(0) => return Ok(()),
        Some(code) => code,
        None => {
            return Err(PullError::Malformed {
                platform: PLATFORM,
                endpoint: endpoint.into(),
                detail: "field `errcode` is missing".into(),
            });
        }
    };
    let errmsg = head.errmsg.unwrap_or_default();
    let (code, mut message) = match (code, head.sub_code) {
        (88, Some(sub)) => match sub.trim().parse::<i64>() {
            Ok(sub_code) => (
                sub_code,
                head.sub_msg.filter(|m| !m.is_empty()).unwrap_or(errmsg),
            ),
            Err(_) => (88, format!("sub_code {sub}: {errmsg}")),
        },
        (code, _) => (code, errmsg),
    };
    if code == 60011 {
        message.push_str(" (grant the app this API's permission in the developer console)");
    }
    Err(match classify(code, endpoint) {
        Disposition::Credentials => PullError::Credentials {
            platform: PLATFORM,
            code,
            message,
        },
        disposition => PullError::Api {
            platform: PLATFORM,
            endpoint: endpoint.into(),
            code,
            message,
            retryable: matches!(disposition, Disposition::Retry),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(json: &str) -> wire::Head {
        serde_json::from_str(json).unwrap()
    }

    fn checked(json: &str) -> Result<(), PullError> {
        check("/topapi/v2/user/list", head(json))
    }

    #[test]
    fn code_88_defers_to_its_sub_code() {
        let error = checked(r#"{"errcode":88,"sub_code":"90018","sub_msg":"qps","errmsg":"x"}"#)
            .unwrap_err();
        assert!(
            matches!(&error, PullError::Api { code: 90018, retryable: true, message, .. } if message == "qps"),
            "{error:?}"
        );
        let error =
            checked(r#"{"errcode":"88","sub_code":60011,"sub_msg":"没有调用该接口的权限"}"#)
                .unwrap_err();
        assert!(
            matches!(
                &error,
                PullError::Api {
                    code: 60011,
                    retryable: false,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("developer console"), "{error}");
        let error =
            checked(r#"{"errcode":88,"sub_code":"isv.unknown","errmsg":"odd"}"#).unwrap_err();
        assert!(
            matches!(&error, PullError::Api { code: 88, retryable: false, message, .. } if message.contains("isv.unknown")),
            "{error:?}"
        );
    }

    #[test]
    fn codes_map_to_the_notes_actions() {
        assert!(checked(r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        for (code, retryable) in [(-1, true), (90002, true), (90005, true), (90020, false)] {
            let error = checked(&format!(r#"{{"errcode":{code}}}"#)).unwrap_err();
            assert_eq!(error.is_retryable(), retryable, "{code}: {error:?}");
        }
        for code in [40001, 40014, 42001, 33001] {
            assert!(matches!(
                checked(&format!(r#"{{"errcode":{code}}}"#)),
                Err(PullError::Api {
                    retryable: false,
                    ..
                })
            ));
            assert!(matches!(
                classify(code, "/topapi/v2/user/list"),
                Disposition::RefreshToken
            ));
        }
        for code in [40089, 60020] {
            assert!(matches!(
                checked(&format!(r#"{{"errcode":{code},"errmsg":"no"}}"#)),
                Err(PullError::Credentials { .. })
            ));
        }
        // 40001 is bad credentials only where the credentials are sent.
        for code in [40001, 40089] {
            assert!(matches!(
                check(TOKEN_ENDPOINT, head(&format!(r#"{{"errcode":{code}}}"#))),
                Err(PullError::Credentials { .. })
            ));
        }
    }

    #[test]
    fn answers_without_errcode_are_malformed() {
        let error = checked(r#"{"result":{}}"#).unwrap_err();
        assert!(
            error.to_string().contains("`errcode` is missing"),
            "{error}"
        );
    }

    #[test]
    fn the_anti_abuse_ban_is_a_long_throttle_at_any_status() {
        let floor = Duration::from_secs(300);
        let json = br#"{"status":1111,"wait":5,"punish":"deny"}"#;
        for status in [200, 403, 429, 503] {
            assert_eq!(ban_wait(status, json, floor), Some(floor), "{status}");
        }
        let html = "  <!DOCTYPE html><html><body>访问被拒绝</body></html>".as_bytes();
        assert_eq!(ban_wait(200, html, floor), Some(floor));
        assert_eq!(ban_wait(403, html, floor), Some(floor));
        assert_eq!(ban_wait(502, html, floor), None, "a gateway's error page");
        // `wait` read as minutes when it says more than the floor; garbage never shortens it.
        let long = br#"{"status":1111,"wait":"12","punish":"deny"}"#;
        assert_eq!(ban_wait(200, long, floor), Some(Duration::from_secs(720)));
        for odd in [
            &br#"{"wait":-3,"punish":"deny"}"#[..],
            br#"{"wait":1e300,"punish":1}"#,
            br#"{"wait":[1],"punish":null}"#,
        ] {
            assert_eq!(ban_wait(200, odd, floor), Some(floor));
        }
        let huge = br#"{"wait":18446744073709551615,"punish":"deny"}"#;
        assert_eq!(
            ban_wait(200, huge, floor),
            Some(Duration::from_secs(MAX_BAN_WAIT_SECS))
        );
        for not_a_ban in [
            &br#"{"errcode":0,"punish":"deny"}"#[..],
            br#"{"errcode":90018}"#,
            b"",
            b"null",
            b"[1]",
        ] {
            assert_eq!(ban_wait(200, not_a_ban, floor), None);
        }
        let error = banned("/topapi/v2/user/list", floor, true);
        assert!(error.to_string().contains("HTML page"), "{error}");
        assert!(error.is_retryable());
        assert_eq!(error.min_wait(), Some(floor));
    }

    #[test]
    fn throttling_is_recognised_after_normalisation() {
        let error = checked(r#"{"errcode":88,"sub_code":"90018"}"#).unwrap_err();
        assert!(is_throttled(&error));
        assert!(!is_throttled(&checked(r#"{"errcode":-1}"#).unwrap_err()));
    }

    /// The real 90002 body (tests/samples/): a retryable throttle the retry waits a window for.
    #[test]
    fn sample_90002_is_a_retryable_throttle() {
        let body = include_str!("../../../tests/samples/dingtalk-90002-throttled.json");
        assert_eq!(
            ban_wait(200, body.as_bytes(), Duration::from_secs(300)),
            None
        );
        let error = checked(body).unwrap_err();
        assert!(
            matches!(
                &error,
                PullError::Api {
                    code: 90002,
                    retryable: true,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(is_throttled(&error));
    }

    /// The real 50004 body (tests/samples/): the code the puller reads as "out of scope" (a
    /// department met on the walk is left out; a granted one fails the pull).
    #[test]
    fn sample_50004_is_the_out_of_scope_code() {
        let body = include_str!("../../../tests/samples/dingtalk-50004-out-of-scope.json");
        let error = check("/topapi/v2/department/listsub", head(body)).unwrap_err();
        assert!(
            matches!(
                &error,
                PullError::Api {
                    code: 50004,
                    retryable: false,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(super::super::department_unreadable(&error, false));
        assert!(!super::super::department_unreadable(&error, true));
    }
}
