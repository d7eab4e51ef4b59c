//! Notifications to IM group robots and webhooks (`[[notify]]`): what happened to a connector,
//! told to the admins where they live. Nothing here can fail or slow a run: the daemon hands a
//! [`Notice`] to [`Notices`] after the run is recorded, and a task of its own decides (routes,
//! de-duplication in the state) and delivers (per channel: rate limit, retries).

pub mod channels;
mod dedupe;
mod delivery;
mod limiter;
mod message;
mod metrics;
mod throttle;

pub use channels::{Channel, ChannelError, SendError};
pub use dedupe::{DedupeRecord, DedupeStore, MemoryDedupe};
pub use delivery::{Notices, Pacing, Retry, Route, Routes, build_routes, deliver};
pub use limiter::RateLimit;
pub use message::Message;
pub use metrics::NotifyMetrics;
pub use throttle::watch_throttle;

use crate::config::NotifyEvent;
use crate::plan::{StepKind, Verdict};
use crate::report::{Report, RunOutcome};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// Something that happened to a connector, before any channel's rules apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub connector: String,
    /// The run it is about (a run that failed before it had a report still has its id).
    pub run_id: Option<String>,
    pub at: Timestamp,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeKind {
    /// The run failed with nothing written (a pull or set-up error, or no report at all).
    Failed { error: String },
    /// The deletion guard kept the plan for approval.
    Refused {
        removals: usize,
        group_deletions: usize,
    },
    /// The circuit breaker stopped the run.
    BreakerTripped { failures: usize, left: usize },
    /// A pull is waiting out a throttle this long (seconds).
    Throttled { platform: String, seconds: u64 },
    /// The run ended well: the base of `recovered` and `applied`.
    Succeeded {
        mode: crate::engine::RunMode,
        counts: BTreeMap<StepKind, usize>,
    },
}

impl NoticeKind {
    /// The event a failure-like notice is (success has two: recovered and applied).
    pub fn event(&self) -> Option<NotifyEvent> {
        match self {
            NoticeKind::Failed { .. } => Some(NotifyEvent::RunFailed),
            NoticeKind::Refused { .. } => Some(NotifyEvent::GuardRefused),
            NoticeKind::BreakerTripped { .. } => Some(NotifyEvent::BreakerTripped),
            NoticeKind::Throttled { .. } => Some(NotifyEvent::ThrottledLong),
            NoticeKind::Succeeded { .. } => None,
        }
    }
}

impl Notice {
    /// What a finished run's report means for the admins; `None` when nothing (an interrupted
    /// run: the next one says how it went).
    pub fn of_report(report: &Report) -> Option<Notice> {
        let kind = match &report.outcome {
            RunOutcome::Failed { error } => NoticeKind::Failed {
                error: error.clone(),
            },
            RunOutcome::Refused { .. } => {
                let (removals, group_deletions) = match &report.guard {
                    Some(Verdict::Refused {
                        removals,
                        group_deletions,
                        ..
                    }) => (*removals, *group_deletions),
                    _ => (0, 0),
                };
                NoticeKind::Refused {
                    removals,
                    group_deletions,
                }
            }
            RunOutcome::BreakerTripped {
                consecutive_failures,
                left,
            } => NoticeKind::BreakerTripped {
                failures: *consecutive_failures,
                left: *left,
            },
            RunOutcome::Planned | RunOutcome::Applied | RunOutcome::PartiallyApplied { .. } => {
                NoticeKind::Succeeded {
                    mode: report.mode,
                    counts: crate::history::RunSummary::of(report).counts,
                }
            }
            RunOutcome::Running | RunOutcome::Interrupted { .. } => return None,
        };
        Some(Notice {
            connector: report.connector.clone(),
            run_id: Some(report.run_id.clone()),
            at: report.finished_at.unwrap_or(report.started_at),
            kind,
        })
    }

    /// A run that ended without a report (the state storage failed, say).
    pub fn failed_without_report(connector: &str, run_id: &str, error: &str) -> Notice {
        Notice {
            connector: connector.to_owned(),
            run_id: Some(run_id.to_owned()),
            at: Timestamp::now(),
            kind: NoticeKind::Failed {
                error: error.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
