//! Bitrix24's JSON shapes and error codes, as `shared/upstream-apis/bitrix24.md` documents them.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A Bitrix24 failure: an HTTP status and `{"error": CODE, "error_description": text}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: &'static str,
}

impl ApiError {
    const fn new(status: u16, code: &'static str, description: &'static str) -> Self {
        let status = match StatusCode::from_u16(status) {
            Ok(status) => status,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            code,
            description,
        }
    }

    pub const EXPIRED_TOKEN: Self = Self::new(
        401,
        "expired_token",
        "The access token provided has expired.",
    );
    pub const NO_AUTH_FOUND: Self = Self::new(401, "NO_AUTH_FOUND", "Wrong authorization data");
    pub const INSUFFICIENT_SCOPE: Self = Self::new(
        401,
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    );
    pub const INVALID_CREDENTIALS: Self =
        Self::new(401, "INVALID_CREDENTIALS", "Invalid request credentials");
    pub const ACCESS_DENIED: Self = Self::new(
        401,
        "ACCESS_DENIED",
        "REST API is available only on commercial plans",
    );
    pub const OVERLOAD_LIMIT: Self =
        Self::new(401, "OVERLOAD_LIMIT", "REST API is blocked due to overload");
    pub const METHOD_NOT_FOUND: Self =
        Self::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
    pub const OPERATION_TIME_LIMIT: Self = Self::new(
        429,
        "OPERATION_TIME_LIMIT",
        "Method is blocked due to operation time limit.",
    );
    pub const QUERY_LIMIT_EXCEEDED: Self =
        Self::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
    pub const BATCH_LENGTH_EXCEEDED: Self = Self::new(
        400,
        "ERROR_BATCH_LENGTH_EXCEEDED",
        "Max batch length exceeded",
    );
    pub const BATCH_METHOD_NOT_ALLOWED: Self = Self::new(
        400,
        "ERROR_BATCH_METHOD_NOT_ALLOWED",
        "Method is not allowed for batch usage",
    );
    pub const INVALID_REQUEST: Self = Self::new(
        400,
        "INVALID_REQUEST",
        "The request body is neither JSON nor form data",
    );
    // The OAuth server's answers.
    pub const INVALID_GRANT: Self = Self::new(400, "invalid_grant", "Invalid grant");
    pub const INVALID_CLIENT: Self = Self::new(401, "invalid_client", "Invalid client");
    pub const UNSUPPORTED_GRANT: Self =
        Self::new(400, "unsupported_grant_type", "Unsupported grant type");

    /// The body as it appears on its own or inside a batch's `result_error`.
    pub fn body(&self) -> Value {
        json!({ "error": self.code, "error_description": self.description })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// A method's answer: `result` (JSON text), and for lists `total` and (when more rows follow)
/// `next`.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub result: Box<RawValue>,
    pub total: Option<u64>,
    pub next: Option<u64>,
}

#[derive(Serialize)]
struct AnswerBody<'a> {
    result: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<u64>,
    time: Value,
}

impl Answer {
    pub fn into_response(self) -> Response {
        Json(AnswerBody {
            result: &self.result,
            total: self.total,
            next: self.next,
            time: time(),
        })
        .into_response()
    }
}

/// A list of rows already rendered as JSON: `[row,row,…]`.
pub(super) fn raw_list<'a>(rows: impl IntoIterator<Item = &'a RawValue>) -> Box<RawValue> {
    let mut text = String::from("[");
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(row.get());
    }
    text.push(']');
    RawValue::from_string(text).expect("rows joined by commas in brackets are JSON")
}

/// PHP encodes an empty associative array as `[]`, and Bitrix24's batch answers show it.
pub(super) fn php_map(map: Map<String, Value>) -> Value {
    if map.is_empty() {
        Value::Array(Vec::new())
    } else {
        Value::Object(map)
    }
}

/// [`php_map`] for answers kept as JSON text.
pub(super) fn raw_php_map(map: BTreeMap<String, Box<RawValue>>) -> Box<RawValue> {
    if map.is_empty() {
        raw_list([])
    } else {
        to_raw_value(&map).expect("a map of JSON texts serializes")
    }
}

/// `OPERATION_TIME_LIMIT` with a `time` block whose oldest basket leaves the count
/// `reset_in_secs` after the answer (the limit: 480 s of run time per method in 10 minutes).
pub(super) fn operation_time_limit(reset_in_secs: u64) -> Response {
    let error = ApiError::OPERATION_TIME_LIMIT;
    let mut body = error.body();
    let mut time = time();
    let finish = time["finish"].as_f64().unwrap_or_default();
    time["operating"] = json!(480.5);
    time["operating_reset_at"] = json!(finish.ceil() as i64 + reset_in_secs as i64);
    body["time"] = time;
    (error.status, Json(body)).into_response()
}

/// The `time` block every answer carries. Nothing is metered, so `operating` stays 0.
pub(super) fn time() -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let date = iso_utc(now as i64);
    json!({
        "start": now, "finish": now, "duration": 0.0, "processing": 0.0,
        "date_start": date, "date_finish": date, "operating": 0,
        "operating_reset_at": now as i64 + 600,
    })
}

/// `2024-05-29T10:00:00+00:00` for a Unix time (civil-from-days, proleptic Gregorian).
fn iso_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_utc(1_717_000_000), "2024-05-29T16:26:40+00:00");
    }

    #[test]
    fn empty_maps_are_php_lists() {
        assert_eq!(php_map(Map::new()), json!([]));
        assert_eq!(raw_php_map(BTreeMap::new()).get(), "[]");
        let rows = [raw_list([]), to_raw_value(&json!({"ID": "1"})).unwrap()];
        let listed = raw_list(rows.iter().map(|r| &**r));
        assert_eq!(listed.get(), r#"[[],{"ID":"1"}]"#);
    }
}
