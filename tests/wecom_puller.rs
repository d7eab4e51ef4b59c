//! The WeCom puller against the in-process WeCom emulator: what a pull reads, what it costs in
//! calls, how scope shows through, and how every injected fault is survived or reported.

use emulators::faults::Faults;
use emulators::fixture::{self, Org, Scope};
use emulators::generator::{GeneratorConfig, generate};
use emulators::wecom::{self, ListAccess, WecomConfig, WecomHandle, WecomTag};
use orgsync::config::{HumanDuration, ProcessMode, RetryConfig, Secret, SecretRef};
use orgsync::model::{Department, DepartmentId, Directory, Problem, Status, User, UserKey};
use orgsync::pullers::wecom::{ThrottleWindows, WecomPuller, WecomSourceConfig};
use orgsync::pullers::{Coverage, PullError, Pulled, Puller};
use std::collections::BTreeMap;
use std::time::Duration;

const GETTOKEN: &str = "/cgi-bin/gettoken";
const DEPARTMENT_LIST: &str = "/cgi-bin/department/list";
const USER_LIST: &str = "/cgi-bin/user/list";
const USER_GET: &str = "/cgi-bin/user/get";
const AGENT_GET: &str = "/cgi-bin/agent/get";
const TAG_GET: &str = "/cgi-bin/tag/get";
const DEPARTMENT_SIMPLELIST: &str = "/cgi-bin/department/simplelist";
const DEPARTMENT_GET: &str = "/cgi-bin/department/get";
const USER_SIMPLELIST: &str = "/cgi-bin/user/simplelist";

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

fn department(id: i64, parent: Option<i64>, name: &str) -> fixture::Department {
    fixture::Department {
        id,
        parent,
        name: name.to_owned(),
        name_en: None,
        order: 0,
        leaders: Vec::new(),
    }
}

fn person(id: &str, name: &str, departments: &[i64]) -> fixture::User {
    fixture::User {
        id: id.to_owned(),
        name: name.to_owned(),
        email: None,
        mobile: None,
        title: None,
        employee_no: None,
        departments: departments.to_vec(),
        main_department: None,
        manager: None,
        status: fixture::Status::Active,
        extranet: false,
        profile: Default::default(),
        custom: Default::default(),
    }
}

/// Five departments, seven people, every status, one person in two departments with the main one
/// listed second, managers across departments.
///
/// ```text
/// 1 示例科技            ceo
/// ├── 2 研发部          rd.head
/// │   └── 3 平台组      zoe (disabled), lin.xiao (2 and 3, main 3, not activated), kim (resigned)
/// └── 4 销售部          sam
///     └── 5 华东区      zhao
/// ```
fn small_org() -> Org {
    let departments = vec![
        department(1, None, "示例科技"),
        department(2, Some(1), "研发部"),
        department(3, Some(2), "平台组"),
        department(4, Some(1), "销售部"),
        department(5, Some(4), "华东区"),
    ];
    let users = vec![
        fixture::User {
            email: Some("ceo@example.cn".into()),
            mobile: Some("13800000001".into()),
            title: Some("首席执行官".into()),
            ..person("ceo", "王伟", &[1])
        },
        fixture::User {
            email: Some("rd.head@example.cn".into()),
            title: Some("研发总监".into()),
            manager: Some("ceo".into()),
            ..person("rd.head", "李娜", &[2])
        },
        fixture::User {
            manager: Some("rd.head".into()),
            status: fixture::Status::Disabled,
            ..person("zoe", "Zoë Müller", &[3])
        },
        fixture::User {
            email: Some("lin.xiao@example.cn".into()),
            mobile: Some("13800000004".into()),
            title: Some("后端工程师".into()),
            employee_no: Some("E000004".into()),
            main_department: Some(3),
            manager: Some("zoe".into()),
            status: fixture::Status::NotActivated,
            ..person("lin.xiao", "林晓", &[2, 3])
        },
        fixture::User {
            manager: Some("zoe".into()),
            status: fixture::Status::Resigned,
            ..person("kim", "김민준", &[3])
        },
        fixture::User {
            mobile: Some("13800000006".into()),
            title: Some("Sales Lead".into()),
            manager: Some("ceo".into()),
            ..person("sam", "Sam O'Neil", &[4])
        },
        fixture::User {
            manager: Some("sam".into()),
            ..person("zhao", "赵六", &[5])
        },
    ];
    let org = Org {
        departments,
        users,
        scope: Scope::default(),
        sensitive_fields: true,
    };
    org.validate().expect("the hand-made fixture is valid");
    org
}

/// The person as the puller must produce them from the full-scope small org.
#[allow(clippy::too_many_arguments)]
fn user(
    key: &str,
    name: &str,
    email: Option<&str>,
    mobile: Option<&str>,
    title: Option<&str>,
    departments: &[&str],
    status: Status,
    manager: Option<&str>,
) -> User {
    User {
        profile: Default::default(),
        key: UserKey::new(key),
        display_name: name.into(),
        email: email.map(Into::into),
        mobile: mobile.map(Into::into),
        title: title.map(Into::into),
        // WeCom's user/get has no employee number.
        employee_no: None,
        departments: departments.iter().map(|d| DepartmentId::new(*d)).collect(),
        status,
        manager: manager.map(UserKey::new),
    }
}

fn expected_full_users(sensitive: bool) -> BTreeMap<UserKey, User> {
    let s = |value: &'static str| sensitive.then_some(value);
    let users = [
        user(
            "ceo",
            "王伟",
            s("ceo@example.cn"),
            s("13800000001"),
            Some("首席执行官"),
            &["1"],
            Status::Active,
            None,
        ),
        user(
            "rd.head",
            "李娜",
            s("rd.head@example.cn"),
            None,
            Some("研发总监"),
            &["2"],
            Status::Active,
            Some("ceo"),
        ),
        user(
            "zoe",
            "Zoë Müller",
            None,
            None,
            None,
            &["3"],
            Status::Disabled,
            Some("rd.head"),
        ),
        user(
            "lin.xiao",
            "林晓",
            s("lin.xiao@example.cn"),
            s("13800000004"),
            Some("后端工程师"),
            &["3", "2"],
            Status::NotActivated,
            Some("zoe"),
        ),
        user(
            "kim",
            "김민준",
            None,
            None,
            None,
            &["3"],
            Status::Resigned,
            Some("zoe"),
        ),
        user(
            "sam",
            "Sam O'Neil",
            None,
            s("13800000006"),
            Some("Sales Lead"),
            &["4"],
            Status::Active,
            Some("ceo"),
        ),
        user(
            "zhao",
            "赵六",
            None,
            None,
            None,
            &["5"],
            Status::Active,
            Some("sam"),
        ),
    ];
    users.into_iter().map(|u| (u.key.clone(), u)).collect()
}

