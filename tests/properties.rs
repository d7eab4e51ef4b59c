//! Property tests: random org histories — hires, leaves, re-hires, renames, email swaps, manager
//! moves, scope changes, freezes, removals — pushed through plan → the SCIM emulator (strict about
//! managers and unique values) must always converge: every run fully applied, never a 409, the
//! next plan empty, and the target equal to what the upstream and the policy ask for.
//!
//! 500 cases by default (`PROPTEST_CASES` overrides). A failure prints the seed; rerun it with
//! `ORGSYNC_PROPTEST_SEED=<hex> cargo test --test properties`.

use emulators::scim::{ManagerGuard, ScimConfig, ScimHandle};
use orgsync::config::{Secret, SecretRef};
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::model::{DepartmentId, Directory, Status, User, UserKey};
use orgsync::plan::{NotActivatedPolicy, Policy, RemovalPolicy, UserNameSource, is_placeholder};
use orgsync::pullers::{Platform, PullError, PullStats, Pulled, Puller};
use orgsync::pushers::scim::{ScimPusher, ScimTargetConfig};
use orgsync::report::{RunOutcome, render_text};
use orgsync::snapshot::MemoryStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const PEOPLE: usize = 7;
const EMAILS: u8 = 9;

/// A puller that serves whatever directory the test last set.
struct MemoryPuller(Mutex<Directory>);

impl Puller for MemoryPuller {
    fn platform(&self) -> Platform {
        Platform::Wecom
    }

