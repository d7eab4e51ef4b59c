//! Feishu's JSON as it travels. Private to the Feishu puller; `convert` turns it into model types.
//!
//! The envelope (`code`, `data`, `has_more`) is read strictly: a missing field there is an error.
//! Records (people, departments) are read leniently: every field is optional, ids may be numbers or
//! strings, a field of a surprising type reads as absent and unknown fields are ignored, so one odd
//! record becomes a reported problem instead of a failed pull.

use super::config::{DepartmentIdType, UserIdType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What every answer carries, read before the payload.
#[derive(Debug, Deserialize)]
pub(super) struct Head {
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub msg: Option<String>,
}

/// `{ "code": 0, "msg": "success", "data": { ... } }`.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope<T> {
    pub data: Option<T>,
}

/// The token endpoint answers at the top level, without `data`.
#[derive(Debug, Deserialize)]
pub(super) struct Token {
    #[serde(default, deserialize_with = "text")]
    pub tenant_access_token: Option<String>,
    /// Remaining lifetime in seconds.
    pub expire: Option<u64>,
}

/// One page of a listing: `page_token` is present only while `has_more` is true.
#[derive(Debug, Deserialize)]
pub(super) struct Page<T> {
    pub has_more: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    pub page_token: Option<String>,
    #[serde(flatten)]
    pub body: T,
}

/// `data.items`, absent when a page is empty. Each item is read leniently (see [`Lenient`]).
#[derive(Debug, Deserialize)]
#[serde(bound = "T: Lenient")]
pub(super) struct Items<T> {
    #[serde(default, deserialize_with = "lenient_items")]
    pub items: Vec<T>,
}

/// `/contact/v3/scopes`: the granted departments and people (user groups are not synced).
#[derive(Debug, Deserialize)]
pub(super) struct ScopePage {
    #[serde(default, deserialize_with = "texts")]
    pub department_ids: Vec<String>,
    #[serde(default, deserialize_with = "texts")]
    pub user_ids: Vec<String>,
}

/// `GET /departments/:department_id` → `data.department`.
#[derive(Debug, Deserialize)]
pub(super) struct DepartmentGet {
    #[serde(default, deserialize_with = "lenient")]
    pub department: Department,
}

/// `GET /users/:user_id` → `data.user`.
#[derive(Debug, Deserialize)]
pub(super) struct UserGet {
    #[serde(default, deserialize_with = "lenient")]
    pub user: User,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Department {
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub department_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub open_department_id: Option<String>,
    /// In the requested `department_id_type`; `"0"` under the root.
    #[serde(default, deserialize_with = "text")]
    pub parent_department_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub status: DepartmentStatus,
    /// The main head (`leaderType` 1), in the requested `user_id_type`.
    #[serde(default, deserialize_with = "text")]
    pub leader_user_id: Option<String>,
    /// Every head: the main one (`leaderType` 1) and deputies (2), as listed.
    #[serde(default, deserialize_with = "lenient_items")]
    pub leaders: Vec<Leader>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Leader {
    #[serde(rename = "leaderID", default, deserialize_with = "text")]
    pub leader_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DepartmentStatus {
    #[serde(default, deserialize_with = "flag")]
    pub is_deleted: Option<bool>,
}

impl Department {
    /// The id in the scheme the requests asked for.
    pub fn id(&self, kind: DepartmentIdType) -> Option<&str> {
        let id = match kind {
            DepartmentIdType::OpenDepartmentId => &self.open_department_id,
            DepartmentIdType::DepartmentId => &self.department_id,
        };
        id.as_deref().map(str::trim).filter(|id| !id.is_empty())
    }

    pub fn is_deleted(&self) -> bool {
        self.status.is_deleted == Some(true)
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct User {
    #[serde(default, deserialize_with = "text")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub open_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub union_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub enterprise_email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub mobile: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub job_title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub employee_no: Option<String>,
    /// The five status flags, kept raw so an unexpected form is reported, not fatal.
    #[serde(default)]
    pub status: Option<Value>,
    #[serde(default, deserialize_with = "texts")]
    pub department_ids: Vec<String>,
    /// The direct manager, in the requested `user_id_type`.
    #[serde(default, deserialize_with = "text")]
    pub leader_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_items")]
    pub orders: Vec<Order>,
    #[serde(default, deserialize_with = "text")]
    pub en_name: Option<String>,
    /// 0 unknown, 1 male, 2 female, 3 other; read as text so an odd form is reported.
    #[serde(default, deserialize_with = "text")]
    pub gender: Option<String>,
    /// 1–5 Feishu's own types, higher numbers the tenant's; read as text like `gender`.
    #[serde(default, deserialize_with = "text")]
    pub employee_type: Option<String>,
    /// The work city.
    #[serde(default, deserialize_with = "text")]
    pub city: Option<String>,
    /// Unix seconds; read as text like `gender`.
    #[serde(default, deserialize_with = "text")]
    pub join_time: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub avatar: Avatar,
    /// `[{type, id, value: {...}}]`, kept raw: each entry is read (or reported) on its own.
    #[serde(default, deserialize_with = "values")]
    pub custom_attrs: Vec<Value>,
}

/// Links to the person's photo in several sizes.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Avatar {
    #[serde(default, deserialize_with = "text")]
    pub avatar_origin: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub avatar_640: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub avatar_240: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub avatar_72: Option<String>,
}

impl User {
    /// The id in the scheme the requests asked for.
    pub fn key(&self, kind: UserIdType) -> Option<&str> {
        let id = match kind {
            UserIdType::UserId => &self.user_id,
            UserIdType::OpenId => &self.open_id,
            UserIdType::UnionId => &self.union_id,
        };
        id.as_deref().map(str::trim).filter(|id| !id.is_empty())
    }
}

/// A person's place in one department; `is_primary_dept` marks the main one.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Order {
    #[serde(default, deserialize_with = "text")]
    pub department_id: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub is_primary_dept: Option<bool>,
}

/// A record type that reads any JSON object without failing.
pub(super) trait Lenient: DeserializeOwned + Default {
    /// Non-objects (a number, an array, `null`) read as an empty record.
    fn from_value(value: Value) -> Self {
        if value.is_object() {
            serde_json::from_value(value).unwrap_or_default()
        } else {
            Self::default()
        }
    }
}

impl Lenient for User {}
impl Lenient for Department {}
impl Lenient for DepartmentStatus {}
impl Lenient for Order {}
impl Lenient for Leader {}
impl Lenient for Avatar {}

fn lenient<'de, D: Deserializer<'de>, T: Lenient>(deserializer: D) -> Result<T, D::Error> {
    Ok(T::from_value(Value::deserialize(deserializer)?))
}

/// A list of records; `null` or a non-list reads as empty.
fn lenient_items<'de, D: Deserializer<'de>, T: Lenient>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items.into_iter().map(T::from_value).collect(),
        _ => Vec::new(),
    })
}

/// A list kept as raw JSON values; anything but a list reads as empty.
fn values<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items,
        _ => Vec::new(),
    })
}

/// Text or an id: strings as they are, numbers as their decimal form, anything else absent.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(text_of(Value::deserialize(deserializer)?))
}

fn text_of(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A list of ids; a lone id reads as a list of one, elements that are not ids are skipped.
fn texts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let items = match Value::deserialize(deserializer)? {
        Value::Array(items) => items,
        other => vec![other],
    };
    Ok(items
        .into_iter()
        .filter_map(text_of)
        .filter(|id| !id.trim().is_empty())
        .collect())
}

/// A boolean; anything else reads as absent.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(deserializer)?.as_bool())
}
