//! The Feishu puller against the Feishu emulator: what it reads, what it costs, how it survives
//! faults and rate limits, and an end-to-end sync into the SCIM emulator.

mod common;

use common::{department, feishu_puller, person, scim_pusher, small_org};
use emulators::faults::Faults;
use emulators::feishu::{FeishuConfig, PagingDefect};
use emulators::fixture::{Org, Scope, Status as FixtureStatus};
use orgsync::config::HumanDuration;
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::model::{DepartmentId, Directory, Status, UserKey};
use orgsync::plan::{LinkSource, Policy, Step};
use orgsync::pullers::feishu::{DepartmentIdType, UserIdType, default_rate_limits};
use orgsync::pullers::{AnyPuller, PullError, Pulled, Puller};
use orgsync::pushers::AnyPusher;
use orgsync::report::RunOutcome;
use orgsync::state::StateDb;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "/open-apis/auth/v3/tenant_access_token/internal";
const SCOPES: &str = "/open-apis/contact/v3/scopes";
const CHILDREN: &str = "/open-apis/contact/v3/departments/:department_id/children";
const DEPARTMENT: &str = "/open-apis/contact/v3/departments/:department_id";
const FIND_BY_DEPARTMENT: &str = "/open-apis/contact/v3/users/find_by_department";
const USER: &str = "/open-apis/contact/v3/users/:user_id";
const USERS_BATCH: &str = "/open-apis/contact/v3/users/batch";

/// Refusals come only from the injected faults unless a test turns enforcement on.
fn unlimited() -> FeishuConfig {
    FeishuConfig {
        enforce_rate_limits: false,
        ..FeishuConfig::default()
    }
}

/// A whole-tenant company with people right under the root, a nested department, someone in two
/// departments, and every status.
fn tenant() -> Org {
    let mut org = Org {
        departments: vec![
            department(1, None, "飞书示例公司", &["ceo"]),
            department(2, Some(1), "研发部", &["cto"]),
            department(3, Some(2), "平台组", &["lead"]),
            department(4, Some(1), "销售部", &["sales_head"]),
        ],
        users: vec![
            person("ceo", "陈总", &[1], None),
            person("assistant", "助理小王", &[1], Some("ceo")),
            person("cto", "Zoë Müller", &[2], Some("ceo")),
            person("lead", "林晓", &[2, 3], Some("cto")),
            person("dev1", "周明", &[3], Some("lead")),
            person("dev2", "김민준", &[3], Some("lead")),
            person("sales_head", "王芳", &[4], Some("ceo")),
            person("leaver", "李离", &[4], Some("sales_head")),
        ],
        scope: Scope::default(),
        sensitive_fields: true,
    };
    let set = |org: &mut Org, id: &str, status| {
        org.users.iter_mut().find(|u| u.id == id).unwrap().status = status;
    };
    set(&mut org, "dev1", FixtureStatus::Disabled);
    set(&mut org, "dev2", FixtureStatus::NotActivated);
    set(&mut org, "leaver", FixtureStatus::Resigned);
    org.users
        .iter_mut()
        .find(|u| u.id == "lead")
        .unwrap()
        .main_department = Some(3);
    org
}

/// The notes' minimum for a whole-tenant pull:
/// `1 token + max(1, ⌈D/50⌉) children + Σ_{d ∈ D ∪ {root}} max(1, ⌈m_d/50⌉) find_by_department`,
/// D the departments below the root, m_d the direct members of d (an empty one still costs a call).
fn whole_tenant_minimum(org: &Org) -> u64 {
    let pages = |n: usize| n.div_ceil(50).max(1) as u64;
    let below_root = org
        .departments
        .iter()
        .filter(|d| d.parent.is_some())
        .count();
    let members: u64 = org
        .departments
        .iter()
        .map(|d| {
            pages(
                org.users
                    .iter()
                    .filter(|u| u.departments.contains(&d.id))
                    .count(),
            )
        })
        .sum();
    1 + pages(below_root) + members
}

/// Department ids by name, whichever id scheme the pull used.
fn department_named(directory: &Directory, name: &str) -> DepartmentId {
    directory
        .departments
        .values()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no department named {name}"))
        .id
        .clone()
}

fn key(id: &str) -> UserKey {
    UserKey::new(id)
}

async fn pull(puller: &impl Puller) -> Pulled {
    tokio::time::timeout(Duration::from_secs(60), puller.pull())
        .await
        .expect("a pull never hangs")
        .unwrap_or_else(|e| panic!("pull failed: {e}"))
}

async fn pull_error(puller: &impl Puller) -> PullError {
    match tokio::time::timeout(Duration::from_secs(60), puller.pull())
        .await
        .expect("a failing pull ends, never loops")
    {
        Ok(pulled) => panic!(
            "the pull should have failed, got {} people",
            pulled.directory.users.len()
        ),
        Err(e) => e,
    }
}

