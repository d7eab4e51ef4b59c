//! Event-driven sync, end to end: the daemon runs in this process, the WeCom emulator's change
//! callbacks (an older contacts-sync callback: every change, with its fields) go to the daemon's
//! receiver, and the daemon syncs what they name into the SCIM emulator with its default
//! settings (a 1 s window).
//!
//! - `latency`: changes one at a time at a steady pace; each one's lag runs from the emulator's
//!   change to the moment the SCIM emulator holds the new value (polled every 5 ms), so it
//!   covers the callback, the receiver, the window, the focused pull and the write.
//! - `storm`: many changes in a short time: the upstream calls they cost, the rate-limit errors
//!   (none expected), the time until the target holds every one, and a full run afterwards that
//!   must plan nothing (no change lost).

use crate::outcome::Outcome;
use crate::{Runtimes, thousands};
use emulators::generator::{GeneratorConfig, generate};
use emulators::scim::{ScimConfig, ScimHandle};
use emulators::wecom::events::{CallbackConfig, CallbackKind};
use emulators::wecom::{WecomConfig, WecomHandle};
use orgsync::daemon::client::Client;
use orgsync::daemon::types::SyncRequest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONNECTOR: &str = "bench";
/// 43 characters: a fixed EncodingAESKey for the emulated callback.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const EVENT_TOKEN: &str = "bench-event-token";

/// The daemon and the two emulators of one case.
struct Rig {
    _dir: tempfile::TempDir,
    wecom: WecomHandle,
    scim: ScimHandle,
    client: Client,
    stop: tokio::sync::oneshot::Sender<()>,
    daemon: tokio::task::JoinHandle<()>,
    _reload: tokio::sync::mpsc::Sender<()>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, value).expect("write a secret file");
    path
}

