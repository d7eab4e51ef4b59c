use crate::config::{HumanDuration, PlainHttp, RetryConfig, SecretRef, transport};
use crate::pullers::http::{LimitScope, RateLimit};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.source]` with `kind = "wecom"`: a self-built app's credentials.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WecomSourceConfig {
    /// The corp id (`ww…`), shown under 我的企业 → 企业信息.
    pub corp_id: String,
    /// The self-built app's secret (not the contacts-sync secret).
    pub secret: SecretRef,
    /// The app's agent id (AgentId on the app's page: 应用管理 → the app). Required: the app's
    /// visible range (`agent/get`) is the only way to learn the people added one by one and the
    /// tags it is shared with. Optional in the file only so that its absence is explained.
    #[serde(default)]
    pub agent_id: Option<i64>,
    #[serde(default = "default_api_base")]
    pub api_base: Url,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Department member lists fetched at once. WeCom caps concurrent calls per API (45033).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Client-side limits. WeCom documents 10 000 calls/min per API; the default keeps 5 % headroom
    /// for network jitter.
    #[serde(default = "default_rate_limits")]
    pub rate_limits: Vec<RateLimit>,
    /// WeCom's documented block lengths; not configurable in the file (tests shorten them).
    #[doc(hidden)]
    #[serde(skip)]
    pub throttle_windows: ThrottleWindows,
}

/// How long WeCom blocks an API that went over its limits: a minute for the minute limit, an
/// hour for the hourly one (notes §7 and Corrections).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleWindows {
    pub minute: Duration,
    pub hour: Duration,
}

impl Default for ThrottleWindows {
    fn default() -> Self {
        ThrottleWindows {
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
        }
    }
}

/// Why `agent_id` is required, and where to find it. A configuration without an app (the
/// contacts-sync secret) is not offered: since 2022-08-15 that secret reads names and details only
/// from servers that used it before, and orgsync needs names.
pub(super) const MISSING_AGENT_ID: &str = "agent_id is missing: WeCom needs the app's AgentId to read \
     its visible range (people added one by one or through a tag are not in any department list). \
     Find it in the admin console under 应用管理 → the self-built app → AgentId, and set \
     agent_id = <that number> in this source";

/// Both documented windows per API, 5 % under: 10 000 a minute and 150 000 an hour (over the
/// hour's budget WeCom blocks the API for an hour).
fn default_rate_limits() -> Vec<RateLimit> {
    vec![
        RateLimit::new(9_500, Duration::from_secs(60), LimitScope::Endpoint),
        RateLimit::new(142_500, Duration::from_secs(3600), LimitScope::Endpoint),
    ]
}

fn default_api_base() -> Url {
    Url::parse("https://qyapi.weixin.qq.com").expect("constant URL is valid")
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_concurrency() -> usize {
    4
}

impl WecomSourceConfig {
    /// A config for the given corp and API base with every other setting at its default.
    pub fn new(corp_id: impl Into<String>, secret: SecretRef, api_base: Url) -> Self {
        WecomSourceConfig {
            corp_id: corp_id.into(),
            secret,
            agent_id: None,
            api_base,
            allow_plain_http: PlainHttp::Refused,
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            retry: RetryConfig::default(),
            rate_limits: default_rate_limits(),
            throttle_windows: ThrottleWindows::default(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.corp_id.trim().is_empty() {
            return Err("corp_id is empty".into());
        }
        if self.agent_id.is_none() {
            return Err(MISSING_AGENT_ID.into());
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        for limit in &self.rate_limits {
            limit.validate()?;
        }
        self.retry.validate()?;
        if !matches!(self.api_base.scheme(), "http" | "https") {
            return Err(format!("api_base {} is not an http(s) URL", self.api_base));
        }
        transport::check("api_base", &self.api_base, self.allow_plain_http)
    }
}
