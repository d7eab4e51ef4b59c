use crate::config::{HumanDuration, PlainHttp, RetryConfig, SecretRef, transport};
use crate::pullers::http::{LimitScope, RateLimit};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.source]` with `kind = "feishu"`: a self-built app (自建应用) of Feishu or Lark.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeishuSourceConfig {
    /// The app id (`cli_…`), shown under 凭证与基础信息 / Credentials & Basic Info.
    pub app_id: String,
    /// The app secret, from the same page.
    pub app_secret: SecretRef,
    /// `https://open.feishu.cn` (China) or `https://open.larksuite.com` (Lark); paths are the same.
    #[serde(default = "default_api_base")]
    pub api_base: Url,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    /// Which id becomes a person's key (and their manager's). `user_id` is stable across apps but
    /// needs the permission `contact:user.employee_id:readonly`.
    #[serde(default)]
    pub user_id_type: UserIdType,
    /// `open_department_id` is system-generated; custom `department_id`s may be reused after a
    /// department is deleted.
    #[serde(default)]
    pub department_id_type: DepartmentIdType,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Department member lists fetched at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Client-side limits. Feishu documents 1 000 requests/min and 50 requests/s per API for the
    /// contact reads; the default keeps 5 % headroom for network jitter.
    #[serde(default = "default_rate_limits")]
    pub rate_limits: Vec<RateLimit>,
}

/// Feishu's `user_id_type` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserIdType {
    /// Per tenant, the same for every app.
    #[default]
    UserId,
    /// Per app (`ou_…`).
    OpenId,
    /// Per developer account (`on_…`).
    UnionId,
}

impl UserIdType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserIdType::UserId => "user_id",
            UserIdType::OpenId => "open_id",
            UserIdType::UnionId => "union_id",
        }
    }
}

/// Feishu's `department_id_type` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentIdType {
    #[default]
    OpenDepartmentId,
    DepartmentId,
}

impl DepartmentIdType {
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentIdType::OpenDepartmentId => "open_department_id",
            DepartmentIdType::DepartmentId => "department_id",
        }
    }
}

/// Both documented windows per API, held as sliding windows with a little time to spare for
/// network jitter: 1 000 in any 61 s and 50 in any 1.02 s (Feishu allows 1 000 in any minute and
/// 50 in any second, per app). A pull of a few hundred calls sends 50 at a time; only past
/// 1 000 calls does the minute bind. The spare is time rather than calls so that every burst is
/// whole: 47 calls a window would cost a small pull 6 % of its speed.
pub fn default_rate_limits() -> Vec<RateLimit> {
    vec![
        RateLimit::new(1_000, Duration::from_secs(61), LimitScope::Endpoint),
        RateLimit::new(50, Duration::from_millis(1020), LimitScope::Endpoint),
    ]
}

fn default_api_base() -> Url {
    Url::parse("https://open.feishu.cn").expect("constant URL is valid")
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_concurrency() -> usize {
    4
}

impl FeishuSourceConfig {
    /// A config for the given app and API base with every other setting at its default.
    pub fn new(app_id: impl Into<String>, app_secret: SecretRef, api_base: Url) -> Self {
        FeishuSourceConfig {
            app_id: app_id.into(),
            app_secret,
            api_base,
            allow_plain_http: PlainHttp::Refused,
            user_id_type: UserIdType::default(),
            department_id_type: DepartmentIdType::default(),
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            retry: RetryConfig::default(),
            rate_limits: default_rate_limits(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.app_id.trim().is_empty() {
            return Err("app_id is empty".into());
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        for limit in &self.rate_limits {
            limit.validate()?;
        }
        self.retry.validate()?;
        if !matches!(self.api_base.scheme(), "http" | "https") || self.api_base.cannot_be_a_base() {
            return Err(format!("api_base {} is not an http(s) URL", self.api_base));
        }
        transport::check("api_base", &self.api_base, self.allow_plain_http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_takes_documented_defaults() {
        let config: FeishuSourceConfig =
            toml::from_str("app_id = \"cli_a1\"\napp_secret = \"env:FEISHU_SECRET\"\n").unwrap();
        assert_eq!(config.api_base.as_str(), "https://open.feishu.cn/");
        assert_eq!(config.user_id_type, UserIdType::UserId);
        assert_eq!(
            config.department_id_type,
            DepartmentIdType::OpenDepartmentId
        );
        assert_eq!(config.rate_limits, default_rate_limits());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let unknown = "app_id = \"cli_a1\"\napp_secret = \"env:X\"\ncorp_id = \"ww1\"\n";
        assert!(toml::from_str::<FeishuSourceConfig>(unknown).is_err());
        let literal_secret = "app_id = \"cli_a1\"\napp_secret = \"hunter2\"\n";
        assert!(toml::from_str::<FeishuSourceConfig>(literal_secret).is_err());
        let mut config = FeishuSourceConfig::new(
            " ",
            SecretRef::Env("X".into()),
            "https://open.larksuite.com".parse().unwrap(),
        );
        assert!(config.validate().is_err(), "empty app_id");
        config.app_id = "cli_a1".into();
        config.concurrency = 0;
        assert!(config.validate().is_err(), "zero concurrency");
    }
}
