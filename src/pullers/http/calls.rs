use super::{PullError, PullProgress};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts requests per endpoint and retries, for the report and the call-count contract tests,
/// and feeds the live [`PullProgress`] the engine publishes while the pull runs.
#[derive(Debug, Default)]
pub struct CallCounter {
    calls: Mutex<BTreeMap<String, u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    retries: AtomicU64,
    progress: Arc<PullProgress>,
}

impl CallCounter {
    /// The live progress of this puller's pulls (calls, people read, waits, the retry budget).
    pub fn progress(&self) -> &Arc<PullProgress> {
        &self.progress
    }

    pub fn record(&self, endpoint: &str) {
        self.progress.call();
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        *calls.entry(endpoint.to_owned()).or_default() += 1;
    }

    /// Counts a failed call under its error's code, when it has one.
    /// The code is `45009`, `http_502`, `transport`, `malformed`, … ([`PullError::metric_code`]).
    pub fn count_error(&self, error: &PullError) {
        if let Some(code) = error.metric_code() {
            let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
            *errors.entry(code).or_default() += 1;
        }
    }

    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns the counts so far and starts again from zero, with a new retry budget.
    pub fn take(&self, duration: std::time::Duration) -> crate::pullers::PullStats {
        self.progress.restart_budget();
        crate::pullers::PullStats {
            calls: std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner())),
            errors: std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner())),
            retries: self.retries.swap(0, Ordering::Relaxed),
            duration,
        }
    }
}
