//! The Stream protocol's messages on the WebSocket, as DingTalk's official Stream SDKs read and
//! answer them: a frame `{specVersion, type, headers, data}` (`data` a JSON string), answered by
//! an acknowledgement `{code, headers: {contentType, messageId}, message, data}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One message from the gateway.
#[derive(Debug, Deserialize)]
pub(super) struct Frame {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    headers: BTreeMap<String, Value>,
    #[serde(default)]
    pub data: String,
}

impl Frame {
    /// A header as text (the gateway sends strings; a number is read as its digits).
    pub fn header(&self, name: &str) -> Option<String> {
        match self.headers.get(name)? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
}

/// `type` of the gateway's own messages (`topic`: `ping`, `disconnect`).
pub(super) const SYSTEM: &str = "SYSTEM";
/// `type` of subscribed events.
pub(super) const EVENT: &str = "EVENT";
/// `type` of callbacks (robots, cards): not subscribed, answered "not implemented".
pub(super) const CALLBACK: &str = "CALLBACK";

#[derive(Debug, Serialize)]
pub(super) struct Ack {
    code: u16,
    headers: AckHeaders,
    message: String,
    data: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AckHeaders {
    content_type: &'static str,
    message_id: String,
}

/// What an event's acknowledgement tells the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EventOutcome {
    /// Persisted (or a duplicate of one that was): never deliver it again.
    Success,
    /// Not stored: deliver it again later.
    Later,
    /// Refused (malformed or stale): a redelivery would be refused the same way.
    Refused,
}

impl Ack {
    /// The answer to a `ping`: its data echoed.
    pub fn pong(message_id: String, data: String) -> Ack {
        Ack {
            code: 200,
            headers: AckHeaders::json(message_id),
            message: "OK".into(),
            data,
        }
    }

    /// The answer to an event: `SUCCESS` (code 200) or `LATER` (code 500), the two statuses of
    /// the SDKs' event results.
    pub fn event(message_id: String, outcome: EventOutcome) -> Ack {
        let (code, status, message) = match outcome {
            EventOutcome::Success => (200, "SUCCESS", "success"),
            EventOutcome::Refused => (200, "SUCCESS", "refused"),
            EventOutcome::Later => (500, "LATER", "later"),
        };
        Ack {
            code,
            headers: AckHeaders::json(message_id),
            message: message.into(),
            data: serde_json::json!({ "status": status, "message": message }).to_string(),
        }
    }

    /// The answer to a callback orgsync did not subscribe to.
    pub fn not_implemented(message_id: String) -> Ack {
        Ack {
            code: 404,
            headers: AckHeaders::json(message_id),
            message: "not implemented".into(),
            data: String::new(),
        }
    }

    pub fn to_text(&self) -> String {
        // A struct of strings and a number always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl AckHeaders {
    fn json(message_id: String) -> Self {
        AckHeaders {
            content_type: "application/json",
            message_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_headers_as_text_and_acks_name_the_message() {
        let frame: Frame = serde_json::from_str(
            r#"{"specVersion":"1.0","type":"EVENT","headers":{"messageId":"m1","eventBornTime":1717000000000},"data":"{}"}"#,
        )
        .unwrap();
        assert_eq!(frame.kind, EVENT);
        assert_eq!(frame.header("messageId").as_deref(), Some("m1"));
        assert_eq!(
            frame.header("eventBornTime").as_deref(),
            Some("1717000000000")
        );
        assert_eq!(frame.header("eventId"), None);

        let ack: Value =
            serde_json::from_str(&Ack::event("m1".into(), EventOutcome::Later).to_text()).unwrap();
        assert_eq!(ack["code"], 500);
        assert_eq!(ack["headers"]["messageId"], "m1");
        let data: Value = serde_json::from_str(ack["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["status"], "LATER");
        let ok: Value =
            serde_json::from_str(&Ack::event("m2".into(), EventOutcome::Success).to_text())
                .unwrap();
        assert_eq!(ok["code"], 200);
        assert!(ok["data"].as_str().unwrap().contains("SUCCESS"));
    }
}
