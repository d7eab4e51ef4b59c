//! DingTalk's Stream mode: the daemon opens a long connection to DingTalk (no public URL, no
//! callback crypto: the app's credentials open it), receives contact events on it and answers
//! each one. Protocol as DingTalk's official Stream SDKs speak it:
//!
//! 1. `POST {gateway}/v1.0/gateway/connections/open` with the app's clientId/clientSecret and
//!    the subscription `EVENT *` → a WebSocket endpoint and a one-time ticket (`gateway.rs`);
//! 2. a WebSocket to `endpoint?ticket=…`, carrying frames (`frames.rs`): `SYSTEM` `ping`
//!    (answered with its data), `SYSTEM` `disconnect` (the gateway is moving us: reconnect at
//!    once with a fresh ticket), `EVENT` (headers `eventType`, `eventId`, `eventBornTime`,
//!    `messageId`; `data` the same JSON payload an HTTP event decrypts to);
//! 3. every event answered by an ACK carrying its `messageId`: `SUCCESS` only once the sink
//!    stored it, `LATER` when the sink could not, so the platform delivers it again.
//!
//! A dropped or silent connection is reopened with a fresh ticket after a backoff (1 s doubling
//! to 60 s, back to 1 s once a connection has carried a frame).

mod frames;
mod gateway;

use super::dingtalk_payload;
use super::{Accepted, EventSink, Refusal, SinkError};
use crate::config::{PlainHttp, Secret};
use crate::pullers::dingtalk::DingtalkSourceConfig;
use frames::{Ack, EventOutcome, Frame};
use futures_util::{SinkExt, StreamExt};
use gateway::OpenError;
use jiff::Timestamp;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A WebSocket ping this often, so a dead connection shows itself.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// A connection that carried nothing (not even a pong) this long is dead: reopened.
const SILENCE: Duration = Duration::from_secs(90);
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame read; DingTalk's events are a few hundred bytes.
const MAX_FRAME: usize = 1 << 20;

/// One connector's Stream connection to DingTalk.
pub struct StreamClient {
    connector: String,
    client_id: String,
    client_secret: Secret,
    gateway: Url,
    plain: PlainHttp,
    http: reqwest::Client,
}

impl std::fmt::Debug for StreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamClient")
            .field("connector", &self.connector)
            .field("client_id", &self.client_id)
            .field("gateway", &self.gateway.as_str())
            .finish_non_exhaustive()
    }
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// The gateway asked us to go (`SYSTEM disconnect`): reconnect at once.
    Disconnect,
    /// The connection closed, failed or fell silent.
    Lost(String),
}

impl StreamClient {
    /// Resolves the app's secret and the gateway's address from the connector's source.
    pub fn new(connector: String, source: &DingtalkSourceConfig) -> Result<Self, String> {
        let client_secret = source.app_secret.resolve().map_err(|e| e.to_string())?;
        let gateway = gateway::gateway_url(&source.api_base)?;
        crate::config::transport::check("api_base", &gateway, source.allow_plain_http)?;
        let http = crate::pullers::http::client(GATEWAY_TIMEOUT).map_err(|e| e.to_string())?;
        Ok(StreamClient {
            connector,
            client_id: source.app_key.clone(),
            client_secret,
            gateway,
            plain: source.allow_plain_http,
            http,
        })
    }

