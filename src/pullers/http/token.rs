use std::time::{Duration, Instant};
use tokio::sync::Mutex;

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
    /// refreshed `margin` before it expires.
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
        let refresh_at = Instant::now() + lifetime.saturating_sub(margin);
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
