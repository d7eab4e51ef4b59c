//! The Bitrix24 puller against the Bitrix24 emulator: exact directories, paging and batching,
//! call counts, extranet users, every fault kind, the portal's rate limit, and an end-to-end
//! sync into the SCIM emulator.
//!
//! Managers: the fixture's per-user `manager` field is not what Bitrix24 exposes. The emulator
//! serves each department's head (`UF_HEAD`) from the fixture department's `leaders[0]`, and the
//! expectation here is Bitrix24's derivation: the head of the person's (first) department,
//! climbing to the parent while the person is that head or there is none.
//!
//! Scope: Bitrix24 has no per-app contact range, so the emulator serves the whole fixture and
//! ignores its `scope`; the small org below sets a narrow scope to show it.

mod common;

use common::{bitrix24_puller, bitrix24_source, department, person, quick_retries, scim_pusher};
use emulators::bitrix24::{
    self, Bitrix24Config, Bitrix24Handle, ConfirmCodeFilter, PagingQuirk, PortalError,
};
use emulators::faults::Faults;
use emulators::fixture::{Org, Scope, Status};
use emulators::generator::{GeneratorConfig, generate};
use orgsync::config::{Secret, SecretRef};
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::model::{DepartmentId, Directory, Problem, Status as ModelStatus, UserKey};
use orgsync::plan::Policy;
use orgsync::pullers::bitrix24::{Bitrix24Auth, Bitrix24Puller, Bitrix24Secrets};
use orgsync::pullers::http::{LimitScope, RateLimit};
use orgsync::pullers::{AnyPuller, PullError, Pulled, Puller};
use orgsync::pushers::AnyPusher;
use orgsync::report::{Report, RunOutcome};
use orgsync::state::StateDb;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Bitrix24's page size and batch size.
const PAGE: u64 = 50;
const BATCH: u64 = 50;

/// Northwind: 1 (head 3) ─ 5 Engineering (head 12) ─ 9 Platform (heads 17, then 21: only the
/// first is `UF_HEAD`), 5 ─ 11 QA (no head), 1 ─ 13 Support (head 32, dismissed). Numeric
/// fixture ids are Bitrix24 IDs as they are; "zoe" gets a derived 10-digit ID.
fn small_org() -> Org {
    let mut users = vec![
        person("3", "Clara Chief", &[1], None),
        person("12", "Eng Head", &[5], Some("3")),
        person("17", "Anna Berger", &[9], Some("12")),
        // HR's manager field says 17; Bitrix24 derives 12 (QA has no head).
        person("20", "Quinn Tester", &[11], Some("17")),
        person("21", "Pat Dev", &[5, 9], Some("17")),
        person("22", "林晓", &[9], Some("17")),
        person("31", "Mark Olsen", &[9], Some("17")),
        person("32", "Sam Support", &[13], Some("3")),
        person("33", "Nina New", &[13], Some("32")),
        person("40", "Gus Guest", &[], None),
        person("zoe", "Zoë Müller", &[11], Some("12")),
    ];
    users[4].main_department = Some(9);
    users[6].status = Status::Disabled;
    users[7].status = Status::Resigned;
    users[8].status = Status::NotActivated;
    users[9].extranet = true;
    Org {
        departments: vec![
            department(1, None, "Northwind Ltd", &["3"]),
            department(5, Some(1), "Engineering", &["12"]),
            department(9, Some(5), "Platform", &["17", "21"]),
            department(11, Some(5), "QA", &[]),
            department(13, Some(1), "Support", &["32"]),
        ],
        users,
        scope: Scope {
            departments: vec![9],
            users: Vec::new(),
        },
        sensitive_fields: true,
    }
}

/// `people` people in `departments` departments, deterministic.
fn generated(people: usize, departments: usize) -> Org {
    generate(&GeneratorConfig {
        people,
        departments,
        seed: 24,
        ..GeneratorConfig::default()
    })
}

async fn portal(org: Org) -> Bitrix24Handle {
    bitrix24::start(org, Bitrix24Config::default())
        .await
        .unwrap()
}

fn key(id: &str) -> UserKey {
    UserKey::new(id)
}

fn keys(directory: &Directory) -> BTreeSet<String> {
    directory.users.keys().map(|k| k.to_string()).collect()
}

