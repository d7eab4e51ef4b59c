//! Upstream text reaches a terminal only as visible text: the real binary prints names and
//! upstream error messages carrying escape sequences, a bell and bidi overrides (`explain`, the
//! text report, `reports list`/`show`, and `status` from a running daemon), and none of those
//! characters may come out raw — each is shown as an escape like `\u{1b}`.

mod common;

use common::binary::{Extra, SCIM_TOKEN_VAR, WECOM_SECRET_VAR, text, write_config};
use common::small_org;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Clears the screen, sets the window title (ended by a bell), then colours red.
const ESCAPES: &str = "\u{1b}[2J\u{1b}]0;owned\u{7}\u{1b}[31m";
/// A right-to-left override: "Zoë" followed by text that reads reversed.
const BIDI: &str = "\u{202e}gpj.exe\u{202c}";
/// A C1 control (CSI as one byte in some terminals) and a first-strong isolate.
const C1_AND_ISOLATE: &str = "\u{9b}2J\u{2068}x\u{2069}";

/// Fails when `output` holds any character a terminal would act on instead of showing.
fn assert_all_visible(what: &str, output: &str) {
    let raw: Vec<String> = output
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n') || matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
        })
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(
        raw.is_empty(),
        "{what} printed raw control or bidi characters {raw:?}:\n{output:?}"
    );
}

fn orgsync(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("ORGSYNC_LOG", "warn")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_reports_and_history_show_hostile_names_escaped() {
    let mut org = small_org();
    for user in &mut org.users {
        match user.id.as_str() {
            "lin" => user.name = format!("林晓{ESCAPES}"),
            "boss2" => user.name = format!("Zoë{BIDI}"),
            "zhou" => user.name = format!("周明{C1_AND_ISOLATE}"),
            _ => {}
        }
    }
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    let source = format!(
        "kind = \"wecom\"\ncorp_id = \"{}\"\nsecret = \"env:{WECOM_SECRET_VAR}\"\nagent_id = {}\napi_base = \"{}\"",
        wecom.config().corpid,
        common::AGENT_ID,
        wecom.base_url()
    );
    write_config(
        &config,
        &dir.path().join("state"),
        &source,
        scim.base_url(),
        Extra::default(),
    );
    let env = [
        (WECOM_SECRET_VAR, wecom.config().corpsecret.as_str()),
        (SCIM_TOKEN_VAR, scim.bearer_token()),
    ];
    let run = |args: &[&str]| {
        let output = tokio::task::block_in_place(|| orgsync(&config, &env, args));
        assert!(
            output.status.success(),
            "{}: {}",
            args.join(" "),
            text(&output)
        );
        assert_all_visible(&args.join(" "), &text(&output));
        output
    };

    let explain = text(&run(&["explain", "hq", "lin"]));
    assert!(
        explain.contains("林晓\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{1b}[31m (lin)"),
        "the name is shown with its escapes visible:\n{explain}"
    );
    assert!(
        explain.contains("Zoë\\u{202e}gpj.exe\\u{202c} (boss2)"),
        "{explain}"
    );
    let explain = text(&run(&["explain", "hq", "zhou"]));
    assert!(
        explain.contains("周明\\u{9b}2J\\u{2068}x\\u{2069} (zhou)"),
        "{explain}"
    );

    let sync = text(&run(&["sync", "hq"]));
    assert!(sync.contains("\\u{1b}[2J"), "{sync}");
    let listed = String::from_utf8(run(&["reports", "list", "hq"]).stdout).unwrap();
    let run_id = listed
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("a run in the history:\n{listed}"))
        .to_owned();
    run(&["reports", "show", &run_id]);
    run(&["reports", "compare", &run_id, &run_id]);
    // The target now holds the names; explain reads them from the snapshot too.
    run(&["explain", "hq", "boss2"]);
}

/// An upstream that refuses every request with this `errmsg` (WeCom's shape, code 40013:
/// invalid corp id), on a loopback port; serves until the test process ends.
fn hostile_wecom(errmsg: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = serde_json::json!({ "errcode": 40013, "errmsg": errmsg }).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_a_hostile_upstream_error_escaped() {
    let upstream = hostile_wecom(&format!("invalid corpid{ESCAPES}{BIDI}"));
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    let socket = dir.path().join("admin.sock");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"

[daemon]
socket = "{socket}"

[connectors.hq.source]
kind = "wecom"
corp_id = "ww-hostile"
agent_id = 1000002
secret = "env:{WECOM_SECRET_VAR}"
api_base = "{upstream}"
retry = {{ max_attempts = 1, min_delay = "1ms", max_delay = "1ms" }}

[connectors.hq.target]
kind = "scim"
base_url = "{scim}"
token = "env:{SCIM_TOKEN_VAR}"
"#,
            state = dir.path().join("state").display(),
            socket = socket.display(),
            scim = scim.base_url(),
        ),
    )
    .unwrap();
    let env = [
        (WECOM_SECRET_VAR, "secret"),
        (SCIM_TOKEN_VAR, scim.bearer_token()),
    ];
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("ORGSYNC_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the daemon did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cli = |args: &[&str]| tokio::task::block_in_place(|| orgsync(&config, &env, args));
    let sync = cli(&["sync", "hq", "--wait"]);
    assert_eq!(sync.status.code(), Some(1), "{}", text(&sync));
    assert_all_visible("sync --wait", &text(&sync));
    let status = cli(&["status"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert!(
        shown.contains("last error") && shown.contains("invalid corpid\\u{1b}[2J"),
        "the upstream's message is in the status, escapes visible:\n{shown}"
    );
    assert_all_visible("status", &shown);
}
