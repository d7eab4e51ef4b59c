//! The per-channel rate limit: at most `per` messages in any `window` (the robots allow 20 a
//! minute). A message over the limit waits for a slot; none is dropped here.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per: usize,
    pub window: Duration,
}

impl Default for RateLimit {
    /// The robots' documented 20 a minute.
    fn default() -> Self {
        RateLimit {
            per: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// A sliding window of the last sends.
#[derive(Debug)]
pub(super) struct Limiter {
    limit: RateLimit,
    sent: VecDeque<Instant>,
}

impl Limiter {
    pub(super) fn new(limit: RateLimit) -> Self {
        Limiter {
            limit,
            sent: VecDeque::new(),
        }
    }

    /// Waits until one more message fits in the window, and counts it.
    pub(super) async fn acquire(&mut self) {
        loop {
            let now = Instant::now();
            while self
                .sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.limit.window)
            {
                self.sent.pop_front();
            }
            if self.sent.len() < self.limit.per.max(1) {
                self.sent.push_back(now);
                return;
            }
            if let Some(oldest) = self.sent.front() {
                tokio::time::sleep_until(*oldest + self.limit.window).await;
            }
        }
    }

    /// The message counted last has its answer: it is counted from now. The robot counts it
    /// when it arrived, at the latest now, so a window measured from here is never shorter than
    /// the robot's (a slow first request and a fast twenty-first would otherwise meet in it).
    pub(super) fn answered(&mut self) {
        if let Some(last) = self.sent.back_mut() {
            *last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_twenty_first_message_waits_for_the_first_to_leave_the_window() {
        let mut limiter = Limiter::new(RateLimit::default());
        let start = Instant::now();
        for _ in 0..20 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        for _ in 0..19 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }
}