fn expected_departments(ids: &[i64]) -> BTreeMap<DepartmentId, Department> {
    let all = [
        ("1", "示例科技", None),
        ("2", "研发部", Some("1")),
        ("3", "平台组", Some("2")),
        ("4", "销售部", Some("1")),
        ("5", "华东区", Some("4")),
    ];
    all.into_iter()
        .filter(|(id, _, _)| ids.iter().any(|i| i.to_string() == *id))
        .map(|(id, name, parent)| {
            (
                DepartmentId::new(id),
                Department {
                    id: DepartmentId::new(id),
                    name: name.to_owned(),
                    parent: parent.map(DepartmentId::new),
                    heads: Vec::new(),
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------------------------

fn fast_retry(max_attempts: usize) -> RetryConfig {
    RetryConfig {
        max_attempts: Some(max_attempts),
        min_delay: HumanDuration(Duration::from_millis(1)),
        max_delay: HumanDuration(Duration::from_millis(20)),
        ..RetryConfig::default()
    }
}

fn source_config(wecom: &WecomHandle) -> WecomSourceConfig {
    let mut config = WecomSourceConfig::new(
        wecom.config().corpid.clone(),
        SecretRef::Env("ORGSYNC_TEST_UNUSED".into()),
        url::Url::parse(&wecom.base_url()).expect("emulator URL parses"),
    );
    config.agent_id = Some(wecom.config().agentid);
    config.retry = fast_retry(4);
    config.timeout = HumanDuration(Duration::from_secs(10));
    config
}

fn puller(wecom: &WecomHandle, tweak: impl FnOnce(&mut WecomSourceConfig)) -> WecomPuller {
    let mut config = source_config(wecom);
    tweak(&mut config);
    config.validate().expect("test config is valid");
    WecomPuller::new(config, Secret::new(wecom.config().corpsecret.clone())).expect("puller builds")
}

async fn start(org: Org) -> WecomHandle {
    wecom::start(org, WecomConfig::default())
        .await
        .expect("emulator starts")
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect()
}

/// The pull of the untouched small org, for comparing faulted pulls against.
async fn baseline(org: Org) -> Directory {
    let wecom = start(org).await;
    puller(&wecom, |_| {})
        .pull()
        .await
        .expect("fault-free pull succeeds")
        .directory
}

// ---------------------------------------------------------------------------------------------
// Full pulls
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn full_pull_reads_every_person_exactly() {
    let wecom = start(small_org()).await;
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.expect("pull succeeds");

    assert_eq!(directory.users, expected_full_users(true));
    assert_eq!(
        directory.departments,
        expected_departments(&[1, 2, 3, 4, 5])
    );
    assert!(directory.held.is_empty(), "held: {:?}", directory.held);
    assert!(
        directory.problems.is_empty(),
        "problems: {:?}",
        directory.problems
    );
    // The whole org is in range (department 1).
    assert_eq!(directory.scope.departments, vec![DepartmentId::new("1")]);
    assert!(directory.scope.users.is_empty());

    // D + 3: gettoken, department/list, agent/get, one user/list per visible department.
    let expected = counts(&[
        (GETTOKEN, 1),
        (DEPARTMENT_LIST, 1),
        (AGENT_GET, 1),
        (USER_LIST, 5),
    ]);
    assert_eq!(stats.calls, expected);
    assert_eq!(stats.total_calls(), 5 + 3);
    assert_eq!(stats.retries, 0);
    assert_eq!(wecom.call_counts(), expected);
    assert_eq!(wecom.total_calls(), 8);
}

#[tokio::test]
async fn person_in_two_departments_appears_once_with_main_first() {
    let wecom = start(small_org()).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    let lin = &directory.users[&UserKey::new("lin.xiao")];
    assert_eq!(
        lin.departments,
        vec![DepartmentId::new("3"), DepartmentId::new("2")]
    );
    assert_eq!(
        directory
            .users
            .keys()
            .filter(|k| k.as_str() == "lin.xiao")
            .count(),
        1
    );
    // Listed under both departments, merged without a conflict.
    assert!(directory.problems.is_empty());
}

#[tokio::test]
async fn status_codes_map_to_model_statuses() {
    let wecom = start(small_org()).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    let status = |key: &str| directory.users[&UserKey::new(key)].status;
    assert_eq!(status("ceo"), Status::Active); // 1
    assert_eq!(status("zoe"), Status::Disabled); // 2
    assert_eq!(status("lin.xiao"), Status::NotActivated); // 4
    assert_eq!(status("kim"), Status::Resigned); // 5
}

#[tokio::test]
async fn second_pull_with_the_same_puller_reuses_the_token() {
    let wecom = start(small_org()).await;
    let puller = puller(&wecom, |_| {});
    let first = puller.pull().await.unwrap();
    let second = puller.pull().await.unwrap();
    assert_eq!(first.directory, second.directory);
    // Stats are per pull: the second one needs no token.
    assert_eq!(
        second.stats.calls,
        counts(&[(DEPARTMENT_LIST, 1), (AGENT_GET, 1), (USER_LIST, 5)])
    );
    assert_eq!(wecom.calls(GETTOKEN), 1);
}

// ---------------------------------------------------------------------------------------------
// Sensitive fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_sensitive_fields_email_and_mobile_are_none() {
    let org = Org {
        sensitive_fields: false,
        ..small_org()
    };
    let wecom = start(org).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    assert_eq!(directory.users, expected_full_users(false));
    assert!(
        directory
            .users
            .values()
            .all(|u| u.email.is_none() && u.mobile.is_none())
    );
}

#[tokio::test]
async fn with_sensitive_fields_email_and_mobile_are_present() {
    let wecom = start(small_org()).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    let lin = &directory.users[&UserKey::new("lin.xiao")];
    assert_eq!(lin.email.as_deref(), Some("lin.xiao@example.cn"));
    assert_eq!(lin.mobile.as_deref(), Some("13800000004"));
    // Served as "" when unset: still None, never "".
    let zoe = &directory.users[&UserKey::new("zoe")];
    assert_eq!((zoe.email.as_deref(), zoe.mobile.as_deref()), (None, None));
}

#[tokio::test]
async fn department_heads_come_from_department_leader_in_order() {
    let mut org = small_org();
    org.departments[0].leaders = vec!["ceo".into()];
    org.departments[1].leaders = vec!["rd.head".into(), "ceo".into()];
    let heads = |directory: &Directory, id: &str| -> Vec<String> {
        directory.departments[&DepartmentId::new(id)]
            .heads
            .iter()
            .map(|k| k.to_string())
            .collect()
    };
    let wecom = start(org.clone()).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    assert_eq!(heads(&directory, "1"), ["ceo"]);
    assert_eq!(heads(&directory, "2"), ["rd.head", "ceo"], "head first");
    assert!(heads(&directory, "3").is_empty());

    // WeCom lists only heads inside the visible range: ceo is outside department 2's subtree.
    org.scope = Scope {
        departments: vec![2],
        users: Vec::new(),
    };
    let wecom = start(org).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    assert_eq!(heads(&directory, "2"), ["rd.head"]);
}

// ---------------------------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn departments_out_of_scope_are_not_pulled() {
    let org = Org {
        scope: Scope {
            departments: vec![2],
            users: Vec::new(),
        },
        ..small_org()
    };
    let wecom = start(org).await;
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.unwrap();

    assert_eq!(directory.departments, expected_departments(&[2, 3]));
    let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
    assert_eq!(keys, vec!["kim", "lin.xiao", "rd.head", "zoe"]);
    // rd.head's manager (ceo) is out of scope: WeCom filters direct_leader, nothing is invented.
    assert_eq!(directory.users[&UserKey::new("rd.head")].manager, None);
    // In-scope managers are kept.
    assert_eq!(
        directory.users[&UserKey::new("kim")].manager,
        Some(UserKey::new("zoe"))
    );
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);

    let expected = counts(&[
        (GETTOKEN, 1),
        (DEPARTMENT_LIST, 1),
        (AGENT_GET, 1),
        (USER_LIST, 2),
    ]);
    assert_eq!(stats.calls, expected);
    assert_eq!(wecom.call_counts(), expected);
}

#[tokio::test]
async fn individually_authorized_person_is_pulled_through_agent_get() {
    let org = Org {
        scope: Scope {
            departments: vec![2],
            // zhao sits in department 5, which the app cannot see; zoe is visible anyway.
            users: vec!["zhao".into(), "zoe".into()],
        },
        ..small_org()
    };
    let wecom = start(org).await;
    let agent_id = wecom.config().agentid;
    let Pulled { directory, stats } = puller(&wecom, |c| c.agent_id = Some(agent_id))
        .pull()
        .await
        .unwrap();

    let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
    assert_eq!(keys, vec!["kim", "lin.xiao", "rd.head", "zhao", "zoe"]);
    let zhao = &directory.users[&UserKey::new("zhao")];
    assert_eq!(zhao.display_name, "赵六");
    assert_eq!(zhao.status, Status::Active);
    // Their department and their manager (sam) are invisible.
    assert!(zhao.departments.is_empty());
    assert_eq!(zhao.manager, None);

    assert_eq!(directory.scope.departments, vec![DepartmentId::new("2")]);
    assert_eq!(
        directory.scope.users,
        vec![UserKey::new("zhao"), UserKey::new("zoe")]
    );
    // Department 2's parent is invisible, but 2 is a scope root: not a problem.
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);

    // D + 3 + one user/get per individual not met in a department listing (zoe was).
    let expected = counts(&[
        (GETTOKEN, 1),
        (DEPARTMENT_LIST, 1),
        (AGENT_GET, 1),
        (USER_LIST, 2),
        (USER_GET, 1),
    ]);
    assert_eq!(stats.calls, expected);
    assert_eq!(wecom.call_counts(), expected);
    assert_eq!(stats.total_calls(), 2 + 3 + 1);
}

#[tokio::test]
async fn wrong_agent_id_fails_the_pull_naming_agent_get() {
    let wecom = start(small_org()).await;
    let error = puller(&wecom, |c| c.agent_id = Some(42))
        .pull()
        .await
        .expect_err("agent 42 does not exist");
    match &error {
        PullError::Api { code, endpoint, .. } => {
            assert_eq!((*code, endpoint.as_str()), (40056, AGENT_GET));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    // Not retried: the answer will not change.
    assert_eq!(wecom.calls(AGENT_GET), 1);
}

// ---------------------------------------------------------------------------------------------
// Token faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_expiring_after_n_calls_is_replaced_and_the_call_retried_once() {
    let expected = baseline(small_org()).await;
    let wecom = start(small_org()).await;
    wecom.set_faults(Faults {
        token_expires_after_calls: Some(2),
        ..Faults::default()
    });
    // One request at a time, so the schedule of token deaths is exact.
    let Pulled { directory, stats } = puller(&wecom, |c| c.concurrency = 1)
        .pull()
        .await
        .expect("the pull survives token expiry");
    assert_eq!(directory, expected);

    // Seven data calls succeed (department/list, agent/get, 5 user/list), two per token: four
    // tokens, and each of the first three dies on the call after its second (42001, then 40014),
    // which is sent again with the next token.
    let want = counts(&[
        (GETTOKEN, 4),
        (DEPARTMENT_LIST, 1),
        (AGENT_GET, 1),
        (USER_LIST, 8),
    ]);
    assert_eq!(stats.calls, want);
    assert_eq!(wecom.call_counts(), want);
}

#[tokio::test]
async fn token_expiry_with_concurrent_requests_still_pulls_everything() {
    let expected = baseline(small_org()).await;
    let wecom = start(small_org()).await;
    // A budget at least the concurrency: the requests in flight when a token dies all fit in
    // the next token's budget.
    wecom.set_faults(Faults {
        token_expires_after_calls: Some(4),
        ..Faults::default()
    });
    let Pulled { directory, stats } = puller(&wecom, |c| c.concurrency = 4)
        .pull()
        .await
        .expect("the pull survives token expiry");
    assert_eq!(directory, expected);
    assert!(stats.calls[GETTOKEN] >= 2, "{:?}", stats.calls);
    assert_eq!(stats.calls, wecom.call_counts());
}

#[tokio::test]
async fn tokens_revoked_between_pulls_are_replaced() {
    let wecom = start(small_org()).await;
    let puller = puller(&wecom, |_| {});
    let first = puller.pull().await.unwrap();
    wecom.expire_tokens();
    wecom.reset_calls();
    let second = puller.pull().await.expect("the cached token is replaced");
    assert_eq!(second.directory, first.directory);
    // department/list is refused (40014) with the cached token, then sent again once.
    let want = counts(&[
        (GETTOKEN, 1),
        (DEPARTMENT_LIST, 2),
        (AGENT_GET, 1),
        (USER_LIST, 5),
    ]);
    assert_eq!(second.stats.calls, want);
    assert_eq!(wecom.call_counts(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_revoked_mid_pull_are_replaced() {
    let expected = baseline(small_org()).await;
    let wecom = std::sync::Arc::new(start(small_org()).await);
    // Every call waits this long in the emulator before its token is checked, so the pull is
    // always inside some call's wait when the tokens are revoked below.
    wecom.set_faults(Faults {
        delay: Duration::from_millis(150),
        ..Faults::default()
    });
    let puller = puller(&wecom, |c| c.concurrency = 1);
    let watcher = {
        let wecom = wecom.clone();
        async move {
            // The second user/list has arrived (and is waiting): revoke now.
            while wecom.calls(USER_LIST) < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            wecom.expire_tokens();
        }
    };
    let (pulled, ()) = tokio::join!(puller.pull(), watcher);
    let Pulled { directory, stats } = pulled.expect("the pull survives revocation");
    assert_eq!(directory, expected);
    // One call was refused and sent again with the one new token.
    assert_eq!(stats.calls[GETTOKEN], 2, "{:?}", stats.calls);
    assert_eq!(
        stats.calls[DEPARTMENT_LIST] + stats.calls[AGENT_GET] + stats.calls[USER_LIST],
        1 + 1 + 5 + 1
    );
    assert_eq!(stats.calls, wecom.call_counts());
}

// ---------------------------------------------------------------------------------------------
// Transient faults
// ---------------------------------------------------------------------------------------------

/// Pulls the small org under `faults` and checks the result equals the fault-free pull. Returns
/// (retries, data calls).
async fn pull_under(faults: Faults, max_attempts: usize) -> (u64, u64) {
    let expected = baseline(small_org()).await;
    let wecom = start(small_org()).await;
    wecom.set_faults(faults.clone());
    let Pulled { directory, stats } = puller(&wecom, |c| c.retry = fast_retry(max_attempts))
        .pull()
        .await
        .unwrap_or_else(|e| panic!("pull under {faults:?} failed: {e}"));
    assert_eq!(directory, expected, "pull under {faults:?}");
    assert_eq!(stats.calls, wecom.call_counts());
    assert_eq!(stats.calls[GETTOKEN], 1, "no token trouble expected");
    (stats.retries, stats.total_calls() - stats.calls[GETTOKEN])
}

/// Seven data calls must succeed. The emulator faults every `every`th data call but spares the
/// retry of a request that just got a fault (the fault moves to the next other request), so each
/// fault costs exactly one retry: calls = 7 + retries, and the faults number floor(calls / every),
/// one fewer when the last slot fell on a spared retry. Holds whatever the order of concurrent
/// requests.
fn assert_each_fault_cost_one_retry((retries, calls): (u64, u64), every: u64) {
    assert!(
        retries > 0,
        "no fault hit: {retries} retries in {calls} calls"
    );
    assert_eq!(calls, 7 + retries, "every fault costs one retry");
    let slots = calls / every;
    assert!(
        retries == slots || retries + 1 == slots,
        "{retries} retries in {calls} calls with a fault every {every}"
    );
}

#[tokio::test]
async fn rate_limit_45009_is_retried() {
    let faults = Faults {
        rate_limit_every: Some(3),
        ..Faults::default()
    };
    assert_each_fault_cost_one_retry(pull_under(faults, 4).await, 3);
}

#[tokio::test]
async fn concurrency_limit_45033_is_retried() {
    let faults = Faults {
        concurrency_limit_every: Some(2),
        ..Faults::default()
    };
    assert_each_fault_cost_one_retry(pull_under(faults, 10).await, 2);
}

#[tokio::test]
async fn http_5xx_every_nth_call_is_retried() {
    let faults = Faults {
        http_5xx_every: Some(3),
        ..Faults::default()
    };
    assert_each_fault_cost_one_retry(pull_under(faults, 4).await, 3);
}

#[tokio::test]
async fn malformed_json_every_nth_call_is_retried() {
    let faults = Faults {
        malformed_json_every: Some(2),
        ..Faults::default()
    };
    assert_each_fault_cost_one_retry(pull_under(faults, 10).await, 2);
}

#[tokio::test]
async fn persistent_5xx_exhausts_naming_the_endpoint() {
    let wecom = start(small_org()).await;
    wecom.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let error = puller(&wecom, |c| c.retry = fast_retry(3))
        .pull()
        .await
        .expect_err("every data call fails");
    match &error {
        PullError::Exhausted {
            endpoint,
            attempts,
            last,
            ..
        } => {
            assert_eq!(endpoint, DEPARTMENT_LIST);
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last, PullError::HttpStatus { status: 502, .. }),
                "last: {last:?}"
            );
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    let text = error.to_string();
    assert!(text.contains(DEPARTMENT_LIST), "{text}");
    assert!(text.contains("wecom"), "{text}");
    // Exactly max_attempts tries, and nothing after the failed step.
    assert_eq!(wecom.calls(DEPARTMENT_LIST), 3);
    assert_eq!(wecom.calls(USER_LIST), 0);
}

// ---------------------------------------------------------------------------------------------
// Timeouts and secrets in errors
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "s3cret-Zq81-do-not-print";

async fn start_with_secret(org: Org) -> WecomHandle {
    let config = WecomConfig {
        corpsecret: SECRET.to_owned(),
        ..WecomConfig::default()
    };
    wecom::start(org, config).await.expect("emulator starts")
}

fn assert_is_timeout(error: &PullError, endpoint: &str) {
    match error {
        PullError::Exhausted {
            endpoint: at, last, ..
        } => {
            assert_eq!(at, endpoint);
            assert!(
                matches!(**last, PullError::Transport { .. }),
                "last: {last:?}"
            );
        }
        PullError::Transport { endpoint: at, .. } => assert_eq!(at, endpoint),
        other => panic!("expected a transport failure, got {other:?}"),
    }
}

#[tokio::test]
async fn token_request_slower_than_the_timeout_fails_without_leaking_the_secret() {
    let wecom = start_with_secret(small_org()).await;
    wecom.set_faults(Faults {
        delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let error = puller(&wecom, |c| {
        c.timeout = HumanDuration(Duration::from_millis(100));
        c.retry = fast_retry(2);
    })
    .pull()
    .await
    .expect_err("every call is slower than the timeout");
    assert_is_timeout(&error, GETTOKEN);
    let text = error.to_string();
    let debug = format!("{error:?}");
    for leak in [SECRET, "access_token", "corpsecret", "127.0.0.1"] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
        assert!(!debug.contains(leak), "{leak:?} in {debug}");
    }
    assert_eq!(wecom.calls(GETTOKEN), 2);
}

#[tokio::test]
async fn data_call_slower_than_the_timeout_fails_without_leaking_the_token() {
    let wecom = start_with_secret(small_org()).await;
    let puller = puller(&wecom, |c| {
        c.timeout = HumanDuration(Duration::from_millis(200));
        c.retry = fast_retry(2);
    });
    // A first pull caches a token; the emulator hands the same one to anyone asking, so the
    // test can learn its value.
    puller.pull().await.expect("fault-free pull");
    let token = current_token(&wecom).await;
    assert!(token.len() > 8);

    wecom.set_faults(Faults {
        delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let error = puller
        .pull()
        .await
        .expect_err("every call is slower than the timeout");
    assert_is_timeout(&error, DEPARTMENT_LIST);
    let text = error.to_string();
    let debug = format!("{error:?}");
    for leak in [token.as_str(), SECRET, "access_token"] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
        assert!(!debug.contains(leak), "{leak:?} in {debug}");
    }
}

async fn current_token(wecom: &WecomHandle) -> String {
    let url = format!("{}{GETTOKEN}", wecom.base_url());
    let body: serde_json::Value = reqwest::Client::new()
        .get(url)
        .query(&[
            ("corpid", wecom.config().corpid.as_str()),
            ("corpsecret", SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errcode"], 0, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn wrong_secret_is_a_credentials_error_without_the_secret() {
    let wecom = start(small_org()).await;
    let wrong = "wrong-secret-Hk29-do-not-print";
    let mut config = source_config(&wecom);
    config.retry = fast_retry(4);
    let error = WecomPuller::new(config, Secret::new(wrong))
        .unwrap()
        .pull()
        .await
        .expect_err("the secret is wrong");
    match &error {
        PullError::Credentials { code, .. } => assert_eq!(*code, 40001),
        other => panic!("expected Credentials, got {other:?}"),
    }
    let text = error.to_string();
    assert!(!text.contains(wrong), "{text}");
    assert!(!format!("{error:?}").contains(wrong));
    // Refused credentials are not retried, and nothing else is asked.
    assert_eq!(wecom.call_counts(), counts(&[(GETTOKEN, 1)]));
}

#[tokio::test]
async fn wrong_corp_id_is_a_credentials_error() {
    let wecom = start(small_org()).await;
    let error = puller(&wecom, |c| c.corp_id = "ww-some-other-corp".into())
        .pull()
        .await
        .expect_err("the corp id is wrong");
    assert!(
        matches!(error, PullError::Credentials { code: 40013, .. }),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Volume
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn generated_org_pulls_with_d_plus_3_calls() {
    let org = generate(&GeneratorConfig {
        people: 2000,
        departments: 100,
        ..GeneratorConfig::default()
    });
    let visibility = org.visibility();
    assert!(org.scope.users.is_empty(), "no individual grants expected");
    let visible_departments = visibility.departments.len();
    let visible: Vec<&fixture::User> = org
        .users
        .iter()
        .filter(|u| visibility.is_user_visible(u))
        .collect();
    // The generator leaves part of the org out of scope: the check below would not be
    // meaningful otherwise.
    assert!(visible_departments < org.departments.len());
    assert!(visible.len() < org.users.len() && !visible.is_empty());

    let wecom = start(org.clone()).await;
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.unwrap();

    let d = visible_departments as u64;
    assert_eq!(
        stats.calls,
        counts(&[
            (GETTOKEN, 1),
            (DEPARTMENT_LIST, 1),
            (AGENT_GET, 1),
            (USER_LIST, d)
        ])
    );
    assert_eq!(stats.total_calls(), d + 3);
    assert_eq!(wecom.total_calls(), d + 3);
    assert_eq!(directory.departments.len(), visible_departments);
    assert_eq!(directory.users.len(), visible.len());
    assert!(directory.held.is_empty());
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);

    for fixture_user in visible {
        let pulled = directory
            .users
            .get(&UserKey::new(fixture_user.id.as_str()))
            .unwrap_or_else(|| panic!("{} missing", fixture_user.id));
        assert_eq!(pulled.display_name, fixture_user.name);
        let manager = fixture_user
            .manager
            .as_deref()
            .filter(|m| org.user(m).is_some_and(|m| visibility.is_user_visible(m)));
        assert_eq!(
            pulled.manager.as_ref().map(UserKey::as_str),
            manager,
            "{}",
            fixture_user.id
        );
        let main = fixture_user
            .main_department
            .or(fixture_user.departments.first().copied())
            .unwrap();
        if visibility.is_department_visible(main) {
            assert_eq!(
                pulled.departments.first(),
                Some(&DepartmentId::new(main.to_string()))
            );
        }
        let want_status = match fixture_user.status {
            fixture::Status::Active => Status::Active,
            fixture::Status::Disabled => Status::Disabled,
            fixture::Status::NotActivated => Status::NotActivated,
            fixture::Status::Resigned => Status::Resigned,
        };
        assert_eq!(pulled.status, want_status);
    }
}

// ---------------------------------------------------------------------------------------------
// agent_id is required
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missing_agent_id_is_a_config_error_saying_where_to_find_it() {
    let text = "[connectors.hq]\n[connectors.hq.source]\nkind = \"wecom\"\ncorp_id = \"ww1\"\n\
                secret = \"env:S\"\n[connectors.hq.target]\nkind = \"scim\"\ntoken = \"env:T\"\n\
                base_url = \"https://scim.example.com/v2\"\n";
    let error = orgsync::config::Config::from_toml(text, std::path::Path::new("orgsync.toml"))
        .expect_err("agent_id is required")
        .to_string();
    for needle in ["agent_id", "AgentId", "应用管理", "hq"] {
        assert!(error.contains(needle), "{needle:?} missing from: {error}");
    }
    // With it, the same file loads.
    let with = text.replace(
        "secret = \"env:S\"\n",
        "secret = \"env:S\"\nagent_id = 1000002\n",
    );
    orgsync::config::Config::from_toml(&with, std::path::Path::new("orgsync.toml"))
        .expect("the same config with agent_id loads");
}

#[test]
fn a_puller_without_agent_id_is_not_built() {
    let config = WecomSourceConfig::new(
        "ww1",
        SecretRef::Env("UNUSED".into()),
        url::Url::parse("http://127.0.0.1:9").unwrap(),
    );
    assert!(config.validate().unwrap_err().contains("AgentId"));
    match WecomPuller::new(config, Secret::new("s")) {
        Err(PullError::Setup { detail }) => assert!(detail.contains("agent_id"), "{detail}"),
        Err(other) => panic!("expected a setup error, got {other:?}"),
        Ok(_) => panic!("built a puller without agent_id"),
    }
}

// ---------------------------------------------------------------------------------------------
// Visible range by tag
// ---------------------------------------------------------------------------------------------

/// The small org seen by an app whose range is department 2 directly, plus tag 7 (zhao, who sits
/// in invisible department 5, and department 4 with its subtree 5) and the empty tag 8.
fn tag_scoped() -> (Org, WecomConfig) {
    let org = Org {
        scope: Scope {
            departments: vec![2],
            users: Vec::new(),
        },
        ..small_org()
    };
    let config = WecomConfig {
        tags: vec![
            WecomTag {
                id: 7,
                name: "华东".into(),
                users: vec!["zhao".into(), "zoe".into()],
                departments: vec![4],
            },
            WecomTag {
                id: 8,
                name: "空".into(),
                users: Vec::new(),
                departments: Vec::new(),
            },
        ],
        allow_tags: vec![7, 8],
        ..WecomConfig::default()
    };
    (org, config)
}

#[tokio::test]
async fn people_and_department_subtrees_of_a_tag_are_pulled() {
    let (org, config) = tag_scoped();
    let wecom = wecom::start(org, config).await.unwrap();
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.unwrap();

    // Department 4 and its subtree 5 come through tag 7, with their people.
    assert_eq!(directory.departments, expected_departments(&[2, 3, 4, 5]));
    let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
    assert_eq!(
        keys,
        vec!["kim", "lin.xiao", "rd.head", "sam", "zhao", "zoe"]
    );
    assert_eq!(
        directory.users[&UserKey::new("zhao")].manager,
        Some(UserKey::new("sam"))
    );
    assert_eq!(
        directory.scope.departments,
        vec![DepartmentId::new("2"), DepartmentId::new("4")]
    );
    assert_eq!(
        directory.scope.users,
        vec![UserKey::new("zhao"), UserKey::new("zoe")]
    );
    // Department 4's parent is invisible, but 4 is a range root.
    assert!(directory.problems.is_empty(), "{:?}", directory.problems);

    // D + T + 3; zhao and zoe were met in department listings: no user/get.
    let expected = counts(&[
        (GETTOKEN, 1),
        (DEPARTMENT_LIST, 1),
        (AGENT_GET, 1),
        (TAG_GET, 2),
        (USER_LIST, 4),
    ]);
    assert_eq!(stats.calls, expected);
    assert_eq!(wecom.call_counts(), expected);
}

#[tokio::test]
async fn a_tag_person_outside_every_visible_department_is_read_one_by_one() {
    let (org, mut config) = tag_scoped();
    // Tag 7 holds only zhao now: department 5 stays invisible.
    config.tags[0].departments.clear();
    let wecom = wecom::start(org, config).await.unwrap();
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.unwrap();
    let zhao = &directory.users[&UserKey::new("zhao")];
    assert_eq!(zhao.display_name, "赵六");
    assert!(zhao.departments.is_empty());
    assert!(!directory.users.contains_key(&UserKey::new("sam")));
    assert_eq!(stats.calls[USER_GET], 1, "{:?}", stats.calls);
    assert_eq!(stats.calls[TAG_GET], 2);
}

#[tokio::test]
async fn tags_that_are_gone_or_hostile_are_reported_not_fatal() {
    let (org, mut config) = tag_scoped();
    // 404 does not exist; 9 names a department and a person that do not exist.
    config.tags.push(WecomTag {
        id: 9,
        name: "stale".into(),
        users: vec!["ghost".into(), String::new()],
        departments: vec![77],
    });
    config.allow_tags = vec![7, 404, 8, 9, 7];
    let wecom = wecom::start(org, config).await.unwrap();
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.unwrap();
    assert_eq!(directory.departments, expected_departments(&[2, 3, 4, 5]));
    assert!(directory.users.contains_key(&UserKey::new("zhao")));
    assert_eq!(
        directory.problems,
        vec![
            Problem::ScopeEntryUnreadable {
                entry: "tag 404".into(),
                code: 40068,
            },
            Problem::ScopeEntryUnreadable {
                entry: "department 77".into(),
                code: 60123,
            },
        ]
    );
    // Each tag once, however often it is listed; the missing department tried once; the
    // missing person (60111) is gone, not a problem.
    assert_eq!(stats.calls[TAG_GET], 4);
    assert_eq!(stats.calls[DEPARTMENT_LIST], 2);
    assert_eq!(stats.calls[USER_GET], 1);
}

/// A focused pull (an event's run, `sync --person`) on a range set by tag, on both read paths:
/// zhao (through tag 7, in its department 4's subtree or alone), sam (in tag 7's department
/// 4), zoe (through tag 7 and department 2) and the ceo (outside the range) are read exactly as
/// the whole pull reads them, or not found.
#[tokio::test]
async fn a_focused_pull_reads_the_people_of_a_tag_as_a_whole_pull_does() {
    for list_access in [ListAccess::Granted, ListAccess::Refused] {
        for tag_departments in [vec![4], Vec::new()] {
            let (org, mut config) = tag_scoped();
            config.tags[0].departments = tag_departments.clone();
            config.list_access = list_access;
            let wecom = wecom::start(org, config).await.unwrap();
            let case = format!("{list_access:?}, tag departments {tag_departments:?}");
            let whole = puller(&wecom, |_| {}).pull().await.unwrap().directory;
            let keys: Vec<UserKey> = ["zhao", "sam", "zoe", "ceo"]
                .into_iter()
                .map(UserKey::new)
                .collect();
            let focused = puller(&wecom, |_| {}).pull_people(&keys).await.unwrap();
            let got = &focused.pulled.directory;
            for key in &keys {
                assert_eq!(got.users.get(key), whole.users.get(key), "{case}: {key}");
            }
            let not_found = keys
                .iter()
                .filter(|k| !whole.users.contains_key(*k))
                .cloned()
                .collect();
            assert_eq!(focused.coverage, Coverage::Partial { not_found }, "{case}");
            for (id, department) in &got.departments {
                assert_eq!(whole.departments.get(id), Some(department), "{case}: {id}");
            }
            assert!(got.problems.is_empty(), "{case}: {:?}", got.problems);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lists refused (48002): simple lists and single reads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refused_lists_fall_back_to_the_same_directory() {
    let (org, config) = tag_scoped();
    let fast = wecom::start(org.clone(), config.clone()).await.unwrap();
    let expected = puller(&fast, |_| {}).pull().await.unwrap().directory;

    let slow = wecom::start(
        org,
        WecomConfig {
            list_access: ListAccess::Refused,
            ..config
        },
    )
    .await
    .unwrap();
    let Pulled { directory, stats } = puller(&slow, |_| {}).pull().await.unwrap();

    let (problem, rest) = directory
        .problems
        .split_last()
        .expect("the fallback is said");
    assert!(rest.is_empty(), "{:?}", directory.problems);
    // Refused: 1 department/list + 1 user/list. Instead: D department/get + P user/get (six
    // people in the four departments; zhao and zoe among them).
    let d = 4;
    let p = 6;
    assert_eq!(
        *problem,
        Problem::ListReadsRefused {
            platform: "wecom".into(),
            refused: vec!["department/list".into(), "user/list".into()],
            instead: vec![
                "department/simplelist + department/get".into(),
                "user/simplelist + user/get".into()
            ],
            extra_calls: 2 + d + p,
        }
    );
    assert_eq!(
        Directory {
            problems: Vec::new(),
            ..directory
        },
        expected
    );
    let want = counts(&[
        (GETTOKEN, 1),
        (DEPARTMENT_LIST, 1),
        (DEPARTMENT_SIMPLELIST, 1),
        (DEPARTMENT_GET, d),
        (AGENT_GET, 1),
        (TAG_GET, 2),
        (USER_LIST, 1),
        (USER_SIMPLELIST, d),
        (USER_GET, p),
    ]);
    assert_eq!(stats.calls, want);
    assert_eq!(slow.call_counts(), want);
    // The extra calls are exactly the difference from the fast path.
    assert_eq!(
        stats.total_calls(),
        (1 + 1 + 1 + 2 + d) + (2 + d + p),
        "fast path + extra"
    );
}

#[tokio::test]
async fn the_fast_path_says_nothing_about_fallbacks() {
    let wecom = start(small_org()).await;
    let Pulled { directory, stats } = puller(&wecom, |_| {}).pull().await.unwrap();
    assert!(directory.problems.is_empty());
    for path in [
        DEPARTMENT_SIMPLELIST,
        DEPARTMENT_GET,
        USER_SIMPLELIST,
        USER_GET,
    ] {
        assert!(!stats.calls.contains_key(path), "{path}: {:?}", stats.calls);
    }
}

// ---------------------------------------------------------------------------------------------
// The hourly block
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_api_blocked_for_the_hour_is_a_throttle_waited_out() {
    let expected = baseline(small_org()).await;
    // user/list answers 3 calls, then is blocked for a (shortened) hour of 600 ms.
    let wecom = wecom::start(
        small_org(),
        WecomConfig {
            hourly_limit: 3,
            hourly_block: Duration::from_millis(600),
            ..WecomConfig::default()
        },
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let Pulled { directory, stats } = puller(&wecom, |c| {
        c.concurrency = 1;
        c.retry = RetryConfig {
            max_attempts: Some(100),
            min_delay: HumanDuration(Duration::from_millis(5)),
            max_delay: HumanDuration(Duration::from_millis(20)),
            ..RetryConfig::default()
        };
        // WeCom's minute and hour, shortened alike.
        c.throttle_windows = ThrottleWindows {
            minute: Duration::from_millis(100),
            hour: Duration::from_millis(600),
        };
    })
    .pull()
    .await
    .expect("the pull waits the block out");
    assert_eq!(directory, expected);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    // Refusals for a "minute" with the usual backoff, then one throttle waited out (not
    // dozens of probes through the rest of the hour).
    let refused = wecom.hourly_block_rejections();
    assert!(refused >= 2, "{refused}");
    assert!(
        refused <= 25,
        "{refused} refusals: the throttle was not honoured"
    );
    assert_eq!(stats.calls[USER_LIST], 5 + refused);
}

#[tokio::test]
async fn an_hourly_block_is_waited_out_not_probed() {
    let wecom = wecom::start(
        small_org(),
        WecomConfig {
            hourly_limit: 0,
            hourly_block: Duration::from_secs(3600),
            ..WecomConfig::default()
        },
    )
    .await
    .unwrap();
    let error = puller(&wecom, |c| {
        c.retry = RetryConfig {
            max_attempts: Some(3),
            min_delay: HumanDuration(Duration::from_millis(60)),
            max_delay: HumanDuration(Duration::from_millis(60)),
            ..RetryConfig::default()
        };
        c.throttle_windows = ThrottleWindows {
            minute: Duration::from_millis(50),
            hour: Duration::from_secs(3600),
        };
    });
    // Every API is blocked, gettoken first. The second refusal comes more than a "minute" after
    // the first: the hourly block, a throttle asking for the rest of the hour.
    // The daemon (a service run) waits the hour out: the pull is still waiting when the test
    // gives up on it, and has not probed again.
    error
        .progress()
        .expect("the WeCom puller has progress")
        .start(ProcessMode::Service);
    let started = std::time::Instant::now();
    let pull = tokio::time::timeout(Duration::from_secs(2), error.pull()).await;
    assert!(
        pull.is_err(),
        "the pull did not wait out the hour: {pull:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(wecom.call_counts(), counts(&[(GETTOKEN, 2)]));
    // A run in a terminal does not sit silent for the hour: the wait is over its budget, so it
    // fails at once, naming the wait.
    error
        .progress()
        .expect("the WeCom puller has progress")
        .start(ProcessMode::Interactive);
    let started = std::time::Instant::now();
    let failed = tokio::time::timeout(Duration::from_secs(2), error.pull())
        .await
        .expect("an interactive run does not wait the hour");
    assert!(
        matches!(&failed, Err(PullError::OverBudget { wait, .. }) if *wait > Duration::from_secs(3000)),
        "{failed:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn generated_org_with_refused_lists_costs_2d_plus_5_plus_p_calls() {
    let org = generate(&GeneratorConfig {
        people: 600,
        departments: 40,
        ..GeneratorConfig::default()
    });
    let visibility = org.visibility();
    let d = visibility.departments.len() as u64;
    let p = org
        .users
        .iter()
        .filter(|u| visibility.is_user_visible(u))
        .count() as u64;
    let fast = start(org.clone()).await;
    let expected = puller(&fast, |_| {}).pull().await.unwrap();
    let slow = wecom::start(
        org,
        WecomConfig {
            list_access: ListAccess::Refused,
            ..WecomConfig::default()
        },
    )
    .await
    .unwrap();
    let Pulled { directory, stats } = puller(&slow, |_| {}).pull().await.unwrap();
    assert_eq!(expected.stats.total_calls(), d + 3);
    assert_eq!(stats.total_calls(), 2 * d + 5 + p);
    assert_eq!(slow.total_calls(), 2 * d + 5 + p);
    assert_eq!(directory.users, expected.directory.users);
    assert_eq!(directory.departments, expected.directory.departments);
    assert_eq!(
        directory.problems.last(),
        Some(&Problem::ListReadsRefused {
            platform: "wecom".into(),
            refused: vec!["department/list".into(), "user/list".into()],
            instead: vec![
                "department/simplelist + department/get".into(),
                "user/simplelist + user/get".into()
            ],
            extra_calls: 2 + d + p,
        })
    );
    eprintln!(
        "D = {d}, P = {p}: lists {} calls, refused lists {} calls",
        expected.stats.total_calls(),
        stats.total_calls()
    );
}

// ---------------------------------------------------------------------------------------------
// Profile and custom fields
// ---------------------------------------------------------------------------------------------

/// The small org with a full profile and two custom fields (one a link) on lin.xiao.
fn org_with_profile(sensitive_fields: bool) -> Org {
    let mut org = small_org();
    org.sensitive_fields = sensitive_fields;
    let lin = org
        .users
        .iter_mut()
        .find(|u| u.id == "lin.xiao")
        .expect("lin.xiao is in the small org");
    lin.profile = fixture::Profile {
        english_name: Some("Lin Xiao".into()),
        enterprise_email: Some("lin.xiao@corp.wecom.work".into()),
        telephone: Some("020-123456".into()),
        gender: Some("female".into()),
        work_place: Some("广州市海珠区新港中路".into()),
        avatar: Some("https://wx.qlogo.cn/mmopen/lin/0".into()),
        // Not WeCom fields: never served, never read.
        hire_date: Some("2021-03-01".into()),
        employee_type: Some("regular".into()),
    };
    lin.custom = BTreeMap::from([
        ("工位".to_owned(), "A-12".to_owned()),
        ("主页".to_owned(), "https://lin.example.cn/".to_owned()),
    ]);
    org
}

fn profile_of(directory: &Directory, key: &str) -> Vec<(String, String)> {
    directory.users[&UserKey::new(key)]
        .profile
        .iter()
        .map(|(key, value)| (format!("{key:?}"), value.to_owned()))
        .collect()
}

#[tokio::test]
async fn profile_and_extattr_fields_reach_the_user_profile_on_both_read_paths() {
    use orgsync::model::ProfileField;
    for access in [ListAccess::Granted, ListAccess::Refused] {
        let wecom = wecom::start(
            org_with_profile(true),
            WecomConfig {
                list_access: access,
                ..WecomConfig::default()
            },
        )
        .await
        .expect("emulator starts");
        let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
        let profile = &directory.users[&UserKey::new("lin.xiao")].profile;
        let standard: Vec<(ProfileField, Option<&str>)> = ProfileField::ALL
            .iter()
            .map(|&field| (field, profile.get(field)))
            .collect();
        assert_eq!(
            standard,
            [
                (ProfileField::EnglishName, Some("Lin Xiao")),
                (
                    ProfileField::EnterpriseEmail,
                    Some("lin.xiao@corp.wecom.work")
                ),
                (ProfileField::Telephone, Some("020-123456")),
                (ProfileField::EmployeeType, None),
                (ProfileField::Gender, Some("female")),
                (ProfileField::WorkPlace, Some("广州市海珠区新港中路")),
                (ProfileField::HireDate, None),
                (
                    ProfileField::Avatar,
                    Some("https://wx.qlogo.cn/mmopen/lin/0")
                ),
            ],
            "{access:?}"
        );
        // A text extattr gives its value, a web extattr its URL.
        assert_eq!(profile.custom("工位"), Some("A-12"), "{access:?}");
        assert_eq!(
            profile.custom("主页"),
            Some("https://lin.example.cn/"),
            "{access:?}"
        );
        assert_eq!(profile.custom_names().count(), 2, "{access:?}");
        // Nobody else has a profile in the fixture.
        assert!(profile_of(&directory, "ceo").is_empty(), "{access:?}");
        // The refused path reports its fallback; nothing else is reported.
        assert!(
            directory
                .problems
                .iter()
                .all(|p| matches!(p, Problem::ListReadsRefused { .. })),
            "{:?}",
            directory.problems
        );
    }
}

#[tokio::test]
async fn without_sensitive_fields_the_withheld_profile_fields_are_absent() {
    use orgsync::model::ProfileField;
    let wecom = start(org_with_profile(false)).await;
    let directory = puller(&wecom, |_| {}).pull().await.unwrap().directory;
    let profile = &directory.users[&UserKey::new("lin.xiao")].profile;
    // gender, biz_mail, avatar and address are withheld from apps created after 2022-06-20;
    // alias, telephone and extattr are not.
    let present: Vec<ProfileField> = ProfileField::ALL
        .into_iter()
        .filter(|&field| profile.get(field).is_some())
        .collect();
    assert_eq!(
        present,
        [ProfileField::EnglishName, ProfileField::Telephone]
    );
    assert_eq!(profile.custom("工位"), Some("A-12"));
}
