use crate::config::{HumanDuration, PlainHttp, RetryConfig, SecretRef, transport};
use crate::mapping::{Mapping, MappingError};
use crate::model::Field;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.target]` with `kind = "webhook"`: every step POSTed as a signed JSON event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTargetConfig {
    /// Where events are POSTed.
    pub url: Url,
    /// The HMAC-SHA256 key that signs every delivery (`X-Orgsync-Signature`).
    pub secret: SecretRef,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    /// How long one delivery may take before it counts as failed (and is retried).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Deliveries in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Backoff for 5xx, 429 and timeouts; other 4xx answers are final.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Payload field → source expression (or `"none"`). A role's name (`email`, `title`, …)
    /// changes what that role holds; any other name adds a field to the person's attributes.
    #[serde(default, deserialize_with = "crate::mapping::table")]
    pub attributes: BTreeMap<String, String>,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_concurrency() -> usize {
    4
}

impl WebhookTargetConfig {
    pub fn new(url: Url, secret: SecretRef) -> Self {
        WebhookTargetConfig {
            url,
            secret,
            allow_plain_http: PlainHttp::Refused,
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            retry: RetryConfig::default(),
            attributes: BTreeMap::new(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.url.scheme(), "http" | "https") {
            return Err(format!("url {} is not an http(s) URL", self.url));
        }
        if !self.url.username().is_empty() || self.url.password().is_some() {
            return Err(
                "url must not carry credentials; the signature authenticates orgsync".into(),
            );
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        transport::check("url", &self.url, self.allow_plain_http)
    }
}

impl WebhookTargetConfig {
    /// The `attributes` table as the connector's [`Mapping`]: a key naming a role sets that
    /// role's expression, any other key is a field of its own in the events' attributes.
    pub fn attribute_mapping(&self) -> Result<Mapping, MappingError> {
        let mut mapping = Mapping::default();
        for (key, value) in &self.attributes {
            if key.trim().is_empty() || key.trim() != key {
                return Err(MappingError {
                    key: key.clone(),
                    detail: "a payload field's name cannot be empty or begin or end with a space"
                        .into(),
                });
            }
            mapping.set(key, Field::named(key), value)?;
        }
        Ok(mapping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::RoleMapping;

    fn read(table: &str) -> Result<Mapping, MappingError> {
        let config: WebhookTargetConfig = toml::from_str(&format!(
            "url = \"https://hooks.example.com/orgsync\"\nsecret = \"env:HOOK\"\n\
             [attributes]\n{table}"
        ))
        .expect("parses");
        config.attribute_mapping()
    }

    #[test]
    fn role_names_set_roles_and_other_keys_add_fields() {
        let mapping = read(
            r#"
            email = "{enterprise_email|or:{email}}"
            title = "none"
            cost_center = "custom.成本中心"
            "name.en" = "english_name"
            "#,
        )
        .unwrap();
        assert!(matches!(
            mapping.role(Field::Email),
            RoleMapping::Mapped { text, .. } if text == "{enterprise_email|or:{email}}"
        ));
        assert_eq!(mapping.role(Field::Title), &RoleMapping::None);
        assert!(!mapping.manages(Field::Title));
        assert_eq!(mapping.role(Field::Mobile), &RoleMapping::Default);
        let extras: Vec<&str> = mapping.extras().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(extras, ["cost_center", "name.en"]);
        assert!(mapping.manages(Field::named("cost_center")));
        assert_eq!(mapping.key(Field::named("name.en")), Some("name.en"));
        assert!(read(r#""" = "{'x'}""#).is_err());
    }

    #[test]
    fn no_table_is_the_default_mapping() {
        assert!(read("").unwrap().is_default());
    }

    #[test]
    fn errors_name_the_key() {
        for (table, needle) in [
            (
                r#"cost_center = "{name|shout}""#,
                "attributes.\"cost_center\": ",
            ),
            (
                r#"user_name = "none""#,
                "attributes.\"user_name\": cannot be \"none\"",
            ),
            (r#"level = "custom.""#, "attributes.\"level\": "),
            (r#"" spaced" = "title""#, "begin or end with a space"),
        ] {
            let error = read(table).expect_err(table).to_string();
            assert!(error.contains(needle), "{table}: {error}");
        }
    }
}