    async fn pull(&self) -> Result<Pulled, PullError> {
        let directory = self.0.lock().unwrap().clone();
        Ok(Pulled {
            directory,
            stats: PullStats::default(),
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Person {
    exists: bool,
    in_scope: bool,
    status: Option<Status>,
    name: u8,
    email: Option<u8>,
    manager: Option<usize>,
}

#[derive(Debug, Clone)]
enum Op {
    Hire(usize),
    Leave(usize),
    Rehire(usize),
    Freeze(usize),
    Invite(usize),
    Rename(usize, u8),
    SetEmail(usize, Option<u8>),
    SwapEmails(usize, usize),
    SetManager(usize, Option<usize>),
    Scope(usize, bool),
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..PEOPLE;
    prop_oneof![
        3 => who.clone().prop_map(Op::Hire),
        1 => who.clone().prop_map(Op::Leave),
        1 => who.clone().prop_map(Op::Rehire),
        1 => who.clone().prop_map(Op::Freeze),
        1 => who.clone().prop_map(Op::Invite),
        1 => (who.clone(), 0..4u8).prop_map(|(i, n)| Op::Rename(i, n)),
        2 => (who.clone(), proptest::option::of(0..EMAILS)).prop_map(|(i, e)| Op::SetEmail(i, e)),
        2 => (who.clone(), who.clone()).prop_map(|(i, j)| Op::SwapEmails(i, j)),
        3 => (who.clone(), proptest::option::of(0..PEOPLE)).prop_map(|(i, m)| Op::SetManager(i, m)),
        1 => (who.clone(), any::<bool>()).prop_map(|(i, s)| Op::Scope(i, s)),
        1 => who.prop_map(Op::Remove),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(email, del_resigned, del_vanished, skip)| {
            Policy {
                user_name: if email {
                    UserNameSource::Email
                } else {
                    UserNameSource::Key
                },
                resigned: if del_resigned {
                    RemovalPolicy::Delete
                } else {
                    RemovalPolicy::Deactivate
                },
                vanished: if del_vanished {
                    RemovalPolicy::Delete
                } else {
                    RemovalPolicy::Deactivate
                },
                not_activated: if skip {
                    NotActivatedPolicy::Skip
                } else {
                    NotActivatedPolicy::CreateInactive
                },
                ..Policy::default()
            }
            .without_guard()
        },
    )
}

/// Applies one operation. Emails stay unique among existing people (a taken address is swapped),
/// as a directory's own uniqueness rules keep them.
fn apply(people: &mut [Person], op: &Op) {
    let holder = |people: &[Person], e: u8, except: usize| {
        (0..PEOPLE).find(|&j| j != except && people[j].exists && people[j].email == Some(e))
    };
    match *op {
        Op::Hire(i) if !people[i].exists => {
            people[i] = Person {
                exists: true,
                in_scope: true,
                status: Some(Status::Active),
                ..people[i].clone()
            };
            if let Some(e) = people[i].email
                && holder(people, e, i).is_some()
            {
                people[i].email = None;
            }
        }
        Op::Hire(_) => {}
        Op::Leave(i) => people[i].status = Some(Status::Resigned),
        Op::Rehire(i) => people[i].status = Some(Status::Active),
        Op::Freeze(i) => people[i].status = Some(Status::Disabled),
        Op::Invite(i) => people[i].status = Some(Status::NotActivated),
        Op::Rename(i, n) => people[i].name = n,
        Op::SetEmail(i, e) => {
            if let Some(e) = e
                && let Some(j) = holder(people, e, i)
            {
                people[j].email = people[i].email;
            }
            people[i].email = e;
        }
        Op::SwapEmails(i, j) => {
            let (a, b) = (people[i].email, people[j].email);
            people[i].email = b;
            people[j].email = a;
        }
        Op::SetManager(i, m) => people[i].manager = m,
        Op::Scope(i, s) => people[i].in_scope = s,
        Op::Remove(i) => people[i].exists = false,
    }
}

fn key(i: usize) -> UserKey {
    UserKey::new(format!("p{i}"))
}

fn directory(people: &[Person]) -> Directory {
    let mut directory = Directory::default();
    for (i, p) in people.iter().enumerate() {
        let (true, true, Some(status)) = (p.exists, p.in_scope, p.status) else {
            continue;
        };
        directory.insert_user(User {
            profile: Default::default(),
            key: key(i),
            display_name: format!("Person {i} v{}", p.name).into(),
            email: p.email.map(|e| format!("mail{e}@example.cn").into()),
            mobile: None,
            title: None,
            employee_no: None,
            departments: vec![DepartmentId::new("1")],
            status,
            manager: p.manager.map(key),
        });
    }
    directory
}

/// What the target must hold after a run, checked without re-implementing the planner.
fn check_target(
    scim: &ScimHandle,
    people: &[Person],
    policy: &Policy,
    directory: &Directory,
) -> Result<(), String> {
    let users = scim.users();
    let mut by_key = BTreeMap::new();
    for u in &users {
        let ext = u
            .external_id
            .clone()
            .ok_or(format!("account {} has no externalId", u.id))?;
        if by_key.insert(ext.clone(), u.clone()).is_some() {
            return Err(format!("two accounts for {ext}"));
        }
        for value in u.emails.iter().chain(std::iter::once(&u.user_name)) {
            if is_placeholder(value) {
                return Err(format!("placeholder {value} survived on {ext}"));
            }
        }
    }
    if !scim.dangling_managers().is_empty() {
        return Err(format!("dangling managers {:?}", scim.dangling_managers()));
    }
    let key_of: BTreeMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.external_id.as_deref().unwrap_or("")))
        .collect();
    let active = |k: &UserKey| {
        directory
            .users
            .get(k)
            .is_some_and(|u| u.status == Status::Active)
    };

    for (i, p) in people.iter().enumerate() {
        let k = key(i);
        let account = by_key.get(k.as_str());
        let upstream = directory.users.get(&k);
        match (upstream.map(|u| u.status), account) {
            (Some(Status::Active), None) => {
                return Err(format!("{k} is active upstream but has no account"));
            }
            (Some(Status::Active), Some(a)) => {
                if !a.active {
                    return Err(format!("{k} should be active"));
                }
                let want_email = p.email.map(|e| format!("mail{e}@example.cn"));
                if a.emails.first() != want_email.as_ref() {
                    return Err(format!("{k} email {:?}, want {want_email:?}", a.emails));
                }
                let want_name = format!("Person {i} v{}", p.name);
                if a.display_name.as_deref() != Some(want_name.as_str()) {
                    return Err(format!("{k} display name {:?}", a.display_name));
                }
                let actual = a
                    .manager_id
                    .as_deref()
                    .map(|m| key_of.get(m).copied().unwrap_or("?"));
                let eligible = upstream.and_then(|u| u.manager.clone()).filter(active);
                match (actual, &eligible) {
                    (Some(m), Some(e)) if m == e.as_str() => {}
                    (None, Some(e)) if on_cycle(&k, directory, &active) => {
                        let _ = e;
                    }
                    (None, None) => {}
                    _ => {
                        return Err(format!(
                            "{k} manager {actual:?}, upstream eligible {eligible:?}"
                        ));
                    }
                }
            }
            (Some(Status::NotActivated), None)
                if policy.not_activated == NotActivatedPolicy::CreateInactive =>
            {
                return Err(format!("{k} should exist inactive"));
            }
            (Some(Status::Resigned), Some(_)) if policy.resigned == RemovalPolicy::Delete => {
                return Err(format!("{k} resigned and should be deleted"));
            }
            (None, Some(_)) if policy.vanished == RemovalPolicy::Delete => {
                return Err(format!("{k} vanished and should be deleted"));
            }
            (_, Some(a)) => {
                if a.active {
                    return Err(format!("{k} should be inactive"));
                }
                if a.manager_id.is_some() {
                    return Err(format!("inactive {k} keeps a manager"));
                }
            }
            (_, None) => {}
        }
    }
    Ok(())
}

/// Whether following eligible manager links from `start` comes back to it.
fn on_cycle(start: &UserKey, directory: &Directory, active: &dyn Fn(&UserKey) -> bool) -> bool {
    let mut seen = BTreeSet::new();
    let mut current = start.clone();
    while let Some(next) = directory
        .users
        .get(&current)
        .and_then(|u| u.manager.clone())
        .filter(|m| active(m))
    {
        if &next == start {
            return true;
        }
        if !seen.insert(next.clone()) {
            return false;
        }
        current = next;
    }
    false
}

async fn run_history(policy: Policy, batches: Vec<Vec<Op>>) -> Result<(), String> {
    let scim = emulators::scim::start(ScimConfig {
        manager_guard: ManagerGuard::Strict,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let target = ScimTargetConfig::new(
        scim.base_url().parse().unwrap(),
        SecretRef::Env("UNUSED".into()),
    );
    let connector = Connector {
        name: "prop".into(),
        puller: MemoryPuller(Mutex::new(Directory::default())),
        pusher: ScimPusher::new(target, Secret::new(scim.bearer_token())).unwrap(),
        policy: policy.clone(),
        concurrency: 4,
    };
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let mut people = vec![Person::default(); PEOPLE];
    for (n, batch) in batches.iter().enumerate() {
        for op in batch {
            apply(&mut people, op);
        }
        let directory = directory(&people);
        *connector.puller.0.lock().unwrap() = directory.clone();
        let report = engine
            .run(&connector, RunMode::Apply)
            .await
            .map_err(|e| e.to_string())?;
        // An empty pull is never applied (the guard takes it for an outage); the next batch
        // that brings people back must converge from wherever the target was left.
        if directory.users.is_empty() && matches!(report.outcome, RunOutcome::Refused { .. }) {
            continue;
        }
        if report.outcome != RunOutcome::Applied {
            return Err(format!(
                "batch {n}: run not fully applied:\n{}",
                render_text(&report)
            ));
        }
        let counters = scim.counters();
        if counters.conflicts > 0 {
            return Err(format!(
                "batch {n}: the target answered 409 {} times:\n{}",
                counters.conflicts,
                render_text(&report)
            ));
        }
        check_target(&scim, &people, &policy, &directory)
            .map_err(|e| format!("batch {n}: {e}\n{}", render_text(&report)))?;
        let again = engine
            .run(&connector, RunMode::DryRun)
            .await
            .map_err(|e| e.to_string())?;
        if !again.steps.is_empty() {
            return Err(format!(
                "batch {n}: the next plan is not empty:\n{}",
                render_text(&again)
            ));
        }
    }
    Ok(())
}

#[test]
fn random_histories_converge() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    let seed: [u8; 32] = match std::env::var("ORGSYNC_PROPTEST_SEED") {
        Ok(hex) => {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            bytes
                .try_into()
                .expect("ORGSYNC_PROPTEST_SEED is 64 hex digits")
        }
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let mut seed = [0u8; 32];
            seed[..16].copy_from_slice(&nanos.to_le_bytes());
            seed
        }
    };
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let strategy = (
        policy(),
        proptest::collection::vec(proptest::collection::vec(op(), 1..5), 1..5),
    );
    let result = runner.run(&strategy, |(policy, batches)| {
        runtime
            .block_on(run_history(policy, batches))
            .map_err(TestCaseError::fail)
    });
    if let Err(error) = result {
        panic!("{error}\nreproduce with ORGSYNC_PROPTEST_SEED={hex}");
    }
    println!("{cases} random histories converged (seed {hex})");
}
