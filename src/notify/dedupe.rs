//! De-duplication: the same failure (channel, connector, event, error class) is sent once, then
//! only as a reminder after the channel's `remind_after`; a success clears the connector's
//! failures and says whether one of them had been sent (then `recovered` is due). The memory is
//! kept in the state (`StateDb`), so a restart neither re-sends nor forgets.

use super::message::Reminder;
use super::{Notice, NoticeKind};
use crate::config::NotifyEvent;
use crate::state::StateDb;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What is remembered of one failure sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DedupeRecord {
    pub event: NotifyEvent,
    /// When it was first sent.
    pub first: Timestamp,
    /// When it was last sent (first, or the last reminder).
    pub last_sent: Timestamp,
    /// How many times it happened since `first`.
    pub seen: u64,
}

/// Where the records live: the state database in the daemon, memory in tests.
pub trait DedupeStore: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<DedupeRecord>, String>;
    fn put(&self, key: &str, record: &DedupeRecord) -> Result<(), String>;
    /// Every record whose key starts with `prefix`.
    fn scan(&self, prefix: &str) -> Result<Vec<(String, DedupeRecord)>, String>;
    fn remove(&self, key: &str) -> Result<(), String>;
}

impl DedupeStore for StateDb {
    fn get(&self, key: &str) -> Result<Option<DedupeRecord>, String> {
        match self.notify_memory(key).map_err(|e| e.to_string())? {
            // A record this version cannot read is as good as none: at worst one message more.
            Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    }

    fn put(&self, key: &str, record: &DedupeRecord) -> Result<(), String> {
        let bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        self.remember_notify(key, &bytes).map_err(|e| e.to_string())
    }

    fn scan(&self, prefix: &str) -> Result<Vec<(String, DedupeRecord)>, String> {
        Ok(self
            .notify_memories(prefix)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?)))
            .collect())
    }

    fn remove(&self, key: &str) -> Result<(), String> {
        self.forget_notify(key).map_err(|e| e.to_string())
    }
}

/// Records in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryDedupe(Mutex<BTreeMap<String, DedupeRecord>>);

impl DedupeStore for MemoryDedupe {
    fn get(&self, key: &str) -> Result<Option<DedupeRecord>, String> {
        Ok(self.lock().get(key).copied())
    }
    fn put(&self, key: &str, record: &DedupeRecord) -> Result<(), String> {
        self.lock().insert(key.to_owned(), *record);
        Ok(())
    }
    fn scan(&self, prefix: &str) -> Result<Vec<(String, DedupeRecord)>, String> {
        Ok(self
            .lock()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }
    fn remove(&self, key: &str) -> Result<(), String> {
        self.lock().remove(key);
        Ok(())
    }
}

impl MemoryDedupe {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DedupeRecord>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a failure goes out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// First time (`None`) or a reminder.
    Send(Option<Reminder>),
    /// Sent already, within `remind_after`.
    Quiet,
}

fn connector_prefix(route: &str, connector: &str) -> String {
    format!("{route}\0{connector}\0")
}

/// What makes two failures "the same": the event and, for a failed run, its error with the
/// parts that change every time (numbers: request ids, timestamps, counts) left out.
fn class(notice: &Notice) -> String {
    match &notice.kind {
        NoticeKind::Failed { error } => {
            use sha2::Digest;
            let letters: String = error
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .take(200)
                .collect();
            let digest = sha2::Sha256::digest(letters.as_bytes());
            crate::hex::encode(&digest[..8])
        }
        _ => "-".into(),
    }
}

/// The memory's key for `notice` as `event` on `route`.
pub fn failure_key(route: &str, notice: &Notice, event: NotifyEvent) -> String {
    format!(
        "{}{}\0{}",
        connector_prefix(route, &notice.connector),
        event.as_str(),
        class(notice)
    )
}

/// A message decided as sent was not delivered: its record goes, so the next occurrence of the
/// same failure is sent as news instead of being kept quiet for `remind_after`.
pub fn forget(store: &dyn DedupeStore, key: &str) -> Result<(), String> {
    store.remove(key)
}

/// Decides a failure-like `notice` (as `event`) on `route`, and records it.
pub fn on_failure(
    store: &dyn DedupeStore,
    route: &str,
    notice: &Notice,
    event: NotifyEvent,
    remind_after: Duration,
) -> Result<Decision, String> {
    let key = failure_key(route, notice, event);
    let now = notice.at;
    let Some(mut record) = store.get(&key)? else {
        store.put(
            &key,
            &DedupeRecord {
                event,
                first: now,
                last_sent: now,
                seen: 1,
            },
        )?;
        return Ok(Decision::Send(None));
    };
    record.seen = record.seen.saturating_add(1);
    let quiet_until = record
        .last_sent
        .checked_add(
            jiff::SignedDuration::try_from(remind_after).unwrap_or(jiff::SignedDuration::MAX),
        )
        .unwrap_or(Timestamp::MAX);
    let decision = if now >= quiet_until {
        record.last_sent = now;
        Decision::Send(Some(Reminder {
            since: record.first,
            times: record.seen,
        }))
    } else {
        Decision::Quiet
    };
    store.put(&key, &record)?;
    Ok(decision)
}

/// A success of `connector`: forgets its failures (a new one is news again) and says whether
/// a failed run or a tripped breaker had been sent (then it has recovered). Throttles are kept:
/// a connector throttled every hour is told once a `remind_after`.
pub fn on_success(store: &dyn DedupeStore, route: &str, connector: &str) -> Result<bool, String> {
    let mut recovered = false;
    for (key, record) in store.scan(&connector_prefix(route, connector))? {
        match record.event {
            NotifyEvent::RunFailed | NotifyEvent::BreakerTripped => recovered = true,
            NotifyEvent::GuardRefused => {}
            _ => continue,
        }
        store.remove(&key)?;
    }
    Ok(recovered)
}
