use super::SecretRef;
use crate::plan::Policy;
use crate::pullers::wecom::WecomSourceConfig;
use crate::pushers::ldap::LdapTargetConfig;
use crate::pushers::scim::ScimTargetConfig;
use crate::pushers::webhook::WebhookTargetConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where snapshots and run history live (sled).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorConfig>,
}

/// One sync job: one source, one target, a policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub source: SourceConfig,
    pub target: TargetConfig,
    #[serde(default)]
    pub policy: Policy,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    Wecom(WecomSourceConfig),
}

// One per connector, read once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetConfig {
    Scim(ScimTargetConfig),
    Ldap(LdapTargetConfig),
    Webhook(WebhookTargetConfig),
}

impl SourceConfig {
    /// Every secret the source needs, for check-config.
    pub fn secrets(&self) -> Vec<&SecretRef> {
        match self {
            SourceConfig::Wecom(source) => vec![&source.secret],
        }
    }
}

impl TargetConfig {
    /// Every secret the target needs, for check-config.
    pub fn secrets(&self) -> Vec<&SecretRef> {
        match self {
            TargetConfig::Scim(target) => vec![&target.token],
            TargetConfig::Ldap(target) => vec![&target.bind_password],
            TargetConfig::Webhook(target) => vec![&target.secret],
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            TargetConfig::Scim(target) => target.validate(),
            TargetConfig::Ldap(target) => target.validate(),
            TargetConfig::Webhook(target) => target.validate(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/orgsync")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("config file {path}: connector {connector:?}: {detail}")]
    Connector {
        path: PathBuf,
        connector: String,
        detail: String,
    },
    #[error("config file {path}: no connector named {name:?} (configured: {known})")]
    UnknownConnector {
        path: PathBuf,
        name: String,
        known: String,
    },
}

impl Config {
    /// Reads `path`, applies `ORGSYNC__SECTION__KEY` environment overrides, and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: path.to_owned(),
            detail,
        };
        if !path.exists() {
            return Err(invalid(
                "file not found (give another one with --config)".into(),
            ));
        }
        let built = config::Config::builder()
            .add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            )
            .add_source(
                config::Environment::with_prefix("ORGSYNC")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let config: Config = built
            .try_deserialize()
            .map_err(|e| invalid(e.to_string()))?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads a config from TOML text (tests, the demo).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let built = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::Invalid {
                path: origin.to_owned(),
                detail: e.to_string(),
            })?;
        let config: Config = built.try_deserialize().map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            detail: e.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        for (name, connector) in &self.connectors {
            let fail = |detail: String| ConfigError::Connector {
                path: path.to_owned(),
                connector: name.clone(),
                detail,
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(fail(
                    "names may use only letters, digits, '-' and '_'".into(),
                ));
            }
            match &connector.source {
                SourceConfig::Wecom(source) => source
                    .validate()
                    .map_err(|d| fail(format!("source: {d}")))?,
            }
            connector
                .target
                .validate()
                .map_err(|d| fail(format!("target: {d}")))?;
        }
        Ok(())
    }

    pub fn connector(&self, name: &str, path: &Path) -> Result<&ConnectorConfig, ConfigError> {
        self.connectors
            .get(name)
            .ok_or_else(|| ConfigError::UnknownConnector {
                path: path.to_owned(),
                name: name.to_owned(),
                known: if self.connectors.is_empty() {
                    "none".to_owned()
                } else {
                    self.connectors
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_configs_load() {
        for (name, text) in [
            (
                "wecom-scim.toml",
                include_str!("../../config/wecom-scim.toml"),
            ),
            (
                "wecom-ldap.toml",
                include_str!("../../config/wecom-ldap.toml"),
            ),
            (
                "wecom-webhook.toml",
                include_str!("../../config/wecom-webhook.toml"),
            ),
        ] {
            let config = Config::from_toml(text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(config.connectors.len(), 1, "{name}");
        }
    }
}
