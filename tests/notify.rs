//! Notifications end to end: each channel against its emulated robot (signatures, retries, the
//! rate limit), `orgsync notify test` on the binary, and the daemon telling every configured
//! channel exactly once of a failing upstream, a recovery and a guard refusal, across restarts,
//! with no personal data in any message.

mod common;

use common::daemon::*;
use emulators::robots::{self, RobotConfig, RobotHandle};
use orgsync::config::Config;
use orgsync::notify::{
    Channel, MemoryDedupe, Message, Notice, NoticeKind, Notices, NotifyMetrics, Pacing, RateLimit,
    Retry, SendError, build_routes, deliver,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DINGTALK_SECRET: &str = "SEC0123456789abcdef";
const FEISHU_SECRET: &str = "feishu-sign-secret";
const WEBHOOK_SECRET: &str = "whsec_notify";

/// Three robots and a webhook receiver, on loopback.
struct Robots {
    dingtalk: RobotHandle,
    wecom: RobotHandle,
    feishu: RobotHandle,
    webhook: emulators::webhook::ReceiverHandle,
}

impl Robots {
    async fn start(window: Duration) -> Robots {
        Robots {
            dingtalk: robots::start(
                RobotConfig::dingtalk("dt-token", DINGTALK_SECRET).window(window),
            )
            .await
            .unwrap(),
            wecom: robots::start(RobotConfig::wecom("wc-key").window(window))
                .await
                .unwrap(),
            feishu: robots::start(RobotConfig::feishu("fs-hook", FEISHU_SECRET).window(window))
                .await
                .unwrap(),
            webhook: emulators::webhook::start(emulators::webhook::ReceiverConfig::new(
                WEBHOOK_SECRET,
            ))
            .await
            .unwrap(),
        }
    }

    /// Every message each channel received: DingTalk, WeCom, Feishu, webhook.
    fn texts(&self) -> [Vec<String>; 4] {
        let texts = |robot: &RobotHandle| robot.messages().into_iter().map(|m| m.text).collect();
        [
            texts(&self.dingtalk),
            texts(&self.wecom),
            texts(&self.feishu),
            self.webhook
                .events()
                .into_iter()
                .map(|e| e.body["text"].as_str().unwrap_or_default().to_owned())
                .collect(),
        ]
    }

    /// Waits until every channel has `n` messages, then a moment more to see none is extra.
    async fn expect(&self, n: usize) -> [Vec<String>; 4] {
        let started = Instant::now();
        while self.texts().iter().any(|t| t.len() < n)
            && started.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let texts = self.texts();
        for (channel, got) in ["dingtalk", "wecom", "feishu", "webhook"]
            .iter()
            .zip(&texts)
        {
            assert_eq!(got.len(), n, "{channel} got {got:#?}");
        }
        texts
    }

    /// `[[notify]]` entries for all four, their secrets in files under `dir`.
    fn config(&self, dir: &Path, on: &str, dingtalk_secret: &str) -> String {
        let file = |name: &str, value: &str| {
            let path = dir.join(name);
            std::fs::write(&path, format!("{value}\n")).unwrap();
            format!("file:{}", path.display())
        };
        format!(
            r#"
[[notify]]
kind = "dingtalk_robot"
on = {on}
webhook = "{dt_url}"
secret = "{dt_secret}"

[[notify]]
kind = "wecom_robot"
name = "ops-wecom"
on = {on}
webhook = "{wc_url}"

[[notify]]
kind = "feishu_bot"
on = {on}
webhook = "{fs_url}"
secret = "{fs_secret}"

[[notify]]
kind = "webhook"
on = {on}
connectors = ["hq"]
url = "{hook}"
secret = "{hook_secret}"
"#,
            dt_url = file("dingtalk-url", &self.dingtalk.webhook_url()),
            dt_secret = file("dingtalk-secret", dingtalk_secret),
            wc_url = file("wecom-url", &self.wecom.webhook_url()),
            fs_url = file("feishu-url", &self.feishu.webhook_url()),
            fs_secret = file("feishu-secret", FEISHU_SECRET),
            hook = self.webhook.url(),
            hook_secret = file("webhook-secret", WEBHOOK_SECRET),
        )
    }
}

/// Nothing personal of the org in any message: no name, e-mail, phone number or user id.
fn assert_no_personal_data(texts: &[Vec<String>; 4]) {
    let org = common::small_org();
    for text in texts.iter().flatten() {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for user in &org.users {
            let personal = [Some(&user.name), user.email.as_ref(), user.mobile.as_ref()];
            for value in personal.into_iter().flatten() {
                assert!(!text.contains(value.as_str()), "{value:?} in {text}");
            }
            assert!(
                !words.contains(&user.id.as_str()),
                "id {:?} in {text}",
                user.id
            );
        }
    }
}

/// A config file with the four channels (and a connector `hq` that is never run).
fn write_config(robots: &Robots, dir: &Path, dingtalk_secret: &str) -> std::path::PathBuf {
    let path = dir.join("orgsync.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = \"{}\"\n{HQ}\n{}",
            dir.join("state").display(),
            robots.config(dir, r#"["run_failed"]"#, dingtalk_secret)
        ),
    )
    .unwrap();
    path
}

fn channels(robots: &Robots, dir: &Path, dingtalk_secret: &str) -> Vec<Channel> {
    let config = Config::load(&write_config(robots, dir, dingtalk_secret)).unwrap();
    config
        .notify
        .iter()
        .enumerate()
        .map(|(i, e)| Channel::build(e, i).unwrap())
        .collect()
}

fn quick() -> Retry {
    Retry {
        attempts: 4,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    }
}

#[tokio::test]
async fn each_channel_signs_as_its_platform_checks_and_a_wrong_secret_is_refused() {
    let robots = Robots::start(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    for channel in channels(&robots, dir.path(), DINGTALK_SECRET) {
        deliver(&channel, &Message::test(&channel.label), quick())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", channel.label));
    }
    let texts = robots.expect(1).await;
    assert!(
        texts[0][0].contains("**dingtalk_robot-1** is set up correctly"),
        "{texts:?}"
    );
    assert_eq!(robots.webhook.events()[0].event, "notify.test");

    let wrong = channels(&robots, dir.path(), "SECwrong");
    let error = deliver(&wrong[0], &Message::test("x"), quick())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::Refused { code: 310000, .. }),
        "{error}"
    );
    assert_eq!(
        robots.dingtalk.refusals().len(),
        1,
        "a refusal is not retried"
    );
}

