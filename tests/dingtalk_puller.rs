//! The DingTalk puller against the DingTalk emulator: what a pull reads, what it costs, and how it
//! survives faults. Field-level behaviour follows `shared/upstream-apis/dingtalk.md`.

mod common;

use common::{dingtalk_puller, person, small_org};
use emulators::dingtalk::{self, Ban, DingtalkConfig, DingtalkHandle, Quirk, RosterAccess};
use emulators::faults::Faults;
use emulators::fixture::{Department, Org, Scope, Status, User};
use orgsync::model::{
    DepartmentId, Directory, Problem, RosterFallback, Status as Upstream, UserKey,
};
use orgsync::pullers::http::{LimitScope, RateLimit};
use orgsync::pullers::{PullError, Pulled, Puller};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The client's rate limits run this much faster in tests (19 per 50 ms instead of per 1 s).
const SPEEDUP: f64 = 20.0;
/// The enforced-limit test runs DingTalk's 1 s window at 500 ms. Requests 1/19 of a window apart
/// reach one window 21 at a time only if the first is held up a whole spacing (26 ms here) longer
/// than the 21st; at 20× that is 2.6 ms, which a busy two-core machine exceeds now and then.
const ENFORCED_SPEEDUP: f64 = 2.0;

const GETTOKEN: &str = "/gettoken";
const AUTH_SCOPES: &str = "/auth/scopes";
const DEPARTMENT_GET: &str = "/topapi/v2/department/get";
const LISTSUB: &str = "/topapi/v2/department/listsub";
const USER_LIST: &str = "/topapi/v2/user/list";
const USER_GET: &str = "/topapi/v2/user/get";
const ROSTER: &str = "/topapi/smartwork/hrm/employee/v2/list";
/// The emulator's default AgentId.
const AGENT_ID: u64 = 2_001;

/// Limits are not enforced here, so counts stay exact whatever the machine's load; one test
/// below enforces them.
fn config() -> DingtalkConfig {
    DingtalkConfig {
        rate_limit_speedup: SPEEDUP,
        enforce_rate_limits: false,
        ..DingtalkConfig::default()
    }
}

async fn start(org: Org) -> DingtalkHandle {
    dingtalk::start(org, config()).await.unwrap()
}

fn department(id: i64, parent: Option<i64>, name: &str, leaders: &[&str]) -> Department {
    common::department(id, parent, name, leaders)
}

/// A company with a home-school department (negative id), a two-department person whose main
/// department is listed second, every status, and `big` people in department 5 (paged by 100).
///
/// ```text
/// 1 公司 ─┬─ 2 研发部 ── 3 平台组
///         ├─ 4 销售部 ── 5 大区 (big)
///         └─ -7 家校通讯录
/// ```
fn org_with(big: usize) -> Org {
    let mut users = vec![
        person("ceo", "陈总", &[1], None),
        person("boss2", "Zoë Müller", &[2], Some("ceo")),
        User {
            main_department: Some(4),
            employee_no: Some("E1024".into()),
            mobile: Some("13900000001".into()),
            ..person("lin", "林晓", &[3, 4], Some("boss2"))
        },
        User {
            status: Status::NotActivated,
            ..person("zhou", "周明", &[3], Some("lin"))
        },
        User {
            status: Status::Disabled,
            ..person("frozen", "冯冻", &[4], Some("ceo"))
        },
        User {
            status: Status::Resigned,
            ..person("leaver", "李离", &[4], Some("lin"))
        },
        person("parent", "家长", &[-7], None),
    ];
    users.extend(
        (1..=big).map(|i| person(&format!("p{i:03}"), &format!("员工{i}"), &[5], Some("lin"))),
    );
    Org {
        departments: vec![
            department(1, None, "公司", &["ceo"]),
            department(2, Some(1), "研发部", &["boss2"]),
            department(3, Some(2), "平台组", &[]),
            department(4, Some(1), "销售部", &["lin"]),
            department(-7, Some(1), "家校通讯录", &[]),
            department(5, Some(4), "大区", &[]),
        ],
        users,
        scope: Scope::default(),
        sensitive_fields: true,
    }
}

/// The minimum calls of a full pull, per endpoint, computed from the fixture. The notes (§9) give
/// `1 + D + Σ_d ceil(m_d/100)` (+N): one `department/get` per authorized top department (T, 1
/// with the full scope), one `listsub` per visible department (D), `max(1, ceil(m_d/100))`
/// `user/list` pages per department (m_d current direct members), and one `user/get` per listed
/// person whose list item lacks `manager_userid` (all N of them when lists never carry it) plus
/// one per individually authorized person no listing showed. Every pull also costs one
/// `gettoken` and one `auth/scopes`.
fn minimum_calls(org: &Org, manager_in_list: bool) -> BTreeMap<String, u64> {
    let visible = org.visible_department_ids();
    let current: Vec<&User> = org
        .users
        .iter()
        .filter(|u| u.status != Status::Resigned)
        .collect();
    let granted: BTreeSet<i64> = org.scope.departments.iter().copied().collect();
    let has_granted_ancestor = |mut id: i64| {
        while let Some(parent) = org.department(id).and_then(|d| d.parent) {
            if granted.contains(&parent) {
                return true;
            }
            id = parent;
        }
        false
    };
    let tops = granted
        .iter()
        .filter(|&&d| !has_granted_ancestor(d))
        .count() as u64;
    let pages: u64 = visible
        .iter()
        .map(|d| {
            let members = current.iter().filter(|u| u.departments.contains(d)).count() as u64;
            members.div_ceil(100).max(1)
        })
        .sum();
    let listed: Vec<&&User> = current
        .iter()
        .filter(|u| u.departments.iter().any(|d| visible.contains(d)))
        .collect();
    let per_person = listed
        .iter()
        .filter(|u| !manager_in_list || u.manager.is_none())
        .count() as u64;
    let individuals = org
        .scope
        .users
        .iter()
        .filter(|id| !listed.iter().any(|u| &u.id == *id))
        .count() as u64;
    [
        (GETTOKEN, 1),
        (AUTH_SCOPES, 1),
        (DEPARTMENT_GET, tops),
        (LISTSUB, visible.len() as u64),
        (USER_LIST, pages),
        (USER_GET, per_person + individuals),
    ]
    .into_iter()
    .filter(|&(_, n)| n > 0)
    .map(|(path, n)| (path.to_owned(), n))
    .collect()
}

