//! The two new-API (`api.dingtalk.com`) endpoints a contact sync may touch: the token, and the
//! records of people who left. Errors are HTTP statuses with `{code, message, requestid}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::state::Shared;
use super::wire::{self, OpenApiError};
use crate::faults::TokenStatus;
use crate::fixture::Status;

type Result<T, E = OpenApiError> = std::result::Result<T, E>;
type AppState = State<Arc<Shared>>;

pub(super) const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";
const MAX_RESULTS: usize = 50;
const MAX_WINDOW_SECS: i64 = 365 * 86_400;

/// `POST /v1.0/oauth2/accessToken` with `{"appKey", "appSecret"}`. Same token book as `gettoken`:
/// one token value works on both hosts.
pub(super) async fn access_token(State(shared): AppState, body: Bytes) -> Result<Response> {
    let body: Value = serde_json::from_slice(&body).map_err(|_| OpenApiError::INVALID_PARAMETER)?;
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    if field("appKey").is_empty() || field("appSecret").is_empty() {
        return Err(OpenApiError::INVALID_PARAMETER);
    }
    if field("appKey") != shared.config.app_key || field("appSecret") != shared.config.app_secret {
        return Err(OpenApiError::INVALID_CREDENTIAL);
    }
    let issued = shared.tokens.issue(shared.config.token_ttl);
    Ok(Json(wire::OpenApiToken {
        access_token: issued.token,
        expire_in: shared.faults.announced_lifetime(issued.expires_in),
    })
    .into_response())
}

/// `GET /v1.0/contact/empLeaveRecords?startTime&endTime&nextToken&maxResults`: every resigned
/// person of the fixture, all with the configured leave time, in fixture order.
pub(super) async fn leave_records(
    State(shared): AppState,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if token.is_empty() || shared.token_status(token) != TokenStatus::Valid {
        return Err(OpenApiError::INVALID_AUTHENTICATION);
    }
    let get = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let start = get("startTime")
        .and_then(parse_utc)
        .ok_or(OpenApiError::INVALID_PARAMETER)?;
    let end = match get("endTime") {
        Some(text) => parse_utc(text).ok_or(OpenApiError::INVALID_PARAMETER)?,
        None => start + MAX_WINDOW_SECS,
    };
    if end < start || end - start > MAX_WINDOW_SECS {
        return Err(OpenApiError::INVALID_PARAMETER);
    }
    let offset: usize = match get("nextToken") {
        Some(text) => text.parse().map_err(|_| OpenApiError::INVALID_PARAMETER)?,
        None => 0,
    };
    let max: usize = match get("maxResults") {
        Some(text) => text.parse().map_err(|_| OpenApiError::INVALID_PARAMETER)?,
        None => MAX_RESULTS,
    };
    if !(1..=MAX_RESULTS).contains(&max) {
        return Err(OpenApiError::INVALID_PARAMETER);
    }
    let left_at = shared.config.leave_time_unix;
    let directory = shared.directory();
    let leavers: Vec<_> = directory
        .org
        .users
        .iter()
        .filter(|u| u.status == Status::Resigned)
        .filter(|_| (start..end).contains(&left_at))
        .collect();
    let page: Vec<wire::LeaveRecord> = leavers
        .iter()
        .skip(offset)
        .take(max)
        .map(|user| {
            let mobile = user
                .mobile
                .clone()
                .filter(|_| directory.org.sensitive_fields);
            wire::LeaveRecord {
                user_id: user.id.clone(),
                name: user.name.clone(),
                state_code: mobile.as_ref().map(|_| "86"),
                mobile,
                leave_time: format_utc(left_at),
                leave_reason: "leave",
            }
        })
        .collect();
    let next = offset + page.len();
    Ok(Json(wire::LeaveRecords {
        next_token: (next < leavers.len()).then(|| next.to_string()),
        records: page,
    })
    .into_response())
}

/// `YYYY-MM-DDTHH:MM:SSZ` → seconds since the Unix epoch.
fn parse_utc(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' || bytes[19] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn format_utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_round_trips() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2024-03-01T09:30:00Z",
        ] {
            assert_eq!(format_utc(parse_utc(text).unwrap()), text);
        }
        assert_eq!(parse_utc("2024-03-01T09:30:00Z"), Some(1_709_285_400));
        assert_eq!(parse_utc("2024-13-01T09:30:00Z"), None);
        assert_eq!(parse_utc("2024-03-01 09:30:00"), None);
    }
}
