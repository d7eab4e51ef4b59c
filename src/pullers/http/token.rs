use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The longest an upstream's token is believed to live. Real ones live one to two hours; an
/// announced lifetime past a day is a broken or hostile upstream (2^64−1 seconds would overflow
/// the clock), and a token used a day too long only costs one refused call and a refresh.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// An announced lifetime in seconds, as read from the wire (any sign, any size), clamped to
/// `0..=MAX_TOKEN_LIFETIME`: zero or negative means the token is already expiring (used for the
/// request at hand, fetched again for the next).
pub fn lifetime_from_secs(secs: i128) -> Duration {
    let max = MAX_TOKEN_LIFETIME.as_secs();
    Duration::from_secs(u64::try_from(secs.clamp(0, i128::from(max))).unwrap_or(max))
}

/// One cached access token shared by all requests of a puller.
///
/// Refreshing is serialized: when many requests learn at once that the token expired, the first
/// fetches a new one and the others reuse it, instead of flooding the (rate-limited) token endpoint.
#[derive(Debug, Default)]
pub struct TokenCache {
    current: Mutex<Option<CachedToken>>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    value: String,
    refresh_at: Instant,
}

impl TokenCache {
    /// Returns the cached token, or fetches one with `fetch` (value, lifetime). The token is
    /// refreshed `margin` before it expires; a lifetime past [`MAX_TOKEN_LIFETIME`] counts as
    /// that, so no upstream value can overflow the clock.
    pub async fn get<F, Fut, E>(&self, margin: Duration, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, Duration), E>>,
    {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let (value, lifetime) = fetch().await?;
        let now = Instant::now();
        let usable = lifetime.min(MAX_TOKEN_LIFETIME).saturating_sub(margin);
        // Checked even though clamped: an overflow here must mean "refresh next time", never a
        // panic in the middle of a pull.
        let refresh_at = now.checked_add(usable).unwrap_or(now);
        *current = Some(CachedToken {
            value: value.clone(),
            refresh_at,
        });
        Ok(value)
    }

    /// Drops `rejected` if it is still the cached token (another request may have refreshed it).
    pub async fn invalidate(&self, rejected: &str) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.value == rejected) {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn fetch_with(cache: &TokenCache, lifetime: Duration, fetches: &AtomicUsize) -> String {
        cache
            .get(Duration::from_secs(60), || async {
                fetches.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ()>(("t".to_owned(), lifetime))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_endless_lifetime_is_capped_not_overflowed() {
        let (cache, fetches) = (TokenCache::default(), AtomicUsize::new(0));
        for _ in 0..3 {
            assert_eq!(fetch_with(&cache, Duration::MAX, &fetches).await, "t");
        }
        assert_eq!(fetches.load(Ordering::Relaxed), 1, "cached after one fetch");
    }

    #[tokio::test]
    async fn a_zero_lifetime_is_fetched_again_next_time() {
        let (cache, fetches) = (TokenCache::default(), AtomicUsize::new(0));
        for _ in 0..3 {
            fetch_with(&cache, Duration::ZERO, &fetches).await;
        }
        assert_eq!(fetches.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn wire_lifetimes_are_clamped() {
        assert_eq!(lifetime_from_secs(-5), Duration::ZERO);
        assert_eq!(lifetime_from_secs(0), Duration::ZERO);
        assert_eq!(lifetime_from_secs(7200), Duration::from_secs(7200));
        assert_eq!(lifetime_from_secs(i128::from(u64::MAX)), MAX_TOKEN_LIFETIME);
    }
}
