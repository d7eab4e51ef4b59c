//! WeCom's JSON as it travels. Private to the WeCom puller; `convert` turns it into model types.
//! Every field a client can live without is optional, and unknown fields are ignored.

use crate::pullers::http::wire::{id_string, id_strings, loose_text, opt_id_string};
use serde::{Deserialize, Deserializer};

/// The envelope every answer carries, read before the payload.
#[derive(Debug, Deserialize)]
pub(super) struct Head {
    pub errcode: Option<i64>,
    #[serde(default)]
    pub errmsg: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Token {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct DepartmentList {
    pub department: Vec<Department>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Department {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_id_string")]
    pub parentid: Option<String>,
    /// The department's heads (userids inside the visible range), head first.
    #[serde(default, deserialize_with = "heads")]
    pub department_leader: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserList {
    pub userlist: Vec<User>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct User {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub userid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "id_strings")]
    pub department: Vec<String>,
    #[serde(default, deserialize_with = "opt_id_string")]
    pub main_department: Option<String>,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default, deserialize_with = "leaders")]
    pub direct_leader: Vec<String>,
    /// A number per the docs; kept loose so an unexpected form is reported, not fatal.
    #[serde(default)]
    pub status: Option<serde_json::Value>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    // The profile fields (read by `profile`). Each is loose text: a surprising shape costs the
    // field, never the person nor the list.
    /// The English name today; `english_name` is its older, undocumented twin.
    #[serde(default, deserialize_with = "loose_text")]
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub english_name: Option<String>,
    /// The enterprise mailbox (企业邮箱).
    #[serde(default, deserialize_with = "loose_text")]
    pub biz_mail: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub telephone: Option<String>,
    /// `"0"` unknown, `"1"` male, `"2"` female.
    #[serde(default, deserialize_with = "loose_text")]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub avatar: Option<String>,
    /// The work address (地址).
    #[serde(default, deserialize_with = "loose_text")]
    pub address: Option<String>,
    /// Custom fields, `{"attrs": [...]}`; read entry by entry, so any shape is accepted here.
    #[serde(default)]
    pub extattr: Option<serde_json::Value>,
}

/// The app's visible range from `agent/get`.
#[derive(Debug, Deserialize)]
pub(super) struct Agent {
    #[serde(default)]
    pub allow_userinfos: Option<AllowUsers>,
    #[serde(default)]
    pub allow_partys: Option<AllowParties>,
    #[serde(default)]
    pub allow_tags: Option<AllowTags>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AllowTags {
    #[serde(default, deserialize_with = "id_strings")]
    pub tagid: Vec<String>,
}

/// `tag/get`: the people and departments a tag holds.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Tag {
    #[serde(default)]
    pub userlist: Vec<TagUser>,
    #[serde(default, deserialize_with = "id_strings")]
    pub partylist: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct TagUser {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub userid: Option<String>,
}

/// `department/simplelist`: ids only; names come from `department/get`.
#[derive(Debug, Deserialize)]
pub(super) struct DepartmentSimpleList {
    pub department_id: Vec<DepartmentSimple>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DepartmentSimple {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
}

/// `department/get`.
#[derive(Debug, Deserialize)]
pub(super) struct DepartmentGet {
    pub department: Department,
}

/// `user/simplelist`: who is a direct member; details come from `user/get`.
#[derive(Debug, Deserialize)]
pub(super) struct UserSimpleList {
    pub userlist: Vec<UserSimple>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserSimple {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub userid: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AllowUsers {
    #[serde(default)]
    pub user: Vec<AllowUser>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AllowUser {
    #[serde(deserialize_with = "id_string")]
    pub userid: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct AllowParties {
    #[serde(default, deserialize_with = "id_strings")]
    pub partyid: Vec<String>,
}

/// `department_leader` is documented as a string array. Heads are extra information: any other
/// shape (a lone id, numbers, an object) costs the heads, never the department list.
fn heads<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let id = |value: serde_json::Value| match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Array(items) => items.into_iter().filter_map(id).collect(),
        other => id(other).into_iter().collect(),
    })
}

/// `direct_leader` is documented as a string array; older SDKs and docs had a single string.
/// Like every other id, each userid may come as a number.
fn leaders<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Id(#[serde(deserialize_with = "id_string")] String);
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Leaders {
        Many(Vec<Id>),
        One(Id),
    }
    Ok(match Option::<Leaders>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(Leaders::Many(list)) => list.into_iter().map(|id| id.0).collect(),
        Some(Leaders::One(one)) => vec![one.0],
    })
}
