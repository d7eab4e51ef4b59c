//! Feishu's JSON shapes and error codes, as `shared/upstream-apis/feishu.md` documents them.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A Feishu failure: an HTTP error status and a JSON body with a non-zero `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    msg: &'static str,
}

impl ApiError {
    const fn new(status: StatusCode, code: i64, msg: &'static str) -> Self {
        ApiError { status, code, msg }
    }

    /// The same error answered with another HTTP status (Feishu is not consistent about them).
    pub const fn with_status(self, status: StatusCode) -> Self {
        ApiError { status, ..self }
    }

    // Token endpoint. The notes list no codes for it; these are the ones Feishu is known to use.
    pub const TOKEN_BAD_REQUEST: Self = Self::new(StatusCode::BAD_REQUEST, 10003, "invalid param");
    pub const APP_SECRET_INVALID: Self =
        Self::new(StatusCode::BAD_REQUEST, 10014, "app secret invalid");

    pub const MISSING_TOKEN: Self = Self::new(
        StatusCode::BAD_REQUEST,
        99991661,
        "Missing access token for authorization. Please make a request with token attached.",
    );
    pub const BAD_TOKEN_FORMAT: Self = Self::new(
        StatusCode::BAD_REQUEST,
        99991671,
        "Invalid access token for authorization. The token must start with t- or u-.",
    );
    pub const INVALID_TOKEN: Self = Self::new(
        StatusCode::UNAUTHORIZED,
        99991663,
        "Invalid access token for authorization. Please make a request with token attached.",
    );
    pub const RATE_LIMITED: Self = Self::new(
        StatusCode::TOO_MANY_REQUESTS,
        99991400,
        "request trigger frequency limit",
    );
    pub const DEPARTMENT_OUT_OF_SCOPE: Self =
        Self::new(StatusCode::FORBIDDEN, 40004, "no dept authority error");
    pub const USER_OUT_OF_SCOPE: Self =
        Self::new(StatusCode::BAD_REQUEST, 41050, "no user authority error");
    pub const INVALID_USER_ID: Self = Self::new(StatusCode::BAD_REQUEST, 41012, "user id invalid");
    pub const BAD_PAGE_SIZE: Self =
        Self::new(StatusCode::BAD_REQUEST, 40011, "page size is invalid");
    pub const BAD_PAGE_TOKEN: Self =
        Self::new(StatusCode::BAD_REQUEST, 40012, "page token is invalid");
    pub const TOO_LARGE_TO_RECURSE: Self = Self::new(
        StatusCode::BAD_REQUEST,
        43010,
        "department tree too large for fetch_child, list it level by level",
    );
    pub const INVALID_PARAMETER: Self =
        Self::new(StatusCode::BAD_REQUEST, 99992402, "field validation failed");
}

#[derive(Serialize)]
struct ErrorBody {
    code: i64,
    msg: &'static str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                code: self.code,
                msg: self.msg,
            }),
        )
            .into_response()
    }
}

/// 429 + 99991400 with the headers Feishu's gateway adds; `reset` is already formatted.
pub(super) fn rate_limited(limit: u32, reset: &str) -> Response {
    let mut response = ApiError::RATE_LIMITED.into_response();
    let headers = response.headers_mut();
    headers.insert("x-ogw-ratelimit-limit", HeaderValue::from(limit));
    if let Ok(value) = HeaderValue::from_str(reset) {
        headers.insert("x-ogw-ratelimit-reset", value);
    }
    response
}

/// Seconds as Feishu writes them (whole, rounded up); with a speed-up, fractions to the millisecond.
pub(super) fn reset_seconds(wait: Duration, speedup: f64) -> String {
    if speedup == 1.0 {
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).to_string()
    } else {
        format!("{:.3}", (wait.as_secs_f64() * 1000.0).ceil() / 1000.0)
    }
}

#[derive(Serialize)]
struct Ok<T> {
    code: i64,
    msg: &'static str,
    data: T,
}