    /// Keeps a connection open until `shutdown`, handing every event to `sink` and answering
    /// it by the sink's word. Never returns before `shutdown`; failures are logged and retried.
    pub async fn run(self, sink: Arc<dyn EventSink>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = BACKOFF_FIRST;
        loop {
            let mut carried = false;
            let ended = tokio::select! {
                () = &mut shutdown => break,
                ended = self.connection(&sink, &mut carried) => ended,
            };
            if carried {
                backoff = BACKOFF_FIRST;
            }
            let wait = match ended {
                Ended::Disconnect => {
                    tracing::info!(
                        connector = %self.connector,
                        "The DingTalk Stream gateway asked to reconnect; opening a new connection."
                    );
                    Duration::ZERO
                }
                Ended::Lost(reason) => {
                    tracing::warn!(
                        connector = %self.connector,
                        %reason,
                        retry_in = ?backoff,
                        "The DingTalk Stream connection was lost; reconnecting."
                    );
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    wait
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(connector = %self.connector, "The DingTalk Stream connection is closed.");
    }

    /// One connection, from the gateway's ticket to its end. `carried` turns true at its first
    /// frame.
    async fn connection(&self, sink: &Arc<dyn EventSink>, carried: &mut bool) -> Ended {
        let endpoint = match gateway::open(
            &self.http,
            &self.gateway,
            &self.client_id,
            &self.client_secret,
            self.plain,
        )
        .await
        {
            Ok(endpoint) => endpoint,
            Err(error) => return Ended::Lost(error.to_string()),
        };
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let connected = tokio::time::timeout(
            GATEWAY_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(endpoint.as_str(), Some(config), false),
        )
        .await;
        let mut socket = match connected {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(error)) => return Ended::Lost(OpenError::Socket(error.to_string()).to_string()),
            Err(_) => return Ended::Lost("the WebSocket handshake timed out".into()),
        };
        tracing::info!(connector = %self.connector, "The DingTalk Stream connection is open.");
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        let mut heard = Instant::now();
        loop {
            let message = tokio::select! {
                message = socket.next() => message,
                _ = keepalive.tick() => {
                    if heard.elapsed() > SILENCE {
                        return Ended::Lost("nothing heard from the gateway for 90 s".into());
                    }
                    if let Err(error) = socket.send(Message::Ping(Vec::new().into())).await {
                        return Ended::Lost(error.to_string());
                    }
                    continue;
                }
            };
            let message = match message {
                None => return Ended::Lost("the gateway closed the connection".into()),
                Some(Err(error)) => return Ended::Lost(error.to_string()),
                Some(Ok(message)) => message,
            };
            heard = Instant::now();
            *carried = true;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => {
                    return Ended::Lost("the gateway closed the connection".into());
                }
                // Pings are answered by tungstenite; pongs and binary frames only prove life.
                _ => continue,
            };
            let frame: Frame = match serde_json::from_str(text.as_str()) {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::warn!(connector = %self.connector, %error, "A DingTalk Stream message is not a frame; skipped.");
                    continue;
                }
            };
            let reply = match frame.kind.as_str() {
                frames::SYSTEM => match frame.header("topic").as_deref() {
                    Some("ping") => {
                        Ack::pong(frame.header("messageId").unwrap_or_default(), frame.data)
                    }
                    Some("disconnect") => {
                        let _ = socket.close(None).await;
                        return Ended::Disconnect;
                    }
                    other => {
                        tracing::debug!(connector = %self.connector, topic = ?other, "A DingTalk Stream system message was skipped.");
                        continue;
                    }
                },
                frames::EVENT => {
                    let message_id = frame.header("messageId").unwrap_or_default();
                    let outcome = self.event(sink, &frame).await;
                    Ack::event(message_id, outcome)
                }
                frames::CALLBACK => {
                    Ack::not_implemented(frame.header("messageId").unwrap_or_default())
                }
                other => {
                    tracing::debug!(connector = %self.connector, kind = other, "A DingTalk Stream message of an unknown type was skipped.");
                    continue;
                }
            };
            if let Err(error) = socket.send(Message::Text(reply.to_text().into())).await {
                return Ended::Lost(error.to_string());
            }
        }
    }

