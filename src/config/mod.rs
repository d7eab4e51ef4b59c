//! Typed configuration: defaults → TOML file → `ORGSYNC__…` environment overrides.

mod duration;
mod env;
mod events;
mod file;
mod notify;
mod retry;
mod schedule;
mod secret;
pub mod transport;

pub use duration::HumanDuration;
pub use events::{BITRIX24_HAS_NO_EVENTS, Delivery, EventsConfig, EventsListenConfig};
pub use file::{
    Config, ConfigError, ConnectorConfig, DaemonConfig, HistoryConfig, SourceConfig, TargetConfig,
    WebConfig,
};
pub use notify::{ChannelKind, NotifyConfig, NotifyEvent};
pub use retry::{PUSHER_ATTEMPTS, ProcessMode, PullBudgets, RetryConfig};
pub use schedule::{Cron, CronError, Schedule, ScheduleZone, ZoneOrigin};
pub use secret::{Secret, SecretError, SecretRef};
pub use transport::PlainHttp;

/// Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API. Loads `bytes` (as far as
/// they are UTF-8) the way a config file is loaded, validation included; must never panic.
#[doc(hidden)]
pub fn fuzz_parse(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(config) = Config::from_toml(&text, std::path::Path::new("fuzz.toml")) {
        for (name, connector) in &config.connectors {
            std::hint::black_box(
                config
                    .connector(name, std::path::Path::new("fuzz.toml"))
                    .ok(),
            );
            std::hint::black_box(connector.source.secret_refs());
        }
    }
}
