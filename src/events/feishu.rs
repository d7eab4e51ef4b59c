//! Feishu/Lark event subscription v2 over HTTP: the URL challenge, the Verification Token, the
//! Encrypt Key (AES-256-CBC) and the `X-Lark-Signature` check.
//!
//! With an Encrypt Key every event body is `{"encrypt": "<base64>"}` and signed: the signature is
//! checked before anything is decrypted. The URL challenge is not signature-checked (the
//! official SDKs skip it; it persists nothing and only echoes its own challenge): its token
//! must match. Without an Encrypt Key events come as plaintext JSON and the only check is
//! the Verification Token they carry, which travels in every request: anyone who has seen one
//! can forge events. A forged event can only cause re-reads (no write happens on an event's
//! word), but configure an Encrypt Key wherever the receiver is reachable from the internet.

mod crypto;
#[cfg(test)]
mod live_tests;
mod notices;
#[cfg(test)]
mod tests;

use super::{Accepted, Incoming, IncomingMethod, Opened, Opener, Refusal, Reply, StoredEvent};
use crate::config::{EventsConfig, Secret};
use crate::pullers::feishu::{DepartmentIdType, FeishuSourceConfig, UserIdType};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

const TIMESTAMP_HEADER: &str = "x-lark-request-timestamp";
const NONCE_HEADER: &str = "x-lark-request-nonce";
const SIGNATURE_HEADER: &str = "x-lark-signature";

/// Checks and reads one connector's Feishu event requests.
pub struct FeishuOpener {
    app_id: String,
    verification_token: Secret,
    protection: Protection,
    ids: notices::IdChoice,
}

/// Whether the subscription has an Encrypt Key.
enum Protection {
    /// Plaintext events, checked by their Verification Token only.
    TokenOnly,
    /// Encrypted and signed events.
    Encrypted {
        encrypt_key: Secret,
        aes_key: [u8; 32],
    },
}

impl fmt::Debug for FeishuOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encrypted = matches!(self.protection, Protection::Encrypted { .. });
        f.debug_struct("FeishuOpener")
            .field("app_id", &self.app_id)
            .field("encrypted", &encrypted)
            .finish_non_exhaustive()
    }
}

impl FeishuOpener {
    /// Resolves the connector's secrets: `verification_token` is required, `encrypt_key`
    /// optional (without it events are plaintext, see the module's documentation).
    pub fn from_config(source: &FeishuSourceConfig, events: &EventsConfig) -> Result<Self, String> {
        if events.token.is_some() || events.aes_key.is_some() {
            return Err(
                "token and aes_key are WeCom's and DingTalk's settings; Feishu's event \
                 subscription uses verification_token and encrypt_key"
                    .into(),
            );
        }
        let verification_token = events
            .verification_token
            .as_ref()
            .ok_or("Feishu events need verification_token (the event subscription's Verification Token)")?
            .resolve()
            .map_err(|e| format!("verification_token: {e}"))?;
        let encrypt_key = events
            .encrypt_key
            .as_ref()
            .map(|reference| reference.resolve())
            .transpose()
            .map_err(|e| format!("encrypt_key: {e}"))?;
        Ok(FeishuOpener::new(
            source.app_id.clone(),
            verification_token,
            encrypt_key,
            source.user_id_type,
            source.department_id_type,
        ))
    }

    /// An opener from values, for tests and the demo.
    pub fn new(
        app_id: impl Into<String>,
        verification_token: Secret,
        encrypt_key: Option<Secret>,
        user_id_type: UserIdType,
        department_id_type: DepartmentIdType,
    ) -> Self {
        let protection = match encrypt_key {
            None => Protection::TokenOnly,
            Some(encrypt_key) => Protection::Encrypted {
                aes_key: crypto::aes_key(encrypt_key.expose()),
                encrypt_key,
            },
        };
        FeishuOpener {
            app_id: app_id.into(),
            verification_token,
            protection,
            ids: notices::IdChoice {
                user: user_id_type,
                department: department_id_type,
            },
        }
    }

