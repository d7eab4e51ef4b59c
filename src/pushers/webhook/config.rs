use crate::config::{HumanDuration, PlainHttp, RetryConfig, SecretRef, transport};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.target]` with `kind = "webhook"`: every step POSTed as a signed JSON event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTargetConfig {
    /// Where events are POSTed.
    pub url: Url,
    /// The HMAC-SHA256 key that signs every delivery (`X-Orgsync-Signature`).
    pub secret: SecretRef,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    /// How long one delivery may take before it counts as failed (and is retried).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Deliveries in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Backoff for 5xx, 429 and timeouts; other 4xx answers are final.
    #[serde(default)]
    pub retry: RetryConfig,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_concurrency() -> usize {
    4
}

impl WebhookTargetConfig {
    pub fn new(url: Url, secret: SecretRef) -> Self {
        WebhookTargetConfig {
            url,
            secret,
            allow_plain_http: PlainHttp::Refused,
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            retry: RetryConfig::default(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.url.scheme(), "http" | "https") {
            return Err(format!("url {} is not an http(s) URL", self.url));
        }
        if !self.url.username().is_empty() || self.url.password().is_some() {
            return Err(
                "url must not carry credentials; the signature authenticates orgsync".into(),
            );
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        transport::check("url", &self.url, self.allow_plain_http)
    }
}

impl WebhookTargetConfig {
    /// The `attributes` table as a [`Mapping`](crate::mapping::Mapping).
    // Filled in by the attribute-mapping work: every kind maps its own keys.
    pub fn attribute_mapping(
        &self,
    ) -> Result<crate::mapping::Mapping, crate::mapping::MappingError> {
        Ok(crate::mapping::Mapping::default())
    }
}
