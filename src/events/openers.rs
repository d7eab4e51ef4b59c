//! The one place that picks a connector's [`Opener`] by its platform: each platform's opener
//! lives in its own file and is built from the connector's source and `[events]` settings.

use super::Opener;
use super::dingtalk::DingtalkOpener;
use super::feishu::FeishuOpener;
use super::wecom::WecomOpener;
use crate::config::{ConnectorConfig, Delivery, SourceConfig};

/// The opener of `connector`'s HTTP events; `None` when it has no `[connectors.NAME.events]`
/// or receives them over DingTalk's Stream connection instead. An error says which setting is
/// wrong (never a secret's value).
pub fn opener_for(connector: &ConnectorConfig) -> Result<Option<Box<dyn Opener>>, String> {
    let Some(events) = connector
        .events
        .as_ref()
        .filter(|e| e.delivery == Delivery::Http)
    else {
        return Ok(None);
    };
    let opener: Box<dyn Opener> = match &connector.source {
        SourceConfig::Wecom(source) => Box::new(WecomOpener::from_config(source, events)?),
        SourceConfig::Dingtalk(source) => Box::new(DingtalkOpener::from_config(source, events)?),
        SourceConfig::Feishu(source) => Box::new(FeishuOpener::from_config(source, events)?),
        SourceConfig::Bitrix24(_) => return Err(crate::config::BITRIX24_HAS_NO_EVENTS.into()),
    };
    Ok(Some(opener))
}
