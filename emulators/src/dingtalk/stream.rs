//! The Stream gateway: `POST /v1.0/gateway/connections/open` checks the app's clientId and
//! clientSecret and answers a `ws://` endpoint with a one-time ticket; the WebSocket pushes
//! `EVENT` frames, expects an ACK for each (by `messageId`), delivers again one that is not
//! acknowledged with `SUCCESS` within the ack timeout (same `eventId`, new `messageId`), sends
//! `SYSTEM ping`s and counts the answers, and can be told to drop its connections or to ask
//! the client to reconnect (`SYSTEM disconnect`).

use super::events::{CORP_ID, now_ms};
use super::state::Shared;
use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

pub const OPEN: &str = "/v1.0/gateway/connections/open";
pub(super) const CONNECT: &str = "/gateway/connect";

/// An event not acknowledged with `SUCCESS` this long after it was sent is sent again.
pub const ACK_TIMEOUT: Duration = Duration::from_millis(1500);
/// A `SYSTEM ping` this often on every connection.
pub const PING_EVERY: Duration = Duration::from_millis(500);
const TICK: Duration = Duration::from_millis(20);

/// How one event stands with its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEventState {
    Waiting,
    /// Sent under this messageId, at this time.
    Sent {
        message_id: String,
        at: Instant,
    },
    /// Acknowledged with `SUCCESS`.
    Acknowledged,
}

/// One event the gateway pushes.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub event_id: String,
    pub event_type: String,
    pub payload: Value,
    /// Times sent (a redelivery counts).
    pub sends: u32,
    /// Acknowledgements received that were not `SUCCESS`.
    pub refusals: u32,
    pub state: StreamEventState,
}

#[derive(Default)]
pub(super) struct Gateway {
    tickets: Mutex<HashSet<String>>,
    events: Mutex<Vec<StreamEvent>>,
    counter: AtomicU64,
    opened: AtomicU64,
    pongs: AtomicU64,
    /// Bumped to end every open connection (`drop`), or to ask them to reconnect.
    control: Mutex<Option<watch::Sender<Control>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Drop(u64),
    Disconnect(u64),
}

impl Gateway {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn control(&self) -> watch::Receiver<Control> {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        control
            .get_or_insert_with(|| watch::channel(Control::Run).0)
            .subscribe()
    }

    fn signal(&self, make: fn(u64) -> Control) {
        let n = self.next();
        let control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = control.as_ref() {
            sender.send_replace(make(n));
        }
    }

