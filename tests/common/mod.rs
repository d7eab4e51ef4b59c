//! Shared set-up for the integration tests: emulators on port 0, connectors wired to them.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod binary;
pub mod browser;
pub mod daemon;
pub mod events;
pub mod samba;
pub mod scim2_server;
pub mod scim_mapping;
pub mod secrets;
pub mod slapd;
pub mod upstream;

use emulators::fixture::{Department, Org, Scope, Status, User};
use orgsync::config::{HumanDuration, RetryConfig, Secret, SecretRef};
use orgsync::engine::Connector;
use orgsync::plan::Policy;
use orgsync::pullers::AnyPuller;
use orgsync::pullers::bitrix24::{
    Bitrix24Auth, Bitrix24Puller, Bitrix24Secrets, Bitrix24SourceConfig,
};
use orgsync::pullers::dingtalk::{DingtalkPuller, DingtalkSourceConfig};
use orgsync::pullers::feishu::{FeishuPuller, FeishuSourceConfig};
use orgsync::pullers::wecom::{WecomPuller, WecomSourceConfig};
use orgsync::pushers::AnyPusher;
use orgsync::pushers::ldap::{LdapPusher, LdapTargetConfig};
use orgsync::pushers::scim::{ScimPusher, ScimTargetConfig};
use std::time::Duration;

pub const AGENT_ID: i64 = 1_000_002;

/// `orgsync --config config/EXAMPLE diff hq --format json`, the example's hosts and ids
/// overridden by `env`, its `credential:` secrets given as files (name, content). Returns the
/// JSON report; panics with orgsync's stderr when the diff fails. Call it from a multi-threaded
/// runtime inside `block_in_place`, so the in-process emulators keep serving meanwhile.
pub fn diff_example(
    example: &str,
    env: &[(&str, String)],
    credentials: &[(&str, &str)],
) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let credentials_dir = dir.path().join("credentials");
    std::fs::create_dir(&credentials_dir).unwrap();
    for (name, content) in credentials {
        std::fs::write(credentials_dir.join(name), content).unwrap();
    }
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(example);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&config)
        .args(["diff", "hq", "--format", "json"])
        .env("CREDENTIALS_DIRECTORY", &credentials_dir)
        .env("ORGSYNC__STATE_DIR", dir.path().join("state"))
        .env("ORGSYNC_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{example}: orgsync diff failed: {stderr}"
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{example}: not a JSON report ({e}): {stderr}"))
}

/// What a WeCom example config needs overridden to pull from the emulator.
pub fn wecom_example_env(wecom: &emulators::wecom::WecomHandle) -> Vec<(&'static str, String)> {
    vec![
        (
            "ORGSYNC__CONNECTORS__HQ__SOURCE__API_BASE",
            wecom.base_url(),
        ),
        (
            "ORGSYNC__CONNECTORS__HQ__SOURCE__CORP_ID",
            wecom.config().corpid.clone(),
        ),
        ("ORGSYNC_WECOM_SECRET", wecom.config().corpsecret.clone()),
    ]
}

/// The people a report has steps of this kind for, in report order.
pub fn users_with(report: &orgsync::report::Report, kind: orgsync::plan::StepKind) -> Vec<&str> {
    report
        .steps
        .iter()
        .filter(|s| s.step.kind() == kind)
        .map(|s| s.step.subject().as_str())
        .collect()
}

/// Fails with the rendered report unless every step was applied.
pub fn assert_applied(report: &orgsync::report::Report) {
    assert_eq!(
        report.outcome,
        orgsync::report::RunOutcome::Applied,
        "report:\n{}",
        orgsync::report::render_text(report)
    );
}

/// Retries fast enough for tests, patient enough for injected faults.
pub fn quick_retries() -> RetryConfig {
    RetryConfig {
        max_attempts: Some(6),
        min_delay: HumanDuration(Duration::from_millis(1)),
        max_delay: HumanDuration(Duration::from_millis(50)),
        ..RetryConfig::default()
    }
}

/// A WeCom puller with quick retries. WeCom requires `agent_id`: `None` fails to build.
pub fn wecom_puller(wecom: &emulators::wecom::WecomHandle, agent_id: Option<i64>) -> WecomPuller {
    let config = wecom.config().clone();
    let mut source = WecomSourceConfig::new(
        config.corpid.clone(),
        SecretRef::Env("UNUSED".into()),
        wecom.base_url().parse().unwrap(),
    );
    source.agent_id = agent_id;
    source.retry = quick_retries();
    WecomPuller::new(source, Secret::new(config.corpsecret)).unwrap()
}

