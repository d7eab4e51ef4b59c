//! Focused pulls (`Puller::pull_people`, `orgsync sync NAME --person KEY`): on every platform,
//! against its emulator, the people asked for come back exactly as a whole pull reads them (so a
//! focused run never plans a spurious update), with the managers their links need when those
//! can be read, the departments above them, the right `not_found`, and far fewer calls than a
//! whole pull.

mod common;

use common::upstream::{Platform, Upstream};
use common::{dingtalk_puller, small_org};
use emulators::faults::Faults;
use emulators::fixture::{Org, Status, User};
use emulators::generator::{GeneratorConfig, generate};
use orgsync::model::{DepartmentId, Directory, UserKey};
use orgsync::pullers::{AnyPuller, Coverage, Puller};
use std::collections::{BTreeMap, BTreeSet};

/// A key no platform knows (numeric, so Bitrix24 asks for it too).
const NOBODY: &str = "987654321";

/// A few hundred people under a wide, deep tree, a fifth of it outside the app's scope.
fn org() -> Org {
    generate(&GeneratorConfig {
        people: 400,
        departments: 160,
        seed: 18,
        out_of_scope_share: 0.2,
        disabled: 3,
        not_activated: 2,
        resigned: 2,
        ..GeneratorConfig::default()
    })
}

/// Who the platform shows of the fixture (Bitrix24 has no app scope; DingTalk lists no one who
/// resigned).
fn sees(platform: Platform, org: &Org, user: &User) -> bool {
    match platform {
        Platform::Bitrix24 => true,
        Platform::Dingtalk => user.status != Status::Resigned && org.is_user_visible(user),
        Platform::Wecom | Platform::Feishu => org.is_user_visible(user),
    }
}

/// Depth of a fixture department (the root is 1).
fn depth(org: &Org, mut id: i64) -> usize {
    let mut depth = 0;
    while let Some(department) = org.department(id) {
        depth += 1;
        match department.parent {
            Some(parent) => id = parent,
            None => break,
        }
    }
    depth
}

/// The sample: one fixture person of each kind the contract names, as fixture ids (the deepest
/// such person, so the climb is long), plus someone outside the scope where the platform has one.
fn sample(platform: Platform, org: &Org) -> Vec<(&'static str, String)> {
    let seen = |u: &&User| sees(platform, org, u);
    let visible_manager = |u: &&User| {
        u.manager
            .as_deref()
            .and_then(|m| org.user(m))
            .is_some_and(|m| sees(platform, org, m))
    };
    let deepest = |pick: &dyn Fn(&&User) -> bool| {
        org.users
            .iter()
            .filter(seen)
            .filter(|u| pick(u))
            .max_by_key(|u| u.departments.iter().map(|&d| depth(org, d)).max())
            .map(|u| u.id.clone())
    };
    let heads: BTreeSet<&str> = org
        .departments
        .iter()
        .flat_map(|d| d.leaders.iter().map(String::as_str))
        .collect();
    let mut kinds: Vec<(&'static str, Option<String>)> = vec![
        (
            "active, manager in scope",
            deepest(&|u| u.status == Status::Active && visible_manager(u)),
        ),
        ("disabled", deepest(&|u| u.status == Status::Disabled)),
        (
            "department head",
            deepest(&|u| u.status == Status::Active && heads.contains(u.id.as_str())),
        ),
    ];
    if platform == Platform::Bitrix24 {
        // No app scope: a dismissed person (ACTIVE false) is read as such instead, and an
        // invitee (told apart by `user.search` on `CONFIRM_CODE`).
        kinds.push(("dismissed", deepest(&|u| u.status == Status::Resigned)));
        kinds.push((
            "invited, not accepted",
            deepest(&|u| u.status == Status::NotActivated),
        ));
    } else {
        kinds.push((
            "manager outside the scope",
            deepest(&|u| u.manager.is_some() && !visible_manager(u)),
        ));
        kinds.push((
            "outside the scope",
            org.users
                .iter()
                .find(|u| !org.is_user_visible(u))
                .map(|u| u.id.clone()),
        ));
    }
    kinds
        .into_iter()
        .map(|(kind, id)| {
            let id = id.unwrap_or_else(|| panic!("{platform:?}: the fixture has no {kind}"));
            (kind, id)
        })
        .collect()
}

