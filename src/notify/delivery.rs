//! Delivery: [`Notices`] takes notices without ever waiting (a full queue drops and counts), a
//! dispatcher task routes each to the channels whose `on` and `connectors` match, asks the
//! de-duplication memory, and queues messages per channel; each channel's task keeps the rate
//! limit and retries with backoff. A message that still fails is logged (WARN) and counted.

use super::dedupe::{self, Decision, DedupeStore};
use super::limiter::{Limiter, RateLimit};
use super::{Channel, ChannelError, Message, Notice, NoticeKind, NotifyMetrics, SendError};
use crate::config::{Config, NotifyConfig, NotifyEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// Notices waiting to be routed; more are dropped (and counted).
const NOTICE_QUEUE: usize = 256;
/// Messages waiting for one channel (its rate limit, its retries); more are dropped.
const CHANNEL_QUEUE: usize = 100;

/// One configured channel and its rules.
#[derive(Debug, Clone)]
pub struct Route {
    pub channel: Arc<Channel>,
    pub config: NotifyConfig,
}

/// Every route, and the console's external URL for links.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub routes: Vec<Route>,
    pub console: Option<url::Url>,
}

/// Builds every `[[notify]]` channel of `config` (secrets read, URLs checked).
pub fn build_routes(config: &Config) -> Result<Routes, ChannelError> {
    let routes = config
        .notify
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            Ok(Route {
                channel: Arc::new(Channel::build(entry, i)?),
                config: entry.clone(),
            })
        })
        .collect::<Result<Vec<_>, ChannelError>>()?;
    Ok(Routes {
        routes,
        console: config
            .daemon
            .web
            .as_ref()
            .and_then(|w| w.external_url.clone()),
    })
}

