use crate::config::{ConnectorConfig, SecretError, SourceConfig, TargetConfig};
use crate::plan::Policy;
use crate::pullers::bitrix24::Bitrix24Puller;
use crate::pullers::dingtalk::DingtalkPuller;
use crate::pullers::feishu::FeishuPuller;
use crate::pullers::wecom::WecomPuller;
use crate::pullers::{AnyPuller, PullError};
use crate::pushers::ldap::LdapPusher;
use crate::pushers::scim::ScimPusher;
use crate::pushers::webhook::WebhookPusher;
use crate::pushers::{AnyPusher, PushError};

/// A configured sync job, ready to run: secrets resolved, clients built. Generic so tests and
/// benches can run the engine with their own puller or pusher; configs build the enums.
pub struct Connector<P = AnyPuller, Q = AnyPusher> {
    pub name: String,
    pub puller: P,
    pub pusher: Q,
    pub policy: Policy,
    /// Target requests in flight at once.
    pub concurrency: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("connector {connector}: {source}")]
    Secret {
        connector: String,
        source: SecretError,
    },
    #[error("connector {connector}: source: {source}")]
    Source {
        connector: String,
        source: PullError,
    },
    #[error("connector {connector}: target: {source}")]
    Mapping {
        connector: String,
        source: crate::mapping::MappingError,
    },
    #[error("connector {connector}: target: {source}")]
    Target {
        connector: String,
        source: PushError,
    },
}

impl Connector {
    pub fn from_config(name: &str, config: &ConnectorConfig) -> Result<Self, BuildError> {
        config.warn_plain_http(name);
        let secret = |e| BuildError::Secret {
            connector: name.to_owned(),
            source: e,
        };
        let puller = match &config.source {
            SourceConfig::Wecom(source) => {
                let token = source.secret.resolve().map_err(secret)?;
                AnyPuller::Wecom(WecomPuller::new(source.clone(), token).map_err(|e| {
                    BuildError::Source {
                        connector: name.to_owned(),
                        source: e,
                    }
                })?)
            }
            SourceConfig::Bitrix24(source) => {
                let secrets = source.resolve_secrets().map_err(secret)?;
                AnyPuller::Bitrix24(Bitrix24Puller::new(source.clone(), secrets).map_err(|e| {
                    BuildError::Source {
                        connector: name.to_owned(),
                        source: e,
                    }
                })?)
            }
            SourceConfig::Feishu(source) => {
                let app_secret = source.app_secret.resolve().map_err(secret)?;
                AnyPuller::Feishu(FeishuPuller::new(source.clone(), app_secret).map_err(|e| {
                    BuildError::Source {
                        connector: name.to_owned(),
                        source: e,
                    }
                })?)
            }
            SourceConfig::Dingtalk(source) => {
                let app_secret = source.app_secret.resolve().map_err(secret)?;
                AnyPuller::Dingtalk(DingtalkPuller::new(source.clone(), app_secret).map_err(
                    |e| BuildError::Source {
                        connector: name.to_owned(),
                        source: e,
                    },
                )?)
            }
        };
        let (pusher, concurrency) = build_pusher(name, &config.target)?;
        let mapping = config.target.mapping().map_err(|e| BuildError::Mapping {
            connector: name.to_owned(),
            source: e,
        })?;
        Ok(Connector {
            name: name.to_owned(),
            puller,
            pusher,
            policy: crate::plan::Policy {
                groups: config.groups.clone(),
                mapping,
                ..config.policy.clone()
            },
            concurrency: concurrency.max(1),
        })
    }
}

/// The pusher a target config names, with its secret resolved, and its concurrency. Used by
/// [`Connector::from_config`] and by `orgsync demo --target`.
pub fn build_pusher(name: &str, target: &TargetConfig) -> Result<(AnyPusher, usize), BuildError> {
    let secret = |e| BuildError::Secret {
        connector: name.to_owned(),
        source: e,
    };
    let target_error = |e| BuildError::Target {
        connector: name.to_owned(),
        source: e,
    };
    Ok(match target {
        TargetConfig::Scim(target) => {
            let token = target.token.resolve().map_err(secret)?;
            let pusher = ScimPusher::new(target.clone(), token).map_err(target_error)?;
            (AnyPusher::Scim(pusher), target.concurrency)
        }
        TargetConfig::Ldap(target) => {
            let password = target.bind_password.resolve().map_err(secret)?;
            let pusher = LdapPusher::new(target.clone(), password).map_err(target_error)?;
            (AnyPusher::Ldap(pusher), target.concurrency)
        }
        TargetConfig::Webhook(target) => {
            let key = target.secret.resolve().map_err(secret)?;
            let pusher = WebhookPusher::new(target.clone(), key, name).map_err(target_error)?;
            (AnyPusher::Webhook(pusher), target.concurrency)
        }
    })
}