/// Every non-extranet fixture user's Bitrix24 ID.
fn employee_ids(portal: &Bitrix24Handle) -> BTreeSet<String> {
    portal
        .org()
        .users
        .iter()
        .filter(|u| !u.extranet)
        .map(|u| portal.user_id(&u.id).unwrap())
        .collect()
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// HTTP requests for a full pull of N users and D departments, per the notes (§11): every page
/// packed 50 to a batch, "+1 to learn `total`": `ceil((ceil(N/50) + ceil(D/50)) / 50) + 1`.
fn notes_minimum(users: u64, departments: u64) -> u64 {
    ceil_div(ceil_div(users, PAGE) + ceil_div(departments, PAGE), BATCH) + 1
}

/// What the puller sends: the request that learns `total` also carries the first page of every
/// list — users, departments, the I pending invitees (`user.search` with a `CONFIRM_CODE`) and
/// the check of that filter (one page) —, so the remaining pages are
/// `ceil(N/50) + ceil(D/50) + max(1, ceil(I/50)) − 3`:
/// `1 + ceil((ceil(N/50) + ceil(D/50) + max(1, ceil(I/50)) − 3) / 50)`. Never more than the
/// notes' figure while I ≤ 50; equal to it unless the page count is 1 or 2 above a multiple of
/// 50.
fn puller_requests(users: u64, departments: u64, invitees: u64) -> u64 {
    let pages = ceil_div(users, PAGE).max(1)
        + ceil_div(departments, PAGE).max(1)
        + ceil_div(invitees, PAGE).max(1);
    1 + ceil_div(pages - 3, BATCH)
}

fn invitees(org: &Org) -> u64 {
    org.users
        .iter()
        .filter(|u| u.status == Status::NotActivated)
        .count() as u64
}

fn calls(pulled: &Pulled) -> BTreeMap<&str, u64> {
    pulled
        .stats
        .calls
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect()
}

#[tokio::test]
async fn full_pull_of_a_small_org_derives_managers_from_department_heads() {
    let portal = portal(small_org()).await;
    let pulled = bitrix24_puller(&portal, false).pull().await.unwrap();
    let directory = &pulled.directory;
    let zoe = portal.user_id("zoe").unwrap();
    assert_eq!(
        zoe.len(),
        10,
        "a non-numeric fixture id maps to a 10-digit ID"
    );

    let expected: BTreeSet<String> = ["3", "12", "17", "20", "21", "22", "31", "32", "33"]
        .into_iter()
        .map(str::to_owned)
        .chain([zoe.clone()])
        .collect();
    assert_eq!(
        keys(directory),
        expected,
        "everyone but the extranet guest, the fixture's narrow scope ignored"
    );

    let manager = |id: &str| {
        directory.users[&key(id)]
            .manager
            .as_ref()
            .map(|m| m.to_string())
    };
    let derived: [(&str, Option<&str>); 10] = [
        ("3", None),        // heads the root
        ("12", Some("3")),  // heads Engineering: climb to the root's head
        ("17", Some("12")), // heads Platform: climb to Engineering's head
        ("20", Some("12")), // QA has no head: climb (HR's field said 17)
        ("21", Some("17")), // main department Platform first; second heads are not UF_HEAD
        ("22", Some("17")),
        ("31", Some("17")),
        ("32", Some("3")),  // heads Support
        ("33", Some("32")), // a dismissed head still heads the department, as in Bitrix24
        (zoe.as_str(), Some("12")),
    ];
    for (id, expected) in derived {
        assert_eq!(manager(id).as_deref(), expected, "manager of {id}");
    }

    // Each department's one head is `UF_HEAD`, dismissed or not; none where there is none.
    let heads = |id: &str| -> Vec<String> {
        directory.departments[&DepartmentId::new(id)]
            .heads
            .iter()
            .map(|k| k.to_string())
            .collect()
    };
    for (id, head) in [("1", "3"), ("5", "12"), ("9", "17"), ("13", "32")] {
        assert_eq!(heads(id), [head], "head of {id}");
    }
    assert!(heads("11").is_empty(), "QA has no head");

    let status = |id: &str| directory.users[&key(id)].status;
    assert_eq!(
        status("31"),
        ModelStatus::Resigned,
        "ACTIVE=false: dismissed"
    );
    assert_eq!(status("32"), ModelStatus::Resigned);
    assert_eq!(
        status("33"),
        ModelStatus::NotActivated,
        "ACTIVE is true, but user.search lists her CONFIRM_CODE: invited, not accepted"
    );
    assert_eq!(status("3"), ModelStatus::Active);

    let pat = &directory.users[&key("21")];
    assert_eq!(pat.display_name, "Pat Dev");
    assert_eq!(pat.email.as_deref(), Some("21@example.cn"));
    assert_eq!(pat.title.as_deref(), Some("工程师"));
    assert_eq!(
        pat.departments,
        [DepartmentId::new("9"), DepartmentId::new("5")]
    );
    assert_eq!(directory.users[&key(&zoe)].display_name, "Zoë Müller");
    assert_eq!(directory.users[&key("22")].display_name, "林晓");

    let tree: Vec<(String, String, Option<String>)> = directory
        .departments
        .values()
        .map(|d| {
            (
                d.id.to_string(),
                d.name.clone(),
                d.parent.as_ref().map(|p| p.to_string()),
            )
        })
        .collect();
    let expected_tree = [
        ("1", "Northwind Ltd", None),
        ("11", "QA", Some("5")),
        ("13", "Support", Some("1")),
        ("5", "Engineering", Some("1")),
        ("9", "Platform", Some("5")),
    ]
    .map(|(id, name, parent)| (id.to_owned(), name.to_owned(), parent.map(str::to_owned)));
    assert_eq!(tree, expected_tree);
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);
    assert!(directory.held.is_empty());

    // 11 users and 5 departments fit in the first batch: one request.
    assert_eq!(puller_requests(11, 5, 1), 1);
    assert_eq!(calls(&pulled), BTreeMap::from([("batch", 1)]));
    assert_eq!(portal.total_calls(), 1);
    assert_eq!(pulled.stats.retries, 0);
}

