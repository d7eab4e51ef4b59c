//! The run history in the state database: every run's report and its summary, newest first per
//! connector, bounded by `history.keep` (trees history/{reports,summaries,ids}).

use crate::history::{HistoryError, RunSummary};
use crate::report::Report;
use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use tracing::instrument;

/// Whole reports, by entry key.
const REPORTS_TREE: &str = "history/reports";
/// The summary of each report (what a listing shows), by entry key.
const SUMMARIES_TREE: &str = "history/summaries";
/// Run id → entry key.
const IDS_TREE: &str = "history/ids";

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
    pub(super) fn open(db: &sled::Db, keep: usize) -> Result<Self, HistoryError> {
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

    /// Stores a finished run's report (replacing one with the same run id) and drops the
    /// connector's oldest runs beyond the retention, in one transaction, then flushes: a crash
    /// leaves the history as it was before or after, never a report without its summary.
    #[instrument(level = "debug", skip(self, report), fields(run_id = %report.run_id))]
    pub fn record(&self, report: &Report) -> Result<(), HistoryError> {
        let key = entry_key(&report.connector, report.started_at, &report.run_id);
        let json = serde_json::to_vec(report).map_err(|e| HistoryError::Storage(e.to_string()))?;
        let summary = serde_json::to_vec(&RunSummary::of(report))
            .map_err(|e| HistoryError::Storage(e.to_string()))?;
        let old = self.ids.get(&report.run_id).map_err(storage)?;
        let dropped =
            self.beyond_retention(&report.connector, (&key, &report.run_id), old.as_deref())?;
        (&self.reports, &self.summaries, &self.ids)
            .transaction(|(reports, summaries, ids)| {
                if let Some(old) = &old {
                    reports.remove(old)?;
                    summaries.remove(old)?;
                }
                reports.insert(key.as_slice(), json.as_slice())?;
                summaries.insert(key.as_slice(), summary.as_slice())?;
                ids.insert(report.run_id.as_bytes(), key.as_slice())?;
                for (dropped_key, run_id) in &dropped {
                    reports.remove(dropped_key.as_slice())?;
                    summaries.remove(dropped_key.as_slice())?;
                    ids.remove(run_id.as_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| HistoryError::Storage(format!("{e:?}")))?;
        self.reports.flush().map_err(storage)?;
        Ok(())
    }

    /// The entries (key, run id) the connector's history loses when `new` (key, run id) joins it
    /// and `old` leaves it: the oldest beyond the newest `keep`.
    fn beyond_retention(
        &self,
        connector: &str,
        (key, run_id): (&[u8], &str),
        old: Option<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, String)>, HistoryError> {
        let mut keys: Vec<Vec<u8>> = self
            .summaries
            .scan_prefix(connector_prefix(connector))
            .keys()
            .map(|k| k.map(|k| k.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(storage)?;
        keys.retain(|k| Some(k.as_slice()) != old && k.as_slice() != key);
        keys.push(key.to_vec());
        keys.sort();
        let excess = keys.len().saturating_sub(self.keep);
        keys.truncate(excess);
        keys.into_iter()
            .map(|k| {
                let run_id = if k.as_slice() == key {
                    Some(run_id.to_owned())
                } else {
                    self.summary_at(&k)?.map(|s| s.run_id)
                };
                Ok((k, run_id.unwrap_or_default()))
            })
            .collect()
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
