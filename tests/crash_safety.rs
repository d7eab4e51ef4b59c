//! Crash safety: the real `orgsync` binary is killed with SIGKILL at random points of its applies,
//! many times in a row, then run to the end. The target must end exactly where a run that was
//! never killed ends (same history of upstream changes, its own target), with no duplicate, no
//! leftover placeholder, and a snapshot that matches the target account for account.
//!
//! The emulators live in this test process, so they outlive every killed `orgsync`. Kill points are
//! chosen by a seeded generator as "after the k-th write request reached the target, plus a few
//! hundred microseconds", k drawn from the writes the round still needs — so every kill lands
//! inside an apply: between a write and its acknowledgement, between an acknowledgement and the
//! snapshot commit, in the middle of a commit, in any phase.

mod common;

use common::binary::{BinaryConfig, Extra, Rng, text, wecom_scim_config};
use emulators::fixture::{Org, Status};
use emulators::generator::{GeneratorConfig, generate};
use emulators::scim::{ScimConfig, ScimCounters, ScimFaults, ScimHandle, ScimUser};
use orgsync::snapshot::SnapshotStore;
use orgsync::state::StateDb;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const SEED: u64 = 0x0c0f_fee5;
const ROUNDS: usize = 10;
const KILLS_PER_ROUND: usize = 6;
const MIN_KILLS: usize = 50;

const POLICY: &str = r#"
user_name = "email"
resigned = "delete"
max_deletions = 100000
max_deletion_ratio = 1.0
"#;

fn writes(c: ScimCounters) -> u64 {
    c.posts + c.puts + c.patches + c.deletes
}

/// A target account as the connector's desired state describes it, ids replaced by upstream keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    user_name: String,
    display_name: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    title: Option<String>,
    active: bool,
    employee_number: Option<String>,
    department: Option<String>,
    manager: Option<String>,
}

/// The target keyed by externalId; fails on what can never be right whatever the history.
fn target_state(scim: &ScimHandle, label: &str) -> BTreeMap<String, Account> {
    let users = scim.users();
    let by_id: BTreeMap<&str, &ScimUser> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut state = BTreeMap::new();
    let mut user_names = BTreeSet::new();
    let mut emails = BTreeSet::new();
    for user in &users {
        let key = user
            .external_id
            .clone()
            .unwrap_or_else(|| panic!("{label}: account {} has no externalId", user.id));
        assert!(
            user_names.insert(user.user_name.to_lowercase()),
            "{label}: userName {} twice",
            user.user_name
        );
        for email in &user.emails {
            assert!(
                emails.insert(email.to_lowercase()),
                "{label}: email {email} twice"
            );
        }
        let text = format!("{user:?}");
        assert!(
            !text.contains("orgsync-released-"),
            "{label}: placeholder left on {user:?}"
        );
        let manager = user.manager_id.as_ref().map(|m| {
            by_id
                .get(m.as_str())
                .and_then(|u| u.external_id.clone())
                .unwrap_or_else(|| panic!("{label}: {key} has dangling manager {m}"))
        });
        let account = Account {
            user_name: user.user_name.clone(),
            display_name: user.display_name.clone(),
            emails: user.emails.clone(),
            phones: user.phone_numbers.clone(),
            title: user.title.clone(),
            active: user.active,
            employee_number: user.employee_number.clone(),
            department: user.department.clone(),
            manager,
        };
        assert!(
            state.insert(key.clone(), account).is_none(),
            "{label}: externalId {key} on two accounts (a duplicate)"
        );
    }
    state
}

/// The snapshot must name every account of the target by its id, with the same manager and status.
fn assert_snapshot_matches(config: &BinaryConfig, scim: &ScimHandle, round: usize) {
    let store = StateDb::open(&config.state_dir).unwrap();
    let snapshot = store.load("hq").unwrap();
    drop(store);
    let users = scim.users();
    let external: BTreeMap<&str, &ScimUser> = users
        .iter()
        .filter_map(|u| Some((u.external_id.as_deref()?, u)))
        .collect();
    let ids: BTreeMap<&str, &str> = users
        .iter()
        .filter_map(|u| Some((u.id.as_str(), u.external_id.as_deref()?)))
        .collect();
    assert_eq!(
        snapshot.users.len(),
        external.len(),
        "round {round}: snapshot and target hold different people"
    );
    for (key, applied) in &snapshot.users {
        let account = external
            .get(key.as_str())
            .unwrap_or_else(|| panic!("round {round}: snapshot has {key}, the target does not"));
        assert_eq!(
            account.id,
            applied.target_id.as_str(),
            "round {round}: {key}"
        );
        assert_eq!(account.active, applied.active, "round {round}: {key}");
        let manager = account
            .manager_id
            .as_deref()
            .and_then(|m| ids.get(m).copied());
        assert_eq!(
            manager,
            applied.manager.as_ref().map(|m| m.as_str()),
            "round {round}: manager of {key}"
        );
    }
}

