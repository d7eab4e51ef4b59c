//! Bitrix24 requests: every call is a `batch`, authenticated by the webhook URL or an OAuth access
//! token; errors come as `{"error", "error_description"}` under any HTTP status (200 included) and
//! inside batches as `result_error`; transient ones are retried with backoff.

use super::auth::Auth;
use super::wire;
use crate::config::{PullBudgets, RetryConfig};
use crate::model::Checked;
use crate::pullers::Platform;
use crate::pullers::http::{CallCounter, PullError, RateLimiter, Retrier};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{debug, instrument};

pub(super) const PLATFORM: Platform = Platform::Bitrix24;
/// The REST method every data request goes through; requests are named by method, never by URL.
pub(super) const BATCH: &str = "batch";
/// Commands one batch may carry (more is `ERROR_BATCH_LENGTH_EXCEEDED`).
pub(super) const MAX_BATCH: usize = 50;

/// One sub-call of a batch: `cmd[key] = method?start=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Command {
    pub key: String,
    pub method: &'static str,
    pub start: u64,
}

impl Command {
    fn query(&self) -> String {
        format!("{}?start={}", self.method, self.start)
    }

    /// How errors name this command: method, batch key and page.
    pub fn describe(&self) -> String {
        format!(
            "{} (batch command {}, start={})",
            self.method, self.key, self.start
        )
    }
}

/// A list method's answer inside a batch. `result` stays JSON text until the listing parses it
/// into its row type, so no page is built as a `Value` tree first.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub result: Box<RawValue>,
    pub total: Option<u64>,
    pub next: Option<u64>,
}

/// What to do about an `error` code, per the error table in the Bitrix24 notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    /// The OAuth access token is dead: refresh, then send once more.
    RefreshToken,
    Retry,
    Credentials,
    Fail,
}

pub(super) fn classify(code: &str, status: u16) -> Disposition {
    match code {
        "expired_token" | "invalid_token" | "NO_AUTH_FOUND" => Disposition::RefreshToken,
        "QUERY_LIMIT_EXCEEDED"
        | "OPERATION_TIME_LIMIT"
        | "INTERNAL_SERVER_ERROR"
        | "ERROR_UNEXPECTED_ANSWER" => Disposition::Retry,
        "insufficient_scope"
        | "INVALID_CREDENTIALS"
        | "ACCESS_DENIED"
        | "user_access_error"
        | "invalid_grant"
        | "invalid_client"
        | "PAYMENT_REQUIRED"
        | "INVALID_REQUEST" => Disposition::Credentials,
        // The portal was blocked by hand: waiting will not help.
        "OVERLOAD_LIMIT" => Disposition::Fail,
        _ if status >= 500 => Disposition::Retry,
        _ => Disposition::Fail,
    }
}

/// The HTTP status Bitrix24 answers a code with when called directly; batch sub-errors carry no
/// status of their own, so errors report this one.
fn nominal_status(code: &str) -> u16 {
    match code {
        "expired_token" | "invalid_token" | "NO_AUTH_FOUND" => 401,
        "insufficient_scope" | "INVALID_CREDENTIALS" | "ACCESS_DENIED" | "user_access_error" => 403,
        "ERROR_METHOD_NOT_FOUND" => 404,
        "OPERATION_TIME_LIMIT" => 429,
        "INTERNAL_SERVER_ERROR" | "ERROR_UNEXPECTED_ANSWER" => 500,
        "QUERY_LIMIT_EXCEEDED" | "OVERLOAD_LIMIT" => 503,
        _ => 400,
    }
}

/// The error for a Bitrix24 `error` code met at `endpoint`.
pub(super) fn api_error(
    endpoint: &str,
    status: u16,
    code: &str,
    description: Option<&str>,
) -> PullError {
    let message = match description {
        Some(text) if !text.is_empty() => format!("{code}: {text}"),
        _ => code.to_owned(),
    };
    match classify(code, status) {
        // Always 401, whatever status carried it, so the caller recognises a refused token.
        Disposition::RefreshToken => PullError::Api {
            platform: PLATFORM,
            endpoint: endpoint.to_owned(),
            code: 401,
            message,
            retryable: false,
        },
        Disposition::Credentials => PullError::Credentials {
            platform: PLATFORM,
            code: i64::from(status),
            message,
        },
        disposition => PullError::Api {
            platform: PLATFORM,
            endpoint: endpoint.to_owned(),
            code: i64::from(status),
            message,
            retryable: disposition == Disposition::Retry,
        },
    }
}

pub(super) struct Bitrix24Client {
    http: reqwest::Client,
    auth: Auth,
    retrier: Retrier,
    limiter: RateLimiter,
    pub(super) calls: CallCounter,
}

/// How long a run may wait to retry: `OPERATION_TIME_LIMIT` blocks a method until its run time
/// falls under 480 s per 10 minutes, so the daemon can wait out a whole window.
pub(super) const BUDGETS: PullBudgets = PullBudgets {
    interactive: Duration::from_secs(15 * 60),
    service: Duration::from_secs(30 * 60),
};

