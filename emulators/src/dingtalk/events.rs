//! The emulator's contact events, sent when its org changes (`DingtalkHandle::update_org`), as
//! DingTalk sends them: payloads carrying ids only, over HTTP (encrypted and signed with the
//! emulator's own crypto, the answer checked to be the encrypted "success") or over the Stream
//! gateway (`stream.rs`).

use super::crypto::{self, CallbackCrypto, CryptoError};
use crate::changes::{self, Change};
use crate::delivery_log::DeliveryLog;
use crate::fixture::{Org, Status};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// The corp id the emulator's payloads carry.
pub const CORP_ID: &str = "ding-emulated-corp";

/// The DingTalk payloads for the changes from `old` to `new`, in the changes' order. DingTalk
/// documents no event for the app's scope itself: the emulator announces it as `org_change`.
pub fn payloads(old: &Org, new: &Org, now_ms: i64) -> Vec<Value> {
    changes::between(old, new)
        .iter()
        .map(|change| {
            let (event_type, key, id) = match change {
                Change::UserCreated(user) => ("user_add_org", "UserId", json!(user.id)),
                Change::UserUpdated { before, after } => {
                    let kind = match (before.status, after.status) {
                        (b, Status::Resigned) if b != Status::Resigned => "user_leave_org",
                        (Status::NotActivated, Status::Active) => "user_active_org",
                        _ => "user_modify_org",
                    };
                    (kind, "UserId", json!(after.id))
                }
                Change::UserDeleted(user) => ("user_leave_org", "UserId", json!(user.id)),
                Change::DepartmentCreated(dept) => ("org_dept_create", "DeptId", json!(dept.id)),
                Change::DepartmentUpdated { after, .. } => {
                    ("org_dept_modify", "DeptId", json!(after.id))
                }
                Change::DepartmentDeleted(dept) => ("org_dept_remove", "DeptId", json!(dept.id)),
                Change::ScopeChanged => {
                    return json!({"EventType": "org_change", "TimeStamp": now_ms.to_string(), "CorpId": CORP_ID});
                }
            };
            json!({
                "EventType": event_type,
                "TimeStamp": now_ms.to_string(),
                key: [id],
                "CorpId": CORP_ID,
            })
        })
        .collect()
}

/// One HTTP delivery as the receiver saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The decrypted payload.
    pub payload: Value,
    pub attempts: u32,
    pub outcome: DeliveryOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered the encrypted "success".
    Acknowledged,
    /// Every attempt failed; the last reason.
    Failed(String),
}

/// A signed, encrypted callback request, for tests that craft their own (forged, replayed,
/// sealed with another key or for another app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    /// `signature`, `timestamp` (ms), `nonce`.
    pub query: Vec<(String, String)>,
    /// `{"encrypt": "..."}`.
    pub body: String,
}

impl CallbackRequest {
    /// The query as `a=b&c=d`, percent-encoded.
    pub fn query_string(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.query)
            .finish()
    }
}

/// Builds callback requests: `seal` uses the crypto as given; the setters change what a forger
/// or a replayer would.
#[derive(Debug, Clone)]
pub struct CallbackBuilder {
    crypto: CallbackCrypto,
    timestamp_ms: i64,
    nonce: String,
    forged_signature: Option<String>,
}

impl CallbackBuilder {
    /// `receiver_id` is the app key the payload is sealed for.
    pub fn new(token: &str, aes_key: &str, receiver_id: &str) -> Result<Self, CryptoError> {
        Ok(CallbackBuilder {
            crypto: CallbackCrypto::new(token, aes_key, receiver_id)?,
            timestamp_ms: now_ms(),
            nonce: crypto::nonce(),
            forged_signature: None,
        })
    }

    pub fn timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = timestamp_ms;
        self
    }

    pub fn nonce(mut self, nonce: &str) -> Self {
        self.nonce = nonce.to_owned();
        self
    }

    /// Sends this signature instead of the right one.
    pub fn signature(mut self, signature: &str) -> Self {
        self.forged_signature = Some(signature.to_owned());
        self
    }

    pub fn seal(&self, payload: &Value) -> CallbackRequest {
        let encrypt = self.crypto.encrypt(payload.to_string().as_bytes());
        let timestamp = self.timestamp_ms.to_string();
        let signature = self
            .forged_signature
            .clone()
            .unwrap_or_else(|| self.crypto.signature(&timestamp, &self.nonce, &encrypt));
        CallbackRequest {
            query: vec![
                ("signature".into(), signature),
                ("timestamp".into(), timestamp),
                ("nonce".into(), self.nonce.clone()),
            ],
            body: json!({ "encrypt": encrypt }).to_string(),
        }
    }

    /// Whether `answer` is the encrypted "success" for this app, signed.
    pub fn check_success(&self, answer: &[u8]) -> Result<(), String> {
        let answer: Value =
            serde_json::from_slice(answer).map_err(|_| "the answer is not JSON".to_owned())?;
        let text = |key: &str| {
            answer
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the answer has no {key}"))
        };
        let (signature, timestamp, nonce, encrypt) = (
            text("msg_signature")?,
            text("timeStamp")?,
            text("nonce")?,
            text("encrypt")?,
        );
        if self.crypto.signature(timestamp, nonce, encrypt) != signature {
            return Err("the answer's signature is wrong".into());
        }
        let (message, receiver) = self
            .crypto
            .decrypt(encrypt)
            .map_err(|e| format!("the answer cannot be decrypted: {e}"))?;
        if receiver != self.crypto.receiver_id() {
            return Err(format!("the answer is sealed for {receiver}"));
        }
        if message != b"success" {
            return Err("the answer is not \"success\"".into());
        }
        Ok(())
    }
}

