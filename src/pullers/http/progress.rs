//! What a pull has done so far, shared between the puller (which counts) and the engine (which
//! publishes it to the daemon's run status and the CLI's progress), and the run's retry budget.

use crate::config::ProcessMode;
use crate::pullers::Platform;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Why a pull is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The platform asked orgsync to stop calling for a while (a ban, a blocked API).
    Throttled,
    /// A failed call (a refusal of its rate, a 5xx, a timeout) is tried again after a backoff.
    Retrying,
    /// orgsync's own limiter holds the call under a documented window (WeCom's 150 000 calls of
    /// an API an hour): nothing failed, and no retry budget is drawn.
    Pacing,
}

/// A wait in progress, as shown: "throttled by dingtalk, waiting 300 s".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub platform: Platform,
    pub reason: WaitReason,
    /// Seconds left, rounded up.
    pub seconds: u64,
}

/// A copy of the counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PullCounts {
    /// Requests sent so far, retries included.
    pub calls: u64,
    /// People read so far (a person listed in two departments may count twice).
    pub people: u64,
    /// How many people the upstream said there are, when it says.
    pub people_total: Option<u64>,
    /// Seconds the pull still needs at its pace so far, when the total is known.
    pub eta_seconds: Option<u64>,
    pub waiting: Option<Waiting>,
}

/// What the pull has done, in words: "2100/3000 people, 431 calls, about 40 s left", and any
/// wait ("; throttled by dingtalk, waiting 300 s"). The CLI's progress, `orgsync status` and
/// the console's run page all say it this way.
impl std::fmt::Display for PullCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let calls = if self.calls == 1 { "call" } else { "calls" };
        match self.people_total {
            Some(total) => write!(f, "{}/{total} people, {} {calls}", self.people, self.calls)?,
            None => write!(f, "{} people read, {} {calls}", self.people, self.calls)?,
        }
        if let Some(eta) = self.eta_seconds.filter(|_| self.waiting.is_none()) {
            write!(f, ", about {eta} s left")?;
        }
        match self.waiting {
            Some(Waiting {
                platform,
                reason: WaitReason::Throttled,
                seconds,
            }) => write!(f, "; throttled by {platform}, waiting {seconds} s"),
            Some(Waiting {
                platform,
                reason: WaitReason::Retrying,
                seconds,
            }) => write!(f, "; a {platform} call failed, retrying in {seconds} s"),
            Some(Waiting {
                platform,
                reason: WaitReason::Pacing,
                seconds,
            }) => write!(
                f,
                "; holding to {platform}'s documented rate limits, waiting {seconds} s"
            ),
            None => Ok(()),
        }
    }
}

/// The live handle: atomics the puller bumps and the engine reads, plus the run's retry budget.
#[derive(Debug)]
pub struct PullProgress {
    calls: AtomicU64,
    people: AtomicU64,
    /// 0 = unknown.
    people_total: AtomicU64,
    mode: AtomicU8,
    state: Mutex<RunState>,
}

#[derive(Debug)]
struct RunState {
    started: Instant,
    /// Time spent waiting to retry in this run, overlapping waits counted once.
    spent: Duration,
    /// The end of the latest wait booked.
    covered_until: Instant,
    waiting: Option<(Platform, WaitReason, Instant)>,
}

impl Default for PullProgress {
    fn default() -> Self {
        let now = Instant::now();
        PullProgress {
            calls: AtomicU64::new(0),
            people: AtomicU64::new(0),
            people_total: AtomicU64::new(0),
            mode: AtomicU8::new(mode_code(ProcessMode::Interactive)),
            state: Mutex::new(RunState {
                started: now,
                spent: Duration::ZERO,
                covered_until: now,
                waiting: None,
            }),
        }
    }
}

fn mode_code(mode: ProcessMode) -> u8 {
    match mode {
        ProcessMode::Interactive => 0,
        ProcessMode::Service => 1,
    }
}

