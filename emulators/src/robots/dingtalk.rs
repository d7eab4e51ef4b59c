//! The DingTalk custom robot's checks: `access_token`, then the "加签" signature (`timestamp` in
//! milliseconds within an hour of now, `sign` = base64(HMAC-SHA256 keyed by the secret over
//! `timestamp + "\n" + secret`)), then 20 a minute, then a markdown or text body.

use super::{Received, Shared, now_millis};
use axum::response::Response;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;

pub(super) const TOKEN_MISSING: i64 = 300001;
pub(super) const SIGN_NOT_MATCH: i64 = 310000;
pub(super) const TOO_FAST: i64 = 130101;
const MISSING_PARAM: i64 = 40035;

pub(super) fn receive(shared: &Shared, query: &HashMap<String, String>, body: &[u8]) -> Response {
    if query.get("access_token") != Some(&shared.config.token) {
        return shared.answer(TOKEN_MISSING, "token is not exist", None);
    }
    if let Some(secret) = &shared.config.secret
        && !signed(secret, query)
    {
        return shared.answer(
            SIGN_NOT_MATCH,
            "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            None,
        );
    }
    if !shared.admit() {
        return shared.answer(TOO_FAST, "send too fast, exceed 20 times per minute", None);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return shared.answer(MISSING_PARAM, "缺少参数 json", None);
    };
    let text = match value["msgtype"].as_str() {
        Some("markdown") => match (
            value["markdown"]["title"].as_str(),
            value["markdown"]["text"].as_str(),
        ) {
            (Some(title), Some(text)) if !title.is_empty() && !text.is_empty() => {
                format!("{title}\n{text}")
            }
            _ => return shared.answer(MISSING_PARAM, "缺少参数 markdown", None),
        },
        Some("text") => match value["text"]["content"].as_str() {
            Some(content) => content.to_owned(),
            None => return shared.answer(MISSING_PARAM, "缺少参数 text", None),
        },
        _ => return shared.answer(MISSING_PARAM, "缺少参数 msgtype", None),
    };
    shared.answer(0, "ok", Some(Received { body: value, text }))
}

fn signed(secret: &str, query: &HashMap<String, String>) -> bool {
    let (Some(timestamp), Some(sign)) = (query.get("timestamp"), query.get("sign")) else {
        return false;
    };
    let Ok(millis) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now_millis() - millis).abs() > 3_600_000 {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(sign) else {
        return false;
    };
    mac.verify_slice(&given).is_ok()
}
