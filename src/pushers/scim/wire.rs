//! SCIM 2.0 JSON (RFC 7643/7644) as orgsync sends and reads it. Private to the SCIM pusher.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(super) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const ENTERPRISE_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(super) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A User resource as sent by POST and PUT: only schema attributes (strict servers refuse others).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserResource {
    pub schemas: Vec<String>,
    pub external_id: String,
    pub user_name: String,
    pub display_name: String,
    pub name: Name,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<MultiValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<MultiValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub active: bool,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<Enterprise>,
    /// Mapped attributes of the core schema beyond the ones above (`nickName`, a typed entry of
    /// a multi-valued attribute other than emails and phoneNumbers), and each custom
    /// extension's object under its URN.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Name {
    #[serde(default)]
    pub formatted: Option<String>,
    /// The other sub-attributes (`familyName`, `givenName`, …): mapped ones when sent, all of
    /// them when read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MultiValue {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Enterprise {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<ManagerRef>,
    /// The extension's other attributes (`costCenter`, `division`, …), as for [`Name::other`].
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ManagerRef {
    #[serde(default)]
    pub value: Option<String>,
}

/// A User resource as read back: everything optional but `id`, unknown attributes ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReadUser {
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub name: Option<Name>,
    #[serde(default)]
    pub emails: Vec<MultiValue>,
    #[serde(default)]
    pub phone_numbers: Vec<MultiValue>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(
        default,
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    )]
    pub enterprise: Option<Enterprise>,
    /// Every other attribute, where mapped attributes are read back from.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListResponse {
    #[serde(default)]
    pub total_results: Option<usize>,
    #[serde(default, rename = "Resources")]
    pub resources: Vec<ReadUser>,
}

#[derive(Debug, Serialize)]
pub(super) struct PatchRequest {
    pub schemas: [&'static str; 1],
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

#[derive(Debug, Serialize)]
pub(super) struct PatchOperation {
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// RFC 7644 §3.12 error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub scim_type: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

pub(super) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// orgsync's Group extension (docs/scim.md): the department's head and parent.
pub(super) const DEPARTMENT_SCHEMA: &str =
    "urn:orgsync:params:scim:schemas:extension:department:1.0:Group";

/// A Group resource as sent by POST: created without members (they follow in batches).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupResource {
    pub schemas: Vec<&'static str>,
    pub external_id: String,
    pub display_name: String,
    #[serde(
        rename = "urn:orgsync:params:scim:schemas:extension:department:1.0:Group",
        skip_serializing_if = "Option::is_none"
    )]
    pub department: Option<Department>,
}

/// The department extension's attributes; each left out when unset.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Department {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_department: Option<String>,
}

/// The head: their User resource's id, and their upstream key as the User's externalId.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Head {
    pub value: String,
    pub external_id: String,
}

/// A Group resource as read back: only what adoption and membership repair need.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReadGroup {
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Member {
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupList {
    #[serde(default, rename = "Resources")]
    pub resources: Vec<ReadGroup>,
}