/// The departments of `keys`' records, and each one above them that the whole pull holds.
fn departments_above(whole: &Directory, users: &Directory) -> BTreeSet<DepartmentId> {
    let mut above = BTreeSet::new();
    for user in users.users.values() {
        for department in &user.departments {
            let mut next = Some(department.clone());
            while let Some(id) = next.take() {
                if let Some(found) = whole.departments.get(&id)
                    && above.insert(id)
                {
                    next = found.parent.clone();
                }
            }
        }
    }
    above
}

/// The most calls a focused pull of `asked` people may make, whose departments and those above
/// them number `departments`: a token, one read per person and per manager, one per department
/// plus one for the unreadable parent above each top of the scope — and per platform what its
/// single reads cost beyond that.
fn call_bound(platform: Platform, asked: u64, departments: u64) -> u64 {
    let reads = 1 + 2 * asked + 2 * departments;
    match platform {
        // Each department's own listing (`user/list`, one page: none has 100 direct members
        // here), which is where a whole pull finds heads and items; with the HR roster, one
        // roster call per 100 people read.
        Platform::Dingtalk => reads + departments + (2 * asked).div_ceil(100),
        // Batches, whatever the number of people: the people asked for with the first
        // department page, the other pages (one batch up to 2 500 departments) with the
        // invitee filter's check, the managers derived from the heads.
        Platform::Bitrix24 => 3,
        Platform::Wecom | Platform::Feishu => reads,
    }
}

async fn check(platform: Platform) {
    check_with(platform, Upstream::puller).await;
}

