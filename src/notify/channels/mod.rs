//! The channels a notification goes to: one file per platform with its wire types, signing and
//! answers; this file builds them from `[[notify]]` (secrets resolved, the URL checked against
//! the kind) and sends over HTTP with the answer read to a bound.

mod dingtalk;
mod feishu;
mod webhook;
mod wecom;

use super::Message;
use crate::config::{ChannelKind, NotifyConfig, SecretError, transport};
use crate::http_client::{self, Redirects};
use reqwest::StatusCode;
use std::time::Duration;
use tracing::instrument;

/// Answers are read up to this size; robots answer a few dozen bytes.
const MAX_ANSWER: usize = 64 * 1024;
/// Characters of an answer quoted in an error.
const QUOTED: usize = 200;

/// A channel that cannot be set up; the config names it.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("notify channel {channel}: {source}")]
    Secret {
        channel: String,
        source: SecretError,
    },
    #[error("notify channel {channel}: {detail}")]
    Url { channel: String, detail: String },
    #[error("notify channel {channel}: cannot set up the HTTP client: {detail}")]
    Client { channel: String, detail: String },
}

/// Why one message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot reach the channel: {detail}")]
    Transport { detail: String },
    #[error("the channel answered HTTP {status}: {detail}")]
    Status {
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The platform's error code in a 200 answer (a wrong signature, an unknown token).
    #[error("the platform refused the message with code {code}: {detail}")]
    Refused { code: i64, detail: String },
    /// The platform's own "too many messages" code.
    #[error("the platform refused the message as too frequent (code {code}): {detail}")]
    RateLimited { code: i64, detail: String },
    #[error("the channel's answer is not the platform's: {detail}")]
    Malformed { detail: String },
}

impl SendError {
    /// Whether another attempt may succeed: transport errors, 5xx, 429, rate limits.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Transport { .. } | SendError::RateLimited { .. } => true,
            SendError::Status { status, .. } => *status >= 500 || *status == 429,
            SendError::Refused { .. } | SendError::Malformed { .. } => false,
        }
    }

    /// The least wait before the next attempt the platform asks for.
    pub fn wait_at_least(&self) -> Option<Duration> {
        match self {
            SendError::Status { retry_after, .. } => *retry_after,
            // The robots count a minute; half of it is the earliest a slot is likely free.
            SendError::RateLimited { .. } => Some(Duration::from_secs(30)),
            _ => None,
        }
    }

    /// The outcome label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SendError::Transport { .. } => "transport",
            SendError::Status { .. } => "status",
            SendError::Refused { .. } => "refused",
            SendError::RateLimited { .. } => "rate_limited",
            SendError::Malformed { .. } => "malformed",
        }
    }
}

/// A ready channel: its name, kind, where it posts and how it signs.
pub struct Channel {
    pub label: String,
    pub kind: ChannelKind,
    target: Target,
    http: reqwest::Client,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and the secret stay out of Debug: the robots' URLs carry their tokens.
        write!(f, "Channel({}, {})", self.label, self.kind.as_str())
    }
}

enum Target {
    Dingtalk(dingtalk::Robot),
    Wecom(wecom::Robot),
    Feishu(feishu::Bot),
    Webhook(webhook::Hook),
}

impl Channel {
    /// Builds `config` (entry `index`): reads its secrets and checks its URL is the kind's.
    pub fn build(config: &NotifyConfig, index: usize) -> Result<Channel, ChannelError> {
        let label = config.label(index);
        let secret = |reference: &Option<crate::config::SecretRef>| {
            reference
                .as_ref()
                .map(|r| {
                    r.resolve().map_err(|source| ChannelError::Secret {
                        channel: label.clone(),
                        source,
                    })
                })
                .transpose()
        };
        let url_error = |detail: String| ChannelError::Url {
            channel: label.clone(),
            detail,
        };
        let signing = secret(&config.secret)?;
        let target = match (config.kind, &config.url) {
            (ChannelKind::Webhook, Some(url)) => {
                let secret = signing.ok_or_else(|| url_error("needs `secret`".into()))?;
                Target::Webhook(webhook::Hook::new(url.clone(), secret))
            }
            (kind, _) => {
                let reference = config
                    .webhook
                    .as_ref()
                    .ok_or_else(|| url_error("needs `webhook`".into()))?;
                let text =
                    secret(&config.webhook)?.ok_or_else(|| url_error("needs `webhook`".into()))?;
                let url = robot_url(kind, text.expose(), config, &reference.to_string())
                    .map_err(url_error)?;
                match kind {
                    ChannelKind::DingtalkRobot => Target::Dingtalk(dingtalk::Robot::new(
                        url,
                        signing.ok_or_else(|| url_error("needs `secret`".into()))?,
                    )),
                    ChannelKind::FeishuBot => Target::Feishu(feishu::Bot::new(
                        url,
                        signing.ok_or_else(|| url_error("needs `secret`".into()))?,
                    )),
                    _ => Target::Wecom(wecom::Robot::new(url)),
                }
            }
        };
        let http = http_client::build(config.timeout.0, Redirects::Refuse).map_err(|detail| {
            ChannelError::Client {
                channel: label.clone(),
                detail,
            }
        })?;
        Ok(Channel {
            label,
            kind: config.kind,
            target,
            http,
        })
    }

