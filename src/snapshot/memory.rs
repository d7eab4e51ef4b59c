use super::{Snapshot, SnapshotChange, SnapshotError, SnapshotStore};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keeps snapshots in memory: for tests and for `orgsync diff` without a state directory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    snapshots: Mutex<HashMap<String, Snapshot>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Snapshot>> {
        // A panic elsewhere while holding the lock cannot leave a half-applied change: every
        // mutation below is a single map operation. So a poisoned lock is still usable.
        self.snapshots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SnapshotStore for MemoryStore {
    fn load(&self, connector: &str) -> Result<Snapshot, SnapshotError> {
        Ok(self.lock().get(connector).cloned().unwrap_or_default())
    }

    fn commit(&self, connector: &str, changes: &[SnapshotChange]) -> Result<(), SnapshotError> {
        let mut snapshots = self.lock();
        let snapshot = snapshots.entry(connector.to_owned()).or_default();
        for change in changes {
            snapshot.apply(change.clone());
        }
        Ok(())
    }

    fn replace(&self, connector: &str, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        self.lock().insert(connector.to_owned(), snapshot.clone());
        Ok(())
    }
}