/// [`check`] with the puller `puller` builds.
async fn check_with(platform: Platform, puller: impl Fn(&Upstream) -> AnyPuller) {
    let org = org();
    let upstream = Upstream::start(platform, org.clone()).await;
    let whole = puller(&upstream).pull().await.unwrap();
    let whole_calls = upstream.total_calls();
    let whole = whole.directory;

    let sample = sample(platform, &org);
    let mut keys: Vec<UserKey> = sample.iter().map(|(_, id)| upstream.key(id)).collect();
    keys.push(UserKey::new(NOBODY));
    let before = upstream.total_calls();
    let focused = puller(&upstream).pull_people(&keys).await.unwrap();
    let calls = upstream.total_calls() - before;
    assert_eq!(
        focused.pulled.stats.total_calls(),
        calls,
        "{platform:?}: calls the puller counted"
    );
    let got = &focused.pulled.directory;

    // Each person asked for: exactly the whole pull's record, or not found.
    let mut expected_not_found = BTreeSet::new();
    let mut wanted: BTreeSet<UserKey> = BTreeSet::new();
    for key in &keys {
        match whole.users.get(key) {
            Some(user) => {
                assert_eq!(got.users.get(key), Some(user), "{platform:?}: {key}");
                wanted.insert(key.clone());
                // Their manager, when the whole pull holds them: exactly that record too.
                if let Some(manager) = &user.manager {
                    assert_eq!(
                        got.users.get(manager),
                        whole.users.get(manager),
                        "{platform:?}: manager {manager} of {key}"
                    );
                    wanted.insert(manager.clone());
                }
            }
            None if whole.held.contains(key) => assert!(got.held.contains(key)),
            None => {
                expected_not_found.insert(key.clone());
            }
        }
    }
    let pulled: BTreeSet<UserKey> = got.users.keys().cloned().collect();
    let wanted: BTreeSet<UserKey> = wanted
        .into_iter()
        .filter(|k| whole.users.contains_key(k))
        .collect();
    assert_eq!(pulled, wanted, "{platform:?}: the people read");
    assert_eq!(
        focused.coverage,
        Coverage::Partial {
            not_found: expected_not_found.clone()
        },
        "{platform:?}: coverage"
    );
    assert!(expected_not_found.contains(&UserKey::new(NOBODY)));
    if platform != Platform::Bitrix24 {
        assert_eq!(expected_not_found.len(), 2, "{platform:?}: {sample:?}");
    }

    // The departments they are in and every one above them, as the whole pull reads them.
    let above = departments_above(&whole, got);
    let departments: BTreeMap<_, _> = whole
        .departments
        .iter()
        .filter(|(id, _)| above.contains(*id))
        .map(|(id, d)| (id.clone(), d.clone()))
        .collect();
    assert_eq!(got.departments, departments, "{platform:?}: departments");
    assert!(
        departments.values().any(|d| d.parent.is_some()),
        "{platform:?}: no department with a parent in the sample"
    );

    eprintln!(
        "{platform:?}: {} people asked, {} read, {} departments, {calls} calls (a whole pull {whole_calls})",
        keys.len(),
        got.users.len(),
        departments.len()
    );
    let bound = call_bound(platform, keys.len() as u64, departments.len() as u64);
    assert!(
        calls <= bound,
        "{platform:?}: {calls} calls for {} people in {} departments (at most {bound})",
        keys.len(),
        departments.len()
    );
    match &upstream {
        // A whole pull of a small portal is already two batches; what a focused pull saves
        // there is the user list: ⌈people/50⌉ pages against a page per 50 people read.
        Upstream::Bitrix24(portal) => {
            portal.reset_calls();
            upstream.puller().pull().await.unwrap();
            let whole_pages = portal.batched_calls("user.get");
            portal.reset_calls();
            upstream.puller().pull_people(&keys).await.unwrap();
            let pages = portal.batched_calls("user.get");
            // The people asked for, their managers (50 ids a page each), the filter's check.
            let most = 2 * (keys.len() as u64).div_ceil(50) + 1;
            assert!(
                pages <= most,
                "Bitrix24: {pages} user.get pages (at most {most})"
            );
            assert!(
                pages * 2 < whole_pages,
                "Bitrix24: {pages} user.get pages, a whole pull {whole_pages}"
            );
        }
        _ => assert!(
            calls * 3 <= whole_calls,
            "{platform:?}: {calls} calls, a whole pull {whole_calls}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_reads_only_the_people_asked_for() {
    check(Platform::Wecom).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feishu_reads_only_the_people_asked_for() {
    check(Platform::Feishu).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_reads_only_the_people_asked_for() {
    check(Platform::Dingtalk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitrix24_reads_only_the_people_asked_for() {
    check(Platform::Bitrix24).await;
}

/// With the HR roster (`agent_id` set), a whole pull takes listed people's managers and main
/// departments from the roster: a focused pull asks it for the same people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_with_the_roster_reads_the_people_as_a_whole_pull_does() {
    check_with(Platform::Dingtalk, |upstream| match upstream {
        Upstream::Dingtalk(h) => {
            let agent_id = u64::try_from(h.config().agent_id).unwrap();
            AnyPuller::Dingtalk(dingtalk_puller(h, |c| c.agent_id = Some(agent_id)))
        }
        _ => unreachable!("a DingTalk upstream"),
    })
    .await;
}

/// Each fault kind the emulators inject, on a schedule that leaves room between hits: a focused
/// pull retries through it and reads what a clean one reads; a fault on every call is an error,
/// never a partial answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_focused_pull_survives_every_fault_kind() {
    let org = small_org();
    for platform in [
        Platform::Wecom,
        Platform::Dingtalk,
        Platform::Feishu,
        Platform::Bitrix24,
    ] {
        let upstream = Upstream::start(platform, org.clone()).await;
        let keys = vec![
            upstream.key("lin"),
            upstream.key("sales1"),
            UserKey::new(NOBODY),
        ];
        let clean = upstream.puller().pull_people(&keys).await.unwrap();
        assert!(clean.pulled.directory.users.contains_key(&keys[0]));
        for (kind, faults) in Faults::each_kind(2) {
            upstream.set_faults(faults);
            let focused = upstream
                .puller()
                .pull_people(&keys)
                .await
                .unwrap_or_else(|e| panic!("{platform:?} under {kind}: {e}"));
            assert_eq!(
                focused.pulled.directory.users, clean.pulled.directory.users,
                "{platform:?} under {kind}"
            );
            assert_eq!(
                focused.pulled.directory.departments, clean.pulled.directory.departments,
                "{platform:?} under {kind}"
            );
            assert_eq!(
                focused.coverage, clean.coverage,
                "{platform:?} under {kind}"
            );
            assert!(
                focused.pulled.stats.retries > 0 || kind == "token expiry",
                "{platform:?} under {kind}: no retry counted"
            );
        }
        upstream.set_faults(Faults {
            http_5xx_every: Some(1),
            ..Faults::default()
        });
        assert!(
            upstream.puller().pull_people(&keys).await.is_err(),
            "{platform:?}: every call failed, yet the focused pull succeeded"
        );
    }
}
