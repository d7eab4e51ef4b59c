//! Upstream change events through `orgsync run` (the real binary): the receiver on its own
//! listener, and the worker that turns the events kept in the state into runs — focused on the
//! people they name, or full — removing them only once their run has finished, so a kill at any
//! point loses nothing.

mod common;

use common::daemon::*;
use common::events::*;
use orgsync::events::Notice;
use std::time::Duration;

fn rename(s: &Setup, id: &str, name: &str) {
    s.wecom.update_org(|org| {
        if let Some(user) = org.users.iter_mut().find(|u| u.id == id) {
            user.name = name.into();
        }
    });
}

fn display_name(s: &Setup, id: &str) -> Option<String> {
    s.scim
        .users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(id))
        .and_then(|u| u.display_name)
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
