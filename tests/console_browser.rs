//! The web console in a real browser (Debian's Chromium through playwright-core, like
//! tests/html_report_browser.rs), served by `orgsync run` (the real binary) against the WeCom
//! and SCIM emulators. The browser script (tests/browser/check_console.mjs) does what a person
//! would, one phase at a time, and reports what it saw; this side changes the upstream between
//! phases and checks the target. ORGSYNC_SCREENSHOTS=1 writes docs/console-overview.png and
//! docs/console-approval.png.

mod common;

use common::browser::{require_browser, run_script};
use common::small_org;
use emulators::faults::Faults;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VIEWER_TOKEN: &str = "viewer-token-for-tests";
const OPERATOR_TOKEN: &str = "operator-token-for-tests";

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn config_text(
    dir: &Path,
    wecom: &emulators::wecom::WecomHandle,
    scim: &str,
    web: std::net::SocketAddr,
) -> String {
    format!(
        r#"
state_dir = "{dir}/state"

[daemon]
socket = "{dir}/run/admin.sock"
shutdown_timeout = "5s"

[daemon.web]
listen = "{web}"
viewer_token = "file:{dir}/viewer-token"
operator_token = "file:{dir}/operator-token"

[connectors.hq]
schedule = "0 0 3 * * *"
timezone = "Asia/Shanghai"

[connectors.hq.source]
kind = "wecom"
corp_id = "{corp}"
secret = "env:TEST_WECOM_SECRET"
agent_id = {agent}
api_base = "{wecom}"
retry = {{ max_attempts = 3, min_delay = "1ms", max_delay = "10ms" }}

[connectors.hq.target]
kind = "scim"
base_url = "{scim}"
token = "file:{dir}/scim-token"
concurrency = 1

[connectors.hq.policy]
max_deletion_ratio = 1.0
max_deletions = 1
"#,
        dir = dir.display(),
        corp = wecom.config().corpid,
        agent = common::AGENT_ID,
        wecom = wecom.base_url(),
    )
}

async fn start_daemon(dir: &Path, web: std::net::SocketAddr) -> Daemon {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(dir.join("orgsync.toml"))
        .arg("run")
        .env(
            "TEST_WECOM_SECRET",
            emulators::wecom::WecomConfig::default().corpsecret,
        )
        .env("ORGSYNC_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let daemon = Daemon { child };
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("http://{web}/login")).send().await
            && response.status().is_success()
        {
            return daemon;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the console did not answer within 30 s:\n{}",
            std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one phase of the browser script; what it saw, as JSON.
fn browser(phase: &str, base: &str, dir: &Path) -> Value {
    let screenshots = std::env::var_os("ORGSYNC_SCREENSHOTS").is_some_and(|v| v == "1");
    let spec = json!({
        "phase": phase,
        "base": base,
        "viewerToken": VIEWER_TOKEN,
        "operatorToken": OPERATOR_TOKEN,
        "screenshots": if screenshots {
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"))
        } else {
            None
        },
    });
    let seen = run_script(
        "check_console.mjs",
        &spec,
        &dir.join(format!("spec-{phase}.json")),
        || {
            format!(
                "phase {phase}; daemon log:\n{}",
                std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
            )
        },
    );
    eprintln!("phase {phase}: {seen:#}");
    assert_eq!(seen["pageErrors"], json!([]), "{seen:#}");
    assert_eq!(seen["consoleErrors"], json!([]), "{seen:#}");
    assert_eq!(seen["outsideRequests"], json!([]), "{seen:#}");
    seen
}

fn scim_user<'a>(
    users: &'a [emulators::scim::ScimUser],
    key: &str,
) -> Option<&'a emulators::scim::ScimUser> {
    users.iter().find(|u| u.external_id.as_deref() == Some(key))
}

/// The emulators, the state directory and `orgsync run` with the console on a free port.
struct Console {
    wecom: emulators::wecom::WecomHandle,
    scim: emulators::scim::ScimHandle,
    dir: tempfile::TempDir,
    base: String,
    _daemon: Daemon,
}