impl Bitrix24Client {
    pub(super) fn new(
        http: reqwest::Client,
        auth: Auth,
        retry: RetryConfig,
        limiter: RateLimiter,
    ) -> Self {
        Bitrix24Client {
            http,
            auth,
            retrier: Retrier::new(PLATFORM, retry, BUDGETS),
            limiter,
            calls: CallCounter::default(),
        }
    }

    /// Fetches an OAuth access token; a webhook URL has none to fetch.
    pub(super) async fn check_token(&self) -> Result<Checked, PullError> {
        match self.auth.access_token(self).await? {
            Some(_) => Ok(Checked::Verified(String::new())),
            None => Ok(Checked::NotChecked(
                "a webhook URL carries its own secret; the scope read uses it",
            )),
        }
    }

    /// One batch: retried with backoff on transient errors; with OAuth, a dead access token is
    /// replaced and the batch sent once more. Answers are keyed like the commands.
    #[instrument(level = "debug", skip_all, fields(platform = "bitrix24", commands = commands.len()))]
    pub(super) async fn batch(
        &self,
        commands: &[Command],
    ) -> Result<BTreeMap<String, Answer>, PullError> {
        let attempt = || async {
            let token = self.auth.access_token(self).await?;
            match self.send(commands, token.as_deref()).await {
                Err(error) if token_refused(&error) => match token {
                    Some(token) => {
                        debug!("Bitrix24 refused the access token; refreshing it.");
                        self.auth.invalidate(&token).await;
                        let token = self.auth.access_token(self).await?;
                        self.send(commands, token.as_deref())
                            .await
                            .map_err(credentials_if_refused)
                    }
                    // A webhook cannot be refreshed: its code is wrong or expired.
                    None => Err(credentials_if_refused(error)),
                },
                other => other,
            }
        };
        self.with_retries(BATCH, attempt).await
    }

    pub(super) async fn with_retries<T, F, Fut>(
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

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// One HTTP request. The URL carries the webhook code, so neither it nor reqwest's errors
    /// (which embed it unless stripped) are ever logged; the token travels in the body.
    async fn send(
        &self,
        commands: &[Command],
        token: Option<&str>,
    ) -> Result<BTreeMap<String, Answer>, PullError> {
        let result = self.send_once(commands, token).await;
        if let Err(error) = &result {
            self.calls.count_error(error);
        }
        result
    }

    async fn send_once(
        &self,
        commands: &[Command],
        token: Option<&str>,
    ) -> Result<BTreeMap<String, Answer>, PullError> {
        let body = BatchBody {
            halt: 0,
            cmd: Commands(commands),
            auth: token,
        };
        let url = self.auth.method_url(BATCH);
        self.limiter.acquire(BATCH).await;
        self.calls.record(BATCH);
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| PullError::transport(PLATFORM, BATCH, e))?;
        let status = response.status();
        let bytes = crate::pullers::http::read_body(response, PLATFORM, BATCH).await?;
        check_head(BATCH, status, &bytes)?;
        answers(&bytes, commands)
    }
}

/// `{"halt": 0, "cmd": {key: "method?start=N", …}, "auth": token}`, commands in page order (Bitrix24
/// runs them in the order given).
#[derive(Serialize)]
struct BatchBody<'a> {
    halt: u8,
    cmd: Commands<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<&'a str>,
}

struct Commands<'a>(&'a [Command]);

impl Serialize for Commands<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|c| (&c.key, c.query())))
    }
}

/// Whether the portal refused the access token or webhook code (`expired_token`, `NO_AUTH_FOUND`).
fn token_refused(error: &PullError) -> bool {
    matches!(error, PullError::Api { code: 401, .. })
}

/// After a refresh (or where none is possible) a refused token means bad credentials.
fn credentials_if_refused(error: PullError) -> PullError {
    match error {
        PullError::Api {
            code: 401, message, ..
        } => PullError::Credentials {
            platform: PLATFORM,
            code: 401,
            message,
        },
        other => other,
    }
}