impl PullProgress {
    pub fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` more people read.
    pub fn people(&self, n: usize) {
        self.people.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The number of people the upstream announced (e.g. a listing's `total`).
    pub fn people_total(&self, total: u64) {
        self.people_total.store(total, Ordering::Relaxed);
    }

    /// Starts a run's counts from zero, in `mode`.
    pub fn start(&self, mode: ProcessMode) {
        self.calls.store(0, Ordering::Relaxed);
        self.people.store(0, Ordering::Relaxed);
        self.people_total.store(0, Ordering::Relaxed);
        self.mode.store(mode_code(mode), Ordering::Relaxed);
        let now = Instant::now();
        *self.lock() = RunState {
            started: now,
            spent: Duration::ZERO,
            covered_until: now,
            waiting: None,
        };
    }

    /// Shows the limiter holding a call until `until`, drawing on no budget; a wait already
    /// shown that lasts as long (a throttle) stays. Returns whether no wait was shown before,
    /// so a hold is logged once, not once per call it holds.
    pub(crate) fn show_pacing(&self, platform: Platform, until: Instant) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        let shown_until = state
            .waiting
            .map(|(_, _, end)| end)
            .filter(|&end| end > now);
        if shown_until.is_some_and(|end| end >= until) {
            return false;
        }
        state.waiting = Some((platform, WaitReason::Pacing, until));
        shown_until.is_none()
    }

    /// Starts the retry budget again (each pull has its own), keeping the counts and the mode.
    pub(crate) fn restart_budget(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.spent = Duration::ZERO;
        state.covered_until = now;
    }

    /// The budget drawn so far in this pull.
    pub fn spent(&self) -> Duration {
        self.lock().spent
    }

    pub fn mode(&self) -> ProcessMode {
        match self.mode.load(Ordering::Relaxed) {
            0 => ProcessMode::Interactive,
            _ => ProcessMode::Service,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Books a wait of `delay` from now against the run's `budget`, and shows it. Waits that
    /// overlap (several calls waiting out one throttle) draw on the budget once. `Err` carries
    /// what is left of the budget when the wait does not fit.
    pub(crate) fn book_wait(
        &self,
        platform: Platform,
        reason: WaitReason,
        delay: Duration,
        budget: Duration,
    ) -> Result<(), Duration> {
        let mut state = self.lock();
        let now = Instant::now();
        let end = now + delay;
        let extra = end.saturating_duration_since(state.covered_until.max(now));
        let left = budget.saturating_sub(state.spent);
        if extra > left {
            return Err(left);
        }
        state.spent += extra;
        state.covered_until = state.covered_until.max(end);
        // A throttle outranks a backoff that ends sooner.
        let replace = match state.waiting {
            Some((_, _, until)) if until > now => {
                end > until || (reason == WaitReason::Throttled && end >= until)
            }
            _ => true,
        };
        if replace {
            state.waiting = Some((platform, reason, end));
        }
        Ok(())
    }

    pub fn snapshot(&self) -> PullCounts {
        let calls = self.calls.load(Ordering::Relaxed);
        let people = self.people.load(Ordering::Relaxed);
        let total = self.people_total.load(Ordering::Relaxed);
        let state = self.lock();
        let now = Instant::now();
        let people_total = (total > 0).then_some(total);
        let eta_seconds = people_total.filter(|_| people > 0).map(|total| {
            let elapsed = now.duration_since(state.started).as_secs_f64();
            let left = total.saturating_sub(people) as f64;
            (elapsed * left / people as f64).ceil() as u64
        });
        let waiting =
            state
                .waiting
                .filter(|(_, _, until)| *until > now)
                .map(|(platform, reason, until)| Waiting {
                    platform,
                    reason,
                    seconds: until.duration_since(now).as_secs_f64().ceil() as u64,
                });
        PullCounts {
            calls,
            people,
            people_total,
            eta_seconds,
            waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wait_says_what_it_is_for() {
        let mut pull = PullCounts {
            calls: 142_500,
            people: 9000,
            ..PullCounts::default()
        };
        for (reason, words) in [
            (WaitReason::Throttled, "throttled by wecom, waiting 60 s"),
            (
                WaitReason::Retrying,
                "a wecom call failed, retrying in 60 s",
            ),
            (
                WaitReason::Pacing,
                "holding to wecom's documented rate limits, waiting 60 s",
            ),
        ] {
            pull.waiting = Some(Waiting {
                platform: Platform::Wecom,
                reason,
                seconds: 60,
            });
            assert_eq!(
                pull.to_string(),
                format!("9000 people read, 142500 calls; {words}")
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_waits_draw_on_the_budget_once() {
        let progress = PullProgress::default();
        let budget = Duration::from_secs(600);
        let five = Duration::from_secs(300);
        for _ in 0..4 {
            progress
                .book_wait(Platform::Dingtalk, WaitReason::Throttled, five, budget)
                .unwrap();
        }
        let shown = progress.snapshot().waiting.unwrap();
        assert_eq!(
            shown,
            Waiting {
                platform: Platform::Dingtalk,
                reason: WaitReason::Throttled,
                seconds: 300
            }
        );
        tokio::time::advance(five).await;
        assert_eq!(progress.snapshot().waiting, None);
        progress
            .book_wait(Platform::Dingtalk, WaitReason::Throttled, five, budget)
            .unwrap();
        tokio::time::advance(five).await;
        assert_eq!(
            progress.book_wait(
                Platform::Dingtalk,
                WaitReason::Retrying,
                Duration::from_secs(1),
                budget
            ),
            Err(Duration::ZERO)
        );
        progress.start(ProcessMode::Service);
        assert_eq!(progress.mode(), ProcessMode::Service);
        assert!(
            progress
                .book_wait(Platform::Dingtalk, WaitReason::Throttled, five, budget)
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_estimate_follows_the_pace_so_far() {
        let progress = PullProgress::default();
        progress.start(ProcessMode::Interactive);
        progress.people_total(3000);
        progress.people(1000);
        tokio::time::advance(Duration::from_secs(50)).await;
        let counts = progress.snapshot();
        assert_eq!(counts.people_total, Some(3000));
        assert_eq!(counts.eta_seconds, Some(100));
    }
}
