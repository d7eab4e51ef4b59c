//! Upstream change events through `orgsync run` (the real binary): the receiver on its own
//! listener, and the worker that turns the events kept in the state into runs — focused on the
//! people they name, or full — removing them only once their run has finished, so a kill at any
//! point loses nothing.

mod common;

use common::daemon::*;
use common::events::*;
use orgsync::events::Notice;
use std::time::Duration;

/// The people a burst renames.
const BURST: [&str; 6] = ["ceo", "boss2", "lin", "wang", "sales1", "leaver"];

fn rename_burst(org: &mut emulators::fixture::Org) {
    for u in org
        .users
        .iter_mut()
        .filter(|u| BURST.contains(&u.id.as_str()))
    {
        u.name = format!("{} (renamed)", u.name);
    }
}

/// The burst reached the target in at most three runs (`runs`: the counter of event runs,
/// `before`: its value before the burst).
async fn assert_coalesced(s: &Setup, client: &reqwest::Client, runs: &str, before: u64) {
    eventually(Duration::from_secs(10), "the burst in the target", || {
        renamed(&s.scim) == BURST.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = metric(client, runs).await - before;
    assert!(
        (1..=3).contains(&runs),
        "{runs} runs for a burst of {}",
        BURST.len()
    );
}

/// A delete event named `id`, still upstream: re-read, neither removed nor deactivated.
fn assert_still_active(s: &Setup, id: &str) {
    let user = s
        .scim
        .users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(id))
        .expect("still in the target");
    assert!(user.active, "{id} still active");
}

/// Connector `name`'s SCIM target (the emulator) and a policy that allows removals.
fn scim_target(s: &Setup, name: &str) -> String {
    format!(
        "[connectors.{name}.target]\nkind = \"scim\"\nbase_url = \"{scim}\"\n\
         token = \"file:{dir}/scim-token\"\nconcurrency = 1\n\n\
         [connectors.{name}.policy]\nmax_deletion_ratio = 1.0\n",
        scim = s.scim.base_url(),
        dir = s.dir.path().display(),
    )
}

async fn stop(mut daemon: Daemon) {
    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status}");
}

