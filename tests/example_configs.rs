//! Every example config in `config/` drives the real binary: `orgsync diff` against that
//! platform's emulator and the SCIM emulator, with only what an admin changes overridden from the
//! environment (hosts, the app's id, the state directory) and secrets given the way the example
//! names them (`env:`, and the SCIM token as a systemd credential).

mod common;

use common::small_org;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// The people of `small_org` inside the app's scope: what a first diff must create.
const IN_SCOPE: usize = 7;
/// Bitrix24 has no app scope: a webhook of an administrator sees every person.
const WHOLE_ORG: usize = 8;

struct Run {
    example: &'static str,
    /// People the pull sees and the diff creates.
    people: usize,
    /// Environment variables the run needs besides the common ones.
    env: Vec<(String, String)>,
    /// systemd credentials the example names, besides the SCIM token.
    credentials: Vec<(&'static str, String)>,
}

fn diff(run: &Run, scim: &emulators::scim::ScimHandle) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("scim-token"), scim.bearer_token()).unwrap();
    for (name, value) in &run.credentials {
        std::fs::write(credentials.join(name), value).unwrap();
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(run.example);
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&config)
        .args(["diff", "hq", "--format", "json"])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env("ORGSYNC__STATE_DIR", dir.path().join("state"))
        .env("ORGSYNC__CONNECTORS__HQ__TARGET__BASE_URL", scim.base_url())
        .env("ORGSYNC_LOG", "warn")
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap()
}

fn check(run: &Run, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}: orgsync diff failed: {stderr}",
        run.example
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{}: not a JSON report ({e}): {stderr}", run.example));
    assert_eq!(report["outcome"]["state"], "planned", "{}", run.example);
    assert_eq!(
        report["counts"]["create"], run.people,
        "{}: {}",
        run.example, report["counts"]
    );
    assert_eq!(report["pull"]["users"], run.people, "{}", run.example);
}

fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_config_diffs_against_its_emulator() {
    let scim = emulators::scim::start(Default::default()).await.unwrap();

    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let run = Run {
        example: "wecom-scim.toml",
        people: IN_SCOPE,
        env: env(&[
            (
                "ORGSYNC__CONNECTORS__HQ__SOURCE__API_BASE",
                wecom.base_url(),
            ),
            (
                "ORGSYNC__CONNECTORS__HQ__SOURCE__CORP_ID",
                wecom.config().corpid.clone(),
            ),
        ]),
        credentials: vec![("wecom-secret", wecom.config().corpsecret.clone())],
    };
    check(&run, &tokio::task::block_in_place(|| diff(&run, &scim)));

    let dingtalk = emulators::dingtalk::start(small_org(), Default::default())
        .await
        .unwrap();
    let run = Run {
        example: "dingtalk-scim.toml",
        people: IN_SCOPE,
        env: env(&[
            (
                "ORGSYNC__CONNECTORS__HQ__SOURCE__API_BASE",
                dingtalk.base_url(),
            ),
            (
                "ORGSYNC__CONNECTORS__HQ__SOURCE__APP_KEY",
                dingtalk.config().app_key.clone(),
            ),
            (
                "ORGSYNC_DINGTALK_SECRET",
                dingtalk.config().app_secret.clone(),
            ),
        ]),
        credentials: Vec::new(),
    };
    check(&run, &tokio::task::block_in_place(|| diff(&run, &scim)));

    let feishu = emulators::feishu::start(small_org(), Default::default())
        .await
        .unwrap();
    let run = Run {
        example: "feishu-scim.toml",
        people: IN_SCOPE,
        env: env(&[
            (
                "ORGSYNC__CONNECTORS__HQ__SOURCE__API_BASE",
                feishu.base_url(),
            ),
            (
                "ORGSYNC__CONNECTORS__HQ__SOURCE__APP_ID",
                feishu.config().app_id.clone(),
            ),
            (
                "ORGSYNC_FEISHU_APP_SECRET",
                feishu.config().app_secret.clone(),
            ),
        ]),
        credentials: Vec::new(),
    };
    check(&run, &tokio::task::block_in_place(|| diff(&run, &scim)));

    let bitrix24 = emulators::bitrix24::start(small_org(), Default::default())
        .await
        .unwrap();
    let run = Run {
        example: "bitrix24-scim.toml",
        people: WHOLE_ORG,
        // The webhook URL is the whole secret; nothing else differs from the example.
        env: env(&[("ORGSYNC_BITRIX24_WEBHOOK", bitrix24.base_url())]),
        credentials: Vec::new(),
    };
    check(&run, &tokio::task::block_in_place(|| diff(&run, &scim)));

    // A dry run wrote nothing.
    assert!(scim.users().is_empty());
}
