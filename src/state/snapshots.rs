//! Snapshots in the state database: per connector, one tree of people (user key → JSON of
//! [`AppliedUser`]) and one of groups: `g\0DEPT` → JSON of the group without its members, and one
//! empty-valued `m\0DEPT\0USER` entry per membership, so a group of 5 000 changes by a few
//! entries, never rewritten whole.

use super::{StateDb, storage};
use crate::model::{DepartmentId, GroupAttributes, TargetId, UserKey};
use crate::snapshot::{
    AppliedGroup, AppliedUser, Snapshot, SnapshotChange, SnapshotError, SnapshotStore,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A group's entry, without its members.
#[derive(Serialize, Deserialize)]
struct GroupEntry {
    target_id: TargetId,
    attributes: GroupAttributes,
}

const GROUP_PREFIX: &[u8] = b"g\0";
const MEMBER_PREFIX: &[u8] = b"m\0";

fn group_key(group: &DepartmentId) -> Vec<u8> {
    [GROUP_PREFIX, group.as_str().as_bytes()].concat()
}

fn member_prefix(group: &DepartmentId) -> Vec<u8> {
    [MEMBER_PREFIX, group.as_str().as_bytes(), b"\0"].concat()
}

fn member_key(group: &DepartmentId, user: &UserKey) -> Vec<u8> {
    [member_prefix(group), user.as_str().as_bytes().to_vec()].concat()
}

impl StateDb {
    fn snapshot_tree(&self, connector: &str) -> Result<sled::Tree, SnapshotError> {
        self.db
            .open_tree(format!("snapshot/{connector}"))
            .map_err(storage)
    }

    fn group_tree(&self, connector: &str) -> Result<sled::Tree, SnapshotError> {
        self.db
            .open_tree(format!("groups/{connector}"))
            .map_err(storage)
    }

    fn load_groups(
        &self,
        connector: &str,
    ) -> Result<BTreeMap<DepartmentId, AppliedGroup>, SnapshotError> {
        let corrupt = |key: &[u8], detail: String| SnapshotError::Corrupt {
            connector: connector.to_owned(),
            key: String::from_utf8_lossy(key).into_owned(),
            detail,
        };
        let text = |key: &[u8], bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| corrupt(key, "key is not UTF-8".into()))
        };
        let tree = self.group_tree(connector)?;
        let mut groups = BTreeMap::new();
        for item in tree.scan_prefix(GROUP_PREFIX) {
            let (key, value) = item.map_err(storage)?;
            let id = DepartmentId::new(text(&key, &key[GROUP_PREFIX.len()..])?);
            let entry: GroupEntry =
                serde_json::from_slice(&value).map_err(|e| corrupt(&key, e.to_string()))?;
            groups.insert(
                id,
                AppliedGroup {
                    target_id: entry.target_id,
                    attributes: entry.attributes,
                    members: Default::default(),
                },
            );
        }
        for item in tree.scan_prefix(MEMBER_PREFIX).keys() {
            let key = item.map_err(storage)?;
            let rest = &key[MEMBER_PREFIX.len()..];
            let Some(split) = rest.iter().position(|&b| b == 0) else {
                return Err(corrupt(&key, "membership key without a user".into()));
            };
            let group = DepartmentId::new(text(&key, &rest[..split])?);
            let user = UserKey::new(text(&key, &rest[split + 1..])?);
            match groups.get_mut(&group) {
                Some(applied) => {
                    applied.members.insert(user);
                }
                None => return Err(corrupt(&key, "membership of a group not recorded".into())),
            }
        }
        Ok(groups)
    }

    /// Adds the group changes among `changes` to `batch`. A removed group's memberships go with it.
    fn batch_group_changes(
        tree: &sled::Tree,
        changes: &[SnapshotChange],
        batch: &mut sled::Batch,
    ) -> Result<(), SnapshotError> {
        for change in changes {
            match change {
                SnapshotChange::UpsertGroup {
                    group,
                    target_id,
                    attributes,
                } => {
                    let entry = GroupEntry {
                        target_id: target_id.clone(),
                        attributes: attributes.clone(),
                    };
                    let value = serde_json::to_vec(&entry)
                        .map_err(|e| SnapshotError::Storage(e.to_string()))?;
                    batch.insert(group_key(group), value);
                }
                SnapshotChange::RemoveGroup(group) => {
                    batch.remove(group_key(group));
                    for key in tree.scan_prefix(member_prefix(group)).keys() {
                        batch.remove(key.map_err(storage)?);
                    }
                }
                SnapshotChange::AddMembers(group, members) => {
                    for user in members {
                        batch.insert(member_key(group, user), &[][..]);
                    }
                }
                SnapshotChange::RemoveMembers(group, members) => {
                    for user in members {
                        batch.remove(member_key(group, user));
                    }
                }
                SnapshotChange::Upsert(..) | SnapshotChange::Remove(_) => {}
            }
        }
        Ok(())
    }
}

