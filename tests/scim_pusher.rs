//! The SCIM pusher against the in-process SCIM 2.0 emulator: what each operation leaves in the
//! target, idempotency under retries and ambiguous timeouts, paging, and errors.

use emulators::scim::{self, ScimConfig, ScimFaults, ScimHandle, ScimUser};
use orgsync::config::{HumanDuration, RetryConfig, Secret, SecretRef};
use orgsync::model::{Attributes, Field, FieldChange, TargetId, UserKey};
use orgsync::pushers::scim::{ScimPusher, ScimTargetConfig};
use orgsync::pushers::{PushError, Pusher};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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

fn target_config(scim: &ScimHandle) -> ScimTargetConfig {
    let mut config = ScimTargetConfig::new(
        url::Url::parse(scim.base_url()).expect("emulator URL parses"),
        SecretRef::Env("ORGSYNC_TEST_UNUSED".into()),
    );
    config.retry = fast_retry(4);
    config.timeout = HumanDuration(Duration::from_secs(10));
    config
}

fn pusher(scim: &ScimHandle, tweak: impl FnOnce(&mut ScimTargetConfig)) -> ScimPusher {
    let mut config = target_config(scim);
    tweak(&mut config);
    config.validate().expect("test config is valid");
    ScimPusher::new(config, Secret::new(scim.bearer_token())).expect("pusher builds")
}

async fn start() -> ScimHandle {
    scim::start(ScimConfig::default())
        .await
        .expect("emulator starts")
}

fn key(k: &str) -> UserKey {
    UserKey::new(k)
}

fn full_attributes() -> Attributes {
    Attributes::new("lin.xiao@example.cn", "林晓")
        .with(Field::Email, Some("lin.xiao@example.cn".into()))
        .with(Field::Mobile, Some("13800000004".into()))
        .with(Field::Title, Some("后端工程师".into()))
        .with(Field::EmployeeNumber, Some("E000004".into()))
        .with(Field::Department, Some("平台组".into()))
}

fn simple_attributes(user_name: &str) -> Attributes {
    Attributes::new(user_name, format!("Name of {user_name}"))
}

/// The stored user `full_attributes()` must produce.
fn full_user(id: &str, version: u64) -> ScimUser {
    ScimUser {
        id: id.to_owned(),
        external_id: Some("lin.xiao".into()),
        display_name: Some("林晓".into()),
        formatted_name: Some("林晓".into()),
        emails: vec!["lin.xiao@example.cn".into()],
        // The emulator keeps each entry's type: the pusher sends a work e-mail, a mobile phone.
        email_types: vec![Some("work".into())],
        phone_numbers: vec!["13800000004".into()],
        phone_types: vec![Some("mobile".into())],
        title: Some("后端工程师".into()),
        active: true,
        employee_number: Some("E000004".into()),
        department: Some("平台组".into()),
        manager_id: None,
        version,
        ..ScimUser::new("lin.xiao@example.cn")
    }
}

fn with_external_id(scim: &ScimHandle, external_id: &str) -> Vec<ScimUser> {
    scim.users()
        .into_iter()
        .filter(|u| u.external_id.as_deref() == Some(external_id))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// create
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_stores_exact_attributes() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("lin.xiao"), &full_attributes(), true)
        .await
        .expect("create succeeds");

    let users = scim.users();
    assert_eq!(users.len(), 1);
    let stored = &users[0];
    assert_eq!(stored.id, id.as_str());
    assert_eq!(*stored, full_user(id.as_str(), stored.version));

    // The wire shape (primary work email, mobile phone type) is checked in the unit tests of
    // `pushers::scim::convert`: the emulator keeps values only.

    let counters = scim.counters();
    assert_eq!((counters.posts, counters.puts), (1, 0));
}