#[tokio::test]
async fn a_failing_robot_is_retried_until_it_takes_the_message() {
    let robots = Robots::start(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let all = channels(&robots, dir.path(), DINGTALK_SECRET);
    robots.feishu.fail_next(2, 502);
    deliver(&all[2], &Message::test("f"), quick())
        .await
        .unwrap();
    assert_eq!(robots.feishu.messages().len(), 1);
    assert_eq!(robots.feishu.refusals().len(), 2);
    robots.wecom.fail_next(10, 503);
    let error = deliver(&all[1], &Message::test("w"), quick())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::Status { status: 503, .. }),
        "{error}"
    );
    assert_eq!(
        robots.wecom.refusals().len(),
        4,
        "four attempts, then given up"
    );
}

#[tokio::test]
async fn more_than_the_limit_is_delayed_not_dropped_nor_refused() {
    let window = Duration::from_millis(1500);
    let robots = Robots::start(window).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(&write_config(&robots, dir.path(), DINGTALK_SECRET)).unwrap();
    let metrics = NotifyMetrics::default();
    let notices = Notices::start(
        build_routes(&config).unwrap(),
        Arc::new(MemoryDedupe::default()),
        metrics.clone(),
        Pacing {
            limit: RateLimit { per: 20, window },
            retry: quick(),
        },
    );
    let started = Instant::now();
    let letters = "abcdefghijklmnopqrstuvwxy";
    for c in letters.chars() {
        // A different error each time: no de-duplication in the way.
        notices.send(Notice {
            connector: "hq".into(),
            run_id: Some(format!("hq-{c}")),
            at: jiff::Timestamp::now(),
            kind: NoticeKind::Failed {
                error: format!("pull failed: error {c}"),
            },
        });
    }
    robots.expect(25).await;
    assert!(started.elapsed() >= window, "{:?}", started.elapsed());
    assert_eq!(
        robots.dingtalk.refusals(),
        [],
        "orgsync kept under the robot's limit"
    );
    assert_eq!(robots.wecom.refusals(), []);
    assert_eq!(metrics.get("ops-wecom", "sent"), 25);
}

