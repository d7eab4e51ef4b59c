//! Feishu/Lark event subscription v2: URL challenge, verification token, encrypt key, X-Lark-Signature.
//!
//! SKELETON: the platform's helper replaces this file.

use super::{Incoming, Opened, Opener, Refusal};
use crate::config::EventsConfig;
use crate::pullers::feishu::FeishuSourceConfig;

pub struct FeishuOpener {}

impl FeishuOpener {
    /// Resolves the connector's secrets and checks the key's shape.
    pub fn from_config(
        _source: &FeishuSourceConfig,
        _events: &EventsConfig,
    ) -> Result<Self, String> {
        Ok(FeishuOpener {})
    }
}

impl Opener for FeishuOpener {
    fn open(&self, _request: &Incoming<'_>, _now: jiff::Timestamp) -> Result<Opened, Refusal> {
        Err(Refusal::Malformed("not implemented yet".into()))
    }
}
