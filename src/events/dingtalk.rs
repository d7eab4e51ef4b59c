//! DingTalk's contact events over HTTP (the event subscription's callback URL): a POST with
//! query `signature` (or `msg_signature`), `timestamp` (ms), `nonce` and body
//! `{"encrypt": "…"}`; the WeChat-style crypto (`wechat_crypto`) with the callback's token and
//! EncodingAESKey, sealed for the app's AppKey; `check_url` is the URL verification. Every
//! accepted request is answered with the encrypted "success" envelope
//! `{msg_signature, timeStamp, nonce, encrypt}`, without which DingTalk keeps retrying and
//! eventually stops pushing.

use super::dingtalk_payload::{self, CHECK_URL};
use super::wechat_crypto::{self, WechatCipher};
use super::{Accepted, Incoming, IncomingMethod, Opened, Opener, Refusal, Reply};
use crate::config::{EventsConfig, Secret};
use crate::pullers::dingtalk::DingtalkSourceConfig;
use jiff::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Opens one app's callbacks. Its `Debug` shows neither the token nor the key.
pub struct DingtalkOpener {
    app_key: String,
    token: Secret,
    cipher: WechatCipher,
}

impl std::fmt::Debug for DingtalkOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingtalkOpener")
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope {
    encrypt: String,
}

impl DingtalkOpener {
    /// Resolves the connector's secrets and checks the key's shape.
    pub fn from_config(
        source: &DingtalkSourceConfig,
        events: &EventsConfig,
    ) -> Result<Self, String> {
        let required = |name: &str| {
            format!("events.{name} is required for DingTalk's HTTP events (the callback's {name})")
        };
        let token = events
            .token
            .as_ref()
            .ok_or_else(|| required("token"))?
            .resolve()
            .map_err(|e| e.to_string())?;
        let aes_key = events
            .aes_key
            .as_ref()
            .ok_or_else(|| required("aes_key"))?
            .resolve()
            .map_err(|e| e.to_string())?;
        let cipher =
            WechatCipher::new(aes_key.expose()).map_err(|e| format!("events.aes_key: {e}"))?;
        Ok(Self::new(&source.app_key, token, cipher))
    }

    pub fn new(app_key: &str, token: Secret, cipher: WechatCipher) -> Self {
        DingtalkOpener {
            app_key: app_key.to_owned(),
            token,
            cipher,
        }
    }

    /// The encrypted, signed "success" DingTalk expects as every answer.
    fn success(&self, now: Timestamp) -> Reply {
        let encrypt = self.cipher.encrypt(b"success", &self.app_key);
        let timestamp = now.as_millisecond().to_string();
        // A nonce only has to differ between answers: the random ciphertext's digest does.
        let nonce = crate::hex::encode(&Sha256::digest(encrypt.as_bytes())[..6]);
        let signature = wechat_crypto::signature(self.token.expose(), &timestamp, &nonce, &encrypt);
        Reply::json(&serde_json::json!({
            "msg_signature": signature,
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }))
    }
}

impl Opener for DingtalkOpener {
    fn open(&self, request: &Incoming<'_>, now: Timestamp) -> Result<Opened, Refusal> {
        if request.method != IncomingMethod::Post {
            return Err(Refusal::Malformed("DingTalk's events are POSTed".into()));
        }
        let query = |name: &str| {
            request
                .query
                .get(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| Refusal::Malformed(format!("the query has no {name}")))
        };
        let signature = query("signature").or_else(|_| query("msg_signature"))?;
        let (timestamp, nonce) = (query("timestamp")?, query("nonce")?);
        let sent_at = timestamp
            .parse::<i64>()
            .ok()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .ok_or_else(|| Refusal::Malformed("timestamp is not a time in milliseconds".into()))?;
        let envelope: Envelope = serde_json::from_slice(request.body)
            .map_err(|_| Refusal::Malformed("the body is not {\"encrypt\": \"…\"}".into()))?;
        if !wechat_crypto::signature_matches(
            signature,
            self.token.expose(),
            timestamp,
            nonce,
            &envelope.encrypt,
        ) {
            return Err(Refusal::Forged);
        }
        let decrypted = self.cipher.decrypt(&envelope.encrypt)?;
        if decrypted.receiver != self.app_key {
            return Err(Refusal::Foreign);
        }
        let event = dingtalk_payload::read(&decrypted.message, None)?;
        let reply = self.success(now);
        if event.event_type == CHECK_URL {
            return Ok(Opened::Handshake { reply });
        }
        Ok(Opened::Event {
            accepted: Accepted {
                dedupe: crate::hex::encode(&Sha256::digest(&decrypted.message)),
                sent_at,
                event: event.into_stored(now),
            },
            reply,
        })
    }
}

#[cfg(test)]
#[path = "dingtalk_tests.rs"]
mod tests;
