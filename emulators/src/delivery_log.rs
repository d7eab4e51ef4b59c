//! The record an emulator keeps of what it delivered (events, messages), and a way for tests to
//! wait until enough has been delivered without polling.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Every delivery in the order it was made; waiters are woken at each new one.
pub(crate) struct DeliveryLog<T> {
    entries: Mutex<Vec<T>>,
    changed: Notify,
}

impl<T> Default for DeliveryLog<T> {
    fn default() -> Self {
        DeliveryLog {
            entries: Mutex::new(Vec::new()),
            changed: Notify::new(),
        }
    }
}

impl<T: Clone> DeliveryLog<T> {
    pub fn push(&self, entry: T) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
        self.changed.notify_waiters();
    }

    pub fn snapshot(&self) -> Vec<T> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds for the entries, at most `timeout`; the entries then (whether
    /// or not `done` came to hold).
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[T]) -> bool) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so a push between the check and the wait wakes it.
            let changed = self.changed.notified();
            let now = self.snapshot();
            if done(&now) {
                return now;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.snapshot();
            }
        }
    }
}