    /// Reads one event and hands it to the sink; the outcome is the acknowledgement's.
    async fn event(&self, sink: &Arc<dyn EventSink>, frame: &Frame) -> EventOutcome {
        let accepted = match read_event(frame, Timestamp::now()) {
            Ok(accepted) => accepted,
            Err(refusal) => {
                tracing::warn!(connector = %self.connector, refusal = refusal.label(), %refusal, "A DingTalk Stream event was refused.");
                sink.refused(&self.connector, &refusal);
                return EventOutcome::Refused;
            }
        };
        let (event_type, event_id) = (accepted.event.event_type.clone(), accepted.dedupe.clone());
        // Storing is durable (a flush to disk): off the runtime's threads.
        let stored = {
            let sink = sink.clone();
            let connector = self.connector.clone();
            tokio::task::spawn_blocking(move || sink.accept(&connector, accepted)).await
        };
        match stored {
            Ok(Ok(acceptance)) => {
                tracing::debug!(connector = %self.connector, %event_type, %event_id, ?acceptance, "A DingTalk Stream event was accepted.");
                EventOutcome::Success
            }
            Ok(Err(SinkError::Refused(refusal))) => {
                tracing::warn!(connector = %self.connector, %event_type, %event_id, refusal = refusal.label(), "A DingTalk Stream event was refused.");
                EventOutcome::Refused
            }
            Ok(Err(SinkError::Storage(error))) => {
                tracing::warn!(connector = %self.connector, %event_type, %event_id, %error, "A DingTalk Stream event could not be stored; DingTalk will deliver it again.");
                EventOutcome::Later
            }
            Err(error) => {
                tracing::warn!(connector = %self.connector, %event_type, %event_id, %error, "A DingTalk Stream event could not be stored; DingTalk will deliver it again.");
                EventOutcome::Later
            }
        }
    }
}

/// An `EVENT` frame read into an accepted event: de-duplicated by `eventId`, sent at
/// `eventBornTime`.
fn read_event(frame: &Frame, now: Timestamp) -> Result<Accepted, Refusal> {
    let dedupe = frame
        .header("eventId")
        .ok_or_else(|| Refusal::Malformed("the event has no eventId".into()))?;
    let born = frame
        .header("eventBornTime")
        .ok_or_else(|| Refusal::Malformed("the event has no eventBornTime".into()))?;
    let sent_at = dingtalk_payload::millis(&serde_json::Value::String(born))
        .ok_or_else(|| Refusal::Malformed("eventBornTime is not a time in milliseconds".into()))?;
    let event_type = frame.header("eventType");
    let event = dingtalk_payload::read(frame.data.as_bytes(), event_type.as_deref())?;
    Ok(Accepted {
        dedupe,
        sent_at,
        event: event.into_stored(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Notice;

    fn frame(headers: &str, data: &str) -> Frame {
        let text = serde_json::json!({
            "specVersion": "1.0",
            "type": "EVENT",
            "headers": serde_json::from_str::<serde_json::Value>(headers).unwrap(),
            "data": data,
        });
        serde_json::from_value(text).unwrap()
    }

    #[test]
    fn an_event_frame_is_deduplicated_by_event_id_and_sent_at_its_birth() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let accepted = read_event(
            &frame(
                r#"{"eventId":"ev-1","eventBornTime":"1717000000123","eventType":"user_add_org","messageId":"m"}"#,
                r#"{"UserId":["u1"],"TimeStamp":"1717000000000"}"#,
            ),
            now,
        )
        .unwrap();
        assert_eq!(accepted.dedupe, "ev-1");
        assert_eq!(accepted.sent_at.as_millisecond(), 1_717_000_000_123);
        assert_eq!(accepted.event.event_type, "user_add_org");
        assert_eq!(accepted.event.received_at, now);
        assert!(
            matches!(&accepted.event.notices[..], [Notice::People { keys }] if keys.len() == 1)
        );
    }

    #[test]
    fn an_event_without_its_id_or_birth_is_malformed() {
        let now = Timestamp::now();
        for headers in [
            r#"{"eventBornTime":"1","eventType":"user_add_org"}"#,
            r#"{"eventId":"e","eventType":"user_add_org"}"#,
            r#"{"eventId":"e","eventBornTime":"yesterday","eventType":"user_add_org"}"#,
        ] {
            let refused = read_event(&frame(headers, r#"{"UserId":["u"]}"#), now).unwrap_err();
            assert_eq!(refused.label(), "malformed", "{headers}");
        }
    }
}

#[cfg(test)]
pub(crate) mod stream_tests;
