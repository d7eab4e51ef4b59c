//! The one retry loop of the four pullers: transient failures are tried again after a growing,
//! jittered delay ([`FAILURES`] attempts); a throttle is waited out for as long as the platform
//! asked, however many times; every wait draws on the run's time budget
//! ([`RetryConfig::budget`]), so an hour-long block ends an interactive run at once (saying so)
//! while the daemon waits it out. `max_attempts`, when set, caps every call's attempts instead.

use super::{CallCounter, PullError, WaitReason};
use crate::config::{PullBudgets, RetryConfig};
use crate::pullers::Platform;
use backon::BackoffBuilder;
use std::time::Duration;
use tracing::warn;

/// Attempts of one call that failed without the platform saying how long to wait, when
/// `max_attempts` is not set: about two minutes of backoff, as before the time budget. Throttles
/// (a ban, a blocked API, a reset header) do not count: the budget bounds them.
pub const FAILURES: usize = 8;

/// A failed attempt as a client sees it: the error and, when the answer said, how long to wait.
pub trait Attempt {
    fn error(&self) -> &PullError;
    /// A wait the answer asked for besides the error's own [`PullError::min_wait`] (e.g. a
    /// reset header next to a plain status error).
    fn asked_wait(&self) -> Option<Duration> {
        None
    }
    fn into_error(self) -> PullError;
}

impl Attempt for PullError {
    fn error(&self) -> &PullError {
        self
    }

    fn into_error(self) -> PullError {
        self
    }
}

/// One puller's retry policy: its config and its platform's default budgets.
#[derive(Debug, Clone)]
pub struct Retrier {
    platform: Platform,
    config: RetryConfig,
    defaults: PullBudgets,
}

