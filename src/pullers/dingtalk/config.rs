use crate::config::{HumanDuration, PlainHttp, RetryConfig, SecretRef, transport};
use crate::pullers::http::{LimitScope, RateLimit};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.source]` with `kind = "dingtalk"`: an internal app's credentials.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingtalkSourceConfig {
    /// The app's AppKey (`ding…`), shown on the app's 凭证与基础信息 page.
    pub app_key: String,
    /// The app's AppSecret.
    pub app_secret: SecretRef,
    /// The old OpenAPI host (`oapi`), where all contact reads live.
    #[serde(default = "default_api_base")]
    pub api_base: Url,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Requests in flight at once per API: department walks, then member lists and per-person
    /// reads side by side (each API has its own rate limit).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Client-side limits. DingTalk documents 20 calls/s per app and API on the standard edition
    /// (40 on 专业版, 60 on 专属版); the default keeps 5 % headroom for network jitter.
    #[serde(default = "default_rate_limits")]
    pub rate_limits: Vec<RateLimit>,
    /// The app's AgentId (same page as the AppKey). The HR roster API needs it; without it
    /// managers are read with one `user/get` per person.
    #[serde(default)]
    pub agent_id: Option<u64>,
    /// How managers and main departments are read: `auto` (the default with `agent_id`) asks
    /// the HR roster for 100 people per call and falls back to `user/get` when the permission
    /// is missing or the monthly quota is spent; `never` always reads one person per call.
    #[serde(default)]
    pub roster: Option<RosterMode>,
    /// Codes of custom HR roster fields to read too (the uuid-like codes of the roster's field
    /// settings), each into the person's profile as `custom.<its field name>`. Read only while
    /// the roster is used.
    #[serde(default)]
    pub roster_fields: Vec<String>,
    /// The shortest wait after DingTalk's per-IP anti-abuse ban, documented as about 5 minutes;
    /// a ban whose `wait` (minutes) says more is waited out longer.
    #[serde(default = "default_ban_wait")]
    pub ban_wait: HumanDuration,
}

/// Whether the HR roster (智能人事花名册) is used for managers and main departments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterMode {
    /// Use it while it answers; fall back to `user/get` per person when it refuses.
    Auto,
    /// Never call it (no roster permission, or its calls count against a quota kept for others).
    Never,
}

/// Custom roster field codes one may list: the roster's 100 a call minus orgsync's 5.
pub const ROSTER_FIELDS_MAX: usize = 95;

fn default_ban_wait() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

/// 19 per second per API: 5 % under the standard edition's 20; and 9 500 per 20 s over all
/// APIs, 5 % under the per-address 10 000 whose excess bans the address for about 5 minutes.
pub fn default_rate_limits() -> Vec<RateLimit> {
    vec![
        RateLimit::new(19, Duration::from_secs(1), LimitScope::Endpoint),
        RateLimit::new(9_500, Duration::from_secs(20), LimitScope::Shared),
    ]
}

fn default_api_base() -> Url {
    Url::parse("https://oapi.dingtalk.com").expect("constant URL is valid")
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_concurrency() -> usize {
    4
}

impl DingtalkSourceConfig {
    /// A config for the given app and API base with every other setting at its default.
    pub fn new(app_key: impl Into<String>, app_secret: SecretRef, api_base: Url) -> Self {
        DingtalkSourceConfig {
            app_key: app_key.into(),
            app_secret,
            api_base,
            allow_plain_http: PlainHttp::Refused,
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            retry: RetryConfig::default(),
            rate_limits: default_rate_limits(),
            agent_id: None,
            roster: None,
            roster_fields: Vec::new(),
            ban_wait: default_ban_wait(),
        }
    }

    /// The roster mode in force: `auto` when an `agent_id` is set and `roster` is not,
    /// `never` without an `agent_id`.
    pub fn roster_mode(&self) -> RosterMode {
        match (self.agent_id, self.roster) {
            (None, _) => RosterMode::Never,
            (Some(_), mode) => mode.unwrap_or(RosterMode::Auto),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.app_key.trim().is_empty() {
            return Err("app_key is empty".into());
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        for limit in &self.rate_limits {
            limit.validate()?;
        }
        self.retry.validate()?;
        if self.roster == Some(RosterMode::Auto) && self.agent_id.is_none() {
            return Err(
                "roster = \"auto\" needs agent_id: the app's AgentId, shown on its \
                        凭证与基础信息 page next to the AppKey"
                    .into(),
            );
        }
        if let Some(code) = self
            .roster_fields
            .iter()
            .find(|c| c.trim().is_empty() || c.contains(','))
        {
            return Err(format!(
                "roster_fields: {code:?} is not a roster field code"
            ));
        }
        // The roster takes 100 codes a call; orgsync asks for 5 of its own.
        if self.roster_fields.len() > ROSTER_FIELDS_MAX {
            return Err(format!(
                "roster_fields lists {} codes; the roster takes at most {ROSTER_FIELDS_MAX} besides orgsync's own",
                self.roster_fields.len()
            ));
        }
        if !matches!(self.api_base.scheme(), "http" | "https") {
            return Err(format!("api_base {} is not an http(s) URL", self.api_base));
        }
        transport::check("api_base", &self.api_base, self.allow_plain_http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_toml_takes_the_defaults() {
        let config: DingtalkSourceConfig =
            toml::from_str("app_key = \"dingabc\"\napp_secret = \"env:DT_SECRET\"\n").unwrap();
        assert_eq!(config.api_base.as_str(), "https://oapi.dingtalk.com/");
        assert_eq!(config.rate_limits, default_rate_limits());
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.roster_mode(), RosterMode::Never, "no agent_id");
        assert_eq!(config.ban_wait.0, Duration::from_secs(300));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn roster_mode_follows_agent_id() {
        let parse = |extra: &str| {
            toml::from_str::<DingtalkSourceConfig>(&format!(
                "app_key = \"k\"\napp_secret = \"env:S\"\n{extra}"
            ))
        };
        let config = parse("agent_id = 2001\n").unwrap();
        assert_eq!(config.roster_mode(), RosterMode::Auto);
        let config = parse("agent_id = 2001\nroster = \"never\"\n").unwrap();
        assert_eq!(config.roster_mode(), RosterMode::Never);
        let config = parse("roster = \"auto\"\n").unwrap();
        assert!(config.validate().unwrap_err().contains("agent_id"));
        assert!(parse("agent_id = 1\nroster = \"sometimes\"\n").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let unknown = toml::from_str::<DingtalkSourceConfig>(
            "app_key = \"k\"\napp_secret = \"env:S\"\ncorp_id = \"x\"\n",
        );
        assert!(unknown.unwrap_err().to_string().contains("corp_id"));
        let mut config: DingtalkSourceConfig =
            toml::from_str("app_key = \" \"\napp_secret = \"env:S\"\n").unwrap();
        assert!(config.validate().unwrap_err().contains("app_key"));
        config.app_key = "k".into();
        config.concurrency = 0;
        assert!(config.validate().unwrap_err().contains("concurrency"));
        config.concurrency = 1;
        config.roster_fields = vec!["a,b".into()];
        assert!(config.validate().unwrap_err().contains("roster_fields"));
        config.roster_fields = vec!["c".into(); ROSTER_FIELDS_MAX + 1];
        assert!(config.validate().unwrap_err().contains("at most 95"));
        config.roster_fields = vec!["3baafdf8-f74a-489e-bb03-fd094eecfc3b".into()];
        assert_eq!(config.validate(), Ok(()));
    }
}
