//! Upstream faults the emulators do not model, against every puller: a server that resets the
//! connection, one that answers an endless body, an HTML page, an empty body. Each ends in a clean
//! error naming the platform, never a panic or a hang. And a pull that failed part-way never
//! reaches the planner: nothing is written, nobody is deactivated.

mod common;

use common::{connector, quick_retries, scim_pusher, small_org};
use emulators::faults::Faults;
use orgsync::config::{RetryConfig, Secret, SecretRef};
use orgsync::engine::{Engine, RunMode};
use orgsync::plan::Policy;
use orgsync::pullers::bitrix24::{
    Bitrix24Auth, Bitrix24Puller, Bitrix24Secrets, Bitrix24SourceConfig,
};
use orgsync::pullers::dingtalk::{DingtalkPuller, DingtalkSourceConfig};
use orgsync::pullers::feishu::{FeishuPuller, FeishuSourceConfig};
use orgsync::pullers::wecom::{WecomPuller, WecomSourceConfig};
use orgsync::pullers::{AnyPuller, Puller};
use orgsync::report::RunOutcome;
use orgsync::snapshot::{MemoryStore, SnapshotStore};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the hostile server answers every request.
#[derive(Debug, Clone, Copy)]
enum Hostile {
    /// Reads the request, then resets the connection.
    Reset,
    /// `200`, chunked, a JSON array that never ends.
    Endless,
    /// `200` with an HTML error page.
    Html,
    /// `200` with an empty body.
    Empty,
}

async fn hostile(kind: Hostile) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, kind));
        }
    });
    format!("http://{addr}")
}

