//! WeCom's change callbacks, sent by the emulator when its org changes (notes §8): each change
//! as the decrypted XML WeCom builds, encrypted and signed with the emulator's own crypto (never
//! orgsync's: two implementations that agree are the test), POSTed in order per org update, with
//! a few retries; and the URL verification (`echostr`) the admin console runs.
//!
//! Three kinds of callback, as WeCom has them: the contacts-sync tool's callback configured after
//! 2022-08-15 (ids only, few update kinds), an older one (the changed fields), and a self-built
//! app's (`subscribe`/`unsubscribe` only, when people enter or leave its visible range).

use super::state::Directory;
use crate::changes::{self, Change};
use crate::delivery_log::DeliveryLog;
use crate::fixture::{Department, Status, User};
use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Where and how the emulator sends its callbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackConfig {
    /// The callback URL; the signed query is appended.
    pub url: String,
    pub token: String,
    /// 43 characters: base64 of the 32-byte AES key without its `=`.
    pub encoding_aes_key: String,
    pub kind: CallbackKind,
}

/// Which of WeCom's callbacks this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackKind {
    /// A contacts-sync callback configured after 2022-08-15: ids only; `update_user` only when
    /// a person's departments change, `update_party` only when a department's parent changes.
    #[default]
    IdsOnly,
    /// An older contacts-sync callback: every change, with the changed fields.
    Full,
    /// A self-built app's callback: `subscribe` / `unsubscribe` when a person enters or leaves
    /// the visible range (a disabled person leaves it), nothing else.
    SelfBuiltApp,
}

/// One event the emulator sent, after its last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `create_user`, `update_party`, ..., or `subscribe` / `unsubscribe`.
    pub change_type: String,
    /// The receiver's answer (0: no answer, `body` says why).
    pub status: u16,
    pub body: String,
    /// The decrypted XML that was sent.
    pub xml: String,
    pub attempts: u32,
}

/// A signed, encrypted callback request: the query to append to the URL and the POST body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub query: Vec<(String, String)>,
    pub body: String,
}

/// Encrypts `xml` for `corp_id` under `aes_key`, signs it with `token` at `timestamp` (seconds),
/// as WeCom POSTs a callback. Tests use it to forge, replay and mis-key requests.
///
/// # Panics
/// If `aes_key` is not a 43-character EncodingAESKey (a test's own constant).
pub fn signed_request(
    token: &str,
    aes_key: &str,
    corp_id: &str,
    xml: &str,
    timestamp: i64,
) -> SignedRequest {
    let key = decode_key(aes_key).expect("a 43-character EncodingAESKey");
    seal(token, &key, corp_id, "", xml, timestamp)
}

fn seal(
    token: &str,
    key: &[u8; 32],
    corp_id: &str,
    agent_id: &str,
    xml: &str,
    timestamp: i64,
) -> SignedRequest {
    let encrypt = encrypt(key, xml.as_bytes(), corp_id);
    let timestamp = timestamp.to_string();
    let nonce = random_digits();
    let signature = sign(token, &timestamp, &nonce, &encrypt);
    let body = format!(
        "<xml><ToUserName>{}</ToUserName><AgentID>{}</AgentID><Encrypt>{}</Encrypt></xml>",
        cdata(corp_id),
        cdata(agent_id),
        cdata(&encrypt)
    );
    SignedRequest {
        query: vec![
            ("msg_signature".into(), signature),
            ("timestamp".into(), timestamp),
            ("nonce".into(), nonce),
        ],
        body,
    }
}

