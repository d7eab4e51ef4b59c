//! What orgsync last applied to each connector's target, and where it is kept.

mod memory;
mod state;

pub use memory::MemoryStore;
pub use state::{AppliedGroup, AppliedUser, Snapshot, SnapshotChange};

use std::path::PathBuf;

/// Persistence of snapshots. `commit` must be durable when it returns: the engine calls it only
/// with changes the target acknowledged, and a crash right after must not lose them.
pub trait SnapshotStore: Send + Sync + 'static {
    fn load(&self, connector: &str) -> Result<Snapshot, SnapshotError>;
    fn commit(&self, connector: &str, changes: &[SnapshotChange]) -> Result<(), SnapshotError>;
    /// Replaces a connector's whole snapshot (used when rebuilding it from the target).
    fn replace(&self, connector: &str, snapshot: &Snapshot) -> Result<(), SnapshotError>;

    /// Adds `calls` (per endpoint) to `connector`'s count of calls to metered endpoints (those
    /// an upstream counts against a monthly quota) in calendar month `month` (`2026-12`), and
    /// returns the month's totals for those endpoints. A store that keeps no such count (tests)
    /// returns `calls` as they are.
    fn count_metered_calls(
        &self,
        connector: &str,
        month: &str,
        calls: &std::collections::BTreeMap<String, u64>,
    ) -> Result<std::collections::BTreeMap<String, u64>, SnapshotError> {
        let _ = (connector, month);
        Ok(calls.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("state directory {path} is in use by {}", holder(owner))]
    Locked {
        path: PathBuf,
        /// The process holding it, when it noted itself and is still alive.
        owner: Option<crate::state::Owner>,
    },
    #[error("cannot open state directory {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state directory {path} holds snapshot format {found}; this orgsync reads format {expected}"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error(
        "state database {path} is unreadable ({detail}); it may be damaged: move it aside and rebuild \
         each connector's snapshot from the target with `orgsync snapshot rebuild NAME`"
    )]
    Unreadable { path: PathBuf, detail: String },
    #[error("snapshot of connector {connector} is corrupt at user {key:?}: {detail}")]
    Corrupt {
        connector: String,
        key: String,
        detail: String,
    },
    #[error("cannot use the plan key {path}: {source}")]
    Key {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state storage failed: {0}")]
    Storage(String),
}

fn holder(owner: &Option<crate::state::Owner>) -> String {
    match owner {
        Some(owner) => format!("another orgsync process, {owner}"),
        None => "another orgsync process".into(),
    }
}
