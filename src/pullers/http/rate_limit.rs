//! Client-side rate limiting, so a pull runs as fast as the upstream allows and no faster.
//!
//! A limit is one of two kinds, as the platforms document them:
//! - a **window** (`kind = "window"`, the default): at most `requests` in ANY span of length `per`
//!   (a sliding window). Where a platform does not say whether its window slides or is aligned,
//!   sliding is the stricter reading, and a client that holds a sliding window also holds every
//!   aligned one. Requests go back to back until the window is full, then wait for the oldest
//!   ones to leave it: Feishu's 50/s and 1 000/min let a small pull send 50 calls a second.
//! - a **bucket** (`kind = "bucket"`, Bitrix24): a counter that grows by one per request and drains
//!   at `requests` per `per`; up to `burst` requests go back to back (a GCRA).
//!
//! Limits apply per endpoint ("per API", as most platforms count) or to all requests of the
//! connector together (`scope = "shared"`: Bitrix24's portal, DingTalk's per-address window).
//! Retries pass through the limiter too: failed calls count against the platforms' limits.

use super::PullProgress;
use crate::config::HumanDuration;
use crate::pullers::Platform;
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::info;

/// A hold by the limiter longer than this is shown in the pull's progress and logged: the
/// usual pacing (a second's or a minute's window filling) stays quiet.
const SHOWN_AFTER: Duration = Duration::from_secs(5);

/// One documented limit, e.g. 20 requests per 1 s per API.
///
/// Config keys: `requests`, `per`, `scope`, `kind` and, for a bucket, `burst`. A limit written
/// before `kind` existed loads as before: with `burst` it is a bucket, without it a window.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawRateLimit")]
pub struct RateLimit {
    pub requests: u32,
    pub per: HumanDuration,
    pub kind: LimitKind,
    /// Bucket only: requests that may go back to back before spacing starts (1 = always spaced).
    pub burst: u32,
    pub scope: LimitScope,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    requests: u32,
    per: HumanDuration,
    #[serde(default)]
    kind: Option<LimitKind>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default)]
    scope: LimitScope,
}

impl TryFrom<RawRateLimit> for RateLimit {
    type Error = String;

