//! Run history: every run's report, kept in the state database beside the snapshots, with bounded
//! retention per connector. Written by the daemon and by in-process `orgsync sync`; read by
//! `orgsync reports` and the admin API.

use crate::engine::RunMode;
use crate::plan::StepKind;
use crate::report::{Report, RunOutcome};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::state::History;

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
    /// How many upstream change events started the run; `None` for a run started otherwise
    /// (and in summaries written before event-driven runs existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<usize>,
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
            events: report.events.as_ref().map(|e| e.events),
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