/// How a channel retries one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// Sends `message` on `channel` until delivered, refused for good, or out of attempts.
pub async fn deliver(channel: &Channel, message: &Message, retry: Retry) -> Result<(), SendError> {
    let mut delay = retry.first_delay;
    let mut attempt = 1;
    loop {
        match channel.send(message).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < retry.attempts => {
                let wait = e.wait_at_least().map_or(delay, |least| least.max(delay));
                warn!(
                    channel = %channel.label,
                    event = message.event,
                    attempt,
                    delay_ms = wait.as_millis() as u64,
                    error = %e,
                    "A notification was not delivered; retrying."
                );
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(retry.max_delay);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The daemon's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Notices {
    tx: Option<mpsc::Sender<Notice>>,
    routes: Arc<watch::Sender<Arc<Routes>>>,
    metrics: NotifyMetrics,
}

/// How the dispatcher paces and retries; tests shorten both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacing {
    pub limit: RateLimit,
    pub retry: Retry,
}

impl Notices {
    /// No channels: notices are ignored.
    pub fn off(metrics: NotifyMetrics) -> Notices {
        Notices {
            tx: None,
            routes: Arc::new(watch::channel(Arc::new(Routes::default())).0),
            metrics,
        }
    }

    /// Starts the dispatcher with `routes`, remembering sent failures in `store`.
    pub fn start(
        routes: Routes,
        store: Arc<dyn DedupeStore>,
        metrics: NotifyMetrics,
        pacing: Pacing,
    ) -> Notices {
        let (tx, rx) = mpsc::channel(NOTICE_QUEUE);
        let (routes_tx, routes_rx) = watch::channel(Arc::new(routes));
        tokio::spawn(dispatch(rx, routes_rx, store, metrics.clone(), pacing));
        Notices {
            tx: Some(tx),
            routes: Arc::new(routes_tx),
            metrics,
        }
    }

    /// Hands `notice` over; when the queue is full it is dropped, counted and logged.
    pub fn send(&self, notice: Notice) {
        let Some(tx) = &self.tx else { return };
        if self.routes.borrow().routes.is_empty() {
            return;
        }
        if let Err(e) = tx.try_send(notice) {
            let notice = match e {
                mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => n,
            };
            self.metrics.count("*", "dropped");
            warn!(
                connector = notice.connector,
                "Too many notifications are waiting; this one is dropped."
            );
        }
    }

    /// A reload's channels, for the notices from now on.
    pub fn install(&self, routes: Routes) {
        self.routes.send_replace(Arc::new(routes));
    }

    /// The shortest `throttled_long_after` of the channels that want `throttled_long` about
    /// `connector`; `None` when none does.
    pub fn throttle_floor(&self, connector: &str) -> Option<Duration> {
        self.routes
            .borrow()
            .routes
            .iter()
            .filter(|r| {
                r.config.covers(connector) && r.config.on.contains(&NotifyEvent::ThrottledLong)
            })
            .map(|r| r.config.throttled_long_after.0)
            .min()
    }

    pub fn metrics(&self) -> &NotifyMetrics {
        &self.metrics
    }
}

/// A message for one channel, with the memory key its sending was recorded under (a failure
/// sent as news or as a reminder).
struct Outgoing {
    message: Message,
    remembered: Option<String>,
}

impl Outgoing {
    /// A message the memory keeps nothing of.
    fn news(message: Message) -> Outgoing {
        Outgoing {
            message,
            remembered: None,
        }
    }
}

/// One channel's queue and the task that drains it.
struct Lane {
    channel: Arc<Channel>,
    tx: mpsc::Sender<Outgoing>,
}

impl Lane {
    fn start(
        channel: Arc<Channel>,
        store: Arc<dyn DedupeStore>,
        metrics: NotifyMetrics,
        pacing: Pacing,
    ) -> Lane {
        let (tx, mut rx) = mpsc::channel::<Outgoing>(CHANNEL_QUEUE);
        let sender = Arc::clone(&channel);
        tokio::spawn(async move {
            let mut limiter = Limiter::new(pacing.limit);
            while let Some(Outgoing {
                message,
                remembered,
            }) = rx.recv().await
            {
                limiter.acquire().await;
                let delivered = deliver(&sender, &message, pacing.retry).await;
                limiter.answered();
                match delivered {
                    Ok(()) => {
                        metrics.count(&sender.label, "sent");
                        info!(channel = %sender.label, event = message.event, connector = message.connector.as_deref().unwrap_or(""), "Notification sent.");
                    }
                    Err(e) => {
                        metrics.count(&sender.label, "failed");
                        warn!(channel = %sender.label, event = message.event, connector = message.connector.as_deref().unwrap_or(""), reason = e.label(), error = %e, "Cannot deliver a notification; it is given up.");
                        if let Some(key) = remembered {
                            forget_undelivered(Arc::clone(&store), key, &sender.label).await;
                        }
                    }
                }
            }
        });
        Lane { channel, tx }
    }
}

/// Takes an undelivered failure out of the memory (off the runtime: the memory is the state
/// database), so the admin hears of it at its next occurrence.
async fn forget_undelivered(store: Arc<dyn DedupeStore>, key: String, channel: &str) {
    let forgotten = tokio::task::spawn_blocking(move || dedupe::forget(store.as_ref(), &key))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    if let Err(e) = forgotten {
        warn!(channel, error = %e, "Cannot take an undelivered notification out of the memory; its failure stays quiet until remind_after.");
    }
}

async fn dispatch(
    mut rx: mpsc::Receiver<Notice>,
    routes: watch::Receiver<Arc<Routes>>,
    store: Arc<dyn DedupeStore>,
    metrics: NotifyMetrics,
    pacing: Pacing,
) {
    let mut lanes: HashMap<String, Lane> = HashMap::new();
    while let Some(notice) = rx.recv().await {
        let current = Arc::clone(&routes.borrow());
        // Channels gone or rebuilt by a reload: their lanes finish their queues and end.
        lanes.retain(|label, lane| {
            current
                .routes
                .iter()
                .any(|r| &r.channel.label == label && Arc::ptr_eq(&r.channel, &lane.channel))
        });
        for route in &current.routes {
            if !route.config.covers(&notice.connector) {
                continue;
            }
            let messages = {
                let (store, route_c, notice_c, console, counts) = (
                    Arc::clone(&store),
                    route.clone(),
                    notice.clone(),
                    current.console.clone(),
                    metrics.clone(),
                );
                // The memory is the state database: its reads and writes stay off the runtime.
                tokio::task::spawn_blocking(move || {
                    decide(
                        store.as_ref(),
                        &route_c,
                        &notice_c,
                        console.as_ref(),
                        &counts,
                    )
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            };
            let messages = match messages {
                Ok(messages) => messages,
                Err(e) => {
                    warn!(channel = %route.channel.label, error = %e, "Cannot read or keep the notifications' memory; the notice is sent as new.");
                    fallback(route, &notice, current.console.as_ref())
                }
            };
            if messages.is_empty() {
                continue;
            }
            let lane = lanes.entry(route.channel.label.clone()).or_insert_with(|| {
                Lane::start(
                    Arc::clone(&route.channel),
                    Arc::clone(&store),
                    metrics.clone(),
                    pacing,
                )
            });
            for outgoing in messages {
                let remembered = outgoing.remembered.clone();
                if lane.tx.try_send(outgoing).is_err() {
                    if let Some(key) = remembered {
                        forget_undelivered(Arc::clone(&store), key, &route.channel.label).await;
                    }
                    metrics.count(&route.channel.label, "dropped");
                    warn!(channel = %route.channel.label, "The channel's queue is full; a notification is dropped.");
                }
            }
        }
    }
}

/// The messages `notice` means on `route`, with the memory's verdict (and the memory updated).
fn decide(
    store: &dyn DedupeStore,
    route: &Route,
    notice: &Notice,
    console: Option<&url::Url>,
    metrics: &NotifyMetrics,
) -> Result<Vec<Outgoing>, String> {
    let label = &route.channel.label;
    let wants = |event| route.config.on.contains(&event);
    match &notice.kind {
        NoticeKind::Succeeded { mode, counts } => {
            let mut messages = Vec::new();
            if dedupe::on_success(store, label, &notice.connector)? && wants(NotifyEvent::Recovered)
            {
                messages.push(Outgoing::news(Message::of(
                    notice,
                    NotifyEvent::Recovered,
                    None,
                    console,
                )));
            }
            if wants(NotifyEvent::Applied)
                && *mode == crate::engine::RunMode::Apply
                && counts.values().sum::<usize>() > 0
            {
                messages.push(Outgoing::news(Message::of(
                    notice,
                    NotifyEvent::Applied,
                    None,
                    console,
                )));
            }
            Ok(messages)
        }
        kind => {
            let Some(event) = kind.event().filter(|e| wants(*e)) else {
                return Ok(Vec::new());
            };
            if let NoticeKind::Throttled { seconds, .. } = kind
                && Duration::from_secs(*seconds) < route.config.throttled_long_after.0
            {
                return Ok(Vec::new());
            }
            match dedupe::on_failure(store, label, notice, event, route.config.remind_after.0)? {
                Decision::Send(reminder) => Ok(vec![Outgoing {
                    message: Message::of(notice, event, reminder, console),
                    remembered: Some(dedupe::failure_key(label, notice, event)),
                }]),
                Decision::Quiet => {
                    metrics.count(label, "suppressed");
                    Ok(Vec::new())
                }
            }
        }
    }
}

/// Without the memory: failures are sent as new, successes send nothing (no failure is known).
fn fallback(route: &Route, notice: &Notice, console: Option<&url::Url>) -> Vec<Outgoing> {
    match notice.kind.event() {
        Some(event) if route.config.on.contains(&event) => {
            vec![Outgoing::news(Message::of(notice, event, None, console))]
        }
        _ => Vec::new(),
    }
}