#[tokio::test]
async fn extranet_users_are_excluded_by_default_and_included_on_request() {
    let portal = portal(small_org()).await;
    let without = bitrix24_puller(&portal, false).pull().await.unwrap();
    assert!(!without.directory.users.contains_key(&key("40")));

    let (mut source, secrets) = bitrix24_source(&portal, false);
    source.include_extranet = true;
    let with = Bitrix24Puller::new(source, secrets)
        .unwrap()
        .pull()
        .await
        .unwrap();
    let guest = &with.directory.users[&key("40")];
    assert_eq!(guest.display_name, "Gus Guest");
    assert!(
        guest.departments.is_empty(),
        "extranet users belong to no department"
    );
    assert_eq!(guest.manager, None, "no department, no manager");
    assert_eq!(
        keys(&with.directory),
        keys(&without.directory)
            .into_iter()
            .chain(["40".to_owned()])
            .collect()
    );
}

/// 2 600 users and 60 departments: 52 + 2 pages. The first batch carries both first pages, the
/// other 52 pages need two more batches (50 + 2 commands).
#[tokio::test]
async fn paging_and_batching_read_every_page_once_at_the_minimum_call_count() {
    let org = generated(2_600, 60);
    let (n, d, i) = (
        org.users.len() as u64,
        org.departments.len() as u64,
        invitees(&org),
    );
    let portal = portal(org).await;
    let pulled = bitrix24_puller(&portal, false).pull().await.unwrap();

    assert_eq!(keys(&pulled.directory), employee_ids(&portal));
    assert_eq!(pulled.directory.users.len(), 2_600);
    assert_eq!(pulled.directory.departments.len(), 60);

    let expected = puller_requests(n, d, i);
    assert_eq!(expected, 3);
    assert_eq!(
        expected,
        notes_minimum(n, d),
        "the notes' figure for this org"
    );
    assert_eq!(calls(&pulled), BTreeMap::from([("batch", expected)]));
    assert_eq!(portal.calls("batch"), expected);
    assert_eq!(portal.total_calls(), expected, "no request outside batches");
    assert_eq!(portal.batched_calls("user.get"), ceil_div(n, PAGE));
    assert_eq!(portal.batched_calls("department.get"), ceil_div(d, PAGE));
    assert_eq!(pulled.stats.retries, 0);

    // Every page asked for exactly once, by its `start`.
    let mut starts: BTreeMap<String, Vec<Option<i64>>> = BTreeMap::new();
    for (method, start) in portal.page_requests() {
        starts.entry(method).or_default().push(start);
    }
    for list in starts.values_mut() {
        list.sort();
    }
    let pages = |count: u64| {
        (0..count)
            .map(|p| Some((p * PAGE) as i64))
            .collect::<Vec<_>>()
    };
    assert_eq!(starts["user.get"], pages(52));
    assert_eq!(starts["department.get"], pages(2));
    // The invitees' pages and the first page of the filter's check.
    let mut searched = pages(ceil_div(i, PAGE).max(1));
    searched.push(Some(0));
    searched.sort();
    assert_eq!(starts["user.search"], searched);

    // The managers are the department-head derivation, checked against the fixture.
    let org = portal.org();
    let head =
        |dept: i64| -> Option<&str> { org.department(dept)?.leaders.first().map(String::as_str) };
    for user in &org.users {
        let mut dept = user.main_department.or(user.departments.first().copied());
        let mut expected = None;
        while let Some(id) = dept {
            match head(id) {
                Some(h) if h != user.id => {
                    expected = Some(portal.user_id(h).unwrap());
                    break;
                }
                _ => dept = org.department(id).and_then(|d| d.parent),
            }
        }
        let pulled_user = &pulled.directory.users[&key(&portal.user_id(&user.id).unwrap())];
        assert_eq!(
            pulled_user.manager.as_ref().map(|m| m.to_string()),
            expected,
            "manager of {}",
            user.id
        );
    }
}

