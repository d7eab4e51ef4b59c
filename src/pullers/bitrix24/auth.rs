//! The two ways into a portal: an inbound webhook (the secret is in the URL) or an OAuth
//! application (an access token living an hour, refreshed with a refresh token the OAuth server
//! rotates on every refresh).

use super::client::{Bitrix24Client, PLATFORM, check_head};
use super::config::{Bitrix24Auth, Bitrix24Secrets};
use super::wire;
use crate::config::{PlainHttp, Secret, SecretRef, transport};
use crate::pullers::http::{PullError, TokenCache};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tracing::{info, warn};
use url::Url;

/// How requests name the OAuth server in stats and errors.
pub(super) const TOKEN_ENDPOINT: &str = "oauth/token";
/// Refresh this long before the announced expiry, so no request carries a token about to lapse.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// Bitrix24 access tokens live an hour; assumed when the answer does not say.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

pub(super) enum Auth {
    /// The webhook's REST base, `…/rest/<user_id>/<code>/`. Secret: it holds the code.
    Webhook {
        base: Secret,
    },
    Oauth(Box<OAuth>),
}

pub(super) struct OAuth {
    rest_base: Url,
    oauth_url: Url,
    client_id: Secret,
    client_secret: Secret,
    /// The newest refresh token: each refresh answers a new one, and the old may stop working.
    refresh_token: Mutex<Secret>,
    /// Where the rotated refresh token is written back (a `file:` secret reference).
    persist_to: Option<PathBuf>,
    tokens: TokenCache,
}

fn setup(detail: &str) -> PullError {
    PullError::Setup {
        detail: format!("{PLATFORM}: {detail}"),
    }
}

/// `https://corp.bitrix24.com`, `…/rest` or `…/rest/` → `https://corp.bitrix24.com/rest/`.
fn rest_base(portal: &Url) -> String {
    let text = portal.as_str().trim_end_matches('/');
    let text = text.strip_suffix("/rest").unwrap_or(text);
    format!("{text}/rest/")
}

