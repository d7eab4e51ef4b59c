//! The four upstream emulators behind one enum, for tests that run the same scenario on every
//! platform.

use super::{AGENT_ID, bitrix24_puller, dingtalk_puller, feishu_puller, wecom_puller};
use emulators::faults::Faults;
use emulators::fixture::Org;
use orgsync::model::UserKey;
use orgsync::pullers::AnyPuller;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Platform {
    Wecom,
    Dingtalk,
    Feishu,
    Bitrix24,
}

pub enum Upstream {
    Wecom(emulators::wecom::WecomHandle),
    Dingtalk(emulators::dingtalk::DingtalkHandle),
    Feishu(emulators::feishu::FeishuHandle),
    Bitrix24(emulators::bitrix24::Bitrix24Handle),
}

impl Upstream {
    pub async fn start(platform: Platform, org: Org) -> Upstream {
        match platform {
            Platform::Wecom => Upstream::Wecom(
                emulators::wecom::start(org, Default::default())
                    .await
                    .unwrap(),
            ),
            Platform::Dingtalk => Upstream::Dingtalk(
                emulators::dingtalk::start(org, Default::default())
                    .await
                    .unwrap(),
            ),
            Platform::Feishu => Upstream::Feishu(
                emulators::feishu::start(org, Default::default())
                    .await
                    .unwrap(),
            ),
            Platform::Bitrix24 => Upstream::Bitrix24(
                emulators::bitrix24::start(org, Default::default())
                    .await
                    .unwrap(),
            ),
        }
    }

    /// A puller with quick retries. WeCom runs with `agent_id`, which also reads the people
    /// authorized one by one.
    pub fn puller(&self) -> AnyPuller {
        match self {
            Upstream::Wecom(h) => AnyPuller::Wecom(wecom_puller(h, Some(AGENT_ID))),
            Upstream::Dingtalk(h) => AnyPuller::Dingtalk(dingtalk_puller(h, |_| {})),
            Upstream::Feishu(h) => AnyPuller::Feishu(feishu_puller(h, |_| {})),
            Upstream::Bitrix24(h) => AnyPuller::Bitrix24(bitrix24_puller(h, false)),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        match self {
            Upstream::Wecom(h) => h.set_faults(faults),
            Upstream::Dingtalk(h) => h.set_faults(faults),
            Upstream::Feishu(h) => h.set_faults(faults),
            Upstream::Bitrix24(h) => h.set_faults(faults),
        }
    }

    pub fn total_calls(&self) -> u64 {
        match self {
            Upstream::Wecom(h) => h.total_calls(),
            Upstream::Dingtalk(h) => h.total_calls(),
            Upstream::Feishu(h) => h.total_calls(),
            Upstream::Bitrix24(h) => h.total_calls(),
        }
    }

    /// The upstream key the platform gives a fixture person.
    pub fn key(&self, fixture_id: &str) -> UserKey {
        match self {
            Upstream::Bitrix24(h) => UserKey::new(
                h.user_id(fixture_id)
                    .unwrap_or_else(|| panic!("no Bitrix24 id for {fixture_id}")),
            ),
            _ => UserKey::from(fixture_id),
        }
    }
}