/// Without `start`, `user.get` answers the first 50 forever: a client that does not forward it
/// would read 50 people three times over. The puller's pull reads each page once, by `start`.
#[tokio::test]
async fn start_is_forwarded_so_no_page_repeats() {
    let portal = portal(generated(120, 3)).await;
    let http = reqwest::Client::new();
    let page = |query: &'static str| {
        let url = format!("{}user.get.json{query}", portal.base_url());
        let http = http.clone();
        async move {
            let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            let ids: Vec<String> = body["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["ID"].as_str().unwrap().to_owned())
                .collect();
            (ids, body["next"].clone(), body["total"].clone())
        }
    };
    let (first, next, total) = page("").await;
    let (again, next_again, _) = page("").await;
    assert_eq!(
        (first.len(), &next, &total),
        (50, &serde_json::json!(50), &serde_json::json!(120))
    );
    assert_eq!(
        (&again, &next_again),
        (&first, &next),
        "no start: the first page again"
    );
    let (second, _, _) = page("?start=50&sort=ID&order=ASC").await;
    let (first_sorted, _, _) = page("?start=0&sort=ID&order=ASC").await;
    assert!(second.iter().all(|id| !first_sorted.contains(id)));

    portal.reset_calls();
    let pulled = bitrix24_puller(&portal, false).pull().await.unwrap();
    assert_eq!(keys(&pulled.directory), employee_ids(&portal));
    assert_eq!(
        pulled.directory.users.len(),
        120,
        "no duplicates, nobody missing"
    );
    let user_pages: Vec<Option<i64>> = portal
        .page_requests()
        .into_iter()
        .filter(|(method, _)| method == "user.get")
        .map(|(_, start)| start)
        .collect();
    assert_eq!(user_pages, [Some(0), Some(50), Some(100)]);
}

#[tokio::test]
async fn an_ignored_start_is_an_error_not_a_loop() {
    let portal = portal(generated(120, 3)).await;
    portal.set_paging_quirk(PagingQuirk::IgnoreStart);
    let error = bitrix24_puller(&portal, false).pull().await.unwrap_err();
    assert!(matches!(error, PullError::Paging { .. }), "{error}");
    let text = error.to_string();
    assert!(text.starts_with("bitrix24 user.get:"), "{text}");
    assert_eq!(
        portal.calls("batch"),
        2,
        "stopped at the first repeated page"
    );
}

#[tokio::test]
async fn next_going_backwards_is_an_error_not_a_loop() {
    let portal = portal(generated(120, 3)).await;
    portal.set_paging_quirk(PagingQuirk::NextBackwards);
    let error = bitrix24_puller(&portal, false).pull().await.unwrap_err();
    assert!(matches!(error, PullError::Paging { .. }), "{error}");
    assert!(error.to_string().contains("does not advance"), "{error}");
    assert_eq!(portal.calls("batch"), 2);
}

/// A token that dies after one call: the second batch gets `expired_token`, the puller refreshes
/// (with the rotated refresh token) and sends that batch once more.
#[tokio::test]
async fn oauth_token_expiry_is_refreshed_and_the_batch_retried_once() {
    let portal = portal(generated(120, 3)).await;
    let installed = portal.refresh_token();
    let puller = bitrix24_puller(&portal, true);
    portal.set_faults(Faults {
        token_expires_after_calls: Some(1),
        ..Faults::default()
    });
    let pulled = puller.pull().await.unwrap();
    assert_eq!(keys(&pulled.directory), employee_ids(&portal));
    // Batches: 1 (ok), 2 (expired_token), 2 again (ok). Refreshes: the first token, the second.
    assert_eq!(
        calls(&pulled),
        BTreeMap::from([("batch", 3), ("oauth/token", 2)])
    );
    assert_eq!(pulled.stats.retries, 0, "a refresh is not a backoff retry");
    assert_ne!(
        portal.refresh_token(),
        installed,
        "the portal rotated the refresh token"
    );

    // Tokens revoked between pulls: refreshed again with the newest refresh token.
    portal.set_faults(Faults::default());
    portal.expire_tokens();
    let again = puller.pull().await.unwrap();
    assert_eq!(
        calls(&again),
        BTreeMap::from([("batch", 3), ("oauth/token", 1)])
    );
}

