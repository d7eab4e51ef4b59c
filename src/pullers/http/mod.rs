//! Shared plumbing of the HTTP pullers: errors, retries within a time budget, token caching, call
//! counting and live progress.

mod calls;
mod error;
mod progress;
mod rate_limit;
mod retry;
mod token;
pub mod wire;

pub use calls::CallCounter;
pub use error::PullError;
pub use progress::{PullCounts, PullProgress, WaitReason, Waiting};
pub use rate_limit::{LimitKind, LimitScope, RateLimit, RateLimiter};
pub use retry::{Attempt, FAILURES, Retrier};
pub use token::{MAX_TOKEN_LIFETIME, TokenCache, lifetime_from_secs};

use std::time::Duration;

/// One HTTP client per puller: connections are reused across the whole pull.
pub fn client(timeout: Duration) -> Result<reqwest::Client, PullError> {
    crate::http_client::build(timeout, crate::http_client::Redirects::Follow)
        .map_err(|detail| PullError::Setup { detail })
}

/// The largest answer orgsync reads (pullers and pushers). The biggest real page (100 people with
/// every field) is a few hundred kilobytes; anything near this is a broken or hostile server,
/// refused before it fills the memory.
pub const MAX_BODY: usize = 64 << 20;

/// Reads an answer's body; `Ok(None)` when it grows past [`MAX_BODY`].
pub async fn read_limited(
    mut response: reqwest::Response,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// Why an answer was refused unread.
pub fn too_large() -> String {
    format!("the answer is larger than {} MiB; refused", MAX_BODY >> 20)
}

/// The body of a 2xx answer (at most [`MAX_BODY`] bytes); any other status is the error, for
/// platforms whose errors never hide in a non-2xx body.
pub async fn success_body(
    response: reqwest::Response,
    platform: crate::pullers::Platform,
    endpoint: &str,
) -> Result<bytes::Bytes, PullError> {
    let status = response.status();
    if !status.is_success() {
        return Err(PullError::HttpStatus {
            platform,
            endpoint: endpoint.to_owned(),
            status: status.as_u16(),
        });
    }
    read_body(response, platform, endpoint).await
}

/// Reads an answer's body, at most [`MAX_BODY`] bytes.
pub async fn read_body(
    response: reqwest::Response,
    platform: crate::pullers::Platform,
    endpoint: &str,
) -> Result<bytes::Bytes, PullError> {
    read_limited(response)
        .await
        .map_err(|e| PullError::transport(platform, endpoint, e))?
        .ok_or_else(|| PullError::Malformed {
            platform,
            endpoint: endpoint.to_owned(),
            detail: too_large(),
        })
}