async fn answer(mut stream: TcpStream, kind: Hostile) {
    let mut request = [0u8; 4096];
    let _ = stream.read(&mut request).await;
    let head = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    match kind {
        Hostile::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Hostile::Html => {
            let _ = stream
                .write_all(head("<html><body><h1>502 Bad Gateway</h1></body></html>").as_bytes())
                .await;
        }
        Hostile::Empty => {
            let _ = stream.write_all(head("").as_bytes()).await;
        }
        Hostile::Endless => {
            let start = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n[\r\n";
            if stream.write_all(start.as_bytes()).await.is_err() {
                return;
            }
            let piece = "0,".repeat(32 * 1024);
            let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
            // Until the client hangs up.
            while stream.write_all(chunk.as_bytes()).await.is_ok() {}
        }
    }
}

fn retries() -> RetryConfig {
    RetryConfig {
        max_attempts: Some(2),
        ..quick_retries()
    }
}

fn unused() -> SecretRef {
    SecretRef::Env("UNUSED".into())
}

/// Every puller, pointed at `base`.
fn pullers(base: &str) -> Vec<AnyPuller> {
    let url = || base.parse().unwrap();
    let mut wecom = WecomSourceConfig::new("ww1", unused(), url());
    wecom.agent_id = Some(1_000_002);
    wecom.retry = retries();
    let mut dingtalk = DingtalkSourceConfig::new("ding1", unused(), url());
    dingtalk.retry = retries();
    // An HTML page with 200 is taken for DingTalk's anti-abuse ban, waited out at least this.
    dingtalk.ban_wait = orgsync::config::HumanDuration(std::time::Duration::from_millis(5));
    let mut feishu = FeishuSourceConfig::new("cli_1", unused(), url());
    feishu.retry = retries();
    feishu.rate_limits = Vec::new();
    let mut bitrix24 = Bitrix24SourceConfig::new(Bitrix24Auth::webhook_url(unused()));
    bitrix24.retry = retries();
    let webhook = Secret::new(format!("{base}/rest/1/webhookcode123/"));
    vec![
        AnyPuller::Wecom(WecomPuller::new(wecom, Secret::new("secret-1")).unwrap()),
        AnyPuller::Dingtalk(DingtalkPuller::new(dingtalk, Secret::new("secret-1")).unwrap()),
        AnyPuller::Feishu(FeishuPuller::new(feishu, Secret::new("secret-1")).unwrap()),
        AnyPuller::Bitrix24(
            Bitrix24Puller::new(bitrix24, Bitrix24Secrets::Webhook(webhook)).unwrap(),
        ),
    ]
}

async fn every_puller_fails_cleanly(kind: Hostile, expected: &str) {
    let base = hostile(kind).await;
    for puller in pullers(&base) {
        let platform = puller.platform();
        let error = match puller.pull().await {
            Ok(pulled) => panic!("{kind:?}: {platform} pulled {:?}", pulled.directory),
            Err(e) => e.to_string(),
        };
        assert!(
            error
                .to_lowercase()
                .contains(&platform.to_string().to_lowercase()),
            "{kind:?}: {platform}: the error names the platform: {error}"
        );
        assert!(
            error.contains(expected),
            "{kind:?}: {platform}: expected {expected:?} in: {error}"
        );
        assert!(
            !error.contains("webhookcode123") && !error.contains("secret-1"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_resets_are_clean_errors() {
    every_puller_fails_cleanly(Hostile::Reset, "request failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_answer_is_refused_at_the_size_limit() {
    every_puller_fails_cleanly(Hostile::Endless, "larger than 64 MiB").await;
    // The target side too: a listing that never ends.
    let base = hostile(Hostile::Endless).await;
    let target = scim_pusher(&format!("{base}/scim/v2"), "token-1");
    let error = orgsync::pushers::Pusher::list(&target)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("larger than 64 MiB"), "scim: {error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_page_is_named_as_such() {
    every_puller_fails_cleanly(Hostile::Html, "HTML page").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_body_is_named_as_such() {
    every_puller_fails_cleanly(Hostile::Empty, "empty body").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_that_fails_part_way_writes_nothing_and_removes_nobody() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let puller = |attempts| {
        let mut source = WecomSourceConfig::new(
            wecom.config().corpid.clone(),
            unused(),
            wecom.base_url().parse().unwrap(),
        );
        source.agent_id = Some(wecom.config().agentid);
        source.retry = RetryConfig {
            max_attempts: Some(attempts),
            ..quick_retries()
        };
        WecomPuller::new(source, Secret::new(wecom.config().corpsecret.clone())).unwrap()
    };
    let store = Arc::new(MemoryStore::default());
    let engine = Engine::new(store.clone());
    let policy = Policy::default().without_guard();
    let first = connector(
        puller(6),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        policy.clone(),
    );
    let report = engine.run(&first, RunMode::Apply).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Applied);
    let before = store.load("test").unwrap();
    let accounts = scim.users();
    scim.reset_counters();

    // The department list answers; the member lists after it come back cut short, and the
    // puller has no retry left: the pull fails with some people read and others not.
    wecom.set_faults(Faults {
        malformed_json_every: Some(2),
        ..Faults::default()
    });
    let broken = connector(
        puller(1),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        policy,
    );
    let report = engine.run(&broken, RunMode::Apply).await.unwrap();
    let RunOutcome::Failed { error } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert!(error.contains("wecom"), "{error}");
    assert!(report.steps.is_empty(), "nothing was planned");
    let counters = scim.counters();
    assert_eq!(
        counters.posts + counters.puts + counters.patches + counters.deletes,
        0,
        "nothing was written"
    );
    assert_eq!(scim.users(), accounts, "nobody was deactivated");
    assert_eq!(
        store.load("test").unwrap(),
        before,
        "the snapshot did not move"
    );
}

/// A TLS server with a self-signed certificate (the `openssl` command line tool): every puller
/// and the SCIM pusher refuse the handshake; there is no option to turn verification off. If verification were off, the puller would reach the server's HTML status
/// page and say so instead.
#[tokio::test(flavor = "multi_thread")]
async fn tls_certificates_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command line tool");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-www", "-quiet", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let base = format!("https://127.0.0.1:{port}");
    for puller in pullers(&base) {
        let error = puller.pull().await.err().map(|e| e.to_string());
        let error = error
            .unwrap_or_else(|| panic!("{} pulled from a self-signed server", puller.platform()));
        assert!(
            error.to_lowercase().contains("certificate"),
            "{}: {error}",
            puller.platform()
        );
    }
    // The target side too.
    let target = scim_pusher(&format!("{base}/scim/v2"), "token-1");
    let error = orgsync::pushers::Pusher::list(&target)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("certificate"), "scim: {error}");
    let _ = server.kill();
    let _ = server.wait();
}
