//! Feishu's event subscription v2, as the platform sends it: on every org update the changes
//! the app can see become `contact.*_v3` events (header, `event.object`, `event.old_object`),
//! encrypted with the Encrypt Key and signed with `X-Lark-Signature` when one is configured,
//! and POSTed in order to the subscription's URL (see `delivery.rs`).
//!
//! The crypto here is the emulator's own: orgsync's opener and this file agreeing is the test.
//! [`EventCrafter`] builds single requests for tests (forged, replayed, wrong key).

use super::convert::{self, View};
use super::ids::{DepartmentIdType, IdTypes, UserIdType};
use super::state::Directory;
use crate::changes::Change;
use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The app's event subscription: where Feishu POSTs events and how it protects them.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPush {
    /// The request URL (`http://…` only: the emulator speaks plain HTTP).
    pub url: String,
    pub verification_token: String,
    /// With it every body is encrypted and signed; without it events are plaintext JSON.
    pub encrypt_key: Option<String>,
    /// Waits before the retries of a delivery not answered 200 within 3 s; Feishu retries
    /// after 15 s, 5 min, 1 h and 6 h. Tests shorten them.
    pub retry_delays: Vec<Duration>,
}

impl EventPush {
    /// A subscription at `url` with Feishu's retry schedule and no Encrypt Key.
    pub fn new(url: impl Into<String>, verification_token: impl Into<String>) -> Self {
        EventPush {
            url: url.into(),
            verification_token: verification_token.into(),
            encrypt_key: None,
            retry_delays: [15, 300, 3600, 6 * 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

/// One HTTP request of the platform: headers and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// `X-Lark-Request-Timestamp`, `X-Lark-Request-Nonce`, `X-Lark-Signature` when signed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl EventRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) a header, e.g. to forge a signature.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
    }
}

/// Builds the platform's requests for one app: the URL challenge and events, encrypted and
/// signed like Feishu's. Public so tests can craft forged, replayed and wrong-key requests.
#[derive(Debug)]
pub struct EventCrafter {
    pub app_id: String,
    pub tenant_key: String,
    pub verification_token: String,
    pub encrypt_key: Option<String>,
    counter: AtomicU64,
}

impl EventCrafter {
    pub fn new(
        app_id: impl Into<String>,
        verification_token: impl Into<String>,
        encrypt_key: Option<String>,
    ) -> Self {
        EventCrafter {
            app_id: app_id.into(),
            tenant_key: "tenant-emulated".to_owned(),
            verification_token: verification_token.into(),
            encrypt_key,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A fresh event id, unique per crafter (32 hex digits, like Feishu's).
    pub fn event_id(&self) -> String {
        let n = self.next();
        let digest = Sha256::digest(format!("{}/{}/{n}", self.app_id, now_millis()));
        hex(&digest[..16])
    }

    /// The v2 envelope of one event: `schema`, `header`, `event`.
    pub fn envelope(
        &self,
        event_id: &str,
        event_type: &str,
        create_time_ms: i64,
        event: Value,
    ) -> Value {
        json!({
            "schema": "2.0",
            "header": {
                "event_id": event_id,
                "event_type": event_type,
                "create_time": create_time_ms.to_string(),
                "token": self.verification_token,
                "app_id": self.app_id,
                "tenant_key": self.tenant_key,
            },
            "event": event,
        })
    }

    /// The URL verification request. Encrypted when there is a key; never signed (the
    /// official SDKs do not check a signature on it).
    pub fn challenge(&self, challenge: &str) -> EventRequest {
        let plain = json!({
            "challenge": challenge,
            "token": self.verification_token,
            "type": "url_verification",
        });
        let body = self.body(&plain);
        EventRequest {
            headers: Vec::new(),
            body,
        }
    }

    /// `plain` as Feishu sends it at `timestamp` (Unix seconds): encrypted and signed when
    /// there is a key, plaintext otherwise.
    pub fn request(&self, plain: &Value, timestamp: i64) -> EventRequest {
        let body = self.body(plain);
        let Some(key) = &self.encrypt_key else {
            return EventRequest {
                headers: Vec::new(),
                body,
            };
        };
        let timestamp = timestamp.to_string();
        let nonce = format!("{:x}", self.next() ^ 0x5eed_f00d);
        let signature = signature(&timestamp, &nonce, key, &body);
        EventRequest {
            headers: vec![
                ("X-Lark-Request-Timestamp".to_owned(), timestamp),
                ("X-Lark-Request-Nonce".to_owned(), nonce),
                ("X-Lark-Signature".to_owned(), signature),
            ],
            body,
        }
    }

    fn body(&self, plain: &Value) -> Vec<u8> {
        let text = plain.to_string();
        match &self.encrypt_key {
            None => text.into_bytes(),
            Some(key) => {
                let iv = Sha256::digest(format!("iv/{}/{}", self.next(), now_millis()));
                let mut first = [0u8; 16];
                first.copy_from_slice(&iv[..16]);
                json!({ "encrypt": encrypt(key, text.as_bytes(), first) })
                    .to_string()
                    .into_bytes()
            }
        }
    }
}

/// Feishu's `encrypt` field: base64(IV ‖ AES-256-CBC(SHA-256(key), IV, PKCS#7(plaintext))).
pub fn encrypt(encrypt_key: &str, plaintext: &[u8], iv: [u8; 16]) -> String {
    let key: [u8; 32] = Sha256::digest(encrypt_key.as_bytes()).into();
    let ciphertext = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    let mut blob = iv.to_vec();
    blob.extend_from_slice(&ciphertext);
    STANDARD.encode(blob)
}

/// `X-Lark-Signature`: lowercase hex SHA-256 of timestamp ‖ nonce ‖ encrypt key ‖ body.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(timestamp.as_bytes());
    digest.update(nonce.as_bytes());
    digest.update(encrypt_key.as_bytes());
    digest.update(body);
    hex(&digest.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Event type and `event` body of each change, as the platform announces it: ids in the forms
/// its contact API serves (`open_id`, `union_id`, `user_id`; departments by both ids, parents
/// and `department_ids` as open department ids, leaders as open ids).
pub(super) fn events_of(
    changes: &[Change],
    old: &Directory,
    new: &Directory,
    view: View,
) -> Vec<(&'static str, Value)> {
    let view = View {
        ids: IdTypes {
            user: UserIdType::OpenId,
            department: DepartmentIdType::OpenDepartmentId,
        },
        ..view
    };
    let user = |directory: &Directory, user| object(&convert::user(directory, user, view));
    let department = |directory: &Directory, d| object(&convert::department(directory, d, view));
    changes
        .iter()
        .map(|change| match change {
            Change::UserCreated(after) => (
                "contact.user.created_v3",
                json!({ "object": user(new, after) }),
            ),
            Change::UserUpdated { before, after } => {
                let (before, after) = (user(old, before), user(new, after));
                (
                    "contact.user.updated_v3",
                    json!({ "old_object": changed_fields(&before, &after), "object": after }),
                )
            }
            Change::UserDeleted(before) => {
                let before = user(old, before);
                let old_departments = before.get("department_ids").cloned().unwrap_or(json!([]));
                (
                    "contact.user.deleted_v3",
                    json!({ "object": before, "old_object": { "department_ids": old_departments } }),
                )
            }
            Change::DepartmentCreated(after) => (
                "contact.department.created_v3",
                json!({ "object": department(new, after) }),
            ),
            Change::DepartmentUpdated { before, after } => {
                let (before, after) = (department(old, before), department(new, after));
                (
                    "contact.department.updated_v3",
                    json!({ "old_object": changed_fields(&before, &after), "object": after }),
                )
            }
            Change::DepartmentDeleted(before) => {
                let mut before = department(old, before);
                before.insert("status".to_owned(), json!({ "is_deleted": true }));
                (
                    "contact.department.deleted_v3",
                    json!({ "object": before, "old_object": { "status": { "is_deleted": false } } }),
                )
            }
            Change::ScopeChanged => ("contact.scope.updated_v3", scope_change(old, new)),
        })
        .collect()
}

fn object(record: &impl serde::Serialize) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The fields of `before` whose value `after` changed (or dropped): Feishu's `old_object`.
fn changed_fields(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    before
        .iter()
        .filter(|(field, value)| after.get(*field) != Some(*value))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect()
}

/// `contact.scope.updated_v3`: the departments and people granted or withdrawn.
fn scope_change(old: &Directory, new: &Directory) -> Value {
    let (old_scope, new_scope) = (&old.org.scope, &new.org.scope);
    let departments = |from: &[i64], without: &[i64]| -> Vec<Value> {
        from.iter()
            .filter(|id| !without.contains(id))
            .map(|&id| {
                json!({
                    "department_id": super::ids::department_id(DepartmentIdType::DepartmentId, id),
                    "open_department_id": super::ids::department_id(DepartmentIdType::OpenDepartmentId, id),
                })
            })
            .collect()
    };
    let users = |directory: &Directory, from: &[String], without: &[String]| -> Vec<Value> {
        from.iter()
            .filter(|id| !without.contains(id))
            .map(|id| {
                json!({
                    "open_id": directory.user_ref(UserIdType::OpenId, id),
                    "union_id": directory.user_ref(UserIdType::UnionId, id),
                    "user_id": id,
                })
            })
            .collect()
    };
    json!({
        "added": {
            "departments": departments(&new_scope.departments, &old_scope.departments),
            "users": users(new, &new_scope.users, &old_scope.users),
            "user_groups": [],
        },
        "removed": {
            "departments": departments(&old_scope.departments, &new_scope.departments),
            "users": users(old, &old_scope.users, &new_scope.users),
            "user_groups": [],
        },
    })
}
