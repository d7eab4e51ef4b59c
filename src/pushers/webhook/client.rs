//! Signed delivery over HTTP: HMAC-SHA256 signatures, retries with backoff on 5xx, 429 and
//! timeouts, success only on 2xx, and no more deliveries in a run once several in a row ran
//! out of retries.

use super::config::WebhookTargetConfig;
use crate::config::{RetryConfig, Secret};
use crate::http_client::{self, Redirects};
use crate::pushers::PushError;
use backon::Retryable;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{StatusCode, header};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tracing::warn;

pub const TIMESTAMP_HEADER: &str = "X-Orgsync-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Orgsync-Signature";
pub const DELIVERY_HEADER: &str = "X-Orgsync-Delivery";
pub const EVENT_HEADER: &str = "X-Orgsync-Event";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Receivers' error bodies are quoted in step errors up to this many characters.
const QUOTED_BODY: usize = 200;

/// Deliveries in a row that may run out of retries before the rest of the run is not sent: a
/// receiver that is down would otherwise cost every step its whole backoff (hours for a big
/// plan). The next run (`reset`) tries again.
const GIVE_UP_AFTER: usize = 3;

pub(super) struct Deliverer {
    http: reqwest::Client,
    url: url::Url,
    secret: Secret,
    retry: RetryConfig,
    /// Deliveries that ran out of retries since the last acknowledgement or `reset`.
    exhausted_in_a_row: AtomicUsize,
}

impl Deliverer {
    pub(super) fn new(config: &WebhookTargetConfig, secret: Secret) -> Result<Self, PushError> {
        let http = http_client::build(config.timeout.0, Redirects::Refuse)
            .map_err(|detail| PushError::Setup { detail })?;
        Ok(Deliverer {
            http,
            url: config.url.clone(),
            secret,
            retry: config.retry.clone(),
            exhausted_in_a_row: AtomicUsize::new(0),
        })
    }

    /// A new run: deliveries are tried again even if the last run gave up on the receiver.
    pub(super) fn reset(&self) {
        self.exhausted_in_a_row.store(0, Ordering::Relaxed);
    }

    /// Delivers one event until a 2xx, a final answer, or the retries run out. Every attempt is
    /// signed afresh (a new timestamp), with the same body and delivery id.
    pub(super) async fn deliver(
        &self,
        delivery: &str,
        kind: &str,
        body: &[u8],
    ) -> Result<(), PushError> {
        let given_up = self.exhausted_in_a_row.load(Ordering::Relaxed);
        if given_up >= GIVE_UP_AFTER {
            return Err(PushError::Transport {
                detail: format!(
                    "not sent: the receiver failed the last {given_up} deliveries after all their \
                     retries, so this run sends no more; the next run tries again"
                ),
                retryable: false,
            });
        }
        let max_attempts = self.retry.pusher_attempts();
        let attempt = || self.send(delivery, kind, body);
        let result = attempt
            .retry(self.retry.backoff())
            .when(PushError::is_retryable)
            .adjust(|error: &PushError, delay| delay.map(|d| error.retry_after().unwrap_or(d)))
            .notify(|error: &PushError, delay: Duration| {
                warn!(delivery, event = kind, error = %error.for_log(), delay_ms = delay.as_millis() as u64, "The webhook delivery failed; retrying.");
            })
            .await;
        match result {
            Ok(()) => {
                self.exhausted_in_a_row.store(0, Ordering::Relaxed);
                Ok(())
            }
            Err(last) if last.is_retryable() => {
                self.exhausted_in_a_row.fetch_add(1, Ordering::Relaxed);
                Err(PushError::Exhausted {
                    attempts: max_attempts,
                    last: Box::new(last),
                })
            }
            Err(last) => Err(last),
        }
    }

    async fn send(&self, delivery: &str, kind: &str, body: &[u8]) -> Result<(), PushError> {
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        let signature = sign(self.secret.expose(), &timestamp, body)?;
        let response = self
            .http
            .post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, kind)
            .header(DELIVERY_HEADER, delivery)
            .header(IDEMPOTENCY_HEADER, delivery)
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, format!("v1={signature}"))
            .body(body.to_vec())
            .send()
            .await
            .map_err(PushError::transport)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // Reading the body is bounded by the same timeout: a receiver that sends its status and
        // then stalls fails (and is retried) like one that never answers. And by size, like every
        // other answer: a receiver streaming without end must not fill the memory first.
        let body = crate::pushers::error::read_capped(response).await?;
        let quoted = String::from_utf8_lossy(&body);
        if status.is_success() {
            return acknowledgement(status, &quoted);
        }
        Err(PushError::Status {
            status: status.as_u16(),
            scim_type: None,
            detail: describe(status, &quoted),
            retry_after,
        })
    }
}

/// The contract: a receiver acknowledges with 2xx and an empty or JSON body, once it has stored
/// the event. A 2xx with anything else (an HTML page from a proxy or a login wall in front of the
/// receiver, a truncated answer) does not show the receiver took the event, so the step fails and
/// the next run sends it again with the same delivery id. It is not retried within the run: an
/// answer like that does not change from one second to the next.
fn acknowledgement(status: StatusCode, body: &str) -> Result<(), PushError> {
    if body.trim().is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
        return Ok(());
    }
    Err(PushError::Malformed {
        detail: format!(
            "{} is not an acknowledgement: a receiver answers 2xx with an empty or JSON body \
             once it has stored the event",
            describe(status, body)
        ),
    })
}

/// `hex(HMAC-SHA256(secret, timestamp + "." + body))`.
pub(crate) fn sign(secret: &str, timestamp: &str, body: &[u8]) -> Result<String, PushError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| PushError::Setup {
            detail: format!("cannot key the signature: {e}"),
        })?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(crate::hex::encode(&mac.finalize().into_bytes()))
}

/// The status and the start of the receiver's body, control characters removed.
fn describe(status: StatusCode, body: &str) -> String {
    let reason = status.canonical_reason().unwrap_or("no reason given");
    let quoted: String = body
        .chars()
        .filter(|c| !c.is_control())
        .take(QUOTED_BODY)
        .collect();
    if quoted.trim().is_empty() {
        format!("the receiver answered {reason}")
    } else {
        format!("the receiver answered {reason}: {}", quoted.trim())
    }
}

fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test'
        assert_eq!(
            sign("whsec_test", "1700000000", br#"{"a":1}"#).unwrap(),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn only_empty_or_json_bodies_acknowledge() {
        for body in ["", "  \n", "{}", "{\"stored\":true}", "\"ok\"", "[]"] {
            assert!(acknowledgement(StatusCode::OK, body).is_ok(), "{body:?}");
        }
        for body in ["<html>login</html>", "ok", "{\"stored\":"] {
            let error = acknowledgement(StatusCode::OK, body).unwrap_err();
            assert!(!error.is_retryable());
            assert!(
                error.to_string().contains("is not an acknowledgement"),
                "{error}"
            );
        }
    }

    #[test]
    fn error_bodies_are_quoted_short_and_clean() {
        let long = format!("bad\nrequest {}", "x".repeat(500));
        let text = describe(StatusCode::BAD_REQUEST, &long);
        assert!(text.starts_with("the receiver answered Bad Request: badrequest"));
        assert!(text.len() < 260);
        assert_eq!(
            describe(StatusCode::GONE, "  "),
            "the receiver answered Gone"
        );
    }
}
