//! DingTalk's JSON as it travels. Private to the DingTalk puller; `convert` turns it into model
//! types. Every field a client can live without is optional, ids may come as numbers or strings,
//! and unknown fields are ignored.

use crate::model::Profile;
use crate::pullers::http::wire::{id_strings, loose_text, opt_id_string, opt_lifetime_secs};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// The envelope every old-API answer carries, read before the payload.
#[derive(Debug, Deserialize)]
pub(super) struct Head {
    #[serde(default, deserialize_with = "opt_int")]
    pub errcode: Option<i64>,
    #[serde(default, deserialize_with = "opt_text")]
    pub errmsg: Option<String>,
    /// With `errcode` 88, the real reason.
    #[serde(default, deserialize_with = "opt_id_string")]
    pub sub_code: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub sub_msg: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Token {
    pub access_token: String,
    /// Documented as 7200 s; a missing value is read as that. Any sign and size is read (and
    /// clamped by the client): a lifetime is no reason to fail a pull.
    #[serde(default, deserialize_with = "opt_lifetime_secs")]
    pub expires_in: Option<i128>,
}

/// The `topapi` payload wrapper.
#[derive(Debug, Deserialize)]
pub(super) struct Answer<T> {
    pub result: T,
}

#[derive(Debug, Deserialize)]
pub(super) struct Scopes {
    pub auth_org_scopes: OrgScopes,
}

#[derive(Debug, Deserialize)]
pub(super) struct OrgScopes {
    #[serde(default, deserialize_with = "ints")]
    pub authed_dept: Vec<i64>,
    #[serde(default, deserialize_with = "id_strings")]
    pub authed_user: Vec<String>,
}

/// An item of `department/listsub`, or the result of `department/get`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Department {
    #[serde(deserialize_with = "int")]
    pub dept_id: i64,
    #[serde(default, deserialize_with = "opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub parent_id: Option<i64>,
}

/// One page of `user/list`.
#[derive(Debug, Deserialize)]
pub(super) struct Page {
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default, deserialize_with = "opt_int")]
    pub next_cursor: Option<i64>,
    /// Read item by item ([`Record::parse`]) so one odd record holds one person, not the pull.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub list: Vec<serde_json::Value>,
}

/// One person's record as far as it could be read.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every record is `Read`: boxing it would cost an allocation per person"
)]
pub(super) enum Record {
    Read(User),
    /// The record has a shape the fields above do not accept.
    Unreadable {
        userid: Option<String>,
        error: String,
    },
}

impl Record {
    pub fn parse(value: serde_json::Value) -> Record {
        let userid = value.get("userid").and_then(|id| match id {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        match serde_json::from_value::<User>(value) {
            Ok(user) => Record::Read(user),
            Err(error) => Record::Unreadable {
                userid,
                error: error.to_string(),
            },
        }
    }

    pub fn userid(&self) -> Option<&str> {
        match self {
            Record::Read(user) => user.userid.as_deref(),
            Record::Unreadable { userid, .. } => userid.as_deref(),
        }
        .filter(|id| !id.trim().is_empty())
    }
}

/// A `user/list` item or the result of `user/get`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct User {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub userid: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// `None`: the field was absent (list items may never carry it). `Some(None)`: present but
    /// empty. `Some(Some(id))`: the direct manager.
    #[serde(default, deserialize_with = "present_id")]
    pub manager_userid: Option<Option<String>>,
    #[serde(default, deserialize_with = "ints")]
    pub dept_id_list: Vec<i64>,
    #[serde(default, deserialize_with = "opt_text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub job_number: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub mobile: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub org_email: Option<String>,
    /// A boolean per the docs; kept loose so an unexpected form is reported, not fatal.
    #[serde(default)]
    pub active: Option<serde_json::Value>,
    /// `user/get` only: the department `dept_position_list` (`[{dept_id, is_main, …}]`) marks
    /// `is_main`. Any shape is accepted: a surprising one costs the hint, never the person.
    #[serde(
        default,
        rename = "dept_position_list",
        deserialize_with = "main_position"
    )]
    pub main_dept: Option<i64>,
    /// `user/list` only: the person heads the department being listed. Any shape other than
    /// true (or `"true"`, 1) reads as false: a surprising one costs the head, never the person.
    #[serde(default, deserialize_with = "truthy")]
    pub leader: bool,
    /// `user/get` only: the departments the person heads, from `leader_in_dept`
    /// (`[{dept_id, leader}]`); entries of any other shape are skipped.
    #[serde(default, rename = "leader_in_dept", deserialize_with = "led")]
    pub leads: Vec<i64>,
    // The profile fields (read by `profile`), on both `user/list` items and `user/get`. Each is
    // loose: a surprising shape costs the field, never the person.
    #[serde(default, deserialize_with = "loose_text")]
    pub telephone: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub avatar: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub work_place: Option<String>,
    /// Milliseconds since the epoch (a number, or a string of digits).
    #[serde(default, deserialize_with = "loose_text")]
    pub hired_date: Option<String>,
    /// The custom fields: a JSON object of names to values, as a string.
    #[serde(default)]
    pub extension: Option<serde_json::Value>,
}