impl SnapshotStore for StateDb {
    fn load(&self, connector: &str) -> Result<Snapshot, SnapshotError> {
        // Read whole, then built in one go: sled yields keys in order, and a map built from
        // sorted entries has full nodes, where inserting them one by one leaves every node
        // half empty (a million-person snapshot then takes half again as much memory).
        let mut users = Vec::new();
        for item in self.snapshot_tree(connector)?.iter() {
            let (key, value) = item.map_err(storage)?;
            let key = String::from_utf8(key.to_vec()).map_err(|e| SnapshotError::Corrupt {
                connector: connector.to_owned(),
                key: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                detail: "key is not UTF-8".into(),
            })?;
            let user: AppliedUser =
                serde_json::from_slice(&value).map_err(|e| SnapshotError::Corrupt {
                    connector: connector.to_owned(),
                    key: key.clone(),
                    detail: e.to_string(),
                })?;
            users.push((UserKey::new(key), user));
        }
        Ok(Snapshot {
            users: users.into_iter().collect(),
            groups: self.load_groups(connector)?,
        })
    }

    fn commit(&self, connector: &str, changes: &[SnapshotChange]) -> Result<(), SnapshotError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for change in changes {
            match change {
                SnapshotChange::Upsert(key, user) => {
                    let value = serde_json::to_vec(user)
                        .map_err(|e| SnapshotError::Storage(e.to_string()))?;
                    batch.insert(key.as_str().as_bytes(), value);
                }
                SnapshotChange::Remove(key) => batch.remove(key.as_str().as_bytes()),
                _ => {}
            }
        }
        let people = self.snapshot_tree(connector)?;
        let groups = self.group_tree(connector)?;
        let mut group_batch = sled::Batch::default();
        Self::batch_group_changes(&groups, changes, &mut group_batch)?;
        // Both trees in one transaction: a crash never keeps a membership without its person's
        // change of the same batch, or the reverse.
        use sled::Transactional;
        (&people, &groups)
            .transaction(|(people, groups)| {
                people.apply_batch(&batch)?;
                groups.apply_batch(&group_batch)?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| SnapshotError::Storage(format!("{e:?}")))?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    fn count_metered_calls(
        &self,
        connector: &str,
        month: &str,
        calls: &std::collections::BTreeMap<String, u64>,
    ) -> Result<std::collections::BTreeMap<String, u64>, SnapshotError> {
        self.add_metered_calls(connector, month, calls)
    }

    fn replace(&self, connector: &str, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let tree = self.snapshot_tree(connector)?;
        let mut batch = sled::Batch::default();
        for key in tree.iter().keys() {
            batch.remove(key.map_err(storage)?);
        }
        for (key, user) in &snapshot.users {
            let value =
                serde_json::to_vec(user).map_err(|e| SnapshotError::Storage(e.to_string()))?;
            batch.insert(key.as_str().as_bytes(), value);
        }
        tree.apply_batch(batch).map_err(storage)?;
        let groups = self.group_tree(connector)?;
        let mut group_batch = sled::Batch::default();
        for key in groups.iter().keys() {
            group_batch.remove(key.map_err(storage)?);
        }
        let mut changes = Vec::new();
        for (group, applied) in &snapshot.groups {
            changes.push(SnapshotChange::UpsertGroup {
                group: group.clone(),
                target_id: applied.target_id.clone(),
                attributes: applied.attributes.clone(),
            });
            changes.push(SnapshotChange::AddMembers(
                group.clone(),
                applied.members.iter().cloned().collect(),
            ));
        }
        Self::batch_group_changes(&groups, &changes, &mut group_batch)?;
        groups.apply_batch(group_batch).map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }
}
