//! The Feishu/Lark custom bot's checks: the hook token, then the signature in the body
//! (`timestamp` in seconds within an hour of now, `sign` = base64(HMAC-SHA256 keyed by
//! `timestamp + "\n" + secret` over nothing)), then its rate limit, then a known `msg_type`.

use super::{Received, Shared, now_millis};
use axum::response::Response;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub(super) const TOKEN_INVALID: i64 = 19001;
pub(super) const SIGN_MATCH_FAIL: i64 = 19021;
pub(super) const FREQUENCY_LIMITED: i64 = 11232;
const BAD_REQUEST: i64 = 9499;

pub(super) fn receive(shared: &Shared, token: &str, body: &[u8]) -> Response {
    if token != shared.config.token {
        return shared.answer(
            TOKEN_INVALID,
            "param invalid: incoming webhook access token invalid",
            None,
        );
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return shared.answer(BAD_REQUEST, "Bad Request", None);
    };
    if let Some(secret) = &shared.config.secret
        && !signed(secret, &value)
    {
        return shared.answer(
            SIGN_MATCH_FAIL,
            "sign match fail or timestamp is not within one hour from current time",
            None,
        );
    }
    if !shared.admit() {
        return shared.answer(
            FREQUENCY_LIMITED,
            "frequency limited psm[lark.oapi.app_platform_runtime]",
            None,
        );
    }
    let text = match value["msg_type"].as_str() {
        Some("text") => value["content"]["text"].as_str().map(str::to_owned),
        Some("interactive") => {
            let card = &value["card"];
            let title = card["header"]["title"]["content"].as_str().unwrap_or("");
            let parts: Vec<&str> = card["elements"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["content"].as_str()).collect())
                .unwrap_or_default();
            (!parts.is_empty()).then(|| format!("{title}\n{}", parts.join("\n")))
        }
        _ => None,
    };
    let Some(text) = text else {
        return shared.answer(BAD_REQUEST, "Bad Request", None);
    };
    shared.answer(0, "success", Some(Received { body: value, text }))
}

fn signed(secret: &str, body: &serde_json::Value) -> bool {
    // Feishu sends the timestamp as a string; a number is accepted too.
    let timestamp = match &body["timestamp"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return false,
    };
    let Some(sign) = body["sign"].as_str() else {
        return false;
    };
    let Ok(seconds) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now_millis() / 1000 - seconds).abs() > 3600 {
        return false;
    }
    let key = format!("{timestamp}\n{secret}");
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return false;
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(sign) else {
        return false;
    };
    mac.verify_slice(&given).is_ok()
}