/// Upstream changes of one round: emails swapped (placeholders), renames, new managers,
/// resignations and disablements, re-enablements, hires and people leaving the pull.
fn mutate(org: &mut Org, rng: &mut Rng, round: usize) {
    let n = org.users.len() as u64;
    for _ in 0..4 {
        let (a, b) = (rng.below(n) as usize, rng.below(n) as usize);
        if a != b {
            let email = org.users[a].email.take();
            org.users[a].email = org.users[b].email.take();
            org.users[b].email = email;
        }
    }
    for i in 0..3 {
        let a = rng.below(n) as usize;
        org.users[a].name = format!("{} r{round}.{i}", org.users[a].name);
    }
    for _ in 0..3 {
        let (a, b) = (rng.below(n) as usize, rng.below(n) as usize);
        if a != b {
            org.users[a].manager = Some(org.users[b].id.clone());
        }
    }
    for _ in 0..2 {
        let a = rng.below(n) as usize;
        org.users[a].status = match rng.below(3) {
            0 => Status::Resigned,
            1 => Status::Disabled,
            _ => Status::Active,
        };
    }
    // Hires: creates acknowledged but not yet committed when a kill lands must be adopted, not
    // created twice, by the next run.
    for i in 0..8 {
        let template = org.users[rng.below(n) as usize].clone();
        let id = format!("hire{round}-{i}");
        org.users.push(emulators::fixture::User {
            id: id.clone(),
            name: format!("新人 {round}.{i}"),
            email: Some(format!("{id}@example.cn")),
            mobile: None,
            employee_no: None,
            manager: Some(template.id.clone()),
            status: Status::Active,
            ..template
        });
    }
    if round % 3 == 2 {
        let gone = rng.below(n) as usize;
        let gone_id = org.users.remove(gone).id;
        for user in &mut org.users {
            if user.manager.as_deref() == Some(gone_id.as_str()) {
                user.manager = None;
            }
        }
    }
}

struct KillRun {
    killed: bool,
    elapsed: Duration,
}

/// Starts a sync and kills it with SIGKILL once `after_writes` more writes reached the target plus
/// `extra_micros`; if it ends first, it is left to end.
fn sync_and_kill(
    config: &BinaryConfig,
    scim: &ScimHandle,
    after_writes: u64,
    extra_micros: u64,
) -> KillRun {
    let start = Instant::now();
    let base = writes(scim.counters());
    let mut child = config
        .command(&["sync", "hq", "--format", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let killed = tokio::task::block_in_place(|| {
        loop {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if writes(scim.counters()) >= base + after_writes {
                std::thread::sleep(Duration::from_micros(extra_micros));
                if child.try_wait().unwrap().is_some() {
                    return false;
                }
                child.kill().unwrap();
                child.wait().unwrap();
                return true;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    KillRun {
        killed,
        elapsed: start.elapsed(),
    }
}

fn steps(output: &std::process::Output) -> usize {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", text(output)));
    report["steps"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_points_of_applies_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let org = generate(&GeneratorConfig {
        people: 120,
        departments: 12,
        seed: 11,
        out_of_scope_share: 0.0,
        ..GeneratorConfig::default()
    });
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    // The target that is killed into, slowed a little so applies last long enough to be hit
    // anywhere; and the reference target, synced once per round and never killed.
    let crashed = emulators::scim::start(ScimConfig::default()).await.unwrap();
    crashed.set_faults(ScimFaults {
        delay: Duration::from_millis(2),
        ..ScimFaults::default()
    });
    let reference = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = || Extra {
        target: "concurrency = 4",
        policy: POLICY,
    };
    let crash_config = wecom_scim_config(
        dir.path(),
        "crash",
        &wecom,
        crashed.base_url(),
        crashed.bearer_token(),
        extra(),
    );
    let reference_config = wecom_scim_config(
        dir.path(),
        "reference",
        &wecom,
        reference.base_url(),
        reference.bearer_token(),
        extra(),
    );

    let mut rng = Rng(SEED);
    let mut kills = 0;
    let mut kill_points = Vec::new();
    for round in 0..ROUNDS {
        if round > 0 {
            wecom.update_org(|org| mutate(org, &mut rng, round));
        }
        let before = writes(reference.counters());
        let clean = reference_config.run(&["sync", "hq", "--format", "json"]);
        assert!(clean.status.success(), "reference: {}", text(&clean));
        let needed = writes(reference.counters()) - before;
        assert!(needed > 0, "round {round} changes nothing");

        let mut round_kills = 0;
        let mut left = needed;
        for _ in 0..KILLS_PER_ROUND * 3 {
            if round_kills == KILLS_PER_ROUND || left == 0 {
                break;
            }
            let after = 1 + rng.below(left);
            let extra_micros = rng.below(3000);
            let run = sync_and_kill(&crash_config, &crashed, after, extra_micros);
            if run.killed {
                round_kills += 1;
                kill_points.push((round, after, extra_micros, run.elapsed));
            }
            // What is left after the kill, planned from the snapshot the killed run left behind
            // (at least one write per step).
            let diff = crash_config.run(&["diff", "hq", "--format", "json"]);
            assert!(diff.status.success(), "round {round}: {}", text(&diff));
            left = steps(&diff) as u64;
        }
        kills += round_kills;

        let last = crash_config.run(&["sync", "hq", "--format", "json"]);
        assert!(
            last.status.success(),
            "round {round}: the run after the kills did not converge: {}",
            text(&last)
        );
        let again = crash_config.run(&["diff", "hq", "--format", "json"]);
        assert!(again.status.success(), "{}", text(&again));
        assert_eq!(
            steps(&again),
            0,
            "round {round}: a converged run plans nothing"
        );

        let label = format!("round {round}");
        assert_eq!(
            target_state(&crashed, &label),
            target_state(&reference, "reference"),
            "{label}: the killed target differs from the never-killed one"
        );
        assert_snapshot_matches(&crash_config, &crashed, round);
    }
    // The target itself agrees: planning against its real accounts finds nothing to do.
    let full = crash_config.run(&["diff", "hq", "--full", "--format", "json"]);
    assert!(full.status.success(), "{}", text(&full));
    assert_eq!(steps(&full), 0, "{}", text(&full));

    eprintln!(
        "crash safety: {kills} SIGKILLs over {ROUNDS} rounds in {:.1} s; kill points (round, after \
         write, +µs, run time): {kill_points:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        kills >= MIN_KILLS,
        "only {kills} runs were killed mid-apply"
    );
}