    /// Sends one message, once (the caller retries).
    #[instrument(skip_all, fields(channel = %self.label, event = message.event))]
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        match &self.target {
            Target::Dingtalk(robot) => robot.send(&self.http, message).await,
            Target::Wecom(robot) => robot.send(&self.http, message).await,
            Target::Feishu(bot) => bot.send(&self.http, message).await,
            Target::Webhook(hook) => hook.send(&self.http, message).await,
        }
    }
}

/// The platform whose robot URL this is, by its path (the host may be a proxy or an emulator).
fn platform_of(url: &url::Url) -> Option<ChannelKind> {
    let path = url.path();
    if path == "/robot/send" {
        Some(ChannelKind::DingtalkRobot)
    } else if path == "/cgi-bin/webhook/send" {
        Some(ChannelKind::WecomRobot)
    } else if path.starts_with("/open-apis/bot/v2/hook/") {
        Some(ChannelKind::FeishuBot)
    } else {
        None
    }
}

fn platform_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::DingtalkRobot => "DingTalk custom robot",
        ChannelKind::WecomRobot => "WeCom group robot",
        ChannelKind::FeishuBot => "Feishu/Lark custom bot",
        ChannelKind::Webhook => "webhook",
    }
}

fn example(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::DingtalkRobot => "https://oapi.dingtalk.com/robot/send?access_token=…",
        ChannelKind::WecomRobot => "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
        ChannelKind::FeishuBot => "https://open.feishu.cn/open-apis/bot/v2/hook/…",
        ChannelKind::Webhook => "https://…",
    }
}

/// The robot URL read from the `webhook` secret, checked: a URL, the kind's platform, its token
/// present, https (or loopback). Errors never quote the URL: it carries the token.
fn robot_url(
    kind: ChannelKind,
    text: &str,
    config: &NotifyConfig,
    reference: &str,
) -> Result<url::Url, String> {
    let want = platform_name(kind);
    let url = url::Url::parse(text.trim()).map_err(|e| {
        format!(
            "webhook {reference} is not a URL ({e}); it should hold the {want}'s webhook URL, \
             like {}",
            example(kind)
        )
    })?;
    match platform_of(&url) {
        Some(found) if found == kind => {}
        Some(found) => {
            return Err(format!(
                "webhook {reference} holds a {} URL, but kind = {:?} (a {want}): set kind = {:?}, \
                 or give this entry the {want}'s URL",
                platform_name(found),
                kind.as_str(),
                found.as_str()
            ));
        }
        None => {
            return Err(format!(
                "webhook {reference} does not hold a {want} URL (expected {})",
                example(kind)
            ));
        }
    }
    let token = match kind {
        ChannelKind::DingtalkRobot => url
            .query_pairs()
            .any(|(k, v)| k == "access_token" && !v.is_empty()),
        ChannelKind::WecomRobot => url.query_pairs().any(|(k, v)| k == "key" && !v.is_empty()),
        _ => url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .is_some_and(|t| !t.is_empty()),
    };
    if !token {
        return Err(format!(
            "webhook {reference}: the {want} URL lacks its token (expected {})",
            example(kind)
        ));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("webhook {reference} must be an https:// URL"));
    }
    transport::check(
        &format!("webhook {reference}"),
        &url,
        config.allow_plain_http,
    )?;
    Ok(url)
}

/// POSTs `body` as JSON with `headers`; the status and the answer, read to [`MAX_ANSWER`].
async fn post(
    http: &reqwest::Client,
    url: url::Url,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<(StatusCode, String), SendError> {
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let transport = |e: reqwest::Error| SendError::Transport {
        // Never the URL: it carries the robot's token.
        detail: with_causes(&e.without_url()),
    };
    let mut response = request.body(body).send().await.map_err(transport)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(600)));
    let mut answer = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if answer.len() + chunk.len() > MAX_ANSWER {
            return Err(SendError::Malformed {
                detail: format!("an answer longer than {MAX_ANSWER} bytes"),
            });
        }
        answer.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    if !status.is_success() {
        return Err(SendError::Status {
            status: status.as_u16(),
            detail: quote(&text),
            retry_after,
        });
    }
    Ok((status, text))
}

/// An error and its causes ("error sending request: connection refused").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// An answer quoted in an error: control characters out, cut short.
fn quote(text: &str) -> String {
    let quoted: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(QUOTED)
        .collect();
    match quoted.trim() {
        "" => "(no body)".into(),
        q => q.to_owned(),
    }
}

/// The robots' JSON answer: a code (`errcode` or `code`) and a message, 0 = delivered.
fn coded_answer(
    text: &str,
    code_field: &str,
    message_field: &str,
    rate_limited: &[i64],
) -> Result<(), SendError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| SendError::Malformed {
            detail: quote(text),
        })?;
    let Some(code) = value.get(code_field).and_then(serde_json::Value::as_i64) else {
        return Err(SendError::Malformed {
            detail: format!("no `{code_field}` in {}", quote(text)),
        });
    };
    let detail = quote(
        value
            .get(message_field)
            .and_then(serde_json::Value::as_str)
            .unwrap_or(""),
    );
    match code {
        0 => Ok(()),
        c if rate_limited.contains(&c) => Err(SendError::RateLimited { code, detail }),
        _ => Err(SendError::Refused { code, detail }),
    }
}

#[cfg(test)]
mod tests;
