//! The real `orgsync` binary against in-process emulators, the way an admin drives it.

mod common;

use common::small_org;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Setup {
    _wecom: emulators::wecom::WecomHandle,
    scim: emulators::scim::ScimHandle,
    dir: tempfile::TempDir,
    config: PathBuf,
}

async fn setup(extra_policy: &str) -> Setup {
    setup_with(Default::default(), extra_policy).await
}

/// [`setup`] with the WeCom emulator configured as `wecom`.
async fn setup_with(wecom: emulators::wecom::WecomConfig, extra_policy: &str) -> Setup {
    let wecom = emulators::wecom::start(small_org(), wecom).await.unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"

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
token = "file:{token_file}"

[connectors.hq.policy]
{extra_policy}
"#,
            state = dir.path().join("state").display(),
            corp = wecom.config().corpid,
            agent = common::AGENT_ID,
            wecom = wecom.base_url(),
            scim = scim.base_url(),
            token_file = dir.path().join("scim-token").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("scim-token"),
        format!("{}\n", scim.bearer_token()),
    )
    .unwrap();
    Setup {
        _wecom: wecom,
        scim,
        dir,
        config,
    }
}

impl Setup {
    fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }

    /// Adds connector `dt`: `dingtalk` (with the HR roster's `agent_id`) → the same SCIM target.
    fn add_dingtalk(&self, dingtalk: &emulators::dingtalk::DingtalkHandle) {
        let mut config = self.config_text();
        config.push_str(&common::dingtalk_connector_toml(
            "dt",
            dingtalk,
            self.dir.path(),
            self.scim.base_url(),
            Some(dingtalk.config().agent_id),
        ));
        std::fs::write(&self.config, config).unwrap();
    }
}

