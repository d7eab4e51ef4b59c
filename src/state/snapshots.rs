//! Snapshots in the state database: one tree per connector, user key → JSON of [`AppliedUser`].

use super::{StateDb, storage};
use crate::model::UserKey;
use crate::snapshot::{AppliedUser, Snapshot, SnapshotChange, SnapshotError, SnapshotStore};

impl StateDb {
    fn snapshot_tree(&self, connector: &str) -> Result<sled::Tree, SnapshotError> {
        self.db
            .open_tree(format!("snapshot/{connector}"))
            .map_err(storage)
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
            }
        }
        self.snapshot_tree(connector)?
            .apply_batch(batch)
            .map_err(storage)?;
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
        self.db.flush().map_err(storage)?;
        Ok(())
    }
}
