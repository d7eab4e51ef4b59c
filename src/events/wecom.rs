//! WeCom's contact change callbacks (`change_contact`, `subscribe`/`unsubscribe`): URL
//! verification by `echostr`, `msg_signature`, AES-256-CBC with the EncodingAESKey.
//!
//! SKELETON: the platform's helper replaces this file.

use super::{Incoming, Opened, Opener, Refusal};
use crate::config::EventsConfig;
use crate::pullers::wecom::WecomSourceConfig;

pub struct WecomOpener {}

impl WecomOpener {
    /// Resolves the connector's secrets and checks the key's shape.
    pub fn from_config(
        _source: &WecomSourceConfig,
        _events: &EventsConfig,
    ) -> Result<Self, String> {
        Ok(WecomOpener {})
    }
}

impl Opener for WecomOpener {
    fn open(&self, _request: &Incoming<'_>, _now: jiff::Timestamp) -> Result<Opened, Refusal> {
        Err(Refusal::Malformed("not implemented yet".into()))
    }
}
