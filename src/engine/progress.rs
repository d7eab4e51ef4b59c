//! How a run tells the daemon (and `orgsync sync --wait`) where it is.

use crate::config::ProcessMode;
use crate::pullers::http::PullCounts;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    #[default]
    Queued,
    /// Checking the target accepts the credentials, before anything is pulled.
    Checking,
    Pulling,
    Planning,
    Applying,
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Progress {
    pub stage: Stage,
    /// Steps finished (applied, failed or held back) out of `total`.
    pub done: usize,
    pub total: usize,
    /// The pull so far: calls made, people read, the estimate, a wait in progress. Updated
    /// while pulling; after it, the pull's final counts.
    #[serde(default)]
    pub pull: PullCounts,
}

/// What a caller supplies besides the options: a run id chosen in advance (the daemon answers
/// "sync now" with it before the run starts), where to publish progress, and how the process
/// runs (which sets how long a pull may wait out a throttle).
#[derive(Debug, Default, Clone)]
pub struct RunContext {
    pub run_id: Option<String>,
    pub progress: Option<watch::Sender<Progress>>,
    pub mode: ProcessMode,
}

impl RunContext {
    pub(crate) fn publish(&self, change: impl FnOnce(&mut Progress)) {
        if let Some(progress) = &self.progress {
            progress.send_modify(change);
        }
    }
}

/// Resolves once `stop` turns true; never, if nobody can set it any more.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pullers::Platform;
    use crate::pullers::http::{WaitReason, Waiting};

    #[test]
    fn the_pull_travels_in_the_status_json_and_older_json_still_reads() {
        let progress = Progress {
            stage: Stage::Pulling,
            pull: PullCounts {
                calls: 31,
                people: 1200,
                people_total: Some(3000),
                eta_seconds: Some(40),
                waiting: Some(Waiting {
                    platform: Platform::Dingtalk,
                    reason: WaitReason::Throttled,
                    seconds: 300,
                }),
            },
            ..Progress::default()
        };
        let json = serde_json::to_value(progress).unwrap();
        assert_eq!(json["pull"]["waiting"]["platform"], "dingtalk");
        assert_eq!(json["pull"]["waiting"]["reason"], "throttled");
        assert_eq!(serde_json::from_value::<Progress>(json).unwrap(), progress);
        let older: Progress =
            serde_json::from_str(r#"{"stage":"pulling","done":0,"total":0}"#).unwrap();
        assert_eq!(older.pull, PullCounts::default());
    }
}