/// Delivery attempts per event, with a short backoff between them.
const ATTEMPTS: u32 = 3;
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The HTTP pusher: one event at a time, in order.
pub(super) struct HttpPush {
    url: String,
    builder: CallbackBuilder,
    client: reqwest::Client,
    deliveries: DeliveryLog<Delivery>,
}

impl HttpPush {
    pub fn new(url: &str, token: &str, aes_key: &str, app_key: &str) -> Result<Self, CryptoError> {
        Ok(HttpPush {
            url: url.to_owned(),
            builder: CallbackBuilder::new(token, aes_key, app_key)?,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            deliveries: DeliveryLog::default(),
        })
    }

    /// Sends `payloads` in order, each until acknowledged or out of attempts; recorded.
    pub async fn send_all(&self, payloads: Vec<Value>) {
        for payload in payloads {
            let (attempts, outcome) = self.send(&payload).await;
            self.deliveries.push(Delivery {
                payload,
                attempts,
                outcome,
            });
        }
    }

    /// One event, retried; the attempts made and how it ended.
    pub async fn send(&self, payload: &Value) -> (u32, DeliveryOutcome) {
        let mut wait = FIRST_RETRY;
        let mut reason = String::new();
        for attempt in 1..=ATTEMPTS {
            let builder = self
                .builder
                .clone()
                .timestamp_ms(now_ms())
                .nonce(&crypto::nonce());
            match self.post(&builder, payload).await {
                Ok(()) => return (attempt, DeliveryOutcome::Acknowledged),
                Err(why) => reason = why,
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        (ATTEMPTS, DeliveryOutcome::Failed(reason))
    }

    async fn post(&self, builder: &CallbackBuilder, payload: &Value) -> Result<(), String> {
        let request = builder.seal(payload);
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let url = format!("{}{separator}{}", self.url, request.query_string());
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(request.body)
            .send()
            .await
            .map_err(|e| format!("the receiver cannot be reached: {}", e.without_url()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !status.is_success() {
            return Err(format!("the receiver answered HTTP {}", status.as_u16()));
        }
        builder.check_success(&body)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.snapshot()
    }

    /// Waits until `count` deliveries are recorded (or `timeout`); the deliveries so far.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        self.deliveries
            .wait_until(timeout, |d| d.len() >= count)
            .await
    }
}

/// Where the org's changes go, per `DingtalkConfig::events`.
pub(super) enum Announcer {
    Silent,
    /// HTTP: payloads queued to one worker, so they arrive in the order the changes happened.
    Http {
        push: Arc<HttpPush>,
        queue: mpsc::UnboundedSender<Vec<Value>>,
        pending: Mutex<Option<mpsc::UnboundedReceiver<Vec<Value>>>>,
    },
    Stream,
}

impl Announcer {
    pub fn new(config: &super::DingtalkConfig) -> Result<Self, CryptoError> {
        Ok(match &config.events {
            None => Announcer::Silent,
            Some(super::EventPush::Stream) => Announcer::Stream,
            Some(super::EventPush::Http {
                url,
                token,
                aes_key,
            }) => {
                let (queue, pending) = mpsc::unbounded_channel();
                Announcer::Http {
                    push: Arc::new(HttpPush::new(url, token, aes_key, &config.app_key)?),
                    queue,
                    pending: Mutex::new(Some(pending)),
                }
            }
        })
    }

    /// Starts the HTTP worker (once; on the emulator's runtime).
    pub fn start(&self) {
        if let Announcer::Http { push, pending, .. } = self {
            let taken = pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(mut pending) = taken {
                let push = push.clone();
                tokio::spawn(async move {
                    while let Some(payloads) = pending.recv().await {
                        push.send_all(payloads).await;
                    }
                });
            }
        }
    }

    /// Announces the changes from `old` to `new`.
    pub fn announce(&self, old: &Org, new: &Org, gateway: &super::stream::Gateway) {
        let payloads = payloads(old, new, now_ms());
        if payloads.is_empty() {
            return;
        }
        match self {
            Announcer::Silent => {}
            Announcer::Http { queue, .. } => {
                let _ = queue.send(payloads);
            }
            Announcer::Stream => gateway.push(payloads),
        }
    }

    pub fn http(&self) -> Option<&Arc<HttpPush>> {
        match self {
            Announcer::Http { push, .. } => Some(push),
            _ => None,
        }
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
