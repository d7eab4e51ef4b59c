//! `throttled_long`: told while the pull waits, not after (the wait may be an hour). Watches a
//! run's published progress and hands over one notice per run, the first time a throttle wait
//! reaches the shortest `throttled_long_after` of the channels that want it.

use super::{Notice, NoticeKind, Notices};
use crate::engine::{Progress, Stage};
use crate::pullers::http::WaitReason;
use tokio::sync::watch;

/// Runs until the run finishes (or its progress sender is gone).
pub async fn watch_throttle(
    notices: Notices,
    connector: String,
    run_id: String,
    mut progress: watch::Receiver<Progress>,
) {
    let Some(floor) = notices.throttle_floor(&connector) else {
        return;
    };
    while progress.changed().await.is_ok() {
        let (stage, waiting) = {
            let p = progress.borrow_and_update();
            (p.stage, p.pull.waiting)
        };
        if stage == Stage::Finished {
            return;
        }
        if let Some(wait) = waiting
            && wait.reason == WaitReason::Throttled
            && wait.seconds >= floor.as_secs()
        {
            notices.send(Notice {
                connector,
                run_id: Some(run_id),
                at: jiff::Timestamp::now(),
                kind: NoticeKind::Throttled {
                    platform: wait.platform.to_string(),
                    seconds: wait.seconds,
                },
            });
            return;
        }
    }
}
