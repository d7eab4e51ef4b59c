//! The daemon with upstream events on (`[daemon.events]`, `[connectors.hq.events]`), and events
//! put into its state directly while it is stopped (what a receiver stored before a kill).

use super::daemon::{Setup, connector_text, get_json, rand_suffix};
use orgsync::events::{Notice, StoredEvent};
use orgsync::model::UserKey;
use std::time::{Duration, Instant};

/// WeCom's sample EncodingAESKey (43 characters): a well-formed key, not a secret.
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const TOKEN: &str = "QDG6eK";

/// `[daemon.events]` on `listen`, hq receiving WeCom events (gathered for `window`), and a
/// second connector, branch, without events.
pub fn events_config(s: &Setup, listen: std::net::SocketAddr, window: &str) -> String {
    let dir = s.dir.path();
    std::fs::write(dir.join("events-token"), TOKEN).unwrap();
    std::fs::write(dir.join("events-aes-key"), AES_KEY).unwrap();
    format!(
        r#"
[daemon.events]
listen = "{listen}"

[connectors.hq.events]
token = "file:{dir}/events-token"
aes_key = "file:{dir}/events-aes-key"
window = "{window}"
{branch}
"#,
        dir = dir.display(),
        branch = connector_text(s, "branch", "0 0 3 * * *"),
    )
}

pub fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// An event naming these people, received now.
pub fn people(event_type: &str, keys: &[&str]) -> StoredEvent {
    event(
        event_type,
        Notice::People {
            keys: keys.iter().map(|k| UserKey::new(*k)).collect(),
        },
    )
}

pub fn event(event_type: &str, notice: Notice) -> StoredEvent {
    StoredEvent {
        event_type: event_type.into(),
        received_at: jiff::Timestamp::now(),
        occurred_at: None,
        notices: vec![notice],
    }
}

/// Stores `events` for hq as the receiver would (the daemon must be stopped: it holds the
/// state's lock).
pub fn store_events(s: &Setup, events: &[StoredEvent]) {
    let db = orgsync::state::StateDb::open(&s.dir.path().join("state")).unwrap();
    for (i, event) in events.iter().enumerate() {
        let dedupe = format!("test-{}-{i}", rand_suffix());
        db.accept_event("hq", &dedupe, event).unwrap();
    }
}

/// hq's events still in the state (the daemon must be stopped).
pub fn queued_events(s: &Setup) -> usize {
    let db = orgsync::state::StateDb::open(&s.dir.path().join("state")).unwrap();
    db.queued_events("hq").unwrap().len()
}

/// The report of `connector`'s newest finished run that answered events, once there are `runs`
/// of them.
pub async fn wait_event_run(
    client: &reqwest::Client,
    connector: &str,
    runs: usize,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let listed = get_json(
            client,
            &format!("http://orgsync/runs?connector={connector}&limit=50"),
        )
        .await;
        let event_runs: Vec<&serde_json::Value> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["events"].as_u64().is_some_and(|n| n > 0))
            .collect();
        if event_runs.len() >= runs {
            let id = event_runs[0]["run_id"].as_str().unwrap();
            return get_json(client, &format!("http://orgsync/runs/{id}/report")).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no event-driven run #{runs} of {connector} within 30 s: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `check` holds, for at most `bound`.
pub async fn eventually(bound: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the daemon's metrics have every one of `lines` (the worker counts a run once it
/// has removed its events from the state).
pub async fn wait_metrics(client: &reqwest::Client, lines: &[&str]) {
    let started = Instant::now();
    loop {
        let metrics = super::daemon::get_text(client, "http://orgsync/metrics").await;
        let missing: Vec<&&str> = lines.iter().filter(|l| !metrics.contains(**l)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{missing:?} missing from:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The value of one sample of the daemon's metrics (`name{labels}`), 0 when absent.
pub async fn metric(client: &reqwest::Client, sample: &str) -> u64 {
    let metrics = super::daemon::get_text(client, "http://orgsync/metrics").await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