    /// The body's plaintext and, when the request was signed, its signed timestamp.
    fn plaintext(&self, request: &Incoming<'_>) -> Result<(Vec<u8>, Signed), Refusal> {
        let outer: Outer = serde_json::from_slice(request.body)
            .map_err(|_| Refusal::Malformed("the body is not a JSON object".into()))?;
        match (&self.protection, outer.encrypt) {
            (Protection::TokenOnly, None) => Ok((request.body.to_vec(), Signed::No)),
            // Feishu encrypts only when the subscription has an Encrypt Key: ours has none.
            (Protection::TokenOnly, Some(_)) => Err(Refusal::Undecryptable),
            (Protection::Encrypted { .. }, None) => Err(Refusal::Malformed(
                "a plaintext body while an encrypt key is configured".into(),
            )),
            (
                Protection::Encrypted {
                    encrypt_key,
                    aes_key,
                },
                Some(encrypted),
            ) => {
                let signed = check_signature(request, encrypt_key.expose())?;
                let plain = crypto::decrypt(aes_key, &encrypted).ok_or(Refusal::Undecryptable)?;
                // A wrong key that happens to leave valid padding yields no JSON.
                if serde_json::from_slice::<Value>(&plain).is_err() {
                    return Err(Refusal::Undecryptable);
                }
                Ok((plain, signed))
            }
        }
    }

    fn token_matches(&self, presented: &str) -> bool {
        crypto::same_bytes(
            presented.as_bytes(),
            self.verification_token.expose().as_bytes(),
        )
    }

    fn event(
        &self,
        envelope: Envelope,
        plain: &[u8],
        signed: Signed,
        now: Timestamp,
    ) -> Result<Opened, Refusal> {
        let Some(header) = envelope.header else {
            return self.schema_one(envelope, plain, signed, now);
        };
        if !self.token_matches(&header.token) {
            return Err(Refusal::Forged);
        }
        if header.app_id != self.app_id {
            return Err(Refusal::Foreign);
        }
        if header.event_id.is_empty() {
            return Err(Refusal::Malformed("header.event_id is empty".into()));
        }
        let occurred_at = header.create_time.as_ref().and_then(millis);
        let sent_at = signed
            .at()
            .or(occurred_at)
            .ok_or_else(|| Refusal::Malformed("header.create_time is not a time in ms".into()))?;
        let notices = notices::of_event(&header.event_type, envelope.event.as_ref(), self.ids);
        Ok(Opened::Event {
            accepted: Accepted {
                dedupe: header.event_id,
                sent_at,
                event: StoredEvent {
                    event_type: header.event_type,
                    received_at: now,
                    occurred_at,
                    notices,
                },
            },
            reply: success(),
        })
    }

    /// A schema 1.0 event (apps created before the v2 events): checked by its token, read as
    /// an event orgsync cannot interpret, so a full run.
    fn schema_one(
        &self,
        envelope: Envelope,
        plain: &[u8],
        signed: Signed,
        now: Timestamp,
    ) -> Result<Opened, Refusal> {
        let token = envelope
            .token
            .ok_or_else(|| Refusal::Malformed("neither a v2 header nor a token".into()))?;
        if !self.token_matches(&token) {
            return Err(Refusal::Forged);
        }
        let event_type = envelope
            .event
            .as_ref()
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .map_or_else(|| "schema 1.0".to_owned(), |t| format!("schema 1.0 {t}"));
        let sent_at = signed
            .at()
            .or_else(|| envelope.ts.as_deref().and_then(seconds))
            .ok_or_else(|| Refusal::Malformed("a schema 1.0 event without ts".into()))?;
        let dedupe = envelope
            .uuid
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| crate::hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(plain)));
        Ok(Opened::Event {
            accepted: Accepted {
                dedupe,
                sent_at,
                event: StoredEvent {
                    notices: vec![super::Notice::Unknown {
                        event_type: event_type.clone(),
                    }],
                    event_type,
                    received_at: now,
                    occurred_at: None,
                },
            },
            reply: success(),
        })
    }
}

