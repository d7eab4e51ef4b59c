//! The `orgsync-emulator` binary serves each emulator on loopback and prints its base URL first,
//! so scripts (and admins trying the example configs) can start one and point orgsync at it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Served {
    child: Child,
    base_url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Served {
        child,
        base_url: line.trim().to_owned(),
    }
}

/// One HTTP/1.1 GET; the whole answer as text.
fn get(url: &str, headers: &[(&str, &str)]) -> String {
    request("GET", url, headers, "")
}

/// One HTTP/1.1 POST of a JSON body; the whole answer as text.
fn post_json(url: &str, body: &str) -> String {
    request("POST", url, &[("Content-Type", "application/json")], body)
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let mut stream = TcpStream::connect(host).unwrap();
    let mut request = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The `access_token` value of a DingTalk `gettoken` answer.
fn dingtalk_token(base_url: &str) -> String {
    let config = emulators::dingtalk::DingtalkConfig::default();
    let answer = get(
        &format!(
            "{base_url}/gettoken?appkey={}&appsecret={}",
            config.app_key, config.app_secret
        ),
        &[],
    );
    let (_, rest) = answer
        .split_once("\"access_token\":\"")
        .unwrap_or_else(|| panic!("no token in {answer}"));
    rest.split('"').next().unwrap().to_owned()
}

#[test]
fn each_subcommand_serves_its_emulator() {
    let dingtalk = serve(&["dingtalk"]);
    let config = emulators::dingtalk::DingtalkConfig::default();
    let answer = get(
        &format!(
            "{}/gettoken?appkey={}&appsecret={}",
            dingtalk.base_url, config.app_key, config.app_secret
        ),
        &[],
    );
    assert!(answer.contains("\"errcode\":0"), "{answer}");

    for platform in ["feishu", "bitrix24", "wecom"] {
        let served = serve(&[platform]);
        assert!(
            served.base_url.starts_with("http://127.0.0.1:"),
            "{platform}: {}",
            served.base_url
        );
        let answer = get(&format!("{}/no-such-path", served.base_url), &[]);
        assert!(answer.starts_with("HTTP/1.1 "), "{platform}: {answer}");
    }

    let scim = serve(&["scim", "--token", "t0ken"]);
    let answer = get(
        &format!("{}/Users", scim.base_url),
        &[("Authorization", "Bearer t0ken")],
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("ListResponse"), "{answer}");
    let refused = get(
        &format!("{}/Users", scim.base_url),
        &[("Authorization", "Bearer wrong")],
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
}

#[test]
fn dingtalk_roster_permission_and_agentid_are_flags() {
    let roster = |base_url: &str, agentid: i64| {
        let token = dingtalk_token(base_url);
        post_json(
            &format!("{base_url}/topapi/smartwork/hrm/employee/v2/list?access_token={token}"),
            &format!(
                r#"{{"userid_list":"nobody","field_filter_list":"sys00-reportManagerId","agentid":{agentid}}}"#
            ),
        )
    };
    let granted = serve(&["dingtalk", "--agentid", "4242"]);
    let answer = roster(&granted.base_url, 4242);
    assert!(answer.contains("\"errcode\":0"), "{answer}");

    let refused = serve(&["dingtalk", "--agentid", "4242", "--roster", "refused"]);
    let answer = roster(&refused.base_url, 4242);
    assert!(answer.contains("\"errcode\":88"), "{answer}");
    assert!(answer.contains("60011"), "{answer}");

    let spent = serve(&["dingtalk", "--agentid", "4242", "--roster-quota", "1"]);
    assert!(roster(&spent.base_url, 4242).contains("\"errcode\":0"));
    let answer = roster(&spent.base_url, 4242);
    assert!(answer.contains("\"errcode\":90020"), "{answer}");

    let output = Command::new(env!("CARGO_BIN_EXE_orgsync-emulator"))
        .args(["dingtalk", "--roster", "maybe"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--roster"));
}

#[test]
fn unknown_subcommands_and_options_are_usage_errors() {
    for args in [&["nope"][..], &["scim", "--colour", "red"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_orgsync-emulator"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("usage:"));
    }
}
