//! Delivering events to the subscription's URL, as Feishu does: one at a time, in order, each
//! retried after `EventPush::retry_delays` until it is answered 200 within 3 s; every attempt
//! recorded.

use super::events::{EventCrafter, EventPush, EventRequest};
use crate::delivery_log::DeliveryLog;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

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
    log: Arc<DeliveryLog<EventDelivery>>,
}

impl Deliveries {
    /// Starts the sender task (needs a Tokio runtime).
    pub fn start(push: EventPush, app_id: &str) -> Self {
        let (queue, outgoing) = mpsc::unbounded_channel();
        let log = Arc::new(DeliveryLog::default());
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
        self.log.snapshot()
    }

    /// Waits until `count` events have been delivered (answered 200), up to `timeout`.
    pub async fn wait_delivered(&self, count: usize, timeout: Duration) -> bool {
        let delivered =
            |attempts: &[EventDelivery]| attempts.iter().filter(|d| d.delivered()).count() >= count;
        delivered(&self.log.wait_until(timeout, delivered).await)
    }
}

async fn send_in_order(
    push: EventPush,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    log: Arc<DeliveryLog<EventDelivery>>,
) {
    while let Some(event) = outgoing.recv().await {
        let mut waits = push.retry_delays.iter();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = post(&push.url, &event.request).await.outcome;
            let delivered = outcome == DeliveryOutcome::Answered(200);
            log.push(EventDelivery {
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                attempt,
                outcome,
                payload: event.payload.clone(),
                request: event.request.clone(),
            });
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

/// POSTs `request` to `url`, waiting at most 3 s for the whole answer.
pub(super) async fn post(url: &str, request: &EventRequest) -> Answer {
    match exchange(url, request).await {
        Ok((status, body)) => Answer {
            outcome: DeliveryOutcome::Answered(status),
            body,
        },
        Err(error) if error.is_timeout() => Answer {
            outcome: DeliveryOutcome::TimedOut,
            body: Vec::new(),
        },
        Err(error) => Answer {
            outcome: DeliveryOutcome::Unreachable(error.to_string()),
            body: Vec::new(),
        },
    }
}

async fn exchange(url: &str, request: &EventRequest) -> reqwest::Result<(u16, Vec<u8>)> {
    let mut post = client()
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .timeout(ANSWER_WITHIN)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        post = post.header(name.as_str(), value.as_str());
    }
    let response = post.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.bytes().await?.to_vec()))
}

/// One client for every delivery of the process: its connection pool is shared.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}
