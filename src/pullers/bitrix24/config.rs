use crate::config::{
    HumanDuration, PlainHttp, RetryConfig, Secret, SecretError, SecretRef, transport,
};
use crate::pullers::http::{LimitScope, RateLimit};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// `[connectors.NAME.source]` with `kind = "bitrix24"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bitrix24SourceConfig {
    pub auth: Bitrix24Auth,
    /// Pull extranet users (`USER_TYPE` `extranet`, external collaborators) too. They belong to no
    /// department, so they never get a manager.
    #[serde(default)]
    pub include_extranet: bool,
    /// `true` lets this side talk plain `http://` to a host other than loopback; warned about at
    /// every start and run.
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
    /// Bitrix24 aborts a request after 60 s; a batch of 50 pages can take a while.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Client-side limits. Bitrix24 counts every HTTP request of a portal in a leaky bucket that
    /// drains 2/s and refuses above 50; the default stays 5 under that ceiling.
    #[serde(default = "default_rate_limits")]
    pub rate_limits: Vec<RateLimit>,
}

/// How orgsync authenticates to the portal.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Bitrix24Auth {
    /// An inbound webhook (Developer resources → Other → Inbound webhook). Give either `url`, the
    /// whole webhook URL as a secret (`https://corp.bitrix24.com/rest/1/abc123/`), or `portal`,
    /// `user_id` and `code`, where only the code is secret.
    Webhook {
        #[serde(default)]
        url: Option<SecretRef>,
        #[serde(default)]
        portal: Option<Url>,
        #[serde(default)]
        user_id: Option<u64>,
        #[serde(default)]
        code: Option<SecretRef>,
    },
    /// A local or market application (OAuth 2.0). The access token is refreshed with the refresh
    /// token; see the README for how the rotated refresh token is kept.
    Oauth {
        /// The portal, e.g. `https://corp.bitrix24.com`; methods are called at `<portal>/rest/`.
        portal: Url,
        client_id: SecretRef,
        client_secret: SecretRef,
        refresh_token: SecretRef,
        #[serde(default = "default_oauth_url")]
        oauth_url: Url,
    },
}

/// The resolved secrets of a [`Bitrix24Auth`].
#[derive(Debug, Clone)]
pub enum Bitrix24Secrets {
    /// The whole webhook URL (`url`) or only its code (`code`), as configured.
    Webhook(Secret),
    Oauth {
        client_id: Secret,
        client_secret: Secret,
        refresh_token: Secret,
    },
}

/// The portal's leaky bucket: drains 2 a second, refuses past 50 (45 kept as margin).
fn default_rate_limits() -> Vec<RateLimit> {
    vec![RateLimit::bucket(
        2,
        Duration::from_secs(1),
        45,
        LimitScope::Shared,
    )]
}

