//! Typed configuration: defaults → TOML file → `ORGSYNC__…` environment overrides.

mod duration;
mod file;
mod retry;
mod secret;

pub use duration::HumanDuration;
pub use file::{
    Config, ConfigError, ConnectorConfig, DaemonConfig, HistoryConfig, SourceConfig, TargetConfig,
};
pub use retry::RetryConfig;
pub use secret::{Secret, SecretError, SecretRef};
