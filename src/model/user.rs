use super::{DepartmentId, Profile, UserKey};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// One person as the upstream holds them, after conversion. Text is kept inline when short (see
/// [`Attributes`](super::Attributes)): a pull of a million people holds a million of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub key: UserKey,
    pub display_name: CompactString,
    /// Absent when the upstream withholds it (e.g. WeCom apps created after 2022-06-20): never invented.
    pub email: Option<CompactString>,
    pub mobile: Option<CompactString>,
    pub title: Option<CompactString>,
    pub employee_no: Option<CompactString>,
    /// Departments the person belongs to, main department first.
    pub departments: Vec<DepartmentId>,
    pub status: Status,
    /// The direct manager as the upstream reports it. It may lie outside the authorized scope; the
    /// planner decides whether the link can be synced.
    pub manager: Option<UserKey>,
    /// The standard fields only some platforms return and the platform's custom fields, for
    /// the attribute mapping.
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
}

/// Account state on the upstream platform. Each maps to a target action through the connector's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// Disabled or frozen (禁用 / 冻结).
    Disabled,
    /// Invited but never logged in (未激活).
    NotActivated,
    /// Left the company (离职 / 退出企业).
    Resigned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::NotActivated => "not_activated",
            Status::Resigned => "resigned",
        }
    }
}
