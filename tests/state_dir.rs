//! An unusable state directory — locked, corrupt, unwritable, full, not a directory — ends the
//! real binary with a clear error and exit code 4, never a panic; `orgsync snapshot rebuild`
//! rebuilds a lost or corrupt snapshot from the target.

mod common;

use common::binary::{BinaryConfig, Extra, Rng, text, wecom_scim_config};
use common::small_org;
use orgsync::snapshot::SnapshotStore;
use orgsync::state::StateDb;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Output;

const STATE_EXIT: i32 = 4;
/// The seven people of `small_org` the app sees (the CEO through the range's people, now that
/// WeCom requires the agent id that reads them).
const IN_SCOPE: usize = 7;

struct Setup {
    _wecom: emulators::wecom::WecomHandle,
    scim: emulators::scim::ScimHandle,
    dir: tempfile::TempDir,
    config: BinaryConfig,
}

async fn setup() -> Setup {
    setup_with(small_org()).await
}

async fn setup_with(org: emulators::fixture::Org) -> Setup {
    setup_with_policy(org, "").await
}

/// The same, with these lines in `[connectors.hq.policy]`.
async fn setup_with_policy(org: emulators::fixture::Org, policy: &str) -> Setup {
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = wecom_scim_config(
        dir.path(),
        "orgsync",
        &wecom,
        scim.base_url(),
        scim.bearer_token(),
        Extra {
            policy,
            ..Extra::default()
        },
    );
    Setup {
        _wecom: wecom,
        scim,
        dir,
        config,
    }
}

