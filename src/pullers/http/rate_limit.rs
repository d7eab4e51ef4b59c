//! Client-side rate limiting, so a pull runs as fast as the upstream allows and no faster.
//!
//! Each limit is a GCRA (generic cell rate algorithm): requests are spaced `per / requests` apart,
//! with up to `burst` requests allowed back to back. Limits apply per endpoint ("per API", as most
//! platforms count) or to all requests of the connector together (Bitrix24 counts per portal).
//! Retries pass through the limiter too: failed calls count against the platforms' limits.

use crate::config::HumanDuration;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// One documented limit, e.g. 20 requests per 1 s per API.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u32,
    pub per: HumanDuration,
    /// Requests that may go back to back before spacing starts (1 = always spaced).
    #[serde(default = "one")]
    pub burst: u32,
    #[serde(default)]
    pub scope: LimitScope,
}

fn one() -> u32 {
    1
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
    pub const fn new(requests: u32, per: Duration, scope: LimitScope) -> Self {
        RateLimit {
            requests,
            per: HumanDuration(per),
            burst: 1,
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
}

/// Shared by every request of one puller.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Vec<RateLimit>,
    /// Theoretical arrival time per (limit index, endpoint or "" for shared).
    next: Mutex<HashMap<(usize, String), Instant>>,
}

impl RateLimiter {
    pub fn new(limits: Vec<RateLimit>) -> Self {
        RateLimiter {
            limits,
            next: Mutex::new(HashMap::new()),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(Vec::new())
    }

    /// Waits until a request to `endpoint` fits every limit, and books it.
    pub async fn acquire(&self, endpoint: &str) {
        let wait_until = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            // The slot is the latest start any limit allows; booking it in every limit keeps them
            // consistent with what is actually sent.
            let mut start = now;
            for (i, limit) in self.limits.iter().enumerate() {
                let key = (i, scope_key(limit, endpoint));
                let tat = next.get(&key).copied().unwrap_or(now).max(now);
                let tolerance = limit.interval() * (limit.burst.max(1) - 1);
                start = start.max(tat.checked_sub(tolerance).unwrap_or(now));
            }
            for (i, limit) in self.limits.iter().enumerate() {
                let key = (i, scope_key(limit, endpoint));
                let tat = next.get(&key).copied().unwrap_or(start).max(start);
                next.insert(key, tat + limit.interval());
            }
            start
        };
        // A timer rounds up to the next millisecond tick: only wait when there is a wait.
        if wait_until > Instant::now() {
            tokio::time::sleep_until(wait_until).await;
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

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_per_endpoint() {
        let limiter = RateLimiter::new(vec![RateLimit::new(
            20,
            Duration::from_secs(1),
            LimitScope::Endpoint,
        )]);
        let start = Instant::now();
        for _ in 0..21 {
            limiter.acquire("/a").await;
        }
        // 21 requests at 50 ms spacing: the last starts at 1 s, so no 1 s window holds 21.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let other = Instant::now();
        limiter.acquire("/b").await;
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "another endpoint has its own budget"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shared_limit_with_burst() {
        let mut limit = RateLimit::new(2, Duration::from_secs(1), LimitScope::Shared);
        limit.burst = 50;
        let limiter = RateLimiter::new(vec![limit]);
        let start = Instant::now();
        for i in 0..52 {
            limiter.acquire(if i % 2 == 0 { "/x" } else { "/y" }).await;
        }
        // 50 go at once; the 51st and 52nd wait for the bucket to drain at 2/s.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_strictest_of_several_limits_wins() {
        let limiter = RateLimiter::new(vec![
            RateLimit::new(50, Duration::from_secs(1), LimitScope::Endpoint),
            RateLimit::new(1000, Duration::from_secs(60), LimitScope::Endpoint),
        ]);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire("/a").await;
        }
        // 1000/min = one per 60 ms, slower than 50/s (20 ms).
        assert_eq!(start.elapsed(), Duration::from_millis(600));
    }
}
