//! A webhook receiver for orgsync's webhook target: it checks the HMAC-SHA256 signature the way
//! docs/webhooks.md tells receivers to (401 when it is missing, wrong or stale), stores each
//! event once per `Idempotency-Key`, and misbehaves on demand. `groups()` replays the stored
//! `group.*` events into the groups a receiver would hold.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use emulators::webhook::{Behaviour, ReceiverConfig};
//! let receiver = emulators::webhook::start(ReceiverConfig::new("whsec_test")).await?;
//! receiver.set_behaviour(Behaviour::FailTimes { times: 2, status: 503 });
//! let url = receiver.url(); // http://127.0.0.1:PORT/hooks/orgsync
//! # let _ = url;
//! # Ok(())
//! # }
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const PATH: &str = "/hooks/orgsync";

#[derive(Clone)]
pub struct ReceiverConfig {
    /// The shared HMAC key.
    pub secret: String,
    /// Timestamps further from now than this are refused (replay protection).
    pub tolerance: Duration,
}

impl ReceiverConfig {
    pub fn new(secret: &str) -> Self {
        ReceiverConfig {
            secret: secret.to_owned(),
            tolerance: Duration::from_secs(300),
        }
    }
}

/// How the receiver answers correctly signed requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Store the event (once per idempotency key), then answer 200: the contract.
    Normal,
    /// Answer `status` to the next `times` requests without storing them, then behave normally.
    FailTimes { times: u32, status: u16 },
    /// Store the event, then answer 500 to the next `times` requests, as if the acknowledgement
    /// were lost on the way: the sender retries and the store must not grow.
    StoreThenFail { times: u32 },
    /// Store the event, then answer 200 with a body that is not JSON (which orgsync does not
    /// take as an acknowledgement).
    Garbage,
    /// Accept the request and never answer.
    Hang,
    /// Answer this status to every request, storing nothing.
    Always(u16),
}

/// One stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The `Idempotency-Key` (= `X-Orgsync-Delivery` = the body's `id`).
    pub id: String,
    /// `X-Orgsync-Event`.
    pub event: String,
    pub body: serde_json::Value,
}

/// A group as the stored `group.*` events leave it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedGroup {
    pub display_name: String,
    pub parent: Option<String>,
    pub head: Option<String>,
    pub members: BTreeSet<String>,
}

/// Requests seen since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every request, whatever the answer.
    pub requests: u64,
    /// Refused with 401: bad, missing or stale signature.
    pub rejected: u64,
    /// Correctly signed requests for an id already stored (answered 200, not stored again).
    pub duplicates: u64,
}

#[derive(Default)]
struct Inner {
    behaviour: Option<Behaviour>,
    events: Vec<Delivery>,
    seen: HashSet<String>,
    counters: Counters,
}

struct Shared {
    config: ReceiverConfig,
    inner: Mutex<Inner>,
}

pub struct ReceiverHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

pub async fn start(config: ReceiverConfig) -> std::io::Result<ReceiverHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        config,
        inner: Mutex::new(Inner::default()),
    });
    let app = Router::new()
        .route(PATH, post(receive))
        .with_state(shared.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(ReceiverHandle { addr, shared, task })
}

impl ReceiverHandle {
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.inner().behaviour = Some(behaviour);
    }

    /// Stored events, once per idempotency key, in the order they arrived.
    pub fn events(&self) -> Vec<Delivery> {
        self.inner().events.clone()
    }

    /// The groups the stored events describe, by department id: created or updated with their
    /// name, parent and head, members added and removed, deleted ones gone. Membership events for
    /// a group never created are applied to an empty one (the sender would have a bug).
    pub fn groups(&self) -> BTreeMap<String, ReceivedGroup> {
        let mut groups: BTreeMap<String, ReceivedGroup> = BTreeMap::new();
        for delivery in &self.inner().events {
            let Some(id) = delivery.body["group"].as_str() else {
                continue;
            };
            let data = &delivery.body["data"];
            let text = |field: &str| data[field].as_str().map(str::to_owned);
            let members = || {
                data["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_owned))
            };
            match delivery.event.as_str() {
                "group.created" | "group.updated" => {
                    let group = groups.entry(id.to_owned()).or_default();
                    group.display_name = text("display_name").unwrap_or_default();
                    group.parent = text("parent");
                    group.head = text("head");
                }
                "group.members_added" => {
                    let group = groups.entry(id.to_owned()).or_default();
                    group.members.extend(members());
                }
                "group.members_removed" => {
                    let group = groups.entry(id.to_owned()).or_default();
                    for member in members() {
                        group.members.remove(&member);
                    }
                }
                "group.deleted" => {
                    groups.remove(id);
                }
                _ => {}
            }
        }
        groups
    }

    pub fn counters(&self) -> Counters {
        self.inner().counters
    }

    /// Stops serving; requests in flight (a hanging one included) are cut off.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for ReceiverHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let verified = verify(
        &shared.config,
        &header("x-orgsync-timestamp"),
        &header("x-orgsync-signature"),
        &body,
    );
    let behaviour = {
        let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.counters.requests += 1;
        if let Err(reason) = verified {
            inner.counters.rejected += 1;
            return (StatusCode::UNAUTHORIZED, reason).into_response();
        }
        let behaviour = inner.behaviour.clone().unwrap_or(Behaviour::Normal);
        match behaviour {
            Behaviour::FailTimes { times, status } if times > 0 => {
                inner.behaviour = (times > 1).then(|| Behaviour::FailTimes {
                    times: times - 1,
                    status,
                });
                return status_only(status, "injected failure");
            }
            Behaviour::Always(status) => return status_only(status, "injected failure"),
            Behaviour::Hang => None,
            other => {
                let id = header("idempotency-key");
                let event = header("x-orgsync-event");
                let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
                };
                if id.is_empty() || parsed["id"].as_str() != Some(id.as_str()) {
                    return (
                        StatusCode::BAD_REQUEST,
                        "Idempotency-Key does not match the id",
                    )
                        .into_response();
                }
                if inner.seen.insert(id.clone()) {
                    inner.events.push(Delivery {
                        id,
                        event,
                        body: parsed,
                    });
                } else {
                    inner.counters.duplicates += 1;
                }
                if let Behaviour::StoreThenFail { times } = other
                    && times > 0
                {
                    inner.behaviour =
                        (times > 1).then(|| Behaviour::StoreThenFail { times: times - 1 });
                    return status_only(500, "stored, but the answer is lost");
                }
                Some(other)
            }
        }
    };
    match behaviour {
        None => std::future::pending().await,
        Some(Behaviour::Garbage) => (StatusCode::OK, "<html>\u{0}\u{1}not json").into_response(),
        Some(_) => (StatusCode::OK, "{\"stored\":true}").into_response(),
    }
}

fn status_only(status: u16, text: &'static str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        text,
    )
        .into_response()
}

/// The check docs/webhooks.md describes: `v1=` + hex HMAC-SHA256 over `timestamp.body`,
/// compared in constant time, with the timestamp within the tolerance.
fn verify(
    config: &ReceiverConfig,
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), &'static str> {
    let seconds: i64 = timestamp.parse().map_err(|_| "missing timestamp")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if now.abs_diff(seconds) > config.tolerance.as_secs() {
        return Err("stale timestamp");
    }
    let hex = signature
        .strip_prefix("v1=")
        .ok_or("missing v1 signature")?;
    let expected = decode_hex(hex).ok_or("malformed signature")?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(config.secret.as_bytes()).map_err(|_| "bad key")?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| "wrong signature")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
