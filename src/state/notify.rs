//! The notifications' memory (`notify/dedupe.rs`): which failures were sent to which channel
//! and when, so repeats stay quiet across restarts. One tree, opaque values keyed by text.

use super::{StateDb, storage};
use crate::snapshot::SnapshotError;

const NOTIFY_TREE: &str = "notify_sent";

impl StateDb {
    pub fn notify_memory(&self, key: &str) -> Result<Option<Vec<u8>>, SnapshotError> {
        let tree = self.db.open_tree(NOTIFY_TREE).map_err(storage)?;
        Ok(tree.get(key).map_err(storage)?.map(|v| v.to_vec()))
    }

    /// Keeps `value` under `key`, flushed: a restart right after a message must not resend it.
    pub fn remember_notify(&self, key: &str, value: &[u8]) -> Result<(), SnapshotError> {
        let tree = self.db.open_tree(NOTIFY_TREE).map_err(storage)?;
        tree.insert(key, value).map_err(storage)?;
        tree.flush().map_err(storage)?;
        Ok(())
    }

    pub fn notify_memories(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, SnapshotError> {
        let tree = self.db.open_tree(NOTIFY_TREE).map_err(storage)?;
        tree.scan_prefix(prefix)
            .map(|entry| {
                let (k, v) = entry.map_err(storage)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    pub fn forget_notify(&self, key: &str) -> Result<(), SnapshotError> {
        let tree = self.db.open_tree(NOTIFY_TREE).map_err(storage)?;
        tree.remove(key).map_err(storage)?;
        tree.flush().map_err(storage)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memories_survive_a_reopen_and_scan_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::StateDb::open(dir.path()).unwrap();
            db.remember_notify("ops\0hq\0run_failed", b"1").unwrap();
            db.remember_notify("ops\0hqx\0run_failed", b"2").unwrap();
            db.remember_notify("ops\0branch\0run_failed", b"3").unwrap();
        }
        let db = super::StateDb::open(dir.path()).unwrap();
        let found = db.notify_memories("ops\0hq\0").unwrap();
        assert_eq!(found, [("ops\0hq\0run_failed".to_owned(), b"1".to_vec())]);
        db.forget_notify("ops\0hq\0run_failed").unwrap();
        assert_eq!(db.notify_memory("ops\0hq\0run_failed").unwrap(), None);
        assert_eq!(
            db.notify_memory("ops\0branch\0run_failed").unwrap(),
            Some(b"3".to_vec())
        );
    }
}