#[tokio::test]
async fn create_unlisted_posts_without_a_lookup_and_still_adopts_its_own_account() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create_unlisted(&key("lin.xiao"), &full_attributes(), true)
        .await
        .expect("create succeeds");
    let stored = scim.user(id.as_str()).expect("the account exists");
    assert_eq!(stored, full_user(id.as_str(), stored.version));
    let counters = scim.counters();
    assert_eq!((counters.gets, counters.posts), (0, 1), "no lookup first");

    // The same create again (a retry whose first attempt landed) meets the userName clash and
    // takes over its own account instead of failing or duplicating it.
    scim.reset_counters();
    let again = pusher
        .create_unlisted(&key("lin.xiao"), &full_attributes(), true)
        .await
        .expect("the repeated create adopts");
    assert_eq!(again, id);
    assert_eq!(with_external_id(&scim, "lin.xiao").len(), 1);
    let counters = scim.counters();
    assert_eq!((counters.posts, counters.gets, counters.puts), (1, 1, 1));
}

#[tokio::test]
async fn create_inactive_and_minimal() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("kim"), &Attributes::new("kim", "김민준"), false)
        .await
        .unwrap();
    let stored = scim.user(id.as_str()).unwrap();
    assert_eq!(
        stored,
        ScimUser {
            id: id.as_str().to_owned(),
            external_id: Some("kim".into()),
            display_name: Some("김민준".into()),
            formatted_name: Some("김민준".into()),
            active: false,
            version: stored.version,
            ..ScimUser::new("kim")
        }
    );
}

#[tokio::test]
async fn create_again_adopts_and_replaces() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let first = pusher
        .create(&key("lin.xiao"), &full_attributes(), true)
        .await
        .unwrap();

    let changed = Attributes::new("lin.xiao@example.cn", "林小晓")
        .with(Field::Email, Some("lin.xiao@example.cn".into()))
        .with(Field::Title, Some("架构师".into()))
        .with(Field::Department, Some("研发部".into()));
    let second = pusher
        .create(&key("lin.xiao"), &changed, false)
        .await
        .expect("create again succeeds");
    assert_eq!(second, first, "the existing account is adopted");

    let users = scim.users();
    assert_eq!(users.len(), 1, "still one account");
    let stored = &users[0];
    assert_eq!(
        *stored,
        ScimUser {
            id: first.as_str().to_owned(),
            external_id: Some("lin.xiao".into()),
            display_name: Some("林小晓".into()),
            formatted_name: Some("林小晓".into()),
            emails: vec!["lin.xiao@example.cn".into()],
            email_types: vec![Some("work".into())],
            title: Some("架构师".into()),
            active: false,
            department: Some("研发部".into()),
            version: stored.version,
            ..ScimUser::new("lin.xiao@example.cn")
        }
    );
    let counters = scim.counters();
    assert_eq!((counters.posts, counters.puts), (1, 1));
}

#[tokio::test]
async fn create_adopts_an_account_made_behind_its_back() {
    let scim = start().await;
    let existing = scim.insert_user(ScimUser {
        external_id: Some("sam".into()),
        title: Some("old title".into()),
        ..ScimUser::new("sam.old")
    });
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("sam"), &simple_attributes("sam"), true)
        .await
        .unwrap();
    assert_eq!(id.as_str(), existing);
    let users = scim.users();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].user_name, "sam");
    assert_eq!(users[0].title, None);
}

#[tokio::test]
async fn create_with_a_taken_user_name_is_a_conflict() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let first = pusher
        .create(&key("a"), &simple_attributes("shared.name"), true)
        .await
        .unwrap();
    // userName is unique case-insensitively.
    let error = pusher
        .create(&key("b"), &simple_attributes("Shared.Name"), true)
        .await
        .expect_err("the userName is taken");
    assert!(matches!(error, PushError::Conflict { .. }), "{error:?}");
    let users = scim.users();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].id, first.as_str());
    assert_eq!(users[0].external_id.as_deref(), Some("a"));
    // A conflict is final: one POST, no retry.
    assert_eq!(scim.counters().posts, 2);
}