// The robots serve on other threads while the test waits for the binary.
#[tokio::test(flavor = "multi_thread")]
async fn notify_test_reports_each_channel_and_fails_on_a_wrong_secret() {
    let robots = Robots::start(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&robots, dir.path(), DINGTALK_SECRET);
    let ok = orgsync(&path).args(["notify", "test"]).output().unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    let said = String::from_utf8_lossy(&ok.stdout).into_owned();
    for line in [
        "sent    dingtalk_robot-1",
        "sent    ops-wecom",
        "sent    feishu_bot-3",
        "sent    webhook-4",
    ] {
        assert!(said.contains(line), "{said}");
    }
    write_config(&robots, dir.path(), "SECnot-the-robots");
    let failed = orgsync(&path).args(["notify", "test"]).output().unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let said = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert!(said.contains("FAILED  dingtalk_robot-1 (dingtalk_robot): the platform refused the message with code 310000"), "{said}");
    assert!(said.contains("sent    ops-wecom"), "{said}");
    assert!(
        !text(&failed).contains("SECnot-the-robots"),
        "{}",
        text(&failed)
    );
    assert!(!text(&failed).contains("dt-token"), "{}", text(&failed));
    // A DingTalk URL given to the WeCom robot: a configuration error naming the mix-up.
    std::fs::write(dir.path().join("wecom-url"), robots.dingtalk.webhook_url()).unwrap();
    let mixed = orgsync(&path).args(["check-config"]).output().unwrap();
    assert_eq!(mixed.status.code(), Some(3), "{}", text(&mixed));
    assert!(
        text(&mixed).contains("holds a DingTalk custom robot URL"),
        "{}",
        text(&mixed)
    );
}

/// A connector table that is never run (for `notify test`).
const HQ: &str = r#"[connectors.hq.source]
kind = "wecom"
corp_id = "c"
secret = "env:UNUSED"
agent_id = 1
[connectors.hq.target]
kind = "scim"
base_url = "https://scim.example.com/scim/v2"
token = "env:UNUSED"
"#;

