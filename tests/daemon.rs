//! `orgsync run`, the real binary, against in-process emulators: triggers through the CLI and the
//! admin API, coalescing, reload by SIGHUP, SIGTERM during a run, metrics, history retention.

mod common;

use common::daemon::*;
use emulators::faults::Faults;
use emulators::scim::ScimFaults;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn daemon_serves_syncs_reports_metrics_and_coalesces_triggers() {
    let s = setup().await;
    let mut daemon = Daemon::start(&s).await;
    let mode = std::fs::metadata(s.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660, "admin socket mode {mode:o}");
    assert_hardened(daemon.child.id());
    // WATCHDOG_USEC is set: the daemon pings.
    daemon.wait_notify("WATCHDOG=1").await;

    // "sync now" through the CLI, which finds the daemon and follows the run to its report.
    let synced = cli(&s, &["sync", "hq", "--wait", "--format", "json"]);
    assert!(synced.status.success(), "{}", text(&synced));
    let progress = String::from_utf8_lossy(&synced.stderr);
    assert!(
        progress.contains("started by the orgsync daemon"),
        "{progress}"
    );
    // Not a terminal: plain progress lines, ending with the finished one.
    assert!(progress.contains("finished: 12/12 steps"), "{progress}");
    let report: serde_json::Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert_eq!(report["outcome"]["state"], "applied");
    assert_eq!(report["counts"]["create"], 7);
    assert_eq!(s.scim.users().len(), 7);
    let first_run = report["run_id"].as_str().unwrap().to_owned();
    let status = daemon.wait_notify("STATUS=Last run").await;
    assert!(status.contains(&first_run), "{status}");

    // Through HTTP on the socket: a dry run, answered at once with its id.
    let http = unix_client(&s);
    let asked = Instant::now();
    let (code, accepted) = post_sync(&http, r#"{"mode": "dry-run"}"#).await;
    eprintln!("POST /connectors/hq/sync answered in {:?}", asked.elapsed());
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(accepted["mode"], "dry_run");
    let view = wait_run(&http, accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(view["outcome"]["state"], "planned", "{view}");
    let text_report = http
        .get(format!(
            "http://orgsync/runs/{}/report?format=text",
            accepted["run_id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text_report.contains("Plan: 0 steps"), "{text_report}");

    // Bad input: a clear JSON error, never a panic.
    let (code, error) = post_sync(&http, r#"{"mode": "sideways"}"#).await;
    assert_eq!(code, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("bad request body"),
        "{error}"
    );
    let (code, _) = post_sync(&http, "{not json").await;
    assert_eq!(code, 400);
    let unknown = cli(&s, &["sync", "nope"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("no connector named \"nope\""),
        "{}",
        text(&unknown)
    );
    let unknown = http
        .post("http://orgsync/connectors/nope/sync")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let bad_format = http
        .get(format!("http://orgsync/runs/{first_run}/report?format=pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_format.status().as_u16(), 400);
    let no_run = http.get("http://orgsync/runs/nope").send().await.unwrap();
    assert_eq!(no_run.status().as_u16(), 404);

    // Loopback TCP needs the bearer token.
    let tcp = reqwest::Client::new();
    let base = format!("http://{}", s.tcp);
    let refused = tcp.get(format!("{base}/connectors")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let wrong = tcp
        .get(format!("{base}/connectors"))
        .bearer_auth("admin-token-for-test")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let connectors: serde_json::Value = tcp
        .get(format!("{base}/connectors"))
        .bearer_auth(TCP_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hq = &connectors[0];
    assert_eq!(hq["name"], "hq");
    assert_eq!(hq["schedule"], "0 0 3 * * *");
    assert!(hq["next_run"].is_string(), "{hq}");
    assert_eq!(hq["last_run"]["outcome"]["state"], "planned", "{hq}");
    let body = connectors.to_string();
    assert!(!body.contains(s.scim.bearer_token()) && !body.contains(TCP_TOKEN));

    // Coalescing: with a slow upstream, a second trigger queues, a third joins the queued run.
    s.wecom.set_faults(Faults {
        delay: Duration::from_millis(150),
        ..Faults::default()
    });
    let (_, first) = post_sync(&http, "").await;
    let (_, second) = post_sync(&http, r#"{"mode": "dry-run"}"#).await;
    let (_, third) = post_sync(&http, r#"{"mode": "apply"}"#).await;
    assert_eq!(first["queued"], false, "{first}");
    assert_eq!(
        (&second["queued"], &second["coalesced"]),
        (&true.into(), &false.into())
    );
    assert_eq!(
        (&third["queued"], &third["coalesced"]),
        (&true.into(), &true.into())
    );
    assert_eq!(third["run_id"], second["run_id"]);
    assert_eq!(
        third["mode"], "apply",
        "an apply request upgrades the queued dry run"
    );
    let queued_view = get_json(
        &http,
        &format!("http://orgsync/runs/{}", second["run_id"].as_str().unwrap()),
    )
    .await;
    assert!(["queued", "running"].contains(&queued_view["state"].as_str().unwrap()));
    let a = wait_run(&http, first["run_id"].as_str().unwrap()).await;
    let b = wait_run(&http, second["run_id"].as_str().unwrap()).await;
    assert_eq!(a["state"], "finished");
    assert_eq!(b["mode"], "apply");
    assert!(
        b["started_at"].as_str() > a["finished_at"].as_str(),
        "{a} {b}"
    );
    s.wecom.set_faults(Faults::default());

    // Metrics from the four runs so far: 3 applied, 1 planned.
    let metrics = get_text(&http, "http://orgsync/metrics").await;
    for line in [
        "orgsync_runs_total{connector=\"hq\",outcome=\"applied\"} 3\n",
        "orgsync_runs_total{connector=\"hq\",outcome=\"planned\"} 1\n",
        "orgsync_steps_total{connector=\"hq\",kind=\"create\",outcome=\"applied\"} 7\n",
        "orgsync_pull_duration_seconds_count{connector=\"hq\"} 4\n",
        "orgsync_run_in_progress{connector=\"hq\"} 0\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(metrics.contains("orgsync_upstream_calls_total{connector=\"hq\",platform=\"wecom\",endpoint=\"/cgi-bin/user/list\"}"), "{metrics}");
    assert!(
        metrics.contains("orgsync_last_success_timestamp_seconds{connector=\"hq\"} 1"),
        "{metrics}"
    );

    // History through the CLI (the daemon holds the state; the CLI asks it): keep = 3.
    let listed = cli(&s, &["reports", "list", "hq", "--format", "json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(
        runs.iter().all(|r| r["run_id"] != first_run),
        "oldest run dropped"
    );
    assert_eq!(runs[0]["run_id"], second["run_id"], "newest first");
    let shown = cli(
        &s,
        &[
            "reports",
            "show",
            runs[1]["run_id"].as_str().unwrap(),
            "--format",
            "markdown",
        ],
    );
    assert!(shown.status.success(), "{}", text(&shown));
    assert!(
        String::from_utf8_lossy(&shown.stdout).starts_with('#'),
        "{}",
        text(&shown)
    );
    let compared = cli(
        &s,
        &[
            "reports",
            "compare",
            runs[2]["run_id"].as_str().unwrap(),
            runs[0]["run_id"].as_str().unwrap(),
        ],
    );
    assert!(compared.status.success(), "{}", text(&compared));
    // An unknown run is a wrong argument (2), not a configuration error (3).
    let missing = cli(&s, &["reports", "show", "hq-nope"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(
        text(&missing).contains("no run \"hq-nope\""),
        "{}",
        text(&missing)
    );
    let status = cli(&s, &["status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains("0 0 3 * * *"), "{}", text(&status));

    // A failing upstream: the run fails, /connectors shows the last error, metrics count the codes.
    s.wecom.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let (_, failing) = post_sync(&http, "").await;
    let failed = wait_run(&http, failing["run_id"].as_str().unwrap()).await;
    assert_eq!(failed["outcome"]["state"], "failed", "{failed}");
    s.wecom.set_faults(Faults::default());
    let connectors = get_json(&http, "http://orgsync/connectors").await;
    let last_error = &connectors[0]["last_error"];
    assert_eq!(last_error["run_id"], failing["run_id"], "{connectors}");
    assert!(!last_error["message"].as_str().unwrap().is_empty());
    let metrics = get_text(&http, "http://orgsync/metrics").await;
    assert!(
        metrics.contains("orgsync_runs_total{connector=\"hq\",outcome=\"failed\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "orgsync_upstream_errors_total{connector=\"hq\",platform=\"wecom\",code=\"http_502\"}"
        ),
        "{metrics}"
    );

    // A second daemon on the same state directory is refused with exit 4.
    let second_daemon = cli(&s, &["run"]);
    assert_eq!(
        second_daemon.status.code(),
        Some(4),
        "{}",
        text(&second_daemon)
    );
    // A command that needs the state goes through the daemon (tests/daemon_jobs.rs covers each);
    // from a configuration whose socket the daemon does not answer on, the error names the
    // daemon and says what to do.
    let elsewhere = s.dir.path().join("elsewhere.toml");
    std::fs::write(
        &elsewhere,
        std::fs::read_to_string(&s.config)
            .unwrap()
            .replace("run/admin.sock", "run/other.sock"),
    )
    .unwrap();
    let explain = orgsync(&elsewhere)
        .args(["explain", "hq", "lin"])
        .output()
        .unwrap();
    assert_eq!(explain.status.code(), Some(4), "{}", text(&explain));
    let said = text(&explain);
    assert!(
        said.contains(&format!("process {} (`orgsync run`)", daemon.child.id())),
        "{said}"
    );
    assert!(said.contains("the orgsync daemon holds it"), "{said}");
    assert!(said.contains("nothing answers on"), "{said}");
    assert!(said.contains("other.sock"), "{said}");

    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", s.log());
    assert!(!s.socket().exists(), "the socket is removed on exit");

    // Without the daemon, sync runs in-process and keeps its report in the same history, which
    // is then read from the state directory.
    let local = cli(&s, &["sync", "hq", "--dry-run", "--format", "json"]);
    assert!(local.status.success(), "{}", text(&local));
    let local: serde_json::Value = serde_json::from_slice(&local.stdout).unwrap();
    let listed = cli(&s, &["reports", "list", "hq", "--format", "json"]);
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["run_id"], local["run_id"]);
    let listed = cli(&s, &["reports", "list", "hq"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).lines().count(),
        4,
        "{}",
        text(&listed)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_or_keeps_the_old_config_and_sigterm_stops_mid_run() {
    let s = setup().await;
    let mut daemon = Daemon::start(&s).await;
    let http = unix_client(&s);

    // An invalid file: an ERROR saying why, and the old configuration keeps serving.
    std::fs::write(&s.config, "state_dir = 3\n[connectors.hq.nonsense]\n").unwrap();
    daemon.signal("HUP");
    let started = Instant::now();
    while !s.log().contains("still running with the previous one") {
        assert!(started.elapsed() < Duration::from_secs(20), "{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.log().contains("ERROR"), "{}", s.log());
    let (code, _) = post_sync(&http, r#"{"mode": "dry-run"}"#).await;
    assert_eq!(code, 202);

    // A valid change: a second connector appears.
    s.write_config(&connector_text(&s, "branch", "0 0 4 * * *"));
    daemon.signal("HUP");
    daemon.wait_notify("Reloaded").await;
    let connectors = get_json(&http, "http://orgsync/connectors").await;
    let names: Vec<&str> = connectors
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["branch", "hq"]);

    // First sync, then rename everyone upstream so the next apply has a step per person; a slow
    // target (concurrency 1) makes it take seconds.
    let (_, run) = post_sync(&http, "").await;
    wait_run(&http, run["run_id"].as_str().unwrap()).await;
    assert_eq!(s.scim.users().len(), 7);
    s.wecom.update_org(|org| {
        for user in &mut org.users {
            user.name = format!("{} (renamed)", user.name);
        }
    });
    s.scim.set_faults(ScimFaults {
        delay: Duration::from_millis(300),
        ..ScimFaults::default()
    });
    let (_, run) = post_sync(&http, "").await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let view = get_json(&http, &format!("http://orgsync/runs/{run_id}")).await;
        if view["progress"]["stage"] == "applying" && view["progress"]["done"].as_u64() >= Some(1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A trigger queued behind it is dropped by the shutdown.
    let (_, queued) = post_sync(&http, "").await;
    assert_eq!(queued["queued"], true);

    daemon.signal("TERM");
    let (status, latency) = daemon.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", s.log());
    eprintln!(
        "SIGTERM during an apply: exited in {latency:?} (shutdown_timeout 10 s, target latency 300 ms per request)"
    );
    let renamed_now = renamed(&s.scim);
    assert!(
        renamed_now < 7,
        "the stop held the remaining steps; {renamed_now} applied"
    );

    // The interrupted run is in the history; the next run converges with nothing lost.
    s.scim.set_faults(ScimFaults::default());
    let shown = cli(&s, &["reports", "show", &run_id, "--format", "json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let report: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(report["outcome"]["state"], "interrupted", "{report}");
    let again = cli(&s, &["sync", "hq", "--format", "json"]);
    assert!(again.status.success(), "{}", text(&again));
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        report["counts"]["update"].as_u64(),
        Some(7 - renamed_now as u64),
        "{report}"
    );
    assert_eq!(renamed(&s.scim), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_start_ups_exit_with_clear_errors() {
    let s = setup().await;
    // A socket path that is a regular file.
    std::fs::create_dir_all(s.socket().parent().unwrap()).unwrap();
    std::fs::write(s.socket(), "not a socket").unwrap();
    let out = cli(&s, &["run"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("is not a socket"), "{}", text(&out));
    std::fs::remove_file(s.socket()).unwrap();

    // A socket some other process listens on.
    let other = std::os::unix::net::UnixListener::bind(s.socket()).unwrap();
    let out = cli(&s, &["run"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("is in use"), "{}", text(&out));
    drop(other);
    std::fs::remove_file(s.socket()).unwrap();

    // An unreadable TCP token.
    std::fs::remove_file(s.dir.path().join("tcp-token")).unwrap();
    let out = cli(&s, &["run"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("tcp_token"), "{}", text(&out));

    // A state directory that cannot be created.
    std::fs::write(s.dir.path().join("tcp-token"), TCP_TOKEN).unwrap();
    std::fs::remove_dir_all(s.dir.path().join("state")).unwrap();
    std::fs::write(s.dir.path().join("state"), "a file, not a directory").unwrap();
    let out = cli(&s, &["run"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_runs_fire_with_jitter() {
    let s = setup().await;
    let config = config_text(&s, "")
        .replace("0 0 3 * * *", "* * * * * *")
        .replace(r#"jitter = "1m""#, r#"jitter = "300ms""#);
    std::fs::write(&s.config, config).unwrap();
    let mut daemon = Daemon::start(&s).await;
    let http = unix_client(&s);
    let started = Instant::now();
    loop {
        let runs = get_json(&http, "http://orgsync/runs?connector=hq").await;
        if runs.as_array().unwrap().len() >= 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{runs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.scim.users().len(), 7, "scheduled runs apply");
    let connectors = get_json(&http, "http://orgsync/connectors").await;
    assert_eq!(connectors[0]["jitter_ms"], 300);
    assert!(connectors[0]["next_run"].is_string(), "{connectors}");
    daemon.signal("INT");
    let (status, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", s.log());
}

/// What the systemd unit gives the service: `$ORGSYNC_CONFIG`, `$RUNTIME_DIRECTORY` (where the
/// socket goes by default) and `$CREDENTIALS_DIRECTORY` (read by `credential:` references).
#[tokio::test(flavor = "multi_thread")]
async fn runs_under_the_units_environment() {
    let s = setup().await;
    let runtime = s.dir.path().join("runtime");
    let credentials = s.dir.path().join("credentials");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(credentials.join("scim-token"), s.scim.bearer_token()).unwrap();
    let config = config_text(&s, "")
        .replace(&format!("socket = \"{}\"\n", s.socket().display()), "")
        .replace(
            &format!("file:{}/scim-token", s.dir.path().display()),
            "credential:scim-token",
        );
    assert!(config.contains("credential:scim-token") && !config.contains("admin.sock"));
    std::fs::write(&s.config, config).unwrap();
    let unit_env = |command: &mut Command| {
        command
            .env("ORGSYNC_CONFIG", &s.config)
            .env("RUNTIME_DIRECTORY", &runtime)
            .env("CREDENTIALS_DIRECTORY", &credentials);
    };
    let mut check = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    unit_env(&mut check);
    check.env(
        "TEST_WECOM_SECRET",
        emulators::wecom::WecomConfig::default().corpsecret,
    );
    let out = check.arg("check-config").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let mut run = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    unit_env(&mut run);
    let child = run
        .env(
            "TEST_WECOM_SECRET",
            emulators::wecom::WecomConfig::default().corpsecret,
        )
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Daemon {
        child,
        notes: Arc::default(),
        seen: 0,
        _drain: tokio::spawn(async {}),
    };
    let socket = runtime.join("admin.sock");
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no socket at {}",
            socket.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sync = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    unit_env(&mut sync);
    let out = sync.args(["sync", "hq", "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("by the orgsync daemon"),
        "{}",
        text(&out)
    );
    assert_eq!(s.scim.users().len(), 7);
    daemon.signal("TERM");
    let (status, latency) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success());
    eprintln!("SIGTERM while idle: exited in {latency:?}");
    assert!(!socket.exists());
}

/// Without a daemon: every in-process run lands in the history, and two dry runs compare.
#[tokio::test(flavor = "multi_thread")]
async fn reports_show_and_compare_runs_from_the_history() {
    let s = setup().await;
    let first = cli(&s, &["diff", "hq", "--format", "json"]);
    assert!(first.status.success(), "{}", text(&first));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    s.wecom.update_org(|org| {
        let lin = org.users.iter_mut().find(|u| u.id == "lin").unwrap();
        lin.name = "林晓晓".into();
    });
    let second = cli(&s, &["sync", "hq", "--dry-run", "--format", "json"]);
    assert!(second.status.success(), "{}", text(&second));
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let (a, b) = (
        first["run_id"].as_str().unwrap(),
        second["run_id"].as_str().unwrap(),
    );

    let compared = cli(&s, &["reports", "compare", a, b, "--format", "json"]);
    assert!(compared.status.success(), "{}", text(&compared));
    let comparison: serde_json::Value = serde_json::from_slice(&compared.stdout).unwrap();
    let changed = comparison["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{comparison}");
    assert_eq!(changed[0]["b"]["user"], "lin");
    assert_eq!(changed[0]["b"]["name"], "林晓晓");
    let steps = first["steps"].as_array().unwrap().len();
    assert_eq!(comparison["unchanged"].as_u64(), Some(steps as u64 - 1));
    let compared = cli(&s, &["reports", "compare", a, b]);
    assert!(text(&compared).contains("林晓晓"), "{}", text(&compared));
    // A comparison has no HTML form, and the help does not offer one.
    let html = cli(&s, &["reports", "compare", a, b, "--format", "html"]);
    assert_eq!(html.status.code(), Some(2), "{}", text(&html));
    assert!(
        text(&html).contains("possible values: text, json, markdown"),
        "{}",
        text(&html)
    );
    let help = cli(&s, &["reports", "compare", "--help"]);
    assert!(!text(&help).contains("html"), "{}", text(&help));

    let shown = cli(&s, &["reports", "show", b, "--format", "html"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let page = String::from_utf8_lossy(&shown.stdout);
    assert!(page.contains("<html") && page.contains(b), "{page:.200}");
    let listed = cli(&s, &["reports", "list", "--format", "json"]);
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [b, a]);
    let status = cli(&s, &["status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        text(&status).contains("orgsync is not running") && text(&status).contains(b),
        "{}",
        text(&status)
    );
    let unknown = cli(&s, &["reports", "list", "nope"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown));
}

/// Which read of the target a stop lands in.
#[derive(Clone, Copy, PartialEq)]
enum TargetRead {
    /// The check before the pull: every target request is slow from the start.
    Check,
    /// The listing of a first sync, after the pull: the target turns slow while the (slowed)
    /// pull runs, after the check answered.
    Listing,
}

/// A stop while the target is being read abandons the read: it is a read, and the shutdown does
/// not wait for it.
async fn sigterm_while_reading_the_target(read: TargetRead) {
    let s = setup().await;
    let slow_target = ScimFaults {
        delay: Duration::from_secs(30),
        ..ScimFaults::default()
    };
    match read {
        TargetRead::Check => s.scim.set_faults(slow_target.clone()),
        TargetRead::Listing => s.wecom.set_faults(Faults {
            delay: Duration::from_millis(500),
            ..Faults::default()
        }),
    }
    let mut daemon = Daemon::start(&s).await;
    let http = unix_client(&s);
    let (_, run) = post_sync(&http, "").await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let wait_for = |stage: &'static str| {
        let http = &http;
        let run_id = &run_id;
        async move {
            let started = Instant::now();
            while get_json(http, &format!("http://orgsync/runs/{run_id}")).await["progress"]["stage"]
                != stage
            {
                assert!(started.elapsed() < Duration::from_secs(20), "never {stage}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    match read {
        TargetRead::Check => wait_for("checking").await,
        TargetRead::Listing => {
            wait_for("pulling").await;
            s.scim.set_faults(slow_target);
            wait_for("planning").await;
        }
    }
    daemon.signal("TERM");
    // Well inside both the read's 30 s and the 10 s shutdown timeout.
    let (status, latency) = daemon.wait_exit(Duration::from_secs(8)).await;
    assert!(status.success(), "{}", s.log());
    eprintln!("SIGTERM while reading the target: exited in {latency:?}");
    s.scim.set_faults(ScimFaults::default());
    let shown = cli(&s, &["reports", "show", &run_id, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    // A stop is an interruption, not a failure: deploys must not trip failure alerts.
    assert_eq!(report["outcome"]["state"], "interrupted", "{report}");
    let stopped_in = match read {
        TargetRead::Check => "checking",
        TargetRead::Listing => "planning",
    };
    assert_eq!(report["outcome"]["stage"], stopped_in, "{report}");
    assert_eq!(report["outcome"]["left"], 0, "{report}");
    // The outcome line says "nothing was written" once, and where the run was stopped.
    let shown = cli(&s, &["reports", "show", &run_id]);
    let outcome = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .find(|line| line.starts_with("Outcome"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        outcome.contains("interrupted by shutdown while"),
        "{outcome}"
    );
    assert_eq!(
        outcome.matches("nothing was written").count(),
        1,
        "{outcome}"
    );
    assert!(s.scim.users().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_the_target_check_does_not_wait_for_it() {
    sigterm_while_reading_the_target(TargetRead::Check).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_the_target_listing_does_not_wait_for_it() {
    sigterm_while_reading_the_target(TargetRead::Listing).await;
}

/// No admin API answer, and nothing the daemon logs, carries a secret the config names or one the
/// upstream hands out: for a run that applied and for one that failed on the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn admin_api_answers_carry_no_secrets() {
    let s = setup().await;
    let _daemon = Daemon::start(&s).await;
    let http = unix_client(&s);
    let mut scan = common::secrets::SecretScan::default();
    scan.secret("the SCIM bearer token", s.scim.bearer_token())
        .secret(
            "the WeCom corp secret",
            &emulators::wecom::WecomConfig::default().corpsecret,
        )
        .secret("a WeCom access token (prefix)", "wc-tok-")
        .secret("the admin TCP token", TCP_TOKEN);

    let (_, applied) = post_sync(&http, r#"{"mode": "apply"}"#).await;
    let applied = applied["run_id"].as_str().unwrap().to_owned();
    assert_eq!(wait_run(&http, &applied).await["state"], "finished");
    // Every data call answered by a failing gateway: the run fails and says why.
    s.wecom.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let (_, failing) = post_sync(&http, r#"{"mode": "dry-run"}"#).await;
    let failing = failing["run_id"].as_str().unwrap().to_owned();
    let failed = wait_run(&http, &failing).await;
    assert_eq!(failed["outcome"]["state"], "failed", "{failed}");
    s.wecom.set_faults(Faults::default());

    for url in ["/healthz", "/metrics", "/connectors", "/runs"] {
        let answer = get_text(&http, &format!("http://orgsync{url}")).await;
        scan.check(&format!("GET {url}"), &answer);
    }
    for run in [&applied, &failing] {
        let view = get_text(&http, &format!("http://orgsync/runs/{run}")).await;
        scan.check(&format!("GET /runs/{run}"), &view);
        for format in ["text", "json", "markdown", "html"] {
            let url = format!("http://orgsync/runs/{run}/report?format={format}");
            let response = http.get(&url).send().await.unwrap();
            let answer = response.text().await.unwrap();
            scan.check(&format!("GET {url}"), &answer);
        }
    }
    scan.check("the daemon's log", &s.log());
    // The failed run's answer does explain the failure (so the scan read a real error).
    let error = failed["outcome"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("HTTP status 502"), "{failed}");
    assert!(
        scan.scanned >= 15 && scan.bytes > 10_000,
        "{} texts, {} bytes",
        scan.scanned,
        scan.bytes
    );
    eprintln!(
        "secrets in admin API answers: {} answers, {} bytes scanned, none found",
        scan.scanned, scan.bytes
    );
}

/// A run whose task panics (here through the debug-build-only hook `ORGSYNC_DEBUG_PANIC_RUN`)
/// becomes a failed run — in the run view, the history, `last_error` and the metrics — and frees
/// its connector: the next trigger starts a new run instead of queueing behind one that never
/// ends. Other connectors are untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_run_fails_and_frees_its_connector() {
    let s = setup().await;
    s.write_config(&connector_text(&s, "boom", "0 0 4 * * *"));
    let daemon = Daemon::start_with(&s, &[("ORGSYNC_DEBUG_PANIC_RUN", "boom")]).await;
    let http = unix_client(&s);
    let trigger = |name: &'static str| {
        let http = http.clone();
        async move {
            let response = http
                .post(format!("http://orgsync/connectors/{name}/sync"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 202);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    for _ in 0..2 {
        let accepted = trigger("boom").await;
        assert_eq!(
            accepted["queued"], false,
            "the connector is free: {accepted}"
        );
        let view = wait_run(&http, accepted["run_id"].as_str().unwrap()).await;
        assert_eq!(view["outcome"]["state"], "failed", "{view}");
        assert!(
            view["error"]
                .as_str()
                .unwrap()
                .starts_with("run panicked: "),
            "{view}"
        );
    }
    let connectors = get_json(&http, "http://orgsync/connectors").await;
    let boom = connectors
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "boom")
        .unwrap();
    assert!(boom["running"].is_null(), "{boom}");
    assert!(
        boom["last_error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("run panicked: "),
        "{boom}"
    );
    let metrics = get_text(&http, "http://orgsync/metrics").await;
    assert!(
        metrics.contains(r#"orgsync_runs_total{connector="boom",outcome="failed"} 2"#),
        "{metrics}"
    );
    let listed = cli(&s, &["reports", "list", "boom"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert_eq!(
        text(&listed).matches("failed").count(),
        2,
        "both runs are in the history: {}",
        text(&listed)
    );

    // The other connector runs as ever.
    let accepted = trigger("hq").await;
    let view = wait_run(&http, accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(view["outcome"]["state"], "applied", "{view}");
    assert!(s.log().contains("A run ended in a panic"), "{}", s.log());
    drop(daemon);
}

/// A reload whose schedules cannot be installed (here through the debug-build-only hook
/// `ORGSYNC_DEBUG_FAIL_SCHEDULE`, naming a connector the new file adds) changes nothing: the old
/// connectors with their old settings, and their old schedules, keep running; the next good
/// reload applies in full.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_whose_schedule_cannot_be_installed_keeps_the_old_config() {
    let s = setup().await;
    let mut daemon = Daemon::start_with(&s, &[("ORGSYNC_DEBUG_FAIL_SCHEDULE", "zfail")]).await;
    let http = unix_client(&s);
    let hq = |connectors: serde_json::Value| {
        let list = connectors.as_array().unwrap();
        let names: Vec<String> = list
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        let hq = list.iter().find(|c| c["name"] == "hq").unwrap().clone();
        (names, hq)
    };
    let (_, before) = hq(get_json(&http, "http://orgsync/connectors").await);
    assert!(
        before["next_run"].as_str().unwrap().ends_with("T03:00:00Z"),
        "{before}"
    );

    // hq moves to 05:00 and a new connector comes whose schedule cannot be installed.
    let changed = config_text(&s, &connector_text(&s, "zfail", "0 0 4 * * *"))
        .replace("0 0 3 * * *", "0 0 5 * * *");
    std::fs::write(&s.config, changed).unwrap();
    daemon.signal("HUP");
    let started = Instant::now();
    while !s
        .log()
        .contains("Cannot schedule the connectors of the new configuration")
    {
        assert!(started.elapsed() < Duration::from_secs(20), "{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (names, after) = hq(get_json(&http, "http://orgsync/connectors").await);
    assert_eq!(names, ["hq"], "the new connector is not there");
    assert_eq!(after["schedule"], "0 0 3 * * *", "{after}");
    assert_eq!(
        after["next_run"], before["next_run"],
        "the old schedule runs"
    );
    let (code, run) = post_sync(&http, "").await;
    assert_eq!(code, 202);
    let view = wait_run(&http, run["run_id"].as_str().unwrap()).await;
    assert_eq!(view["outcome"]["state"], "applied", "{view}");

    // Without the connector that cannot be scheduled, the same change applies in full.
    let good = config_text(&s, &connector_text(&s, "west", "0 0 4 * * *"))
        .replace("0 0 3 * * *", "0 0 5 * * *");
    std::fs::write(&s.config, good).unwrap();
    daemon.signal("HUP");
    daemon.wait_notify("Reloaded").await;
    let (names, after) = hq(get_json(&http, "http://orgsync/connectors").await);
    assert_eq!(names, ["hq", "west"]);
    assert_eq!(after["schedule"], "0 0 5 * * *", "{after}");
    assert!(
        after["next_run"].as_str().unwrap().ends_with("T05:00:00Z"),
        "{after}"
    );
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Many idle connections (three times `daemon.max_connections`, on the socket and on TCP) cannot
/// take the daemon's file descriptors: it serves at most the cap per listener (the rest wait in
/// the accept queue), closes each connection that sends no request within `daemon.idle_timeout`,
/// and so still answers everyone in turn.
#[tokio::test(flavor = "multi_thread")]
async fn idle_admin_connections_are_capped_and_closed() {
    const CAP: usize = 4;
    let s = setup().await;
    let daemon = Daemon::start_with(
        &s,
        &[
            ("ORGSYNC__DAEMON__MAX_CONNECTIONS", "4"),
            ("ORGSYNC__DAEMON__IDLE_TIMEOUT", "1s"),
        ],
    )
    .await;
    let pid = daemon.child.id();
    let baseline = open_fds(pid);

    let mut idle_unix = Vec::new();
    let mut idle_tcp = Vec::new();
    for _ in 0..3 * CAP {
        idle_unix.push(tokio::net::UnixStream::connect(s.socket()).await.unwrap());
        idle_tcp.push(tokio::net::TcpStream::connect(s.tcp).await.unwrap());
    }
    // The daemon takes connections up to the cap on each listener... (waited for only until
    // it holds a good part of them: on a loaded machine the first idle ones may already have
    // timed out and been replaced by the time the count is read)
    let started = Instant::now();
    while open_fds(pid) < baseline + CAP {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never at the cap"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and answers requests queued behind the idle ones, as those time out, never holding
    // more than the cap.
    let bound = Duration::from_secs(60);
    let http = unix_client(&s);
    let healthz = tokio::time::timeout(bound, get_text(&http, "http://orgsync/healthz"));
    let tcp = reqwest::Client::new()
        .get(format!("http://{}/healthz", s.tcp))
        .bearer_auth(TCP_TOKEN)
        .send();
    let (healthz, tcp) = tokio::join!(healthz, tokio::time::timeout(bound, tcp));
    assert!(!healthz.expect("the socket answers").is_empty());
    assert!(tcp.expect("TCP answers").unwrap().status().is_success());
    assert!(
        open_fds(pid) <= baseline + 2 * CAP,
        "{} descriptors open, {baseline} before the flood, cap {CAP} per listener",
        open_fds(pid)
    );

    // Every idle connection is closed by the daemon (end of stream), none left hanging.
    for mut stream in idle_unix {
        let mut buf = [0u8; 16];
        let read =
            tokio::time::timeout(bound, tokio::io::AsyncReadExt::read(&mut stream, &mut buf));
        assert_eq!(read.await.expect("closed by the daemon").unwrap(), 0);
    }
    for mut stream in idle_tcp {
        let mut buf = [0u8; 16];
        let read =
            tokio::time::timeout(bound, tokio::io::AsyncReadExt::read(&mut stream, &mut buf));
        assert_eq!(read.await.expect("closed by the daemon").unwrap(), 0);
    }
    drop(daemon);
}

/// The next `hour`:00 in `zone` after `now` (no daylight-saving change near it).
fn next_daily(now: jiff::Timestamp, zone: &str, hour: i8) -> jiff::Timestamp {
    let local = now.in_tz(zone).unwrap();
    let mut day = local.date();
    if local.time() >= jiff::civil::time(hour, 0, 0, 0) {
        day = day.tomorrow().unwrap();
    }
    day.at(hour, 0, 0, 0).in_tz(zone).unwrap().timestamp()
}

/// `connectors.NAME.timezone`: the schedule is read in that zone, and `status` says which zone
/// and when the next run is (JSON in UTC, text in the zone); a connector without one reads the
/// system's zone (TZ=UTC here).
#[tokio::test(flavor = "multi_thread")]
async fn status_shows_each_connectors_zone_and_its_next_run() {
    let s = setup().await;
    let shanghai = connector_text(&s, "shanghai", "0 0 9 * * *").replacen(
        "schedule = ",
        "timezone = \"Asia/Shanghai\"\nschedule = ",
        1,
    );
    let berlin = connector_text(&s, "berlin", "0 0 9 * * *").replacen(
        "schedule = ",
        "timezone = \"Europe/Berlin\"\nschedule = ",
        1,
    );
    s.write_config(&format!("{shanghai}\n{berlin}"));
    let mut daemon = Daemon::start(&s).await;

    let before = jiff::Timestamp::now();
    let out = cli(&s, &["status", "--format", "json"]);
    let after = jiff::Timestamp::now();
    assert!(out.status.success(), "{}", text(&out));
    let connectors: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let view = |name: &str| {
        connectors
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    for (name, zone, origin, hour) in [
        ("shanghai", "Asia/Shanghai", "configured", 9),
        ("berlin", "Europe/Berlin", "configured", 9),
        ("hq", "UTC", "system", 3),
    ] {
        let c = view(name);
        assert_eq!(c["timezone"], zone, "{c}");
        assert_eq!(c["timezone_origin"], origin, "{c}");
        // `before` and `after` bracket the moment should the hour pass meanwhile.
        let next: jiff::Timestamp = c["next_run"].as_str().unwrap().parse().unwrap();
        let expected = [before, after].map(|t| next_daily(t, zone, hour));
        assert!(
            expected.contains(&next),
            "{name}: {next} not in {expected:?}"
        );
    }
    // Shanghai has no daylight saving: 09:00 there is always 01:00 UTC.
    assert!(
        view("shanghai")["next_run"]
            .as_str()
            .unwrap()
            .ends_with("T01:00:00Z"),
        "{connectors}"
    );

    let out = cli(&s, &["status"]);
    let status = text(&out);
    assert!(status.contains("timezone  Asia/Shanghai\n"), "{status}");
    assert!(
        status.contains("timezone  UTC (the system's local zone)"),
        "{status}"
    );
    assert!(status.contains(" 09:00:00 +08:00"), "{status}");
    assert!(status.contains(" 03:00:00 +00:00"), "{status}");

    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(code.success(), "{}", s.log());
}

/// A zone name that is not in the IANA database is refused at load, naming the key.
#[test]
fn an_unknown_timezone_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{}"
[connectors.hq]
schedule = "0 0 9 * * *"
timezone = "Asia/Shangai"
[connectors.hq.source]
kind = "wecom"
corp_id = "ww1"
secret = "env:S"
agent_id = 1
[connectors.hq.target]
kind = "scim"
base_url = "https://scim.example.com/scim/v2"
token = "env:T"
"#,
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let out = orgsync(&config).arg("check-config").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("connector \"hq\": timezone: \"Asia/Shangai\" is not a time zone"),
        "{said}"
    );
}

/// `orgsync run` with no connector starts (there is an API to ask), and warns that it has
/// nothing to do.
#[tokio::test(flavor = "multi_thread")]
async fn run_without_a_connector_warns() {
    let s = setup().await;
    let empty = config_text(&s, "").replace(&connector_text(&s, "hq", "0 0 3 * * *"), "");
    std::fs::write(&s.config, empty).unwrap();
    let mut daemon = Daemon::start(&s).await;
    assert!(
        s.log()
            .contains("No connector is configured: nothing will be synced"),
        "{}",
        s.log()
    );
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(code.success(), "{}", s.log());
}

/// A daemon run waiting out a throttle (DingTalk's 5-minute anti-abuse ban) says so wherever it
/// is followed: `orgsync sync --wait`'s lines, `orgsync status` and the run's JSON. Ctrl-C on
/// `sync --wait` stops following, saying the run goes on; SIGTERM ends the wait at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttle_wait_shows_in_sync_wait_status_and_the_run() {
    let s = setup().await;
    let dingtalk = emulators::dingtalk::start(common::small_org(), Default::default())
        .await
        .unwrap();
    s.write_config(&common::dingtalk_connector_toml(
        "dt",
        &dingtalk,
        s.dir.path(),
        s.scim.base_url(),
        None,
    ));
    let mut daemon = Daemon::start(&s).await;
    common::ban_for_an_hour(&dingtalk);
    let mut follower = orgsync(&s.config)
        .args(["sync", "dt", "--wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    const WAIT: &str = "throttled by dingtalk, waiting";
    let (seen, rest) = common::lines_until(follower.stderr.take().unwrap(), WAIT);
    assert!(
        seen.iter()
            .any(|l| l.starts_with("pulling: 0 people read, ")),
        "{seen:?}"
    );

    let status = text(&cli(&s, &["status"]));
    let running = status
        .lines()
        .find(|l| l.trim_start().starts_with("running"))
        .unwrap_or_else(|| panic!("no running run: {status}"));
    assert!(running.contains(WAIT), "{status}");
    let run_id = running.split_whitespace().nth(1).unwrap();
    let view = get_json(&unix_client(&s), &format!("http://orgsync/runs/{run_id}")).await;
    let waiting = &view["progress"]["pull"]["waiting"];
    assert_eq!(waiting["platform"], "dingtalk", "{view}");
    assert_eq!(waiting["reason"], "throttled", "{view}");
    assert!(
        (290..=300).contains(&waiting["seconds"].as_u64().unwrap()),
        "{view}"
    );

    // Ctrl-C stops following, not the daemon's run, and says so.
    common::press_ctrl_c(&follower);
    let stopped = follower.wait().unwrap();
    // Everything it said, up to the pipe's end.
    let said: Vec<String> = rest.iter().collect();
    assert_eq!(stopped.code(), Some(130), "{said:?}");
    assert!(
        said.iter().any(|l| l.contains(&format!(
            "stopped following run {run_id}; it goes on in the daemon"
        ))),
        "{said:?}"
    );
    assert!(text(&cli(&s, &["status"])).contains(WAIT));

    daemon.signal("TERM");
    let (exit, took) = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}\n{}", s.log());
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(s.scim.users().is_empty(), "nothing written");
}