    fn try_from(raw: RawRateLimit) -> Result<Self, String> {
        let kind = raw.kind.unwrap_or(match raw.burst {
            Some(_) => LimitKind::Bucket,
            None => LimitKind::Window,
        });
        if kind == LimitKind::Window && raw.burst.is_some() {
            return Err(
                "`burst` applies to kind = \"bucket\" only; a window already lets `requests` go \
                 back to back"
                    .into(),
            );
        }
        Ok(RateLimit {
            requests: raw.requests,
            per: raw.per,
            kind,
            burst: raw.burst.unwrap_or(1),
            scope: raw.scope,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// At most `requests` in any span of `per`.
    #[default]
    Window,
    /// A leaky bucket draining `requests` per `per`, holding `burst`.
    Bucket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Counted separately for each endpoint path.
    #[default]
    Endpoint,
    /// Counted over every request of the connector.
    Shared,
}

impl RateLimit {
    /// A sliding window: `requests` in any span of `per`.
    pub const fn new(requests: u32, per: Duration, scope: LimitScope) -> Self {
        RateLimit {
            requests,
            per: HumanDuration(per),
            kind: LimitKind::Window,
            burst: 1,
            scope,
        }
    }

    /// A leaky bucket draining `requests` per `per` that holds `burst` back-to-back requests.
    pub const fn bucket(requests: u32, per: Duration, burst: u32, scope: LimitScope) -> Self {
        RateLimit {
            requests,
            per: HumanDuration(per),
            kind: LimitKind::Bucket,
            burst,
            scope,
        }
    }

    fn interval(&self) -> Duration {
        self.per.0 / self.requests.max(1)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.requests == 0 || self.per.0.is_zero() || self.burst == 0 {
            return Err("rate limits need requests, per and burst above zero".into());
        }
        Ok(())
    }

    /// The earliest time a request may be sent `n` requests (0-based) after the first of an
    /// idle start, were every request sent as early as this limit allows: the bench's floors
    /// are computed with it, the same way the limiter paces.
    pub fn earliest(&self, n: u64) -> Duration {
        let requests = u64::from(self.requests.max(1));
        match self.kind {
            LimitKind::Window => self.per.0.mul_f64((n / requests) as f64),
            LimitKind::Bucket => {
                let free = u64::from(self.burst.max(1)) - 1;
                self.interval().mul_f64(n.saturating_sub(free) as f64)
            }
        }
    }
}

/// How finely a window's past is kept: requests closer together than `per / SLOTS` share one
/// entry. See [`Window`].
const SLOTS: u32 = 1024;

/// The requests of one sliding window, oldest first, as (latest instant, count) entries.
///
/// Keeping one instant per request would be exact, but WeCom's 150 000 an hour would then hold
/// 150 000 instants (2.4 MB) per endpoint. Instead requests that start within `per / 1024` of an
/// entry's first request join it, and the entry carries the *latest* instant of its requests: an
/// entry leaves the window only when its last request does, so the limiter never lets more than
/// `requests` into any span (it errs only on the late side, by at most `per / 1024`: 3.5 s an
/// hour, 59 ms a minute, 1 ms a second). A window then holds at most about 1 025 entries,
/// whatever its `requests`. Entries stay in order because a booking never goes before the last
/// entry (it joins it instead, later than it happened, which again only errs on the safe side).
#[derive(Debug, Default)]
struct Window {
    entries: VecDeque<Entry>,
    /// Requests in `entries`.
    count: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    first: Instant,
    last: Instant,
    count: u64,
}

impl Window {
    /// Drops the entries whose last request left the window before `now`.
    fn expire(&mut self, now: Instant, per: Duration) {
        while let Some(front) = self.entries.front() {
            if front.last + per <= now {
                self.count -= front.count;
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// The earliest time from `now` at which one more request keeps every span of `per` at or
    /// under `requests` (counting bookings already made for later).
    fn earliest(&self, now: Instant, limit: &RateLimit) -> Instant {
        let allowed = u64::from(limit.requests.max(1)) - 1;
        let mut remaining = self.count;
        for entry in &self.entries {
            if remaining <= allowed {
                break;
            }
            remaining -= entry.count;
            if remaining <= allowed {
                return (entry.last + limit.per.0).max(now);
            }
        }
        now
    }

    fn book(&mut self, at: Instant, per: Duration) {
        let grain = per / SLOTS;
        self.count += 1;
        if let Some(back) = self.entries.back_mut()
            && (at <= back.last || at.saturating_duration_since(back.first) < grain)
        {
            back.last = back.last.max(at);
            back.count += 1;
            return;
        }
        self.entries.push_back(Entry {
            first: at,
            last: at,
            count: 1,
        });
    }
}

#[derive(Debug)]
enum State {
    Window(Window),
    /// A bucket's theoretical arrival time (GCRA).
    Bucket(Instant),
}

/// Shared by every request of one puller.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Vec<RateLimit>,
    /// Per (limit index, endpoint or "" for shared).
    state: Mutex<HashMap<(usize, String), State>>,
}

impl RateLimiter {
    pub fn new(limits: Vec<RateLimit>) -> Self {
        RateLimiter {
            limits,
            state: Mutex::new(HashMap::new()),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(Vec::new())
    }

    /// [`RateLimiter::acquire_shown`] for tests of the pacing alone, with a progress nobody reads.
    #[cfg(test)]
    async fn acquire(&self, endpoint: &str) {
        self.acquire_shown(endpoint, Platform::Wecom, &PullProgress::default())
            .await;
    }

    /// Waits until a request to `endpoint` fits every limit, and books it, showing a hold
    /// longer than [`SHOWN_AFTER`] in `progress` (and the log): a pull's own pacing takes a
    /// second or two, but an hourly window (WeCom's 150 000 calls of an API) can hold it for
    /// most of an hour, and a run must not sit silent that long.
    pub async fn acquire_shown(&self, endpoint: &str, platform: Platform, progress: &PullProgress) {
        let wait_until = self.book(endpoint).await;
        let wait = wait_until.saturating_duration_since(Instant::now());
        if wait > SHOWN_AFTER && progress.show_pacing(platform, wait_until) {
            let wait_s = wait.as_secs_f64().ceil() as u64;
            // orgsync's own pacing, not a refusal: INFO, where a throttle is a WARN.
            info!(
                %platform,
                endpoint,
                wait_s,
                "Holding to {platform}'s documented rate limits; waiting {wait_s} s before calling again."
            );
        }
        // A timer rounds up to the next millisecond tick: only wait when there is a wait.
        if wait_until > Instant::now() {
            tokio::time::sleep_until(wait_until).await;
        }
    }

    /// Books the first start every limit allows for a request to `endpoint`, and returns it.
    async fn book(&self, endpoint: &str) -> Instant {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        // The slot is the latest start any limit allows (each limit allows any later time
        // too); booking it in every limit keeps them consistent with what is actually sent.
        let mut start = now;
        for (i, limit) in self.limits.iter().enumerate() {
            let key = (i, scope_key(limit, endpoint));
            let earliest = match state.entry(key).or_insert_with(|| State::new(limit, now)) {
                State::Window(window) => {
                    window.expire(now, limit.per.0);
                    window.earliest(now, limit)
                }
                State::Bucket(tat) => {
                    let tolerance = limit.interval() * (limit.burst.max(1) - 1);
                    let tat = (*tat).max(now);
                    tat.checked_sub(tolerance).unwrap_or(now).max(now)
                }
            };
            start = start.max(earliest);
        }
        for (i, limit) in self.limits.iter().enumerate() {
            let key = (i, scope_key(limit, endpoint));
            match state.entry(key).or_insert_with(|| State::new(limit, now)) {
                State::Window(window) => window.book(start, limit.per.0),
                State::Bucket(tat) => *tat = (*tat).max(start) + limit.interval(),
            }
        }
        start
    }
}

impl State {
    fn new(limit: &RateLimit, now: Instant) -> Self {
        match limit.kind {
            LimitKind::Window => State::Window(Window::default()),
            LimitKind::Bucket => State::Bucket(now),
        }
    }
}

fn scope_key(limit: &RateLimit, endpoint: &str) -> String {
    match limit.scope {
        LimitScope::Endpoint => endpoint.to_owned(),
        LimitScope::Shared => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pullers::Platform;
    use crate::pullers::http::{PullProgress, WaitReason, Waiting};
    use std::sync::Arc;

    fn limiter(limits: &[RateLimit]) -> RateLimiter {
        RateLimiter::new(limits.to_vec())
    }

    /// A request the hourly window holds (WeCom's 150 000 calls of an API in an hour) shows in
    /// the pull's progress while it waits, so an interactive run never sits silent for it; a
    /// hold of a second or two, the usual pacing, is not shown.
    #[tokio::test(start_paused = true)]
    async fn a_long_hold_shows_in_progress_and_a_short_one_does_not() {
        let hourly = Arc::new(limiter(&[RateLimit::new(
            1,
            Duration::from_secs(3600),
            LimitScope::Endpoint,
        )]));
        let progress = Arc::new(PullProgress::default());
        hourly.acquire_shown("/a", Platform::Wecom, &progress).await;
        assert_eq!(progress.snapshot().waiting, None);
        let held = tokio::spawn({
            let (hourly, progress) = (Arc::clone(&hourly), Arc::clone(&progress));
            async move { hourly.acquire_shown("/a", Platform::Wecom, &progress).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            progress.snapshot().waiting,
            Some(Waiting {
                platform: Platform::Wecom,
                reason: WaitReason::Pacing,
                seconds: 3599,
            })
        );
        assert_eq!(progress.spent(), Duration::ZERO, "no retry budget drawn");
        held.await.unwrap();
        assert_eq!(progress.snapshot().waiting, None);

        let paced = Arc::new(limiter(&[RateLimit::new(
            1,
            Duration::from_secs(2),
            LimitScope::Endpoint,
        )]));
        let quiet = Arc::new(PullProgress::default());
        paced.acquire_shown("/a", Platform::Feishu, &quiet).await;
        let held = tokio::spawn({
            let (paced, quiet) = (Arc::clone(&paced), Arc::clone(&quiet));
            async move { paced.acquire_shown("/a", Platform::Feishu, &quiet).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(quiet.snapshot().waiting, None);
        held.await.unwrap();
    }

    /// The instants (from the start) at which `n` requests to `endpoint` are let through.
    async fn starts(limiter: &RateLimiter, endpoint: &str, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            limiter.acquire(endpoint).await;
            out.push(start.elapsed());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_lets_its_requests_go_at_once_then_waits_for_the_oldest() {
        let limiter = limiter(&[RateLimit::new(
            20,
            Duration::from_secs(1),
            LimitScope::Endpoint,
        )]);
        let at = starts(&limiter, "/a", 41).await;
        assert!(at[..20].iter().all(|t| t.is_zero()), "{at:?}");
        assert_eq!(at[20], Duration::from_secs(1));
        assert_eq!(at[39], Duration::from_secs(1));
        assert_eq!(at[40], Duration::from_secs(2));
        let other = Instant::now();
        limiter.acquire("/b").await;
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "another endpoint has its own budget"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn feishu_sends_50_in_the_first_second_and_the_1001st_waits_for_the_minute() {
        let limiter = limiter(&[
            RateLimit::new(1000, Duration::from_secs(60), LimitScope::Endpoint),
            RateLimit::new(50, Duration::from_secs(1), LimitScope::Endpoint),
        ]);
        let at = starts(
            &limiter,
            "/open-apis/contact/v3/users/find_by_department",
            1001,
        )
        .await;
        assert!(at[..50].iter().all(|t| t.is_zero()), "{:?}", &at[..51]);
        assert_eq!(at[50], Duration::from_secs(1));
        // 1 000 calls take 20 windows of a second; the 1 001st waits until the first call is a
        // minute old.
        assert_eq!(at[999], Duration::from_secs(19));
        assert_eq!(at[1000], Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn no_span_of_the_window_ever_holds_more_than_its_requests() {
        // Irregular arrivals (some idle, some bursts) against a window whose entries merge.
        let limit = RateLimit::new(300, Duration::from_secs(10), LimitScope::Shared);
        let limiter = limiter(&[limit]);
        let start = Instant::now();
        let mut at = Vec::new();
        for i in 0u64..1500 {
            if i % 97 == 0 {
                tokio::time::sleep(Duration::from_millis(i % 7 * 300)).await;
            }
            limiter.acquire(if i % 2 == 0 { "/x" } else { "/y" }).await;
            at.push(start.elapsed());
        }
        for (i, t) in at.iter().enumerate() {
            let in_span = at[i..]
                .iter()
                .take_while(|u| **u < *t + limit.per.0)
                .count();
            assert!(in_span <= 300, "{in_span} requests in the 10 s from {t:?}");
        }
        // And it is not merely slow: the first burst goes at once (a smoothed rate would space
        // it 33 ms apart).
        assert_eq!(at[96], Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn an_hourly_window_keeps_few_entries() {
        let limit = RateLimit::new(150_000, Duration::from_secs(3600), LimitScope::Endpoint);
        let limiter = limiter(&[limit]);
        for _ in 0..20_000 {
            limiter.acquire("/cgi-bin/user/list").await;
            tokio::time::advance(Duration::from_millis(7)).await;
        }
        let state = limiter.state.lock().await;
        let Some(State::Window(window)) = state.get(&(0, "/cgi-bin/user/list".to_owned())) else {
            panic!("no window state");
        };
        assert_eq!(window.count, 20_000);
        assert!(window.entries.len() <= 1025, "{}", window.entries.len());
    }

    #[tokio::test(start_paused = true)]
    async fn shared_bucket_with_burst() {
        let limiter = limiter(&[RateLimit::bucket(
            2,
            Duration::from_secs(1),
            50,
            LimitScope::Shared,
        )]);
        let start = Instant::now();
        for i in 0..52 {
            limiter.acquire(if i % 2 == 0 { "/x" } else { "/y" }).await;
        }
        // 50 go at once; the 51st and 52nd wait for the bucket to drain at 2/s.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn configs_written_before_kinds_load_as_before() {
        #[derive(Deserialize)]
        struct Limits {
            rate_limits: Vec<RateLimit>,
        }
        let read = |text: &str| toml::from_str::<Limits>(text).map(|l| l.rate_limits);
        let limits = read(
            r#"rate_limits = [{ requests = 2, per = "1s", burst = 45, scope = "shared" },
                              { requests = 950, per = "1m" },
                              { requests = 9, per = "1s", kind = "window", scope = "endpoint" }]"#,
        )
        .unwrap();
        assert_eq!(
            limits,
            vec![
                RateLimit::bucket(2, Duration::from_secs(1), 45, LimitScope::Shared),
                RateLimit::new(950, Duration::from_secs(60), LimitScope::Endpoint),
                RateLimit::new(9, Duration::from_secs(1), LimitScope::Endpoint),
            ]
        );
        let error =
            read(r#"rate_limits = [{ requests = 2, per = "1s", kind = "window", burst = 4 }]"#)
                .unwrap_err();
        assert!(error.to_string().contains("bucket"), "{error}");
        assert!(read(r#"rate_limits = [{ requests = 2, per = "1s", kind = "leaky" }]"#).is_err());
        assert!(read(r#"rate_limits = [{ requests = 2, per = "1s", brust = 4 }]"#).is_err());
    }

    #[test]
    fn earliest_matches_the_limiter_model() {
        let window = RateLimit::new(50, Duration::from_secs(1), LimitScope::Endpoint);
        assert_eq!(window.earliest(49), Duration::ZERO);
        assert_eq!(window.earliest(50), Duration::from_secs(1));
        let bucket = RateLimit::bucket(2, Duration::from_secs(1), 50, LimitScope::Shared);
        assert_eq!(bucket.earliest(49), Duration::ZERO);
        assert_eq!(bucket.earliest(51), Duration::from_secs(1));
    }
}