fn keys(directory: &Directory) -> Vec<&str> {
    directory.users.keys().map(UserKey::as_str).collect()
}

fn departments_of<'a>(directory: &'a Directory, user: &str) -> Vec<&'a str> {
    directory.users[&UserKey::new(user)]
        .departments
        .iter()
        .map(DepartmentId::as_str)
        .collect()
}

fn manager_of<'a>(directory: &'a Directory, user: &str) -> Option<&'a str> {
    directory.users[&UserKey::new(user)]
        .manager
        .as_ref()
        .map(UserKey::as_str)
}

fn status_of(directory: &Directory, user: &str) -> Upstream {
    directory.users[&UserKey::new(user)].status
}

/// Emulator counters with the zeros left out.
fn counted(dingtalk: &DingtalkHandle) -> BTreeMap<String, u64> {
    dingtalk
        .call_counts()
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .collect()
}

#[tokio::test]
async fn full_pull_reads_people_managers_statuses_and_departments() {
    let org = org_with(205);
    let dingtalk = start(org.clone()).await;
    let Pulled { directory, stats } = dingtalk_puller(&dingtalk, |_| {}).pull().await.unwrap();

    let mut expected: Vec<String> = ["boss2", "ceo", "frozen", "lin", "parent", "zhou"]
        .map(str::to_owned)
        .to_vec();
    expected.extend((1..=205).map(|i| format!("p{i:03}")));
    expected.sort();
    assert_eq!(keys(&directory), expected, "resigned people are absent");
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);
    assert!(directory.held.is_empty());

    let lin = &directory.users[&UserKey::new("lin")];
    assert_eq!(lin.display_name, "林晓");
    assert_eq!(lin.email.as_deref(), Some("lin@example.cn"));
    assert_eq!(lin.mobile.as_deref(), Some("13900000001"));
    assert_eq!(lin.title.as_deref(), Some("工程师"));
    assert_eq!(lin.employee_no.as_deref(), Some("E1024"));
    assert_eq!(departments_of(&directory, "lin"), ["4", "3"], "main first");
    assert_eq!(departments_of(&directory, "parent"), ["-7"]);
    assert_eq!(departments_of(&directory, "p205"), ["5"]);

    assert_eq!(manager_of(&directory, "ceo"), None);
    assert_eq!(manager_of(&directory, "boss2"), Some("ceo"));
    assert_eq!(manager_of(&directory, "lin"), Some("boss2"));
    assert_eq!(manager_of(&directory, "zhou"), Some("lin"));
    assert_eq!(manager_of(&directory, "frozen"), Some("ceo"));
    assert_eq!(manager_of(&directory, "parent"), None);
    assert_eq!(manager_of(&directory, "p001"), Some("lin"));

    assert_eq!(status_of(&directory, "zhou"), Upstream::NotActivated);
    assert_eq!(
        status_of(&directory, "frozen"),
        Upstream::Active,
        "DingTalk has no disabled state: a disabled fixture person looks active"
    );
    assert_eq!(status_of(&directory, "p100"), Upstream::Active);

    let departments: Vec<(&str, &str, Option<&str>)> = directory
        .departments
        .values()
        .map(|d| {
            (
                d.id.as_str(),
                d.name.as_str(),
                d.parent.as_ref().map(DepartmentId::as_str),
            )
        })
        .collect();
    assert_eq!(
        departments,
        [
            ("-7", "家校通讯录", Some("1")),
            ("1", "公司", None),
            ("2", "研发部", Some("1")),
            ("3", "平台组", Some("2")),
            ("4", "销售部", Some("1")),
            ("5", "大区", Some("4")),
        ]
    );
    assert_eq!(directory.scope.departments, [DepartmentId::new("1")]);

    // 1 + 1 + 1 department/get + 6 listsub + 8 user/list (3 pages for 205) + 211 user/get = 228.
    let minimum = minimum_calls(&org, false);
    assert_eq!(minimum.values().sum::<u64>(), 228);
    assert_eq!(stats.calls, minimum);
    assert_eq!(counted(&dingtalk), minimum, "what the emulator saw");
    assert_eq!(stats.retries, 0);
}

/// When list items carry `manager_userid` (unverified in the notes), only people without a
/// manager are read one by one, and the directory is the same.
#[tokio::test]
async fn managers_in_list_items_save_the_per_person_reads() {
    let org = org_with(205);
    let without = start(org.clone()).await;
    let expected = dingtalk_puller(&without, |_| {}).pull().await.unwrap();
    let with = dingtalk::start(
        org.clone(),
        DingtalkConfig {
            manager_in_list: true,
            ..config()
        },
    )
    .await
    .unwrap();
    let mut pulled = dingtalk_puller(&with, |_| {}).pull().await.unwrap();
    // List items say nothing of the main department: the first listed is taken (lin's main
    // department, 4, is second in the fixture).
    assert_eq!(departments_of(&pulled.directory, "lin"), ["3", "4"]);
    let lin = pulled
        .directory
        .users
        .get_mut(&UserKey::new("lin"))
        .unwrap();
    lin.departments.reverse();
    assert_eq!(pulled.directory, expected.directory);
    // Only ceo and parent have no manager: 1 + 1 + 1 + 6 + 8 + 2 = 19.
    let minimum = minimum_calls(&org, true);
    assert_eq!(minimum.values().sum::<u64>(), 19);
    assert_eq!(pulled.stats.calls, minimum);
    assert_eq!(counted(&with), minimum);
}

