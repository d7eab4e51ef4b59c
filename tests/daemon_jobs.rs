//! With `orgsync run` going, every command that needs the state works through the daemon:
//! `diff --save`, `apply`, `explain`, `snapshot rebuild`; and a plan the deletion guard refused
//! waits in the daemon until an operator approves exactly it, or dismisses it.

mod common;

use common::daemon::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn review_apply_explain_and_rebuild_work_while_the_daemon_runs() {
    let s = setup().await;
    let mut daemon = Daemon::start(&s).await;
    let first = cli(&s, &["sync", "hq", "--wait", "--format", "json"]);
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明"));

    // diff --save: the daemon plans, seals with its key; the CLI writes the file.
    rename(&s, "zhou", "周明明");
    let plan = s.dir.path().join("plan.json");
    let saved = cli(&s, &["diff", "hq", "--save", plan.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", text(&saved));
    let said = text(&saved);
    assert!(said.contains("by the orgsync daemon"), "{said}");
    assert!(said.contains("Saved the plan (1 steps)"), "{said}");
    assert!(said.contains("周明明"), "the dry run's report: {said}");
    assert_eq!(
        display_name(&s, "zhou").as_deref(),
        Some("周明"),
        "a review writes nothing"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a plan holds names: private");

    // A changed byte breaks the seal: refused with exit 7, nothing written.
    let forged = s.dir.path().join("forged.json");
    std::fs::write(
        &forged,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("周明明", "周某某"),
    )
    .unwrap();
    let refused = cli(&s, &["apply", forged.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(7), "{}", text(&refused));
    assert!(text(&refused).contains("seal"), "{}", text(&refused));
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明"));

    // apply: the daemon applies exactly the plan, once.
    let applied = cli(&s, &["apply", plan.to_str().unwrap(), "--format", "json"]);
    assert!(applied.status.success(), "{}", text(&applied));
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    assert_eq!(report["outcome"]["state"], "applied", "{report}");
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明明"));
    let again = cli(&s, &["apply", plan.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(7), "{}", text(&again));
    assert!(
        text(&again).contains("has changed since the plan was made"),
        "{}",
        text(&again)
    );
    // The apply is in the daemon's history under the id the daemon gave it.
    let shown = cli(
        &s,
        &[
            "reports",
            "show",
            report["run_id"].as_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(shown.status.success(), "{}", text(&shown));

    // explain, through the daemon.
    let explained = cli(&s, &["explain", "hq", "lin"]);
    assert!(explained.status.success(), "{}", text(&explained));
    let said = String::from_utf8_lossy(&explained.stdout);
    assert!(said.contains("林晓"), "{said}");

    // snapshot rebuild, through the daemon; the next sync has nothing to do.
    let rebuilt = cli(&s, &["snapshot", "rebuild", "hq"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    assert!(
        String::from_utf8_lossy(&rebuilt.stdout).contains("Rebuilt the snapshot of connector hq"),
        "{}",
        text(&rebuilt)
    );
    let after = cli(&s, &["sync", "hq", "--wait", "--format", "json"]);
    assert!(after.status.success(), "{}", text(&after));
    let report: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(
        report["steps"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );

    // An unknown connector is a configuration error, as in-process.
    let unknown = cli(&s, &["explain", "nope", "lin"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown));

    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", s.log());
}

async fn post(client: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let response = client.post(url).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// The set-up with a deletion guard that refuses more than one removal.
async fn guarded_setup() -> Setup {
    let s = setup().await;
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config).unwrap().replace(
            "max_deletion_ratio = 1.0",
            "max_deletion_ratio = 1.0\nmax_deletions = 1",
        ),
    )
    .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_plan_waits_for_approval_and_applies_exactly() {
    let s = guarded_setup().await;
    let _daemon = Daemon::start(&s).await;
    let http = unix_client(&s);
    let (_, run) = post_sync(&http, "").await;
    let first = wait_run(&http, run["run_id"].as_str().unwrap()).await;
    assert_eq!(first["outcome"]["state"], "applied", "{first}");

    // Three people leave: more than max_deletions, so the guard refuses and the plan waits.
    let leavers = ["zhou", "leaver", "sales1"];
    s.wecom
        .update_org(|org| org.users.retain(|u| !leavers.contains(&u.id.as_str())));
    let refuse = |http: reqwest::Client| async move {
        let (_, run) = post_sync(&http, "").await;
        let id = run["run_id"].as_str().unwrap().to_owned();
        let view = wait_run(&http, &id).await;
        assert_eq!(view["outcome"]["state"], "refused", "{view}");
        id
    };
    let refused = refuse(http.clone()).await;
    let plans = get_json(&http, "http://orgsync/plans").await;
    assert_eq!(plans.as_array().map(Vec::len), Some(1), "{plans}");
    assert_eq!(plans[0]["run_id"], refused.as_str());
    assert_eq!(plans[0]["connector"], "hq");
    assert_eq!(plans[0]["counts"]["deactivate"], 3, "{plans}");
    assert!(
        plans[0]["reason"]
            .as_str()
            .unwrap()
            .contains("max_deletions"),
        "{plans}"
    );

    // Dismissed: gone; nothing written.
    let (status, _) = post(&http, &format!("http://orgsync/plans/{refused}/dismiss")).await;
    assert_eq!(status, 204);
    let plans = get_json(&http, "http://orgsync/plans").await;
    assert_eq!(plans.as_array().map(Vec::len), Some(0), "{plans}");
    let (status, body) = post(&http, &format!("http://orgsync/plans/{refused}/approve")).await;
    assert_eq!(status, 404, "{body}");
    let active = |s: &Setup| s.scim.users().iter().filter(|u| u.active).count();
    assert_eq!(active(&s), 7);

    // Refused again, then approved: exactly that plan is applied, its removals included.
    let refused = refuse(http.clone()).await;
    let (status, approval) = post(&http, &format!("http://orgsync/plans/{refused}/approve")).await;
    assert_eq!(status, 202, "{approval}");
    let applied = wait_run(&http, approval["run_id"].as_str().unwrap()).await;
    assert_eq!(applied["outcome"]["state"], "applied", "{applied}");
    assert_eq!(applied["kind"], "apply_plan", "{applied}");
    assert_eq!(applied["counts"]["deactivate"], 3, "{applied}");
    assert_eq!(active(&s), 4);
    let plans = get_json(&http, "http://orgsync/plans").await;
    assert_eq!(
        plans.as_array().map(Vec::len),
        Some(0),
        "approved plans are done: {plans}"
    );

    // A refusal made stale by a later run that writes is dropped, never applied late.
    s.wecom
        .update_org(|org| org.users.retain(|u| u.id != "wang" && u.id != "lin"));
    let stale = refuse(http.clone()).await;
    assert_eq!(
        get_json(&http, "http://orgsync/plans")
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let (_, run) = post_sync(&http, r#"{"allow_deletions": true}"#).await;
    let view = wait_run(&http, run["run_id"].as_str().unwrap()).await;
    assert_eq!(view["outcome"]["state"], "applied", "{view}");
    let plans = get_json(&http, "http://orgsync/plans").await;
    assert_eq!(plans.as_array().map(Vec::len), Some(0), "{plans}");
    let (status, _) = post(&http, &format!("http://orgsync/plans/{stale}/approve")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn orgsync_plans_lists_and_approves_with_or_without_the_daemon() {
    let s = guarded_setup().await;
    let mut daemon = Daemon::start(&s).await;
    let first = cli(&s, &["sync", "hq", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));
    s.wecom
        .update_org(|org| org.users.retain(|u| u.id != "zhou" && u.id != "leaver"));
    let refused = cli(&s, &["sync", "hq", "--wait", "--format", "json"]);
    assert_eq!(refused.status.code(), Some(6), "{}", text(&refused));
    let report: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    let run_id = report["run_id"].as_str().unwrap().to_owned();

    let listed = cli(&s, &["plans", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let said = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        said.contains(&run_id) && said.contains("2 deactivate"),
        "{said}"
    );

    // The plan outlives the daemon: it is in the state.
    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", s.log());
    let listed = cli(&s, &["plans", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&run_id),
        "{}",
        text(&listed)
    );
    let wrong = cli(&s, &["plans", "approve", "hq-nope"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    let active = |s: &Setup| s.scim.users().iter().filter(|u| u.active).count();
    assert_eq!(active(&s), 7, "nothing written before the approval");
    let approved = cli(&s, &["plans", "approve", &run_id, "--format", "json"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let report: serde_json::Value = serde_json::from_slice(&approved.stdout).unwrap();
    assert_eq!(report["outcome"]["state"], "applied", "{report}");
    assert_eq!(active(&s), 5);
    let listed = cli(&s, &["plans", "list"]);
    assert!(listed.stdout.is_empty(), "{}", text(&listed));
    assert!(
        text(&listed).contains("No plan is waiting"),
        "{}",
        text(&listed)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_one_person_and_explain_by_name_through_the_daemon() {
    let s = setup().await;
    let mut daemon = Daemon::start(&s).await;
    let first = cli(&s, &["sync", "hq", "--wait"]);
    assert!(first.status.success(), "{}", text(&first));

    // Two people change upstream; syncing one applies only theirs.
    rename(&s, "zhou", "周明明");
    rename(&s, "wang", "林晓");
    let one = cli(&s, &["sync", "hq", "--person", "zhou", "--format", "json"]);
    assert!(one.status.success(), "{}", text(&one));
    assert!(
        text(&one).contains("by the orgsync daemon"),
        "{}",
        text(&one)
    );
    let report: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(report["outcome"]["state"], "applied", "{report}");
    assert_eq!(
        report["focus"]["people"],
        serde_json::json!(["zhou"]),
        "{report}"
    );
    assert_eq!(display_name(&s, "zhou").as_deref(), Some("周明明"));
    assert_eq!(
        display_name(&s, "wang").as_deref(),
        Some("王芳"),
        "only the person asked for"
    );
    // The run is the daemon's, in its history.
    let http = unix_client(&s);
    let view = get_json(
        &http,
        &format!("http://orgsync/runs/{}", report["run_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(view["kind"], "people", "{view}");
    assert!(
        view["progress"]["pull"]["calls"].as_u64() < Some(10),
        "a focused pull: {view}"
    );

    // By e-mail: one match, explained. By a shared name: both listed, none explained.
    let by_email = cli(&s, &["explain", "hq", "ZHOU@example.cn"]);
    assert!(by_email.status.success(), "{}", text(&by_email));
    assert!(
        text(&by_email).contains("周明明 (zhou)"),
        "{}",
        text(&by_email)
    );
    // Its run showed the pull's progress, as the console's person search follows it.
    let stderr = String::from_utf8_lossy(&by_email.stderr).into_owned();
    let run_id = stderr
        .split_whitespace()
        .skip_while(|w| *w != "Run")
        .nth(1)
        .unwrap_or_else(|| panic!("no run id in {stderr}"));
    let view = get_json(&http, &format!("http://orgsync/runs/{run_id}")).await;
    assert_eq!(view["kind"], "explain", "{view}");
    assert!(
        view["progress"]["pull"]["calls"].as_u64() > Some(0),
        "{view}"
    );
    let shared = cli(&s, &["explain", "hq", "林晓"]);
    assert!(shared.status.success(), "{}", text(&shared));
    let out = String::from_utf8_lossy(&shared.stdout);
    assert!(out.contains("2 people match"), "{out}");
    assert!(out.contains("lin  林晓  lin@example.cn"), "{out}");
    assert!(out.contains("wang  林晓  wang@example.cn"), "{out}");
    let nobody = cli(&s, &["explain", "hq", "nobody@example.cn"]);
    assert_eq!(nobody.status.code(), Some(1), "{}", text(&nobody));

    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", s.log());

    // Without the daemon, status still says when it would run, in the schedule's zone.
    let offline = cli(&s, &["status"]);
    assert!(offline.status.success(), "{}", text(&offline));
    let said = text(&offline);
    assert!(said.contains("orgsync is not running"), "{said}");
    assert!(
        said.contains("schedule  0 0 3 * * * in UTC (the system's local zone); next run ")
            && said.contains(" 03:00:00 +00:00 once the daemon runs"),
        "{said}"
    );
}
