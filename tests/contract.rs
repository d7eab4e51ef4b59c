//! The puller contract: every puller, against its own emulator loaded with the same fixture org,
//! reads the same people and the same manager links, keeps the scope rule, survives every fault
//! kind the emulators inject, and makes exactly the number of upstream calls its notes say is the
//! least possible; and each department's head is the same person on every platform.
//!
//! What a platform cannot express, stated once:
//! - **Bitrix24** has no manager field and no app scope. Its managers are derived from department
//!   heads (`UF_HEAD`, climbing to the parent department), so they are checked against that rule
//!   applied to the fixture, not against the fixture's `manager`; and it sees the whole portal.
//!   Its user ids are numeric: fixture ids are mapped through the emulator.
//! - **DingTalk** lists no resigned people (they leave the directory).
//! - **WeCom** may already leave out a `direct_leader` outside the scope, so a link to an
//!   out-of-scope manager is either absent from the pull or present and skipped by the planner —
//!   never set.

mod common;

use common::upstream::{Platform, Upstream};
use common::{bitrix24_puller, dingtalk_puller, small_org};
use emulators::faults::Faults;
use emulators::fixture::{Org, Status, User};
use emulators::generator::{GeneratorConfig, generate};
use orgsync::model::{Directory, UserKey};
use orgsync::plan::{LinkSkipReason, Policy, Step, plan};
use orgsync::pullers::{AnyPuller, Puller};
use orgsync::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};

const ALL: [Platform; 4] = [
    Platform::Wecom,
    Platform::Dingtalk,
    Platform::Feishu,
    Platform::Bitrix24,
];

/// Who the platform shows of the fixture.
fn sees(platform: Platform, org: &Org, user: &User) -> bool {
    match platform {
        Platform::Bitrix24 => true,
        Platform::Dingtalk => user.status != Status::Resigned && org.is_user_visible(user),
        Platform::Wecom | Platform::Feishu => org.is_user_visible(user),
    }
}

/// Bitrix24's manager: the head of the person's first department (the main one comes first), or,
/// when the person heads it or it has no head, of its parent, and so on up.
fn head_manager(org: &Org, user: &User) -> Option<String> {
    let first = user.main_department.or(user.departments.first().copied())?;
    let mut department = org.department(first);
    while let Some(d) = department {
        match d.leaders.first() {
            Some(head) if *head != user.id => return Some(head.clone()),
            _ => department = d.parent.and_then(|p| org.department(p)),
        }
    }
    None
}

/// Fixture id of every pulled key (the inverse of [`Upstream::key`]).
fn fixture_ids(upstream: &Upstream, org: &Org) -> BTreeMap<UserKey, String> {
    org.users
        .iter()
        .map(|u| (upstream.key(&u.id), u.id.clone()))
        .collect()
}

/// The manager links a first sync would set, as fixture ids.
fn planned_links(
    directory: &Directory,
    ids: &BTreeMap<UserKey, String>,
) -> BTreeSet<(String, String)> {
    let plan = plan(
        &Snapshot::default(),
        directory,
        &Policy::default(),
        jiff::Timestamp::now(),
    );
    plan.steps
        .iter()
        .filter_map(|step| match step {
            Step::SetManager { user, manager, .. } => {
                Some((ids[user].clone(), ids[manager].clone()))
            }
            _ => None,
        })
        .collect()
}