#[tokio::test]
async fn without_the_personal_info_permission_email_and_mobile_are_absent() {
    let org = Org {
        sensitive_fields: false,
        ..org_with(1)
    };
    let dingtalk = start(org).await;
    let directory = dingtalk_puller(&dingtalk, |_| {})
        .pull()
        .await
        .unwrap()
        .directory;
    let lin = &directory.users[&UserKey::new("lin")];
    assert_eq!((lin.email.as_deref(), lin.mobile.as_deref()), (None, None));
    assert_eq!(lin.display_name, "林晓");
}

/// Partial scope: the crawl starts from the granted departments (the root would answer 50004),
/// includes the individually granted CEO, and reports managers as DingTalk gives them, even
/// outside the scope (the planner applies the scope rule).
#[tokio::test]
async fn partial_scope_starts_from_the_granted_departments() {
    let org = small_org();
    let dingtalk = start(org.clone()).await;
    let Pulled { directory, stats } = dingtalk_puller(&dingtalk, |_| {}).pull().await.unwrap();
    assert_eq!(
        keys(&directory),
        ["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"]
    );
    assert_eq!(manager_of(&directory, "sales1"), Some("outsider"));
    assert_eq!(manager_of(&directory, "boss2"), Some("ceo"));
    assert_eq!(manager_of(&directory, "lin"), Some("boss2"));
    assert_eq!(
        departments_of(&directory, "ceo"),
        Vec::<&str>::new(),
        "the root is not visible"
    );
    let departments: Vec<&str> = directory
        .departments
        .keys()
        .map(DepartmentId::as_str)
        .collect();
    assert_eq!(departments, ["2", "3"]);
    assert!(
        directory.problems.is_empty(),
        "granted tops have an invisible parent: {:?}",
        directory.problems
    );
    assert_eq!(
        directory.scope.users,
        [UserKey::new("ceo")],
        "individually granted"
    );
    // 1 + 1 + 2 department/get (tops 2 and 3) + 2 listsub + 2 user/list + 6 listed + 1 individual.
    let minimum = minimum_calls(&org, false);
    assert_eq!(minimum.values().sum::<u64>(), 15);
    assert_eq!(stats.calls, minimum);
    assert_eq!(counted(&dingtalk), minimum);
}

/// A granted department below another granted one is walked once and not read separately.
#[tokio::test]
async fn nested_grants_are_walked_once() {
    let org = Org {
        scope: Scope {
            departments: vec![3, 2],
            users: vec!["parent".into()],
        },
        ..org_with(3)
    };
    let dingtalk = start(org.clone()).await;
    let Pulled { directory, stats } = dingtalk_puller(&dingtalk, |_| {}).pull().await.unwrap();
    assert_eq!(keys(&directory), ["boss2", "lin", "parent", "zhou"]);
    assert_eq!(departments_of(&directory, "lin"), ["3"]);
    assert_eq!(stats.calls, minimum_calls(&org, false));
    assert_eq!(stats.calls[DEPARTMENT_GET], 1);
}

/// A granted department that no longer exists (60003) is left out; the rest is pulled.
#[tokio::test]
async fn a_deleted_granted_department_is_left_out() {
    let org = Org {
        scope: Scope {
            departments: vec![99, 4],
            users: Vec::new(),
        },
        ..org_with(2)
    };
    let dingtalk = start(org).await;
    let directory = dingtalk_puller(&dingtalk, |_| {})
        .pull()
        .await
        .unwrap()
        .directory;
    assert_eq!(keys(&directory), ["frozen", "lin", "p001", "p002"]);
    assert_eq!(dingtalk.calls(LISTSUB), 3, "99, 4 and 5");
}

/// People who leave between pulls disappear; people added appear; the same puller reuses its token.
#[tokio::test]
async fn a_second_pull_sees_changes_and_reuses_the_token() {
    let dingtalk = start(org_with(2)).await;
    let puller = dingtalk_puller(&dingtalk, |_| {});
    puller.pull().await.unwrap();
    dingtalk.update_org(|org| {
        let lin = org.users.iter_mut().find(|u| u.id == "lin").unwrap();
        lin.status = Status::Resigned;
        org.users.push(person("new", "新人", &[-7], Some("parent")));
    });
    dingtalk.reset_calls();
    let directory = puller.pull().await.unwrap().directory;
    assert!(!directory.users.contains_key(&UserKey::new("lin")));
    assert_eq!(manager_of(&directory, "new"), Some("parent"));
    assert_eq!(
        manager_of(&directory, "p001"),
        Some("lin"),
        "reported as is: the planner decides"
    );
    assert_eq!(dingtalk.calls(GETTOKEN), 0, "the cached token is reused");
}

/// The baseline pull of `org` on a fresh emulator, with one request at a time so fault schedules
/// hit the same calls every run.
async fn baseline(org: &Org) -> (DingtalkHandle, Pulled) {
    let dingtalk = start(org.clone()).await;
    let pulled = dingtalk_puller(&dingtalk, |c| c.concurrency = 1)
        .pull()
        .await
        .unwrap();
    dingtalk.reset_calls();
    (dingtalk, pulled)
}

