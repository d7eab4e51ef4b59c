//! HTTP to a SCIM service provider: bearer auth, SCIM error bodies, retries honoring Retry-After.

use super::config::ScimTargetConfig;
use super::wire;
use crate::config::Secret;
use crate::http_client::{self, Redirects};
use crate::pushers::PushError;
use backon::Retryable;
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tracing::warn;

const SCIM_JSON: &str = "application/scim+json";

pub(super) struct ScimClient {
    http: reqwest::Client,
    config: ScimTargetConfig,
    token: Secret,
}

/// A successful answer's body (empty for 204).
pub(super) struct Answer {
    pub body: bytes::Bytes,
}

impl ScimClient {
    pub(super) fn new(config: ScimTargetConfig, token: Secret) -> Result<Self, PushError> {
        let http = http_client::build(config.timeout.0, Redirects::Follow)
            .map_err(|detail| PushError::Setup { detail })?;
        Ok(ScimClient {
            http,
            config,
            token,
        })
    }

    pub(super) fn page_size(&self) -> usize {
        self.config.page_size
    }

    /// `path` is relative to the base URL, e.g. `/Users/42`. Retried with backoff while the error
    /// is transient; 429 and 503 wait as long as Retry-After asks.
    pub(super) async fn request<B: Serialize + Sync>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Answer, PushError> {
        let max_attempts = self.config.retry.pusher_attempts();
        let attempt = || self.send(method.clone(), path, query, body);
        attempt
            .retry(self.config.retry.backoff())
            .when(PushError::is_retryable)
            .adjust(|error: &PushError, delay| delay.map(|d| error.retry_after().unwrap_or(d)))
            .notify(|error: &PushError, delay: Duration| {
                warn!(%method, path, error = %error.for_log(), delay_ms = delay.as_millis() as u64, "SCIM request failed; retrying.");
            })
            .await
            .map_err(|last| {
                if last.is_retryable() {
                    PushError::Exhausted { attempts: max_attempts, last: Box::new(last) }
                } else {
                    last
                }
            })
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, PushError> {
        let answer = self.request::<()>(Method::GET, path, query, None).await?;
        parse(&answer.body)
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Answer, PushError> {
        let url = format!(
            "{}{path}",
            self.config.base_url.as_str().trim_end_matches('/')
        );
        let mut request = self
            .http
            .request(method, url)
            .query(query)
            .bearer_auth(self.token.expose())
            .header(header::ACCEPT, SCIM_JSON);
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|e| PushError::Malformed {
                detail: e.to_string(),
            })?;
            request = request.header(header::CONTENT_TYPE, SCIM_JSON).body(json);
        }
        let response = request.send().await.map_err(PushError::transport)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = crate::pushers::error::read_capped(response).await?;
        if status.is_success() {
            return Ok(Answer { body });
        }
        let error: Option<wire::ErrorBody> = serde_json::from_slice(&body).ok();
        let scim_type = error.as_ref().and_then(|e| e.scim_type.clone());
        let detail = error
            .and_then(|e| e.detail)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no detail").to_owned());
        if status == StatusCode::CONFLICT {
            return Err(PushError::Conflict { detail });
        }
        Err(PushError::Status {
            status: status.as_u16(),
            scim_type,
            detail,
            retry_after,
        })
    }
}

pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, PushError> {
    serde_json::from_slice(body).map_err(|e| PushError::Malformed {
        detail: e.to_string(),
    })
}

/// Retry-After in seconds (the HTTP-date form is rare for APIs and falls back to our backoff).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(600)))
}
