//! Delivering events to the subscription's URL, as Feishu does: one at a time, in order, each
//! retried after `EventPush::retry_delays` until it is answered 200 within 3 s; every attempt
//! recorded.

use super::events::{EventCrafter, EventPush, EventRequest};
use serde_json::Value;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

/// Feishu waits this long for an answer before it counts the delivery as failed.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// One delivery attempt of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDelivery {
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
    /// The event as the receiver should read it (the plaintext v2 JSON).
    pub payload: Value,
    /// The request exactly as sent (for replays).
    pub request: EventRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Answered with this status (200 is delivered).
    Answered(u16),
    /// No answer within 3 s.
    TimedOut,
    /// The connection failed.
    Unreachable(String),
}

impl EventDelivery {
    pub fn delivered(&self) -> bool {
        self.outcome == DeliveryOutcome::Answered(200)
    }
}

/// One event waiting to be sent.
pub(super) struct Outgoing {
    pub event_id: String,
    pub event_type: String,
    pub payload: Value,
    pub request: EventRequest,
}

/// The queue of one emulator's events and the record of their deliveries.
pub(super) struct Deliveries {
    pub push: EventPush,
    pub crafter: EventCrafter,
    queue: mpsc::UnboundedSender<Outgoing>,
    log: Arc<Log>,
}

#[derive(Default)]
struct Log {
    attempts: Mutex<Vec<EventDelivery>>,
    changed: Notify,
}

impl Deliveries {
    /// Starts the sender task (needs a Tokio runtime).
    pub fn start(push: EventPush, app_id: &str) -> Self {
        let (queue, outgoing) = mpsc::unbounded_channel();
        let log = Arc::new(Log::default());
        tokio::spawn(send_in_order(push.clone(), outgoing, log.clone()));
        Deliveries {
            crafter: EventCrafter::new(app_id, &push.verification_token, push.encrypt_key.clone()),
            push,
            queue,
            log,
        }
    }

    pub fn enqueue(&self, outgoing: Outgoing) {
        if self.queue.send(outgoing).is_err() {
            tracing::warn!("The Feishu emulator's event sender has stopped; an event is dropped.");
        }
    }

    pub fn attempts(&self) -> Vec<EventDelivery> {
        self.log
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `count` events have been delivered (answered 200), up to `timeout`.
    pub async fn wait_delivered(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.log.changed.notified();
            if self.attempts().iter().filter(|d| d.delivered()).count() >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }
}

async fn send_in_order(
    push: EventPush,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    log: Arc<Log>,
) {
    while let Some(event) = outgoing.recv().await {
        let mut waits = push.retry_delays.iter();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = post(&push.url, &event.request).await.outcome;
            let delivered = outcome == DeliveryOutcome::Answered(200);
            log.attempts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(EventDelivery {
                    event_id: event.event_id.clone(),
                    event_type: event.event_type.clone(),
                    attempt,
                    outcome,
                    payload: event.payload.clone(),
                    request: event.request.clone(),
                });
            log.changed.notify_waiters();
            match waits.next() {
                Some(wait) if !delivered => tokio::time::sleep(*wait).await,
                _ => break,
            }
        }
    }
}

/// What one POST got back.
pub(super) struct Answer {
    pub outcome: DeliveryOutcome,
    pub body: Vec<u8>,
}

/// POSTs `request` to `url` (plain `http://host:port/path`), waiting at most 3 s for the whole
/// answer. A tiny HTTP/1.1 client: one request a connection, `Connection: close`.
pub(super) async fn post(url: &str, request: &EventRequest) -> Answer {
    match tokio::time::timeout(ANSWER_WITHIN, exchange(url, request)).await {
        Err(_) => Answer {
            outcome: DeliveryOutcome::TimedOut,
            body: Vec::new(),
        },
        Ok(Err(error)) => Answer {
            outcome: DeliveryOutcome::Unreachable(error.to_string()),
            body: Vec::new(),
        },
        Ok(Ok((status, body))) => Answer {
            outcome: DeliveryOutcome::Answered(status),
            body,
        },
    }
}

async fn exchange(url: &str, request: &EventRequest) -> std::io::Result<(u16, Vec<u8>)> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("the event URL must be http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        request.body.len()
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(authority).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&request.body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("the answer has no header end"))?;
    let status = std::str::from_utf8(&answer[..text_end])
        .ok()
        .and_then(|head| head.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("the answer has no status line"))?;
    Ok((status, answer[text_end + 4..].to_vec()))
}