fn truthy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(is_true(&serde_json::Value::deserialize(deserializer)?))
}

fn is_true(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => s.trim() == "true",
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn led<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry.get("leader").is_some_and(is_true))
                .filter_map(|entry| json_int(entry.get("dept_id")?))
                .collect()
        })
        .unwrap_or_default())
}

fn main_position<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value.as_array().and_then(|positions| {
        positions.iter().find_map(|position| {
            let is_main = match position.get("is_main")? {
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::String(s) => s.trim() == "true",
                _ => false,
            };
            if !is_main {
                return None;
            }
            json_int(position.get("dept_id")?)
        })
    }))
}

/// An integer in a JSON number or a string holding one.
fn json_int(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The HR roster's answer (`smartwork/hrm/employee/v2/list`). `result` is read person by
/// person ([`RosterEntry::parse`]): whatever it holds, people it does not answer for are read
/// with `user/get` instead.
#[derive(Debug, Deserialize)]
pub(super) struct RosterAnswer {
    #[serde(default)]
    pub result: serde_json::Value,
}

/// The roster field codes asked for.
pub(super) const ROSTER_MANAGER: &str = "sys00-reportManagerId";
pub(super) const ROSTER_MAIN_DEPT: &str = "sys00-mainDeptId";
/// The roster's profile fields: sex, employee type, hire date (入职时间).
pub(super) const ROSTER_SEX: &str = "sys02-sexType";
pub(super) const ROSTER_EMPLOYEE_TYPE: &str = "sys01-employeeType";
pub(super) const ROSTER_JOIN_DATE: &str = "sys00-confirmJoinTime";

/// What the roster says of one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RosterEntry {
    /// The direct manager's userid; `None` when none is set.
    pub manager: Option<String>,
    pub main_dept: Option<i64>,
    /// Sex, employee type, hire date and the custom roster fields asked for.
    pub profile: Profile,
}

impl RosterEntry {
    /// One item of `result`: the userid and what it says. `None` when the item names nobody or
    /// lacks the manager field altogether (then the person is read with `user/get`).
    pub fn parse(item: &serde_json::Value) -> Option<(String, RosterEntry)> {
        let userid = match item.get("userid")? {
            serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let fields = item.get("field_data_list")?.as_array()?;
        let field = |code: &str| {
            fields
                .iter()
                .find(|f| f.get("field_code").and_then(serde_json::Value::as_str) == Some(code))
        };
        let first_value = |field: &serde_json::Value| -> Option<String> {
            field
                .get("field_value_list")?
                .as_array()?
                .iter()
                .filter_map(|v| match v.get("value")? {
                    serde_json::Value::String(s) => Some(s.trim().to_owned()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .find(|v| !v.is_empty())
        };
        let manager = first_value(field(ROSTER_MANAGER)?);
        let main_dept = field(ROSTER_MAIN_DEPT)
            .and_then(first_value)
            .and_then(|v| v.parse().ok());
        let profile = super::profile::roster_profile(fields);
        Some((
            userid,
            RosterEntry {
                manager,
                main_dept,
                profile,
            },
        ))
    }
}

/// A number, or a string holding one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose {
    Int(i64),
    Text(String),
    Float(f64),
}

fn to_int<E: serde::de::Error>(value: Loose) -> Result<i64, E> {
    match value {
        Loose::Int(n) => Ok(n),
        Loose::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| E::custom(format!("expected an integer id, got {s:?}"))),
        Loose::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        Loose::Float(f) => Err(E::custom(format!("expected an integer id, got {f}"))),
    }
}

/// An integer id (department ids are int64, negative in home-school trees).
fn int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    to_int(Loose::deserialize(deserializer)?)
}

/// An optional integer; `null`, a missing field and `""` read as `None`.
fn opt_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match Option::<Loose>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Loose::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(value) => to_int(value).map(Some),
    }
}

/// A list of integer ids in either form; `null` reads as empty.
fn ints<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    let items: Option<Vec<Loose>> = Option::deserialize(deserializer)?;
    items.unwrap_or_default().into_iter().map(to_int).collect()
}

/// Free text; a number is taken as its digits (job numbers), `null` as absent.
fn opt_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(D::Error::custom(format!("expected text, got {other}"))),
    }
}

/// Tells a present field from an absent one (see [`User::manager_userid`]).
fn present_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    opt_id_string(deserializer).map(Some)
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}