#[tokio::test]
async fn full_pull_of_a_whole_tenant() {
    let org = tenant();
    let feishu = emulators::feishu::start(org.clone(), unlimited())
        .await
        .unwrap();
    let puller = feishu_puller(&feishu, |_| {});
    let pulled = pull(&puller).await;
    let d = &pulled.directory;

    let keys: Vec<&str> = d.users.keys().map(UserKey::as_str).collect();
    assert_eq!(
        keys,
        [
            "assistant",
            "ceo",
            "cto",
            "dev1",
            "dev2",
            "lead",
            "leaver",
            "sales_head"
        ],
        "people right under the root are pulled too"
    );
    let expect = [
        ("ceo", "陈总", Status::Active, None),
        ("assistant", "助理小王", Status::Active, Some("ceo")),
        ("cto", "Zoë Müller", Status::Active, Some("ceo")),
        ("lead", "林晓", Status::Active, Some("cto")),
        ("dev1", "周明", Status::Disabled, Some("lead")),
        ("dev2", "김민준", Status::NotActivated, Some("lead")),
        ("sales_head", "王芳", Status::Active, Some("ceo")),
        ("leaver", "李离", Status::Resigned, Some("sales_head")),
    ];
    for (id, name, status, manager) in expect {
        let user = &d.users[&key(id)];
        assert_eq!(user.display_name, name, "{id}");
        assert_eq!(user.status, status, "{id}");
        assert_eq!(user.manager, manager.map(key), "{id}");
        assert_eq!(
            user.email.as_deref(),
            Some(format!("{id}@example.cn").as_str())
        );
        assert_eq!(user.title.as_deref(), Some("工程师"));
    }

    // Departments in the default open_department_id scheme; the root is "0" and not listed.
    let names: BTreeSet<&str> = d.departments.values().map(|d| d.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["平台组", "研发部", "销售部"]));
    let rd = department_named(d, "研发部");
    let platform = department_named(d, "平台组");
    assert!(rd.as_str().starts_with("od-"), "{rd}");
    assert_eq!(
        d.departments[&rd].parent, None,
        "first level: parent is the root"
    );
    assert_eq!(d.departments[&platform].parent, Some(rd.clone()));
    assert_eq!(
        d.users[&key("lead")].departments,
        [platform, rd],
        "the primary department comes first"
    );
    assert_eq!(d.users[&key("ceo")].departments, [DepartmentId::new("0")]);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    assert!(d.held.is_empty());

    // Exactly the notes' minimum: 1 + 1 + (root, 研发部, 平台组, 销售部) = 6.
    let minimum = whole_tenant_minimum(&org);
    assert_eq!(minimum, 6);
    assert_eq!(feishu.total_calls(), minimum, "{:?}", feishu.call_counts());
    assert_eq!(pulled.stats.total_calls(), minimum);
    assert_eq!(pulled.stats.calls[CHILDREN], 1);
    assert_eq!(pulled.stats.calls[FIND_BY_DEPARTMENT], 4);
    assert_eq!(pulled.stats.retries, 0);
    assert_eq!(
        feishu.calls(SCOPES),
        0,
        "a readable root proves a whole-tenant scope"
    );
}

#[tokio::test]
async fn paging_costs_exactly_the_notes_minimum() {
    let mut org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 400,
        departments: 120,
        out_of_scope_share: 0.0,
        seed: 4,
        ..Default::default()
    });
    // One department with two pages of members, and a root with a few direct members.
    for n in 0..57 {
        let mut extra = person(&format!("x{n:03}"), &format!("员工{n}"), &[2], None);
        extra.manager = Some("u00002".into());
        org.users.push(extra);
    }
    org.users
        .push(person("root_direct", "总助", &[1], Some("u00001")));
    org.validate().unwrap();
    let feishu = emulators::feishu::start(org.clone(), unlimited())
        .await
        .unwrap();
    let pulled = pull(&feishu_puller(&feishu, |_| {})).await;

    assert_eq!(pulled.directory.users.len(), org.users.len());
    assert_eq!(
        pulled.directory.departments.len(),
        org.departments.len() - 1
    );
    let minimum = whole_tenant_minimum(&org);
    // 119 departments below the root → 3 children pages; department 2 → 2 member pages.
    assert_eq!(feishu.calls(CHILDREN), 3);
    assert_eq!(feishu.total_calls(), minimum, "{:?}", feishu.call_counts());
    assert_eq!(pulled.stats.calls, feishu.call_counts());
}

#[tokio::test]
async fn partial_scope_reads_granted_departments_and_people() {
    // Departments 2 and 3 are granted, the CEO individually; department 4 is not, and its head
    // manages sales1, who is inside.
    let org = small_org();
    let feishu = emulators::feishu::start(org, unlimited()).await.unwrap();
    let pulled = pull(&feishu_puller(&feishu, |c| {
        c.department_id_type = DepartmentIdType::DepartmentId;
    }))
    .await;
    let d = &pulled.directory;
    let keys: Vec<&str> = d.users.keys().map(UserKey::as_str).collect();
    assert_eq!(
        keys,
        ["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"]
    );
    let manager = |id: &str| d.users[&key(id)].manager.clone();
    assert_eq!(manager("boss2"), Some(key("ceo")));
    assert_eq!(manager("lin"), Some(key("boss2")));
    assert_eq!(manager("leaver"), Some(key("wang")));
    assert_eq!(manager("ceo"), None);
    assert_eq!(
        manager("sales1"),
        Some(key("outsider")),
        "the manager outside the scope is reported as Feishu gives it; the planner decides"
    );
    assert!(!d.users.contains_key(&key("outsider")));
    assert_eq!(
        d.scope.departments,
        [DepartmentId::new("2"), DepartmentId::new("3")]
    );
    assert_eq!(d.scope.users, [key("ceo")]);
    assert_eq!(
        d.users[&key("ceo")].departments,
        [DepartmentId::new("0")],
        "Feishu lists all of a person's departments, readable or not"
    );
    assert!(d.problems.is_empty(), "{:?}", d.problems);

    // 1 token + 1 refused root + 1 scopes page
    //   + per granted department (1 departments/:id + 1 children page) × 2
    //   + 1 find_by_department page per crawled department × 2 + 1 users/batch for the CEO = 10.
    let counts = feishu.call_counts();
    assert_eq!(counts[TOKEN], 1);
    assert_eq!(counts[CHILDREN], 3);
    assert_eq!(counts[SCOPES], 1);
    assert_eq!(counts[DEPARTMENT], 2);
    assert_eq!(counts[FIND_BY_DEPARTMENT], 2);
    assert_eq!(counts[USERS_BATCH], 1);
    assert_eq!(feishu.total_calls(), 10);
    assert_eq!(pulled.stats.total_calls(), 10);
}