/// People, names and manager links of one pull against the fixture.
fn check_directory(platform: Platform, upstream: &Upstream, org: &Org, directory: &Directory) {
    let ids = fixture_ids(upstream, org);
    let expected: BTreeSet<String> = org
        .users
        .iter()
        .filter(|u| sees(platform, org, u))
        .map(|u| u.id.clone())
        .collect();
    let pulled: BTreeSet<String> = directory.users.keys().map(|k| ids[k].clone()).collect();
    assert_eq!(pulled, expected, "{platform:?}: the people pulled");

    for (key, user) in &directory.users {
        let fixture = org.user(&ids[key]).unwrap();
        assert_eq!(
            user.display_name, fixture.name,
            "{platform:?}: name of {}",
            fixture.id
        );
        // Bitrix24 lists invitees as `ACTIVE`; `user.search` by `CONFIRM_CODE` tells them apart.
        if platform == Platform::Bitrix24 {
            assert_eq!(
                user.status == orgsync::model::Status::NotActivated,
                fixture.status == Status::NotActivated,
                "{platform:?}: status of {} is {:?}",
                fixture.id,
                user.status
            );
        }
        let pulled_manager = user.manager.as_ref().map(|m| ids[m].clone());
        match platform {
            Platform::Bitrix24 => assert_eq!(
                pulled_manager,
                head_manager(org, fixture),
                "{platform:?}: derived manager of {}",
                fixture.id
            ),
            _ => match &fixture.manager {
                Some(m) if expected.contains(m) => assert_eq!(
                    pulled_manager.as_deref(),
                    Some(m.as_str()),
                    "{platform:?}: manager of {}",
                    fixture.id
                ),
                // Outside the scope: absent, or present for the planner to skip.
                Some(m) => assert!(
                    pulled_manager.is_none() || pulled_manager.as_deref() == Some(m.as_str()),
                    "{platform:?}: manager of {} is {pulled_manager:?}",
                    fixture.id
                ),
                None => assert_eq!(pulled_manager, None, "{platform:?}: {}", fixture.id),
            },
        }
    }

    // The scope rule: no planned link points outside the pulled set, and every pulled link to
    // someone outside it is listed as skipped.
    let plan = plan(
        &Snapshot::default(),
        directory,
        &Policy::default(),
        jiff::Timestamp::now(),
    );
    for step in &plan.steps {
        if let Step::SetManager { manager, .. } = step {
            assert!(
                directory.users.contains_key(manager),
                "{platform:?}: link to {manager} outside the pulled set"
            );
        }
    }
    for (key, user) in &directory.users {
        if let Some(manager) = &user.manager
            && !directory.users.contains_key(manager)
        {
            assert!(
                plan.skipped_links.iter().any(|s| &s.user == key
                    && &s.manager == manager
                    && s.reason == LinkSkipReason::OutsideScope),
                "{platform:?}: the out-of-scope link {key} → {manager} is not reported"
            );
        }
    }
}

/// Department heads: every head a platform names is one of the fixture department's leaders,
/// and a department's head (the first) is the fixture's first leader whenever that leader is an
/// active member of the department the platform shows (WeCom filters heads to the visible range,
/// DingTalk flags heads among the listed members). Returns (department name, head) for the
/// departments whose head is so determined; departments are matched by name, so only names the
/// fixture uses once are checked (the ids differ per platform: Feishu's are derived).
fn check_heads(
    platform: Platform,
    upstream: &Upstream,
    org: &Org,
    directory: &Directory,
) -> BTreeMap<String, String> {
    let ids = fixture_ids(upstream, org);
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for department in &org.departments {
        *uses.entry(department.name.as_str()).or_default() += 1;
    }
    let mut heads = BTreeMap::new();
    for department in directory.departments.values() {
        if uses.get(department.name.as_str()) != Some(&1) {
            continue;
        }
        let fixture = org
            .departments
            .iter()
            .find(|d| d.name == department.name)
            .unwrap();
        for head in &department.heads {
            let id = ids.get(head);
            assert!(
                id.is_some_and(|id| fixture.leaders.contains(id)),
                "{platform:?}: {head} is not a head of {}",
                fixture.name
            );
        }
        let determined = fixture
            .leaders
            .first()
            .and_then(|first| org.user(first))
            .filter(|u| {
                u.status == Status::Active
                    && sees(platform, org, u)
                    && u.departments.contains(&fixture.id)
            });
        if let Some(head) = determined {
            assert_eq!(
                department.heads.first().map(|h| ids[h].as_str()),
                Some(head.id.as_str()),
                "{platform:?}: the head of {}",
                fixture.name
            );
            heads.insert(department.name.clone(), head.id.clone());
        }
    }
    heads
}