/// SHA-1 of the four values sorted and concatenated, in hex.
fn sign(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort();
    let digest = Sha1::digest(parts.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of an EncodingAESKey: `key + "="` decoded, spare bits allowed (WeCom's own SDKs).
fn decode_key(encoding_aes_key: &str) -> Option<[u8; 32]> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    if encoding_aes_key.len() != 43 {
        return None;
    }
    LENIENT
        .decode(format!("{encoding_aes_key}="))
        .ok()?
        .try_into()
        .ok()
}

/// AES-256-CBC, IV = the key's first 16 bytes, of `random(16) ‖ len(4, BE) ‖ msg ‖ receiver`
/// padded PKCS#7-style to a multiple of 32.
fn encrypt(key: &[u8; 32], message: &[u8], receiver: &str) -> String {
    let mut random = [0u8; 16];
    for chunk in random.chunks_mut(8) {
        let n = fastrand_u64().to_le_bytes();
        chunk.copy_from_slice(&n[..chunk.len()]);
    }
    let mut plain = random.to_vec();
    plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plain.extend_from_slice(message);
    plain.extend_from_slice(receiver.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.resize(plain.len() + pad, pad as u8);
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let ciphertext = cbc::Encryptor::<Aes256>::new(key.into(), &iv.into())
        .encrypt_padded_vec::<NoPadding>(&plain);
    STANDARD.encode(ciphertext)
}

/// Randomness good enough for an emulator's nonces and prefixes: SHA-1 of the clock and a
/// counter (no extra dependency; nothing here is a secret).
fn fastrand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = Sha1::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

fn random_digits() -> String {
    (fastrand_u64() % 10_000_000_000).to_string()
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `<![CDATA[text]]>`, a `]]>` inside split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// One event's decrypted XML, built field by field.
struct EventXml {
    change_type: String,
    xml: String,
}

impl EventXml {
    fn new(corp_id: &str, event: &str, change_type: &str) -> Self {
        let mut xml = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
             <CreateTime>{}</CreateTime><MsgType>{}</MsgType><Event>{}</Event>",
            cdata(corp_id),
            cdata("sys"),
            now_seconds(),
            cdata("event"),
            cdata(event)
        );
        if event == "change_contact" {
            xml.push_str(&format!("<ChangeType>{}</ChangeType>", cdata(change_type)));
        }
        EventXml {
            change_type: change_type.to_owned(),
            xml,
        }
    }

    fn field(mut self, name: &str, value: &str) -> Self {
        self.xml
            .push_str(&format!("<{name}>{}</{name}>", cdata(value)));
        self
    }

    fn finish(mut self) -> Self {
        self.xml.push_str("</xml>");
        self
    }
}

fn departments(user: &User) -> String {
    let ids: Vec<String> = user.departments.iter().map(i64::to_string).collect();
    ids.join(",")
}

fn status_code(status: Status) -> &'static str {
    match status {
        Status::Active => "1",
        Status::Disabled => "2",
        Status::NotActivated => "4",
        Status::Resigned => "5",
    }
}

/// The contacts-sync callback's events for `changes`.
fn contact_events(corp_id: &str, kind: CallbackKind, changes: &[Change]) -> Vec<EventXml> {
    let event = |change_type: &str| EventXml::new(corp_id, "change_contact", change_type);
    let full = kind == CallbackKind::Full;
    let mut out = Vec::new();
    for change in changes {
        let built = match change {
            Change::UserCreated(user) if full => {
                Some(user_fields(event("create_user"), None, user))
            }
            Change::UserCreated(user) => Some(
                event("create_user")
                    .field("UserID", &user.id)
                    .field("Department", &departments(user)),
            ),
            Change::UserUpdated { before, after } if full => {
                Some(user_fields(event("update_user"), Some(before), after))
            }
            Change::UserUpdated { before, after } => (before.departments != after.departments)
                .then(|| {
                    event("update_user")
                        .field("UserID", &after.id)
                        .field("Department", &departments(after))
                }),
            Change::UserDeleted(user) => Some(event("delete_user").field("UserID", &user.id)),
            Change::DepartmentCreated(dept) if full => {
                Some(party_fields(event("create_party"), None, dept))
            }
            Change::DepartmentCreated(dept) => Some(parent(
                event("create_party").field("Id", &dept.id.to_string()),
                dept,
            )),
            Change::DepartmentUpdated { before, after } if full => {
                Some(party_fields(event("update_party"), Some(before), after))
            }
            Change::DepartmentUpdated { before, after } => {
                (before.parent != after.parent).then(|| {
                    parent(
                        event("update_party").field("Id", &after.id.to_string()),
                        after,
                    )
                })
            }
            Change::DepartmentDeleted(dept) => {
                Some(event("delete_party").field("Id", &dept.id.to_string()))
            }
            // The contacts-sync callback has no event for the app's scope.
            Change::ScopeChanged => None,
        };
        out.extend(built.map(EventXml::finish));
    }
    out
}

fn parent(xml: EventXml, dept: &Department) -> EventXml {
    xml.field("ParentId", &dept.parent.unwrap_or(0).to_string())
}

/// How one field of a person reads in the callback's XML.
type UserField = fn(&User) -> Option<String>;

/// An older callback's user fields: all of them on creation, the changed ones on update.
fn user_fields(xml: EventXml, before: Option<&User>, after: &User) -> EventXml {
    let mut xml = xml.field("UserID", &after.id);
    let changed = |old: Option<String>, new: Option<String>| -> Option<String> {
        match before {
            Some(_) if old == new => None,
            _ => Some(new.unwrap_or_default()),
        }
    };
    let pick = |f: UserField| changed(before.and_then(f), f(after));
    let fields: [(&str, UserField); 7] = [
        ("Name", |u| Some(u.name.clone())),
        ("Department", |u| Some(departments(u))),
        ("MainDepartment", |u| {
            u.main_department
                .or(u.departments.first().copied())
                .map(|d| d.to_string())
        }),
        ("DirectLeader", |u| u.manager.clone()),
        ("Position", |u| u.title.clone()),
        ("Mobile", |u| u.mobile.clone()),
        ("Email", |u| u.email.clone()),
    ];
    for (name, get) in fields {
        if let Some(value) = pick(get) {
            xml = xml.field(name, &value);
        }
    }
    if before.is_none_or(|b| b.status != after.status) {
        xml = xml.field("Status", status_code(after.status));
    }
    xml
}

fn party_fields(xml: EventXml, before: Option<&Department>, after: &Department) -> EventXml {
    let mut xml = xml.field("Id", &after.id.to_string());
    if before.is_none_or(|b| b.name != after.name) {
        xml = xml.field("Name", &after.name);
    }
    if before.is_none_or(|b| b.parent != after.parent) {
        xml = parent(xml, after);
    }
    if before.is_none() {
        xml = xml.field("Order", &after.order.to_string());
    }
    xml
}

/// A self-built app's events: who entered or left its visible range (a disabled or departed
/// person leaves it).
fn app_events(
    corp_id: &str,
    agent_id: i64,
    before: &Directory,
    after: &Directory,
) -> Vec<EventXml> {
    let in_range = |dir: &Directory, user: &User| {
        user.status == Status::Active && dir.is_user_id_visible(&user.id)
    };
    let mut ids: Vec<&User> = before
        .org
        .users
        .iter()
        .chain(after.org.users.iter())
        .collect();
    ids.sort_by(|a, b| a.id.cmp(&b.id));
    ids.dedup_by(|a, b| a.id == b.id);
    let find = |dir: &Directory, id: &str| dir.org.users.iter().find(|u| u.id == id).cloned();
    let mut out = Vec::new();
    for user in ids {
        let was = find(before, &user.id).is_some_and(|u| in_range(before, &u));
        let is = find(after, &user.id).is_some_and(|u| in_range(after, &u));
        let event = match (was, is) {
            (false, true) => "subscribe",
            (true, false) => "unsubscribe",
            _ => continue,
        };
        let mut xml = EventXml::new(corp_id, event, event).field("AgentID", &agent_id.to_string());
        // The person is the sender of a subscription event.
        xml.xml = xml.xml.replacen(&cdata("sys"), &cdata(&user.id), 1);
        out.push(xml.finish());
    }
    out
}

/// Sends one org update's events, in order, from a task of its own, and keeps the outcomes.
pub(super) struct Sender {
    config: CallbackConfig,
    corp_id: String,
    agent_id: i64,
    key: [u8; 32],
    queue: mpsc::UnboundedSender<Vec<EventXml>>,
    log: Arc<DeliveryLog<Delivery>>,
}

const ATTEMPTS: u32 = 4;

impl Sender {
    /// Starts the sending task (on the current runtime).
    pub fn start(config: CallbackConfig, corp_id: &str, agent_id: i64) -> Result<Self, String> {
        let key = decode_key(&config.encoding_aes_key)
            .ok_or("the callback's encoding_aes_key is not a 43-character EncodingAESKey")?;
        let (queue, mut batches) = mpsc::unbounded_channel::<Vec<EventXml>>();
        let log = Arc::new(DeliveryLog::default());
        let client = reqwest::Client::new();
        let (task_log, url, token) = (log.clone(), config.url.clone(), config.token.clone());
        let (task_corp, task_agent) = (corp_id.to_owned(), agent_id_text(&config, agent_id));
        tokio::spawn(async move {
            while let Some(batch) = batches.recv().await {
                for event in batch {
                    let request = seal(
                        &token,
                        &key,
                        &task_corp,
                        &task_agent,
                        &event.xml,
                        now_seconds(),
                    );
                    let delivery = post(&client, &url, &request, event).await;
                    task_log.push(delivery);
                }
            }
        });
        Ok(Sender {
            config,
            corp_id: corp_id.to_owned(),
            agent_id,
            key,
            queue,
            log,
        })
    }

    /// Queues the events of the change from `before` to `after`.
    pub fn announce(&self, before: &Directory, after: &Directory) {
        let events = match self.config.kind {
            CallbackKind::SelfBuiltApp => app_events(&self.corp_id, self.agent_id, before, after),
            kind => contact_events(
                &self.corp_id,
                kind,
                &changes::between(&before.org, &after.org),
            ),
        };
        if !events.is_empty() {
            // The task ends only with the sender: the queue is open while `self` lives.
            let _ = self.queue.send(events);
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.snapshot()
    }

    /// Waits until `count` events were delivered (or gave up), at most `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        self.log.wait_until(timeout, |d| d.len() >= count).await
    }

    /// The admin console's URL check: a GET with an encrypted `echostr`, whose plaintext the
    /// receiver must answer. `Ok(false)`: it answered something else.
    pub async fn verify(&self) -> Result<bool, String> {
        let echo = random_digits();
        let encrypted = encrypt(&self.key, echo.as_bytes(), &self.corp_id);
        let timestamp = now_seconds().to_string();
        let nonce = random_digits();
        let signature = sign(&self.config.token, &timestamp, &nonce, &encrypted);
        let query = [
            ("msg_signature", signature.as_str()),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
            ("echostr", &encrypted),
        ];
        let response = reqwest::Client::new()
            .get(with_query(&self.config.url, &query))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|error| format!("the callback URL cannot be reached: {error}"))?;
        let ok = response.status().is_success();
        let body = response
            .text()
            .await
            .map_err(|error| format!("the callback URL's answer cannot be read: {error}"))?;
        Ok(ok && body == echo)
    }
}

fn agent_id_text(config: &CallbackConfig, agent_id: i64) -> String {
    match config.kind {
        CallbackKind::SelfBuiltApp => agent_id.to_string(),
        CallbackKind::IdsOnly | CallbackKind::Full => String::new(),
    }
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", query.finish())
}

/// POSTs one event until the receiver answers `success` (WeCom retries too), a few times with
/// a short backoff.
async fn post(
    client: &reqwest::Client,
    url: &str,
    request: &SignedRequest,
    event: EventXml,
) -> Delivery {
    let pairs: Vec<(&str, &str)> = request
        .query
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let target = with_query(url, &pairs);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = client
            .post(&target)
            .header("content-type", "text/xml")
            .body(request.body.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let (status, body) = match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(error) => (0, error.to_string()),
        };
        if (status == 200 && body == "success") || attempts >= ATTEMPTS {
            return Delivery {
                change_type: event.change_type,
                status,
                body,
                xml: event.xml,
                attempts,
            };
        }
        tokio::time::sleep(Duration::from_millis(50 << attempts)).await;
    }
}