// ---------------------------------------------------------------------------------------------
// update, set_manager, set_active, delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn update_changes_exactly_the_given_fields() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("lin.xiao"), &full_attributes(), true)
        .await
        .unwrap();
    let change = |field, before: Option<&str>, after: Option<&str>| FieldChange {
        field,
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    };
    let changes = [
        change(Field::DisplayName, Some("林晓"), Some("林小晓")),
        change(Field::Mobile, Some("13800000004"), None),
        change(Field::Title, Some("后端工程师"), Some("架构师")),
        change(Field::EmployeeNumber, Some("E000004"), Some("E000044")),
        change(Field::Department, Some("平台组"), None),
    ];
    pusher.update(&id, &changes).await.expect("update succeeds");

    let stored = scim.user(id.as_str()).unwrap();
    assert_eq!(
        stored,
        ScimUser {
            display_name: Some("林小晓".into()),
            formatted_name: Some("林小晓".into()),
            phone_numbers: Vec::new(),
            phone_types: Vec::new(),
            title: Some("架构师".into()),
            employee_number: Some("E000044".into()),
            department: None,
            ..full_user(id.as_str(), stored.version)
        }
    );
    assert_eq!(scim.counters().patches, 1, "one PATCH for all changes");
}

#[tokio::test]
async fn update_replaces_and_clears_email_and_user_name() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("lin.xiao"), &full_attributes(), true)
        .await
        .unwrap();
    let changes = [
        FieldChange {
            field: Field::UserName,
            before: Some("lin.xiao@example.cn".into()),
            after: Some("lin.xiao".into()),
        },
        FieldChange {
            field: Field::Email,
            before: Some("lin.xiao@example.cn".into()),
            after: Some("xiao.lin@example.cn".into()),
        },
    ];
    pusher.update(&id, &changes).await.unwrap();
    let stored = scim.user(id.as_str()).unwrap();
    assert_eq!(stored.user_name, "lin.xiao");
    assert_eq!(stored.emails, vec!["xiao.lin@example.cn".to_owned()]);
    assert_eq!(stored.title.as_deref(), Some("后端工程师"));

    let clear_email = [FieldChange {
        field: Field::Email,
        before: Some("xiao.lin@example.cn".into()),
        after: None,
    }];
    pusher.update(&id, &clear_email).await.unwrap();
    assert!(scim.user(id.as_str()).unwrap().emails.is_empty());
}

#[tokio::test]
async fn update_without_changes_sends_nothing() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("k"), &simple_attributes("k"), true)
        .await
        .unwrap();
    scim.reset_counters();
    pusher.update(&id, &[]).await.unwrap();
    assert_eq!(scim.counters(), Default::default());
}

#[tokio::test]
async fn set_manager_sets_and_clears() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let boss = pusher
        .create(&key("boss"), &simple_attributes("boss"), true)
        .await
        .unwrap();
    let report = pusher
        .create(&key("report"), &simple_attributes("report"), true)
        .await
        .unwrap();

    pusher.set_manager(&report, Some(&boss)).await.unwrap();
    assert_eq!(
        scim.user(report.as_str()).unwrap().manager_id.as_deref(),
        Some(boss.as_str())
    );
    assert_eq!(scim.user(boss.as_str()).unwrap().manager_id, None);
    // Idempotent.
    pusher.set_manager(&report, Some(&boss)).await.unwrap();
    assert_eq!(
        scim.user(report.as_str()).unwrap().manager_id.as_deref(),
        Some(boss.as_str())
    );

    pusher.set_manager(&report, None).await.unwrap();
    assert_eq!(scim.user(report.as_str()).unwrap().manager_id, None);
    pusher.set_manager(&report, None).await.unwrap();
    assert_eq!(scim.user(report.as_str()).unwrap().manager_id, None);

    let accounts = pusher.list().await.unwrap();
    assert!(accounts.iter().all(|a| a.manager.is_none()));
}

