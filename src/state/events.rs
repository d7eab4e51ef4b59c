//! Upstream change events, kept from the moment the receiver accepts one (before it answers the
//! platform) until the run they trigger has finished: a kill in between loses nothing, the next
//! start runs them again. Two trees:
//! - `events_queue`: key `connector \0 sequence (u64, big-endian)`, value the event as JSON;
//! - `events_seen`: key `connector \0 de-duplication key`, value when it was accepted (Unix
//!   milliseconds, big-endian), so a platform's retry or a replay is stored once.

use super::{StateDb, storage};
use crate::events::{Notice, StoredEvent};
use crate::snapshot::SnapshotError;
use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

const QUEUE_TREE: &str = "events_queue";
const SEEN_TREE: &str = "events_seen";

/// What [`StateDb::accept_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Stored, durably, under this sequence number.
    Stored(u64),
    /// The same event was accepted before: nothing stored.
    Duplicate,
}

fn prefix(connector: &str) -> Vec<u8> {
    let mut key = connector.as_bytes().to_vec();
    key.push(0);
    key
}

fn queue_key(connector: &str, seq: u64) -> Vec<u8> {
    let mut key = prefix(connector);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn seen_key(connector: &str, dedupe: &str) -> Vec<u8> {
    let mut key = prefix(connector);
    key.extend_from_slice(dedupe.as_bytes());
    key
}

impl StateDb {
    /// Stores `event` for `connector` unless an event with the same `dedupe` key was accepted
    /// before, and flushes it to disk before returning: the receiver answers the platform only
    /// after this.
    pub fn accept_event(
        &self,
        connector: &str,
        dedupe: &str,
        event: &StoredEvent,
    ) -> Result<Acceptance, SnapshotError> {
        let queue = self.db.open_tree(QUEUE_TREE).map_err(storage)?;
        let seen = self.db.open_tree(SEEN_TREE).map_err(storage)?;
        let value = serde_json::to_vec(event)
            .map_err(|e| SnapshotError::Storage(format!("cannot encode an event: {e}")))?;
        let seq = self.db.generate_id().map_err(storage)?;
        let at = event.received_at.as_millisecond().to_be_bytes();
        let seen_key = seen_key(connector, dedupe);
        let queue_key = queue_key(connector, seq);
        let stored = (&seen, &queue)
            .transaction(|(seen, queue)| {
                if seen.get(&seen_key)?.is_some() {
                    return Ok(false);
                }
                seen.insert(seen_key.as_slice(), &at[..])?;
                queue.insert(queue_key.as_slice(), value.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => storage(e),
                TransactionError::Abort(()) => SnapshotError::Storage("event not stored".into()),
            })?;
        if !stored {
            return Ok(Acceptance::Duplicate);
        }
        self.db.flush().map_err(storage)?;
        Ok(Acceptance::Stored(seq))
    }

    /// `connector`'s events not yet consumed by a finished run, oldest first. An event that
    /// cannot be read back is returned as an uninterpretable one, so it still triggers a full
    /// run rather than being lost.
    pub fn queued_events(&self, connector: &str) -> Result<Vec<(u64, StoredEvent)>, SnapshotError> {
        let queue = self.db.open_tree(QUEUE_TREE).map_err(storage)?;
        let prefix = prefix(connector);
        let mut events = Vec::new();
        for entry in queue.scan_prefix(&prefix) {
            let (key, value) = entry.map_err(storage)?;
            let Some(seq) = key
                .get(prefix.len()..)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            let event = serde_json::from_slice::<StoredEvent>(&value).unwrap_or_else(|e| {
                tracing::warn!(
                    connector,
                    seq,
                    error = %e,
                    "A stored event cannot be read; it triggers a full run."
                );
                StoredEvent {
                    event_type: "unreadable".into(),
                    received_at: Timestamp::now(),
                    occurred_at: None,
                    notices: vec![Notice::Unknown {
                        event_type: "unreadable".into(),
                    }],
                }
            });
            events.push((seq, event));
        }
        Ok(events)
    }

    /// Removes `connector`'s events `seqs` (consumed by a finished run) durably.
    pub fn remove_events(&self, connector: &str, seqs: &[u64]) -> Result<(), SnapshotError> {
        let queue = self.db.open_tree(QUEUE_TREE).map_err(storage)?;
        let mut batch = sled::Batch::default();
        for seq in seqs {
            batch.remove(queue_key(connector, *seq));
        }
        queue.apply_batch(batch).map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    /// Forgets de-duplication keys of `connector` accepted before `before` (older requests are
    /// refused by their timestamp anyway). Returns how many were forgotten.
    pub fn prune_seen_events(
        &self,
        connector: &str,
        before: Timestamp,
    ) -> Result<usize, SnapshotError> {
        let seen = self.db.open_tree(SEEN_TREE).map_err(storage)?;
        let cutoff = before.as_millisecond();
        let mut batch = sled::Batch::default();
        let mut pruned = 0;
        for entry in seen.scan_prefix(prefix(connector)) {
            let (key, value) = entry.map_err(storage)?;
            let at = <[u8; 8]>::try_from(value.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MIN);
            if at < cutoff {
                batch.remove(key);
                pruned += 1;
            }
        }
        seen.apply_batch(batch).map_err(storage)?;
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserKey;

    fn event(key: &str) -> StoredEvent {
        StoredEvent {
            event_type: "user_modify_org".into(),
            received_at: Timestamp::now(),
            occurred_at: None,
            notices: vec![Notice::People {
                keys: vec![UserKey::new(key)],
            }],
        }
    }

    #[test]
    fn an_event_is_stored_once_and_survives_a_reopen_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let first;
        {
            let db = StateDb::open(dir.path()).unwrap();
            first = db.accept_event("hq", "abc", &event("u1")).unwrap();
            assert!(matches!(first, Acceptance::Stored(_)));
            assert_eq!(
                db.accept_event("hq", "abc", &event("u1")).unwrap(),
                Acceptance::Duplicate
            );
            // Another connector's same key is another event.
            assert!(matches!(
                db.accept_event("branch", "abc", &event("u2")).unwrap(),
                Acceptance::Stored(_)
            ));
        }
        let db = StateDb::open(dir.path()).unwrap();
        let queued = db.queued_events("hq").unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(Acceptance::Stored(queued[0].0), first);
        assert_eq!(queued[0].1.notices, event("u1").notices);
        db.remove_events("hq", &[queued[0].0]).unwrap();
        assert!(db.queued_events("hq").unwrap().is_empty());
        assert_eq!(db.queued_events("branch").unwrap().len(), 1);
        // Removed from the queue, still remembered as seen until pruned.
        assert_eq!(
            db.accept_event("hq", "abc", &event("u1")).unwrap(),
            Acceptance::Duplicate
        );
        let later = Timestamp::now() + jiff::SignedDuration::from_secs(1);
        assert_eq!(db.prune_seen_events("hq", later).unwrap(), 1);
        assert!(matches!(
            db.accept_event("hq", "abc", &event("u1")).unwrap(),
            Acceptance::Stored(_)
        ));
    }
}