fn default_oauth_url() -> Url {
    Url::parse("https://oauth.bitrix.info/oauth/token/").expect("constant URL is valid")
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

impl Bitrix24SourceConfig {
    /// A config with every setting but the authentication at its default.
    pub fn new(auth: Bitrix24Auth) -> Self {
        Bitrix24SourceConfig {
            auth,
            include_extranet: false,
            allow_plain_http: PlainHttp::Refused,
            timeout: default_timeout(),
            retry: RetryConfig::default(),
            rate_limits: default_rate_limits(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for limit in &self.rate_limits {
            limit.validate()?;
        }
        self.retry.validate()?;
        self.auth.validate(self.allow_plain_http)
    }

    /// The hosts other than loopback reached over plain http://, having opted in. A webhook URL
    /// given whole is a secret, not read here: it is named as such.
    pub fn plain_http_hosts(&self) -> Vec<String> {
        let mut hosts = match &self.auth {
            Bitrix24Auth::Webhook { portal, .. } => {
                transport::allowed_hosts(self.allow_plain_http, portal.iter())
            }
            Bitrix24Auth::Oauth {
                portal, oauth_url, ..
            } => transport::allowed_hosts(self.allow_plain_http, [portal, oauth_url]),
        };
        if self.allow_plain_http == PlainHttp::Allowed
            && matches!(self.auth, Bitrix24Auth::Webhook { url: Some(_), .. })
        {
            hosts.push("the webhook URL's host, if it is http:// (a secret)".into());
        }
        hosts
    }

    /// Every secret reference, for `check-config`.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        match &self.auth {
            Bitrix24Auth::Webhook { url, code, .. } => url.iter().chain(code).collect(),
            Bitrix24Auth::Oauth {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => vec![client_id, client_secret, refresh_token],
        }
    }

    /// Reads the secrets the configured mode needs.
    pub fn resolve_secrets(&self) -> Result<Bitrix24Secrets, SecretError> {
        match &self.auth {
            Bitrix24Auth::Webhook { url, code, .. } => {
                // `validate` guarantees exactly one of the two.
                let reference = url.as_ref().or(code.as_ref()).ok_or(SecretError::Empty {
                    reference: "auth.url / auth.code".into(),
                })?;
                Ok(Bitrix24Secrets::Webhook(reference.resolve()?))
            }
            Bitrix24Auth::Oauth {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => Ok(Bitrix24Secrets::Oauth {
                client_id: client_id.resolve()?,
                client_secret: client_secret.resolve()?,
                refresh_token: refresh_token.resolve()?,
            }),
        }
    }
}

impl Bitrix24Auth {
    /// An inbound webhook given as one secret URL.
    pub fn webhook_url(url: SecretRef) -> Self {
        Bitrix24Auth::Webhook {
            url: Some(url),
            portal: None,
            user_id: None,
            code: None,
        }
    }

    /// An OAuth application on `portal`, refreshing at `oauth_url`.
    pub fn oauth(portal: Url, oauth_url: Url, refs: [SecretRef; 3]) -> Self {
        let [client_id, client_secret, refresh_token] = refs;
        Bitrix24Auth::Oauth {
            portal,
            client_id,
            client_secret,
            refresh_token,
            oauth_url,
        }
    }

    fn validate(&self, plain: PlainHttp) -> Result<(), String> {
        let http = |name: &str, url: &Url| {
            if matches!(url.scheme(), "http" | "https") {
                transport::check(&format!("auth.{name}"), url, plain)
            } else {
                Err(format!("auth.{name} {url} is not an http(s) URL"))
            }
        };
        match self {
            Bitrix24Auth::Webhook {
                url,
                portal,
                user_id,
                code,
            } => match (url, portal, user_id, code) {
                (Some(_), None, None, None) => Ok(()),
                (None, Some(portal), Some(_), Some(_)) => http("portal", portal),
                _ => Err(
                    "a webhook needs either `url` (the whole webhook URL as a secret) or \
                          `portal`, `user_id` and `code`, not a mix"
                        .into(),
                ),
            },
            Bitrix24Auth::Oauth {
                portal, oauth_url, ..
            } => {
                http("portal", portal)?;
                http("oauth_url", oauth_url)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Bitrix24SourceConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn both_webhook_forms_and_oauth_parse_with_defaults() {
        let by_url = parse("auth = { mode = \"webhook\", url = \"env:B24_HOOK\" }").unwrap();
        assert_eq!(by_url.validate(), Ok(()));
        assert!(!by_url.include_extranet);
        assert_eq!(by_url.rate_limits, default_rate_limits());
        assert_eq!(by_url.secret_refs(), [&SecretRef::Env("B24_HOOK".into())]);

        let by_code = parse(
            "auth = { mode = \"webhook\", portal = \"https://corp.bitrix24.com\", user_id = 1, \
             code = \"file:/run/b24\" }\ninclude_extranet = true",
        )
        .unwrap();
        assert_eq!(by_code.validate(), Ok(()));
        assert!(by_code.include_extranet);

        let oauth = parse(
            "[auth]\nmode = \"oauth\"\nportal = \"https://corp.bitrix24.com\"\n\
             client_id = \"env:ID\"\nclient_secret = \"env:SECRET\"\nrefresh_token = \"file:/var/lib/rt\"",
        )
        .unwrap();
        assert_eq!(oauth.validate(), Ok(()));
        assert_eq!(oauth.secret_refs().len(), 3);
        let Bitrix24Auth::Oauth { oauth_url, .. } = &oauth.auth else {
            panic!("oauth expected")
        };
        assert_eq!(oauth_url.as_str(), "https://oauth.bitrix.info/oauth/token/");
    }

    #[test]
    fn mixed_or_unknown_settings_are_refused() {
        let mixed = parse(
            "auth = { mode = \"webhook\", url = \"env:A\", portal = \"https://x.bitrix24.com\" }",
        )
        .unwrap();
        assert!(mixed.validate().is_err());
        let partial = parse("auth = { mode = \"webhook\", code = \"env:A\" }").unwrap();
        assert!(partial.validate().is_err());
        assert!(parse("auth = { mode = \"webhook\", url = \"https://literal\" }").is_err());
        assert!(parse("auth = { mode = \"webhook\", url = \"env:A\", extra = 1 }").is_err());
        assert!(parse("auth = { mode = \"webhook\", url = \"env:A\" }\nbogus = 1").is_err());
        assert!(parse("auth = { mode = \"magic\" }").is_err());
    }
}
