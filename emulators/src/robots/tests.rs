use super::*;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// DingTalk's documented signature, written out here as a sender would.
fn dingtalk_sign(secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    b64(&mac.finalize().into_bytes())
}

fn feishu_sign(secret: &str, timestamp: i64) -> String {
    let mac = Hmac::<Sha256>::new_from_slice(format!("{timestamp}\n{secret}").as_bytes()).unwrap();
    b64(&mac.finalize().into_bytes())
}

async fn post_json(url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn dingtalk_url(robot: &RobotHandle, secret: &str, timestamp: i64) -> String {
    let sign: String =
        form_urlencoded::byte_serialize(dingtalk_sign(secret, timestamp).as_bytes()).collect();
    format!("{}&timestamp={timestamp}&sign={sign}", robot.webhook_url())
}

fn markdown() -> serde_json::Value {
    serde_json::json!({"msgtype": "markdown", "markdown": {"title": "t", "text": "hello"}})
}

#[tokio::test]
async fn dingtalk_checks_the_signature_and_the_token() {
    let robot = start(RobotConfig::dingtalk("tok", "SECright"))
        .await
        .unwrap();
    let now = now_millis();
    let (status, answer) = post_json(&dingtalk_url(&robot, "SECright", now), markdown()).await;
    assert_eq!(
        (status, answer["errcode"].as_i64()),
        (200, Some(0)),
        "{answer}"
    );
    for url in [
        dingtalk_url(&robot, "SECwrong", now),
        dingtalk_url(&robot, "SECright", now - 3_700_000),
        robot.webhook_url(),
    ] {
        let (status, answer) = post_json(&url, markdown()).await;
        assert_eq!(status, 200);
        assert_eq!(answer["errcode"], dingtalk::SIGN_NOT_MATCH, "{answer}");
    }
    let wrong_token = dingtalk_url(&robot, "SECright", now).replace("=tok&", "=other&");
    let (_, answer) = post_json(&wrong_token, markdown()).await;
    assert_eq!(answer["errcode"], dingtalk::TOKEN_MISSING, "{answer}");
    assert_eq!(robot.messages().len(), 1);
    assert_eq!(robot.messages()[0].text, "t\nhello");
    assert_eq!(robot.refusals().len(), 4);
}

#[tokio::test]
async fn dingtalk_refuses_the_twenty_first_message_of_a_minute() {
    let robot = start(RobotConfig::dingtalk("tok", "SEC1")).await.unwrap();
    for i in 0..21 {
        let (_, answer) = post_json(&dingtalk_url(&robot, "SEC1", now_millis()), markdown()).await;
        let want = if i < 20 { 0 } else { dingtalk::TOO_FAST };
        assert_eq!(answer["errcode"], want, "message {i}: {answer}");
    }
    assert_eq!(robot.messages().len(), 20);
}

#[tokio::test]
async fn wecom_checks_the_key_and_its_limit_frees_after_the_window() {
    // Long enough that 21 requests fit in it on a loaded machine; the wait below ends it.
    let window = Duration::from_secs(5);
    let robot = start(RobotConfig::wecom("key-1").window(window))
        .await
        .unwrap();
    let body = serde_json::json!({"msgtype": "markdown", "markdown": {"content": "**hi**"}});
    let (_, answer) = post_json(&robot.webhook_url().replace("key-1", "key-2"), body.clone()).await;
    assert_eq!(answer["errcode"], wecom::INVALID_WEBHOOK_URL);
    let first = tokio::time::Instant::now();
    for _ in 0..20 {
        let (_, answer) = post_json(&robot.webhook_url(), body.clone()).await;
        assert_eq!(answer["errcode"], 0, "{answer}");
    }
    let (_, answer) = post_json(&robot.webhook_url(), body.clone()).await;
    assert_eq!(answer["errcode"], wecom::FREQ_OUT_OF_LIMIT);
    tokio::time::sleep_until(first + window + Duration::from_millis(50)).await;
    let (_, answer) = post_json(&robot.webhook_url(), body).await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(robot.messages().len(), 21);
}

#[tokio::test]
async fn feishu_checks_the_signature_in_the_body() {
    let robot = start(RobotConfig::feishu("hook-1", "fs-secret"))
        .await
        .unwrap();
    let card = |timestamp: i64, sign: String| {
        serde_json::json!({
            "timestamp": timestamp.to_string(), "sign": sign, "msg_type": "interactive",
            "card": {"header": {"title": {"tag": "plain_text", "content": "T"}},
                     "elements": [{"tag": "markdown", "content": "body"}]}
        })
    };
    let now = now_millis() / 1000;
    let (_, answer) = post_json(
        &robot.webhook_url(),
        card(now, feishu_sign("fs-secret", now)),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    let (_, answer) = post_json(&robot.webhook_url(), card(now, feishu_sign("other", now))).await;
    assert_eq!(answer["code"], feishu::SIGN_MATCH_FAIL, "{answer}");
    // DingTalk's rule (the secret as the key, over the string) is not Feishu's.
    let (_, answer) = post_json(
        &robot.webhook_url(),
        card(now, dingtalk_sign("fs-secret", now)),
    )
    .await;
    assert_eq!(answer["code"], feishu::SIGN_MATCH_FAIL, "{answer}");
    let (_, answer) = post_json(
        &robot.webhook_url().replace("hook-1", "hook-2"),
        card(now, feishu_sign("fs-secret", now)),
    )
    .await;
    assert_eq!(answer["code"], feishu::TOKEN_INVALID, "{answer}");
    assert_eq!(robot.messages().len(), 1);
    assert_eq!(robot.messages()[0].text, "T\nbody");
}

#[tokio::test]
async fn injected_failures_answer_their_status_then_stop() {
    let robot = start(RobotConfig::wecom("k")).await.unwrap();
    robot.fail_next(2, 503);
    let body = serde_json::json!({"msgtype": "text", "text": {"content": "x"}});
    assert_eq!(post_json(&robot.webhook_url(), body.clone()).await.0, 503);
    assert_eq!(post_json(&robot.webhook_url(), body.clone()).await.0, 503);
    let (status, answer) = post_json(&robot.webhook_url(), body).await;
    assert_eq!((status, answer["errcode"].as_i64()), (200, Some(0)));
}
