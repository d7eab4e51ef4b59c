//! The `orgsync` binary prints every report format: `orgsync diff hq --format html > report.html`
//! and friends, against the emulated WeCom org and SCIM app, configured through a real config file.

mod common;

use common::small_org;
use std::process::{Command, Output};

struct Setup {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    wecom_secret: String,
    scim_token: String,
}

fn write_config(
    wecom: &emulators::wecom::WecomHandle,
    scim: &emulators::scim::ScimHandle,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"

[connectors.hq.source]
kind = "wecom"
corp_id = "{corp}"
secret = "env:TEST_WECOM_SECRET"
api_base = "{wecom}"
agent_id = {agent}

[connectors.hq.target]
kind = "scim"
base_url = "{scim}"
token = "env:TEST_SCIM_TOKEN"
"#,
            state = dir.path().join("state").display(),
            corp = wecom.config().corpid,
            wecom = wecom.base_url(),
            agent = common::AGENT_ID,
            scim = scim.base_url(),
        ),
    )
    .unwrap();
    Setup {
        config,
        wecom_secret: wecom.config().corpsecret.clone(),
        scim_token: scim.bearer_token().to_owned(),
        _dir: dir,
    }
}

/// Runs the binary off the async runtime, which keeps serving the emulators meanwhile.
async fn orgsync(setup: &Setup, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    command
        .arg("--config")
        .arg(&setup.config)
        .args(args)
        .env("TEST_WECOM_SECRET", &setup.wecom_secret)
        .env("TEST_SCIM_TOKEN", &setup.scim_token)
        .env("ORGSYNC_LOG", "warn")
        .env_remove("NO_COLOR");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "orgsync {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_prints_every_format() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let setup = write_config(&wecom, &scim);

    let text = orgsync(&setup, &["diff", "hq"]).await;
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("Dry-run report: connector hq (wecom → scim)"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );

    let limited = orgsync(&setup, &["diff", "hq", "--limit", "2"]).await;
    let limited = String::from_utf8(limited.stdout).unwrap();
    assert!(limited.contains("… and 5 more"), "{limited}");

    let json = orgsync(&setup, &["diff", "hq", "--format", "json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["counts"]["create"], 7);

    let markdown = orgsync(&setup, &["diff", "hq", "--format", "markdown"]).await;
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(
        markdown.starts_with("# Dry-run report: connector hq"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| &lt;img src=x onerror=alert(1)&gt; | sales1 |"),
        "{markdown}"
    );
    assert!(!markdown.contains("<img"), "{markdown}");
    let limited = orgsync(
        &setup,
        &["diff", "hq", "--format", "markdown", "--limit", "1"],
    )
    .await;
    let limited = String::from_utf8(limited.stdout).unwrap();
    assert!(limited.contains("*… and 6 more"), "{limited}");

    let html = orgsync(&setup, &["diff", "hq", "--format", "html"]).await;
    let html = String::from_utf8(html.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"<script type="application/json" id="report-data">"#));
    assert!(!html.contains("<img"), "the hostile name is never markup");
    assert!(html.contains(r"\u003cimg src=x onerror=alert(1)\u003e"));

    // `sync --dry-run` takes the same options.
    let sync = orgsync(&setup, &["sync", "hq", "--dry-run", "--format", "markdown"]).await;
    assert!(
        String::from_utf8(sync.stdout)
            .unwrap()
            .starts_with("# Dry-run report")
    );
    assert!(scim.users().is_empty(), "nothing was written");
}