impl Opener for FeishuOpener {
    fn open(&self, request: &Incoming<'_>, now: Timestamp) -> Result<Opened, Refusal> {
        if request.method != IncomingMethod::Post {
            return Err(Refusal::Malformed("Feishu events are POSTed".into()));
        }
        let (plain, signed) = self.plaintext(request)?;
        // serde's message may quote the payload (personal data): the refusal names no value.
        let envelope: Envelope = serde_json::from_slice(&plain).map_err(|_| {
            Refusal::Malformed("the event's fields are not of Feishu's types".into())
        })?;
        if envelope.kind.as_deref() == Some("url_verification") {
            let token = envelope.token.as_deref().unwrap_or_default();
            if !self.token_matches(token) {
                return Err(Refusal::Forged);
            }
            let challenge = envelope.challenge.unwrap_or_default();
            return Ok(Opened::Handshake {
                reply: Reply::json(&serde_json::json!({ "challenge": challenge })),
            });
        }
        if matches!(signed, Signed::Missing) {
            // Only the URL challenge may come without a signature.
            return Err(Refusal::Forged);
        }
        self.event(envelope, &plain, signed, now)
    }
}

/// What the signature headers established.
#[derive(Debug, Clone, Copy)]
enum Signed {
    /// No Encrypt Key: nothing is signed.
    No,
    /// Encrypted but unsigned: acceptable for the URL challenge only.
    Missing,
    /// Signed at this time.
    At(Timestamp),
}

impl Signed {
    fn at(self) -> Option<Timestamp> {
        match self {
            Signed::At(at) => Some(at),
            Signed::No | Signed::Missing => None,
        }
    }
}

/// Checks `X-Lark-Signature` when the request carries one.
fn check_signature(request: &Incoming<'_>, encrypt_key: &str) -> Result<Signed, Refusal> {
    let header = |name: &str| request.headers.get(name).map(String::as_str);
    let (timestamp, nonce, presented) = match (
        header(TIMESTAMP_HEADER),
        header(NONCE_HEADER),
        header(SIGNATURE_HEADER),
    ) {
        (None, None, None) => return Ok(Signed::Missing),
        (Some(timestamp), Some(nonce), Some(signature)) => (timestamp, nonce, signature),
        _ => return Err(Refusal::Forged),
    };
    let expected = crypto::signature(timestamp, nonce, encrypt_key, request.body);
    if !crypto::signature_matches(presented, &expected) {
        return Err(Refusal::Forged);
    }
    let at = seconds(timestamp).ok_or_else(|| {
        Refusal::Malformed("X-Lark-Request-Timestamp is not a time in seconds".into())
    })?;
    Ok(Signed::At(at))
}

fn success() -> Reply {
    Reply::json(&serde_json::json!({ "msg": "success" }))
}

/// Unix seconds, as text (`ts` of schema 1.0 may carry a fraction).
fn seconds(text: &str) -> Option<Timestamp> {
    let whole = text.trim().split('.').next()?;
    Timestamp::from_second(whole.parse().ok()?).ok()
}

/// Unix milliseconds, as a string (Feishu's) or a number.
fn millis(value: &Value) -> Option<Timestamp> {
    let ms = match value {
        Value::String(text) => text.trim().parse().ok()?,
        Value::Number(number) => number.as_i64()?,
        _ => return None,
    };
    Timestamp::from_millisecond(ms).ok()
}

/// The body as sent: encrypted or not.
#[derive(Deserialize)]
struct Outer {
    #[serde(default)]
    encrypt: Option<String>,
}

/// A plaintext request: the URL challenge, a v2 event, or a schema 1.0 event.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    header: Option<Header>,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    create_time: Option<Value>,
    #[serde(default)]
    token: String,
    #[serde(default)]
    app_id: String,
}