    /// Queues payloads for delivery.
    pub fn push(&self, payloads: Vec<Value>) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        for payload in payloads {
            let event_type = payload
                .get("EventType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            events.push(StreamEvent {
                event_id: format!("ev-{}", self.next()),
                event_type,
                payload,
                sends: 0,
                refusals: 0,
                state: StreamEventState::Waiting,
            });
        }
    }

    pub fn events(&self) -> Vec<StreamEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    pub fn pongs(&self) -> u64 {
        self.pongs.load(Ordering::Relaxed)
    }

    pub fn drop_connections(&self) {
        self.signal(Control::Drop);
    }

    pub fn ask_to_reconnect(&self) {
        self.signal(Control::Disconnect);
    }

    /// The frames due now (waiting, or sent and not acknowledged in time), marked sent.
    fn due(&self) -> Vec<String> {
        let now = Instant::now();
        let mut frames = Vec::new();
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events.iter_mut() {
            let due = match &event.state {
                StreamEventState::Waiting => true,
                StreamEventState::Sent { at, .. } => now.duration_since(*at) >= ACK_TIMEOUT,
                StreamEventState::Acknowledged => false,
            };
            if !due {
                continue;
            }
            let message_id = format!("msg-{}", self.next());
            event.sends += 1;
            event.state = StreamEventState::Sent {
                message_id: message_id.clone(),
                at: now,
            };
            frames.push(
                json!({
                    "specVersion": "1.0",
                    "type": "EVENT",
                    "headers": {
                        "appId": "emulated",
                        "contentType": "application/json",
                        "messageId": message_id,
                        "topic": "*",
                        "time": now_ms().to_string(),
                        "eventId": event.event_id,
                        "eventBornTime": now_ms().to_string(),
                        "eventCorpId": CORP_ID,
                        "eventType": event.event_type,
                    },
                    "data": event.payload.to_string(),
                })
                .to_string(),
            );
        }
        frames
    }

    /// Events sent on a connection that ended go out again on the next one.
    fn requeue_sent(&self) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events.iter_mut() {
            if matches!(event.state, StreamEventState::Sent { .. }) {
                event.state = StreamEventState::Waiting;
            }
        }
    }

    /// An ACK from the client: `SUCCESS` (code 200) settles its event; anything else leaves it
    /// to be sent again at the ack timeout. A pong is counted.
    fn answer(&self, text: &str) {
        let Ok(ack) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let Some(message_id) = ack.pointer("/headers/messageId").and_then(Value::as_str) else {
            return;
        };
        if message_id.starts_with("ping-") {
            self.pongs.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let success = ack.get("code").and_then(Value::as_i64) == Some(200)
            && ack
                .get("data")
                .and_then(Value::as_str)
                .and_then(|data| serde_json::from_str::<Value>(data).ok())
                .is_some_and(|data| data.get("status").and_then(Value::as_str) == Some("SUCCESS"));
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(event) = events.iter_mut().find(|event| {
            matches!(&event.state, StreamEventState::Sent { message_id: sent, .. } if sent == message_id)
        }) else {
            return;
        };
        if success {
            event.state = StreamEventState::Acknowledged;
        } else {
            event.refusals += 1;
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenRequest {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    subscriptions: Vec<Value>,
}

pub(super) async fn open(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<OpenRequest>,
) -> Response {
    if request.client_id != shared.config.app_key
        || request.client_secret != shared.config.app_secret
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "InvalidAuthentication", "message": "clientId or clientSecret is wrong"})),
        )
            .into_response();
    }
    if request.subscriptions.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "InvalidParameter", "message": "no subscriptions"})),
        )
            .into_response();
    }
    let gateway = &shared.gateway;
    let ticket = format!("ticket-{}", gateway.next());
    gateway
        .tickets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(ticket.clone());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    Json(json!({ "endpoint": format!("ws://{host}{CONNECT}"), "ticket": ticket })).into_response()
}

pub(super) async fn connect(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    let known = shared
        .gateway
        .tickets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&ticket);
    if !known {
        return (StatusCode::UNAUTHORIZED, "unknown or used ticket").into_response();
    }
    shared.gateway.opened.fetch_add(1, Ordering::Relaxed);
    let control = shared.gateway.control();
    upgrade.on_upgrade(move |socket| serve(shared, socket, control))
}

async fn serve(shared: Arc<Shared>, mut socket: WebSocket, mut control: watch::Receiver<Control>) {
    let gateway = &shared.gateway;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut tick = tokio::time::interval(TICK);
    control.borrow_and_update();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                for frame in gateway.due() {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        gateway.requeue_sent();
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                let frame = json!({
                    "specVersion": "1.0", "type": "SYSTEM",
                    "headers": {"messageId": format!("ping-{}", gateway.next()), "topic": "ping", "contentType": "application/json"},
                    "data": json!({"opaque": gateway.next().to_string()}).to_string(),
                });
                if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                    gateway.requeue_sent();
                    return;
                }
            }
            changed = control.changed() => {
                let command = *control.borrow_and_update();
                match (changed, command) {
                    (Ok(()), Control::Disconnect(n)) => {
                        let frame = json!({
                            "specVersion": "1.0", "type": "SYSTEM",
                            "headers": {"messageId": format!("disconnect-{n}"), "topic": "disconnect"},
                            "data": "{}",
                        });
                        let _ = socket.send(Message::Text(frame.to_string().into())).await;
                        // The client closes once it has read it; the gateway waits a little.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(message)) = socket.recv().await {
                                if matches!(message, Message::Close(_)) {
                                    break;
                                }
                            }
                        })
                        .await;
                    }
                    (Ok(()), Control::Run) => continue,
                    // Dropped: the TCP connection simply ends, no close frame.
                    _ => {}
                }
                gateway.requeue_sent();
                return;
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => gateway.answer(text.as_str()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    gateway.requeue_sent();
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
