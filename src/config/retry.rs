use super::HumanDuration;
use backon::ExponentialBuilder;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Attempts per request of a pusher when `max_attempts` is not set.
pub const PUSHER_ATTEMPTS: usize = 8;

/// Retry policy for transient errors (rate limits, 5xx, timeouts, garbled bodies), upstream and target.
///
/// Pullers retry within a **time budget per run** (`budget` for the daemon, `interactive_budget`
/// for a run started in a terminal; defaults per platform, see [`PullBudgets`]): every call
/// of the run that waits to retry draws on it, and a throttle the platform announces as longer
/// than what is left ends the pull at once with a message that says so. Throttles are waited
/// out as often as the budget allows; other failures (5xx, timeouts) get 8 attempts per call.
/// `max_attempts`, when set, caps every call's attempts instead (pullers and pushers; configs
/// written before the budget keep their meaning); pushers make [`PUSHER_ATTEMPTS`] without it
/// and have no time budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per request, the first included. Unset: pullers wait out throttles as long as
    /// the budget allows and make 8 attempts against other failures; pushers make
    /// [`PUSHER_ATTEMPTS`].
    pub max_attempts: Option<usize>,
    pub min_delay: HumanDuration,
    /// Long enough to outlast a minute-long rate-limit window.
    pub max_delay: HumanDuration,
    /// Pullers, daemon runs: the time a run may spend waiting to retry. Unset: the platform's
    /// default for the mode.
    pub budget: Option<HumanDuration>,
    /// Pullers, runs from a terminal: the same, for someone watching.
    pub interactive_budget: Option<HumanDuration>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: None,
            min_delay: HumanDuration(Duration::from_millis(500)),
            max_delay: HumanDuration(Duration::from_secs(60)),
            budget: None,
            interactive_budget: None,
        }
    }
}

/// How orgsync runs, which decides how long a pull may wait out a throttle. A mode, not a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessMode {
    /// Someone is watching (`orgsync sync`, `diff`, `demo` on a terminal): waits are shown as
    /// they start, Ctrl-C interrupts, and the budget is short.
    #[default]
    Interactive,
    /// The daemon (and runs whose output is not a terminal): waits out even an hour-long block.
    Service,
}

/// A platform's default retry budgets per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullBudgets {
    pub interactive: Duration,
    pub service: Duration,
}

impl RetryConfig {
    /// Attempts per request of a pusher.
    pub fn pusher_attempts(&self) -> usize {
        self.max_attempts.unwrap_or(PUSHER_ATTEMPTS).max(1)
    }

    /// The pushers' backoff: [`Self::pusher_attempts`] attempts.
    pub fn backoff(&self) -> ExponentialBuilder {
        self.delays()
            .with_max_times(self.pusher_attempts().saturating_sub(1))
    }

    /// The growing delays between attempts, without a bound on their number.
    pub fn delays(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay.0)
            .with_max_delay(self.max_delay.0)
            .without_max_times()
            .with_jitter()
    }

    /// A puller's budget in `mode`: the configured one, else the platform's default.
    pub fn budget(&self, mode: ProcessMode, defaults: PullBudgets) -> Duration {
        match mode {
            ProcessMode::Interactive => self
                .interactive_budget
                .map_or(defaults.interactive, |b| b.0),
            ProcessMode::Service => self.budget.map_or(defaults.service, |b| b.0),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == Some(0) {
            return Err("retry.max_attempts must be at least 1 (leave it out for no cap)".into());
        }
        if self.min_delay.0 > self.max_delay.0 {
            return Err("retry.min_delay must not exceed retry.max_delay".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_that_set_max_attempts_still_load_and_budgets_fall_back_per_mode() {
        let config: RetryConfig =
            toml::from_str("max_attempts = 3\nmin_delay = \"1ms\"\nmax_delay = \"10ms\"").unwrap();
        assert_eq!(config.max_attempts, Some(3));
        assert_eq!(config.pusher_attempts(), 3);
        assert_eq!(RetryConfig::default().pusher_attempts(), PUSHER_ATTEMPTS);
        let defaults = PullBudgets {
            interactive: Duration::from_secs(900),
            service: Duration::from_secs(4500),
        };
        assert_eq!(
            config.budget(ProcessMode::Service, defaults),
            Duration::from_secs(4500)
        );
        let config: RetryConfig =
            toml::from_str("budget = \"2h\"\ninteractive_budget = \"1m\"").unwrap();
        assert_eq!(
            config.budget(ProcessMode::Service, defaults),
            Duration::from_secs(7200)
        );
        assert_eq!(
            config.budget(ProcessMode::Interactive, defaults),
            Duration::from_secs(60)
        );
        assert!(toml::from_str::<RetryConfig>("budjet = \"2h\"").is_err());
        let zero: RetryConfig = toml::from_str("max_attempts = 0").unwrap();
        assert!(zero.validate().is_err());
    }
}
