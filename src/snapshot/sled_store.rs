use super::{AppliedUser, Snapshot, SnapshotChange, SnapshotError, SnapshotStore};
use crate::model::UserKey;
use std::path::{Path, PathBuf};

/// The on-disk layout version. Bump it, with a migration, whenever the layout changes.
const FORMAT_VERSION: u32 = 1;
const META_TREE: &str = "meta";
const FORMAT_KEY: &str = "format_version";

/// Snapshots in a sled database: one tree per connector, user key → JSON of [`AppliedUser`].
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
}

impl SledStore {
    /// Opens (or creates) the database under `dir`. sled takes an exclusive file lock, so a second
    /// process on the same directory gets [`SnapshotError::Locked`].
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        let path = dir.join("state.sled");
        std::fs::create_dir_all(dir).map_err(|source| SnapshotError::Open {
            path: dir.to_owned(),
            source,
        })?;
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|e| open_error(&path, e))?;
        let store = SledStore { db, path };
        store.check_format()?;
        Ok(store)
    }

    /// The underlying database, for other state kept beside the snapshots (run history).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    fn check_format(&self) -> Result<(), SnapshotError> {
        let meta = self.db.open_tree(META_TREE).map_err(storage)?;
        match meta.get(FORMAT_KEY).map_err(storage)? {
            None => {
                meta.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())
                    .map_err(storage)?;
                self.db.flush().map_err(storage)?;
                Ok(())
            }
            Some(found) if found.as_ref() == FORMAT_VERSION.to_string().as_bytes() => Ok(()),
            Some(found) => Err(SnapshotError::UnsupportedFormat {
                path: self.path.clone(),
                found: String::from_utf8_lossy(&found).into_owned(),
                expected: FORMAT_VERSION,
            }),
        }
    }

    fn tree(&self, connector: &str) -> Result<sled::Tree, SnapshotError> {
        self.db
            .open_tree(format!("snapshot/{connector}"))
            .map_err(storage)
    }
}

impl SnapshotStore for SledStore {
    fn load(&self, connector: &str) -> Result<Snapshot, SnapshotError> {
        // Read whole, then built in one go: sled yields keys in order, and a map built from
        // sorted entries has full nodes, where inserting them one by one leaves every node
        // half empty (a million-person snapshot then takes half again as much memory).
        let mut users = Vec::new();
        for item in self.tree(connector)?.iter() {
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
        self.tree(connector)?.apply_batch(batch).map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    fn replace(&self, connector: &str, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let tree = self.tree(connector)?;
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

fn storage(error: sled::Error) -> SnapshotError {
    SnapshotError::Storage(error.to_string())
}

fn open_error(path: &Path, error: sled::Error) -> SnapshotError {
    match error {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            SnapshotError::Locked {
                path: path.to_owned(),
            }
        }
        sled::Error::Io(source) => SnapshotError::Open {
            path: path.to_owned(),
            source,
        },
        // Corruption, or a layout sled cannot read: not a passing storage failure.
        other => SnapshotError::Unreadable {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}