/// The least number of calls a whole-tenant pull of `org` takes, by the notes' formulas (the
/// README's "what to grant" sections spell each one out).
fn minimum_calls(platform: Platform, org: &Org) -> u64 {
    let departments = org.departments.len() as u64;
    let members = |d: i64, with: &dyn Fn(&User) -> bool| {
        org.users
            .iter()
            .filter(|u| u.departments.contains(&d) && with(u))
            .count() as u64
    };
    match platform {
        // gettoken + agent/get (the scope, with `agent_id`) + department/list + one user/list
        // per department; no one is authorized outside a department here.
        Platform::Wecom => 3 + departments,
        // gettoken + auth/scopes + department/get of the root + listsub per department +
        // user/list pages (100 each, at least one) + user/get per listed person (manager).
        Platform::Dingtalk => {
            let current = |u: &User| u.status != Status::Resigned;
            let pages: u64 = org
                .departments
                .iter()
                .map(|d| members(d.id, &current).div_ceil(100).max(1))
                .sum();
            let listed = org.users.iter().filter(|u| current(u)).count() as u64;
            2 + 1 + departments + pages + listed
        }
        // token + children of the root (50 a page) + find_by_department pages (50 each, at least
        // one) for the root and every department.
        Platform::Feishu => {
            let below_root = departments - 1;
            let pages: u64 = org
                .departments
                .iter()
                .map(|d| members(d.id, &|_| true).div_ceil(50).max(1))
                .sum();
            1 + below_root.div_ceil(50).max(1) + pages
        }
        // The first batch carries the first page of every list (users, departments, pending
        // invitees by `CONFIRM_CODE`, and the filter's check); the rest go 50 pages a batch.
        Platform::Bitrix24 => {
            let invitees = org
                .users
                .iter()
                .filter(|u| u.status == Status::NotActivated)
                .count() as u64;
            let pages = (org.users.len() as u64).div_ceil(50)
                + departments.div_ceil(50)
                + invitees.div_ceil(50).max(1);
            1 + pages.saturating_sub(3).div_ceil(50)
        }
    }
}

