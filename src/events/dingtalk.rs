//! DingTalk's contact events over HTTP: signature, AES-256-CBC, an encrypted "success" reply.
//!
//! SKELETON: the platform's helper replaces this file.

use super::{Incoming, Opened, Opener, Refusal};
use crate::config::EventsConfig;
use crate::pullers::dingtalk::DingtalkSourceConfig;

pub struct DingtalkOpener {}

impl DingtalkOpener {
    /// Resolves the connector's secrets and checks the key's shape.
    pub fn from_config(
        _source: &DingtalkSourceConfig,
        _events: &EventsConfig,
    ) -> Result<Self, String> {
        Ok(DingtalkOpener {})
    }
}

impl Opener for DingtalkOpener {
    fn open(&self, _request: &Incoming<'_>, _now: jiff::Timestamp) -> Result<Opened, Refusal> {
        Err(Refusal::Malformed("not implemented yet".into()))
    }
}