/// A Bitrix24 source on the emulator: its inbound webhook, or (`oauth`) its OAuth app with the
/// refresh token it was installed with. Quick retries; the default (Bitrix24) rate limits.
pub fn bitrix24_source(
    portal: &emulators::bitrix24::Bitrix24Handle,
    oauth: bool,
) -> (Bitrix24SourceConfig, Bitrix24Secrets) {
    let unused = || SecretRef::Env("UNUSED".into());
    let config = portal.config();
    let (auth, secrets) = if oauth {
        (
            Bitrix24Auth::oauth(
                portal.portal_url().parse().unwrap(),
                portal.oauth_url().parse().unwrap(),
                [unused(), unused(), unused()],
            ),
            Bitrix24Secrets::Oauth {
                client_id: Secret::new(config.client_id.clone()),
                client_secret: Secret::new(config.client_secret.clone()),
                refresh_token: Secret::new(portal.refresh_token()),
            },
        )
    } else {
        (
            Bitrix24Auth::webhook_url(unused()),
            Bitrix24Secrets::Webhook(Secret::new(portal.base_url())),
        )
    };
    let mut source = Bitrix24SourceConfig::new(auth);
    source.retry = quick_retries();
    (source, secrets)
}

pub fn bitrix24_puller(
    portal: &emulators::bitrix24::Bitrix24Handle,
    oauth: bool,
) -> Bitrix24Puller {
    let (source, secrets) = bitrix24_source(portal, oauth);
    Bitrix24Puller::new(source, secrets).unwrap()
}

/// A Feishu puller against the emulator with quick retries and no client-side rate limits (tests
/// that need them set `rate_limits` in `adjust`).
pub fn feishu_puller(
    feishu: &emulators::feishu::FeishuHandle,
    adjust: impl FnOnce(&mut FeishuSourceConfig),
) -> FeishuPuller {
    let config = feishu.config();
    let mut source = FeishuSourceConfig::new(
        config.app_id.clone(),
        SecretRef::Env("UNUSED".into()),
        feishu.base_url().parse().unwrap(),
    );
    source.retry = quick_retries();
    source.rate_limits = Vec::new();
    adjust(&mut source);
    FeishuPuller::new(source, Secret::new(config.app_secret.clone())).unwrap()
}

/// A DingTalk puller for `dingtalk` with quick retries and the default rate limits run as many
/// times faster as the emulator runs its own; `tweak` adjusts the config further.
pub fn dingtalk_puller(
    dingtalk: &emulators::dingtalk::DingtalkHandle,
    tweak: impl FnOnce(&mut DingtalkSourceConfig),
) -> DingtalkPuller {
    let config = dingtalk.config().clone();
    let mut source = DingtalkSourceConfig::new(
        config.app_key.clone(),
        SecretRef::Env("UNUSED".into()),
        dingtalk.base_url().parse().unwrap(),
    );
    source.retry = quick_retries();
    for limit in &mut source.rate_limits {
        limit.per = HumanDuration(limit.per.0.div_f64(config.rate_limit_speedup));
    }
    tweak(&mut source);
    DingtalkPuller::new(source, Secret::new(config.app_secret)).unwrap()
}

pub fn scim_pusher(base_url: &str, token: &str) -> ScimPusher {
    scim_pusher_mapping(base_url, token, &[])
}

/// A SCIM pusher whose `[target.attributes]` holds `attributes`.
pub fn scim_pusher_mapping(base_url: &str, token: &str, attributes: &[(&str, &str)]) -> ScimPusher {
    let mut target =
        ScimTargetConfig::new(base_url.parse().unwrap(), SecretRef::Env("UNUSED".into()));
    target.retry = quick_retries();
    target.attributes = attributes
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    ScimPusher::new(target, Secret::new(token)).unwrap()
}

pub fn connector(puller: WecomPuller, pusher: ScimPusher, policy: Policy) -> Connector {
    Connector {
        name: "test".into(),
        puller: AnyPuller::Wecom(puller),
        pusher: AnyPusher::Scim(pusher),
        policy,
        concurrency: 4,
    }
}

/// A connector to any target.
pub fn connector_to(puller: WecomPuller, pusher: AnyPusher, policy: Policy) -> Connector {
    Connector {
        name: "test".into(),
        puller: AnyPuller::Wecom(puller),
        pusher,
        policy,
        concurrency: 4,
    }
}

/// The default LDAP layout on a test slapd: people under `ou=people`, bound as the root DN.
pub fn ldap_config(url: &str) -> LdapTargetConfig {
    let mut config = LdapTargetConfig::new(
        url.parse().unwrap(),
        slapd::ADMIN,
        SecretRef::Env("UNUSED".into()),
        slapd::PEOPLE,
    );
    config.retry = quick_retries();
    config.timeout = HumanDuration(Duration::from_secs(5));
    config
}

pub fn ldap_pusher(config: LdapTargetConfig) -> LdapPusher {
    LdapPusher::new(config, Secret::new(slapd::PASSWORD)).unwrap()
}