#[tokio::test]
async fn set_active_toggles() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("k"), &simple_attributes("k"), true)
        .await
        .unwrap();
    pusher.set_active(&id, false).await.unwrap();
    assert!(!scim.user(id.as_str()).unwrap().active);
    pusher.set_active(&id, false).await.unwrap();
    assert!(!scim.user(id.as_str()).unwrap().active);
    pusher.set_active(&id, true).await.unwrap();
    assert!(scim.user(id.as_str()).unwrap().active);
}

#[tokio::test]
async fn delete_removes_and_a_second_delete_succeeds() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let id = pusher
        .create(&key("k"), &simple_attributes("k"), true)
        .await
        .unwrap();
    let other = pusher
        .create(&key("other"), &simple_attributes("other"), true)
        .await
        .unwrap();
    pusher.delete(&id).await.expect("delete succeeds");
    assert_eq!(scim.user(id.as_str()), None);
    assert!(scim.user(other.as_str()).is_some(), "only that account");
    pusher
        .delete(&id)
        .await
        .expect("deleting again (404) is Ok");
    pusher
        .delete(&TargetId::new("never-existed"))
        .await
        .expect("deleting an unknown id is Ok");
    assert_eq!(scim.users().len(), 1);
    assert_eq!(scim.counters().deletes, 3);
}