fn orgsync(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env(
            "TEST_WECOM_SECRET",
            emulators::wecom::WecomConfig::default().corpsecret,
        )
        .env("ORGSYNC_LOG", "warn")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_save_apply_and_explain() {
    let s = setup("max_deletion_ratio = 1.0").await;
    let check = orgsync(&s.config, &["check-config"]);
    assert!(check.status.success(), "{}", text(&check));

    let diff = orgsync(&s.config, &["diff", "hq", "--format", "json"]);
    assert!(diff.status.success(), "{}", text(&diff));
    let report: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(report["mode"], "dry_run");
    assert_eq!(report["counts"]["create"], 7);
    assert!(s.scim.users().is_empty(), "diff must not write");

    let plan = s.dir.path().join("plan.json");
    let saved = orgsync(&s.config, &["diff", "hq", "--save", plan.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", text(&saved));
    let applied = orgsync(&s.config, &["apply", plan.to_str().unwrap()]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert_eq!(s.scim.users().len(), 7);

    // The snapshot moved: the same plan is refused.
    let stale = orgsync(&s.config, &["apply", plan.to_str().unwrap()]);
    assert_eq!(stale.status.code(), Some(7), "{}", text(&stale));
    assert!(
        text(&stale).contains("has changed since the plan was made"),
        "{}",
        text(&stale)
    );

    let again = orgsync(&s.config, &["sync", "hq"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("in sync: nothing to do"),
        "{}",
        text(&again)
    );

    let explain = orgsync(&s.config, &["explain", "hq", "sales1"]);
    assert!(explain.status.success(), "{}", text(&explain));
    let out = text(&explain);
    assert!(
        out.contains("Upstream: <img src=x onerror=alert(1)> (sales1) is active"),
        "{out}"
    );
    assert!(out.contains("Manager: the upstream names none"), "{out}");
    let explain = orgsync(&s.config, &["explain", "hq", "lin"]);
    assert!(
        text(&explain).contains("Manager: Zoë Müller (boss2)"),
        "{}",
        text(&explain)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guard_refusal_exit_code_and_approval() {
    let s = setup("").await;
    assert!(orgsync(&s.config, &["sync", "hq"]).status.success());
    s._wecom.update_org(|org| org.scope.departments = vec![2]);
    let refused = orgsync(&s.config, &["sync", "hq"]);
    assert_eq!(refused.status.code(), Some(6), "{}", text(&refused));
    assert!(
        text(&refused).contains("REFUSED by the deletion guard"),
        "{}",
        text(&refused)
    );
    assert!(s.scim.users().iter().all(|u| u.active));
    let approved = orgsync(&s.config, &["sync", "hq", "--allow-deletions"]);
    assert!(approved.status.success(), "{}", text(&approved));
    assert_eq!(s.scim.users().iter().filter(|u| !u.active).count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_name_the_key_and_the_file() {
    let s = setup("resigend = \"delete\"").await;
    let out = orgsync(&s.config, &["check-config"]);
    assert_eq!(out.status.code(), Some(3));
    let message = text(&out);
    assert!(message.contains("unknown field `resigend`"), "{message}");
    assert!(message.contains(s.config.to_str().unwrap()), "{message}");

    let s = setup("").await;
    let out = orgsync(&s.config, &["sync", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("no connector named \"nope\" (configured: hq)"),
        "{}",
        text(&out)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .args(["--config", s.config.to_str().unwrap(), "check-config"])
        .env_remove("TEST_WECOM_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("env:TEST_WECOM_SECRET"),
        "{}",
        text(&out)
    );
}

/// The event keys are checked by `check-config`, as the daemon checks them when it starts: a
/// missing key file and an EncodingAESKey pasted short are refused there, naming the key and
/// never showing it.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_reads_the_event_keys_and_checks_their_shape() {
    let s = setup("").await;
    let dir = s.dir.path();
    let events = format!(
        "\n[daemon.events]\nlisten = \"127.0.0.1:0\"\n\n[connectors.hq.events]\n\
         token = \"file:{token}\"\naes_key = \"file:{key}\"\n",
        token = dir.join("event-token").display(),
        key = dir.join("aes-key").display(),
    );
    std::fs::write(&s.config, s.config_text() + &events).unwrap();
    std::fs::write(dir.join("event-token"), "event-token").unwrap();

    let missing = orgsync(&s.config, &["check-config"]);
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing));
    assert!(text(&missing).contains("aes-key"), "{}", text(&missing));

    let short_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDE";
    std::fs::write(dir.join("aes-key"), short_key).unwrap();
    let short = orgsync(&s.config, &["check-config"]);
    assert_eq!(short.status.code(), Some(3), "{}", text(&short));
    let message = text(&short);
    assert!(
        message.contains("connector hq: events:") && message.contains("43 characters"),
        "{message}"
    );
    assert!(!message.contains(short_key), "the key was shown: {message}");

    std::fs::write(dir.join("aes-key"), format!("{short_key}FG")).unwrap();
    let good = orgsync(&s.config, &["check-config"]);
    assert!(good.status.success(), "{}", text(&good));
}

/// Plain http:// to a host other than loopback is refused (exit 3, the key and host named) unless
/// the table opts in; the opt-in is warned about, naming connector and side, whenever it runs.
/// 0.0.0.0 is not a loopback address, yet Linux delivers a connection to it locally: the SCIM
/// emulator stands in for a remote app.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_another_host_needs_the_opt_in_and_is_warned_about() {
    let s = setup("").await;
    let remote = s.scim.base_url().replace("127.0.0.1", "0.0.0.0");
    let original = std::fs::read_to_string(&s.config).unwrap();
    let written = original.replace(s.scim.base_url(), &remote);
    assert_ne!(written, original);
    std::fs::write(&s.config, &written).unwrap();
    let out = orgsync(&s.config, &["check-config"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains(
            "connector \"hq\": target: base_url is plain http:// to 0.0.0.0, which is not loopback"
        ) && message.contains("allow_plain_http = true"),
        "{message}"
    );

    let opted_in = written.replace(
        "[connectors.hq.target]\n",
        "[connectors.hq.target]\nallow_plain_http = true\n",
    );
    std::fs::write(&s.config, opted_in).unwrap();
    let check = orgsync(&s.config, &["check-config"]);
    assert!(check.status.success(), "{}", text(&check));
    let diff = orgsync(&s.config, &["diff", "hq"]);
    assert!(diff.status.success(), "{}", text(&diff));
    let log = String::from_utf8_lossy(&diff.stderr);
    assert!(
        log.contains("WARN")
            && log.contains("connector=\"hq\"")
            && log.contains("side=\"target\"")
            && log.contains("hosts=0.0.0.0")
            && log.contains("allow_plain_http = true"),
        "{log}"
    );
    assert!(!log.contains("side=\"source\""), "{log}");
}

/// `ORGSYNC__…` overrides reach a connector whatever the case of its name (`HR` here), and a
/// mistyped or invalid override is an error that names the variable, not the file.
#[tokio::test(flavor = "multi_thread")]
async fn environment_overrides_reach_upper_case_connectors_and_errors_name_the_variable() {
    let s = setup("").await;
    let wecom = s.config_text().replace("[connectors.hq", "[connectors.HR");
    // The file points the source at a port nothing listens on; the environment repairs it.
    let api_base = wecom
        .lines()
        .find_map(|l| l.strip_prefix("api_base = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    std::fs::write(&s.config, wecom.replace(&api_base, "http://127.0.0.1:9")).unwrap();
    let with = |vars: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgsync"));
        command
            .arg("--config")
            .arg(&s.config)
            .args(args)
            .env(
                "TEST_WECOM_SECRET",
                emulators::wecom::WecomConfig::default().corpsecret,
            )
            .env("ORGSYNC_LOG", "warn")
            .envs(vars.iter().copied());
        tokio::task::block_in_place(|| command.output().unwrap())
    };

    let repaired = with(
        &[("ORGSYNC__CONNECTORS__HR__SOURCE__API_BASE", &api_base)],
        &["diff", "HR"],
    );
    assert!(repaired.status.success(), "{}", text(&repaired));

    let typo = with(
        &[("ORGSYNC__CONNECTORS__HR__SORCE__CORP_ID", "ww1")],
        &["check-config"],
    );
    assert_eq!(typo.status.code(), Some(3), "{}", text(&typo));
    assert!(
        text(&typo).starts_with(
            "error: environment variable ORGSYNC__CONNECTORS__HR__SORCE__CORP_ID (an override of config file"
        ) && text(&typo).contains("unknown field `sorce`"),
        "{}",
        text(&typo)
    );
    let invalid = with(
        &[
            ("ORGSYNC__CONNECTORS__HR__SOURCE__API_BASE", &api_base),
            ("ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY", "none"),
        ],
        &["check-config"],
    );
    assert_eq!(invalid.status.code(), Some(3), "{}", text(&invalid));
    assert!(
        text(&invalid)
            .contains("environment variable ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY"),
        "{}",
        text(&invalid)
    );
}

/// `orgsync demo` on every emulated upstream: a dry run that writes nothing, the sync, and a
/// second run with nothing to do (exit 0 only when all three hold).
#[test]
fn the_demo_runs_on_every_upstream() {
    let dir = tempfile::tempdir().unwrap();
    for upstream in ["wecom", "dingtalk", "feishu", "bitrix24"] {
        let html = dir.path().join(format!("{upstream}.html"));
        let output = Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .args([
                "demo",
                "--upstream",
                upstream,
                "--people",
                "40",
                "--seed",
                "2",
            ])
            .arg("--html")
            .arg(&html)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{upstream}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("The SCIM app is still empty: the dry run wrote nothing."),
            "{upstream}: {stdout}"
        );
        assert!(stdout.contains("Planned steps: 0"), "{upstream}: {stdout}");
        // WeCom, DingTalk and Feishu push change events: a new hire and a leaver reach the
        // target through them, in one focused run.
        assert_eq!(
            stdout.contains("Both changes were in the target"),
            upstream != "bitrix24",
            "{upstream}: {stdout}"
        );
        if upstream != "bitrix24" {
            assert!(
                stdout.contains("Events    2 upstream events") && stdout.contains("demo.newcomer"),
                "{upstream}: {stdout}"
            );
        }
        // Departments become groups, and people without a direct manager get their
        // department's head (Bitrix24's managers are department heads already: direct links).
        assert!(stdout.contains("Create groups"), "{upstream}: {stdout}");
        assert_eq!(
            stdout.contains("(department head)"),
            upstream != "bitrix24",
            "{upstream}: {stdout}"
        );
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.starts_with("<!DOCTYPE html>") && page.contains("Dry-run report"),
            "{upstream}: {}",
            &page[..page.len().min(300)]
        );
    }
}

/// An empty pull is never applied, not even with `--allow-deletions`: no renderer offers that
/// approval, every one says to check the app's scope.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_pull_gives_scope_advice_and_never_offers_an_approval() {
    let s = setup("").await;
    assert!(orgsync(&s.config, &["sync", "hq"]).status.success());
    s._wecom.update_org(|org| org.users.clear());
    for format in ["text", "markdown", "html"] {
        for args in [
            vec!["sync", "hq", "--format", format],
            vec!["diff", "hq", "--format", format],
        ] {
            let output = orgsync(&s.config, &args);
            let out = text(&output);
            let expected = if args[0] == "sync" { 6 } else { 0 };
            assert_eq!(output.status.code(), Some(expected), "{args:?}: {out}");
            assert!(!out.contains("--allow-deletions"), "{args:?}: {out}");
            assert!(out.contains("never applied"), "{args:?}: {out}");
            assert!(out.contains("authorized scope"), "{args:?}: {out}");
        }
    }
    let forced = orgsync(&s.config, &["sync", "hq", "--allow-deletions"]);
    assert_eq!(forced.status.code(), Some(6), "{}", text(&forced));
    assert!(
        !text(&forced).contains("--allow-deletions"),
        "{}",
        text(&forced)
    );
    assert!(s.scim.users().iter().all(|u| u.active));
}

const WRONG_TOKEN: &str = "not-the-token-5f1c9e";

/// A wrong target token is noticed by every run, even one with nothing to change and a dry run:
/// the target is checked with an authenticated read before planning.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_target_token_fails_every_run_even_with_nothing_to_change() {
    let s = setup("").await;
    assert!(orgsync(&s.config, &["sync", "hq"]).status.success());
    std::fs::write(s.dir.path().join("scim-token"), format!("{WRONG_TOKEN}\n")).unwrap();
    for args in [
        vec!["sync", "hq"],
        vec!["diff", "hq"],
        vec!["sync", "hq", "--format", "json"],
    ] {
        let output = orgsync(&s.config, &args);
        let out = text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {out}");
        assert!(!out.contains("in sync"), "{args:?}: {out}");
        assert!(out.contains("401"), "{args:?}: {out}");
        assert!(!out.contains(WRONG_TOKEN), "{args:?}: {out}");
    }
}

fn check_online(config: &Path, wecom_secret: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(["check-config", "--online"])
        .env("TEST_WECOM_SECRET", wecom_secret)
        .env("ORGSYNC_LOG", "warn")
        .output()
        .unwrap()
}

/// `check-config --online` checks each side of each connector, one line per check, and exits
/// non-zero naming the side whose credentials are wrong, never printing a secret.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_online_checks_each_side_one_line_per_check() {
    let s = setup("").await;
    let secret = emulators::wecom::WecomConfig::default().corpsecret;
    let good = check_online(&s.config, &secret);
    let out = text(&good);
    eprintln!("{out}");
    assert!(good.status.success(), "{out}");
    for line in [
        "hq  upstream token  ok",
        "hq  upstream scope  ok",
        "hq  target  ok",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    assert!(s.scim.users().is_empty(), "a check writes nothing");

    let wrong_upstream = check_online(&s.config, WRONG_TOKEN);
    let out = text(&wrong_upstream);
    assert_eq!(wrong_upstream.status.code(), Some(1), "{out}");
    assert!(out.contains("hq  upstream token  FAILED: "), "{out}");
    assert!(out.contains("hq  target  ok"), "{out}");
    assert!(!out.contains(WRONG_TOKEN), "{out}");

    std::fs::write(s.dir.path().join("scim-token"), format!("{WRONG_TOKEN}\n")).unwrap();
    let wrong_target = check_online(&s.config, &secret);
    let out = text(&wrong_target);
    eprintln!("{out}");
    assert_eq!(wrong_target.status.code(), Some(1), "{out}");
    assert!(out.contains("hq  upstream token  ok"), "{out}");
    assert!(out.contains("hq  target  FAILED: "), "{out}");
    assert!(out.contains("401"), "{out}");
    assert!(!out.contains(WRONG_TOKEN), "{out}");
}

/// What the app may not read passes the check, and is said under it: here WeCom refuses the
/// list reads (an app created after 2022-08-15) and the range names a tag that is gone, and a
/// DingTalk app with `agent_id` lacks the HR roster permission.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_online_says_what_the_app_may_not_read() {
    let s = setup_with(
        emulators::wecom::WecomConfig {
            list_access: emulators::wecom::ListAccess::Refused,
            allow_tags: vec![404],
            ..Default::default()
        },
        "",
    )
    .await;
    let dingtalk = emulators::dingtalk::start(
        small_org(),
        emulators::dingtalk::DingtalkConfig {
            roster: emulators::dingtalk::RosterAccess::NotGranted,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.add_dingtalk(&dingtalk);
    let secret = emulators::wecom::WecomConfig::default().corpsecret;
    let checked = check_online(&s.config, &secret);
    let out = text(&checked);
    assert!(checked.status.success(), "{out}");
    assert!(out.contains("hq  upstream scope  ok: "), "{out}");
    assert!(out.contains("dt  upstream scope  ok: "), "{out}");
    for note in [
        "hq  upstream scope  note: wecom refused department/list, user/list (a permission error)",
        "hq  upstream scope  note: the app's visible range names tag 404, which could not be read (code 40068)",
        "dt  upstream scope  note: DingTalk's HR roster refused the app (no roster read permission for this agent_id)",
    ] {
        assert!(out.contains(note), "{note:?} in {out}");
    }
    let plain = check_online(&setup("").await.config, &secret);
    assert!(!text(&plain).contains("note:"), "{}", text(&plain));
}

/// Ctrl-C while an in-process sync waits out DingTalk's anti-abuse ban (at least 5 minutes)
/// ends the run at once as interrupted, with nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_ends_a_long_throttle_wait_at_once() {
    let s = setup("").await;
    let dingtalk = emulators::dingtalk::start(small_org(), Default::default())
        .await
        .unwrap();
    s.add_dingtalk(&dingtalk);
    common::ban_for_an_hour(&dingtalk);
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&s.config)
        .args(["sync", "dt"])
        .env("ORGSYNC_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut seen, heard) = common::lines_until(child.stderr.take().unwrap(), "waiting 300 s");
    let interrupted_at = std::time::Instant::now();
    common::press_ctrl_c(&child);
    let output = child.wait_with_output().unwrap();
    let took = interrupted_at.elapsed();
    // Everything it said, up to the pipe's end.
    seen.extend(heard.iter());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        seen.join("\n")
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}: {out}");
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("while pulling: nothing was written"), "{out}");
    assert!(s.scim.users().is_empty(), "nothing written: {out}");
}

/// A config without a connector is valid, and yet nothing would sync: `check-config` says so.
#[test]
fn check_config_warns_when_no_connector_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    let state = format!("state_dir = \"{}\"\n", dir.path().join("state").display());
    std::fs::write(&config, &state).unwrap();
    let out = orgsync(&config, &["check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("warning: no connector is configured, so nothing will be synced"),
        "{}",
        text(&out)
    );
    // An empty [connectors] table is the same; `-c` after the subcommand names the file too.
    std::fs::write(&config, format!("{state}[connectors]\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .args(["check-config", "-c"])
        .arg(&config)
        .env_remove("ORGSYNC_CONFIG")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: no connector is configured"),
        "{}",
        text(&out)
    );
}