fn data_calls(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(path, _)| path.as_str() != GETTOKEN)
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn token_expiry_mid_pull_is_refreshed_and_the_call_sent_again() {
    let org = org_with(120);
    let (dingtalk, clean) = baseline(&org).await;
    dingtalk.set_faults(Faults {
        token_expires_after_calls: Some(25),
        ..Faults::default()
    });
    let pulled = dingtalk_puller(&dingtalk, |c| c.concurrency = 1)
        .pull()
        .await
        .unwrap();
    assert_eq!(pulled.directory, clean.directory);
    // Each token serves 25 data calls; the 26th is refused (42001, 40014 or 33001 in turn), a new
    // token is fetched and that call is sent once more.
    let needed = data_calls(&clean.stats.calls);
    let deaths = needed.div_ceil(25) - 1;
    assert!(deaths >= 3, "every refusal form is met");
    assert_eq!(dingtalk.calls(GETTOKEN), 1 + deaths);
    assert_eq!(data_calls(&counted(&dingtalk)), needed + deaths);
    assert_eq!(pulled.stats.retries, 0, "a refresh is not a backoff retry");
}

#[tokio::test]
async fn revoked_tokens_are_replaced_between_pulls() {
    let dingtalk = start(org_with(1)).await;
    let puller = dingtalk_puller(&dingtalk, |_| {});
    let first = puller.pull().await.unwrap();
    dingtalk.expire_tokens();
    dingtalk.reset_calls();
    let second = puller.pull().await.unwrap();
    assert_eq!(second.directory, first.directory);
    assert_eq!(dingtalk.calls(GETTOKEN), 1);
    assert_eq!(
        dingtalk.calls(AUTH_SCOPES),
        2,
        "refused once with 40014, then sent again"
    );
}

/// Injected faults that a retry cures: the pull completes with the same directory, and every
/// extra request is a counted retry.
async fn survives(faults: Faults) -> u64 {
    let org = org_with(120);
    let (dingtalk, clean) = baseline(&org).await;
    dingtalk.set_faults(faults);
    let pulled = dingtalk_puller(&dingtalk, |c| c.concurrency = 1)
        .pull()
        .await
        .unwrap();
    assert_eq!(pulled.directory, clean.directory);
    let extra = data_calls(&counted(&dingtalk)) - data_calls(&clean.stats.calls);
    assert!(extra > 0, "the faults were hit");
    assert_eq!(pulled.stats.retries, extra);
    extra
}

/// Every 7th call answers 90018, then 88 with sub_code 90018, then 90002, in turn.
#[tokio::test]
async fn rate_limit_answers_are_retried_with_backoff() {
    let retries = survives(Faults {
        rate_limit_every: Some(7),
        ..Faults::default()
    })
    .await;
    assert!(retries >= 3, "all three forms were met");
}