/// The steps a full dry run of `connector` through the daemon plans now.
fn full_plan_steps(s: &Setup, connector: &str) -> usize {
    let diff = cli(s, &["diff", connector, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap_or_else(|e| {
        panic!("diff --format json: {e}: {}", text(&diff));
    });
    report["steps"].as_array().map(Vec::len).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_kept_in_the_state_run_focused_or_full_and_never_remove_on_their_word() {
    let s = setup().await;
    let listen = free_port();
    s.write_config(&events_config(&s, listen, "200ms"));
    let client = unix_client(&s);
    let daemon = Daemon::start(&s).await;
    let first = cli(&s, &["sync", "hq", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明"));

    // The receiver answers only for connectors with HTTP events.
    let http = reqwest::Client::new();
    for path in ["/events/nobody", "/events/branch", "/elsewhere"] {
        let status = http
            .post(format!("http://{listen}{path}"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 404, "{path}");
    }
    stop(daemon).await;

    // Two people change upstream; events announce one of them, and a "deleted" event names
    // someone still there. The events were stored before a stop, as a receiver stores them.
    rename(&s, "zhou", "周明明");
    rename(&s, "lin", "林晓晓");
    store_events(
        &s,
        &[
            people("change_contact/update_user", &["zhou"]),
            people("change_contact/delete_user", &["leaver"]),
            event(
                "change_contact/update_tag",
                Notice::Ignored {
                    event_type: "change_contact/update_tag".into(),
                },
            ),
        ],
    );
    let daemon = Daemon::start(&s).await;
    let report = wait_event_run(&client, "hq", 1).await;
    assert_eq!(report["events"]["events"], 3, "{report}");
    assert_eq!(report["events"]["reach"]["kind"], "people", "{report}");
    assert_eq!(
        report["events"]["reach"]["keys"],
        serde_json::json!(["leaver", "zhou"])
    );
    assert_eq!(report["outcome"]["state"], "applied", "{report}");
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明明"));
    assert_eq!(
        display_name(&s, "lin").as_deref(),
        Some("林晓"),
        "a focused run reads only the people the events name"
    );
    let leaver = s
        .scim
        .users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some("leaver"))
        .expect("a delete event for someone still upstream removes nobody");
    assert!(leaver.active, "and deactivates nobody");
    wait_metrics(
        &client,
        &[
            "orgsync_event_runs_total{connector=\"hq\",reach=\"people\"} 1\n",
            "orgsync_events_coalesced_total{connector=\"hq\"} 2\n",
            "orgsync_event_lag_seconds_count{connector=\"hq\"} 3\n",
        ],
    )
    .await;
    stop(daemon).await;
    assert_eq!(queued_events(&s), 0, "the answered events are gone");

    // A scope change: a full run, which finds lin's change too.
    store_events(&s, &[event("change_contact/update_party", Notice::Scope)]);
    let daemon = Daemon::start(&s).await;
    let report = wait_event_run(&client, "hq", 2).await;
    assert_eq!(report["events"]["reach"]["kind"], "everyone", "{report}");
    assert_eq!(display_name(&s, "lin").as_deref(), Some("林晓晓"));
    wait_metrics(
        &client,
        &["orgsync_event_runs_total{connector=\"hq\",reach=\"everyone\"} 1\n"],
    )
    .await;
    assert_eq!(full_plan_steps(&s, "hq"), 0, "nothing left to do");
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_an_event_run_loses_nothing_and_the_next_start_converges() {
    let s = setup().await;
    let listen = free_port();
    s.write_config(&events_config(&s, listen, "100ms"));
    let client = unix_client(&s);
    let daemon = Daemon::start(&s).await;
    let first = cli(&s, &["sync", "hq", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));
    stop(daemon).await;

    rename(&s, "zhou", "周明明");
    store_events(&s, &[people("change_contact/update_user", &["zhou"])]);
    // Slow upstream answers keep the focused run going long enough to be killed mid-way.
    s.wecom.set_faults(emulators::faults::Faults {
        delay: Duration::from_millis(400),
        ..Default::default()
    });
    let mut daemon = Daemon::start(&s).await;
    let started = std::time::Instant::now();
    loop {
        let connectors = get_json(&client, "http://orgsync/connectors").await;
        let hq = connectors
            .as_array()
            .and_then(|all| all.iter().find(|c| c["name"] == "hq"))
            .cloned()
            .unwrap_or_default();
        if hq["running"].is_string() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{connectors}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10)).await;
    drop(daemon);
    assert_eq!(
        queued_events(&s),
        1,
        "the event stays until its run finished"
    );
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明"));

    s.wecom.set_faults(Default::default());
    let daemon = Daemon::start(&s).await;
    let report = wait_event_run(&client, "hq", 1).await;
    assert_eq!(report["events"]["reach"]["kind"], "people", "{report}");
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明明"));
    assert_eq!(
        full_plan_steps(&s, "hq"),
        0,
        "the next full run plans nothing"
    );
    wait_metrics(
        &client,
        &["orgsync_event_runs_total{connector=\"hq\",reach=\"people\"} 1\n"],
    )
    .await;
    stop(daemon).await;
    assert_eq!(queued_events(&s), 0);

    // A run that fails (the upstream answers 502 to everything) keeps its events for a retry.
    rename(&s, "zhou", "周明明明");
    store_events(&s, &[people("change_contact/update_user", &["zhou"])]);
    s.wecom.set_faults(emulators::faults::Faults {
        http_5xx_every: Some(1),
        ..Default::default()
    });
    let daemon = Daemon::start(&s).await;
    eventually(Duration::from_secs(20), "a failed event run", || {
        s.log()
            .contains("The run for these events failed; they are kept")
    })
    .await;
    stop(daemon).await;
    assert_eq!(queued_events(&s), 1, "kept after a failed run");
    s.wecom.set_faults(Default::default());
    let daemon = Daemon::start(&s).await;
    wait_metrics(
        &client,
        &["orgsync_event_runs_total{connector=\"hq\",reach=\"people\"} 1\n"],
    )
    .await;
    // This daemon's first event run: the one that found the upstream answering again.
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明明明"));
    stop(daemon).await;
    assert_eq!(queued_events(&s), 0);
}

// ---- Feishu/Lark: the emulator's signed, encrypted v2 events into the daemon's receiver ----

const FEISHU_TOKEN: &str = "vtok-daemon";
const FEISHU_KEY: &str = "ekey-daemon";
const FS_PEOPLE_RUNS: &str = "orgsync_event_runs_total{connector=\"fs\",reach=\"people\"}";

/// A Feishu emulator whose events go to the daemon's receiver, and connector fs on it.
async fn feishu_setup(s: &Setup, listen: std::net::SocketAddr) -> emulators::feishu::FeishuHandle {
    use emulators::feishu::{EventPush, FeishuConfig};
    let feishu = emulators::feishu::start(
        common::small_org(),
        FeishuConfig {
            enforce_rate_limits: false,
            events: Some(EventPush {
                encrypt_key: Some(FEISHU_KEY.into()),
                retry_delays: vec![Duration::from_millis(200); 3],
                ..EventPush::new(format!("http://{listen}/events/fs"), FEISHU_TOKEN)
            }),
            ..FeishuConfig::default()
        },
    )
    .await
    .unwrap();
    let dir = s.dir.path();
    std::fs::write(dir.join("feishu-secret"), &feishu.config().app_secret).unwrap();
    std::fs::write(dir.join("feishu-token"), FEISHU_TOKEN).unwrap();
    std::fs::write(dir.join("feishu-key"), FEISHU_KEY).unwrap();
    s.write_config(&format!(
        r#"
[daemon.events]
listen = "{listen}"

[connectors.fs]
[connectors.fs.source]
kind = "feishu"
app_id = "{app}"
app_secret = "file:{dir}/feishu-secret"
api_base = "{base}"
rate_limits = []

{target}

[connectors.fs.events]
verification_token = "file:{dir}/feishu-token"
encrypt_key = "file:{dir}/feishu-key"
window = "300ms"
"#,
        app = feishu.config().app_id,
        dir = dir.display(),
        base = feishu.base_url(),
        target = scim_target(s, "fs"),
    ));
    feishu
}

/// Sends a request the way the platform does; the status and the body.
async fn send_feishu(
    listen: std::net::SocketAddr,
    request: &emulators::feishu::EventRequest,
) -> (u16, String) {
    let mut post = reqwest::Client::new()
        .post(format!("http://{listen}/events/fs"))
        .header("content-type", "application/json")
        .body(request.body.clone());
    for (name, value) in &request.headers {
        post = post.header(name, value);
    }
    let response = post.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn feishu_events_are_applied_in_seconds_and_forged_stale_replayed_or_wrong_key_ones_do_nothing()
 {
    let s = setup().await;
    let listen = free_port();
    let feishu = feishu_setup(&s, listen).await;
    let client = unix_client(&s);
    let daemon = Daemon::start(&s).await;
    // The URL verification through the daemon's receiver: the challenge answered.
    feishu.verify_url().await.unwrap();
    let first = cli(&s, &["sync", "fs", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));

    // A valid event: the change reaches the target within seconds, by a focused run.
    let changed = std::time::Instant::now();
    feishu.update_org(|org| {
        if let Some(u) = org.users.iter_mut().find(|u| u.id == "zhou") {
            u.name = "周明明".into();
        }
    });
    eventually(
        Duration::from_secs(10),
        "zhou renamed in the target",
        || display_name(&s, "zhou").as_deref() == Some("周明明"),
    )
    .await;
    assert!(
        changed.elapsed() < Duration::from_secs(5),
        "{:?}",
        changed.elapsed()
    );
    let report = wait_event_run(&client, "fs", 1).await;
    assert_eq!(report["events"]["reach"]["kind"], "people", "{report}");
    assert_eq!(
        report["events"]["types"]["contact.user.updated_v3"], 1,
        "{report}"
    );

    // Replayed, forged, stale and wrong-key requests: refused or stored once, never run.
    let delivered = feishu.event_deliveries();
    let accepted = delivered.last().unwrap().clone();
    assert_eq!(
        send_feishu(listen, &accepted.request).await.0,
        200,
        "a retry is answered"
    );
    let mut forged = accepted.request.clone();
    forged.set_header("X-Lark-Signature", "0".repeat(64));
    assert_eq!(send_feishu(listen, &forged).await, (403, "forged".into()));
    let crafter = feishu.event_crafter().unwrap();
    let now = jiff::Timestamp::now();
    let fresh = |event_type: &str, user: &str| {
        crafter.envelope(
            &crafter.event_id(),
            event_type,
            now.as_millisecond(),
            serde_json::json!({ "object": { "user_id": user } }),
        )
    };
    let old = crafter.request(
        &fresh("contact.user.updated_v3", "lin"),
        now.as_second() - 3600,
    );
    assert_eq!(send_feishu(listen, &old).await, (403, "stale".into()));
    let stranger = emulators::feishu::EventCrafter::new(
        crafter.app_id.clone(),
        FEISHU_TOKEN,
        Some("another key".into()),
    );
    let wrong_key = stranger.request(&fresh("contact.user.updated_v3", "lin"), now.as_second());
    assert_eq!(send_feishu(listen, &wrong_key).await.0, 403);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(metric(&client, FS_PEOPLE_RUNS).await, 1, "none of them ran");
    let metrics = get_text(&client, "http://orgsync/metrics").await;
    for line in [
        "orgsync_events_duplicate_total{connector=\"fs\"} 1\n",
        "orgsync_events_refused_total{connector=\"fs\",reason=\"forged\"} 2\n",
        "orgsync_events_refused_total{connector=\"fs\",reason=\"stale\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    // A "deleted" event for someone still upstream: re-read, not removed.
    let deleted = crafter.request(&fresh("contact.user.deleted_v3", "lin"), now.as_second());
    assert_eq!(send_feishu(listen, &deleted).await.0, 200);
    let report = wait_event_run(&client, "fs", 2).await;
    assert_eq!(
        report["events"]["types"]["contact.user.deleted_v3"], 1,
        "{report}"
    );
    assert_still_active(&s, "lin");

    // A burst: six renames, far fewer runs.
    let before = metric(&client, FS_PEOPLE_RUNS).await;
    feishu.update_org(rename_burst);
    assert_coalesced(&s, &client, FS_PEOPLE_RUNS, before).await;

    // A scope change: a full run.
    feishu.update_org(|org| org.scope.departments.push(4));
    wait_metrics(
        &client,
        &["orgsync_event_runs_total{connector=\"fs\",reach=\"everyone\"} 1\n"],
    )
    .await;
    let report = wait_event_run(&client, "fs", 1).await;
    assert_eq!(report["events"]["reach"]["kind"], "everyone", "{report}");
    assert_eq!(full_plan_steps(&s, "fs"), 0, "nothing left for a full run");
    stop(daemon).await;
}

// ---- WeCom: the contacts-sync callback (encrypted XML) into the receiver ----

const HQ_PEOPLE_RUNS: &str = "orgsync_event_runs_total{connector=\"hq\",reach=\"people\"}";

async fn send_wecom(
    listen: std::net::SocketAddr,
    request: &emulators::wecom::events::SignedRequest,
) -> (u16, String) {
    let query: String = request
        .query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = reqwest::Client::new()
        .post(format!("http://{listen}/events/hq?{query}"))
        .body(request.body.clone())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Percent-encodes everything but unreserved characters.
fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn wecom_callbacks_are_applied_in_seconds_and_forged_stale_replayed_or_wrong_key_ones_do_nothing()
 {
    let listen = free_port();
    let s = setup_with(emulators::wecom::WecomConfig {
        callback: Some(emulators::wecom::events::CallbackConfig {
            url: format!("http://{listen}/events/hq"),
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            kind: emulators::wecom::events::CallbackKind::Full,
        }),
        ..Default::default()
    })
    .await;
    s.write_config(&events_config(&s, listen, "300ms"));
    let client = unix_client(&s);
    let daemon = Daemon::start(&s).await;
    assert_eq!(
        s.wecom.verify_callback_url().await,
        Ok(true),
        "the echostr answered"
    );
    let first = cli(&s, &["sync", "hq", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));

    let changed = std::time::Instant::now();
    rename(&s, "zhou", "周明明");
    eventually(
        Duration::from_secs(10),
        "zhou renamed in the target",
        || display_name(&s, "zhou").as_deref() == Some("周明明"),
    )
    .await;
    assert!(
        changed.elapsed() < Duration::from_secs(5),
        "{:?}",
        changed.elapsed()
    );
    let report = wait_event_run(&client, "hq", 1).await;
    assert_eq!(report["events"]["reach"]["kind"], "people", "{report}");
    wait_metrics(&client, &[&format!("{HQ_PEOPLE_RUNS} 1\n")]).await;

    // Forged, stale, wrong-key and replayed callbacks: none runs.
    let corp = s.wecom.config().corpid.clone();
    let xml = s.wecom.event_deliveries().last().unwrap().xml.clone();
    let now = jiff::Timestamp::now().as_second();
    let seal = |token: &str, key: &str, xml: &str, at: i64| {
        emulators::wecom::events::signed_request(token, key, &corp, xml, at)
    };
    assert_eq!(
        send_wecom(listen, &seal("not-the-token", AES_KEY, &xml, now)).await,
        (403, "forged".into())
    );
    assert_eq!(
        send_wecom(listen, &seal(TOKEN, AES_KEY, &xml, now - 3600)).await,
        (403, "stale".into())
    );
    let other_key = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq";
    assert_eq!(
        send_wecom(listen, &seal(TOKEN, other_key, &xml, now))
            .await
            .0,
        403
    );
    // The accepted payload again (a replay, re-signed now): answered, stored once.
    assert_eq!(
        send_wecom(listen, &seal(TOKEN, AES_KEY, &xml, now)).await.0,
        200
    );
    wait_metrics(
        &client,
        &["orgsync_events_duplicate_total{connector=\"hq\"} 1\n"],
    )
    .await;

    // A "deleted" callback for someone still upstream: re-read, not removed.
    let deleted = xml
        .replace("update_user", "delete_user")
        .replace("zhou", "lin");
    assert_eq!(
        send_wecom(listen, &seal(TOKEN, AES_KEY, &deleted, now))
            .await
            .0,
        200
    );
    wait_metrics(&client, &[&format!("{HQ_PEOPLE_RUNS} 2\n")]).await;
    assert_still_active(&s, "lin");
    assert_eq!(
        metric(&client, HQ_PEOPLE_RUNS).await,
        2,
        "no run for the refused or replayed"
    );

    // A burst: six renames, far fewer runs.
    let before = metric(&client, HQ_PEOPLE_RUNS).await;
    s.wecom.update_org(rename_burst);
    assert_coalesced(&s, &client, HQ_PEOPLE_RUNS, before).await;
    assert_eq!(full_plan_steps(&s, "hq"), 0, "nothing left for a full run");
    stop(daemon).await;
}

// ---- DingTalk: encrypted HTTP callbacks into the receiver, and the Stream connection ----

const DT_TOKEN: &str = "dt-token";
const DT_PEOPLE_RUNS: &str = "orgsync_event_runs_total{connector=\"dt\",reach=\"people\"}";

/// A DingTalk emulator pushing its changes by `push`, and connector dt on it (its events by
/// `delivery`).
async fn dingtalk_setup(
    s: &Setup,
    listen: std::net::SocketAddr,
    push: emulators::dingtalk::EventPush,
    delivery: &str,
) -> emulators::dingtalk::DingtalkHandle {
    use emulators::dingtalk::DingtalkConfig;
    let dingtalk = emulators::dingtalk::start(
        common::small_org(),
        DingtalkConfig {
            enforce_rate_limits: false,
            events: Some(push),
            ..DingtalkConfig::default()
        },
    )
    .await
    .unwrap();
    let dir = s.dir.path();
    std::fs::write(dir.join("dt-secret"), &dingtalk.config().app_secret).unwrap();
    std::fs::write(dir.join("dt-token"), DT_TOKEN).unwrap();
    std::fs::write(dir.join("dt-aes-key"), AES_KEY).unwrap();
    s.write_config(&format!(
        r#"
[daemon.events]
listen = "{listen}"

[connectors.dt.source]
kind = "dingtalk"
app_key = "{app}"
app_secret = "file:{dir}/dt-secret"
api_base = "{base}"
rate_limits = []

{target}

[connectors.dt.events]
delivery = "{delivery}"
{keys}window = "300ms"
"#,
        app = dingtalk.config().app_key,
        dir = dir.display(),
        // Stream mode connects with the app's key and secret: the callback's keys are refused.
        keys = if delivery == "stream" {
            String::new()
        } else {
            format!(
                "token = \"file:{dir}/dt-token\"\naes_key = \"file:{dir}/dt-aes-key\"\n",
                dir = dir.display()
            )
        },
        base = dingtalk.base_url(),
        target = scim_target(s, "dt"),
    ));
    dingtalk
}

async fn send_dingtalk(
    listen: std::net::SocketAddr,
    request: &emulators::dingtalk::events::CallbackRequest,
) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!(
            "http://{listen}/events/dt?{}",
            request.query_string()
        ))
        .header("content-type", "application/json")
        .body(request.body.clone())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn rename_in(org: &mut emulators::fixture::Org, id: &str, name: &str) {
    if let Some(u) = org.users.iter_mut().find(|u| u.id == id) {
        u.name = name.into();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_http_callbacks_are_applied_in_seconds_and_forged_stale_or_wrong_key_ones_do_nothing()
 {
    let s = setup().await;
    let listen = free_port();
    let push = emulators::dingtalk::EventPush::Http {
        url: format!("http://{listen}/events/dt"),
        token: DT_TOKEN.into(),
        aes_key: AES_KEY.into(),
    };
    let dingtalk = dingtalk_setup(&s, listen, push, "http").await;
    let client = unix_client(&s);
    let daemon = Daemon::start(&s).await;
    dingtalk.verify_callback_url().await.unwrap();
    let first = cli(&s, &["sync", "dt", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));

    let changed = std::time::Instant::now();
    dingtalk.update_org(|org| rename_in(org, "zhou", "周明明"));
    eventually(
        Duration::from_secs(10),
        "zhou renamed in the target",
        || display_name(&s, "zhou").as_deref() == Some("周明明"),
    )
    .await;
    assert!(
        changed.elapsed() < Duration::from_secs(5),
        "{:?}",
        changed.elapsed()
    );
    let report = wait_event_run(&client, "dt", 1).await;
    assert_eq!(report["events"]["reach"]["kind"], "people", "{report}");

    // Forged, stale and wrong-key callbacks: refused and counted; none runs.
    let app_key = dingtalk.config().app_key.clone();
    let payload = dingtalk.event_deliveries().last().unwrap().payload.clone();
    let right =
        emulators::dingtalk::events::CallbackBuilder::new(DT_TOKEN, AES_KEY, &app_key).unwrap();
    let forged = right
        .clone()
        .signature("0123456789abcdef0123456789abcdef01234567");
    assert_eq!(
        send_dingtalk(listen, &forged.seal(&payload)).await,
        (403, "forged".into())
    );
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let old = right.clone().timestamp_ms(now_ms - 3_600_000);
    assert_eq!(
        send_dingtalk(listen, &old.seal(&payload)).await,
        (403, "stale".into())
    );
    let other_key = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq";
    let wrong =
        emulators::dingtalk::events::CallbackBuilder::new(DT_TOKEN, other_key, &app_key).unwrap();
    assert_eq!(send_dingtalk(listen, &wrong.seal(&payload)).await.0, 403);
    // The same accepted callback again: answered, stored once.
    let replay = right.seal(&payload);
    assert_eq!(send_dingtalk(listen, &replay).await.0, 200);
    assert_eq!(send_dingtalk(listen, &replay).await.0, 200);
    wait_metrics(
        &client,
        &[
            "orgsync_events_refused_total{connector=\"dt\",reason=\"stale\"} 1\n",
            "orgsync_events_duplicate_total{connector=\"dt\"} 2\n",
        ],
    )
    .await;
    assert_eq!(metric(&client, DT_PEOPLE_RUNS).await, 1, "none of them ran");

    // A "left" event for someone still upstream: re-read, not removed.
    let mut left = payload.clone();
    left["EventType"] = "user_leave_org".into();
    left["UserId"] = serde_json::json!(["lin"]);
    assert_eq!(send_dingtalk(listen, &right.seal(&left)).await.0, 200);
    wait_metrics(&client, &[&format!("{DT_PEOPLE_RUNS} 2\n")]).await;
    assert_still_active(&s, "lin");

    // A burst: many changes, one or two runs.
    let before = metric(&client, DT_PEOPLE_RUNS).await;
    dingtalk.update_org(rename_burst);
    assert_coalesced(&s, &client, DT_PEOPLE_RUNS, before).await;
    assert_eq!(full_plan_steps(&s, "dt"), 0, "nothing left for a full run");
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_stream_events_are_applied_in_seconds() {
    let s = setup().await;
    let listen = free_port();
    let dingtalk =
        dingtalk_setup(&s, listen, emulators::dingtalk::EventPush::Stream, "stream").await;
    let daemon = Daemon::start(&s).await;
    let first = cli(&s, &["sync", "dt", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));
    eventually(Duration::from_secs(10), "the Stream connection", || {
        dingtalk.stream_connections() > 0
    })
    .await;
    dingtalk.update_org(|org| rename_in(org, "zhou", "周明明"));
    eventually(
        Duration::from_secs(10),
        "zhou renamed in the target",
        || display_name(&s, "zhou").as_deref() == Some("周明明"),
    )
    .await;
    stop(daemon).await;
}