#[tokio::test]
async fn redacted_leaders_arrive_as_no_manager() {
    let feishu = emulators::feishu::start(
        small_org(),
        FeishuConfig {
            redact_out_of_scope_leader: true,
            ..unlimited()
        },
    )
    .await
    .unwrap();
    let pulled = pull(&feishu_puller(&feishu, |_| {})).await;
    assert_eq!(pulled.directory.users[&key("sales1")].manager, None);
    assert_eq!(
        pulled.directory.users[&key("lin")].manager,
        Some(key("boss2"))
    );
}

/// Heads: the department's `leader_user_id` (the main leader) first, then its other `leaders`,
/// in the requested user id type, like managers.
#[tokio::test]
async fn department_heads_are_the_main_leader_then_the_others() {
    let mut org = tenant();
    org.departments[2].leaders = vec!["lead".into(), "dev2".into()];
    let feishu = emulators::feishu::start(org, unlimited()).await.unwrap();
    let pulled = pull(&feishu_puller(&feishu, |_| {})).await;
    let d = &pulled.directory;
    let heads = |name: &str| -> Vec<String> {
        d.departments[&department_named(d, name)]
            .heads
            .iter()
            .map(|k| k.to_string())
            .collect()
    };
    assert_eq!(heads("研发部"), ["cto"]);
    assert_eq!(heads("平台组"), ["lead", "dev2"], "the main leader first");
    assert_eq!(heads("销售部"), ["sales_head"]);

    let pulled = pull(&feishu_puller(&feishu, |c| {
        c.user_id_type = UserIdType::OpenId;
    }))
    .await;
    let d = &pulled.directory;
    let by_name = |name: &str| d.users.values().find(|u| u.display_name == name).unwrap();
    assert_eq!(
        d.departments[&department_named(d, "研发部")].heads,
        [by_name("Zoë Müller").key.clone()],
        "open ids for heads too"
    );
}

#[tokio::test]
async fn a_refused_batch_falls_back_to_one_by_one() {
    let mut org = small_org();
    // A grant that outlived its person: the scope still lists them.
    org.scope.users.push("ghost".into());
    let feishu = emulators::feishu::start(
        org,
        FeishuConfig {
            batch_all_or_nothing: true,
            ..unlimited()
        },
    )
    .await
    .unwrap();
    let pulled = pull(&feishu_puller(&feishu, |_| {})).await;
    assert!(pulled.directory.users.contains_key(&key("ceo")));
    assert!(!pulled.directory.users.contains_key(&key("ghost")));
    assert_eq!(feishu.calls(USERS_BATCH), 1);
    assert_eq!(feishu.calls(USER), 2, "ceo read, ghost answered 41012");
}

#[tokio::test]
async fn open_ids_key_people_and_managers_alike() {
    let feishu = emulators::feishu::start(tenant(), unlimited())
        .await
        .unwrap();
    let pulled = pull(&feishu_puller(&feishu, |c| {
        c.user_id_type = UserIdType::OpenId;
    }))
    .await;
    let d = &pulled.directory;
    assert_eq!(d.users.len(), 8);
    assert!(d.users.keys().all(|k| k.as_str().starts_with("ou_")));
    let by_name = |name: &str| d.users.values().find(|u| u.display_name == name).unwrap();
    assert_eq!(
        by_name("林晓").manager,
        Some(by_name("Zoë Müller").key.clone())
    );
    assert_eq!(by_name("陈总").manager, None);
}

#[tokio::test]
async fn a_too_large_tree_is_walked_level_by_level() {
    let org = tenant();
    let feishu = emulators::feishu::start(
        org.clone(),
        FeishuConfig {
            recursive_fetch_limit: Some(1),
            ..unlimited()
        },
    )
    .await
    .unwrap();
    let reference = {
        let plain = emulators::feishu::start(org, unlimited()).await.unwrap();
        pull(&feishu_puller(&plain, |_| {})).await.directory
    };
    let pulled = pull(&feishu_puller(&feishu, |_| {})).await;
    assert_eq!(pulled.directory, reference);
    // 1 refused fetch_child + one level each for the root, 研发部, 平台组, 销售部.
    assert_eq!(feishu.calls(CHILDREN), 5);
}

