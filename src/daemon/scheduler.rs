//! One tokio-cron-scheduler job per scheduled connector, used only as the trigger: it fires every
//! second and starts a run when the next run computed in the connector's time zone is due
//! (`config::Schedule`; the daylight-saving rules are there, because the scheduler's own zoned
//! jobs keep the offset they were made with). A tick only triggers a run through
//! [`Shared::trigger`], so scheduled runs obey the same one-at-a-time and coalescing rule as
//! "sync now". The scheduler is never asked to handle signals: the daemon owns shutdown.

use super::state::{Shared, TriggerError};
use crate::config::{Config, Schedule};
use crate::engine::{RunMode, RunOptions};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{error, info, warn};
use uuid::Uuid;

/// How often each connector's job looks at the wall clock. A clock set forward or back (NTP, a
/// suspended VM) moves the runs with it; a run starts at most this late.
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("connector {connector:?}: {detail}")]
    Invalid { connector: String, detail: String },
    #[error("the scheduler refused a job: {0}")]
    Scheduler(#[from] JobSchedulerError),
    #[cfg(debug_assertions)]
    #[error("connector {connector:?}: the schedule cannot be installed (debug hook)")]
    Refused { connector: String },
}

pub struct Scheduler {
    inner: JobScheduler,
    jobs: BTreeMap<String, Timer>,
}

/// The jobs of a new configuration, installed but not yet the running ones.
pub struct Staged {
    jobs: BTreeMap<String, Timer>,
}

/// A connector's job in the scheduler and the next run it waits for.
struct Timer {
    id: Uuid,
    next: Arc<Mutex<Option<Timestamp>>>,
}

impl Scheduler {
    pub async fn start(shared: &Arc<Shared>, config: &Config) -> Result<Self, ScheduleError> {
        let inner = JobScheduler::new().await?;
        let mut scheduler = Scheduler {
            inner,
            jobs: BTreeMap::new(),
        };
        scheduler.jobs = scheduler.stage(shared, config).await?.jobs;
        scheduler.inner.start().await?;
        Ok(scheduler)
    }

    /// Installs the jobs of `config` beside the running ones; they take over at
    /// [`Scheduler::commit`]. On an error, the jobs installed so far are removed again and the
    /// running ones are untouched. (A staged job that fires before the commit only triggers a
    /// run, which coalesces with the old job's or names a connector not there yet.)
    pub async fn stage(
        &mut self,
        shared: &Arc<Shared>,
        config: &Config,
    ) -> Result<Staged, ScheduleError> {
        let mut staged = Staged {
            jobs: BTreeMap::new(),
        };
        match self.install(shared, config, &mut staged).await {
            Ok(()) => Ok(staged),
            Err(e) => {
                self.remove_all(staged.jobs, "staged").await;
                Err(e)
            }
        }
    }

    async fn install(
        &self,
        shared: &Arc<Shared>,
        config: &Config,
        staged: &mut Staged,
    ) -> Result<(), ScheduleError> {
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
            let job = job(
                schedule,
                Arc::clone(&next),
                Arc::downgrade(shared),
                name.clone(),
                jitter,
            )?;
            let id = self.inner.add(job).await?;
            staged.jobs.insert(name.clone(), Timer { id, next });
        }
        Ok(())
    }

    /// The staged jobs become the running ones; the old are removed.
    pub async fn commit(&mut self, staged: Staged) {
        let old = std::mem::replace(&mut self.jobs, staged.jobs);
        self.remove_all(old, "replaced").await;
    }

    async fn remove_all(&self, jobs: BTreeMap<String, Timer>, which: &str) {
        for (name, timer) in jobs {
            if let Err(e) = self.inner.remove(&timer.id).await {
                error!(
                    connector = name, jobs = which, error = %e,
                    "Cannot remove a schedule; it may still trigger runs until orgsync restarts."
                );
            }
        }
    }

    /// The next run of each scheduled connector (jitter not included).
    pub async fn next_runs(&mut self) -> BTreeMap<String, Timestamp> {
        self.jobs
            .iter()
            .filter_map(|(name, timer)| {
                let next = *timer.next.lock().unwrap_or_else(|e| e.into_inner());
                next.map(|at| (name.clone(), at))
            })
            .collect()
    }

    /// Stops ticking. Bounded: a scheduler that does not stop in time is dropped with the
    /// runtime. A jittered trigger already waiting still asks, and is refused as the daemon is
    /// stopping.
    pub async fn stop(mut self) {
        for (_, timer) in std::mem::take(&mut self.jobs) {
            let _ = self.inner.remove(&timer.id).await;
        }
        if tokio::time::timeout(Duration::from_secs(1), self.inner.shutdown())
            .await
            .is_err()
        {
            warn!("The scheduler did not stop within 1 s; leaving it.");
        }
    }
}

/// A connector's job: every tick, if the next run is due, trigger it (after its jitter, in a task
/// of its own so the next run is timed from the schedule, not the jitter) and compute the next
/// from now — runs a stopped clock or a busy machine missed are not made up.
fn job(
    schedule: Schedule,
    next: Arc<Mutex<Option<Timestamp>>>,
    shared: Weak<Shared>,
    name: String,
    jitter: Duration,
) -> Result<Job, JobSchedulerError> {
    Job::new_repeated(TICK, move |_, _| {
        let now = Timestamp::now();
        let mut due = next.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = *due else {
            return;
        };
        if now < at {
            return;
        }
        tokio::spawn(trigger(shared.clone(), name.clone(), jitter));
        *due = schedule.next_after(now);
        if due.is_none() {
            warn!(
                connector = name,
                "The schedule names no further date; no more scheduled runs."
            );
        }
    })
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
