//! The generic webhook: a JSON event signed exactly like the webhook target's deliveries
//! (docs/webhooks.md: `X-Orgsync-Timestamp`, `X-Orgsync-Signature: v1=hex(HMAC-SHA256(secret,
//! timestamp + "." + body))`, `Idempotency-Key` = the body's `id`), by the target's own signer.
//! A 2xx is delivered.

use super::{SendError, post};
use crate::config::Secret;
use crate::notify::Message;
use crate::pushers::webhook::signing;
use serde::Serialize;

pub(super) struct Hook {
    url: url::Url,
    secret: Secret,
}

/// The event: `type` is `notify.EVENT`.
#[derive(Serialize)]
struct Body<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    connector: Option<&'a str>,
    run_id: Option<&'a str>,
    title: &'a str,
    text: String,
    link: Option<&'a str>,
    at: jiff::Timestamp,
}

impl Hook {
    pub(super) fn new(url: url::Url, secret: Secret) -> Self {
        Hook { url, secret }
    }

    pub(super) async fn send(
        &self,
        http: &reqwest::Client,
        message: &Message,
    ) -> Result<(), SendError> {
        let at = jiff::Timestamp::now();
        let kind = format!("notify.{}", message.event);
        let id = delivery_id(&kind, message, at);
        let body = serde_json::to_vec(&Body {
            id: id.clone(),
            kind: kind.clone(),
            connector: message.connector.as_deref(),
            run_id: message.run_id.as_deref(),
            title: &message.title,
            text: message.markdown("###"),
            link: message.link.as_ref().map(url::Url::as_str),
            at,
        })
        .map_err(|e| SendError::Malformed {
            detail: e.to_string(),
        })?;
        let timestamp = at.as_second().to_string();
        let signature = signing::sign(self.secret.expose(), &timestamp, &body).map_err(|e| {
            SendError::Malformed {
                detail: e.to_string(),
            }
        })?;
        let headers = [
            (signing::EVENT_HEADER, kind),
            (signing::DELIVERY_HEADER, id.clone()),
            (signing::IDEMPOTENCY_HEADER, id),
            (signing::TIMESTAMP_HEADER, timestamp),
            (signing::SIGNATURE_HEADER, format!("v1={signature}")),
        ];
        post(http, self.url.clone(), body, &headers).await?;
        Ok(())
    }
}

/// `ntf_` and 24 hex digits naming this message: a receiver that stores by `Idempotency-Key`
/// keeps a retried message once.
fn delivery_id(kind: &str, message: &Message, at: jiff::Timestamp) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in [
        kind,
        message.run_id.as_deref().unwrap_or(""),
        &message.title,
        &at.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update(b"\0");
    }
    let hex = crate::hex::encode(&hash.finalize());
    format!("ntf_{}", hex.get(..24).unwrap_or(&hex))
}