/// With a `file:` refresh token, the rotated one is written back, so the next process starts
/// from a token the portal still accepts.
#[tokio::test]
async fn the_rotated_refresh_token_is_written_back_to_its_file() {
    let portal = portal(small_org()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bitrix24-refresh-token");
    std::fs::write(&path, format!("{}\n", portal.refresh_token())).unwrap();
    let (mut source, _) = bitrix24_source(&portal, true);
    let file = SecretRef::File(path.clone());
    source.auth = Bitrix24Auth::oauth(
        portal.portal_url().parse().unwrap(),
        portal.oauth_url().parse().unwrap(),
        [
            SecretRef::Env("UNUSED".into()),
            SecretRef::Env("UNUSED".into()),
            file,
        ],
    );
    // Read the file each time, as `resolve_secrets` would for a new process.
    let secrets = || {
        let config = portal.config();
        Bitrix24Secrets::Oauth {
            client_id: Secret::new(config.client_id.clone()),
            client_secret: Secret::new(config.client_secret.clone()),
            refresh_token: SecretRef::File(path.clone()).resolve().unwrap(),
        }
    };
    for _ in 0..2 {
        let puller = Bitrix24Puller::new(source.clone(), secrets()).unwrap();
        puller.pull().await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim_end(),
            portal.refresh_token()
        );
    }
    assert_eq!(portal.calls("oauth/token"), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_is_a_credentials_error() {
    let portal = portal(small_org()).await;
    let (source, _) = bitrix24_source(&portal, true);
    let config = portal.config();
    let secrets = Bitrix24Secrets::Oauth {
        client_id: Secret::new(config.client_id.clone()),
        client_secret: Secret::new(config.client_secret.clone()),
        refresh_token: Secret::new("b24-rt-revoked"),
    };
    let error = Bitrix24Puller::new(source, secrets)
        .unwrap()
        .pull()
        .await
        .unwrap_err();
    assert!(matches!(error, PullError::Credentials { .. }), "{error}");
    assert!(error.to_string().contains("invalid_grant"), "{error}");
    assert!(!error.to_string().contains("b24-rt-revoked"), "{error}");
    assert_eq!(portal.calls("oauth/token"), 1, "not retried");
    assert_eq!(portal.calls("batch"), 0);
}

#[tokio::test]
async fn a_wrong_webhook_code_is_a_credentials_error_that_hides_the_url() {
    let portal = portal(small_org()).await;
    let (source, _) = bitrix24_source(&portal, false);
    let wrong = format!("{}/rest/1/not-the-code/", portal.portal_url());
    let error = Bitrix24Puller::new(source, Bitrix24Secrets::Webhook(Secret::new(wrong)))
        .unwrap()
        .pull()
        .await
        .unwrap_err();
    assert!(
        matches!(error, PullError::Credentials { code: 401, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("NO_AUTH_FOUND"), "{error}");
    assert!(!error.to_string().contains("not-the-code"), "{error}");
    assert_eq!(portal.calls("batch"), 1, "not retried");
}

#[tokio::test]
async fn a_missing_scope_is_a_credentials_error() {
    let portal = bitrix24::start(
        small_org(),
        Bitrix24Config {
            scopes: vec!["user".into()],
            ..Bitrix24Config::default()
        },
    )
    .await
    .unwrap();
    let error = bitrix24_puller(&portal, false).pull().await.unwrap_err();
    assert!(
        matches!(error, PullError::Credentials { code: 401, .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("insufficient_scope") && text.contains("`department`"),
        "{text}"
    );
}

/// Portals answer refusals and blocks with 401: the body's code says which is which.
#[tokio::test]
async fn refusals_and_blocks_in_401_answers_are_classified_by_their_code() {
    let portal = portal(small_org()).await;
    for (fault, code, hint) in [
        (
            PortalError::InvalidCredentials,
            "INVALID_CREDENTIALS",
            "may not read",
        ),
        (
            PortalError::AccessDenied,
            "ACCESS_DENIED",
            "commercial plans",
        ),
    ] {
        portal.set_portal_error(Some(fault));
        portal.reset_calls();
        let error = bitrix24_puller(&portal, false).pull().await.unwrap_err();
        assert!(
            matches!(error, PullError::Credentials { code: 401, .. }),
            "{code}: {error}"
        );
        let text = error.to_string();
        assert!(text.contains(code) && text.contains(hint), "{text}");
        assert!(!text.contains(&portal.config().webhook_code), "{text}");
        assert_eq!(portal.calls("batch"), 1, "{code}: not retried");
    }
    // A block is a throttle: waited out (here: a second), then the pull goes on.
    portal.set_portal_error(Some(PortalError::OperationTimeLimit { reset_in_secs: 1 }));
    portal.reset_calls();
    let puller = bitrix24_puller(&portal, false);
    let pull = tokio::spawn(async move { puller.pull().await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    portal.set_portal_error(None);
    let pulled = pull.await.unwrap().unwrap();
    assert_eq!(pulled.directory.users.len(), employee_ids(&portal).len());
    assert!(pulled.stats.retries >= 1);
}

/// Unsorted pages come in orders of their own on a real portal (the emulator shuffles them):
/// the puller asks for `ID` order, so every person comes exactly once.
#[tokio::test]
async fn unordered_pages_still_give_everyone_exactly_once() {
    let portal = portal(generated(260, 14)).await;
    let pulled = bitrix24_puller(&portal, false).pull().await.unwrap();
    assert_eq!(keys(&pulled.directory), employee_ids(&portal));
    assert_eq!(pulled.directory.users.len(), employee_ids(&portal).len());
    let sorted = portal
        .page_requests()
        .iter()
        .filter(|(method, _)| method == "user.get")
        .count();
    assert_eq!(sorted, 6, "ceil(260 / 50) pages, each read once");
}

/// An invited person who has not accepted is `ACTIVE` in `user.get`; the puller finds them with
/// `user.search` by `CONFIRM_CODE`, and only trusts the filter when its halves add up.
#[tokio::test]
async fn invitees_come_out_not_activated_when_the_portal_filters_on_confirm_code() {
    let org = small_org();
    let invited: Vec<String> = org
        .users
        .iter()
        .filter(|u| u.status == emulators::fixture::Status::NotActivated && !u.extranet)
        .map(|u| u.id.clone())
        .collect();
    assert!(!invited.is_empty(), "the small org has an invitee");
    let portal = portal(org).await;
    let pulled = bitrix24_puller(&portal, false).pull().await.unwrap();
    for id in &invited {
        let key = UserKey::new(portal.user_id(id).unwrap());
        assert_eq!(
            pulled.directory.users[&key].status,
            ModelStatus::NotActivated,
            "{id}"
        );
    }
    let active = pulled
        .directory
        .users
        .values()
        .filter(|u| u.status == ModelStatus::Active)
        .count();
    assert!(active > 0);

    // A portal whose user.search drops the filter lists everyone as "invited": the halves do not
    // add up, so nobody is marked, and the pull still succeeds.
    let old = bitrix24::start(
        small_org(),
        Bitrix24Config {
            confirm_code_filter: ConfirmCodeFilter::Ignored,
            ..Bitrix24Config::default()
        },
    )
    .await
    .unwrap();
    let pulled = bitrix24_puller(&old, false).pull().await.unwrap();
    assert!(
        pulled
            .directory
            .users
            .values()
            .all(|u| u.status != ModelStatus::NotActivated)
    );
    // The report says so, once.
    assert_eq!(
        pulled
            .directory
            .problems
            .iter()
            .filter(|p| **p == Problem::InviteesNotDistinguished)
            .count(),
        1,
        "{:?}",
        pulled.directory.problems
    );
    for id in &invited {
        let key = UserKey::new(old.user_id(id).unwrap());
        assert_eq!(
            pulled.directory.users[&key].status,
            ModelStatus::Active,
            "{id}"
        );
    }
    assert_eq!(
        old.page_requests()
            .iter()
            .filter(|(method, _)| method == "user.search")
            .count(),
        2,
        "only the first page of each half: the rest is not read"
    );
}

/// Every second request fails in one of the transient ways; each is retried after a backoff and
/// the pull completes with exactly the right people.
#[tokio::test]
async fn transient_faults_are_retried_with_backoff() {
    let kinds: [(&str, Faults); 4] = [
        (
            "503 QUERY_LIMIT_EXCEEDED",
            Faults {
                rate_limit_every: Some(2),
                ..Faults::default()
            },
        ),
        (
            "429 OPERATION_TIME_LIMIT",
            Faults {
                concurrency_limit_every: Some(2),
                ..Faults::default()
            },
        ),
        (
            "502 with an HTML page",
            Faults {
                http_5xx_every: Some(2),
                ..Faults::default()
            },
        ),
        (
            "truncated JSON",
            Faults {
                malformed_json_every: Some(2),
                ..Faults::default()
            },
        ),
    ];
    for (kind, faults) in kinds {
        let portal = portal(generated(120, 3)).await;
        portal.set_faults(faults);
        let pulled = bitrix24_puller(&portal, false)
            .pull()
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(keys(&pulled.directory), employee_ids(&portal), "{kind}");
        // Two batches; the second request fails once and is sent again.
        assert_eq!(pulled.stats.retries, 1, "{kind}");
        assert_eq!(calls(&pulled), BTreeMap::from([("batch", 3)]), "{kind}");
    }
}

#[tokio::test]
async fn a_persistent_failure_is_a_clear_error_without_secrets() {
    let portal = portal(small_org()).await;
    portal.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let error = bitrix24_puller(&portal, false).pull().await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PullError::Exhausted { .. }), "{text}");
    assert!(
        text.starts_with(
            "bitrix24 batch: gave up after 6 attempts; last error: bitrix24 batch: HTTP status 502"
        ),
        "{text}"
    );
    assert!(!text.contains(&portal.config().webhook_code), "{text}");
    assert_eq!(
        portal.calls("batch"),
        quick_retries().max_attempts.unwrap_or_default() as u64
    );

    // A portal that is gone: a transport error, still without the webhook URL.
    let url = portal.base_url();
    let puller = bitrix24_puller(&portal, false);
    portal.shutdown().await;
    let error = puller.pull().await.unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("bitrix24 batch:"), "{text}");
    assert!(
        !text.contains(&url) && !text.contains("emulated-webhook-code"),
        "{text}"
    );
}

/// An answer slower than the client's timeout: each attempt times out, the pull fails after the
/// configured attempts with a transport error that names the method, not the URL.
#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let portal = portal(small_org()).await;
    portal.set_faults(Faults {
        delay: Duration::from_millis(400),
        ..Faults::default()
    });
    let (mut source, secrets) = bitrix24_source(&portal, false);
    source.timeout = orgsync::config::HumanDuration(Duration::from_millis(100));
    source.retry.max_attempts = Some(2);
    let error = Bitrix24Puller::new(source, secrets)
        .unwrap()
        .pull()
        .await
        .unwrap_err();
    let PullError::Exhausted { attempts, last, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(*attempts, 2);
    assert!(
        matches!(
            **last,
            PullError::Transport {
                retryable: true,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        !error.to_string().contains(&portal.config().webhook_code),
        "{error}"
    );
    assert_eq!(portal.calls("batch"), 2);
}

/// The portal's leaky bucket enforced 20× faster than real time, and the client's default limit
/// (2/s with a burst of 45) scaled the same way: 35 pulls of two requests each (70 requests, well
/// past the bucket's 50) without a single refusal or retry.
#[tokio::test]
async fn default_client_limits_keep_within_the_portal_bucket() {
    const SPEEDUP: u32 = 20;
    let portal = bitrix24::start(
        generated(120, 3),
        Bitrix24Config {
            rate_limit_speedup: f64::from(SPEEDUP),
            ..Bitrix24Config::default()
        },
    )
    .await
    .unwrap();
    let (mut source, secrets) = bitrix24_source(&portal, false);
    assert_eq!(source.rate_limits.len(), 1, "one shared default limit");
    let default = source.rate_limits[0];
    assert_eq!(
        (
            default.requests,
            default.per.0,
            default.burst,
            default.scope
        ),
        (2, Duration::from_secs(1), 45, LimitScope::Shared)
    );
    source.rate_limits = vec![RateLimit {
        requests: default.requests * SPEEDUP,
        ..default
    }];
    let puller = Bitrix24Puller::new(source, secrets).unwrap();
    for _ in 0..35 {
        let pulled = puller.pull().await.unwrap();
        assert_eq!(pulled.stats.retries, 0);
        assert_eq!(pulled.directory.users.len(), 120);
    }
    assert_eq!(portal.calls("batch"), 70);
    assert_eq!(portal.rate_limit_rejections(), 0);
}

/// The control for the test above: the same bucket refuses a client that does not pace itself.
/// Slowed 100× (draining 0.02/s) so the count does not depend on how fast the machine is: of 60
/// requests back to back, the 51st to the 60th are refused.
#[tokio::test]
async fn the_portal_bucket_refuses_requests_above_fifty() {
    let portal = bitrix24::start(
        small_org(),
        Bitrix24Config {
            rate_limit_speedup: 0.01,
            ..Bitrix24Config::default()
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let mut refused = Vec::new();
    for i in 1..=60 {
        let response = http
            .post(format!("{}department.get", portal.base_url()))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"], "QUERY_LIMIT_EXCEEDED");
            refused.push(i);
        }
    }
    assert_eq!(refused, (51..=60).collect::<Vec<_>>());
    assert_eq!(portal.rate_limit_rejections(), 10);
}

#[test]
fn the_example_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bitrix24-scim.toml");
    let config = orgsync::config::Config::load(&path).unwrap();
    assert_eq!(config.connectors.len(), 2, "webhook and OAuth examples");
}

/// The target as externalId → (active, manager's externalId).
fn target(scim: &emulators::scim::ScimHandle) -> BTreeMap<String, (bool, Option<String>)> {
    let users = scim.users();
    let external: BTreeMap<&str, &str> = users
        .iter()
        .filter_map(|u| Some((u.id.as_str(), u.external_id.as_deref()?)))
        .collect();
    users
        .iter()
        .map(|u| {
            let manager = u.manager_id.as_deref().map(|m| external[m].to_owned());
            (u.external_id.clone().unwrap(), (u.active, manager))
        })
        .collect()
}

/// Bitrix24 → engine → SCIM emulator: the first run creates everyone with the derived managers,
/// a second run plans zero steps and writes nothing; a new department head moves the links.
async fn sync_and_resync(oauth: bool) {
    let portal = portal(small_org()).await;
    let scim = emulators::scim::start(emulators::scim::ScimConfig::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = Connector {
        name: "bitrix24".into(),
        puller: AnyPuller::Bitrix24(bitrix24_puller(&portal, oauth)),
        pusher: AnyPusher::Scim(scim_pusher(scim.base_url(), scim.bearer_token())),
        policy: Policy::default(),
        concurrency: 4,
    };
    let applied = |report: &Report| {
        assert_eq!(
            report.outcome,
            RunOutcome::Applied,
            "{}",
            orgsync::report::render_text(report)
        );
    };
    applied(&engine.run(&connector, RunMode::Apply).await.unwrap());
    let zoe = portal.user_id("zoe").unwrap();
    let active = |manager: Option<&str>| (true, manager.map(str::to_owned));
    let mut expected: BTreeMap<String, (bool, Option<String>)> = BTreeMap::from([
        ("3".to_owned(), active(None)),
        ("12".to_owned(), active(Some("3"))),
        ("17".to_owned(), active(Some("12"))),
        ("20".to_owned(), active(Some("12"))),
        ("21".to_owned(), active(Some("17"))),
        ("22".to_owned(), active(Some("17"))),
        // Nina is invited and has not accepted: created inactive. Her derived manager (32) is
        // dismissed: the planner syncs her without one.
        ("33".to_owned(), (false, None)),
        (zoe.clone(), active(Some("12"))),
    ]);
    // 31 and 32 were dismissed before the first sync, so they are never created.
    assert_eq!(target(&scim), expected);
    assert!(scim.dangling_managers().is_empty());

    scim.reset_counters();
    let again = engine.run(&connector, RunMode::Apply).await.unwrap();
    applied(&again);
    assert!(
        again.steps.is_empty(),
        "{}",
        orgsync::report::render_text(&again)
    );
    let counters = scim.counters();
    assert_eq!(
        (
            counters.posts,
            counters.puts,
            counters.patches,
            counters.deletes
        ),
        (0, 0, 0, 0)
    );

    // Pat becomes Platform's head: Pat now climbs to Engineering, Platform reports to Pat.
    portal.update_org(|org| {
        let platform = org.departments.iter_mut().find(|d| d.id == 9).unwrap();
        platform.leaders = vec!["21".into()];
    });
    applied(&engine.run(&connector, RunMode::Apply).await.unwrap());
    for (id, manager) in [("17", "21"), ("21", "12"), ("22", "21")] {
        expected.insert(id.to_owned(), active(Some(manager)));
    }
    assert_eq!(target(&scim), expected);
    let settled = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(
        settled.steps.is_empty(),
        "{}",
        orgsync::report::render_text(&settled)
    );
}

#[tokio::test]
async fn end_to_end_with_a_webhook_then_nothing_to_do() {
    sync_and_resync(false).await;
}

#[tokio::test]
async fn end_to_end_with_oauth_then_nothing_to_do() {
    sync_and_resync(true).await;
}

/// The fixture's profile and custom fields come out of a pull in `User.profile`: the standard
/// fields normalised, `UF_*` fields by name; the portal's own custom fields (`UF_USR_*`) only
/// with the `user.userfield` scope.
#[tokio::test]
async fn profile_and_custom_fields_arrive_in_the_profile() {
    let mut org = small_org();
    let anna = org.users.iter_mut().find(|u| u.id == "17").unwrap();
    anna.profile = emulators::fixture::Profile {
        english_name: Some("Anna".into()),
        enterprise_email: Some("anna@corp.example".into()),
        telephone: Some("+49 30 1234".into()),
        employee_type: Some("regular".into()),
        gender: Some("female".into()),
        work_place: Some("Berlin".into()),
        hire_date: Some("2023-01-09".into()),
        avatar: Some("/upload/main/80c/anna.jpg".into()),
    };
    anna.custom = [
        ("UF_USR_COST_CENTER", "CC-01"),
        ("UF_SKYPE_LINK", "skype:anna"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let portal = portal(org.clone()).await;
    let pulled = bitrix24_puller(&portal, false).pull().await.unwrap();
    assert!(
        !pulled
            .directory
            .problems
            .iter()
            .any(|p| matches!(p, Problem::UnreadableField { .. })),
        "{:?}",
        pulled.directory.problems
    );
    let profile = &pulled.directory.users[&key("17")].profile;
    use orgsync::model::ProfileField::*;
    let photo = format!("{}/upload/main/80c/anna.jpg", portal.portal_url());
    for (field, value) in [
        (Telephone, Some("+49 30 1234")),
        (Gender, Some("female")),
        (WorkPlace, Some("Berlin")),
        (HireDate, Some("2023-01-09")),
        (Avatar, Some(photo.as_str())),
        (EnglishName, None),
        (EnterpriseEmail, None),
        (EmployeeType, None),
    ] {
        assert_eq!(profile.get(field), value, "{field}");
    }
    assert_eq!(profile.custom("UF_USR_COST_CENTER"), Some("CC-01"));
    assert_eq!(profile.custom("UF_SKYPE_LINK"), Some("skype:anna"));
    assert!(
        pulled.directory.users[&key("3")].profile.is_empty(),
        "nothing set, nothing read"
    );

    // A webhook without `user.userfield`: the portal's own fields are not in the rows.
    let narrow = bitrix24::start(
        org,
        Bitrix24Config {
            scopes: vec!["user".into(), "department".into()],
            ..Bitrix24Config::default()
        },
    )
    .await
    .unwrap();
    let pulled = bitrix24_puller(&narrow, true).pull().await.unwrap();
    let profile = &pulled.directory.users[&key("17")].profile;
    assert_eq!(profile.custom("UF_USR_COST_CENTER"), None);
    assert_eq!(profile.custom("UF_SKYPE_LINK"), Some("skype:anna"));
    let photo = format!("{}/upload/main/80c/anna.jpg", narrow.portal_url());
    assert_eq!(
        profile.get(Avatar),
        Some(photo.as_str()),
        "through OAuth too"
    );
}
