//! Delivery ids (`X-Orgsync-Delivery`, `Idempotency-Key`): one per pending change, reused by every
//! retry of it, new for a change that happens again after it was acknowledged.
//!
//! A change is named by a hash of the connector, the person's key, the event type and the event
//! content. The content alone cannot be the id: a change can recur with the same content (a
//! manager link cleared when someone is deactivated and set again, identically, when they come
//! back), and a receiver that skips known ids would drop the second one. So the first delivery
//! of a change draws a fresh id, and the id is kept until the receiver acknowledges it: retries
//! within a run and in later runs of this process carry the same id. After a restart a change
//! still pending draws a new one.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pending changes remembered at most; beyond it (a receiver down for long over a huge org) the
/// memory is cleared and the changes still pending get new ids, as after a restart.
const MAX_PENDING: usize = 100_000;

pub(super) struct DeliveryIds {
    nonce: [u8; 16],
    sequence: AtomicU64,
    pending: Mutex<HashMap<String, String>>,
}

impl DeliveryIds {
    pub(super) fn new() -> Self {
        // Ids of another process (an earlier run of orgsync) must not repeat: std's per-process
        // random hasher keys and the clock make the nonce.
        let random = std::collections::hash_map::RandomState::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&random.hash_one(now).to_be_bytes());
        nonce[8..].copy_from_slice(&random.hash_one(std::process::id()).to_be_bytes());
        DeliveryIds {
            nonce,
            sequence: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The change's name: the same connector, person, event type and content give the same one.
    pub(super) fn change(connector: &str, user: &str, kind: &str, content: &[u8]) -> String {
        let mut hash = Sha256::new();
        for part in [
            connector.as_bytes(),
            user.as_bytes(),
            kind.as_bytes(),
            content,
        ] {
            // Length-prefixed, so no two different tuples hash the same bytes.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        crate::hex::encode(&hash.finalize())
    }

    /// The id of the change's delivery: the pending one if the change was sent before and not
    /// acknowledged, else a new one.
    pub(super) fn id_for(&self, change: &str) -> String {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = pending.get(change) {
            return id.clone();
        }
        if pending.len() >= MAX_PENDING {
            pending.clear();
        }
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut hash = Sha256::new();
        hash.update(self.nonce);
        hash.update(sequence.to_be_bytes());
        hash.update(change.as_bytes());
        let id = crate::hex::encode(&hash.finalize()[..16]);
        pending.insert(change.to_owned(), id.clone());
        id
    }

    /// The receiver stored it: a recurrence of the same change is a new delivery.
    pub(super) fn acknowledged(&self, change: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_named_by_their_parts() {
        let a = DeliveryIds::change("hq", "lin", "user.updated", b"{\"x\":1}");
        assert_eq!(
            a,
            DeliveryIds::change("hq", "lin", "user.updated", b"{\"x\":1}")
        );
        for other in [
            DeliveryIds::change("hq2", "lin", "user.updated", b"{\"x\":1}"),
            DeliveryIds::change("hq", "lin2", "user.updated", b"{\"x\":1}"),
            DeliveryIds::change("hq", "lin", "user.deleted", b"{\"x\":1}"),
            DeliveryIds::change("hq", "lin", "user.updated", b"{\"x\":2}"),
            DeliveryIds::change("hql", "in", "user.updated", b"{\"x\":1}"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn a_pending_change_keeps_its_id_and_a_recurrence_gets_a_new_one() {
        let ids = DeliveryIds::new();
        let change = DeliveryIds::change("hq", "lin", "manager.changed", b"{}");
        let first = ids.id_for(&change);
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(ids.id_for(&change), first, "a retry reuses the id");
        ids.acknowledged(&change);
        let again = ids.id_for(&change);
        assert_ne!(again, first, "the same change later is a new delivery");
        assert_ne!(
            DeliveryIds::new().id_for(&change),
            again,
            "another process draws other ids"
        );
    }
}
