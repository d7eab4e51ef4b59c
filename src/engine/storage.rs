//! Storage calls of a run, off the async runtime's threads: a snapshot load, a commit (an fsync)
//! or a replace can take long on a slow disk, and on a runtime thread it would stall the admin API,
//! the scheduler and every other connector's run. They run on tokio's blocking pool instead.

use super::Engine;
use crate::snapshot::{Snapshot, SnapshotChange, SnapshotError, SnapshotStore};
use std::sync::Arc;

/// Runs `call` with the store on the blocking pool. A panic inside it is resumed here, as if the
/// call had been made in place.
pub(super) async fn blocking<S: SnapshotStore, T: Send + 'static>(
    store: &Arc<S>,
    call: impl FnOnce(&S) -> Result<T, SnapshotError> + Send + 'static,
) -> Result<T, SnapshotError> {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || call(&store)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(SnapshotError::Storage(format!(
            "the storage task was cancelled: {e}"
        ))),
    }
}

/// The calendar month `at` falls in for upstream quotas (`2026-12`), in China Standard Time
/// (UTC+8): DingTalk, the one upstream with a monthly quota, counts its months there.
pub(super) fn quota_month(at: jiff::Timestamp) -> String {
    let offset = jiff::tz::Offset::constant(8);
    at.to_zoned(jiff::tz::TimeZone::fixed(offset))
        .strftime("%Y-%m")
        .to_string()
}

/// Makes `changes` durable for `connector`.
pub(super) async fn commit<S: SnapshotStore>(
    store: &Arc<S>,
    connector: &str,
    changes: Vec<SnapshotChange>,
) -> Result<(), SnapshotError> {
    if changes.is_empty() {
        return Ok(());
    }
    let connector = connector.to_owned();
    blocking(store, move |store| store.commit(&connector, &changes)).await
}

impl<S: SnapshotStore> Engine<S> {
    /// The stored snapshot of `connector`.
    pub(super) async fn load_snapshot(&self, connector: &str) -> Result<Snapshot, SnapshotError> {
        let connector = connector.to_owned();
        blocking(self.store(), move |store| store.load(&connector)).await
    }

    /// Replaces the stored snapshot of `connector` with `snapshot`, and hands it back.
    pub(super) async fn replace_snapshot(
        &self,
        connector: &str,
        snapshot: Snapshot,
    ) -> Result<Snapshot, SnapshotError> {
        let connector = connector.to_owned();
        blocking(self.store(), move |store| {
            store.replace(&connector, &snapshot).map(|()| snapshot)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_months_turn_at_midnight_in_china() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(quota_month(at("2026-12-31T15:59:59Z")), "2026-12");
        assert_eq!(quota_month(at("2026-12-31T16:00:00Z")), "2027-01");
    }
    use crate::snapshot::MemoryStore;
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::time::Duration;

    /// A store whose load waits until the test lets it go.
    struct GatedStore {
        inner: MemoryStore,
        gate: Mutex<Receiver<()>>,
    }

    impl SnapshotStore for GatedStore {
        fn load(&self, connector: &str) -> Result<Snapshot, SnapshotError> {
            let gate = self.gate.lock().unwrap();
            gate.recv_timeout(Duration::from_secs(10))
                .map_err(|_| SnapshotError::Storage("the gate never opened".into()))?;
            self.inner.load(connector)
        }
        fn commit(&self, c: &str, changes: &[SnapshotChange]) -> Result<(), SnapshotError> {
            self.inner.commit(c, changes)
        }
        fn replace(&self, c: &str, snapshot: &Snapshot) -> Result<(), SnapshotError> {
            self.inner.replace(c, snapshot)
        }
    }

    /// On a runtime with a single thread, a load that blocks until another task of that runtime
    /// runs completes only if the load does not occupy the runtime's thread.
    #[test]
    fn a_blocked_load_leaves_the_runtime_free() {
        let (open, gate): (Sender<()>, Receiver<()>) = channel();
        let engine = Engine::new(Arc::new(GatedStore {
            inner: MemoryStore::new(),
            gate: Mutex::new(gate),
        }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let loaded = runtime.block_on(async {
            let opener = tokio::spawn(async move { open.send(()).unwrap() });
            let loaded = engine.load_snapshot("hq").await;
            opener.await.unwrap();
            loaded
        });
        assert_eq!(loaded.unwrap(), Snapshot::default());
    }
}