impl Console {
    async fn start() -> Console {
        require_browser();
        let wecom = emulators::wecom::start(small_org(), Default::default())
            .await
            .unwrap();
        // Every upstream call takes a while, so the run page has a pull in progress to show.
        wecom.set_faults(Faults {
            delay: Duration::from_millis(250),
            ..Faults::default()
        });
        let scim = emulators::scim::start(Default::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let web = free_port();
        std::fs::write(dir.path().join("scim-token"), scim.bearer_token()).unwrap();
        std::fs::write(dir.path().join("viewer-token"), format!("{VIEWER_TOKEN}\n")).unwrap();
        std::fs::write(dir.path().join("operator-token"), OPERATOR_TOKEN).unwrap();
        std::fs::write(
            dir.path().join("orgsync.toml"),
            config_text(dir.path(), &wecom, scim.base_url(), web),
        )
        .unwrap();
        let daemon = start_daemon(dir.path(), web).await;
        Console {
            wecom,
            scim,
            dir,
            base: format!("http://{web}"),
            _daemon: daemon,
        }
    }

    fn browser(&self, phase: &str) -> Value {
        tokio::task::block_in_place(|| browser(phase, &self.base, self.dir.path()))
    }

    fn assert_no_token_logged(&self) {
        let log = std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap();
        for token in [VIEWER_TOKEN, OPERATOR_TOKEN] {
            assert!(!log.contains(token), "a token reached the log");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn console_logs_in_syncs_and_approves_a_refused_plan_in_chromium() {
    let console = Console::start().await;
    let (wecom, scim) = (&console.wecom, &console.scim);

    // Phase 1: no data without a session; the viewer cannot sync; the operator syncs with the
    // keyboard and sees the progress, then the outcome.
    let seen = console.browser("access");
    assert!(
        seen["anonymous"]["redirectedToLogin"].as_bool().unwrap(),
        "{seen:#}"
    );
    assert_eq!(seen["anonymous"]["progressStatus"], 401, "{seen:#}");
    assert_eq!(seen["anonymous"]["showsConnector"], false, "{seen:#}");
    assert_eq!(seen["wrongToken"]["status"], 401, "{seen:#}");
    assert_eq!(seen["wrongToken"]["loggedIn"], false, "{seen:#}");
    assert_eq!(seen["viewer"]["showsConnector"], true, "{seen:#}");
    assert_eq!(seen["viewer"]["syncButtons"], 0, "{seen:#}");
    let schedule = seen["viewer"]["schedule"].as_str().unwrap();
    assert_eq!(schedule, "0 0 3 * * * in Asia/Shanghai", "{seen:#}");
    let next = seen["viewer"]["nextRun"].as_str().unwrap();
    assert!(
        next.contains(" 03:00:00 CST ("),
        "in the connector's zone: {next}"
    );
    assert_eq!(seen["viewer"]["forgedSyncStatus"], 403, "{seen:#}");
    assert_eq!(seen["operator"]["syncButtons"], 1, "{seen:#}");
    assert_eq!(seen["operator"]["noCsrfStatus"], 403, "{seen:#}");
    assert_eq!(seen["operator"]["foreignOriginStatus"], 403, "{seen:#}");
    assert!(
        seen["operator"]["keyboardReachedSyncNow"]
            .as_bool()
            .unwrap(),
        "{seen:#}"
    );
    let texts: Vec<&str> = seen["operator"]["progressTexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("Pulling:")),
        "the run page showed the pull in progress: {texts:?}"
    );
    assert_eq!(seen["operator"]["outcome"], "applied", "{seen:#}");
    for width in ["phone", "desktop"] {
        assert_eq!(seen["overflow"][width], false, "{width}: {seen:#}");
    }
    // The only run is the operator's: the viewer's forged POST and the tokenless one started none.
    let users = scim.users();
    assert_eq!(users.len(), 7, "{users:#?}");
    assert!(users.iter().all(|u| u.active));

    // Phase 2: two people leave upstream; the guard (max_deletions = 1) refuses the run; the plan
    // waits with both removals; the operator approves it and the removals are applied.
    wecom.update_org(|org| org.users.retain(|u| u.id != "zhou" && u.id != "leaver"));
    let seen = console.browser("approval");
    assert_eq!(seen["refusedOutcome"], "refused", "{seen:#}");
    assert_eq!(seen["plans"], 1, "{seen:#}");
    let removals = seen["removals"].as_array().unwrap();
    assert_eq!(removals.len(), 2, "{seen:#}");
    for name in ["周明", "李离"] {
        assert!(
            removals.iter().any(|r| r.as_str().unwrap().contains(name)),
            "{name} is among the removals: {seen:#}"
        );
    }
    assert_eq!(seen["approvedOutcome"], "applied", "{seen:#}");
    assert_eq!(seen["reportShowsRemoved"], true, "{seen:#}");
    assert!(
        seen["comparison"].as_str().unwrap().contains("周明"),
        "the first sync created 周明, the approved run removed them: {seen:#}"
    );
    assert_eq!(seen["plansAfter"], 0, "{seen:#}");
    for width in ["phone", "desktop"] {
        assert_eq!(seen["overflow"][width], false, "{width}: {seen:#}");
    }
    let users = scim.users();
    for key in ["zhou", "leaver"] {
        let user = scim_user(&users, key);
        assert!(
            user.is_none_or(|u| !u.active),
            "{key} was removed from the target: {user:?}"
        );
    }
    assert!(scim_user(&users, "wang").unwrap().active);

    console.assert_no_token_logged();
}

/// Sync one person from the console: needs `Job::People` in the daemon (issue 18 item 2).
#[tokio::test(flavor = "multi_thread")]
async fn console_finds_and_syncs_one_person_in_chromium() {
    let console = Console::start().await;
    let (wecom, scim) = (&console.wecom, &console.scim);
    let first = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .arg("--config")
            .arg(console.dir.path().join("orgsync.toml"))
            .args(["sync", "hq", "--wait"])
            .env(
                "TEST_WECOM_SECRET",
                emulators::wecom::WecomConfig::default().corpsecret,
            )
            .output()
            .unwrap()
    });
    assert!(first.status.success(), "{first:?}");
    assert_eq!(scim.users().len(), 7);

    // Two people are renamed upstream; the console finds one by her new (CJK) name and
    // syncs only her.
    wecom.update_org(|org| {
        for user in &mut org.users {
            match user.id.as_str() {
                "wang" => user.name = "王小芳".into(),
                "lin" => user.name = "林晓晓".into(),
                _ => {}
            }
        }
    });
    let seen = console.browser("person");
    assert_eq!(
        seen["byName"]["key"], "wang",
        "found by her new name: {seen:#}"
    );
    assert_eq!(seen["byKey"]["key"], "wang", "{seen:#}");
    let explained = seen["byKey"]["explained"].as_str().unwrap();
    assert!(
        explained.contains("display_name \"王芳\" → \"王小芳\""),
        "{seen:#}"
    );
    assert_eq!(seen["personOutcome"], "applied", "{seen:#}");
    let users = scim.users();
    let name = |key: &str| scim_user(&users, key).and_then(|u| u.display_name.clone());
    assert_eq!(name("wang").as_deref(), Some("王小芳"));
    assert_eq!(
        name("lin").as_deref(),
        Some("林晓"),
        "only the person asked for is synced"
    );

    console.assert_no_token_logged();
}

/// The Unix socket variant (for a reverse proxy), spoken to as a proxy would: the session
/// cookie's attributes, the security headers, no data without a session, and the login limit.
#[tokio::test(flavor = "multi_thread")]
async fn console_on_a_unix_socket_sets_safe_cookies_headers_and_limits_logins() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scim-token"), scim.bearer_token()).unwrap();
    std::fs::write(dir.path().join("viewer-token"), VIEWER_TOKEN).unwrap();
    std::fs::write(dir.path().join("operator-token"), OPERATOR_TOKEN).unwrap();
    let socket = dir.path().join("run/web.sock");
    // The TCP listener swapped for the socket, behind an https proxy at a path.
    let text = config_text(dir.path(), &wecom, scim.base_url(), free_port())
        .lines()
        .map(|line| {
            if line.starts_with("listen = ") {
                format!(
                    "socket = \"{}\"\nexternal_url = \"https://console.example.com/orgsync/\"",
                    socket.display()
                )
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("orgsync.toml"), text).unwrap();
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let _daemon = Daemon {
        child: Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .arg("--config")
            .arg(dir.path().join("orgsync.toml"))
            .arg("run")
            .env(
                "TEST_WECOM_SECRET",
                emulators::wecom::WecomConfig::default().corpsecret,
            )
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    };
    let client = reqwest::Client::builder()
        .unix_socket(socket.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("http://console.example.com{path}");
    let started = Instant::now();
    while client.get(url("/login")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no console on the socket"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o660);

    // No session: pages redirect to the login page (under the proxy's path), data is 401.
    let page = client.get(url("/")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/orgsync/login");
    let data = client.get(url("/runs/x/progress")).send().await.unwrap();
    assert_eq!(data.status(), 401);

    let login = |token: &str, origin: &str| {
        client
            .post(url("/login"))
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    // A login from another site is refused before the token is looked at.
    let foreign = login(OPERATOR_TOKEN, "https://evil.example").await.unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(foreign.headers().get("set-cookie").is_none());

    let ok = login(OPERATOR_TOKEN, "https://console.example.com")
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/orgsync",
        "Secure",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let overview = client
        .get(url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    let headers = overview.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("http"), "no outside source: {csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let body = overview.text().await.unwrap();
    assert!(
        body.contains(r#"href="/orgsync/assets/console.css""#),
        "{body}"
    );
    assert!(body.contains(r#"data-connector="hq""#));

    // Wrong tokens: 10 a minute are judged, then every login waits, the right token too.
    for _ in 0..10 {
        let wrong = login("guess", "https://console.example.com").await.unwrap();
        assert_eq!(wrong.status(), 401);
    }
    let limited = login(OPERATOR_TOKEN, "https://console.example.com")
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("set-cookie").is_none());

    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        !log.contains(OPERATOR_TOKEN) && !log.contains("guess"),
        "{log}"
    );
}