pub fn department(id: i64, parent: Option<i64>, name: &str, leaders: &[&str]) -> Department {
    Department {
        id,
        parent,
        name: name.into(),
        name_en: None,
        order: id,
        leaders: leaders.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn person(id: &str, name: &str, departments: &[i64], manager: Option<&str>) -> User {
    User {
        id: id.into(),
        name: name.into(),
        email: Some(format!("{id}@example.cn")),
        mobile: None,
        title: Some("工程师".into()),
        employee_no: None,
        departments: departments.to_vec(),
        main_department: None,
        manager: manager.map(str::to_owned),
        status: Status::Active,
        extranet: false,
        profile: Default::default(),
        custom: Default::default(),
    }
}

/// A small company. The app sees departments 2 (研发部) and 3 (销售部) and the CEO individually;
/// department 4 (外部合作) is outside the scope, and its head manages someone inside it.
pub fn small_org() -> Org {
    Org {
        departments: vec![
            department(1, None, "公司", &["ceo"]),
            department(2, Some(1), "研发部", &["boss2"]),
            department(3, Some(1), "销售部", &["wang"]),
            department(4, Some(1), "外部合作", &["outsider"]),
        ],
        users: vec![
            person("ceo", "陈总", &[1], None),
            person("boss2", "Zoë Müller", &[2], Some("ceo")),
            person("lin", "林晓", &[2, 3], Some("boss2")),
            person("zhou", "周明", &[2], Some("boss2")),
            person("wang", "王芳", &[3], Some("ceo")),
            person(
                "sales1",
                "<img src=x onerror=alert(1)>",
                &[3],
                Some("outsider"),
            ),
            person("leaver", "李离", &[3], Some("wang")),
            person("outsider", "Out Sider", &[4], None),
        ],
        scope: Scope {
            departments: vec![2, 3],
            users: vec!["ceo".into()],
        },
        sensitive_fields: true,
    }
}

/// The target as (externalId → user), and each user's manager as an externalId.
pub fn by_external_id(
    users: &[emulators::scim::ScimUser],
) -> std::collections::BTreeMap<String, (emulators::scim::ScimUser, Option<String>)> {
    let ext_of: std::collections::BTreeMap<&str, &str> = users
        .iter()
        .filter_map(|u| Some((u.id.as_str(), u.external_id.as_deref()?)))
        .collect();
    users
        .iter()
        .map(|u| {
            let manager = u
                .manager_id
                .as_deref()
                .map(|m| ext_of.get(m).copied().unwrap_or("<dangling>").to_owned());
            (
                u.external_id
                    .clone()
                    .expect("every account orgsync creates has an externalId"),
                (u.clone(), manager),
            )
        })
        .collect()
}

/// Connector `name`'s TOML for the binary: `dingtalk` (its secret written to `dir/dt-secret`)
/// → the SCIM target at `scim` (its token read from `dir/scim-token`); `agent_id` (the HR
/// roster's) when given.
pub fn dingtalk_connector_toml(
    name: &str,
    dingtalk: &emulators::dingtalk::DingtalkHandle,
    dir: &std::path::Path,
    scim: &str,
    agent_id: Option<i64>,
) -> String {
    std::fs::write(dir.join("dt-secret"), &dingtalk.config().app_secret).unwrap();
    let agent_id = agent_id
        .map(|id| format!("agent_id = {id}\n"))
        .unwrap_or_default();
    format!(
        r#"
[connectors.{name}.source]
kind = "dingtalk"
app_key = "{app}"
app_secret = "file:{dir}/dt-secret"
{agent_id}api_base = "{base}"

[connectors.{name}.target]
kind = "scim"
base_url = "{scim}"
token = "file:{dir}/scim-token"
"#,
        app = dingtalk.config().app_key,
        dir = dir.display(),
        base = dingtalk.base_url(),
    )
}

/// DingTalk's anti-abuse ban as the real one reads (`"wait":5`: at least 5 minutes of waiting),
/// in force for an hour: a pull waits it out for as long as its budget lasts.
pub fn ban_for_an_hour(dingtalk: &emulators::dingtalk::DingtalkHandle) {
    dingtalk.ban(
        emulators::dingtalk::Ban::Json {
            status: 200,
            wait: 5,
        },
        Duration::from_secs(3600),
    );
}

/// The lines of a child's `stderr` up to the first holding `want` (30 s at most, else a panic
/// with what it said), and the rest as they come: read on a thread of their own, so the child
/// never blocks on a full pipe.
pub fn lines_until(
    stderr: std::process::ChildStderr,
    want: &str,
) -> (Vec<String>, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = said.send(line);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    while !seen.last().is_some_and(|l| l.contains(want)) {
        let line = heard
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no line with {want:?} ({e}): {seen:?}"));
        seen.push(line);
    }
    (seen, heard)
}

/// Sends `child` SIGINT, as Ctrl-C in its terminal would.
pub fn press_ctrl_c(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT {}", child.id());
}
