//! The WeCom group robot's checks: the `key`, then 20 a minute, then a markdown or text body
//! (markdown content at most 4096 bytes).

use super::{Received, Shared};
use axum::response::Response;
use std::collections::HashMap;

pub(super) const INVALID_WEBHOOK_URL: i64 = 93000;
pub(super) const FREQ_OUT_OF_LIMIT: i64 = 45009;
const INVALID_MESSAGE: i64 = 40008;
const CONTENT_TOO_LONG: i64 = 40058;

pub(super) fn receive(shared: &Shared, query: &HashMap<String, String>, body: &[u8]) -> Response {
    if query.get("key") != Some(&shared.config.token) {
        return shared.answer(INVALID_WEBHOOK_URL, "invalid webhook url", None);
    }
    if !shared.admit() {
        return shared.answer(FREQ_OUT_OF_LIMIT, "api freq out of limit", None);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return shared.answer(INVALID_MESSAGE, "invalid message type", None);
    };
    let content = match value["msgtype"].as_str() {
        Some("markdown") => value["markdown"]["content"].as_str(),
        Some("text") => value["text"]["content"].as_str(),
        _ => None,
    };
    let Some(content) = content.filter(|c| !c.is_empty()) else {
        return shared.answer(INVALID_MESSAGE, "invalid message type", None);
    };
    if content.len() > 4096 {
        return shared.answer(CONTENT_TOO_LONG, "content exceed max length", None);
    }
    let text = content.to_owned();
    shared.answer(0, "ok", Some(Received { body: value, text }))
}
