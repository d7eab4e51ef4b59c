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

/// One sub-call of a batch: `cmd[key] = method?sort=ID&order=ASC&FILTER…&start=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Command {
    pub key: String,
    pub method: &'static str,
    /// More query parameters (`FILTER[…]=…&select[]=…`), or empty.
    pub filter: std::borrow::Cow<'static, str>,
    pub start: u64,
}

impl Command {
    /// Every list is read in `ID` order. Bitrix24 builds an `ORDER BY` only when both `sort` and
    /// `order` are given; without them pages come in no defined order and offset paging can
    /// repeat some rows and skip others. The platform's other pattern for big lists (`>ID` =
    /// last id seen, `start=-1`) saves the portal a count per page, but each page then waits for
    /// the one before, so pages could no longer be packed 50 to a batch: a 10 000-person pull
    /// would take over 200 requests (100 s at 2 a second) instead of 6. Sorted offset pages keep
    /// the batches, and `total` is what the paging checks hold the listing to.
    fn query(&self) -> String {
        let filter = if self.filter.is_empty() { "" } else { "&" };
        format!(
            "{}?sort=ID&order=ASC{filter}{}&start={}",
            self.method, self.filter, self.start
        )
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
    /// The portal asked for a pause: `OPERATION_TIME_LIMIT` (one method) or `OVERLOAD_LIMIT`
    /// (the portal's REST API).
    Throttle,
    Credentials,
    Fail,
}

/// The code decides, whatever HTTP status carried it: portals answer `insufficient_scope`,
/// `INVALID_CREDENTIALS`, `ACCESS_DENIED` and `OVERLOAD_LIMIT` with 401 (the documentation's
/// table says 403 and 503), and batch sub-errors carry no status at all.
pub(super) fn classify(code: &str, status: u16) -> Disposition {
    match code {
        "expired_token" | "invalid_token" | "NO_AUTH_FOUND" => Disposition::RefreshToken,
        "QUERY_LIMIT_EXCEEDED" | "INTERNAL_SERVER_ERROR" | "ERROR_UNEXPECTED_ANSWER" => {
            Disposition::Retry
        }
        "OPERATION_TIME_LIMIT" | "OVERLOAD_LIMIT" => Disposition::Throttle,
        "insufficient_scope"
        | "INVALID_CREDENTIALS"
        | "ACCESS_DENIED"
        | "user_access_error"
        | "invalid_grant"
        | "invalid_client"
        | "PAYMENT_REQUIRED"
        | "INVALID_REQUEST" => Disposition::Credentials,
        _ if status >= 500 => Disposition::Retry,
        _ => Disposition::Fail,
    }
}

/// What an operator should do about a refused credential, by code.
fn credentials_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "insufficient_scope" => {
            "the webhook or app lacks a scope: grant `user` (or `user_basic`/`user_brief`) and \
             `department`"
        }
        "INVALID_CREDENTIALS" => {
            "the user the webhook or app acts as may not read users and departments, or the \
             webhook no longer exists"
        }
        "ACCESS_DENIED" => "the portal's plan has no REST API (commercial plans only)",
        "user_access_error" => "the app is limited to some users; allow the user it acts as",
        _ => return None,
    })
}

/// How long a blocked method waits when the answer does not say (no `time` block): run time
/// is counted in one-minute baskets, so a basket leaves the count at most a minute after the
/// one before it; probing once a minute finds the method free again.
pub(super) const OPERATION_TIME_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The longest `OPERATION_TIME_LIMIT` wait believed: the count covers 10 minutes.
const OPERATION_TIME_LIMIT_MAX_WAIT: Duration = Duration::from_secs(600);
/// How long to wait on `OVERLOAD_LIMIT`: the portal's REST API is blocked and the answer says
/// nothing of when it ends, so the pull probes every 5 minutes until its time budget is spent.
pub(super) const OVERLOAD_LIMIT_WAIT: Duration = Duration::from_secs(300);