/// DingTalk has no concurrency-limit code; the emulator answers -1 "system busy" instead.
#[tokio::test]
async fn system_busy_is_retried() {
    survives(Faults {
        concurrency_limit_every: Some(6),
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn gateway_errors_are_retried() {
    survives(Faults {
        http_5xx_every: Some(5),
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn truncated_json_is_retried() {
    survives(Faults {
        malformed_json_every: Some(5),
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn slow_answers_within_the_timeout_are_fine_and_beyond_it_fail() {
    let dingtalk = start(org_with(1)).await;
    dingtalk.set_faults(Faults {
        delay: Duration::from_millis(20),
        ..Faults::default()
    });
    let pulled = dingtalk_puller(&dingtalk, |_| {}).pull().await.unwrap();
    assert_eq!(pulled.stats.retries, 0);

    dingtalk.set_faults(Faults {
        delay: Duration::from_millis(300),
        ..Faults::default()
    });
    let error = dingtalk_puller(&dingtalk, |c| {
        c.timeout = orgsync::config::HumanDuration(Duration::from_millis(50));
    })
    .pull()
    .await
    .unwrap_err();
    assert!(
        matches!(&error, PullError::Exhausted { endpoint, last, .. }
            if endpoint == GETTOKEN && matches!(**last, PullError::Transport { .. })),
        "{error}"
    );
}

/// A fault on every call: a clear error naming the platform and endpoint, never a secret.
async fn fails_with(dingtalk: &DingtalkHandle) -> PullError {
    let error = dingtalk_puller(dingtalk, |_| {}).pull().await.unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("dingtalk "), "{text}");
    assert!(!text.contains(&dingtalk.config().app_secret), "{text}");
    assert!(!text.contains("dt-tok-"), "a token leaked: {text}");
    error
}

#[tokio::test]
async fn persistent_failures_end_in_a_clear_error() {
    let dingtalk = start(org_with(1)).await;
    let attempts = common::quick_retries().max_attempts.unwrap_or_default() as u64;

    dingtalk.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let error = fails_with(&dingtalk).await;
    assert!(
        matches!(&error, PullError::Exhausted { endpoint, last, .. }
            if endpoint == AUTH_SCOPES && matches!(**last, PullError::HttpStatus { status: 502, .. })),
        "{error}"
    );
    assert_eq!(dingtalk.calls(AUTH_SCOPES), attempts);

    dingtalk.set_faults(Faults {
        malformed_json_every: Some(1),
        ..Faults::default()
    });
    let error = fails_with(&dingtalk).await;
    assert!(
        matches!(&error, PullError::Exhausted { last, .. } if matches!(**last, PullError::Malformed { .. })),
        "{error}"
    );

    dingtalk.set_faults(Faults {
        rate_limit_every: Some(1),
        ..Faults::default()
    });
    let error = fails_with(&dingtalk).await;
    assert!(
        matches!(&error, PullError::Exhausted { last, .. }
            if matches!(**last, PullError::Api { code: 90018 | 90002, .. })),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_credentials_error() {
    let dingtalk = dingtalk::start(
        org_with(1),
        DingtalkConfig {
            app_secret: "the-real-secret".into(),
            ..config()
        },
    )
    .await
    .unwrap();
    let config = dingtalk.config().clone();
    let mut source = orgsync::pullers::dingtalk::DingtalkSourceConfig::new(
        config.app_key,
        orgsync::config::SecretRef::Env("UNUSED".into()),
        dingtalk.base_url().parse().unwrap(),
    );
    source.retry = common::quick_retries();
    let puller = orgsync::pullers::dingtalk::DingtalkPuller::new(
        source,
        orgsync::config::Secret::new("a-wrong-secret"),
    )
    .unwrap();
    let error = puller.pull().await.unwrap_err();
    assert!(
        matches!(error, PullError::Credentials { code: 40089, .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("a-wrong-secret"));
    assert_eq!(dingtalk.calls(GETTOKEN), 1, "not retried");
}

/// Paging defects end the pull with an error naming `user/list`, after a bounded number of calls
/// (at most 11 pages for each of the 6 departments: one with people, then ten empty ones).
#[tokio::test]
async fn paging_defects_are_errors_not_loops() {
    let dingtalk = start(org_with(1)).await;
    for quirk in [
        Quirk::StuckCursor,
        Quirk::HasMoreWithoutCursor,
        Quirk::CursorBackwards,
        Quirk::EndlessPages,
    ] {
        dingtalk.set_quirk(Some(quirk));
        dingtalk.reset_calls();
        let error = fails_with(&dingtalk).await;
        assert!(
            matches!(&error, PullError::Paging { endpoint, .. } if endpoint == USER_LIST),
            "{quirk:?}: {error}"
        );
        assert!(
            dingtalk.calls(USER_LIST) <= 11 * 6,
            "{quirk:?}: {} user/list calls",
            dingtalk.calls(USER_LIST)
        );
    }
}

/// Broken envelopes: retried (they may be transient), then a clear error.
#[tokio::test]
async fn broken_envelopes_are_clear_errors() {
    let dingtalk = start(org_with(1)).await;
    let cases = [
        (
            Quirk::MissingErrcode,
            AUTH_SCOPES,
            "field `errcode` is missing",
        ),
        (Quirk::MissingResult, LISTSUB, "missing field `result`"),
    ];
    for (quirk, failing, detail) in cases {
        dingtalk.set_quirk(Some(quirk));
        let error = fails_with(&dingtalk).await;
        let text = error.to_string();
        assert!(
            matches!(&error, PullError::Exhausted { endpoint, .. } if endpoint == failing),
            "{quirk:?}: {text}"
        );
        assert!(text.contains(detail), "{quirk:?}: {text}");
    }
}

/// The default client limits (19/s per API), scaled like the emulator's windows, never trip
/// DingTalk's 20/s per API; an unthrottled client does.
#[tokio::test]
async fn default_rate_limits_keep_under_the_enforced_limit() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 80,
        departments: 10,
        seed: 3,
        out_of_scope_share: 0.0,
        ..Default::default()
    });
    let enforced = DingtalkConfig {
        rate_limit_speedup: ENFORCED_SPEEDUP,
        enforce_rate_limits: true,
        ..DingtalkConfig::default()
    };
    let dingtalk = dingtalk::start(org.clone(), enforced.clone())
        .await
        .unwrap();
    let pulled = dingtalk_puller(&dingtalk, |c| c.concurrency = 8)
        .pull()
        .await
        .unwrap();
    assert_eq!(dingtalk.rate_limit_rejections(), 0);
    assert_eq!(pulled.stats.retries, 0);
    assert_eq!(pulled.stats.calls, minimum_calls(&org, false));
    // The limiter did the spacing: ~80 user/get calls, 19 in any window of 1 s / ENFORCED_SPEEDUP
    // (a sliding window: 19 may go at once, the 20th waits for the first to leave it).
    let gets = pulled.stats.calls[USER_GET];
    let window = Duration::from_secs(1).div_f64(ENFORCED_SPEEDUP);
    assert!(
        pulled.stats.duration >= window * ((gets as u32 - 1) / 19),
        "{:?}",
        pulled.stats.duration
    );

    // The control: with a limit far above DingTalk's, the same pull is refused and has to retry.
    let unthrottled = dingtalk::start(org, enforced).await.unwrap();
    let pulled = dingtalk_puller(&unthrottled, |c| {
        c.concurrency = 8;
        c.rate_limits = vec![RateLimit::new(
            100_000,
            Duration::from_secs(1).div_f64(ENFORCED_SPEEDUP),
            LimitScope::Endpoint,
        )];
    })
    .pull()
    .await
    .unwrap();
    assert!(unthrottled.rate_limit_rejections() > 0);
    assert!(pulled.stats.retries > 0);
}

/// A puller that asks the HR roster (the emulator's agentid).
fn roster_puller(dingtalk: &DingtalkHandle) -> orgsync::pullers::dingtalk::DingtalkPuller {
    dingtalk_puller(dingtalk, |c| c.agent_id = Some(AGENT_ID))
}

/// The calls a full pull needs on the roster path: `2D + ceil(N/100)` plus a handful (token,
/// scope, the top's `department/get`, a last partial page or roster batch per API).
fn roster_budget(org: &Org) -> u64 {
    let d = org.visible_department_ids().len() as u64;
    let n = org
        .users
        .iter()
        .filter(|u| u.status != Status::Resigned)
        .count() as u64;
    2 * d + n.div_ceil(100) + 5
}

/// The roster reads managers and main departments of 100 people a call: the same directory as
/// one `user/get` per person, in 20 calls instead of 228.
#[tokio::test]
async fn the_roster_reads_managers_for_a_hundred_people_a_call() {
    let org = org_with(205);
    let dingtalk = start(org.clone()).await;
    let per_person = dingtalk_puller(&dingtalk, |_| {}).pull().await.unwrap();
    dingtalk.reset_calls();
    let Pulled { directory, stats } = roster_puller(&dingtalk).pull().await.unwrap();
    assert_eq!(directory, per_person.directory);
    assert_eq!(manager_of(&directory, "p001"), Some("lin"));
    assert_eq!(manager_of(&directory, "ceo"), None);
    assert_eq!(
        departments_of(&directory, "lin"),
        ["4", "3"],
        "sys00-mainDeptId"
    );
    // 211 listed people lack a manager: 3 roster calls, no user/get.
    let mut expected = minimum_calls(&org, false);
    expected.remove(USER_GET);
    expected.insert(ROSTER.to_owned(), 3);
    assert_eq!(stats.calls, expected);
    assert_eq!(counted(&dingtalk), expected);
    assert!(
        stats.total_calls() <= roster_budget(&org),
        "{}",
        stats.total_calls()
    );
    assert_eq!(stats.total_calls(), 20);
}

/// With a partial scope, the roster path reports the same people and managers (an outside
/// manager included, for the planner's scope rule) as the per-person path.
#[tokio::test]
async fn the_roster_path_feeds_the_scope_rule_like_user_get() {
    let org = small_org();
    let dingtalk = start(org.clone()).await;
    let per_person = dingtalk_puller(&dingtalk, |_| {}).pull().await.unwrap();
    dingtalk.reset_calls();
    let pulled = roster_puller(&dingtalk).pull().await.unwrap();
    assert_eq!(pulled.directory, per_person.directory);
    assert_eq!(manager_of(&pulled.directory, "sales1"), Some("outsider"));
    assert_eq!(dingtalk.calls(ROSTER), 1);
    // Only the individually granted person is read one by one.
    assert_eq!(dingtalk.calls(USER_GET), 1);
}

/// Department heads are the members `user/list` flags `leader` in the department being listed, in
/// listing order; the roster path and the `user/get` path read the same ones. A head who is not a
/// member of the department is flagged nowhere, so DingTalk cannot tell it.
#[tokio::test]
async fn department_heads_are_the_listed_members_flagged_leader() {
    let mut org = org_with(3);
    org.departments[2].leaders = vec!["zhou".into(), "lin".into()];
    org.departments[5].leaders = vec!["ceo".into()];
    let dingtalk = start(org).await;
    let per_person = dingtalk_puller(&dingtalk, |_| {})
        .pull()
        .await
        .unwrap()
        .directory;
    let roster = roster_puller(&dingtalk).pull().await.unwrap().directory;
    let heads = |directory: &Directory, id: &str| -> Vec<String> {
        directory.departments[&DepartmentId::new(id)]
            .heads
            .iter()
            .map(|k| k.to_string())
            .collect()
    };
    for directory in [&per_person, &roster] {
        assert_eq!(heads(directory, "1"), ["ceo"]);
        assert_eq!(heads(directory, "2"), ["boss2"]);
        assert_eq!(heads(directory, "4"), ["lin"]);
        let mut both = heads(directory, "3");
        both.sort();
        assert_eq!(both, ["lin", "zhou"]);
        assert!(heads(directory, "5").is_empty(), "ceo is no member of 5");
        assert!(heads(directory, "-7").is_empty());
    }
    assert_eq!(
        per_person.departments, roster.departments,
        "both paths read the same heads"
    );
}

/// Without the roster permission: the first roster call finds out, everyone is read with
/// `user/get` instead, and the report says so once.
#[tokio::test]
async fn without_the_roster_permission_managers_are_read_one_by_one_and_said_once() {
    let org = org_with(205);
    let granted = start(org.clone()).await;
    let expected = roster_puller(&granted).pull().await.unwrap().directory;
    let refused = dingtalk::start(
        org.clone(),
        DingtalkConfig {
            roster: RosterAccess::NotGranted,
            ..config()
        },
    )
    .await
    .unwrap();
    let Pulled { directory, stats } = roster_puller(&refused).pull().await.unwrap();
    assert_eq!(
        directory.problems,
        [Problem::RosterFallback {
            reason: RosterFallback::NotGranted
        }]
    );
    assert_eq!(
        Directory {
            problems: Vec::new(),
            ..directory
        },
        expected
    );
    assert_eq!(stats.calls[ROSTER], 1, "only the first call asks");
    assert_eq!(stats.calls, {
        let mut calls = minimum_calls(&org, false);
        calls.insert(ROSTER.to_owned(), 1);
        calls
    });
    // `roster = "never"` does not ask at all, and says nothing.
    refused.reset_calls();
    let never = dingtalk_puller(&refused, |c| {
        c.agent_id = Some(AGENT_ID);
        c.roster = Some(orgsync::pullers::dingtalk::RosterMode::Never);
    })
    .pull()
    .await
    .unwrap();
    assert_eq!(never.directory, expected);
    assert_eq!(refused.calls(ROSTER), 0);
}

/// A focused pull (an event's run, `sync --person`) without the roster permission: the first
/// roster call finds out, the people are the whole pull's records (managers and main
/// departments from `user/get`, `lin`'s main department from its position list), and the
/// fallback is said once, as after a whole pull.
#[tokio::test]
async fn a_focused_pull_without_the_roster_permission_reads_what_a_whole_pull_reads() {
    let refused = dingtalk::start(
        org_with(3),
        DingtalkConfig {
            roster: RosterAccess::NotGranted,
            ..config()
        },
    )
    .await
    .unwrap();
    let whole = roster_puller(&refused).pull().await.unwrap().directory;
    refused.reset_calls();
    let keys: Vec<UserKey> = ["lin", "p001", "zhou"].map(UserKey::new).to_vec();
    let focused = roster_puller(&refused).pull_people(&keys).await.unwrap();
    let got = &focused.pulled.directory;
    for key in &keys {
        assert_eq!(got.users.get(key), whole.users.get(key), "{key}");
    }
    assert_eq!(departments_of(got, "lin"), ["4", "3"]);
    assert_eq!(
        got.problems,
        [Problem::RosterFallback {
            reason: RosterFallback::NotGranted
        }]
    );
    assert_eq!(refused.calls(ROSTER), 1, "only the first call asks");
}

/// The monthly quota spent after one roster call: the rest of the run reads one by one, the
/// report says so once, and the directory is the same.
#[tokio::test]
async fn a_spent_quota_mid_run_falls_back_to_user_get_for_the_rest() {
    let org = org_with(205);
    let granted = start(org.clone()).await;
    let expected = roster_puller(&granted).pull().await.unwrap().directory;
    let quota = dingtalk::start(
        org,
        DingtalkConfig {
            roster_quota: Some(1),
            ..config()
        },
    )
    .await
    .unwrap();
    let Pulled { directory, stats } = roster_puller(&quota).pull().await.unwrap();
    assert_eq!(
        directory.problems,
        [Problem::RosterFallback {
            reason: RosterFallback::QuotaExhausted
        }]
    );
    assert_eq!(
        Directory {
            problems: Vec::new(),
            ..directory
        },
        expected
    );
    assert_eq!(
        stats.errors.get("90020").copied().unwrap_or(0),
        stats.calls[ROSTER] - 1
    );
    assert!((2..=3).contains(&stats.calls[ROSTER]), "{:?}", stats.calls);
    assert_eq!(
        stats.calls[USER_GET],
        211 - 100,
        "the first 100 came from the roster"
    );
}

/// DingTalk answers 40001 when a token stops working mid-pull: a new token is fetched and the
/// pull goes on (40001 is bad credentials only at `/gettoken`).
#[tokio::test]
async fn a_token_revoked_mid_pull_is_replaced() {
    let org = org_with(120);
    let (dingtalk, clean) = baseline(&org).await;
    dingtalk.revoke_tokens_after(10);
    let pulled = dingtalk_puller(&dingtalk, |c| c.concurrency = 1)
        .pull()
        .await
        .unwrap();
    assert_eq!(pulled.directory, clean.directory);
    assert_eq!(
        dingtalk.calls(GETTOKEN),
        2,
        "the first token and one new one"
    );
    assert!(
        pulled.stats.errors.contains_key("40001"),
        "{:?}",
        pulled.stats.errors
    );
    assert_eq!(pulled.stats.retries, 0, "a refresh is not a backoff retry");
}

/// The per-IP anti-abuse ban, as JSON or HTML, with 200 or 403: a throttle waited out (for at
/// least `ban_wait`, 5 minutes by default, shortened here), then the pull goes on.
#[tokio::test]
async fn the_anti_abuse_ban_is_waited_out() {
    let org = org_with(1);
    let (dingtalk, clean) = baseline(&org).await;
    let wait = Duration::from_millis(300);
    // `wait` 0: the real ban says 5 (minutes), which the client's unit tests cover.
    for form in [
        Ban::Json {
            status: 200,
            wait: 0,
        },
        Ban::Json {
            status: 403,
            wait: 0,
        },
        Ban::Html(200),
        Ban::Html(403),
    ] {
        dingtalk.ban(form, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let pulled = dingtalk_puller(&dingtalk, |c| {
            c.ban_wait = orgsync::config::HumanDuration(wait);
        })
        .pull()
        .await
        .unwrap();
        assert!(
            started.elapsed() >= wait,
            "{form:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(pulled.directory, clean.directory, "{form:?}");
        assert!(pulled.stats.retries >= 1, "{form:?}");
        assert!(pulled.stats.errors.contains_key("throttled"), "{form:?}");
    }
    // A ban outlasting the retries ends in an error naming it, never a transport failure.
    dingtalk.ban(Ban::Html(403), Duration::from_secs(3600));
    let error = dingtalk_puller(&dingtalk, |c| {
        c.ban_wait = orgsync::config::HumanDuration(Duration::from_millis(5));
    })
    .pull()
    .await
    .unwrap_err();
    assert!(
        matches!(&error, PullError::Exhausted { last, .. }
            if matches!(**last, PullError::Throttled { wait, .. } if wait >= Duration::from_millis(5))),
        "{error}"
    );
    assert!(error.to_string().contains("anti-abuse ban"), "{error}");
}

/// The engine keeps the month's count of roster calls (quota-counted) in the state and shows it
/// in the report; it adds up over runs and survives a reopen of the state directory.
#[tokio::test]
async fn the_months_roster_calls_are_counted_in_the_state_and_reported() {
    use orgsync::engine::{Connector, Engine, RunMode};
    let dingtalk = start(org_with(205)).await;
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connector = Connector {
        name: "dt".into(),
        puller: orgsync::pullers::AnyPuller::Dingtalk(roster_puller(&dingtalk)),
        pusher: orgsync::pushers::AnyPusher::Scim(common::scim_pusher(
            scim.base_url(),
            scim.bearer_token(),
        )),
        policy: orgsync::plan::Policy::default().without_guard(),
        concurrency: 4,
    };
    for expected in [3, 6] {
        let state = orgsync::state::StateDb::open(dir.path()).unwrap();
        let engine = Engine::new(std::sync::Arc::new(state));
        let report = engine.run(&connector, RunMode::DryRun).await.unwrap();
        let pull = report.pull.expect("the pull succeeded");
        assert_eq!(
            pull.metered_calls,
            BTreeMap::from([(ROSTER.to_owned(), expected)])
        );
        let shown = report_with(pull);
        let json = orgsync::report::render_json(&shown);
        assert!(json.contains("metered_calls"), "{json}");
        let text = orgsync::report::render_markdown(&shown);
        let line = format!("calls counted against the upstream's quota: {ROSTER} {expected}");
        assert!(text.contains(&line), "{text}");
    }

    // A per-person pull counts nothing and shows nothing.
    let state = orgsync::state::StateDb::open(dir.path()).unwrap();
    let engine = Engine::new(std::sync::Arc::new(state));
    let connector = Connector {
        puller: orgsync::pullers::AnyPuller::Dingtalk(dingtalk_puller(&dingtalk, |_| {})),
        ..connector
    };
    let report = engine.run(&connector, RunMode::DryRun).await.unwrap();
    assert!(report.pull.unwrap().metered_calls.is_empty());
}

/// A fixed report carrying `pull` (to render it).
fn report_with(pull: orgsync::report::PullSummary) -> orgsync::report::Report {
    let mut report = orgsync::report::fixture::sample();
    report.pull = Some(pull);
    report
}

// ---------------------------------------------------------------------------------------------
// Profile and custom fields
// ---------------------------------------------------------------------------------------------

/// The small org with a full profile and two custom fields on lin.
fn org_with_profile() -> Org {
    let mut org = small_org();
    let lin = org
        .users
        .iter_mut()
        .find(|u| u.id == "lin")
        .expect("lin is in the small org");
    lin.profile = emulators::fixture::Profile {
        english_name: Some("Lin Xiao".into()),
        enterprise_email: Some("lin@corp.example.cn".into()),
        telephone: Some("010-8612-2345".into()),
        employee_type: Some("intern".into()),
        gender: Some("female".into()),
        work_place: Some("杭州 A 区".into()),
        hire_date: Some("2023-01-01".into()),
        avatar: Some("https://static.dingtalk.com/lin.png".into()),
    };
    lin.custom = BTreeMap::from([
        ("工位".to_owned(), "A-12".to_owned()),
        ("成本中心".to_owned(), "CC-01".to_owned()),
    ]);
    org
}

fn standard_profile(
    directory: &Directory,
    user: &str,
) -> Vec<(orgsync::model::ProfileField, Option<String>)> {
    let profile = &directory.users[&UserKey::new(user)].profile;
    orgsync::model::ProfileField::ALL
        .iter()
        .map(|&field| (field, profile.get(field).map(str::to_owned)))
        .collect()
}

/// Without the roster: the contact record's fields (no sex nor employee type on DingTalk's
/// contact API, no English name at all) and the `extension`'s custom fields.
#[tokio::test]
async fn the_contact_record_gives_its_profile_fields_and_extension() {
    use orgsync::model::ProfileField::*;
    let dingtalk = start(org_with_profile()).await;
    let directory = dingtalk_puller(&dingtalk, |_| {})
        .pull()
        .await
        .unwrap()
        .directory;
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        standard_profile(&directory, "lin"),
        [
            (EnglishName, None),
            (EnterpriseEmail, some("lin@corp.example.cn")),
            (Telephone, some("010-8612-2345")),
            (EmployeeType, None),
            (Gender, None),
            (WorkPlace, some("杭州 A 区")),
            (HireDate, some("2023-01-01")),
            (Avatar, some("https://static.dingtalk.com/lin.png")),
        ]
    );
    let lin = &directory.users[&UserKey::new("lin")].profile;
    assert_eq!(lin.custom("工位"), Some("A-12"));
    assert_eq!(lin.custom("成本中心"), Some("CC-01"));
    assert!(directory.users[&UserKey::new("zhou")].profile.is_empty());
}

/// With the roster: sex, employee type and hire date from HR, and a custom roster field named
/// in `roster_fields`.
#[tokio::test]
async fn the_roster_adds_sex_employee_type_and_custom_roster_fields() {
    use orgsync::model::ProfileField::*;
    let mut org = org_with_profile();
    // 职级 is also in the extension; the roster answers for it too, under its code.
    org.users
        .iter_mut()
        .find(|u| u.id == "lin")
        .unwrap()
        .custom
        .insert("职级".into(), "P6".into());
    let dingtalk = start(org).await;
    let code = emulators::dingtalk::roster_field_code("职级");
    let directory = dingtalk_puller(&dingtalk, |c| {
        c.agent_id = Some(AGENT_ID);
        c.roster_fields = vec![code];
    })
    .pull()
    .await
    .unwrap()
    .directory;
    assert!(dingtalk.calls(ROSTER) > 0, "the roster was asked");
    let get = |field| {
        directory.users[&UserKey::new("lin")]
            .profile
            .get(field)
            .map(str::to_owned)
    };
    assert_eq!(get(Gender).as_deref(), Some("female"));
    assert_eq!(get(EmployeeType).as_deref(), Some("intern"));
    assert_eq!(get(HireDate).as_deref(), Some("2023-01-01"));
    assert_eq!(get(EnterpriseEmail).as_deref(), Some("lin@corp.example.cn"));
    let lin = &directory.users[&UserKey::new("lin")].profile;
    assert_eq!(lin.custom("职级"), Some("P6"));
    assert_eq!(lin.custom("工位"), Some("A-12"));
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);
}

/// Without the personal-info permission DingTalk leaves out org_email, work_place and extension.
#[tokio::test]
async fn without_the_personal_info_permission_the_personal_profile_fields_are_absent() {
    use orgsync::model::ProfileField::*;
    let org = Org {
        sensitive_fields: false,
        ..org_with_profile()
    };
    let dingtalk = start(org).await;
    let directory = dingtalk_puller(&dingtalk, |_| {})
        .pull()
        .await
        .unwrap()
        .directory;
    let present: Vec<_> = standard_profile(&directory, "lin")
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(f, _)| f)
        .collect();
    assert_eq!(present, [Telephone, HireDate, Avatar]);
    assert_eq!(
        directory.users[&UserKey::new("lin")]
            .profile
            .custom_names()
            .count(),
        0
    );
}
