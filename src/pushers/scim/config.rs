use crate::config::{HumanDuration, PlainHttp, RetryConfig, SecretRef, transport};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.target]` with `kind = "scim"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimTargetConfig {
    /// The SCIM base URL, up to and including the version (…/scim/v2); `/Users` and `/Groups`
    /// are appended.
    pub base_url: Url,
    /// Bearer token.
    pub token: SecretRef,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Resources asked per page when listing; servers may cap it lower (scim2-server: 1000).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Whether groups carry orgsync's department extension (the head and the parent
    /// department, `docs/scim.md`). `false` for servers that refuse schemas they do not know.
    #[serde(default = "default_group_extension")]
    pub group_extension: bool,
    /// `[connectors.NAME.target.attributes]`: SCIM attribute path → source expression or
    /// `"none"` (docs/scim.md, "Attribute mapping").
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn default_group_extension() -> bool {
    true
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_concurrency() -> usize {
    8
}

fn default_page_size() -> usize {
    500
}

impl ScimTargetConfig {
    pub fn new(base_url: Url, token: SecretRef) -> Self {
        ScimTargetConfig {
            base_url,
            token,
            allow_plain_http: PlainHttp::Refused,
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            page_size: default_page_size(),
            retry: RetryConfig::default(),
            group_extension: default_group_extension(),
            attributes: BTreeMap::new(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.base_url.scheme(), "http" | "https") {
            return Err(format!("base_url {} is not an http(s) URL", self.base_url));
        }
        if self.concurrency == 0 || self.page_size == 0 {
            return Err("concurrency and page_size must be at least 1".into());
        }
        transport::check("base_url", &self.base_url, self.allow_plain_http)
    }
}

impl ScimTargetConfig {
    /// The `attributes` table as a [`Mapping`](crate::mapping::Mapping).
    pub fn attribute_mapping(
        &self,
    ) -> Result<crate::mapping::Mapping, crate::mapping::MappingError> {
        super::mapping::attribute_mapping(&self.attributes)
    }
}
