use super::*;
use crate::config::{Config, NotifyConfig};

#[test]
fn the_signatures_match_the_platforms_documented_examples() {
    // python3: base64(hmac(secret, f"{ts}\n{secret}", sha256)), DingTalk's documented sample.
    assert_eq!(
        dingtalk::sign("SECabc123", "1700000000000"),
        "N5P09a4+p1AMJIJWnIvQd2Yxw9+fu/oEBnPrjCcsLXk="
    );
    // python3: base64(hmac(f"{ts}\n{secret}", b"", sha256)), Feishu's documented sample.
    assert_eq!(
        feishu::sign("fs-secret", "1700000000"),
        "ognpFOmraex6LA29Ao14dsiNmmjE3YO4x5e/SX8n9Bw="
    );
}

fn entry(text: &str, env: &[(&str, &str)]) -> NotifyConfig {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for (name, value) in env {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        lines.push_str(&format!("{name} = \"file:{}\"\n", path.display()));
    }
    let config = Config::from_toml(
        &format!("[[notify]]\n{text}\n{lines}"),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    // The files are read when the channel is built; keep them until then.
    std::mem::forget(dir);
    config.notify[0].clone()
}

#[test]
fn a_url_of_another_platform_is_named_and_the_token_never_shown() {
    let wrong = entry(
        "kind = \"wecom_robot\"\non = [\"run_failed\"]",
        &[(
            "webhook",
            "https://oapi.dingtalk.com/robot/send?access_token=tok-secret-1\n",
        )],
    );
    let error = Channel::build(&wrong, 0).unwrap_err().to_string();
    assert!(
        error.contains("holds a DingTalk custom robot URL"),
        "{error}"
    );
    assert!(error.contains("kind = \"dingtalk_robot\""), "{error}");
    assert!(!error.contains("tok-secret-1"), "{error}");
    let no_token = entry(
        "kind = \"dingtalk_robot\"\non = [\"run_failed\"]",
        &[
            ("webhook", "https://oapi.dingtalk.com/robot/send"),
            ("secret", "SEC1"),
        ],
    );
    let error = Channel::build(&no_token, 0).unwrap_err().to_string();
    assert!(error.contains("lacks its token"), "{error}");
    let plain = entry(
        "kind = \"feishu_bot\"\non = [\"run_failed\"]",
        &[
            ("webhook", "http://open.feishu.cn/open-apis/bot/v2/hook/abc"),
            ("secret", "s"),
        ],
    );
    let error = Channel::build(&plain, 0).unwrap_err().to_string();
    assert!(error.contains("plain http://"), "{error}");
    assert!(!error.contains("abc"), "{error}");
    let good = entry(
        "kind = \"feishu_bot\"\non = [\"run_failed\"]",
        &[
            (
                "webhook",
                "https://open.larksuite.com/open-apis/bot/v2/hook/abc",
            ),
            ("secret", "s"),
        ],
    );
    let channel = Channel::build(&good, 0).unwrap();
    assert!(!format!("{channel:?}").contains("abc"));
}

#[test]
fn robots_answers_are_read_by_their_codes() {
    assert!(coded_answer(r#"{"errcode":0,"errmsg":"ok"}"#, "errcode", "errmsg", &[]).is_ok());
    let refused = coded_answer(
        r#"{"errcode":310000,"errmsg":"sign not match"}"#,
        "errcode",
        "errmsg",
        &[130101],
    )
    .unwrap_err();
    assert!(matches!(refused, SendError::Refused { code: 310000, .. }));
    assert!(!refused.is_retryable());
    let limited = coded_answer(
        r#"{"code":11232,"msg":"frequency limited"}"#,
        "code",
        "msg",
        &[11232],
    )
    .unwrap_err();
    assert!(limited.is_retryable());
    assert!(matches!(
        coded_answer("<html>", "code", "msg", &[]),
        Err(SendError::Malformed { .. })
    ));
}
