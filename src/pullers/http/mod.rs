//! Shared plumbing of the HTTP pullers: errors, retries with backoff, token caching, call counting.

mod calls;
mod error;
mod rate_limit;
mod token;
pub mod wire;

pub use calls::CallCounter;
pub use error::PullError;
pub use rate_limit::{LimitScope, RateLimit, RateLimiter};
pub use token::TokenCache;

use std::time::Duration;

/// One HTTP client per puller: connections are reused across the whole pull.
pub fn client(timeout: Duration) -> Result<reqwest::Client, PullError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("orgsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PullError::Setup {
            detail: e.without_url().to_string(),
        })
}
