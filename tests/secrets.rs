//! Secrets never reach logs, reports or error messages: the real binary runs each upstream
//! (WeCom, DingTalk, Feishu, Bitrix24 with its code inside the webhook URL) into SCIM at trace
//! level, prints every report format, then fails on purpose — wrong credentials, unreachable
//! hosts — and everything it printed is scanned for the configured secret values and the access
//! tokens the upstreams issued (their prefixes: a token in a URL query must not leak either).

mod common;

use common::binary::{Extra, SCIM_TOKEN_VAR as SCIM_TOKEN, text, write_config};
use common::secrets::SecretScan;
use common::small_org;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UPSTREAM_SECRET: &str = "TEST_UPSTREAM_SECRET";
/// A port nothing listens on.
const UNREACHABLE: &str = "http://127.0.0.1:9";

/// The two secrets' environment variables and values.
type Env<'a> = [(&'a str, &'a str); 2];

struct Run<'a> {
    dir: &'a Path,
    scan: SecretScan,
}

impl Run<'_> {
    /// Writes a config with this source and target, runs `args` at trace level with these
    /// secrets, scans all output, and returns it.
    fn orgsync(
        &mut self,
        what: &str,
        source: &str,
        scim_url: &str,
        env: Env,
        args: &[&str],
    ) -> Output {
        let path = self.config(source, scim_url);
        let output = Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("ORGSYNC_LOG", "trace")
            .env("NO_COLOR", "1")
            .envs(env)
            .output()
            .unwrap();
        self.scan
            .check_output(&format!("{what}: {}", args.join(" ")), &output);
        output
    }

    fn config(&self, source: &str, scim_url: &str) -> PathBuf {
        let path = self.dir.join("orgsync.toml");
        let state = self.dir.join("state");
        write_config(&path, &state, source, scim_url, Extra::default());
        path
    }
}

/// One upstream: its source section (given its base URL) and its secret value.
struct Upstream {
    name: &'static str,
    source: Box<dyn Fn(&str) -> String>,
    base_url: String,
    secret: String,
}

