//! One timer task per scheduled connector. The next run is computed in the connector's time zone
//! (`config::Schedule`, daylight-saving rules there); the task sleeps until that instant, triggers,
//! and computes the next. A tick only triggers a run through [`Shared::trigger`], so scheduled runs
//! obey the same one-at-a-time and coalescing rule as "sync now". The timers are never asked to
//! handle signals: the daemon owns shutdown.

use super::state::{Shared, TriggerError};
use crate::config::{Config, Schedule};
use crate::engine::{RunMode, RunOptions};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The longest single sleep: the wall clock is looked at again at least this often, so a clock
/// set forward or back (NTP, a suspended VM) moves the runs with it.
const MAX_SLEEP: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("connector {connector:?}: {detail}")]
    Invalid { connector: String, detail: String },
    #[cfg(debug_assertions)]
    #[error("connector {connector:?}: the schedule cannot be installed (debug hook)")]
    Refused { connector: String },
}

pub struct Scheduler {
    jobs: BTreeMap<String, Timer>,
}

/// The timers of a new configuration, ticking but not yet the running ones.
pub struct Staged {
    jobs: BTreeMap<String, Timer>,
}

/// A connector's timer task; dropping it stops the task.
struct Timer {
    task: JoinHandle<()>,
    next: Arc<Mutex<Option<Timestamp>>>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scheduler {
    pub async fn start(shared: &Arc<Shared>, config: &Config) -> Result<Self, ScheduleError> {
        let mut scheduler = Scheduler {
            jobs: BTreeMap::new(),
        };
        scheduler.jobs = scheduler.stage(shared, config).await?.jobs;
        Ok(scheduler)
    }

    /// Starts the timers of `config` beside the running ones; they take over at
    /// [`Scheduler::commit`]. On an error, the timers started so far are stopped again and the
    /// running ones are untouched. (A staged timer that ticks before the commit only triggers a
    /// run, which coalesces with the old timer's or names a connector not there yet.)
    pub async fn stage(
        &mut self,
        shared: &Arc<Shared>,
        config: &Config,
    ) -> Result<Staged, ScheduleError> {
        let mut staged = Staged {
            jobs: BTreeMap::new(),
        };
        for (name, connector) in &config.connectors {
            let invalid = |detail: String| ScheduleError::Invalid {
                connector: name.clone(),
                detail,
            };
            let zone = connector.zone().map_err(invalid)?;
            let zone_name = zone.name.clone();
            let Some(schedule) = connector.schedule_in(zone).map_err(invalid)? else {
                continue;
            };
            #[cfg(debug_assertions)]
            if super::debug_hooks::schedule_fails(name) {
                // `staged` drops here: its timers stop.
                return Err(ScheduleError::Refused {
                    connector: name.clone(),
                });
            }
            let jitter = connector.jitter.map(|j| j.0).unwrap_or_default();
            let next = schedule.next_after(Timestamp::now());
            info!(
                connector = name,
                schedule = connector.schedule.as_deref().unwrap_or_default(),
                timezone = zone_name,
                next_run = ?next.map(|at| at.to_string()),
                "Connector scheduled."
            );
            let next = Arc::new(Mutex::new(next));
            let task = tokio::spawn(tick(
                schedule,
                Arc::clone(&next),
                Arc::downgrade(shared),
                name.clone(),
                jitter,
            ));
            staged.jobs.insert(name.clone(), Timer { task, next });
        }
        Ok(staged)
    }

    /// The staged timers become the running ones; the old stop.
    pub async fn commit(&mut self, staged: Staged) {
        self.jobs = staged.jobs;
    }

    /// The next tick of each scheduled connector (jitter not included).
    pub async fn next_runs(&mut self) -> BTreeMap<String, Timestamp> {
        self.jobs
            .iter()
            .filter_map(|(name, timer)| {
                let next = *timer.next.lock().unwrap_or_else(|e| e.into_inner());
                next.map(|at| (name.clone(), at))
            })
            .collect()
    }

    /// Stops ticking. A jittered trigger already waiting still asks, and is refused as the daemon
    /// is stopping.
    pub async fn stop(self) {
        drop(self.jobs);
    }
}

/// A connector's timer: sleep until the next run, trigger it (after its jitter, in a task of its
/// own so the next run is timed from the schedule, not the jitter), compute the next.
async fn tick(
    schedule: Schedule,
    next: Arc<Mutex<Option<Timestamp>>>,
    shared: Weak<Shared>,
    name: String,
    jitter: Duration,
) {
    let set = |at: Option<Timestamp>| *next.lock().unwrap_or_else(|e| e.into_inner()) = at;
    let mut due = *next.lock().unwrap_or_else(|e| e.into_inner());
    while let Some(at) = due {
        let now = Timestamp::now();
        if now < at {
            let left = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
            tokio::time::sleep(left.min(MAX_SLEEP)).await;
            continue;
        }
        tokio::spawn(trigger(shared.clone(), name.clone(), jitter));
        // From now, not from `at`: runs a stopped clock or a busy machine missed are not made up.
        due = schedule.next_after(now);
        set(due);
    }
    warn!(
        connector = name,
        "The schedule names no further date; no more scheduled runs."
    );
}

async fn trigger(shared: Weak<Shared>, name: String, jitter: Duration) {
    let delay = random_delay(jitter);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Some(shared) = shared.upgrade() else {
        return;
    };
    match shared.trigger(&name, RunOptions::new(RunMode::Apply)) {
        Ok(accepted) if accepted.coalesced => info!(
            connector = name,
            run_id = accepted.run_id,
            "Scheduled run joins the run already queued."
        ),
        Ok(accepted) => info!(
            connector = name,
            run_id = accepted.run_id,
            queued = accepted.queued,
            "Scheduled run triggered."
        ),
        Err(TriggerError::Stopping) => {}
        Err(e) => warn!(connector = name, error = %e, "Scheduled run not started."),
    }
}

/// Uniform in `[0, max)`; no cryptographic quality needed, so std's random hasher keys suffice.
fn random_delay(max: Duration) -> Duration {
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(RandomState::new().hash_one(std::time::Instant::now()) % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_below_its_bound_and_varies() {
        let max = Duration::from_millis(50);
        let delays: Vec<Duration> = (0..64).map(|_| random_delay(max)).collect();
        assert!(delays.iter().all(|d| *d < max));
        assert!(delays.iter().any(|d| *d != delays[0]));
        assert_eq!(random_delay(Duration::ZERO), Duration::ZERO);
    }
}
