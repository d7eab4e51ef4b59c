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
use tracing::{info, warn};
use uuid::Uuid;

pub struct Scheduler {
    inner: JobScheduler,
    jobs: BTreeMap<String, Uuid>,
}

impl Scheduler {
    pub async fn start(shared: &Arc<Shared>, config: &Config) -> Result<Self, JobSchedulerError> {
        let inner = JobScheduler::new().await?;
        let mut scheduler = Scheduler {
            inner,
            jobs: BTreeMap::new(),
        };
        scheduler.add_jobs(shared, config).await?;
        scheduler.inner.start().await?;
        Ok(scheduler)
    }

    async fn add_jobs(
        &mut self,
        shared: &Arc<Shared>,
        config: &Config,
    ) -> Result<(), JobSchedulerError> {
        for (name, connector) in &config.connectors {
            let Some(schedule) = &connector.schedule else {
                continue;
            };
            let jitter = connector.jitter.map(|j| j.0).unwrap_or_default();
            let job = job(schedule, Arc::downgrade(shared), name.clone(), jitter)?;
            let id = self.inner.add(job).await?;
            self.jobs.insert(name.clone(), id);
            info!(connector = name, schedule, "Connector scheduled.");
        }
        Ok(())
    }

    /// Replaces every job with those of `config` (after a reload).
    pub async fn replace(
        &mut self,
        shared: &Arc<Shared>,
        config: &Config,
    ) -> Result<(), JobSchedulerError> {
        for (_, id) in std::mem::take(&mut self.jobs) {
            self.inner.remove(&id).await?;
        }
        self.add_jobs(shared, config).await
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