fn whole_tenant_org() -> Org {
    generate(&GeneratorConfig {
        people: 260,
        departments: 14,
        seed: 21,
        out_of_scope_share: 0.0,
        ..GeneratorConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_puller_reads_the_same_org() {
    for org in [small_org(), whole_tenant_org()] {
        let mut links = Vec::new();
        let mut heads = Vec::new();
        for platform in ALL {
            let upstream = Upstream::start(platform, org.clone()).await;
            let pulled = upstream.puller().pull().await.unwrap_or_else(|e| {
                panic!("{platform:?}: {e}");
            });
            check_directory(platform, &upstream, &org, &pulled.directory);
            let named: BTreeSet<String> = pulled
                .directory
                .departments
                .values()
                .map(|d| d.name.clone())
                .collect();
            let found = check_heads(platform, &upstream, &org, &pulled.directory);
            heads.push((platform, named, found));
            if platform != Platform::Bitrix24 {
                let ids = fixture_ids(&upstream, &org);
                links.push((platform, planned_links(&pulled.directory, &ids)));
            }
        }
        // The platforms that carry explicit managers agree on every link a sync would set
        // between active people (statuses differ: DingTalk lists no resigned people and has no
        // disabled state, so links to such people legitimately differ).
        let current: BTreeSet<&str> = org
            .users
            .iter()
            .filter(|u| u.status == Status::Active)
            .map(|u| u.id.as_str())
            .collect();
        let comparable = |set: &BTreeSet<(String, String)>| -> BTreeSet<(String, String)> {
            set.iter()
                .filter(|(u, m)| current.contains(u.as_str()) && current.contains(m.as_str()))
                .cloned()
                .collect()
        };
        // Every platform names the same head for the departments they all pull.
        let everywhere: BTreeSet<&String> = heads
            .iter()
            .map(|(_, named, _)| named.iter().collect::<BTreeSet<_>>())
            .reduce(|a, b| a.intersection(&b).copied().collect())
            .unwrap_or_default();
        let common = |found: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            found
                .iter()
                .filter(|(name, _)| everywhere.contains(name))
                .map(|(n, h)| (n.clone(), h.clone()))
                .collect()
        };
        let reference_heads = common(&heads[0].2);
        assert!(!reference_heads.is_empty(), "no department head to compare");
        for (platform, _, found) in &heads[1..] {
            assert_eq!(
                common(found),
                reference_heads,
                "{platform:?} and {:?} name different heads",
                heads[0].0
            );
        }
        let (reference, reference_links) = &links[0];
        assert!(!reference_links.is_empty());
        for (platform, set) in &links[1..] {
            assert_eq!(
                comparable(set),
                comparable(reference_links),
                "{platform:?} and {reference:?} set different manager links"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_puller_makes_exactly_the_minimum_number_of_calls() {
    let org = whole_tenant_org();
    for platform in ALL {
        let upstream = Upstream::start(platform, org.clone()).await;
        let pulled = upstream.puller().pull().await.unwrap();
        let minimum = minimum_calls(platform, &org);
        assert_eq!(
            upstream.total_calls(),
            minimum,
            "{platform:?}: calls seen by the emulator"
        );
        assert_eq!(
            pulled.stats.total_calls(),
            minimum,
            "{platform:?}: calls the puller counted"
        );
        assert_eq!(pulled.stats.retries, 0, "{platform:?}");
    }
}

/// DingTalk's other way to read managers, the HR roster (`agent_id` set, the permission
/// granted): the same org as one `user/get` per person (people, links, scope rule, heads), in
/// `⌈listed / 100⌉` roster calls instead of one `user/get` per listed person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_reads_the_same_org_through_the_hr_roster_in_the_fewest_calls() {
    // The small org (a partial scope, someone granted alone, a manager outside) is compared
    // with the per-person path; the whole tenant's calls with the formula (its per-person pull
    // would take 14 s at DingTalk's 20/s).
    for (org, per_person) in [(small_org(), true), (whole_tenant_org(), false)] {
        let upstream = Upstream::start(Platform::Dingtalk, org.clone()).await;
        let Upstream::Dingtalk(handle) = &upstream else {
            unreachable!("a DingTalk upstream")
        };
        let agent_id = u64::try_from(handle.config().agent_id).unwrap();
        let pulled = AnyPuller::Dingtalk(dingtalk_puller(handle, |c| c.agent_id = Some(agent_id)))
            .pull()
            .await
            .unwrap();
        let calls = upstream.total_calls();
        check_directory(Platform::Dingtalk, &upstream, &org, &pulled.directory);
        check_heads(Platform::Dingtalk, &upstream, &org, &pulled.directory);
        if per_person {
            let expected = upstream.puller().pull().await.unwrap().directory;
            assert_eq!(
                pulled.directory, expected,
                "the roster path reads the same org"
            );
        } else {
            let listed = org
                .users
                .iter()
                .filter(|u| u.status != Status::Resigned)
                .count() as u64;
            let minimum = minimum_calls(Platform::Dingtalk, &org) - listed + listed.div_ceil(100);
            assert_eq!(calls, minimum, "calls seen by the emulator");
            assert_eq!(
                pulled.stats.total_calls(),
                minimum,
                "calls the puller counted"
            );
        }
    }
}

/// WeCom's other way to read, for an app refused the list calls (48002, reported for apps
/// created after 2022-08-15): the same org (people, links, scope rule, heads) from the simple
/// lists and single reads, in `2D + 5 + P` calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_reads_the_same_org_with_its_lists_refused() {
    // The small org's partial scope has someone granted alone: only the whole tenant's calls
    // are the formula's.
    for (org, count_calls) in [(small_org(), false), (whole_tenant_org(), true)] {
        let refused = emulators::wecom::WecomConfig {
            list_access: emulators::wecom::ListAccess::Refused,
            ..Default::default()
        };
        let upstream =
            Upstream::Wecom(emulators::wecom::start(org.clone(), refused).await.unwrap());
        let pulled = upstream.puller().pull().await.unwrap();
        check_directory(Platform::Wecom, &upstream, &org, &pulled.directory);
        check_heads(Platform::Wecom, &upstream, &org, &pulled.directory);
        if count_calls {
            let departments = org.departments.len() as u64;
            let people = org.users.len() as u64;
            let minimum = 2 * departments + 5 + people;
            assert_eq!(
                upstream.total_calls(),
                minimum,
                "calls seen by the emulator"
            );
            assert_eq!(
                pulled.stats.total_calls(),
                minimum,
                "calls the puller counted"
            );
        }
    }
}

/// Each fault kind, on a schedule that leaves room between hits: the pull retries through it and
/// reads exactly what a clean pull reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_puller_survives_every_fault_kind() {
    let org = small_org();
    let kinds = Faults::each_kind(2);
    for platform in ALL {
        // Bitrix24 reads a small portal in one request, which an every-2 schedule never hits:
        // give it one that takes two batches (more than 50 pages of 50).
        let org = match platform {
            Platform::Bitrix24 => generate(&GeneratorConfig {
                people: 2_600,
                departments: 30,
                seed: 4,
                ..GeneratorConfig::default()
            }),
            _ => org.clone(),
        };
        let upstream = Upstream::start(platform, org.clone()).await;
        let clean = upstream.puller().pull().await.unwrap().directory;
        for (kind, faults) in &kinds {
            upstream.set_faults(faults.clone());
            let pulled = upstream
                .puller()
                .pull()
                .await
                .unwrap_or_else(|e| panic!("{platform:?} under {kind}: {e}"));
            assert_eq!(
                pulled.directory.users, clean.users,
                "{platform:?} under {kind}: a different directory"
            );
            assert!(
                pulled.stats.retries > 0 || *kind == "token expiry",
                "{platform:?} under {kind}: no retry counted"
            );
        }
        // A fault on every call: a clean error, never a partial directory.
        upstream.set_faults(Faults {
            http_5xx_every: Some(1),
            ..Faults::default()
        });
        let error = upstream
            .puller()
            .pull()
            .await
            .expect_err("every call failed, yet the pull succeeded");
        assert!(
            !error.to_string().is_empty(),
            "{platform:?}: an error with no message"
        );
    }
}

/// An upstream announcing an absurd token lifetime — 2^64−1 seconds (which overflowed the clock
/// and panicked the pull), or 0 — is read like any other: the lifetime is clamped (a day at most,
/// 0 means fetch a new token for the next call) and the pull reads what a clean pull reads.
/// Bitrix24 runs as an OAuth app here, since a webhook has no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_puller_survives_absurd_token_lifetimes() {
    let org = small_org();
    for platform in ALL {
        let upstream = Upstream::start(platform, org.clone()).await;
        let puller = || match &upstream {
            Upstream::Bitrix24(h) => AnyPuller::Bitrix24(bitrix24_puller(h, true)),
            other => other.puller(),
        };
        let clean = puller().pull().await.unwrap().directory;
        for lifetime in [u64::MAX, 0] {
            upstream.set_faults(Faults {
                announced_token_lifetime: Some(lifetime),
                ..Faults::default()
            });
            let pulled = puller()
                .pull()
                .await
                .unwrap_or_else(|e| panic!("{platform:?} with lifetime {lifetime}: {e}"));
            assert_eq!(
                pulled.directory.users, clean.users,
                "{platform:?} with lifetime {lifetime}: a different directory"
            );
        }
    }
}