#[tokio::test]
async fn operations_on_a_missing_account_fail_with_404() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let error = pusher
        .set_active(&TargetId::new("missing"), false)
        .await
        .expect_err("no such account");
    assert!(
        matches!(error, PushError::Status { status: 404, .. }),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

async fn list_2500(page_size: usize) -> (usize, u64) {
    let scim = scim::start(ScimConfig {
        max_page_size: 1000,
        ..ScimConfig::default()
    })
    .await
    .unwrap();
    for i in 0..2500 {
        scim.insert_user(ScimUser {
            external_id: Some(format!("k{i:04}")),
            display_name: Some(format!("Person {i}")),
            title: (i % 2 == 0).then(|| format!("title {i}")),
            ..ScimUser::new(format!("user{i:04}"))
        });
    }
    let pusher = pusher(&scim, |c| c.page_size = page_size);
    let accounts = pusher.list().await.expect("list succeeds");
    let ids: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let keys: BTreeSet<&str> = accounts
        .iter()
        .filter_map(|a| a.external_id.as_ref().map(UserKey::as_str))
        .collect();
    let stored: BTreeSet<String> = scim.users().into_iter().map(|u| u.id).collect();
    assert_eq!(accounts.len(), 2500, "each account exactly once");
    assert_eq!(ids.len(), 2500);
    assert_eq!(keys.len(), 2500);
    assert!(ids.iter().all(|id| stored.contains(*id)));

    let sample = accounts
        .iter()
        .find(|a| a.external_id.as_ref().map(UserKey::as_str) == Some("k0042"))
        .unwrap();
    assert_eq!(sample.attributes.user_name(), "user0042");
    assert_eq!(sample.attributes.get(Field::DisplayName), Some("Person 42"));
    assert_eq!(sample.attributes.get(Field::Title), Some("title 42"));
    assert!(sample.active);
    assert_eq!(sample.manager, None);
    (accounts.len(), scim.counters().gets)
}

#[tokio::test]
async fn list_pages_by_the_configured_size() {
    assert_eq!(list_2500(500).await, (2500, 5));
}

#[tokio::test]
async fn list_follows_a_server_capped_page_size() {
    // 5000 asked, 1000 served per page.
    assert_eq!(list_2500(5000).await, (2500, 3));
}

#[tokio::test]
async fn list_of_an_empty_target_is_empty() {
    let scim = start().await;
    let accounts = pusher(&scim, |_| {}).list().await.unwrap();
    assert!(accounts.is_empty());
    assert_eq!(scim.counters().gets, 1);
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn http_5xx_on_every_second_write_is_retried_without_duplicates() {
    let scim = start().await;
    scim.set_faults(ScimFaults {
        http_5xx_every: Some(2),
        ..ScimFaults::default()
    });
    let pusher = pusher(&scim, |_| {});
    let mut ids = Vec::new();
    for k in ["a", "b", "c"] {
        ids.push(
            pusher
                .create(&key(k), &simple_attributes(k), true)
                .await
                .unwrap_or_else(|e| panic!("create {k}: {e}")),
        );
    }
    for k in ["a", "b", "c"] {
        assert_eq!(with_external_id(&scim, k).len(), 1, "{k}");
    }
    assert_eq!(scim.users().len(), 3);
    // Writes 2 and 4 failed (500, 502) and were sent again.
    let counters = scim.counters();
    assert_eq!((counters.posts, counters.errors), (5, 2));

    // Other writes go through the same retries.
    pusher.set_active(&ids[0], false).await.unwrap(); // write 6: 503, then 7
    pusher.set_manager(&ids[1], Some(&ids[2])).await.unwrap(); // write 8: 500, then 9
    pusher.delete(&ids[2]).await.unwrap(); // write 10: 502, then 11
    assert!(!scim.user(ids[0].as_str()).unwrap().active);
    assert_eq!(
        scim.user(ids[1].as_str()).unwrap().manager_id.as_deref(),
        Some(ids[2].as_str())
    );
    assert_eq!(scim.user(ids[2].as_str()), None);
    assert_eq!(scim.counters().errors, 5);
}

#[tokio::test]
async fn status_429_waits_for_retry_after() {
    let scim = start().await;
    scim.set_faults(ScimFaults {
        status_429_every: Some(2),
        ..ScimFaults::default()
    });
    let pusher = pusher(&scim, |_| {});
    pusher
        .create(&key("a"), &simple_attributes("a"), true)
        .await
        .unwrap();
    let started = Instant::now();
    pusher
        .create(&key("b"), &simple_attributes("b"), true)
        .await
        .expect("the 429 is retried");
    // Retry-After: 1 wins over the 20 ms backoff ceiling.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(scim.users().len(), 2);
    assert_eq!(with_external_id(&scim, "b").len(), 1);
    assert_eq!(scim.counters().posts, 3);
}

#[tokio::test]
async fn persistent_5xx_exhausts() {
    let scim = start().await;
    scim.set_faults(ScimFaults {
        http_5xx_every: Some(1),
        ..ScimFaults::default()
    });
    let error = pusher(&scim, |c| c.retry = fast_retry(3))
        .create(&key("a"), &simple_attributes("a"), true)
        .await
        .expect_err("every write fails");
    match &error {
        PushError::Exhausted { attempts, last } => {
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last, PushError::Status { status, .. } if status >= 500),
                "{last:?}"
            );
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(scim.counters().posts, 3);
    assert!(scim.users().is_empty());
}

/// A write applied but answered after the client gave up: the outcome is ambiguous, and creating
/// the same person again must never make a second account.
#[tokio::test]
async fn ambiguous_timeout_on_create_never_duplicates() {
    let scim = start().await;
    scim.set_faults(ScimFaults {
        apply_then_timeout_every: Some(1),
        delay_after_apply: Duration::from_millis(1500),
        ..ScimFaults::default()
    });
    let pusher = pusher(&scim, |c| {
        c.timeout = HumanDuration(Duration::from_millis(300));
        c.retry = fast_retry(3);
    });
    let attributes = simple_attributes("amb");
    let first = pusher.create(&key("amb"), &attributes, true).await;
    assert_eq!(
        with_external_id(&scim, "amb").len(),
        1,
        "the first POST was applied, and only once"
    );

    scim.set_faults(ScimFaults::default());
    let second = pusher
        .create(&key("amb"), &attributes, true)
        .await
        .expect("creating again adopts the account");
    let accounts = with_external_id(&scim, "amb");
    assert_eq!(accounts.len(), 1, "never a duplicate");
    assert_eq!(accounts[0].id, second.as_str());
    if let Ok(first) = first {
        assert_eq!(first, second);
    }
    assert_eq!(scim.users().len(), 1);
}

/// The pusher's own retry of a POST whose first attempt was applied but answered too late finds
/// the account it just made instead of reporting its userName as taken.
#[tokio::test]
async fn retried_create_after_an_applied_timeout_adopts_its_own_account() {
    let scim = start().await;
    let pusher = pusher(&scim, |c| {
        c.timeout = HumanDuration(Duration::from_millis(300));
        c.retry = fast_retry(4);
    });
    scim.set_faults(ScimFaults {
        apply_then_timeout_every: Some(2),
        delay_after_apply: Duration::from_millis(1500),
        ..ScimFaults::default()
    });
    // Write 1 (answered normally).
    pusher
        .create(&key("first"), &simple_attributes("first"), true)
        .await
        .unwrap();
    // Write 2: applied, answered too late.
    let id = pusher
        .create(&key("amb"), &simple_attributes("amb"), true)
        .await
        .expect("the create ends well: the account is there");
    let accounts = with_external_id(&scim, "amb");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].id, id.as_str());
    assert_eq!(scim.users().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Hostile values and authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hostile_external_ids_and_user_names_round_trip() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    // Accounts a naive, unescaped filter would also match.
    let a = pusher
        .create(&key("a"), &simple_attributes("plain.a"), true)
        .await
        .unwrap();
    let one = pusher
        .create(&key("1"), &simple_attributes("plain.1"), true)
        .await
        .unwrap();

    let hostile = [
        (r#"a" or "1"="1"#, "林 晓"),
        (r#"back\slash "quoted" ) or (x"#, r#"o'brien "the" user"#),
        ("  spaced  key  ", "user with  spaces"),
    ];
    let mut ids = Vec::new();
    for (external_id, user_name) in hostile {
        let id = pusher
            .create(&key(external_id), &simple_attributes(user_name), true)
            .await
            .unwrap_or_else(|e| panic!("create {external_id:?}: {e}"));
        let stored = scim.user(id.as_str()).unwrap();
        assert_eq!(stored.external_id.as_deref(), Some(external_id));
        assert_eq!(stored.user_name, user_name);
        ids.push(id);
    }
    assert_eq!(scim.users().len(), 5);
    assert_ne!(ids[0], a);
    assert_ne!(ids[0], one);

    // The externalId lookup finds exactly that account again: adoption, no new account.
    for ((external_id, user_name), id) in hostile.iter().zip(&ids) {
        let again = pusher
            .create(&key(external_id), &simple_attributes(user_name), true)
            .await
            .unwrap();
        assert_eq!(&again, id, "{external_id:?}");
    }
    assert_eq!(scim.users().len(), 5);
    assert_eq!(scim.counters().posts, 5);

    let listed = pusher.list().await.unwrap();
    for (external_id, user_name) in hostile {
        let account = listed
            .iter()
            .find(|acc| acc.external_id.as_ref().map(UserKey::as_str) == Some(external_id))
            .unwrap_or_else(|| panic!("{external_id:?} listed"));
        assert_eq!(account.attributes.user_name(), user_name);
    }
}

#[tokio::test]
async fn wrong_bearer_token_is_a_401_without_the_token() {
    let scim = start().await;
    let wrong = "wrong-token-Qx71-do-not-print";
    let pusher = ScimPusher::new(target_config(&scim), Secret::new(wrong)).unwrap();
    let error = pusher
        .create(&key("a"), &simple_attributes("a"), true)
        .await
        .expect_err("the token is wrong");
    assert!(
        matches!(error, PushError::Status { status: 401, .. }),
        "{error:?}"
    );
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(text.contains("401"), "{text}");
        assert!(!text.contains(wrong), "{text}");
        assert!(!text.contains(scim.bearer_token()), "{text}");
    }
    let error = pusher.list().await.expect_err("the token is wrong");
    assert!(matches!(error, PushError::Status { status: 401, .. }));
    assert!(!error.to_string().contains(wrong));
    // Not retried, and nothing was written.
    assert_eq!(scim.counters().gets, 2);
    assert!(scim.users().is_empty());
}

/// A target that hands out the id `..` (or `.`): every request it receives is recorded, so the
/// test sees whether anything was aimed at the base URL instead of one account.
struct DotTarget {
    base: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn dot_target(id: &'static str) -> DotTarget {
    use axum::extract::{Request, State};
    use axum::response::IntoResponse;
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    async fn answer(
        State((id, seen)): State<(&'static str, Seen)>,
        request: Request,
    ) -> axum::response::Response {
        let line = format!("{} {}", request.method(), request.uri().path());
        seen.lock().unwrap().push(line);
        let user = serde_json::json!({ "id": id, "externalId": "a", "userName": "a" });
        let body = if request.method() == axum::http::Method::GET {
            serde_json::json!({ "totalResults": 1, "Resources": [user] })
        } else {
            user
        };
        (axum::http::StatusCode::OK, axum::Json(body)).into_response()
    }
    let requests = Seen::default();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state((id, requests.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    DotTarget {
        base: format!("http://{addr}/scim/v2"),
        requests,
    }
}

/// A target-supplied id of `.` or `..` would be normalised out of `/Users/{id}` and aim PATCH or
/// DELETE at the base URL: such ids are refused where they are read (create answers, lookups,
/// listings) and where a path is built from one (an id kept from before), with a clear error
/// and no request sent to the base URL.
#[tokio::test]
async fn target_ids_that_are_dot_segments_are_refused() {
    for id in ["..", ".", "%2e%2E", "a/b", "a?b", "x#"] {
        let target = dot_target(id).await;
        let mut config = ScimTargetConfig::new(
            url::Url::parse(&target.base).unwrap(),
            SecretRef::Env("ORGSYNC_TEST_UNUSED".into()),
        );
        config.retry = fast_retry(1);
        let pusher = ScimPusher::new(config, Secret::new("t")).unwrap();

        // The lookup before a create lists an account holding the key under the bad id.
        let error = pusher
            .create(&key("a"), &simple_attributes("a"), true)
            .await
            .expect_err("the looked-up id is refused");
        assert!(
            error.to_string().contains("cannot name one account"),
            "{id:?}: {error}"
        );
        // A create answered with the bad id.
        let error = pusher
            .create_unlisted(&key("a"), &simple_attributes("a"), true)
            .await
            .expect_err("the created id is refused");
        assert!(
            error.to_string().contains("cannot name one account"),
            "{id:?}: {error}"
        );
        let error = pusher.list().await.expect_err("the listed id is refused");
        assert!(
            error.to_string().contains("cannot name one account"),
            "{id:?}: {error}"
        );
        // An id already in a snapshot: nothing is sent at all.
        let held = TargetId::new(id);
        let before = target.requests.lock().unwrap().len();
        assert!(pusher.delete(&held).await.is_err(), "{id:?}");
        assert!(pusher.set_active(&held, false).await.is_err(), "{id:?}");
        assert!(pusher.set_manager(&held, None).await.is_err(), "{id:?}");
        let requests = target.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), before, "{id:?}: {requests:?}");
        assert!(
            requests
                .iter()
                .all(|r| r.starts_with("GET /scim/v2/Users") || r == "POST /scim/v2/Users"),
            "{id:?}: {requests:?}"
        );
    }
}
