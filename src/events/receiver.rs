//! The HTTP receiver of upstream events: `GET|POST /events/{connector}` on `[daemon.events]`
//! `listen`. Each request goes to its connector's [`Opener`]; an event is answered 200 only
//! after the [`EventSink`] stored it, so the platform retries anything not yet safe.
//!
//! Answers: a handshake or a stored (or duplicate) event 200 with the opener's reply; a refused
//! request 403 (400 when malformed) with the refusal's label and nothing else; an unknown
//! connector or one without HTTP events 404; a body over 1 MiB 413; an event the state cannot
//! store 503.

use super::openers::opener_for;
use super::{EventSink, Incoming, IncomingMethod, Opened, Opener, Refusal, Reply, SinkError};
use crate::config::Config;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The largest body read: the platforms' events are a few kilobytes.
pub const MAX_BODY: usize = 1 << 20;

/// One connector's receiving end.
pub struct Endpoint {
    pub opener: Arc<dyn Opener>,
    /// Requests signed further from now than this are refused as stale.
    pub max_age: Duration,
}

/// The connectors that receive HTTP events, by name.
#[derive(Default)]
pub struct Endpoints(BTreeMap<String, Endpoint>);

impl Endpoints {
    /// Builds the opener of every connector of `config` with HTTP events (at start and on
    /// reload, before the new configuration takes effect). The error names the connector.
    pub fn build(config: &Config) -> Result<Self, String> {
        let mut endpoints = Endpoints::default();
        for (name, connector) in &config.connectors {
            let (Some(opener), Some(events)) = (
                opener_for(connector).map_err(|e| format!("connector {name}: events: {e}"))?,
                &connector.events,
            ) else {
                continue;
            };
            endpoints.insert(name, Arc::from(opener), events.max_age.0);
        }
        Ok(endpoints)
    }

    pub fn insert(&mut self, connector: &str, opener: Arc<dyn Opener>, max_age: Duration) {
        self.0
            .insert(connector.to_owned(), Endpoint { opener, max_age });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The receiver's state: the endpoints (replaced on reload) and where events go.
pub struct Receiver {
    endpoints: RwLock<Arc<Endpoints>>,
    sink: Arc<dyn EventSink>,
}

impl Receiver {
    pub fn new(endpoints: Endpoints, sink: Arc<dyn EventSink>) -> Arc<Self> {
        Arc::new(Receiver {
            endpoints: RwLock::new(Arc::new(endpoints)),
            sink,
        })
    }

    /// Replaces the endpoints (a reload): requests already in hand finish with the old ones.
    pub fn install(&self, endpoints: Endpoints) {
        *self.endpoints.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(endpoints);
    }

    fn endpoints(&self) -> Arc<Endpoints> {
        Arc::clone(&self.endpoints.read().unwrap_or_else(|p| p.into_inner()))
    }
}

pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/events/{connector}", get(receive).post(receive))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(receiver)
}

/// Refuses a request signed more than `max_age` before or after `now`.
pub fn check_age(sent_at: Timestamp, now: Timestamp, max_age: Duration) -> Result<(), Refusal> {
    let apart = now.duration_since(sent_at).unsigned_abs();
    if apart > max_age {
        return Err(Refusal::Stale);
    }
    Ok(())
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(connector): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoints = receiver.endpoints();
    let Some(endpoint) = endpoints.0.get(&connector) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response();
    };
    let query = query_pairs(uri.query().unwrap_or_default());
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.into())))
        .collect();
    let incoming = Incoming {
        method: if method == Method::GET {
            IncomingMethod::Get
        } else {
            IncomingMethod::Post
        },
        query: &query,
        headers: &headers,
        body: &body,
    };
    let now = Timestamp::now();
    let (accepted, reply) = match endpoint.opener.open(&incoming, now) {
        Ok(Opened::Handshake { reply }) => return ok(reply),
        Ok(Opened::Event { accepted, reply }) => (accepted, reply),
        Err(refusal) => return refused(receiver.sink.as_ref(), &connector, &refusal),
    };
    if let Err(refusal) = check_age(accepted.sent_at, now, endpoint.max_age) {
        return refused(receiver.sink.as_ref(), &connector, &refusal);
    }
    // Storing is a write and an fsync: off the threads that serve requests.
    let sink = Arc::clone(&receiver.sink);
    let name = connector.clone();
    let stored = tokio::task::spawn_blocking(move || sink.accept(&name, accepted)).await;
    match stored {
        Ok(Ok(_stored_or_duplicate)) => ok(reply),
        // The sink counted its own refusal.
        Ok(Err(SinkError::Refused(refusal))) => refusal_answer(&refusal),
        Ok(Err(SinkError::Storage(_))) | Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "not stored").into_response()
        }
    }
}

fn ok(reply: Reply) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}

fn refused(sink: &dyn EventSink, connector: &str, refusal: &Refusal) -> Response {
    sink.refused(connector, refusal);
    refusal_answer(refusal)
}

fn refusal_answer(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    (status, refusal.label()).into_response()
}

/// The query's parameters, percent-decoded; `+` stays `+` (the platforms' signatures and
/// base64 values are not form-encoded). The last of repeated keys wins.
fn query_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes.get(i) == Some(&b'%'))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.extend(bytes.get(i));
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "receiver_tests.rs"]
mod tests;
