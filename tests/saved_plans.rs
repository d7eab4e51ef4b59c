//! Reviewed plans (`orgsync diff --save`, `orgsync apply`) through the real binary: a plan file is
//! sealed with the state directory's key, so an edited file is refused, and the deletion guard is
//! judged again on apply under the policy in force then, never taken from the file.

mod common;

use common::binary::{BinaryConfig, Extra, text, wecom_scim_config};
use common::small_org;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

const STALE_PLAN_EXIT: i32 = 7;
const REFUSED_EXIT: i32 = 6;

struct Setup {
    wecom: emulators::wecom::WecomHandle,
    scim: emulators::scim::ScimHandle,
    dir: tempfile::TempDir,
    config: BinaryConfig,
}

async fn setup(policy: &str) -> Setup {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, &wecom, &scim, policy);
    Setup {
        wecom,
        scim,
        dir,
        config,
    }
}

fn write(
    dir: &tempfile::TempDir,
    wecom: &emulators::wecom::WecomHandle,
    scim: &emulators::scim::ScimHandle,
    policy: &str,
) -> BinaryConfig {
    wecom_scim_config(
        dir.path(),
        "orgsync",
        wecom,
        scim.base_url(),
        scim.bearer_token(),
        Extra {
            policy,
            ..Extra::default()
        },
    )
}

impl Setup {
    fn plan_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `diff hq --save FILE`, which must succeed.
    fn save(&self, name: &str) -> PathBuf {
        let path = self.plan_path(name);
        let out = self
            .config
            .run(&["diff", "hq", "--save", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        path
    }

    fn inactive(&self) -> usize {
        self.scim.users().iter().filter(|u| !u.active).count()
    }

    /// Synced, then the app's scope narrowed to one department: the next plan removes people.
    fn synced_then_shrunk(&self) {
        let sync = self.config.run(&["sync", "hq"]);
        assert!(sync.status.success(), "{}", text(&sync));
        self.wecom.update_org(|org| org.scope.departments = vec![2]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_plan_is_refused_and_nothing_is_written() {
    // The default guard refuses the shrunken scope's removals.
    let s = setup("").await;
    s.synced_then_shrunk();
    let plan = s.save("plan.json");
    let refused = s.config.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(
        refused.status.code(),
        Some(REFUSED_EXIT),
        "{}",
        text(&refused)
    );

    // Edit the guard's word in the file, as someone wanting the removals through would.
    let original = std::fs::read_to_string(&plan).unwrap();
    let edited = original.replace("\\\"refused\\\"", "\\\"pass\\\"");
    let edited = if edited == original {
        original.replace("\"refused\"", "\"pass\"")
    } else {
        edited
    };
    assert_ne!(edited, original, "the edit must change the file");
    let tampered = s.plan_path("tampered.json");
    std::fs::write(&tampered, edited).unwrap();
    let out = s.config.run(&["apply", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(STALE_PLAN_EXIT), "{}", text(&out));
    assert!(text(&out).contains("seal does not match"), "{}", text(&out));
    assert_eq!(s.inactive(), 0, "nobody may be deactivated");

    // A step removed from the file: refused the same way.
    let value: serde_json::Value = serde_json::from_str(&original).unwrap();
    let mut content: serde_json::Value = value["content"].clone();
    content["plan"]["steps"].as_array_mut().unwrap().pop();
    let mut file = value.clone();
    file["content"] = content;
    let cut = s.plan_path("cut.json");
    std::fs::write(&cut, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    let out = s.config.run(&["apply", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(STALE_PLAN_EXIT), "{}", text(&out));
    assert_eq!(s.inactive(), 0);

    // The untouched plan applies once approved.
    let approved = s
        .config
        .run(&["apply", plan.to_str().unwrap(), "--allow-deletions"]);
    assert!(approved.status.success(), "{}", text(&approved));
    assert!(s.inactive() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_is_judged_again_under_the_policy_in_force() {
    // Saved under a permissive policy: the plan passes the guard when it is made.
    let s = setup("max_deletion_ratio = 1.0\nmax_deletions = 100").await;
    s.synced_then_shrunk();
    let plan = s.save("plan.json");
    let diff = s.config.run(&["diff", "hq", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(report["guard"]["verdict"], "pass", "{}", text(&diff));

    // The admin tightens the policy before applying: the saved plan is refused now.
    write(&s.dir, &s.wecom, &s.scim, "max_deletions = 0");
    let out = s.config.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(REFUSED_EXIT), "{}", text(&out));
    assert_eq!(s.inactive(), 0);
    let approved = s
        .config
        .run(&["apply", plan.to_str().unwrap(), "--allow-deletions"]);
    assert!(approved.status.success(), "{}", text(&approved));
    assert!(s.inactive() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_from_another_state_directory_is_refused() {
    let s = setup("").await;
    let plan = s.save("plan.json");
    // The same config with a fresh state directory: a new key, which did not seal this plan.
    std::fs::remove_dir_all(&s.config.state_dir).unwrap();
    let out = s.config.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(STALE_PLAN_EXIT), "{}", text(&out));
    assert!(text(&out).contains("seal does not match"), "{}", text(&out));
    assert!(s.scim.users().is_empty());
}

/// A plan applied with a configuration that lacks its connector (made with another file) does
/// not apply: exit 7, naming the connector, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_for_a_connector_the_configuration_lacks_does_not_apply() {
    let s = setup("").await;
    let plan = s.save("plan.json");
    let other = s.dir.path().join("ops.toml");
    let text_of_file = std::fs::read_to_string(&s.config.path).unwrap();
    std::fs::write(
        &other,
        text_of_file.replace("connectors.hq", "connectors.ops"),
    )
    .unwrap();
    let ops = BinaryConfig {
        path: other,
        state_dir: s.config.state_dir.clone(),
        env: s.config.env.clone(),
    };
    let out = ops.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(STALE_PLAN_EXIT), "{}", text(&out));
    assert!(
        text(&out).contains("the plan is for connector hq")
            && text(&out).contains("(configured: ops)"),
        "{}",
        text(&out)
    );
    assert!(s.scim.users().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_files_are_private_and_never_overwritten() {
    let s = setup("").await;
    let path = s.plan_path("plan.json");
    let saved = s
        .config
        .run(&["diff", "hq", "--save", path.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", text(&saved));
    // The next command to run names the configuration the plan was made with.
    let next = format!(
        "run `orgsync --config {} apply {}`",
        s.config.path.display(),
        path.display()
    );
    assert!(text(&saved).contains(&next), "{}", text(&saved));
    let plan = path;
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");

    let before = std::fs::read(&plan).unwrap();
    let again = s
        .config
        .run(&["diff", "hq", "--save", plan.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert_eq!(std::fs::read(&plan).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_of_the_old_unsealed_format_is_refused_with_the_way_out() {
    let s = setup("").await;
    let old = s.plan_path("old.json");
    std::fs::write(
        &old,
        r#"{"format":"orgsync-plan/1","connector":"hq","verdict":{"verdict":"pass","removals":0}}"#,
    )
    .unwrap();
    let out = s.config.run(&["apply", old.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(STALE_PLAN_EXIT), "{}", text(&out));
    assert!(
        text(&out).contains("older orgsync") && text(&out).contains("--save"),
        "{}",
        text(&out)
    );
}
