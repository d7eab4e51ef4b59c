//! A DingTalk group's custom robot: markdown messages, signed with the robot's `SEC…` secret
//! ("加签": HMAC-SHA256 keyed by the secret over `timestamp_ms + "\n" + secret`, base64, then
//! URL-encoded as `&timestamp=…&sign=…`); errors come as `errcode` in a 200 answer.

use super::{SendError, coded_answer, post};
use crate::config::Secret;
use crate::notify::Message;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

/// "send too fast, exceed 20 times per minute".
const TOO_FAST: i64 = 130101;

pub(super) struct Robot {
    url: url::Url,
    secret: Secret,
}

#[derive(Serialize)]
struct Body<'a> {
    msgtype: &'static str,
    markdown: Markdown<'a>,
}

#[derive(Serialize)]
struct Markdown<'a> {
    title: &'a str,
    text: String,
}

impl Robot {
    pub(super) fn new(url: url::Url, secret: Secret) -> Self {
        Robot { url, secret }
    }

    pub(super) async fn send(
        &self,
        http: &reqwest::Client,
        message: &Message,
    ) -> Result<(), SendError> {
        let timestamp = jiff::Timestamp::now().as_millisecond().to_string();
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("timestamp", &timestamp)
            .append_pair("sign", &sign(self.secret.expose(), &timestamp));
        let body = serde_json::to_vec(&Body {
            msgtype: "markdown",
            markdown: Markdown {
                title: &message.title,
                text: message.markdown("####"),
            },
        })
        .map_err(|e| SendError::Malformed {
            detail: e.to_string(),
        })?;
        let (_, answer) = post(http, url, body, &[]).await?;
        coded_answer(&answer, "errcode", "errmsg", &[TOO_FAST])
    }
}

/// `base64(HMAC-SHA256(key = secret, timestamp + "\n" + secret))`, before URL encoding.
pub(super) fn sign(secret: &str, timestamp: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