/// The wait an `OPERATION_TIME_LIMIT` answer asks for: until its `time.operating_reset_at` (when
/// the oldest basket leaves the count), measured from the same answer's `time.finish` (or
/// `start`), so the two clocks need not agree; [`OPERATION_TIME_LIMIT_WAIT`] without them.
pub(super) fn operation_time_wait(time: Option<&Value>) -> Duration {
    let number = |key: &str| -> Option<f64> {
        let value = time?.get(key)?;
        let n = match value {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        n.is_finite().then_some(n)
    };
    let now = number("finish").or_else(|| number("start"));
    match (number("operating_reset_at"), now) {
        (Some(reset), Some(now)) => Duration::from_secs_f64(
            (reset - now).clamp(1.0, OPERATION_TIME_LIMIT_MAX_WAIT.as_secs_f64()),
        ),
        _ => OPERATION_TIME_LIMIT_WAIT,
    }
}

/// The HTTP status Bitrix24 answers a code with when called directly; batch sub-errors carry no
/// status of their own, so errors report this one.
fn nominal_status(code: &str) -> u16 {
    match code {
        "expired_token"
        | "invalid_token"
        | "NO_AUTH_FOUND"
        | "insufficient_scope"
        | "INVALID_CREDENTIALS"
        | "ACCESS_DENIED"
        | "OVERLOAD_LIMIT" => 401,
        "user_access_error" => 403,
        "ERROR_METHOD_NOT_FOUND" => 404,
        "OPERATION_TIME_LIMIT" => 429,
        "INTERNAL_SERVER_ERROR" | "ERROR_UNEXPECTED_ANSWER" => 500,
        "QUERY_LIMIT_EXCEEDED" => 503,
        _ => 400,
    }
}

/// The error for a Bitrix24 `error` code met at `endpoint`; `time` is the answer's `time` block,
/// when it has one.
pub(super) fn api_error(
    endpoint: &str,
    status: u16,
    code: &str,
    description: Option<&str>,
    time: Option<&Value>,
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
            message: match credentials_hint(code) {
                Some(hint) => format!("{message} ({hint})"),
                None => message,
            },
        },
        Disposition::Throttle => {
            let (detail, wait) = if code == "OVERLOAD_LIMIT" {
                (
                    format!("{message}; the portal's REST API is blocked"),
                    OVERLOAD_LIMIT_WAIT,
                )
            } else {
                (
                    format!("{message}; the method ran over 480 s in the last 10 minutes"),
                    operation_time_wait(time),
                )
            };
            PullError::Throttled {
                platform: PLATFORM,
                endpoint: endpoint.to_owned(),
                detail,
                wait,
            }
        }
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
        self.limiter
            .acquire_shown(BATCH, PLATFORM, self.calls.progress())
            .await;
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
            time,
        }) => Err(api_error(
            endpoint,
            status.as_u16(),
            &code,
            error_description.as_deref(),
            time.as_ref(),
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
                None,
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
                filter: "".into(),
                start: 50,
            },
            Command {
                key: "d1".into(),
                method: "department.get",
                filter: "".into(),
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
            matches!(error, PullError::Credentials { code: 401, .. }),
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
        assert_eq!(error.min_wait(), Some(OVERLOAD_LIMIT_WAIT), "{error}");
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

    /// Portals answer these with 401; the body's code decides, whatever the status.
    #[test]
    fn refusals_and_throttles_in_401_bodies_are_told_apart_by_code() {
        let unauthorized = StatusCode::UNAUTHORIZED;
        for (code, hint) in [
            ("insufficient_scope", "`department`"),
            ("INVALID_CREDENTIALS", "may not read users"),
            ("ACCESS_DENIED", "commercial plans"),
        ] {
            for status in [unauthorized, StatusCode::FORBIDDEN, StatusCode::OK] {
                let body = format!(r#"{{"error": "{code}", "error_description": "refused"}}"#);
                let error = check_head("batch", status, body.as_bytes()).unwrap_err();
                assert!(
                    matches!(error, PullError::Credentials { .. }),
                    "{code} at {status}: {error}"
                );
                let text = error.to_string();
                assert!(text.contains(code) && text.contains(hint), "{text}");
            }
        }
        for status in [unauthorized, StatusCode::SERVICE_UNAVAILABLE] {
            let error = check_head(
                "batch",
                status,
                br#"{"error": "OVERLOAD_LIMIT", "error_description": "REST API is blocked due to overload"}"#,
            )
            .unwrap_err();
            assert!(
                matches!(error, PullError::Throttled { wait, .. } if wait == OVERLOAD_LIMIT_WAIT),
                "{error}"
            );
            assert!(error.is_retryable());
        }
        // A dead webhook code stays a token refusal (refreshed with OAuth, else credentials).
        let error =
            check_head("batch", unauthorized, br#"{"error": "NO_AUTH_FOUND"}"#).unwrap_err();
        assert!(token_refused(&error), "{error}");
    }

    #[test]
    fn operation_time_limit_waits_for_the_oldest_basket() {
        let body = br#"{"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked",
            "time": {"start": 1778747192.91, "finish": 1778747193.53,
                     "operating": 481.2, "operating_reset_at": 1778747237}}"#;
        let error = check_head("batch", StatusCode::TOO_MANY_REQUESTS, body).unwrap_err();
        let PullError::Throttled { wait, detail, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(wait.as_secs(), 43, "reset_at − finish, rounded down");
        assert!(detail.contains("480 s"), "{detail}");
        // No `time` block (a batch sub-error): the documented default.
        let body = br#"{"result": {"result": {"d1": []},
            "result_error": {"u1": {"error": "OPERATION_TIME_LIMIT"}}}}"#;
        let error = answers(body, &commands()).unwrap_err();
        assert_eq!(error.min_wait(), Some(OPERATION_TIME_LIMIT_WAIT), "{error}");
        // Odd or hostile values stay within one 10-minute window and never go below a second.
        let wait = |time: Value| operation_time_wait(Some(&time));
        assert_eq!(
            wait(serde_json::json!({"finish": 100.0, "operating_reset_at": 1e12})),
            OPERATION_TIME_LIMIT_MAX_WAIT
        );
        assert_eq!(
            wait(serde_json::json!({"finish": 100.0, "operating_reset_at": 50})),
            Duration::from_secs(1)
        );
        assert_eq!(
            wait(serde_json::json!({"start": "100", "operating_reset_at": "130"})),
            Duration::from_secs(30)
        );
        assert_eq!(
            wait(serde_json::json!({"operating_reset_at": "x"})),
            OPERATION_TIME_LIMIT_WAIT
        );
    }

    #[test]
    fn commands_ask_for_id_order() {
        let command = Command {
            key: "i50".into(),
            method: "user.search",
            filter: "FILTER[!CONFIRM_CODE]=0".into(),
            start: 50,
        };
        assert_eq!(
            command.query(),
            "user.search?sort=ID&order=ASC&FILTER[!CONFIRM_CODE]=0&start=50"
        );
        assert_eq!(commands()[0].query(), "user.get?sort=ID&order=ASC&start=50");
    }
}
