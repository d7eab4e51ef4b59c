//! DingTalk's JSON shapes and error codes, as `shared/upstream-apis/dingtalk.md` documents them.
//!
//! The old OAPI answers HTTP 200 with `errcode` (0 = ok), `errmsg` and `request_id`; code 88 moves the
//! real reason to `sub_code` / `sub_msg`. The new OpenAPI answers an HTTP status with
//! `{code, message, requestid}`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Numbers `request_id`s; clients only log them.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

fn request_id() -> String {
    format!("emu-{:x}", REQUESTS.fetch_add(1, Ordering::Relaxed) + 1)
}

/// An old-API failure: HTTP 200 with a non-zero `errcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: i64,
    message: &'static str,
    /// For `errcode` 88: the platform's real code and text.
    sub: Option<(&'static str, &'static str)>,
}

impl ApiError {
    const fn new(code: i64, message: &'static str) -> Self {
        ApiError {
            code,
            message,
            sub: None,
        }
    }

    const fn sub(sub_code: &'static str, sub_msg: &'static str) -> Self {
        ApiError {
            code: 88,
            message: "ding talk error",
            sub: Some((sub_code, sub_msg)),
        }
    }

    pub const SYSTEM_BUSY: Self = Self::new(-1, "系统繁忙");
    /// A wrong appkey or appsecret at `gettoken` (the notes' corrections).
    pub const INVALID_CREDENTIAL: Self = Self::new(40089, "不合法的corpId或corpSecret");
    /// DingTalk's global code table: "access_token 无效", answered mid-pull when a token stops working.
    pub const TOKEN_REVOKED: Self = Self::new(40001, "不合法的access_token");
    /// The app lacks this API's permission (the roster read permission).
    pub const NO_PERMISSION: Self = Self::sub("60011", "没有调用该接口的权限");
    /// The standard edition's monthly call quota is spent.
    pub const QUOTA_EXHAUSTED: Self = Self::new(90020, "调用次数超过了每月限额");
    pub const INVALID_TOKEN: Self = Self::new(40014, "不合法的access_token");
    pub const INVALID_CORP: Self = Self::new(33001, "无效的企业ID");
    /// Not in the notes: DingTalk's "invalid parameter" for a body or query the API cannot read.
    pub const INVALID_PARAMETER: Self = Self::new(40035, "不合法的参数");
    pub const MISSING_TOKEN: Self = Self::new(41001, "缺少access_token参数");
    pub const TOKEN_EXPIRED: Self = Self::new(42001, "access_token超时");
    pub const USER_OUT_OF_SCOPE: Self = Self::new(50002, "请求的员工userid不在授权范围内");
    pub const DEPARTMENT_OUT_OF_SCOPE: Self = Self::new(50004, "请求的部门id不在授权范围内");
    pub const NO_SUCH_DEPARTMENT: Self = Self::new(60003, "部门不存在");
    pub const NO_SUCH_USER: Self = Self::new(60121, "找不到该用户");
    pub const APP_QPS: Self = Self::new(
        90018,
        "触发了qps流控：当前企业正在调用此接口的QPS超过了20次，请稍后再试",
    );
    pub const APP_QPS_SUB: Self = Self::sub(
        "90018",
        "触发了qps流控：当前企业正在调用此接口的QPS超过了20次，请稍后再试",
    );
    pub const GLOBAL_QPS: Self = Self::new(90002, "该接口的全局QPS超过限制，请稍后再试");
}

#[derive(Serialize)]
struct ErrorBody {
    errcode: i64,
    errmsg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_msg: Option<&'static str>,
    request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errmsg = match self.sub {
            Some((code, msg)) => format!("{}[subcode={code},submsg={msg}]", self.message),
            None => self.message.to_owned(),
        };
        Json(ErrorBody {
            errcode: self.code,
            errmsg,
            sub_code: self.sub.map(|s| s.0),
            sub_msg: self.sub.map(|s| s.1),
            request_id: request_id(),
        })
        .into_response()
    }
}

/// A new-API failure: an HTTP status with `{code, message, requestid}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpenApiError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

impl OpenApiError {
    pub const INVALID_AUTHENTICATION: Self = Self {
        status: StatusCode::UNAUTHORIZED,
        code: "InvalidAuthentication",
        message: "不合法的access_token",
    };
    pub const INVALID_CREDENTIAL: Self = Self {
        status: StatusCode::BAD_REQUEST,
        code: "invalidClientIdOrSecret",
        message: "无效的clientId或者clientSecret",
    };
    pub const INVALID_PARAMETER: Self = Self {
        status: StatusCode::BAD_REQUEST,
        code: "InvalidParameter",
        message: "参数错误",
    };
    pub const APP_QPS: Self = Self {
        status: StatusCode::FORBIDDEN,
        code: "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        message: "当前应用调用该接口的QPS超过限制",
    };
    pub const GLOBAL_QPS: Self = Self {
        status: StatusCode::FORBIDDEN,
        code: "Forbidden.AccessDenied.QpsLimitForApi",
        message: "该接口的全局QPS超过限制",
    };
    pub const SYSTEM_BUSY: Self = Self {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "ServiceUnavailable",
        message: "系统繁忙",
    };
}

#[derive(Serialize)]
struct OpenApiErrorBody {
    code: &'static str,
    message: &'static str,
    requestid: String,
}

impl IntoResponse for OpenApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(OpenApiErrorBody {
                code: self.code,
                message: self.message,
                requestid: request_id(),
            }),
        )
            .into_response()
    }
}

/// A success envelope: `errcode: 0`, `errmsg: "ok"`, `request_id`, then the endpoint's fields.
#[derive(Serialize)]
struct OkBody<T> {
    errcode: i64,
    errmsg: &'static str,
    request_id: String,
    #[serde(flatten)]
    body: T,
}