/// Starts the emulators (on their runtime), writes the daemon's config, starts the daemon (on
/// the current runtime) and syncs the org once, so events are planned against a snapshot.
async fn start(rt: &Runtimes, people: usize) -> Rig {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let org = generate(&GeneratorConfig {
        people,
        departments: (people / 20).max(1),
        seed: 19,
        ..GeneratorConfig::default()
    });
    let callback = CallbackConfig {
        url: format!("http://127.0.0.1:{port}/events/{CONNECTOR}"),
        token: EVENT_TOKEN.into(),
        encoding_aes_key: AES_KEY.into(),
        kind: CallbackKind::Full,
    };
    let (wecom, scim) = rt
        .emulators
        .spawn(async {
            let wecom = emulators::wecom::start(
                org,
                WecomConfig {
                    callback: Some(callback),
                    ..WecomConfig::default()
                },
            )
            .await
            .expect("WeCom emulator");
            let scim = emulators::scim::start(ScimConfig::default())
                .await
                .expect("SCIM emulator");
            (wecom, scim)
        })
        .await
        .expect("the emulators started");
    let secrets = dir.path();
    let config = format!(
        r#"state_dir = "{state}"
[daemon]
socket = "{socket}"
[daemon.events]
listen = "127.0.0.1:{port}"
[connectors.{CONNECTOR}.source]
kind = "wecom"
corp_id = "{corp}"
secret = "file:{corpsecret}"
agent_id = {agent}
api_base = "{wecom_url}"
[connectors.{CONNECTOR}.target]
kind = "scim"
base_url = "{scim_url}"
token = "file:{scim_token}"
[connectors.{CONNECTOR}.events]
token = "file:{event_token}"
aes_key = "file:{aes_key}"
"#,
        state = secrets.join("state").display(),
        socket = secrets.join("admin.sock").display(),
        corp = wecom.config().corpid,
        corpsecret = secret_file(secrets, "corpsecret", &wecom.config().corpsecret).display(),
        agent = wecom.config().agentid,
        wecom_url = wecom.base_url(),
        scim_url = scim.base_url(),
        scim_token = secret_file(secrets, "scim-token", scim.bearer_token()).display(),
        event_token = secret_file(secrets, "event-token", EVENT_TOKEN).display(),
        aes_key = secret_file(secrets, "aes-key", AES_KEY).display(),
    );
    let config_path = secret_file(secrets, "orgsync.toml", &config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (reload, reloads) = tokio::sync::mpsc::channel(1);
    let daemon = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = orgsync::daemon::run(&config_path, shutdown, reloads).await {
            panic!("the daemon failed: {e}");
        }
    });
    let socket = secrets.join("admin.sock");
    let client = loop {
        if let Ok(Some(client)) = Client::connect(&socket).await {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let rig = Rig {
        _dir: dir,
        wecom,
        scim,
        client,
        stop,
        daemon,
        _reload: reload,
    };
    let steps = rig.full_run().await;
    assert!(steps > 0, "the first run created nobody");
    rig
}

impl Rig {
    /// A full run through the daemon; its planned steps.
    async fn full_run(&self) -> usize {
        let accepted = self
            .client
            .sync(CONNECTOR, &SyncRequest::default())
            .await
            .expect("sync accepted");
        loop {
            let view = self.client.run(&accepted.run_id).await.expect("run view");
            if view.is_done() {
                let report = self
                    .client
                    .report(&accepted.run_id)
                    .await
                    .expect("the run's report");
                assert!(
                    matches!(report.outcome, orgsync::report::RunOutcome::Applied),
                    "the full run did not apply: {:?}",
                    report.outcome
                );
                return report.steps.len();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives person `index` a new title upstream; returns their id and the title.
    fn change(&self, index: usize, round: usize) -> (String, String) {
        self.change_many(&[(index, round)])
            .pop()
            .expect("a person changed")
    }

    /// Gives each `(person, round)` a new title upstream in one org update (the emulator
    /// copies the org per update, so a storm batches its changes per tick); each change is still
    /// its own callback.
    fn change_many(&self, changes: &[(usize, usize)]) -> Vec<(String, String)> {
        let mut changed = Vec::with_capacity(changes.len());
        self.wecom.update_org(|org| {
            let count = org.users.len();
            for (index, round) in changes {
                let user = &mut org.users[index % count];
                let title = format!("title {round}-{index}");
                user.title = Some(title.clone());
                changed.push((user.id.clone(), title));
            }
        });
        changed
    }

    fn holds(&self, id: &str, title: &str) -> bool {
        self.scim
            .user_by_external_id(id)
            .is_some_and(|u| u.title.as_deref() == Some(title))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.daemon.await;
        self.wecom.shutdown().await;
        self.scim.shutdown().await;
    }
}

/// People the generator leaves active and in scope: events about them must reach the target.
fn changeable(rig: &Rig) -> Vec<usize> {
    let org = rig.wecom.org();
    let synced: std::collections::HashSet<String> = rig
        .scim
        .users()
        .into_iter()
        .filter(|u| u.active)
        .filter_map(|u| u.external_id)
        .collect();
    org.users
        .iter()
        .enumerate()
        .filter(|(_, u)| synced.contains(&u.id))
        .map(|(i, _)| i)
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `changes` changes, `per_second` a second, each waited for in the target.
pub fn latency(rt: &Runtimes, people: usize, changes: usize, per_second: u32) -> Outcome {
    rt.orgsync.block_on(async {
        let rig = start(rt, people).await;
        let people = changeable(&rig);
        let calls_before = rig.wecom.total_calls();
        let started = Instant::now();
        let gap = Duration::from_secs(1) / per_second;
        let mut pending: BTreeMap<String, (String, Instant)> = BTreeMap::new();
        let mut lags = Vec::with_capacity(changes);
        let mut superseded = 0;
        let mut next = Instant::now();
        let mut made = 0;
        while lags.len() + superseded < changes {
            if made < changes && Instant::now() >= next {
                let (id, title) = rig.change(people[made % people.len()], made);
                // A person changed again before the first landed: the later value is awaited,
                // timed from the earlier change.
                let since = pending.get(&id).map_or_else(Instant::now, |(_, at)| *at);
                if pending.insert(id, (title, since)).is_some() {
                    superseded += 1;
                }
                made += 1;
                next += gap;
            }
            pending.retain(|id, (title, at)| {
                if rig.holds(id, title) {
                    lags.push(at.elapsed());
                    false
                } else {
                    true
                }
            });
            assert!(
                started.elapsed() < Duration::from_secs(60 + changes as u64),
                "changes did not reach the target: {} waiting",
                pending.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let wall = started.elapsed();
        let calls = rig.wecom.total_calls() - calls_before;
        let rejections = rig.wecom.rate_limit_rejections();
        let left = rig.full_run().await;
        rig.stop().await;
        assert_eq!(left, 0, "the full run after the changes found some the events missed");
        lags.sort();
        Outcome {
            case: format!("events-latency ({changes} changes)"),
            calls: Some(calls),
            wall_s: wall.as_secs_f64(),
            rate_limit_errors: Some(rejections),
            writes: Some(changes as u64),
            note: format!(
                "lag change → target: p50 {:.2} s, p99 {:.2} s, max {:.2} s; {per_second} changes/s; \
                 the full run after planned {left} steps",
                percentile(&lags, 50.0).as_secs_f64(),
                percentile(&lags, 99.0).as_secs_f64(),
                lags.last().copied().unwrap_or_default().as_secs_f64(),
            ),
            ..Outcome::default()
        }
    })
}

/// `changes` changes spread over `over`, then waited for together.
pub fn storm(rt: &Runtimes, people: usize, changes: usize, over: Duration) -> Outcome {
    rt.orgsync.block_on(async {
        let rig = start(rt, people).await;
        let people = changeable(&rig);
        let calls_before = rig.wecom.total_calls();
        let started = Instant::now();
        // Ten ticks a second, each changing its share of the storm.
        let ticks = (over.as_millis() / 100).max(1) as usize;
        let per_tick = changes.div_ceil(ticks);
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        let mut made = 0;
        for tick in 1..=ticks {
            let batch: Vec<(usize, usize)> = (made..(made + per_tick).min(changes))
                .map(|m| (people[m % people.len()], m))
                .collect();
            made += batch.len();
            latest.extend(rig.change_many(&batch));
            let due =
                started + Duration::from_millis(100) * u32::try_from(tick).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = started.elapsed();
        while !latest.iter().all(|(id, title)| rig.holds(id, title)) {
            assert!(
                started.elapsed() < over + Duration::from_secs(300),
                "the storm's changes did not all reach the target"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wall = started.elapsed();
        let calls = rig.wecom.total_calls() - calls_before;
        let rejections = rig.wecom.rate_limit_rejections();
        let left = rig.full_run().await;
        rig.stop().await;
        assert_eq!(
            left, 0,
            "the full run after the storm found changes the events lost"
        );
        Outcome {
            case: format!("events-storm ({} changes)", thousands(changes as u64)),
            calls: Some(calls),
            wall_s: wall.as_secs_f64(),
            rate_limit_errors: Some(rejections),
            writes: Some(latest.len() as u64),
            note: format!(
                "{} people changed, sent over {:.1} s, all in the target {:.1} s after the first; \
                 the full run after planned {left} steps",
                latest.len(),
                sent.as_secs_f64(),
                wall.as_secs_f64()
            ),
            ..Outcome::default()
        }
    })
}