/// The whole scenario for one upstream; returns how much was scanned.
fn scenario(
    upstream: &Upstream,
    scim: &emulators::scim::ScimHandle,
    scan: SecretScan,
) -> SecretScan {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run {
        dir: dir.path(),
        scan,
    };
    let name = upstream.name;
    let source = (upstream.source)(&upstream.base_url);
    let good = [
        (UPSTREAM_SECRET, upstream.secret.as_str()),
        (SCIM_TOKEN, scim.bearer_token()),
    ];
    let check = run.orgsync(name, &source, scim.base_url(), good, &["check-config"]);
    assert!(check.status.success(), "{}", text(&check));
    let sync = run.orgsync(
        name,
        &source,
        scim.base_url(),
        good,
        &["sync", "hq", "--format", "json"],
    );
    assert!(sync.status.success(), "{name}: {}", text(&sync));
    assert!(
        String::from_utf8_lossy(&sync.stderr).contains("TRACE"),
        "{name}: trace logs were captured"
    );
    for format in ["text", "json", "markdown", "html"] {
        let diff = run.orgsync(
            name,
            &source,
            scim.base_url(),
            good,
            &["diff", "hq", "--full", "--format", format],
        );
        assert!(diff.status.success(), "{name}: {}", text(&diff));
    }
    let saved = dir.path().join("plan.json");
    let save = run.orgsync(
        name,
        &source,
        scim.base_url(),
        good,
        &["diff", "hq", "--save", saved.to_str().unwrap()],
    );
    assert!(save.status.success(), "{name}: {}", text(&save));
    run.scan.check(
        &format!("{name}: the saved plan"),
        &std::fs::read_to_string(&saved).unwrap(),
    );
    let rebuild = run.orgsync(
        name,
        &source,
        scim.base_url(),
        good,
        &["snapshot", "rebuild", "hq"],
    );
    assert!(rebuild.status.success(), "{name}: {}", text(&rebuild));

    // Failures: each must fail, clearly, without printing what it was given.
    let wrong_upstream = format!("{}-wrong", upstream.secret);
    let wrong_token = format!("{}-wrong", scim.bearer_token());
    run.scan
        .secret(
            &format!("{name}: the wrong upstream secret"),
            &wrong_upstream,
        )
        .secret("the wrong SCIM token", &wrong_token);
    let failures: [(&str, String, &str, Env); 4] = [
        (
            "wrong upstream credentials",
            source.clone(),
            scim.base_url(),
            [
                (UPSTREAM_SECRET, &wrong_upstream),
                (SCIM_TOKEN, scim.bearer_token()),
            ],
        ),
        (
            "wrong SCIM token",
            source.clone(),
            scim.base_url(),
            [
                (UPSTREAM_SECRET, &upstream.secret),
                (SCIM_TOKEN, &wrong_token),
            ],
        ),
        (
            "unreachable upstream",
            (upstream.source)(UNREACHABLE),
            scim.base_url(),
            good,
        ),
        ("unreachable target", source.clone(), UNREACHABLE, good),
    ];
    for (what, source, scim_url, env) in failures {
        // --full makes the target be read even when nothing is to be written.
        let output = run.orgsync(
            &format!("{name}, {what}"),
            &source,
            scim_url,
            env,
            &["sync", "hq", "--full"],
        );
        assert!(
            !output.status.success(),
            "{name}, {what}: {}",
            text(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("ERROR")
                || text(&output).contains("FAILED"),
            "{name}, {what}: the failure is said: {}",
            text(&output)
        );
        // The online check logs in on both sides and prints each side's error.
        let check = run.orgsync(
            &format!("{name}, {what}, check-config --online"),
            &source,
            scim_url,
            env,
            &["check-config", "--online"],
        );
        assert!(
            text(&check).contains("FAILED: "),
            "{name}, {what}: {}",
            text(&check)
        );
    }
    run.scan
}

fn base_scan(scim: &emulators::scim::ScimHandle) -> SecretScan {
    let mut scan = SecretScan::default();
    scan.secret("the SCIM bearer token", scim.bearer_token())
        .secret("a WeCom access token (prefix)", "wc-tok-")
        .secret("a DingTalk access token (prefix)", "dt-tok-")
        .secret("a Bitrix24 access token (prefix)", "b24-at-");
    scan
}

fn report(name: &str, scan: &SecretScan) {
    eprintln!(
        "secrets {name}: {} outputs, {} bytes scanned, no secret found",
        scan.scanned, scan.bytes
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wecom_secrets_stay_out_of_logs_reports_and_errors() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let corp = wecom.config().corpid.clone();
    let upstream = Upstream {
        name: "wecom",
        source: Box::new(move |base| {
            format!(
                "kind = \"wecom\"\ncorp_id = \"{corp}\"\nsecret = \"env:{UPSTREAM_SECRET}\"\nagent_id = {}\napi_base = \"{base}\"",
                common::AGENT_ID
            )
        }),
        base_url: wecom.base_url(),
        secret: wecom.config().corpsecret.clone(),
    };
    let mut scan = base_scan(&scim);
    scan.secret("the WeCom corp secret", &upstream.secret);
    report("wecom", &scenario(&upstream, &scim, scan));
}

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_secrets_stay_out_of_logs_reports_and_errors() {
    let dingtalk = emulators::dingtalk::start(
        small_org(),
        emulators::dingtalk::DingtalkConfig {
            enforce_rate_limits: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let key = dingtalk.config().app_key.clone();
    let upstream = Upstream {
        name: "dingtalk",
        source: Box::new(move |base| {
            format!(
                "kind = \"dingtalk\"\napp_key = \"{key}\"\napp_secret = \"env:{UPSTREAM_SECRET}\"\napi_base = \"{base}\"\nrate_limits = [{{ requests = 1000, per = \"1s\", scope = \"endpoint\" }}]"
            )
        }),
        base_url: dingtalk.base_url(),
        secret: dingtalk.config().app_secret.clone(),
    };
    let mut scan = base_scan(&scim);
    scan.secret("the DingTalk app secret", &upstream.secret);
    report("dingtalk", &scenario(&upstream, &scim, scan));
}

#[tokio::test(flavor = "multi_thread")]
async fn feishu_secrets_stay_out_of_logs_reports_and_errors() {
    let feishu = emulators::feishu::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let app = feishu.config().app_id.clone();
    let upstream = Upstream {
        name: "feishu",
        source: Box::new(move |base| {
            format!(
                "kind = \"feishu\"\napp_id = \"{app}\"\napp_secret = \"env:{UPSTREAM_SECRET}\"\napi_base = \"{base}\"\nrate_limits = []"
            )
        }),
        base_url: feishu.base_url(),
        secret: feishu.config().app_secret.clone(),
    };
    let mut scan = base_scan(&scim);
    scan.secret("the Feishu app secret", &upstream.secret);
    report("feishu", &scenario(&upstream, &scim, scan));
}

#[tokio::test(flavor = "multi_thread")]
async fn bitrix24_webhook_code_stays_out_of_logs_reports_and_errors() {
    let portal = emulators::bitrix24::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let code = portal.config().webhook_code.clone();
    let user_id = portal.config().webhook_user_id;
    // The secret is only the code; portal and user id are in the file, the code from the
    // environment — the client puts it in every URL it requests.
    let upstream = Upstream {
        name: "bitrix24",
        source: Box::new(move |base| {
            format!(
                "kind = \"bitrix24\"\nauth = {{ mode = \"webhook\", portal = \"{base}\", user_id = {user_id}, code = \"env:{UPSTREAM_SECRET}\" }}"
            )
        }),
        base_url: portal.portal_url(),
        secret: code.clone(),
    };
    let mut scan = base_scan(&scim);
    scan.secret("the Bitrix24 webhook code", &code);
    report("bitrix24", &scenario(&upstream, &scim, scan));
}

/// People's personal data stays out of the log (the journal keeps it; reports, for admins, may
/// show it): the real binary syncs a WeCom org into SCIM at debug level, with distinctive names,
/// e-mails, mobiles and titles on people who set off every warning the data can — a duplicate
/// e-mail, a person held for a missing name, a manager outside the scope, a manager cycle, and a
/// create the target refuses because another account holds the e-mail — and stderr must carry
/// none of those values, only keys.
#[tokio::test(flavor = "multi_thread")]
async fn personal_data_stays_out_of_the_log() {
    use emulators::fixture::Status;
    let person = |id: &str, name: &str, manager: Option<&str>, department: i64| {
        let mut user = common::person(id, name, &[department], manager);
        user.email = Some(format!("{id}.private-mail@personal.example"));
        user.mobile = Some(format!("+86 139 {:04}", id.len() * 1111));
        user.title = Some(format!("Title-of-{id}"));
        user
    };
    let mut org = small_org();
    org.users.extend([
        person("pd-ana", "Anastasia Quixotepersonal", Some("pd-out"), 2),
        person("pd-bo", "Bohumil Zzyzxname", Some("pd-ana"), 2),
        person("pd-cy1", "Cyprian Loopington", Some("pd-cy2"), 2),
        person("pd-cy2", "Cecilia Roundabout", Some("pd-cy1"), 3),
        person("pd-held", "", None, 3),
        person("pd-cf", "Conrad Clashworthy", None, 3),
        person("pd-out", "Ottilie Outofscope", None, 4),
        person("pd-gone", "Gwendolyn Resignedperson", Some("pd-ana"), 2),
    ]);
    // pd-bo shares pd-ana's address: a uniqueness clash.
    let shared = org
        .users
        .iter()
        .find(|u| u.id == "pd-ana")
        .unwrap()
        .email
        .clone();
    org.users
        .iter_mut()
        .find(|u| u.id == "pd-bo")
        .unwrap()
        .email = shared;
    org.users
        .iter_mut()
        .find(|u| u.id == "pd-gone")
        .unwrap()
        .status = Status::Resigned;
    let private: Vec<String> = org
        .users
        .iter()
        .filter(|u| u.id.starts_with("pd-"))
        .flat_map(|u| {
            [
                Some(u.name.clone()),
                u.email.clone(),
                u.mobile.clone(),
                u.title.clone(),
            ]
            .into_iter()
            .flatten()
            .filter(|v| !v.is_empty())
        })
        .collect();
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    // An account created by hand holds pd-cf's e-mail: the target refuses pd-cf's create.
    let mut squatter = emulators::scim::ScimUser::new("squatter");
    squatter.emails = vec!["pd-cf.private-mail@personal.example".into()];
    scim.insert_user(squatter);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsync.toml");
    let source = format!(
        "kind = \"wecom\"\ncorp_id = \"{}\"\nsecret = \"env:{UPSTREAM_SECRET}\"\nagent_id = {}\napi_base = \"{}\"",
        wecom.config().corpid,
        common::AGENT_ID,
        wecom.base_url()
    );
    write_config(
        &path,
        &dir.path().join("state"),
        &source,
        scim.base_url(),
        Extra {
            policy: "match_by = \"none\"\nmax_deletion_ratio = 1.0",
            ..Extra::default()
        },
    );
    let orgsync = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgsync"));
        command
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("ORGSYNC_LOG", "debug")
            .env("NO_COLOR", "1")
            .env(UPSTREAM_SECRET, &wecom.config().corpsecret)
            .env(SCIM_TOKEN, scim.bearer_token());
        tokio::task::block_in_place(|| command.output().unwrap())
    };
    let mut logs = Vec::new();
    for args in [
        &["sync", "hq"][..],
        &["sync", "hq"],
        &["diff", "hq", "--full"],
    ] {
        let output = orgsync(args);
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        logs.push((
            args.join(" "),
            log,
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
    }
    let (_, first_log, first_report) = &logs[0];
    assert!(
        first_log.contains("WARN") && first_log.contains("pd-cf"),
        "the refused create is warned about, by key:\n{first_log}"
    );
    assert!(
        first_report.contains("Conrad Clashworthy") && first_report.contains("Cyprian Loopington"),
        "the report still names people:\n{first_report}"
    );
    for (what, log, _) in &logs {
        assert!(log.contains("DEBUG"), "{what}: debug logs were captured");
        for value in &private {
            assert!(
                !log.contains(value.as_str()),
                "{what}: the log carries the personal value {value:?}:\n{log}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "printed the secret the planted secret")]
fn the_scan_finds_a_planted_secret() {
    let mut scan = SecretScan::default();
    scan.secret("the planted secret", "s3cr3t-value");
    scan.check(
        "a log",
        "GET /cgi-bin/user/list?access_token=s3cr3t-value 200",
    );
}