/// A success envelope: `{"code": 0, "msg": "success", "data": ...}`.
pub(super) fn ok<T: Serialize>(data: T) -> Response {
    Json(Ok {
        code: 0,
        msg: "success",
        data,
    })
    .into_response()
}

/// The token endpoint answers at the top level, without `data`.
#[derive(Serialize)]
pub(super) struct Token {
    pub code: i64,
    pub msg: &'static str,
    pub tenant_access_token: String,
    /// Remaining seconds.
    pub expire: u64,
}

/// A page of a listing: `page_token` only while `has_more`; `items` left out when empty.
#[derive(Serialize)]
pub(super) struct Page<T> {
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<T>,
}

#[derive(Serialize)]
pub(super) struct Scopes {
    pub department_ids: Vec<String>,
    pub user_ids: Vec<String>,
    pub group_ids: Vec<String>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

#[derive(Serialize)]
pub(super) struct DepartmentGet {
    pub department: Department,
}

#[derive(Serialize)]
pub(super) struct UserGet {
    pub user: User,
}

#[derive(Serialize)]
pub(super) struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Serialize)]
pub(super) struct Department {
    pub name: String,
    pub department_id: String,
    pub open_department_id: String,
    /// In the requested type; `"0"` under the root, absent for the root itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_department_id: Option<String>,
    /// The department head (not a direct-manager link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_user_id: Option<String>,
    pub leaders: Vec<Leader>,
    pub order: String,
    pub member_count: u64,
    pub primary_member_count: u64,
    pub status: DepartmentStatus,
    pub unit_ids: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Leader {
    /// 1 main head, 2 deputy.
    #[serde(rename = "leaderType")]
    pub leader_type: u8,
    #[serde(rename = "leaderID")]
    pub leader_id: String,
}

#[derive(Serialize)]
pub(super) struct DepartmentStatus {
    pub is_deleted: bool,
}

#[derive(Serialize)]
pub(super) struct User {
    pub open_id: String,
    pub union_id: String,
    /// Absent without the permission `contact:user.employee_id:readonly`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub name: String,
    pub en_name: String,
    pub nickname: &'static str,
    /// Sensitive: absent without the field permission (`sensitive_fields: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enterprise_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    pub mobile_visible: bool,
    pub gender: u8,
    pub status: UserStatus,
    pub department_ids: Vec<String>,
    /// The direct manager, in the requested `user_id_type`; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_user_id: Option<String>,
    pub dotted_line_leader_user_ids: Vec<String>,
    pub employee_no: String,
    pub employee_type: u32,
    pub job_title: String,
    pub join_time: i64,
    pub is_tenant_manager: bool,
    pub orders: Vec<Order>,
    pub city: String,
    pub country: &'static str,
    pub work_station: &'static str,
    /// Absent when the person has no photo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<Avatar>,
    pub custom_attrs: Vec<CustomAttr>,
}

#[derive(Serialize)]
pub(super) struct Avatar {
    pub avatar_72: String,
    pub avatar_240: String,
    pub avatar_640: String,
    pub avatar_origin: String,
}

/// One of the tenant's custom fields on a person: `TEXT` (`value.text`) or `HREF` (`value.text`
/// the title, `value.url` and `value.pc_url` the link).
#[derive(Serialize)]
pub(super) struct CustomAttr {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub value: CustomValue,
}

#[derive(Serialize)]
pub(super) struct CustomValue {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pc_url: Option<String>,
}

#[derive(Serialize)]
pub(super) struct UserStatus {
    pub is_frozen: bool,
    pub is_resigned: bool,
    pub is_activated: bool,
    pub is_exited: bool,
    pub is_unjoin: bool,
}

#[derive(Serialize)]
pub(super) struct Order {
    pub department_id: String,
    pub user_order: i64,
    pub department_order: i64,
    pub is_primary_dept: bool,
}