impl Retrier {
    pub fn new(platform: Platform, config: RetryConfig, defaults: PullBudgets) -> Self {
        Retrier {
            platform,
            config,
            defaults,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, exceeds `max_attempts` (when set) or
    /// would wait past the run's budget. `floor` is a platform's shortest wait for an error
    /// (e.g. one rate window after a QPS refusal).
    pub async fn run<T, A, F, Fut>(
        &self,
        calls: &CallCounter,
        endpoint: &str,
        floor: impl Fn(&PullError) -> Option<Duration>,
        mut attempt: F,
    ) -> Result<T, PullError>
    where
        A: Attempt,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, A>>,
    {
        let progress = calls.progress();
        let budget = self.config.budget(progress.mode(), self.defaults);
        let mut delays = self.config.delays().build();
        let mut attempts = 0usize;
        // Failures the platform put no wait on: a dead server is not worth an hour.
        let mut failures = 0usize;
        loop {
            let failure = match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            attempts += 1;
            let error = failure.error();
            if !error.is_retryable() {
                return Err(failure.into_error());
            }
            let asked = failure.asked_wait().max(error.min_wait());
            if asked.is_none() {
                failures += 1;
            }
            let spent = match self.config.max_attempts {
                Some(max) => attempts >= max.max(1),
                None => failures >= FAILURES,
            };
            if spent {
                return Err(PullError::Exhausted {
                    platform: self.platform,
                    endpoint: endpoint.to_owned(),
                    attempts,
                    last: Box::new(failure.into_error()),
                });
            }
            let backoff = delays.next().unwrap_or(self.config.max_delay.0);
            let delay = backoff
                .max(asked.unwrap_or_default())
                .max(floor(error).unwrap_or_default());
            let reason = if asked.is_some() {
                WaitReason::Throttled
            } else {
                WaitReason::Retrying
            };
            if let Err(left) = progress.book_wait(self.platform, reason, delay, budget) {
                return Err(PullError::OverBudget {
                    platform: self.platform,
                    endpoint: endpoint.to_owned(),
                    wait: delay,
                    left,
                    budget,
                    mode: progress.mode(),
                    last: Box::new(failure.into_error()),
                });
            }
            calls.record_retry();
            let platform = self.platform;
            let wait_s = delay.as_secs_f64().ceil() as u64;
            let budget_left_s = budget.saturating_sub(progress.spent()).as_secs();
            if asked.is_some() {
                warn!(
                    %platform,
                    endpoint,
                    wait_s,
                    budget_left_s,
                    error = %error.for_log(),
                    "Throttled by {platform}; waiting {wait_s} s before calling again."
                );
            } else {
                warn!(
                    %platform,
                    endpoint,
                    attempt = attempts,
                    delay_ms = delay.as_millis() as u64,
                    budget_left_s,
                    error = %error.for_log(),
                    "A {platform} call failed; retrying."
                );
            }
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HumanDuration, ProcessMode};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn throttled(wait: u64) -> PullError {
        PullError::Throttled {
            platform: Platform::Dingtalk,
            endpoint: "/topapi/v2/user/list".into(),
            detail: "anti-abuse ban".into(),
            wait: Duration::from_secs(wait),
        }
    }

    fn retrier(config: RetryConfig) -> Retrier {
        Retrier::new(
            Platform::Dingtalk,
            config,
            PullBudgets {
                interactive: Duration::from_secs(600),
                service: Duration::from_secs(3 * 3600),
            },
        )
    }

    fn quick() -> RetryConfig {
        RetryConfig {
            min_delay: HumanDuration(Duration::from_millis(1)),
            max_delay: HumanDuration(Duration::from_millis(10)),
            ..RetryConfig::default()
        }
    }

    /// A call banned for its first 12 tries, 5 minutes each (an hour, far past 8 attempts).
    async fn banned_twelve_times(
        calls: &CallCounter,
        tries: &AtomicUsize,
    ) -> Result<i32, PullError> {
        retrier(quick())
            .run(
                calls,
                "/topapi/v2/user/list",
                |_| None,
                || async {
                    match tries.fetch_add(1, Ordering::SeqCst) {
                        0..12 => Err(throttled(300)),
                        _ => Ok(7),
                    }
                },
            )
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_ban_longer_than_eight_attempts_is_waited_out_within_the_budget() {
        let calls = CallCounter::default();
        let tries = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let result = banned_twelve_times(&calls, &tries).await;
        // Interactive: 10 minutes of budget covers two bans, then it gives up, saying why.
        let error = result.unwrap_err();
        assert!(matches!(error, PullError::OverBudget { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("300 s") && text.contains("600 s"), "{text}");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(600));

        calls.progress().start(ProcessMode::Service);
        tries.store(0, Ordering::SeqCst);
        let started = tokio::time::Instant::now();
        let value = banned_twelve_times(&calls, &tries).await.unwrap();
        assert_eq!(value, 7);
        assert_eq!(started.elapsed(), Duration::from_secs(3600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_longer_than_the_budget_fails_at_once_and_max_attempts_still_caps() {
        let calls = CallCounter::default();
        let tries = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let error = retrier(quick())
            .run(
                &calls,
                "/cgi-bin/user/list",
                |_| None,
                || async {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(throttled(3600))
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(error, PullError::OverBudget { .. }), "{error:?}");
        assert!(error.to_string().contains("interactive"), "{error}");
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "no wait it cannot finish"
        );
        assert_eq!(tries.load(Ordering::SeqCst), 1);

        let gateway = || async {
            Err::<(), _>(PullError::HttpStatus {
                platform: Platform::Dingtalk,
                endpoint: "/x".into(),
                status: 502,
            })
        };
        tries.store(0, Ordering::SeqCst);
        let error = retrier(quick())
            .run(
                &calls,
                "/x",
                |_| None,
                || {
                    tries.fetch_add(1, Ordering::SeqCst);
                    gateway()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                PullError::Exhausted {
                    attempts: FAILURES,
                    ..
                }
            ),
            "a dead server is given up on after {FAILURES} attempts: {error:?}"
        );
        let capped = RetryConfig {
            max_attempts: Some(3),
            ..quick()
        };
        tries.store(0, Ordering::SeqCst);
        let error = retrier(capped)
            .run(
                &calls,
                "/x",
                |_| None,
                || async {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(PullError::HttpStatus {
                        platform: Platform::Dingtalk,
                        endpoint: "/x".into(),
                        status: 502,
                    })
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, PullError::Exhausted { attempts: 3, .. }),
            "{error:?}"
        );
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_shows_in_progress_while_it_lasts() {
        let calls = std::sync::Arc::new(CallCounter::default());
        let tries = std::sync::Arc::new(AtomicUsize::new(0));
        let task = {
            let (calls, tries) = (calls.clone(), tries.clone());
            tokio::spawn(async move {
                retrier(quick())
                    .run(
                        &calls,
                        "/x",
                        |_| None,
                        || async {
                            match tries.fetch_add(1, Ordering::SeqCst) {
                                0 => Err(throttled(300)),
                                _ => Ok(()),
                            }
                        },
                    )
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        let waiting = calls.progress().snapshot().waiting.unwrap();
        assert_eq!(waiting.platform, Platform::Dingtalk);
        assert_eq!(waiting.reason, WaitReason::Throttled);
        assert_eq!(waiting.seconds, 290);
        task.await.unwrap().unwrap();
        assert_eq!(calls.progress().snapshot().waiting, None);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_are_not_transient_are_not_retried() {
        let calls = CallCounter::default();
        let tries = AtomicUsize::new(0);
        let error = retrier(quick())
            .run(
                &calls,
                "/x",
                |_| None,
                || async {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(PullError::Paging {
                        platform: Platform::Dingtalk,
                        endpoint: "/x".into(),
                        detail: "loops".into(),
                    })
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(error, PullError::Paging { .. }));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
