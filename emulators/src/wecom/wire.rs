//! WeCom's JSON shapes and error codes, as `shared/upstream-apis/wecom.md` documents them.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A WeCom failure: HTTP 200 with a non-zero `errcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: i64,
    message: &'static str,
}

impl ApiError {
    const fn new(code: i64, message: &'static str) -> Self {
        ApiError { code, message }
    }

    pub const INVALID_SECRET: Self = Self::new(40001, "invalid credential");
    pub const INVALID_CORPID: Self = Self::new(40013, "invalid corpid");
    pub const INVALID_TOKEN: Self = Self::new(40014, "invalid access_token");
    pub const INVALID_AGENTID: Self = Self::new(40056, "invalid agentid");
    pub const INVALID_PARAMETER: Self = Self::new(40058, "invalid Request Parameter");
    pub const INVALID_TAG: Self = Self::new(40068, "invalid tagid");
    pub const NOT_PERMITTED: Self = Self::new(48002, "api forbidden");
    pub const MISSING_TOKEN: Self = Self::new(41001, "access_token missing");
    pub const MISSING_CORPID: Self = Self::new(41002, "corpid missing");
    pub const MISSING_SECRET: Self = Self::new(41004, "corpsecret missing");
    pub const MISSING_USERID: Self = Self::new(41009, "missing userid");
    pub const TOKEN_EXPIRED: Self = Self::new(42001, "access_token expired");
    pub const RATE_LIMITED: Self = Self::new(45009, "api freq out of limit");
    pub const TOO_CONCURRENT: Self = Self::new(45033, "api concurrent out of limit");
    pub const OUT_OF_SCOPE: Self =
        Self::new(60011, "no privilege to access/modify contact/party/agent");
    pub const NO_SUCH_USER: Self = Self::new(60111, "userid not found");
    pub const NO_SUCH_DEPARTMENT: Self = Self::new(60123, "invalid party id");
}

#[derive(Serialize)]
struct ErrorBody {
    errcode: i64,
    errmsg: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Shaped like the real text; clients must branch on errcode only, the docs say errmsg changes.
        let errmsg = format!(
            "{}, hint: [emulator], more info at https://open.work.weixin.qq.com/devtool/query?e={}",
            self.message, self.code
        );
        Json(ErrorBody {
            errcode: self.code,
            errmsg,
        })
        .into_response()
    }
}

/// A success envelope: `errcode: 0`, `errmsg: "ok"`, then the endpoint's fields.
#[derive(Serialize)]
pub(super) struct Ok<T> {
    errcode: i64,
    errmsg: &'static str,
    #[serde(flatten)]
    body: T,
}

pub(super) fn ok<T: Serialize>(body: T) -> Response {
    Json(Ok {
        errcode: 0,
        errmsg: "ok",
        body,
    })
    .into_response()
}

#[derive(Serialize)]
pub(super) struct Token {
    pub access_token: String,
    pub expires_in: u64,
}

/// An item of `department/list`, and the `department` of `department/get`.
#[derive(Serialize)]
pub(super) struct Department {
    pub id: i64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    /// Only heads inside the app's visible range.
    pub department_leader: Vec<String>,
    /// 0 for the root.
    pub parentid: i64,
    pub order: i64,
}

#[derive(Serialize)]
pub(super) struct DepartmentList {
    pub department: Vec<Department>,
}

#[derive(Serialize)]
pub(super) struct DepartmentGet {
    pub department: Department,
}

#[derive(Serialize)]
pub(super) struct DepartmentSimple {
    pub id: i64,
    pub parentid: i64,
    pub order: i64,
}

#[derive(Serialize)]
pub(super) struct DepartmentSimpleList {
    pub department_id: Vec<DepartmentSimple>,
}

/// The user object of `user/get` and `user/list`.
#[derive(Serialize)]
pub(super) struct User {
    pub userid: String,
    pub name: String,
    /// The English name (the fixture's `profile.english_name`).
    pub alias: String,
    /// Only departments the app can see; `order` and `is_leader_in_dept` are aligned with it.
    pub department: Vec<i64>,
    pub order: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_department: Option<i64>,
    pub position: String,
    pub is_leader_in_dept: Vec<u8>,
    /// Only leaders the app can see; `[]` otherwise.
    pub direct_leader: Vec<String>,
    /// Sensitive: present only for apps that still receive them (created before 2022-06-20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_mail: Option<String>,
    /// `"0"` unset, `"1"` male, `"2"` female.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_avatar: Option<String>,
    /// The work address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub telephone: String,
    /// Older answers' English name; today's docs have `alias` only. Sent empty.
    pub english_name: &'static str,
    /// 1 active, 2 disabled, 4 not activated, 5 left the corp.
    pub status: u8,
    /// Custom fields: the fixture's `custom`.
    pub extattr: ExtAttr,
    pub open_userid: String,
}

#[derive(Serialize)]
pub(super) struct ExtAttr {
    pub attrs: Vec<Attr>,
}

/// One custom field: text (type 0) or a web link (type 1).
#[derive(Serialize)]
pub(super) struct Attr {
    #[serde(rename = "type")]
    pub kind: u8,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<AttrText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<AttrWeb>,
}

#[derive(Serialize)]
pub(super) struct AttrText {
    pub value: String,
}

#[derive(Serialize)]
pub(super) struct AttrWeb {
    pub url: String,
    pub title: String,
}

#[derive(Serialize)]
pub(super) struct UserList {
    pub userlist: Vec<User>,
}

#[derive(Serialize)]
pub(super) struct UserSimple {
    pub userid: String,
    pub name: String,
    pub department: Vec<i64>,
}

#[derive(Serialize)]
pub(super) struct UserSimpleList {
    pub userlist: Vec<UserSimple>,
}

/// `agent/get`: the app and its visible range.
#[derive(Serialize)]
pub(super) struct Agent {
    pub agentid: i64,
    pub name: &'static str,
    pub square_logo_url: &'static str,
    pub description: &'static str,
    pub allow_userinfos: AllowUsers,
    pub allow_partys: AllowParties,
    pub allow_tags: AllowTags,
    pub close: u8,
    pub redirect_domain: &'static str,
    pub report_location_flag: u8,
    pub isreportenter: u8,
    pub home_url: &'static str,
}

#[derive(Serialize)]
pub(super) struct AllowUsers {
    pub user: Vec<AllowUser>,
}

#[derive(Serialize)]
pub(super) struct AllowUser {
    pub userid: String,
}

#[derive(Serialize)]
pub(super) struct AllowParties {
    pub partyid: Vec<i64>,
}

#[derive(Serialize)]
pub(super) struct AllowTags {
    pub tagid: Vec<i64>,
}

/// `tag/get`: a tag's people and departments.
#[derive(Serialize)]
pub(super) struct Tag {
    pub tagname: String,
    pub userlist: Vec<TagUser>,
    pub partylist: Vec<i64>,
}

#[derive(Serialize)]
pub(super) struct TagUser {
    pub userid: String,
    pub name: String,
}