async fn sync(s: &Setup) {
    // The outcome is the daemon's business here; only that the run finished matters.
    let _ = cli(s, &["sync", "hq", "--wait"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_tells_each_channel_once_of_a_failure_a_recovery_and_a_refusal() {
    let s = setup().await;
    let robots = Robots::start(Duration::from_secs(60)).await;
    let on = r#"["run_failed", "guard_refused", "breaker_tripped", "recovered"]"#;
    s.write_config(&robots.config(s.dir.path(), on, DINGTALK_SECRET));

    // A failing upstream (the app's secret is wrong): one message per channel.
    let wrong = [("TEST_WECOM_SECRET", "not-the-secret")];
    let daemon = Daemon::start_with(&s, &wrong).await;
    sync(&s).await;
    let texts = robots.expect(1).await;
    assert!(texts[0][0].contains("hq failed"), "{texts:?}");
    assert!(texts[1][0].contains("nothing was written"), "{texts:?}");
    // The same failure an hour later (here: at once) is not sent again…
    sync(&s).await;
    robots.expect(1).await;
    drop(daemon);
    // …nor after a restart.
    let daemon = Daemon::start_with(&s, &wrong).await;
    sync(&s).await;
    robots.expect(1).await;
    drop(daemon);

    // The secret fixed: the first success is a recovery, told once.
    let daemon = Daemon::start(&s).await;
    sync(&s).await;
    let texts = robots.expect(2).await;
    assert!(texts[2][1].contains("hq recovered"), "{texts:?}");
    sync(&s).await;
    robots.expect(2).await;
    drop(daemon);

    // People leave beyond the guard's limit: the plan waits, and the channels say how to approve.
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("max_deletion_ratio = 1.0", "max_deletion_ratio = 0.1");
    std::fs::write(&s.config, text).unwrap();
    s.wecom
        .update_org(|org| org.users.retain(|u| u.id != "zhou" && u.id != "leaver"));
    let mut daemon = Daemon::start(&s).await;
    sync(&s).await;
    let texts = robots.expect(3).await;
    for got in &texts {
        assert!(got[2].contains("2 removal(s)"), "{got:?}");
        assert!(got[2].contains("orgsync plans approve hq-"), "{got:?}");
    }
    assert_no_personal_data(&texts);
    let metrics = get_text(&unix_client(&s), "http://localhost/metrics").await;
    assert!(
        metrics.contains("orgsync_notify_sent_total{channel=\"ops-wecom\",outcome=\"sent\"} 1"),
        "{metrics}"
    );
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(15)).await;
}

/// One WeCom robot hearing of every event, with these Notices.
async fn every_event(robots: &Robots, dir: &Path) -> Notices {
    let path = write_config(robots, dir, DINGTALK_SECRET);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        r#"on = ["run_failed"]"#,
        r#"on = ["run_failed", "guard_refused", "breaker_tripped", "throttled_long", "recovered", "applied"]
throttled_long_after = "5m""#,
    );
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    Notices::start(
        build_routes(&config).unwrap(),
        Arc::new(MemoryDedupe::default()),
        NotifyMetrics::default(),
        Pacing {
            limit: RateLimit::default(),
            retry: quick(),
        },
    )
}

/// Waits (without blocking the runtime the channels run on) until `done`, at most 10 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A failure whose message the robot never took (down past every retry) is not kept quiet for
/// `remind_after`: its next occurrence is sent, and the one after that is quiet again.
#[tokio::test]
async fn an_undelivered_failure_is_sent_at_its_next_occurrence() {
    let robots = Robots::start(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let notices = every_event(&robots, dir.path()).await;
    let failed = || Notice {
        connector: "hq".into(),
        run_id: Some("hq-run".into()),
        at: jiff::Timestamp::now(),
        kind: NoticeKind::Failed {
            error: "pull failed: the upstream answered HTTP 502".into(),
        },
    };
    robots.wecom.fail_next(4, 503);
    notices.send(failed());
    until("four attempts", || robots.wecom.refusals().len() == 4).await;
    // The lane forgets the failure after its last attempt.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(robots.wecom.messages().is_empty());

    notices.send(failed());
    until("the failure sent again", || {
        robots.wecom.messages().len() == 1
    })
    .await;
    assert!(
        robots.wecom.messages()[0].text.contains("hq"),
        "{:?}",
        robots.wecom.messages()
    );

    notices.send(failed());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        robots.wecom.messages().len(),
        1,
        "delivered once: quiet again"
    );
}

#[tokio::test]
async fn each_event_has_its_message() {
    use orgsync::engine::{Progress, RunMode};
    use orgsync::plan::StepKind;
    use orgsync::pullers::Platform;
    use orgsync::pullers::http::{WaitReason, Waiting};
    let robots = Robots::start(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let notices = every_event(&robots, dir.path()).await;
    let notice = |kind| Notice {
        connector: "hq".into(),
        run_id: Some("hq-run".into()),
        at: jiff::Timestamp::now(),
        kind,
    };

    // A throttle shorter than throttled_long_after says nothing; a long one is told while it lasts.
    let (progress, watched) = tokio::sync::watch::channel(Progress::default());
    let watcher = tokio::spawn(orgsync::notify::watch_throttle(
        notices.clone(),
        "hq".into(),
        "hq-run".into(),
        watched,
    ));
    let wait = |seconds| {
        progress.send_modify(|p| {
            p.pull.waiting = Some(Waiting {
                platform: Platform::Wecom,
                reason: WaitReason::Throttled,
                seconds,
            })
        })
    };
    wait(60);
    wait(3600);
    watcher.await.unwrap();
    let texts = robots.expect(1).await;
    assert!(texts[1][0].contains("throttled by wecom"), "{texts:?}");
    assert!(texts[1][0].contains("60 minutes"), "{texts:?}");

    notices.send(notice(NoticeKind::BreakerTripped {
        failures: 5,
        left: 40,
    }));
    let texts = robots.expect(2).await;
    assert!(texts[1][1].contains("failed 5 steps in a row"), "{texts:?}");
    assert!(texts[1][1].contains("40 step(s) wait"), "{texts:?}");

    // The success after it: recovered, and applied with its counts.
    notices.send(notice(NoticeKind::Succeeded {
        mode: RunMode::Apply,
        counts: [(StepKind::Create, 3), (StepKind::Update, 2)].into(),
    }));
    let texts = robots.expect(4).await;
    assert!(texts[1][2].contains("hq recovered"), "{texts:?}");
    assert!(
        texts[1][3].contains("applied its changes: 3 create, 2 update"),
        "{texts:?}"
    );
    // A dry run applies nothing: no `applied`; nothing had failed: no `recovered`.
    notices.send(notice(NoticeKind::Succeeded {
        mode: RunMode::DryRun,
        counts: [(StepKind::Create, 3)].into(),
    }));
    robots.expect(4).await;
}