pub(super) fn ok<T: Serialize>(body: T) -> Response {
    Json(OkBody {
        errcode: 0,
        errmsg: "ok",
        request_id: request_id(),
        body,
    })
    .into_response()
}

/// The `topapi` form: the payload sits under `result`.
#[derive(Serialize)]
pub(super) struct Result<T> {
    pub result: T,
}

pub(super) fn ok_result<T: Serialize>(result: T) -> Response {
    ok(Result { result })
}

#[derive(Serialize)]
pub(super) struct Token {
    pub access_token: String,
    pub expires_in: u64,
}

/// `POST /v1.0/oauth2/accessToken` (new API): no envelope.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenApiToken {
    pub access_token: String,
    pub expire_in: u64,
}

#[derive(Serialize)]
pub(super) struct Scopes {
    pub auth_user_field: Vec<&'static str>,
    pub auth_org_scopes: OrgScopes,
}

#[derive(Serialize)]
pub(super) struct OrgScopes {
    pub authed_dept: Vec<i64>,
    pub authed_user: Vec<String>,
}

/// An item of `department/listsub`.
#[derive(Serialize)]
pub(super) struct DepartmentBrief {
    pub dept_id: i64,
    pub name: String,
    pub parent_id: i64,
    pub create_dept_group: bool,
    pub auto_add_user: bool,
}

#[derive(Serialize)]
pub(super) struct DepartmentIds {
    pub dept_id_list: Vec<i64>,
}

/// `department/get`.
#[derive(Serialize)]
pub(super) struct Department {
    pub dept_id: i64,
    pub name: String,
    /// Absent for the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    pub order: i64,
    pub dept_manager_userid_list: Vec<String>,
    pub source_identifier: &'static str,
    pub create_dept_group: bool,
    pub auto_add_user: bool,
    pub auto_approve_apply: bool,
    pub group_contain_sub_dept: bool,
    pub outer_dept: bool,
    pub hide_dept: bool,
    pub outer_permit_depts: Vec<i64>,
    pub outer_permit_users: Vec<String>,
    pub dept_permits: Vec<i64>,
    pub user_permits: Vec<String>,
}

/// One page of `user/list` or `user/listsimple`.
#[derive(Serialize)]
pub(super) struct Page<T> {
    pub has_more: bool,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
    pub list: Vec<T>,
}

/// An item of `user/list`.
#[derive(Serialize)]
pub(super) struct ListedUser {
    pub userid: String,
    pub unionid: String,
    pub name: String,
    /// Only with `DingtalkConfig::manager_in_list` (the notes call its presence here unverified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_userid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_number: Option<String>,
    /// Personal-info fields: absent without the field permission (`Org::sensitive_fields`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub dept_id_list: Vec<i64>,
    pub dept_order: i64,
    /// Head of *this* department.
    pub leader: bool,
    pub active: bool,
    pub admin: bool,
    pub boss: bool,
    pub exclusive_account: bool,
    pub hide_mobile: bool,
    #[serde(flatten)]
    pub profile: ProfileFields,
}

/// The profile fields of `user/list` items and `user/get`; absent ones are left out.
#[derive(Serialize)]
pub(super) struct ProfileFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_place: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hired_date: Option<i64>,
    /// The custom fields, a JSON object as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

#[derive(Serialize)]
pub(super) struct SimpleUser {
    pub userid: String,
    pub name: String,
}

#[derive(Serialize)]
pub(super) struct UserIds {
    pub userid_list: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Count {
    pub count: u64,
}

/// `user/get`.
#[derive(Serialize)]
pub(super) struct User {
    pub userid: String,
    pub unionid: String,
    pub name: String,
    /// The direct manager (直属主管), only when one is set. Not filtered by scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_userid: Option<String>,
    pub dept_id_list: Vec<i64>,
    pub dept_order_list: Vec<DeptOrder>,
    /// Which of the person's departments is the main one (`is_main`).
    pub dept_position_list: Vec<DeptPosition>,
    pub leader_in_dept: Vec<LeaderInDept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub active: bool,
    pub real_authed: bool,
    pub admin: bool,
    pub boss: bool,
    pub senior: bool,
    pub exclusive_account: bool,
    pub exclusive_account_type: &'static str,
    pub login_id: &'static str,
    pub role_list: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub profile: ProfileFields,
}

#[derive(Serialize)]
pub(super) struct DeptPosition {
    pub dept_id: i64,
    pub is_main: bool,
}

/// The HR roster's answer: `success` beside the usual envelope, people under `result`.
#[derive(Serialize)]
pub(super) struct Roster {
    pub success: bool,
    pub result: Vec<RosterPerson>,
}

#[derive(Serialize)]
pub(super) struct RosterPerson {
    pub userid: String,
    pub corp_id: &'static str,
    pub field_data_list: Vec<RosterField>,
}

#[derive(Serialize)]
pub(super) struct RosterField {
    pub field_code: String,
    pub field_name: String,
    pub group_id: &'static str,
    pub field_value_list: Vec<RosterValue>,
}

#[derive(Serialize)]
pub(super) struct RosterValue {
    pub item_index: u32,
    pub value: String,
    pub label: String,
}

#[derive(Serialize)]
pub(super) struct DeptOrder {
    pub dept_id: i64,
    pub order: i64,
}

#[derive(Serialize)]
pub(super) struct LeaderInDept {
    pub dept_id: i64,
    pub leader: bool,
}

/// `GET /v1.0/contact/empLeaveRecords` (new API): no envelope.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LeaveRecords {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub records: Vec<LeaveRecord>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LeaveRecord {
    pub user_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    pub leave_time: String,
    pub leave_reason: &'static str,
}
