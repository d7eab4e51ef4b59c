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
    #[serde(default, deserialize_with = "crate::mapping::table")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Field;

    #[test]
    fn the_attributes_table_reads_from_toml_with_quoted_paths() {
        let config: ScimTargetConfig = toml::from_str(
            r#"
            base_url = "https://scim.example.com/scim/v2"
            token = "env:SCIM_TOKEN"
            [attributes]
            userName = "{name|pinyin}"
            "name.familyName" = "name"
            'phoneNumbers[type eq "work"].value' = "telephone"
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter" = "custom.成本中心"
            title = "none"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let mapping = config.attribute_mapping().unwrap();
        assert!(!mapping.manages(Field::Title));
        assert!(mapping.manages(Field::named(r#"phoneNumbers[type eq "work"].value"#)));
        assert_eq!(mapping.extras().len(), 3);

        let default: ScimTargetConfig = toml::from_str(
            r#"
            base_url = "https://scim.example.com/scim/v2"
            token = "env:SCIM_TOKEN"
            "#,
        )
        .unwrap();
        assert!(default.attribute_mapping().unwrap().is_default());

        let bad: ScimTargetConfig = toml::from_str(
            r#"
            base_url = "https://scim.example.com/scim/v2"
            token = "env:SCIM_TOKEN"
            attributes = { externalId = "key" }
            "#,
        )
        .unwrap();
        let error = bad.attribute_mapping().unwrap_err();
        assert!(error.to_string().contains("externalId"), "{error}");
    }
}
