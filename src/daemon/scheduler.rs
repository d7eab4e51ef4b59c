//! One cron job per scheduled connector (tokio-cron-scheduler). A tick only triggers a run through
//! [`Shared::trigger`], so scheduled runs obey the same one-at-a-time and coalescing rule as
//! "sync now". The scheduler is never asked to handle signals: the daemon owns shutdown.

use super::state::{Shared, TriggerError};
use crate::config::Config;
use crate::engine::{RunMode, RunOptions};
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{error, info, warn};
use uuid::Uuid;

pub struct Scheduler {
    inner: JobScheduler,
    jobs: BTreeMap<String, Uuid>,
}

/// The jobs of a new configuration, installed but not yet the running ones.
pub struct Staged {
    jobs: BTreeMap<String, Uuid>,
}

impl Scheduler {
    pub async fn start(shared: &Arc<Shared>, config: &Config) -> Result<Self, JobSchedulerError> {
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
    /// running ones are untouched. (A staged job that ticks before the commit only triggers a
    /// run, which coalesces with the old job's or names a connector not there yet.)
    pub async fn stage(
        &mut self,
        shared: &Arc<Shared>,
        config: &Config,
    ) -> Result<Staged, JobSchedulerError> {
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
    ) -> Result<(), JobSchedulerError> {
        for (name, connector) in &config.connectors {
            let Some(schedule) = &connector.schedule else {
                continue;
            };
            #[cfg(debug_assertions)]
            if super::debug_hooks::schedule_fails(name) {
                return Err(JobSchedulerError::CantAdd);
            }
            let jitter = connector.jitter.map(|j| j.0).unwrap_or_default();
            let job = job(schedule, Arc::downgrade(shared), name.clone(), jitter)?;
            let id = self.inner.add(job).await?;
            staged.jobs.insert(name.clone(), id);
            info!(connector = name, schedule, "Connector scheduled.");
        }
        Ok(())
    }

    /// The staged jobs become the running ones; the old are removed.
    pub async fn commit(&mut self, staged: Staged) {
        let old = std::mem::replace(&mut self.jobs, staged.jobs);
        self.remove_all(old, "replaced").await;
    }

    async fn remove_all(&self, jobs: BTreeMap<String, Uuid>, which: &str) {
        for (name, id) in jobs {
            if let Err(e) = self.inner.remove(&id).await {
                error!(
                    connector = name, jobs = which, error = %e,
                    "Cannot remove a schedule; it may still trigger runs until orgsync restarts."
                );
            }
        }
    }

    /// The next tick of each scheduled connector (jitter not included).
    pub async fn next_runs(&mut self) -> BTreeMap<String, jiff::Timestamp> {
        let mut next = BTreeMap::new();
        for (name, id) in &self.jobs {
            if let Ok(Some(at)) = self.inner.next_tick_for_job(*id).await
                && let Ok(at) = jiff::Timestamp::from_second(at.timestamp())
            {
                next.insert(name.clone(), at);
            }
        }
        next
    }

    /// Stops ticking. Bounded: a scheduler that does not stop in time is dropped with the runtime.
    pub async fn stop(mut self) {
        for (_, id) in std::mem::take(&mut self.jobs) {
            let _ = self.inner.remove(&id).await;
        }
        if tokio::time::timeout(Duration::from_secs(1), self.inner.shutdown())
            .await
            .is_err()
        {
            warn!("The scheduler did not stop within 1 s; leaving it.");
        }
    }
}

fn job(
    schedule: &str,
    shared: Weak<Shared>,
    name: String,
    jitter: Duration,
) -> Result<Job, JobSchedulerError> {
    Job::new_async(schedule, move |_, _| {
        let shared = shared.clone();
        let name = name.clone();
        Box::pin(async move {
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
        })
    })
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
