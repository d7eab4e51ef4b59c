//! A Feishu/Lark group's custom bot: an interactive card with one markdown element, signed in
//! the body: `timestamp` (seconds) and `sign` = base64(HMAC-SHA256 keyed by
//! `timestamp + "\n" + secret` over an empty message). Errors come as `code` in the answer.

use super::{SendError, coded_answer, post};
use crate::config::Secret;
use crate::notify::Message;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

/// "frequency limited": over 100 a minute or 5 a second for one bot.
const FREQUENCY_LIMITED: i64 = 11232;

pub(super) struct Bot {
    url: url::Url,
    secret: Secret,
}

#[derive(Serialize)]
struct Body<'a> {
    timestamp: String,
    sign: String,
    msg_type: &'static str,
    card: Card<'a>,
}

#[derive(Serialize)]
struct Card<'a> {
    header: Header<'a>,
    elements: Vec<Element>,
}

#[derive(Serialize)]
struct Header<'a> {
    title: Text<'a>,
}

#[derive(Serialize)]
struct Text<'a> {
    tag: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Element {
    tag: &'static str,
    content: String,
}

impl Bot {
    pub(super) fn new(url: url::Url, secret: Secret) -> Self {
        Bot { url, secret }
    }

    pub(super) async fn send(
        &self,
        http: &reqwest::Client,
        message: &Message,
    ) -> Result<(), SendError> {
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        let mut content = message.lines.join("\n");
        if let Some(link) = &message.link {
            content.push_str(&format!("\n[Open in the orgsync console]({link})"));
        }
        let body = serde_json::to_vec(&Body {
            sign: sign(self.secret.expose(), &timestamp),
            timestamp,
            msg_type: "interactive",
            card: Card {
                header: Header {
                    title: Text {
                        tag: "plain_text",
                        content: &message.title,
                    },
                },
                elements: vec![Element {
                    tag: "markdown",
                    content,
                }],
            },
        })
        .map_err(|e| SendError::Malformed {
            detail: e.to_string(),
        })?;
        let (_, answer) = post(http, self.url.clone(), body, &[]).await?;
        coded_answer(&answer, "code", "msg", &[FREQUENCY_LIMITED])
    }
}

/// `base64(HMAC-SHA256(key = timestamp + "\n" + secret, ""))`.
pub(super) fn sign(secret: &str, timestamp: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