impl Auth {
    pub(super) fn new(
        config: &Bitrix24Auth,
        plain: PlainHttp,
        secrets: Bitrix24Secrets,
    ) -> Result<Self, PullError> {
        match (config, secrets) {
            (
                Bitrix24Auth::Webhook {
                    portal, user_id, ..
                },
                Bitrix24Secrets::Webhook(secret),
            ) => {
                let base = match (portal, user_id) {
                    (Some(portal), Some(user_id)) => {
                        let code = secret.expose().trim().trim_matches('/');
                        format!("{}{user_id}/{code}/", rest_base(portal))
                    }
                    _ => format!("{}/", secret.expose().trim().trim_end_matches('/')),
                };
                // The message must not echo the URL: it is the secret.
                let parsed = Url::parse(&base)
                    .map_err(|_| setup("the webhook URL (a secret) is not a valid URL"))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return Err(setup("the webhook URL (a secret) is not an http(s) URL"));
                }
                // Only known once the secret is read; the message names the host, never the code.
                transport::check("the webhook URL (a secret)", &parsed, plain)
                    .map_err(|detail| setup(&detail))?;
                Ok(Auth::Webhook {
                    base: Secret::new(base),
                })
            }
            (
                Bitrix24Auth::Oauth {
                    portal,
                    oauth_url,
                    refresh_token: reference,
                    ..
                },
                Bitrix24Secrets::Oauth {
                    client_id,
                    client_secret,
                    refresh_token,
                },
            ) => Ok(Auth::Oauth(Box::new(OAuth {
                rest_base: Url::parse(&rest_base(portal))
                    .map_err(|_| setup("the portal is not a valid URL"))?,
                oauth_url: oauth_url.clone(),
                client_id,
                client_secret,
                refresh_token: Mutex::new(refresh_token),
                persist_to: match reference {
                    SecretRef::File(path) => Some(path.clone()),
                    SecretRef::Env(_) | SecretRef::Credential(_) => None,
                },
                tokens: TokenCache::default(),
            }))),
            _ => Err(setup("the secrets given do not match the auth mode")),
        }
    }

    /// The portal's origin (`https://corp.bitrix24.com`): no path, so no webhook code.
    pub(super) fn portal_origin(&self) -> String {
        Url::parse(&self.method_url(""))
            .map(|url| url.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// Where to send a REST method. Holds the webhook code: never log it.
    pub(super) fn method_url(&self, method: &str) -> String {
        match self {
            Auth::Webhook { base } => format!("{}{method}", base.expose()),
            Auth::Oauth(oauth) => format!("{}{method}", oauth.rest_base),
        }
    }

    /// The access token to send, fetching one if needed; `None` for a webhook.
    pub(super) async fn access_token(
        &self,
        client: &Bitrix24Client,
    ) -> Result<Option<String>, PullError> {
        let Auth::Oauth(oauth) = self else {
            return Ok(None);
        };
        let token = oauth
            .tokens
            .get(TOKEN_MARGIN, || {
                client.with_retries(TOKEN_ENDPOINT, || oauth.refresh(client))
            })
            .await?;
        Ok(Some(token))
    }

    pub(super) async fn invalidate(&self, token: &str) {
        if let Auth::Oauth(oauth) = self {
            oauth.tokens.invalidate(token).await;
        }
    }
}

impl OAuth {
    /// `GET <oauth_url>?grant_type=refresh_token&…`, as the notes give it. The OAuth server is not
    /// the portal, so its requests do not count against the portal's rate limit.
    async fn refresh(&self, client: &Bitrix24Client) -> Result<(String, Duration), PullError> {
        let refresh_token = self
            .refresh_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        client.calls.record(TOKEN_ENDPOINT);
        let response = client
            .http()
            .get(self.oauth_url.clone())
            .query(&[
                ("grant_type", "refresh_token"),
                ("client_id", self.client_id.expose()),
                ("client_secret", self.client_secret.expose()),
                ("refresh_token", refresh_token.expose()),
            ])
            .send()
            .await
            .map_err(|e| PullError::transport(PLATFORM, TOKEN_ENDPOINT, e))?;
        let status = response.status();
        let body = crate::pullers::http::read_body(response, PLATFORM, TOKEN_ENDPOINT).await?;
        check_head(TOKEN_ENDPOINT, status, &body)?;
        let token: wire::Token = serde_json::from_slice(&body)
            .map_err(|e| PullError::malformed(PLATFORM, TOKEN_ENDPOINT, &body, &e))?;
        if let Some(rotated) = token.refresh_token.filter(|t| !t.is_empty())
            && rotated != refresh_token.expose()
        {
            self.keep(rotated);
        }
        let lifetime = token.expires_in.map_or(DEFAULT_TOKEN_LIFETIME, |s| {
            crate::pullers::http::lifetime_from_secs(s.into())
        });
        Ok((token.access_token, lifetime))
    }

    /// Uses the rotated refresh token from now on, and writes it back when the configured one
    /// came from a file, so the next process starts from it.
    fn keep(&self, rotated: String) {
        *self
            .refresh_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Secret::new(rotated.clone());
        match &self.persist_to {
            Some(path) => match persist(path, &rotated) {
                Ok(()) => {
                    info!(path = %path.display(), "Stored the rotated Bitrix24 refresh token.")
                }
                Err(error) => warn!(
                    path = %path.display(), %error,
                    "Could not store the rotated Bitrix24 refresh token; the next process starts \
                     from the old one, which the portal may refuse."
                ),
            },
            None => info!(
                "Bitrix24 rotated the refresh token; it is kept in memory only (the secret is \
                 not a file: reference)."
            ),
        }
    }
}

/// Replaces the file atomically (write beside it, then rename), readable by the owner only.
fn persist(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".orgsync-new");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(format!("{token}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_base_accepts_the_portal_with_or_without_rest() {
        for portal in [
            "https://corp.bitrix24.com",
            "https://corp.bitrix24.com/",
            "https://corp.bitrix24.com/rest",
            "https://corp.bitrix24.com/rest/",
        ] {
            assert_eq!(
                rest_base(&Url::parse(portal).unwrap()),
                "https://corp.bitrix24.com/rest/"
            );
        }
    }

    #[test]
    fn webhook_forms_give_the_same_base_and_errors_hide_it() {
        let by_url = Auth::new(
            &Bitrix24Auth::webhook_url(SecretRef::Env("X".into())),
            PlainHttp::Refused,
            Bitrix24Secrets::Webhook(Secret::new("https://corp.bitrix24.com/rest/1/s3cr3t")),
        )
        .unwrap();
        let by_code = Auth::new(
            &Bitrix24Auth::Webhook {
                url: None,
                portal: Some(Url::parse("https://corp.bitrix24.com").unwrap()),
                user_id: Some(1),
                code: Some(SecretRef::Env("X".into())),
            },
            PlainHttp::Refused,
            Bitrix24Secrets::Webhook(Secret::new("s3cr3t")),
        )
        .unwrap();
        let expected = "https://corp.bitrix24.com/rest/1/s3cr3t/batch";
        assert_eq!(by_url.method_url("batch"), expected);
        assert_eq!(by_code.method_url("batch"), expected);

        let Err(error) = Auth::new(
            &Bitrix24Auth::webhook_url(SecretRef::Env("X".into())),
            PlainHttp::Refused,
            Bitrix24Secrets::Webhook(Secret::new("ftp://s3cr3t")),
        ) else {
            panic!("an ftp URL must be refused")
        };
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
    }

    #[test]
    fn a_plain_http_webhook_url_to_another_host_is_refused_without_showing_it() {
        let hook =
            || Bitrix24Secrets::Webhook(Secret::new("http://corp.bitrix24.com/rest/1/s3cr3t"));
        let auth = Bitrix24Auth::webhook_url(SecretRef::Env("X".into()));
        let Err(error) = Auth::new(&auth, PlainHttp::Refused, hook()) else {
            panic!("plain http to a portal must be refused")
        };
        let message = error.to_string();
        assert!(
            message.contains("plain http:// to corp.bitrix24.com"),
            "{message}"
        );
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(Auth::new(&auth, PlainHttp::Allowed, hook()).is_ok());
        let local = Bitrix24Secrets::Webhook(Secret::new("http://127.0.0.1:8080/rest/1/s3cr3t"));
        assert!(Auth::new(&auth, PlainHttp::Refused, local).is_ok());
    }

    #[test]
    fn persisted_token_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt");
        std::fs::write(&path, "old\n").unwrap();
        persist(&path, "new").unwrap();
        assert_eq!(
            SecretRef::File(path).resolve().unwrap().expose(),
            "new",
            "read back the way the config reads it"
        );
    }
}
