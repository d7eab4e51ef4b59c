//! The daemon's side of upstream change events: the [`EventSink`] the receiver and DingTalk's
//! Stream client hand accepted events to (stored in the state before they are answered, counted,
//! the connector's worker woken), and one worker per connector with events (worker.rs), which
//! turns them into runs.

mod worker;

use super::state::Shared;
use crate::config::{Config, ConnectorConfig, Delivery, EventsConfig, SourceConfig};
use crate::events::dingtalk_stream::StreamClient;
use crate::events::receiver::check_age;
use crate::events::{Accepted, EventSink, Refusal, SinkError};
use crate::state::Acceptance;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

/// At most one WARN per refusal reason per connector in this long: a flood of forged requests
/// must not flood the journal (the counter says how many).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Where accepted events go, and the workers that act on them.
pub struct EventHub {
    shared: Arc<Shared>,
    inner: Mutex<HubInner>,
}

#[derive(Default)]
struct HubInner {
    workers: BTreeMap<String, WorkerHandle>,
    /// When each (connector, reason) was last warned about.
    warned: HashMap<(String, &'static str), Instant>,
}

/// One connector's worker, as the hub knows it.
struct WorkerHandle {
    /// What it was started with: a reload restarts it when these change.
    settings: ConnectorConfig,
    events: EventsConfig,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
}

impl EventHub {
    pub fn new(shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(EventHub {
            shared,
            inner: Mutex::new(HubInner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a worker for every connector of `config` with events, and stops those of
    /// connectors that no longer have them (at start and after a reload). A connector whose
    /// settings changed gets a new worker: the events it left in the state are its first work.
    pub fn reconcile(self: &Arc<Self>, config: &Config) {
        let mut inner = self.lock();
        inner.workers.retain(|name, worker| {
            let keep = config
                .connectors
                .get(name)
                .is_some_and(|c| *c == worker.settings);
            if !keep {
                worker.stop.send_replace(true);
                info!(connector = name, "Event worker stopped.");
            }
            keep
        });
        for (name, connector) in &config.connectors {
            let Some(events) = &connector.events else {
                continue;
            };
            if inner.workers.contains_key(name) {
                continue;
            }
            let wake = Arc::new(Notify::new());
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(worker::run(
                Arc::clone(&self.shared),
                name.clone(),
                events.clone(),
                Arc::clone(&wake),
                stopped.clone(),
            ));
            if events.delivery == Delivery::Stream {
                self.start_stream(name, connector, stopped);
            }
            info!(
                connector = name,
                delivery = ?events.delivery,
                window_ms = events.window.0.as_millis() as u64,
                "Event worker started."
            );
            inner.workers.insert(
                name.clone(),
                WorkerHandle {
                    settings: connector.clone(),
                    events: events.clone(),
                    wake,
                    stop,
                },
            );
        }
    }

    /// DingTalk's Stream connection: events over a long connection the daemon opens. It stops
    /// with the connector's worker (shutdown, or a reload that changed the connector).
    fn start_stream(
        self: &Arc<Self>,
        name: &str,
        connector: &ConnectorConfig,
        mut stopped: watch::Receiver<bool>,
    ) {
        let SourceConfig::Dingtalk(source) = &connector.source else {
            return; // the configuration allows Stream delivery for DingTalk only
        };
        let client = match StreamClient::new(name.to_owned(), source) {
            Ok(client) => client,
            Err(e) => {
                error!(
                    connector = name,
                    error = %e,
                    "Cannot open DingTalk's Stream connection; the connector's changes wait for its scheduled runs."
                );
                return;
            }
        };
        let sink = Arc::clone(self) as Arc<dyn EventSink>;
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            client.run(sink, shutdown).await;
        });
    }

    /// Stops every worker (shutdown): the events they had not run stay in the state.
    pub fn stop(&self) {
        let mut inner = self.lock();
        for (_, worker) in std::mem::take(&mut inner.workers) {
            worker.stop.send_replace(true);
        }
    }

    /// `connector`'s events settings and wake-up, if it has a worker.
    fn worker(&self, connector: &str) -> Option<(EventsConfig, Arc<Notify>)> {
        let inner = self.lock();
        let worker = inner.workers.get(connector)?;
        Some((worker.events.clone(), Arc::clone(&worker.wake)))
    }
}

impl EventSink for EventHub {
    /// Stores the event durably (a blocking write: call it off the async threads). A refusal
    /// here (outside the window, or a connector without events) is counted by this call.
    fn accept(&self, connector: &str, accepted: Accepted) -> Result<Acceptance, SinkError> {
        let Some((events, wake)) = self.worker(connector) else {
            self.refused(connector, &Refusal::Foreign);
            return Err(Refusal::Foreign.into());
        };
        if let Err(refusal) = check_age(accepted.sent_at, Timestamp::now(), events.max_age.0) {
            self.refused(connector, &refusal);
            return Err(refusal.into());
        }
        let stored = self
            .shared
            .store()
            .accept_event(connector, &accepted.dedupe, &accepted.event)
            .map_err(|e| {
                error!(
                    connector,
                    error = %e,
                    "Cannot store an accepted event; the platform is answered 503 and sends it again."
                );
                SinkError::Storage(e.to_string())
            })?;
        let metrics = &self.shared.metrics.events;
        match stored {
            Acceptance::Stored(_) => {
                metrics.received(connector);
                wake.notify_one();
            }
            Acceptance::Duplicate => metrics.duplicate(connector),
        }
        Ok(stored)
    }

    fn refused(&self, connector: &str, refusal: &Refusal) {
        let reason = refusal.label();
        self.shared.metrics.events.refused(connector, reason);
        let now = Instant::now();
        let mut inner = self.lock();
        let last = inner.warned.entry((connector.to_owned(), reason));
        let due = match &last {
            std::collections::hash_map::Entry::Occupied(at) => {
                now.duration_since(*at.get()) >= WARN_EVERY
            }
            std::collections::hash_map::Entry::Vacant(_) => true,
        };
        if !due {
            return;
        }
        last.insert_entry(now);
        drop(inner);
        // The refusal's sentence, not a malformed request's details: they may quote the body.
        let why = match refusal {
            Refusal::Malformed(_) => "the request is malformed".to_owned(),
            other => other.to_string(),
        };
        warn!(
            connector,
            reason,
            "An event request was refused and not acted on: {why} (further refusals for this \
             reason within a minute are only counted)."
        );
    }
}

/// Binds `[daemon.events] listen`: any address (the receiver sits behind the reverse proxy that
/// terminates TLS, on this host or another).
pub async fn bind(
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener, super::ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| super::ListenError::Tcp { addr, source })
}
