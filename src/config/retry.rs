use super::HumanDuration;
use backon::ExponentialBuilder;
use serde::Deserialize;
use std::time::Duration;

/// Retry policy for transient errors (rate limits, 5xx, timeouts, garbled bodies), upstream and target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per request, the first included.
    pub max_attempts: usize,
    pub min_delay: HumanDuration,
    /// Long enough to outlast a minute-long rate-limit window.
    pub max_delay: HumanDuration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            min_delay: HumanDuration(Duration::from_millis(500)),
            max_delay: HumanDuration(Duration::from_secs(60)),
        }
    }
}

impl RetryConfig {
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay.0)
            .with_max_delay(self.max_delay.0)
            .with_max_times(self.max_attempts.saturating_sub(1))
            .with_jitter()
    }
}