/// Exit code 4, the error on stderr, and no panic.
fn assert_state_error(output: &Output, expected: &str) {
    let all = text(output);
    assert_eq!(output.status.code(), Some(STATE_EXIT), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert!(all.contains("error: "), "{all}");
    assert!(all.contains(expected), "expected {expected:?} in: {all}");
}

fn steps(output: &Output) -> usize {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", text(output)));
    report["steps"].as_array().unwrap().len()
}

fn assert_synced(s: &Setup) {
    let sync = s.config.run(&["sync", "hq", "--format", "json"]);
    assert!(sync.status.success(), "{}", text(&sync));
    let mut keys: Vec<String> = s
        .scim
        .users()
        .into_iter()
        .map(|u| u.external_id.unwrap())
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len(), "duplicates in the target");
    assert_eq!(keys.len(), IN_SCOPE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_state_directory_exits_4() {
    let s = setup().await;
    let held = StateDb::open(&s.config.state_dir).unwrap();
    let output = s.config.run(&["sync", "hq"]);
    assert_state_error(&output, "in use by another orgsync process");
    // Which one: this test process noted itself when it took the lock; no daemon answers.
    assert_state_error(&output, &format!("process {}", std::process::id()));
    assert_state_error(&output, "another orgsync command is using it");
    drop(held);
    assert_synced(&s);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_snapshot_exits_4_and_rebuild_repairs_it() {
    let s = setup().await;
    assert_synced(&s);
    {
        // Damage as a disk fault would: raw bytes under the database, past orgsync's own code.
        let db = sled::open(s.config.state_dir.join("state.sled")).unwrap();
        let tree = db.open_tree("snapshot/hq").unwrap();
        tree.insert("lin", &b"{ not json"[..]).unwrap();
        db.flush().unwrap();
    }
    let output = s.config.run(&["sync", "hq"]);
    assert_state_error(
        &output,
        "snapshot of connector hq is corrupt at user \"lin\"",
    );
    assert!(
        text(&output).contains("orgsync snapshot rebuild hq"),
        "{}",
        text(&output)
    );

    let rebuild = s.config.run(&["snapshot", "rebuild", "hq"]);
    assert!(rebuild.status.success(), "{}", text(&rebuild));
    assert!(
        text(&rebuild).contains(&format!("{IN_SCOPE} account(s) linked by externalId")),
        "{}",
        text(&rebuild)
    );
    let diff = s.config.run(&["diff", "hq", "--format", "json"]);
    assert_eq!(steps(&diff), 0, "{}", text(&diff));
    assert_synced(&s);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_state_directory_is_rebuilt_from_the_target() {
    let s = setup().await;
    assert_synced(&s);
    let store = StateDb::open(&s.config.state_dir).unwrap();
    let before = store.load("hq").unwrap();
    drop(store);
    std::fs::remove_dir_all(&s.config.state_dir).unwrap();

    let rebuild = s.config.run(&["snapshot", "rebuild", "hq"]);
    assert!(rebuild.status.success(), "{}", text(&rebuild));
    let store = StateDb::open(&s.config.state_dir).unwrap();
    assert_eq!(store.load("hq").unwrap(), before, "the same snapshot again");
    drop(store);
    let diff = s.config.run(&["diff", "hq", "--format", "json"]);
    assert_eq!(steps(&diff), 0, "{}", text(&diff));
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_against_an_unreachable_target_leaves_the_snapshot_alone() {
    let s = setup().await;
    assert_synced(&s);
    let store = StateDb::open(&s.config.state_dir).unwrap();
    let before = store.load("hq").unwrap();
    drop(store);
    let broken = BinaryConfig {
        env: vec![
            s.config.env[0].clone(),
            (common::binary::SCIM_TOKEN_VAR.into(), "wrong".into()),
        ],
        ..clone_config(&s.config)
    };
    let rebuild = broken.run(&["snapshot", "rebuild", "hq"]);
    assert_eq!(rebuild.status.code(), Some(1), "{}", text(&rebuild));
    assert!(
        text(&rebuild).contains("the snapshot is unchanged"),
        "{}",
        text(&rebuild)
    );
    let store = StateDb::open(&s.config.state_dir).unwrap();
    assert_eq!(store.load("hq").unwrap(), before);
}

fn clone_config(config: &BinaryConfig) -> BinaryConfig {
    BinaryConfig {
        path: config.path.clone(),
        state_dir: config.state_dir.clone(),
        env: config.env.clone(),
    }
}

/// How the database files are damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Every file replaced by random bytes.
    Garbage,
    /// Every file cut to half its length.
    Truncated,
    /// 32 random bytes of every file overwritten.
    Flipped,
}

fn damage(state_dir: &std::path::Path, how: Damage, rng: &mut Rng) {
    for file in walk(&state_dir.join("state.sled")) {
        let mut bytes = std::fs::read(&file).unwrap();
        match how {
            Damage::Garbage => {
                let len = bytes.len().max(64);
                bytes = (0..len).map(|_| rng.next_u64() as u8).collect();
            }
            Damage::Truncated => bytes.truncate(bytes.len() / 2),
            Damage::Flipped => {
                for _ in 0..32 {
                    if !bytes.is_empty() {
                        let at = rng.below(bytes.len() as u64) as usize;
                        bytes[at] = rng.next_u64() as u8;
                    }
                }
            }
        }
        std::fs::write(&file, bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_database_files_exit_4_or_are_rebuilt_never_panic() {
    let s = setup().await;
    assert_synced(&s);
    let mut rng = Rng(7);
    let mut outcomes = Vec::new();
    for round in 0..12 {
        let how = [Damage::Garbage, Damage::Truncated, Damage::Flipped][round % 3];
        damage(&s.config.state_dir, how, &mut rng);
        let output = s.config.run(&["sync", "hq", "--format", "json"]);
        let all = text(&output);
        assert!(!all.contains("panicked"), "{how:?}: {all}");
        // sled may recover a damaged log tail (a run then succeeds, maybe repairing what the
        // snapshot lost); otherwise the state error names the directory and the way out.
        match output.status.code() {
            Some(0) => {}
            Some(STATE_EXIT) => {
                assert!(all.contains("orgsync snapshot rebuild"), "{how:?}: {all}");
                std::fs::remove_dir_all(&s.config.state_dir).unwrap();
                let rebuild = s.config.run(&["snapshot", "rebuild", "hq"]);
                assert!(rebuild.status.success(), "{}", text(&rebuild));
            }
            other => panic!("{how:?}: exit {other:?}: {all}"),
        }
        outcomes.push((how, output.status.code()));
        let diff = s.config.run(&["diff", "hq", "--format", "json"]);
        assert_eq!(steps(&diff), 0, "{how:?}: {}", text(&diff));
    }
    eprintln!("damage → exit code: {outcomes:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_path_that_is_a_file_exits_4() {
    let s = setup().await;
    std::fs::write(&s.config.state_dir, "not a directory").unwrap();
    let output = s.config.run(&["sync", "hq"]);
    assert_state_error(&output, "cannot open state directory");
}

/// Runs as an unprivileged user when the tests run as root (root ignores permission bits).
fn unprivileged(s: &Setup, args: &[&str]) -> Output {
    unprivileged_with_config_mode(s, args, 0o644)
}

/// The same, with the config file at `config_mode` (for root; other users run as themselves).
fn unprivileged_with_config_mode(s: &Setup, args: &[&str], config_mode: u32) -> Output {
    // Who we are: the owner of a file we just created.
    let probe = s.dir.path().join("whoami");
    std::fs::write(&probe, "").unwrap();
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&probe).unwrap());
    if uid != 0 {
        return s.config.command(args).output().unwrap();
    }
    // nobody:nogroup must read the config file, reach the state directory's parent and run
    // the binary. The build's own binary may sit in a private checkout (a 0700 home or mktemp
    // directory) nobody cannot enter, so nobody runs a copy kept beside the config.
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&s.config.path, std::fs::Permissions::from_mode(config_mode)).unwrap();
    let binary = s.dir.path().join("orgsync");
    if !binary.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_orgsync"), &binary).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut command = s.config.command_of(&binary, args);
    command.uid(65534).gid(65534);
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_state_directory_exits_4() {
    let s = setup().await;
    // Fresh: the database cannot be created.
    std::fs::create_dir(&s.config.state_dir).unwrap();
    std::fs::set_permissions(&s.config.state_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let output = unprivileged(&s, &["sync", "hq"]);
    assert_state_error(&output, "cannot open state directory");

    // Existing: written by an earlier run, then made read-only.
    std::fs::set_permissions(&s.config.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_synced(&s);
    for path in walk(&s.config.state_dir).into_iter().chain([
        s.config.state_dir.join("state.sled"),
        s.config.state_dir.clone(),
    ]) {
        let mode = if path.is_dir() { 0o555 } else { 0o444 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let output = unprivileged(&s, &["sync", "hq"]);
    assert_state_error(&output, "state directory");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_file_the_user_cannot_read_is_named_as_such_not_as_missing() {
    let s = setup().await;
    std::fs::set_permissions(&s.config.path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = unprivileged_with_config_mode(&s, &["sync", "hq"], 0o600);
    let all = text(&output);
    if output.status.code() == Some(0) {
        // Not root and the file is ours: nothing to prove here.
        return;
    }
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(all.contains("Permission denied"), "{all}");
    assert!(!all.contains("file not found"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_directory_and_its_files_are_private() {
    let s = setup().await;
    assert_synced(&s);
    let plan = s.dir.path().join("plan.json");
    let saved = s
        .config
        .run(&["diff", "hq", "--save", plan.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", text(&saved));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.config.state_dir), 0o700);
    let files = walk(&s.config.state_dir);
    assert!(files.len() > 3, "{files:?}");
    for file in files {
        // Directories 0700, files 0600: nothing for group or others.
        assert_eq!(
            mode(&file) & 0o077,
            0,
            "{} is {:o}",
            file.display(),
            mode(&file)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_exits_4() {
    // Enough people that their snapshot outgrows the limit while the database still opens.
    let s = setup_with(emulators::generator::generate(&Default::default())).await;
    // The file-size limit makes every write past it fail with EFBIG, as a full disk fails with
    // ENOSPC; SIGXFSZ is ignored so the write error reaches orgsync instead of killing it.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 8; trap '' XFSZ; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&s.config.path)
        .args(["sync", "hq"])
        .envs(s.config.env.iter().map(|(k, v)| (k, v)))
        .env("ORGSYNC_LOG", "warn")
        .output()
        .unwrap();
    assert_state_error(&output, "state storage failed");
    assert!(
        text(&output).contains("File too large"),
        "{}",
        text(&output)
    );

    // Room again: the writes the snapshot missed are adopted, nobody is duplicated.
    let sync = s.config.run(&["sync", "hq", "--format", "json"]);
    assert!(sync.status.success(), "{}", text(&sync));
    let users = s.scim.users();
    let keys: std::collections::BTreeSet<_> = users
        .iter()
        .map(|u| u.external_id.clone().unwrap())
        .collect();
    assert_eq!(keys.len(), users.len(), "duplicates in the target");
    let diff = s.config.run(&["diff", "hq", "--format", "json"]);
    assert_eq!(steps(&diff), 0, "{}", text(&diff));
}

/// Accounts another system created (an externalId orgsync's upstream never returns) are not
/// taken over by a rebuild: they stay unmanaged, are listed by id and key, and the next sync
/// leaves them alone even with no deletion limit.
#[tokio::test(flavor = "multi_thread")]
async fn rebuild_leaves_foreign_accounts_unmanaged_and_the_next_sync_keeps_them() {
    let s = setup_with_policy(
        small_org(),
        "max_deletion_ratio = 1.0\nmax_deletions = 1000",
    )
    .await;
    let (scim, config) = (&s.scim, &s.config);
    let sync = config.run(&["sync", "hq"]);
    assert!(sync.status.success(), "{}", text(&sync));
    let mut foreign = Vec::new();
    for (name, key) in [("vpn.robot", "okta-00u1"), ("hr.export", "workday-77")] {
        let id = scim.insert_user(emulators::scim::ScimUser {
            external_id: Some(key.into()),
            emails: vec![format!("{name}@example.com")],
            ..emulators::scim::ScimUser::new(name)
        });
        foreign.push((id, key));
    }
    std::fs::remove_dir_all(&config.state_dir).unwrap();

    let rebuild = config.run(&["snapshot", "rebuild", "hq"]);
    let out = text(&rebuild);
    assert!(rebuild.status.success(), "{out}");
    assert!(
        out.contains(&format!("{IN_SCOPE} account(s) linked")),
        "{out}"
    );
    assert!(out.contains("2 account(s) with an externalId"), "{out}");
    for (id, key) in &foreign {
        assert!(out.contains(&format!("{id}  {key}")), "{out}");
    }
    assert!(!out.contains("@example.com"), "no personal fields: {out}");

    let sync = config.run(&["sync", "hq", "--format", "json"]);
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(steps(&sync), 0, "{}", text(&sync));
    for (id, _) in &foreign {
        let account = scim.user(id).expect("the foreign account survives");
        assert!(account.active, "{id} is left active");
    }
}

/// Another system's externalId is the target's text: a rebuild lists it with its control
/// characters shown as escapes, so an ESC sequence in it never reaches the terminal.
#[tokio::test(flavor = "multi_thread")]
async fn rebuild_lists_a_hostile_foreign_external_id_escaped() {
    let s = setup().await;
    assert_synced(&s);
    s.scim.insert_user(emulators::scim::ScimUser {
        external_id: Some("evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}".into()),
        ..emulators::scim::ScimUser::new("intruder")
    });
    std::fs::remove_dir_all(&s.config.state_dir).unwrap();

    let rebuild = s.config.run(&["snapshot", "rebuild", "hq"]);
    let out = text(&rebuild);
    assert!(rebuild.status.success(), "{out}");
    assert!(out.contains("1 account(s) with an externalId"), "{out}");
    assert!(
        out.contains("evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}"),
        "{out}"
    );
    // The listing is on stdout; the log on stderr is the program's own.
    let listing = String::from_utf8_lossy(&rebuild.stdout);
    assert!(
        !listing.contains('\u{1b}') && !listing.contains('\u{7}') && !listing.contains('\u{202e}'),
        "{listing:?}"
    );
}

/// A rebuild pulls first, to know which keys are orgsync's: a failed pull fails the rebuild and
/// leaves the snapshot as it was.
#[tokio::test(flavor = "multi_thread")]
async fn rebuild_with_a_failing_pull_leaves_the_snapshot_alone() {
    let s = setup().await;
    assert_synced(&s);
    let store = StateDb::open(&s.config.state_dir).unwrap();
    let before = store.load("hq").unwrap();
    drop(store);
    let broken = BinaryConfig {
        env: vec![
            (
                common::binary::WECOM_SECRET_VAR.into(),
                "wrong-secret".into(),
            ),
            s.config.env[1].clone(),
        ],
        ..clone_config(&s.config)
    };
    let rebuild = broken.run(&["snapshot", "rebuild", "hq"]);
    let out = text(&rebuild);
    assert_eq!(rebuild.status.code(), Some(1), "{out}");
    assert!(out.contains("the snapshot is unchanged"), "{out}");
    assert!(out.contains("wecom"), "{out}");
    let store = StateDb::open(&s.config.state_dir).unwrap();
    assert_eq!(store.load("hq").unwrap(), before);
}
