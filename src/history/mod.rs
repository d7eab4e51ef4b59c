//! Run history: every run's report, kept in the state database beside the snapshots, with bounded
//! retention per connector. Written by the daemon and by in-process `orgsync sync`; read by
//! `orgsync reports` and the admin API.

#[cfg(test)]
mod tests;

use crate::engine::RunMode;
use crate::plan::StepKind;
use crate::report::{Report, RunOutcome};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracing::instrument;

/// Whole reports, by entry key.
const REPORTS_TREE: &str = "history/reports";
/// The summary of each report (what a listing shows), by entry key.
const SUMMARIES_TREE: &str = "history/summaries";
/// Run id → entry key.
const IDS_TREE: &str = "history/ids";

/// The line a listing shows for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub connector: String,
    pub mode: RunMode,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: RunOutcome,
    /// Steps per kind, only the kinds present.
    pub counts: BTreeMap<StepKind, usize>,
}

impl RunSummary {
    pub fn of(report: &Report) -> Self {
        RunSummary {
            run_id: report.run_id.clone(),
            connector: report.connector.clone(),
            mode: report.mode,
            started_at: report.started_at,
            finished_at: report.finished_at,
            outcome: report.outcome.clone(),
            counts: report
                .counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (*k, *n))
                .collect(),
        }
    }

    pub fn steps(&self) -> usize {
        self.counts.values().sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("run history storage failed: {0}")]
    Storage(String),
    #[error("run history entry {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
}

/// The run history of one state database. Cheap to clone (sled trees are handles).
#[derive(Debug, Clone)]
pub struct History {
    reports: sled::Tree,
    summaries: sled::Tree,
    ids: sled::Tree,
    keep: usize,
}

impl History {
    /// Opens the history trees in `db`, keeping at most `keep` runs per connector.
    pub fn open(db: &sled::Db, keep: usize) -> Result<Self, HistoryError> {
        Ok(History {
            reports: db.open_tree(REPORTS_TREE).map_err(storage)?,
            summaries: db.open_tree(SUMMARIES_TREE).map_err(storage)?,
            ids: db.open_tree(IDS_TREE).map_err(storage)?,
            keep: keep.max(1),
        })
    }

    pub fn set_keep(&mut self, keep: usize) {
        self.keep = keep.max(1);
    }

    /// Stores a finished run's report (replacing one with the same run id), then drops the
    /// connector's oldest runs beyond the retention, and flushes.
    #[instrument(level = "debug", skip(self, report), fields(run_id = %report.run_id))]
    pub fn record(&self, report: &Report) -> Result<(), HistoryError> {
        let key = entry_key(&report.connector, report.started_at, &report.run_id);
        let json = serde_json::to_vec(report).map_err(|e| HistoryError::Storage(e.to_string()))?;
        let summary = serde_json::to_vec(&RunSummary::of(report))
            .map_err(|e| HistoryError::Storage(e.to_string()))?;
        if let Some(old) = self.ids.get(&report.run_id).map_err(storage)? {
            self.remove_entry(&old, None)?;
        }
        self.reports.insert(&key, json).map_err(storage)?;
        self.summaries.insert(&key, summary).map_err(storage)?;
        self.ids
            .insert(report.run_id.as_bytes(), key.as_slice())
            .map_err(storage)?;
        self.trim(&report.connector)?;
        self.reports.flush().map_err(storage)?;
        Ok(())
    }

    /// Keeps the newest `keep` runs of `connector`.
    fn trim(&self, connector: &str) -> Result<(), HistoryError> {
        let prefix = connector_prefix(connector);
        let keys: Vec<sled::IVec> = self
            .summaries
            .scan_prefix(&prefix)
            .keys()
            .collect::<Result<_, _>>()
            .map_err(storage)?;
        let excess = keys.len().saturating_sub(self.keep);
        for key in &keys[..excess] {
            let run_id = self.summary_at(key)?.map(|s| s.run_id).unwrap_or_default();
            self.remove_entry(key, Some(&run_id))?;
        }
        Ok(())
    }

    fn remove_entry(&self, key: &[u8], run_id: Option<&str>) -> Result<(), HistoryError> {
        self.reports.remove(key).map_err(storage)?;
        self.summaries.remove(key).map_err(storage)?;
        if let Some(run_id) = run_id {
            self.ids.remove(run_id.as_bytes()).map_err(storage)?;
        }
        Ok(())
    }

    fn summary_at(&self, key: &[u8]) -> Result<Option<RunSummary>, HistoryError> {
        self.summaries
            .get(key)
            .map_err(storage)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    /// Runs newest first: of one connector, or of all of them; at most `limit`.
    pub fn list(
        &self,
        connector: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, HistoryError> {
        let mut runs: Vec<RunSummary> = match connector {
            Some(name) => self
                .summaries
                .scan_prefix(connector_prefix(name))
                .rev()
                .take(limit)
                .map(|item| {
                    let (key, value) = item.map_err(storage)?;
                    decode(&key, &value)
                })
                .collect::<Result<_, _>>()?,
            None => self
                .summaries
                .iter()
                .map(|item| {
                    let (key, value) = item.map_err(storage)?;
                    decode(&key, &value)
                })
                .collect::<Result<_, _>>()?,
        };
        runs.sort_by(|a, b| (b.started_at, &b.run_id).cmp(&(a.started_at, &a.run_id)));
        runs.truncate(limit);
        Ok(runs)
    }

    /// The newest run of `connector`, if any.
    pub fn latest(&self, connector: &str) -> Result<Option<RunSummary>, HistoryError> {
        Ok(self.list(Some(connector), 1)?.into_iter().next())
    }

    /// The report of one run.
    pub fn get(&self, run_id: &str) -> Result<Option<Report>, HistoryError> {
        let Some(key) = self.ids.get(run_id.as_bytes()).map_err(storage)? else {
            return Ok(None);
        };
        self.reports
            .get(&key)
            .map_err(storage)?
            .map(|v| decode(&key, &v))
            .transpose()
    }
}

/// `connector \0 started-at (microseconds, fixed width) \0 run id`: a connector's runs sort
/// oldest first, and a prefix scan lists one connector.
fn entry_key(connector: &str, started_at: Timestamp, run_id: &str) -> Vec<u8> {
    let micros = started_at.as_microsecond().max(0);
    let mut key = connector_prefix(connector);
    key.extend_from_slice(format!("{micros:020}").as_bytes());
    key.push(0);
    key.extend_from_slice(run_id.as_bytes());
    key
}

fn connector_prefix(connector: &str) -> Vec<u8> {
    let mut key = connector.as_bytes().to_vec();
    key.push(0);
    key
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, HistoryError> {
    serde_json::from_slice(value).map_err(|e| HistoryError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        detail: e.to_string(),
    })
}

fn storage(error: sled::Error) -> HistoryError {
    HistoryError::Storage(error.to_string())
}
