use super::{DepartmentId, UserKey};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// A department as a group in the target: what orgsync writes about the group itself. Its
/// members are kept apart (a group of 5 000 people changes by adds and removes, never rewritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAttributes {
    /// The group's name in the target: the department's name or path, made unique among the
    /// connector's groups (see `[connectors.NAME.groups] naming`).
    pub display_name: CompactString,
    /// The parent department's id, when the parent is itself a synced group.
    #[serde(default)]
    pub parent: Option<DepartmentId>,
    /// The department's head (the first the platform lists), when they are a synced person.
    #[serde(default)]
    pub head: Option<UserKey>,
}
