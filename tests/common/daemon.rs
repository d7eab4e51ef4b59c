//! The daemon as a process (`orgsync run`, the real binary) against in-process emulators, for
//! the tests that drive it through the CLI and the admin API (tests/daemon.rs, daemon_jobs.rs).

use super::small_org;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UnixDatagram;

pub const TCP_TOKEN: &str = "admin-token-for-tests";

pub struct Setup {
    pub wecom: emulators::wecom::WecomHandle,
    pub scim: emulators::scim::ScimHandle,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub tcp: std::net::SocketAddr,
}

impl Setup {
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/admin.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// The config file, with `extra` appended (more connectors, history settings).
    pub fn write_config(&self, extra: &str) {
        std::fs::write(&self.config, config_text(self, extra)).unwrap();
    }
}

pub fn config_text(s: &Setup, extra: &str) -> String {
    format!(
        r#"
state_dir = "{state}"

[daemon]
socket = "{socket}"
tcp = "{tcp}"
tcp_token = "file:{dir}/tcp-token"
shutdown_timeout = "10s"

[history]
keep = 3
{hq}
{extra}
"#,
        state = s.dir.path().join("state").display(),
        socket = s.socket().display(),
        tcp = s.tcp,
        dir = s.dir.path().display(),
        hq = connector_text(s, "hq", "0 0 3 * * *"),
    )
}

/// A connector on the emulators with this cron schedule.
pub fn connector_text(s: &Setup, name: &str, schedule: &str) -> String {
    format!(
        r#"
[connectors.{name}]
schedule = "{schedule}"
jitter = "1m"

[connectors.{name}.source]
kind = "wecom"
corp_id = "{corp}"
secret = "env:TEST_WECOM_SECRET"
agent_id = {agent}
api_base = "{wecom}"
retry = {{ max_attempts = 3, min_delay = "1ms", max_delay = "10ms" }}

[connectors.{name}.target]
kind = "scim"
base_url = "{scim}"
token = "file:{dir}/scim-token"
concurrency = 1

[connectors.{name}.policy]
max_deletion_ratio = 1.0
"#,
        dir = s.dir.path().display(),
        corp = s.wecom.config().corpid,
        agent = super::AGENT_ID,
        wecom = s.wecom.base_url(),
        scim = s.scim.base_url(),
    )
}

pub async fn setup() -> Setup {
    setup_with(Default::default()).await
}

/// With this WeCom emulator configuration (a callback for events, say).
pub async fn setup_with(wecom: emulators::wecom::WecomConfig) -> Setup {
    let wecom = emulators::wecom::start(small_org(), wecom).await.unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scim-token"), scim.bearer_token()).unwrap();
    std::fs::write(dir.path().join("tcp-token"), format!("{TCP_TOKEN}\n")).unwrap();
    // A free loopback port for the TCP listener.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = Setup {
        wecom,
        scim,
        config: dir.path().join("orgsync.toml"),
        dir,
        tcp,
    };
    s.write_config("");
    s
}

pub fn orgsync(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    command
        .arg("--config")
        .arg(config)
        .env(
            "TEST_WECOM_SECRET",
            emulators::wecom::WecomConfig::default().corpsecret,
        )
        .env("ORGSYNC_LOG", "info")
        // A connector without `timezone` reads its schedule in the system's zone: UTC here.
        .env("TZ", "UTC")
        .env_remove("NOTIFY_SOCKET");
    command
}

pub fn cli(s: &Setup, args: &[&str]) -> Output {
    orgsync(&s.config).args(args).output().unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A daemon started with a notify socket; dropped daemons are killed.
pub struct Daemon {
    pub child: Child,
    /// Every datagram received on the notify socket, drained continuously (an unread socket's
    /// queue fills and the daemon drops its messages).
    pub notes: Arc<Mutex<Vec<String>>>,
    /// Notes already matched by `wait_notify`.
    pub seen: usize,
    pub _drain: tokio::task::JoinHandle<()>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub async fn start(s: &Setup) -> Daemon {
        Daemon::start_with(s, &[]).await
    }

    /// Started with these extra environment variables.
    pub async fn start_with(s: &Setup, env: &[(&str, &str)]) -> Daemon {
        let notify_path = s.dir.path().join(format!("notify-{}", rand_suffix()));
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&notes);
        let drain = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = notify.recv(&mut buf).await {
                let note = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push(note);
            }
        });
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.dir.path().join("daemon.log"))
            .unwrap();
        let child = orgsync(&s.config)
            .arg("run")
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "400000")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            child,
            notes,
            seen: 0,
            _drain: drain,
        };
        let ready = daemon.wait_notify("READY=1").await;
        assert!(ready.contains("STATUS="), "{ready}");
        daemon
    }

    /// The next datagram containing `want`, after those already matched.
    pub async fn wait_notify(&mut self, want: &str) -> String {
        let started = Instant::now();
        loop {
            {
                let notes = self.notes.lock().unwrap();
                if let Some(i) = notes[self.seen..].iter().position(|n| n.contains(want)) {
                    self.seen += i + 1;
                    return notes[self.seen - 1].clone();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {want:?} from the daemon within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its status and how long it took.
    pub async fn wait_exit(&mut self, bound: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < bound,
                "the daemon did not exit within {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Renames `id` upstream.
pub fn rename(s: &Setup, id: &str, name: &str) {
    s.wecom.update_org(|org| {
        if let Some(user) = org.users.iter_mut().find(|u| u.id == id) {
            user.name = name.into();
        }
    });
}

/// The display name the SCIM target holds for `id`.
pub fn display_name(s: &Setup, id: &str) -> Option<String> {
    s.scim
        .users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(id))
        .and_then(|u| u.display_name)
}

/// People the target shows with their new upstream name.
pub fn renamed(scim: &emulators::scim::ScimHandle) -> usize {
    scim.users()
        .iter()
        .filter(|u| {
            u.display_name
                .as_deref()
                .is_some_and(|n| n.ends_with("(renamed)"))
        })
        .count()
}

pub fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub fn unix_client(s: &Setup) -> reqwest::Client {
    reqwest::Client::builder()
        .unix_socket(s.socket())
        .build()
        .unwrap()
}

pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.text().await.unwrap()
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Polls `GET /runs/{id}` until the run is done.
pub async fn wait_run(client: &reqwest::Client, run_id: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let view = get_json(client, &format!("http://orgsync/runs/{run_id}")).await;
        if ["finished", "failed", "cancelled"].contains(&view["state"].as_str().unwrap()) {
            return view;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The process set itself up at start: umask 0077 and no core file.
pub fn assert_hardened(pid: u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Umask:\t0077"), "{status}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().skip(4).take(2).all(|v| v == "0"),
        "{core}"
    );
}

pub async fn post_sync(client: &reqwest::Client, body: &str) -> (u16, serde_json::Value) {
    let response = client
        .post("http://orgsync/connectors/hq/sync")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}