#[tokio::test]
async fn missing_user_id_permission_is_an_error_not_an_empty_directory() {
    // Without contact:user.employee_id:readonly Feishu leaves `user_id` out, silently.
    let feishu = emulators::feishu::start(
        tenant(),
        FeishuConfig {
            user_id_permission: false,
            ..unlimited()
        },
    )
    .await
    .unwrap();
    let error = pull_error(&feishu_puller(&feishu, |_| {})).await;
    let text = error.to_string();
    assert!(text.contains("contact:user.employee_id:readonly"), "{text}");
    // Open ids need no such permission.
    let pulled = pull(&feishu_puller(&feishu, |c| {
        c.user_id_type = UserIdType::OpenId
    }))
    .await;
    assert_eq!(pulled.directory.users.len(), 8);
}

#[test]
fn the_example_config_is_valid() {
    let path = std::path::Path::new("config/feishu-scim.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = orgsync::config::Config::from_toml(&text, path).unwrap();
    let orgsync::config::SourceConfig::Feishu(source) = &config.connectors["hq"].source else {
        panic!("the example's source is not Feishu");
    };
    assert_eq!(source.app_id, "cli_a1b2c3d4e5f6a7b8");
    assert_eq!(source.api_base.as_str(), "https://open.feishu.cn/");
    assert_eq!(source.rate_limits, default_rate_limits());
}

// ---- faults ----

#[tokio::test]
async fn an_expired_token_is_replaced_and_the_call_sent_once_more() {
    let feishu = emulators::feishu::start(tenant(), unlimited())
        .await
        .unwrap();
    // Each token serves 3 data calls; the pull needs 5, sent one at a time.
    feishu.set_faults(Faults {
        token_expires_after_calls: Some(3),
        ..Faults::default()
    });
    let puller = feishu_puller(&feishu, |c| c.concurrency = 1);
    let pulled = pull(&puller).await;
    assert_eq!(pulled.directory.users.len(), 8);
    assert_eq!(feishu.calls(TOKEN), 2);
    // 5 data calls + the one refused with 99991663.
    assert_eq!(feishu.total_calls(), 2 + 6);
    assert_eq!(pulled.stats.retries, 0, "a token refresh is not a retry");

    // A token revoked between pulls: the next pull refreshes it on the first refusal.
    feishu.set_faults(Faults::default());
    feishu.expire_tokens();
    feishu.reset_calls();
    pull(&puller).await;
    assert_eq!(feishu.calls(TOKEN), 1);
    assert_eq!(feishu.total_calls(), 1 + 6);
}

#[tokio::test]
async fn token_expiry_with_concurrent_requests_still_pulls_everything() {
    let reference = {
        let plain = emulators::feishu::start(tenant(), unlimited())
            .await
            .unwrap();
        pull(&feishu_puller(&plain, |_| {})).await.directory
    };
    let feishu = emulators::feishu::start(tenant(), unlimited())
        .await
        .unwrap();
    // A budget of at least the concurrency: the requests in flight when a token dies all fit in
    // the next token's budget, so each is sent again once and succeeds.
    feishu.set_faults(Faults {
        token_expires_after_calls: Some(4),
        ..Faults::default()
    });
    let pulled = pull(&feishu_puller(&feishu, |c| c.concurrency = 4)).await;
    assert_eq!(pulled.directory, reference);
    assert!(pulled.stats.calls[TOKEN] >= 2, "{:?}", pulled.stats.calls);
    assert_eq!(pulled.stats.calls, feishu.call_counts());
}

#[tokio::test]
async fn a_second_pull_reuses_the_token() {
    let feishu = emulators::feishu::start(tenant(), unlimited())
        .await
        .unwrap();
    let puller = feishu_puller(&feishu, |_| {});
    let first = pull(&puller).await;
    let second = pull(&puller).await;
    assert_eq!(second.directory, first.directory);
    assert_eq!(first.stats.calls[TOKEN], 1);
    assert!(
        !second.stats.calls.contains_key(TOKEN),
        "{:?}",
        second.stats.calls
    );
    assert_eq!(feishu.calls(TOKEN), 1);
}

const SECRET: &str = "s3cret-Fs42-do-not-print";

async fn start_with_secret() -> emulators::feishu::FeishuHandle {
    emulators::feishu::start(
        tenant(),
        FeishuConfig {
            app_secret: SECRET.to_owned(),
            ..unlimited()
        },
    )
    .await
    .unwrap()
}

fn assert_no_leak(error: &PullError, leaks: &[&str]) {
    let text = error.to_string();
    let debug = format!("{error:?}");
    for leak in leaks {
        assert!(!text.contains(leak), "{leak:?} in {text}");
        assert!(!debug.contains(leak), "{leak:?} in {debug}");
    }
}

fn assert_timed_out(error: &PullError, endpoint: &str) {
    match error {
        PullError::Exhausted {
            endpoint: at, last, ..
        } => {
            assert_eq!(at, endpoint);
            assert!(matches!(**last, PullError::Transport { .. }), "{last:?}");
        }
        other => panic!("expected a transport failure at {endpoint}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_token_request_fails_without_leaking_the_secret() {
    let feishu = start_with_secret().await;
    feishu.set_faults(Faults {
        delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let error = pull_error(&feishu_puller(&feishu, |c| {
        c.timeout = HumanDuration(Duration::from_millis(100));
        c.retry.max_attempts = Some(2);
    }))
    .await;
    assert_timed_out(&error, TOKEN);
    assert_no_leak(&error, &[SECRET, "app_secret", "127.0.0.1"]);
    assert_eq!(feishu.calls(TOKEN), 2);
}

#[tokio::test]
async fn a_slow_data_call_fails_without_leaking_the_token() {
    let feishu = start_with_secret().await;
    let puller = feishu_puller(&feishu, |c| {
        c.timeout = HumanDuration(Duration::from_millis(200));
        c.retry.max_attempts = Some(2);
    });
    pull(&puller).await;
    // Feishu hands the same token to anyone asking while it has over 30 minutes left, so the
    // test can learn the value the puller holds.
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}{TOKEN}", feishu.base_url()))
        .json(&serde_json::json!({"app_id": feishu.config().app_id, "app_secret": SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["tenant_access_token"].as_str().unwrap().to_owned();
    assert!(token.len() > 8);

    feishu.set_faults(Faults {
        delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let error = pull_error(&puller).await;
    assert_timed_out(&error, CHILDREN);
    assert_no_leak(&error, &[&token, SECRET, "Bearer"]);
}

#[tokio::test]
async fn rate_limit_answers_wait_for_the_reset_header() {
    // Speed-up 4: the injected answer asks for 0.25 s instead of 1 s.
    let feishu = emulators::feishu::start(
        tenant(),
        FeishuConfig {
            rate_limit_speedup: 4.0,
            ..unlimited()
        },
    )
    .await
    .unwrap();
    feishu.set_faults(Faults {
        rate_limit_every: Some(2),
        ..Faults::default()
    });
    let started = Instant::now();
    let pulled = pull(&feishu_puller(&feishu, |c| c.concurrency = 1)).await;
    let elapsed = started.elapsed();
    // 5 data calls succeed; every second data call is refused: 4 refusals, 4 retries.
    assert_eq!(pulled.stats.retries, 4);
    assert_eq!(feishu.total_calls(), 1 + 9);
    assert!(
        elapsed >= Duration::from_millis(1000),
        "the client retried after {elapsed:?}; the reset header asked for 4 × 250 ms \
         (the test backoff alone is a few ms)"
    );
    assert_eq!(pulled.directory.users.len(), 8);
}

#[tokio::test]
async fn gateway_errors_and_truncated_json_are_retried() {
    let reference = {
        let plain = emulators::feishu::start(tenant(), unlimited())
            .await
            .unwrap();
        pull(&feishu_puller(&plain, |_| {})).await.directory
    };
    for (faults, label) in [
        (
            Faults {
                http_5xx_every: Some(2),
                ..Faults::default()
            },
            "5xx",
        ),
        (
            Faults {
                malformed_json_every: Some(2),
                ..Faults::default()
            },
            "malformed JSON",
        ),
        (
            Faults {
                concurrency_limit_every: Some(3),
                delay: Duration::from_millis(5),
                ..Faults::default()
            },
            "concurrency limit with delay",
        ),
    ] {
        // Speed-up 10 shortens the reset a refused call waits for to 0.1 s.
        let feishu = emulators::feishu::start(
            tenant(),
            FeishuConfig {
                rate_limit_speedup: 10.0,
                ..unlimited()
            },
        )
        .await
        .unwrap();
        feishu.set_faults(faults);
        let pulled = pull(&feishu_puller(&feishu, |_| {})).await;
        assert_eq!(pulled.directory, reference, "{label}");
        assert!(pulled.stats.retries > 0, "{label}: nothing was retried");
        assert_eq!(
            feishu.total_calls(),
            6 + pulled.stats.retries,
            "{label}: one extra call per retry"
        );
    }
}

#[tokio::test]
async fn persistent_failures_end_in_a_clear_error() {
    let feishu = emulators::feishu::start(tenant(), unlimited())
        .await
        .unwrap();
    feishu.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let error = pull_error(&feishu_puller(&feishu, |_| {})).await;
    assert!(
        matches!(error, PullError::Exhausted { attempts: 6, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with("feishu /open-apis/contact/v3/departments/:department_id/children"),
        "{text}"
    );
    assert!(text.contains("HTTP status 502"), "{text}");
    assert_eq!(feishu.calls(CHILDREN), 6, "max_attempts, no more");

    feishu.set_faults(Faults {
        malformed_json_every: Some(1),
        ..Faults::default()
    });
    let text = pull_error(&feishu_puller(&feishu, |_| {}))
        .await
        .to_string();
    assert!(text.contains("malformed response"), "{text}");
}

#[tokio::test]
async fn wrong_credentials_are_named_without_the_secret() {
    let feishu = emulators::feishu::start(tenant(), unlimited())
        .await
        .unwrap();
    let mut source = orgsync::pullers::feishu::FeishuSourceConfig::new(
        feishu.config().app_id.clone(),
        orgsync::config::SecretRef::Env("UNUSED".into()),
        feishu.base_url().parse().unwrap(),
    );
    source.retry = common::quick_retries();
    let puller = orgsync::pullers::feishu::FeishuPuller::new(
        source,
        orgsync::config::Secret::new("wrong-secret-value"),
    )
    .unwrap();
    let error = pull_error(&puller).await;
    assert!(
        matches!(error, PullError::Credentials { code: 10014, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("wrong-secret-value"));
    assert_eq!(
        feishu.calls(TOKEN),
        1,
        "refused credentials are not retried"
    );
}

#[tokio::test]
async fn paging_defects_are_errors_not_loops() {
    for defect in [PagingDefect::MissingToken, PagingDefect::RepeatedToken] {
        let feishu = emulators::feishu::start(tenant(), unlimited())
            .await
            .unwrap();
        feishu.set_paging_defect(Some(defect));
        let error = pull_error(&feishu_puller(&feishu, |_| {})).await;
        assert!(
            matches!(&error, PullError::Paging { endpoint, .. } if endpoint == CHILDREN),
            "{defect:?}: {error:?}"
        );
        assert!(
            feishu.total_calls() <= 3,
            "{defect:?}: {:?}",
            feishu.call_counts()
        );
    }
}

// ---- rate limits ----

#[tokio::test]
async fn default_client_limits_stay_under_the_documented_rate() {
    const SPEEDUP: u32 = 20;
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 1500,
        departments: 150,
        out_of_scope_share: 0.0,
        seed: 5,
        ..Default::default()
    });

    // Control: without client-side limits the emulator refuses (so the assertion below can fail).
    let minimum = whole_tenant_minimum(&org);
    let control = emulators::feishu::start(org.clone(), FeishuConfig::default())
        .await
        .unwrap();
    let error = pull_error(&feishu_puller(&control, |c| c.retry.max_attempts = Some(1))).await;
    assert!(error.to_string().contains("99991400"), "{error}");
    assert!(control.rate_limit_rejections() > 0);

    let feishu = emulators::feishu::start(
        org,
        FeishuConfig {
            rate_limit_speedup: f64::from(SPEEDUP),
            ..FeishuConfig::default()
        },
    )
    .await
    .unwrap();
    let pulled = pull(&feishu_puller(&feishu, |c| {
        c.rate_limits = default_rate_limits()
            .into_iter()
            .map(|mut limit| {
                limit.per = HumanDuration(limit.per.0 / SPEEDUP);
                limit
            })
            .collect();
    }))
    .await;
    assert_eq!(
        feishu.total_calls(),
        minimum,
        "every call answered the first time"
    );
    assert_eq!(feishu.rate_limit_rejections(), 0);
    assert_eq!(pulled.stats.retries, 0);
}

// ---- end to end ----

#[tokio::test]
async fn sync_into_scim_then_resync_plans_nothing() {
    let feishu = emulators::feishu::start(small_org(), unlimited())
        .await
        .unwrap();
    let scim = emulators::scim::start(emulators::scim::ScimConfig::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = Connector {
        name: "feishu-test".into(),
        puller: AnyPuller::Feishu(feishu_puller(&feishu, |_| {})),
        pusher: AnyPusher::Scim(scim_pusher(scim.base_url(), scim.bearer_token())),
        policy: Policy::default(),
        concurrency: 4,
    };
    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(
        first.outcome,
        RunOutcome::Applied,
        "{}",
        orgsync::report::render_text(&first)
    );
    let users = scim.users();
    let external: BTreeSet<&str> = users
        .iter()
        .filter_map(|u| u.external_id.as_deref())
        .collect();
    assert_eq!(
        external,
        BTreeSet::from(["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"])
    );
    let by_external = |id: &str| {
        users
            .iter()
            .find(|u| u.external_id.as_deref() == Some(id))
            .unwrap()
    };
    let manager_of = |id: &str| {
        by_external(id).manager_id.as_deref().map(|m| {
            users
                .iter()
                .find(|u| u.id == m)
                .unwrap()
                .external_id
                .clone()
                .unwrap()
        })
    };
    assert_eq!(manager_of("lin").as_deref(), Some("boss2"));
    assert_eq!(manager_of("sales1"), None, "manager outside the scope");
    assert!(scim.dangling_managers().is_empty());

    let second = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(second.outcome, RunOutcome::Applied);
    assert!(
        second.steps.is_empty(),
        "a resync planned {} steps:\n{}",
        second.steps.len(),
        orgsync::report::render_text(&second)
    );
}

// ---------------------------------------------------------------------------------------------
// The Content-Type the docs require on every request, and progress during a pull
// ---------------------------------------------------------------------------------------------

/// A bare HTTP server that notes each request's line and Content-Type and answers every call
/// with an empty success (a token for the token call).
async fn noting_server() -> (String, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let noted = noted.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default()
                };
                let length: usize = header("content-length").parse().unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = socket.read_exact(&mut body).await;
                let line = head.lines().next().unwrap_or_default().to_owned();
                let answer = if line.contains("tenant_access_token") {
                    r#"{"code":0,"msg":"ok","tenant_access_token":"t-1","expire":7200}"#
                } else {
                    r#"{"code":0,"msg":"ok","data":{"has_more":false,"items":[]}}"#
                };
                noted.lock().unwrap().push((line, header("content-type")));
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

#[tokio::test]
async fn every_request_says_json_in_utf_8_gets_included() {
    let (base, seen) = noting_server().await;
    let mut source = orgsync::pullers::feishu::FeishuSourceConfig::new(
        "cli_test",
        orgsync::config::SecretRef::Env("UNUSED".into()),
        base.parse().unwrap(),
    );
    source.retry = common::quick_retries();
    source.rate_limits = Vec::new();
    let puller =
        orgsync::pullers::feishu::FeishuPuller::new(source, orgsync::config::Secret::new("s"))
            .unwrap();
    // Whether an empty tenant pulls is not the point: what was sent is.
    let _ = puller.pull().await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(line, _)| line.starts_with("GET ")),
        "{seen:?}"
    );
    for (line, content_type) in &seen {
        assert_eq!(content_type, "application/json; charset=utf-8", "{line}");
    }
}

#[tokio::test]
async fn a_pull_publishes_calls_and_people_before_it_ends() {
    let feishu = emulators::feishu::start(small_org(), unlimited())
        .await
        .unwrap();
    // Slow answers, so the pull is seen in the middle.
    feishu.set_faults(Faults {
        delay: Duration::from_millis(40),
        ..Faults::default()
    });
    let puller = Arc::new(feishu_puller(&feishu, |_| {}));
    let live = puller
        .progress()
        .expect("the Feishu puller reports progress");
    let pulling = tokio::spawn({
        let puller = puller.clone();
        async move { puller.pull().await }
    });
    let mut seen_mid_pull = None;
    while !pulling.is_finished() {
        let counts = live.snapshot();
        if counts.calls > 0 && counts.people > 0 {
            seen_mid_pull = Some(counts);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pulled = pulling.await.unwrap().unwrap();
    let counts = seen_mid_pull.expect("calls and people were published before the pull ended");
    assert!(counts.calls <= pulled.stats.total_calls(), "{counts:?}");
    assert!(counts.people as usize <= pulled.directory.users.len() * 2);
}

#[tokio::test]
async fn a_run_publishes_the_pull_in_its_progress() {
    let feishu = emulators::feishu::start(small_org(), unlimited())
        .await
        .unwrap();
    feishu.set_faults(Faults {
        delay: Duration::from_millis(60),
        ..Faults::default()
    });
    let scim = emulators::scim::start(emulators::scim::ScimConfig::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = Connector {
        name: "feishu-progress".into(),
        puller: AnyPuller::Feishu(feishu_puller(&feishu, |_| {})),
        pusher: AnyPusher::Scim(scim_pusher(scim.base_url(), scim.bearer_token())),
        policy: Policy::default(),
        concurrency: 4,
    };
    let (progress, mut watched) = tokio::sync::watch::channel(orgsync::engine::Progress::default());
    let context = orgsync::engine::RunContext {
        run_id: None,
        progress: Some(progress),
        mode: orgsync::config::ProcessMode::Service,
    };
    let seen = tokio::spawn(async move {
        let mut while_pulling = Vec::new();
        let mut last = orgsync::engine::Progress::default();
        while watched.changed().await.is_ok() {
            last = *watched.borrow_and_update();
            if last.stage == orgsync::engine::Stage::Pulling {
                while_pulling.push(last.pull);
            }
        }
        (while_pulling, last)
    });
    let report = engine
        .run_with(&connector, RunMode::DryRun.into(), &context)
        .await
        .unwrap();
    drop(context);
    let (while_pulling, last) = seen.await.unwrap();
    let pulled = report.pull.as_ref().unwrap();
    let calls: u64 = pulled.stats.calls.values().sum();
    // Calls show while the pull runs (people too, as member lists arrive: see
    // a_pull_publishes_calls_and_people_before_it_ends); the final counts stay after it.
    assert!(
        while_pulling.iter().any(|c| c.calls > 0 && c.calls < calls),
        "{while_pulling:?}"
    );
    assert_eq!(last.pull.calls, calls);
    assert_eq!(last.pull.people, pulled.users as u64);
}

#[tokio::test]
async fn a_throttle_shows_in_the_pull_progress_while_it_is_waited_out() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 1500,
        departments: 150,
        out_of_scope_share: 0.0,
        seed: 5,
        ..Default::default()
    });
    // No client-side limits: the emulator's 50/s refuses, with `x-ogw-ratelimit-reset`.
    let feishu = emulators::feishu::start(org, FeishuConfig::default())
        .await
        .unwrap();
    let puller = Arc::new(feishu_puller(&feishu, |c| c.retry.max_attempts = None));
    let live = puller.progress().unwrap();
    let pulling = tokio::spawn({
        let puller = puller.clone();
        async move { puller.pull().await }
    });
    let mut shown = None;
    while !pulling.is_finished() {
        if let Some(waiting) = live.snapshot().waiting {
            shown = Some(waiting);
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let pulled = pulling.await.unwrap().unwrap();
    assert!(feishu.rate_limit_rejections() > 0);
    assert!(pulled.stats.retries > 0);
    let waiting = shown.expect("the wait was shown while it lasted");
    assert_eq!(waiting.platform, orgsync::pullers::Platform::Feishu);
    assert_eq!(
        waiting.reason,
        orgsync::pullers::http::WaitReason::Throttled
    );
}

/// `manager_fallback = "department_head"` end to end: people Feishu gives no leader report to
/// their department's head (climbing past the departments they head), the links carry their
/// source, a resync plans nothing, and a direct manager set upstream later replaces the head.
/// Feishu never lists the root department (people under it are listed by id "0"), so its head
/// is unknown: heads of top departments and people right under the root get no fallback.
#[tokio::test]
async fn department_heads_become_managers_then_give_way_to_a_direct_one() {
    let mut org = tenant();
    for user in &mut org.users {
        user.manager = None;
    }
    org.users.push(person("dev3", "开发三", &[3], None));
    let feishu = emulators::feishu::start(org, unlimited()).await.unwrap();
    let scim = emulators::scim::start(emulators::scim::ScimConfig::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = Connector {
        name: "feishu-heads".into(),
        puller: AnyPuller::Feishu(feishu_puller(&feishu, |_| {})),
        pusher: AnyPusher::Scim(scim_pusher(scim.base_url(), scim.bearer_token())),
        policy: Policy {
            manager_fallback: orgsync::plan::ManagerFallback::DepartmentHead,
            ..Policy::default()
        },
        concurrency: 4,
    };
    let links = |report: &orgsync::report::Report| -> BTreeSet<(String, String, LinkSource)> {
        report
            .steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::SetManager {
                    user,
                    manager,
                    source,
                    ..
                } => Some((user.to_string(), manager.to_string(), *source)),
                _ => None,
            })
            .collect()
    };
    let head = |user: &str, manager: &str| {
        (
            user.to_owned(),
            manager.to_owned(),
            LinkSource::DepartmentHead,
        )
    };
    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(first.outcome, RunOutcome::Applied);
    // lead heads 平台组: climbs to 研发部's head. cto heads 研发部 and would climb to the root.
    assert_eq!(
        links(&first),
        BTreeSet::from([head("dev3", "lead"), head("lead", "cto")])
    );
    let json = orgsync::report::render_json(&first);
    assert!(json.contains(r#""source": "department_head""#), "{json}");
    assert!(scim.dangling_managers().is_empty());

    let second = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(
        second.steps.is_empty(),
        "{}",
        orgsync::report::render_text(&second)
    );

    feishu.update_org(|org| {
        org.users
            .iter_mut()
            .find(|u| u.id == "lead")
            .unwrap()
            .manager = Some("ceo".into());
    });
    let third = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(
        links(&third),
        BTreeSet::from([("lead".to_owned(), "ceo".to_owned(), LinkSource::Direct)])
    );
}

/// The fixture's profile and custom fields come out of a pull in `User.profile`: the standard
/// fields normalised, the custom ones by their `custom_attrs` id.
#[tokio::test]
async fn profile_and_custom_fields_arrive_in_the_profile() {
    let mut org = tenant();
    let lead = org.users.iter_mut().find(|u| u.id == "lead").unwrap();
    lead.profile = emulators::fixture::Profile {
        english_name: Some("Xiao Lin".into()),
        enterprise_email: Some("lin.xiao@corp.example.cn".into()),
        telephone: Some("+86 571 0000".into()),
        employee_type: Some("intern".into()),
        gender: Some("female".into()),
        work_place: Some("杭州".into()),
        hire_date: Some("2021-03-01".into()),
        avatar: Some("https://avatar.example/lin.png".into()),
    };
    lead.custom = [
        ("C-7031824249769689107", "CC-01"),
        ("C-7033715622710083604", "https://wiki.example/lin"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let feishu = emulators::feishu::start(org.clone(), unlimited())
        .await
        .unwrap();
    let pulled = pull(&feishu_puller(&feishu, |_| {})).await;
    assert!(
        pulled.directory.problems.is_empty(),
        "{:?}",
        pulled.directory.problems
    );
    let profile = &pulled.directory.users[&key("lead")].profile;
    use orgsync::model::ProfileField::*;
    for (field, value) in [
        (EnglishName, Some("Xiao Lin")),
        (EnterpriseEmail, Some("lin.xiao@corp.example.cn")),
        (EmployeeType, Some("intern")),
        (Gender, Some("female")),
        (WorkPlace, Some("杭州")),
        (HireDate, Some("2021-03-01")),
        (Avatar, Some("https://avatar.example/lin.png")),
        (Telephone, None),
    ] {
        assert_eq!(profile.get(field), value, "{field}");
    }
    assert_eq!(profile.custom("C-7031824249769689107"), Some("CC-01"));
    assert_eq!(
        profile.custom("C-7033715622710083604"),
        Some("https://wiki.example/lin"),
        "a web link (HREF) gives its URL"
    );
    // Someone the fixture gives nothing: Feishu's default type and no other field.
    let ceo = &pulled.directory.users[&key("ceo")].profile;
    assert_eq!(
        ceo.iter()
            .map(|(k, v)| format!("{k:?}={v}"))
            .collect::<Vec<_>>(),
        ["Standard(EmployeeType)=regular"]
    );

    // Without the admin's "allow open platform API" switch, Feishu sends no custom fields.
    let closed = emulators::feishu::start(
        org,
        FeishuConfig {
            custom_attrs_open: false,
            ..unlimited()
        },
    )
    .await
    .unwrap();
    let pulled = pull(&feishu_puller(&closed, |_| {})).await;
    let profile = &pulled.directory.users[&key("lead")].profile;
    assert_eq!(profile.custom_names().count(), 0);
    assert_eq!(profile.get(HireDate), Some("2021-03-01"));
}