/// The checks every answer passes before its payload is read: an `error` field (under any
/// status), then the HTTP status. Token errors come back as `Api` with code 401, unretryable.
pub(super) fn check_head(endpoint: &str, status: StatusCode, body: &[u8]) -> Result<(), PullError> {
    match serde_json::from_slice::<wire::Head>(body) {
        Ok(wire::Head {
            error: Some(code),
            error_description,
        }) => Err(api_error(
            endpoint,
            status.as_u16(),
            &code,
            error_description.as_deref(),
        )),
        _ if !status.is_success() => Err(PullError::HttpStatus {
            platform: PLATFORM,
            endpoint: endpoint.to_owned(),
            status: status.as_u16(),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(PullError::malformed(PLATFORM, endpoint, body, &e)),
    }
}

/// Reads `result.result`, `result_error`, `result_total` and `result_next` for every command.
/// One failed command fails the batch: a partial page set is never returned as complete.
pub(super) fn answers(
    body: &[u8],
    commands: &[Command],
) -> Result<BTreeMap<String, Answer>, PullError> {
    let malformed = |detail: String| PullError::Malformed {
        platform: PLATFORM,
        endpoint: BATCH.to_owned(),
        detail,
    };
    let envelope: wire::BatchEnvelope = serde_json::from_slice(body)
        .map_err(|e| PullError::malformed(PLATFORM, BATCH, body, &e))?;
    let batch = envelope
        .result
        .ok_or_else(|| malformed("field `result` is missing".into()))?;
    let results = batch
        .result
        .ok_or_else(|| malformed("field `result.result` is missing".into()))?;
    let mut results = wire::keyed_raw(results)
        .map_err(|e| malformed(format!("field `result.result` is not a map: {e}")))?;
    let mut failures = Vec::new();
    for command in commands {
        if let Some(error) = batch.result_error.get(&command.key) {
            // Documented as an object; a bare string is taken as the code.
            let error = match error {
                Value::String(code) => wire::SubError {
                    error: Some(code.clone()),
                    error_description: None,
                },
                other => serde_json::from_value(other.clone()).unwrap_or(wire::SubError {
                    error: None,
                    error_description: Some(other.to_string()),
                }),
            };
            let code = error.error.unwrap_or_else(|| "unknown error".to_owned());
            failures.push(api_error(
                &command.describe(),
                nominal_status(&code),
                &code,
                error.error_description.as_deref(),
            ));
        }
    }
    // Retry the batch only when every failure is transient; any other decides the outcome.
    if let Some(fatal) = failures.iter().position(|e| !e.is_retryable()) {
        return Err(failures.swap_remove(fatal));
    }
    if let Some(first) = failures.into_iter().next() {
        return Err(first);
    }
    let mut answers = BTreeMap::new();
    for command in commands {
        let result = results.remove(&command.key).ok_or_else(|| {
            malformed(format!(
                "field `result.result.{}` is missing for {}",
                command.key,
                command.describe()
            ))
        })?;
        let counter = |map: &BTreeMap<String, Value>| map.get(&command.key).and_then(wire::counter);
        answers.insert(
            command.key.clone(),
            Answer {
                result: result.to_owned(),
                total: counter(&batch.result_total),
                next: counter(&batch.result_next),
            },
        );
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands() -> Vec<Command> {
        vec![
            Command {
                key: "u1".into(),
                method: "user.get",
                start: 50,
            },
            Command {
                key: "d1".into(),
                method: "department.get",
                start: 50,
            },
        ]
    }

    #[test]
    fn answers_are_read_per_command() {
        let body = br#"{"result": {"result": {"u1": [{"ID": "1"}], "d1": []},
            "result_error": [], "result_total": {"u1": "51", "d1": 50}, "result_next": []},
            "time": {}}"#;
        let answers = answers(body, &commands()).unwrap();
        assert_eq!(answers["u1"].total, Some(51));
        assert_eq!(answers["u1"].next, None);
        assert_eq!(answers["d1"].result.get(), "[]");
        assert_eq!(answers["u1"].result.get(), r#"[{"ID": "1"}]"#);
    }

    #[test]
    fn a_failed_command_fails_the_batch_naming_it() {
        let body = br#"{"result": {"result": {"d1": []},
            "result_error": {"u1": {"error": "insufficient_scope", "error_description": "no user"}}}}"#;
        let error = answers(body, &commands()).unwrap_err();
        assert!(
            matches!(error, PullError::Credentials { code: 403, .. }),
            "{error}"
        );

        let body = br#"{"result": {"result": {"d1": []},
            "result_error": {"u1": {"error": "OPERATION_TIME_LIMIT", "error_description": "slow"}}}}"#;
        let error = answers(body, &commands()).unwrap_err();
        assert!(error.is_retryable());
        assert!(
            error
                .to_string()
                .contains("user.get (batch command u1, start=50)"),
            "{error}"
        );
    }

    #[test]
    fn missing_results_are_malformed_not_empty() {
        for body in [
            &br#"{"time": {}}"#[..],
            br#"{"result": {"result_error": []}}"#,
            br#"{"result": {"result": {"d1": []}}}"#,
        ] {
            let error = answers(body, &commands()).unwrap_err();
            assert!(matches!(error, PullError::Malformed { .. }), "{error}");
        }
    }

    #[test]
    fn errors_in_any_status_are_classified() {
        let ok = StatusCode::OK;
        let error = check_head("batch", ok, br#"{"error": "QUERY_LIMIT_EXCEEDED"}"#).unwrap_err();
        assert!(error.is_retryable());
        let error = check_head(
            "batch",
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"error": "OVERLOAD_LIMIT", "error_description": "blocked"}"#,
        )
        .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        let error = check_head(
            "batch",
            StatusCode::BAD_GATEWAY,
            b"<html><body>502 Bad Gateway</body></html>",
        )
        .unwrap_err();
        assert!(matches!(error, PullError::HttpStatus { status: 502, .. }));
        assert!(error.is_retryable());
        let error = check_head("batch", ok, b"<html>oops</html>").unwrap_err();
        assert!(error.to_string().contains("HTML"), "{error}");
        assert!(check_head("batch", ok, br#"{"result": []}"#).is_ok());
    }
}
