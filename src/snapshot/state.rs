use crate::model::{Attributes, TargetId, UserKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What orgsync last successfully applied to one connector's target. Pure data; stores persist it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub users: BTreeMap<UserKey, AppliedUser>,
}

/// One person as the target acknowledged them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedUser {
    pub target_id: TargetId,
    pub attributes: Attributes,
    pub active: bool,
    pub manager: Option<UserKey>,
    /// When the target acknowledged the deactivation; starts the grace period before deletion.
    #[serde(default)]
    pub deactivated_at: Option<Timestamp>,
}

/// One acknowledged change to record. Upserts are nearly all of them, so the entry is kept inline
/// rather than boxed (an allocation per change).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotChange {
    Upsert(UserKey, AppliedUser),
    Remove(UserKey),
}

impl Snapshot {
    pub fn apply(&mut self, change: SnapshotChange) {
        match change {
            SnapshotChange::Upsert(key, user) => {
                self.users.insert(key, user);
            }
            SnapshotChange::Remove(key) => {
                self.users.remove(&key);
            }
        }
    }
}
