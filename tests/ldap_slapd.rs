//! The LDAP pusher against a real OpenLDAP slapd (started per test by `common::slapd`), with and
//! without the refint overlay. Everything is checked through plain ldap3 searches, not through
//! the pusher.

mod common;

use common::slapd::{ADMIN, DISABLED, Entry, PEOPLE, Slapd};
use common::{
    AGENT_ID, assert_applied, connector_to, ldap_config, ldap_pusher, small_org, wecom_puller,
};
use emulators::fixture::{Org, Status};
use ldap3::Mod;
use orgsync::config::Secret;
use orgsync::engine::{Connector, Engine, Rebuild, RunMode};
use orgsync::plan::{Policy, RemovalPolicy, StepKind, UserNameSource};
use orgsync::pushers::ldap::{Deactivation, LdapPusher, LdapTargetConfig};
use orgsync::pushers::{AnyPusher, Pusher};
use orgsync::report::{Report, RunOutcome};
use orgsync::snapshot::{MemoryStore, SnapshotStore};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

fn move_to_disabled() -> Deactivation {
    Deactivation::Move {
        ou: DISABLED.into(),
    }
}

fn employee_type() -> Deactivation {
    Deactivation::default()
}

/// One test's world: a slapd, the WeCom emulator, an engine with a memory snapshot.
struct World {
    slapd: Slapd,
    wecom: emulators::wecom::WecomHandle,
    engine: Engine<MemoryStore>,
    connector: Connector,
    key_attribute: String,
}

impl World {
    async fn new(
        refint: bool,
        org: Org,
        policy: Policy,
        edit: impl FnOnce(&mut LdapTargetConfig),
    ) -> World {
        let slapd = Slapd::start(refint).await;
        let wecom = emulators::wecom::start(org, Default::default())
            .await
            .unwrap();
        let mut config = ldap_config(&slapd.url());
        edit(&mut config);
        let key_attribute = config.key_attribute.clone();
        let connector = connector_to(
            wecom_puller(&wecom, Some(AGENT_ID)),
            AnyPusher::Ldap(ldap_pusher(config)),
            policy.without_guard(),
        );
        World {
            slapd,
            wecom,
            engine: Engine::new(Arc::new(MemoryStore::new())),
            connector,
            key_attribute,
        }
    }

    async fn run(&self) -> Report {
        self.engine
            .run(&self.connector, RunMode::Apply)
            .await
            .unwrap()
    }

    /// People by upstream key.
    async fn people(&self) -> BTreeMap<String, Entry> {
        by_key(&self.slapd.people().await, &self.key_attribute)
    }

    /// A run with no upstream change plans nothing, and the directory sees no write at all:
    /// the monitor's operation counters and every entry's modifyTimestamp/entryCSN stay put.
    async fn assert_rerun_writes_nothing(&self) {
        let writes = self.slapd.writes_settled().await;
        let before = self.slapd.people().await;
        let report = self.run().await;
        assert_applied(&report);
        assert!(
            report.steps.is_empty(),
            "a rerun planned:\n{}",
            orgsync::report::render_text(&report)
        );
        assert_eq!(self.slapd.writes().await, writes, "a rerun wrote");
        assert_eq!(self.slapd.people().await, before);
    }
}

fn by_key(entries: &[Entry], key_attribute: &str) -> BTreeMap<String, Entry> {
    let mut map = BTreeMap::new();
    for entry in entries {
        let key = entry
            .get(key_attribute)
            .unwrap_or_else(|| panic!("{} has no {key_attribute}", entry.dn))
            .to_owned();
        assert!(
            map.insert(key.clone(), entry.clone()).is_none(),
            "two entries carry the key {key}"
        );
    }
    map
}

/// The key of the person `entry`'s `manager` names; `<dangling>` when no entry has that DN.
fn manager_of(people: &BTreeMap<String, Entry>, key: &str) -> Option<String> {
    let manager = people[key].get("manager")?;
    Some(
        people
            .iter()
            .find(|(_, e)| e.dn.eq_ignore_ascii_case(manager))
            .map_or_else(|| format!("<dangling {manager}>"), |(k, _)| k.clone()),
    )
}

fn assert_no_dangling_managers(people: &BTreeMap<String, Entry>) {
    for key in people.keys() {
        if let Some(manager) = manager_of(people, key) {
            assert!(
                !manager.starts_with("<dangling"),
                "{key}'s manager points at a missing entry: {manager}"
            );
        }
    }
}

fn is_active(entry: &Entry, deactivation: &Deactivation) -> bool {
    match deactivation {
        Deactivation::Move { ou } => !entry
            .dn
            .to_ascii_lowercase()
            .ends_with(&ou.to_ascii_lowercase()),
        Deactivation::Attribute { attribute, value } => {
            !entry.values(attribute).iter().any(|v| v == value)
        }
        Deactivation::Disable => panic!("Active Directory's mode: tests/ad_samba.rs"),
    }
}

fn user_index(org: &Org, id: &str) -> usize {
    org.users.iter().position(|u| u.id == id).unwrap()
}

/// First sync, manager changes, deactivations, a rerun that writes nothing, a reactivation.
async fn lifecycle(refint: bool, deactivation: Deactivation) {
    let mode = deactivation.clone();
    let world = World::new(refint, small_org(), Policy::default(), |c| {
        c.deactivation = mode;
    })
    .await;

    let dry = world
        .engine
        .run(&world.connector, RunMode::DryRun)
        .await
        .unwrap();
    assert_eq!(dry.outcome, RunOutcome::Planned);
    assert!(!dry.steps.is_empty());
    assert!(world.slapd.people().await.is_empty(), "a dry run wrote");

    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(
        people.keys().map(String::as_str).collect::<Vec<_>>(),
        ["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"]
    );
    let lin = &people["lin"];
    assert_eq!(lin.dn, format!("uid=lin,{PEOPLE}"));
    for attribute in ["cn", "sn", "displayName"] {
        assert_eq!(lin.values(attribute), ["林晓"], "{attribute}");
    }
    assert_eq!(lin.get("mail"), Some("lin@example.cn"));
    assert_eq!(lin.get("title"), Some("工程师"));
    assert_eq!(lin.get("departmentNumber"), Some("研发部"));
    assert_eq!(
        people["sales1"].get("cn"),
        Some("<img src=x onerror=alert(1)>")
    );
    for (key, manager) in [
        ("boss2", Some("ceo")),
        ("lin", Some("boss2")),
        ("zhou", Some("boss2")),
        ("wang", Some("ceo")),
        ("leaver", Some("wang")),
        ("sales1", None), // the manager is outside the scope
        ("ceo", None),
    ] {
        assert_eq!(manager_of(&people, key).as_deref(), manager, "{key}");
    }
    assert_eq!(
        people["lin"].get("manager"),
        Some(format!("uid=boss2,{PEOPLE}").as_str()),
        "the manager attribute holds the manager's DN"
    );
    assert!(people.values().all(|e| is_active(e, &deactivation)));

    world.wecom.update_org(|org| {
        let i = user_index(org, "lin");
        org.users[i].name = "林晓晓".into();
        org.users[i].title = None;
        let i = user_index(org, "zhou");
        org.users[i].manager = Some("lin".into());
        let i = user_index(org, "boss2");
        org.users[i].departments = vec![4]; // out of scope: deactivated, and lin loses her manager
        org.departments[1].leaders = vec!["lin".into()];
        let i = user_index(org, "wang");
        org.users[i].status = Status::Disabled; // and manages leaver
        let i = user_index(org, "leaver");
        org.users[i].status = Status::Resigned;
    });
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(people["lin"].values("cn"), ["林晓晓"]);
    assert_eq!(people["lin"].get("title"), None);
    assert_eq!(manager_of(&people, "zhou").as_deref(), Some("lin"));
    assert_eq!(manager_of(&people, "lin"), None);
    for key in ["boss2", "wang", "leaver"] {
        assert!(!is_active(&people[key], &deactivation), "{key} is active");
        assert_eq!(people[key].get("manager"), None, "{key} keeps a manager");
    }
    if matches!(deactivation, Deactivation::Move { .. }) {
        assert_eq!(people["wang"].dn, format!("uid=wang,{DISABLED}"));
    }
    for key in ["ceo", "lin", "zhou", "sales1"] {
        assert!(is_active(&people[key], &deactivation), "{key} is inactive");
    }
    assert_no_dangling_managers(&people);

    world.assert_rerun_writes_nothing().await;

    // wang comes back: out of the disabled OU (or the marker removed), and linked again.
    world.wecom.update_org(|org| {
        let i = user_index(org, "wang");
        org.users[i].status = Status::Active;
    });
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert!(is_active(&people["wang"], &deactivation));
    assert_eq!(people["wang"].dn, format!("uid=wang,{PEOPLE}"));
    assert_eq!(manager_of(&people, "wang").as_deref(), Some("ceo"));
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;
}

#[tokio::test]
async fn lifecycle_with_refint_moving_to_a_disabled_ou() {
    lifecycle(true, move_to_disabled()).await;
}

#[tokio::test]
async fn lifecycle_without_refint_moving_to_a_disabled_ou() {
    lifecycle(false, move_to_disabled()).await;
}

#[tokio::test]
async fn lifecycle_with_refint_marking_employee_type() {
    lifecycle(true, employee_type()).await;
}

#[tokio::test]
async fn lifecycle_without_refint_marking_employee_type() {
    lifecycle(false, employee_type()).await;
}

/// The RDN comes from the user name, which comes from the email: a changed email renames the
/// entry, and every report's `manager` follows the new DN in the same run.
async fn renames(refint: bool) {
    let policy = Policy {
        user_name: UserNameSource::Email,
        ..Policy::default()
    };
    let world = World::new(refint, small_org(), policy, |c| {
        c.key_attribute = "employeeNumber".into();
        c.attributes.insert("employeeNumber".into(), "key".into());
        c.attributes.insert("uid".into(), "user_name".into());
        c.deactivation = move_to_disabled();
    })
    .await;
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(people["boss2"].dn, format!("uid=boss2@example.cn,{PEOPLE}"));

    world.wecom.update_org(|org| {
        // A manager and one of their reports renamed in the same run.
        let i = user_index(org, "boss2");
        org.users[i].email = Some("zoe.mueller@example.cn".into());
        let i = user_index(org, "zhou");
        org.users[i].email = Some("zhou.ming@example.cn".into());
        // Two people swap addresses: one passes through a placeholder name first.
        let i = user_index(org, "lin");
        org.users[i].email = Some("wang@example.cn".into());
        let i = user_index(org, "wang");
        org.users[i].email = Some("lin@example.cn".into());
    });
    let report = world.run().await;
    assert_applied(&report);
    let people = world.people().await;
    assert_eq!(
        people["boss2"].dn,
        format!("uid=zoe.mueller@example.cn,{PEOPLE}")
    );
    assert_eq!(
        people["zhou"].dn,
        format!("uid=zhou.ming@example.cn,{PEOPLE}")
    );
    assert_eq!(people["lin"].dn, format!("uid=wang@example.cn,{PEOPLE}"));
    assert_eq!(people["wang"].dn, format!("uid=lin@example.cn,{PEOPLE}"));
    assert_eq!(people["lin"].values("uid"), ["wang@example.cn"]);
    for (key, manager) in [
        ("lin", "boss2"),
        ("zhou", "boss2"),
        ("boss2", "ceo"),
        ("leaver", "wang"),
    ] {
        assert_eq!(manager_of(&people, key).as_deref(), Some(manager), "{key}");
    }
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;

    // The renamed manager is deactivated: moved to the disabled OU under their new name, with
    // their reports unlinked first.
    world.wecom.update_org(|org| {
        let i = user_index(org, "boss2");
        org.users[i].status = Status::Disabled;
    });
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(
        people["boss2"].dn,
        format!("uid=zoe.mueller@example.cn,{DISABLED}")
    );
    assert_eq!(manager_of(&people, "lin"), None);
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;
}

#[tokio::test]
async fn renames_with_refint() {
    renames(true).await;
}

#[tokio::test]
async fn renames_without_refint() {
    renames(false).await;
}

/// `resigned = "delete"`: a manager is deleted while people still report to them upstream. The
/// planner clears the links first, so no entry is left pointing at a missing DN, with or
/// without refint. An entry already deleted by hand counts as deleted.
async fn deletions(refint: bool) {
    let policy = Policy {
        resigned: RemovalPolicy::Delete,
        vanished: RemovalPolicy::Delete,
        ..Policy::default()
    };
    let world = World::new(refint, small_org(), policy, |_| {}).await;
    assert_applied(&world.run().await);

    world.slapd.delete(&format!("uid=leaver,{PEOPLE}")).await;
    world.wecom.update_org(|org| {
        for id in ["boss2", "leaver"] {
            let i = user_index(org, id);
            org.users[i].status = Status::Resigned;
        }
        // sales1 leaves the company altogether.
        org.users.retain(|u| u.id != "sales1");
    });
    let report = world.run().await;
    assert_applied(&report);
    let people = world.people().await;
    assert_eq!(
        people.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ceo", "lin", "wang", "zhou"]
    );
    assert_eq!(manager_of(&people, "lin"), None);
    assert_eq!(manager_of(&people, "zhou"), None);
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;
}

#[tokio::test]
async fn deletions_with_refint() {
    deletions(true).await;
}

#[tokio::test]
async fn deletions_without_refint() {
    deletions(false).await;
}

/// A lost snapshot, an entry edited by hand, and an entry created by hand without the key:
/// creates find them (by the key, or by result 68 on add) and bring them to the desired state
/// instead of duplicating anyone.
#[tokio::test]
async fn existing_entries_are_taken_over_not_duplicated() {
    let world = World::new(false, small_org(), Policy::default(), |c| {
        c.key_attribute = "employeeNumber".into();
        c.attributes.insert("employeeNumber".into(), "key".into());
    })
    .await;
    // An admin created lin by hand before orgsync ran: same DN, no key attribute.
    let mut admin = world.slapd.admin().await;
    let values = |v: &str| HashSet::from([v.to_owned()]);
    admin
        .add(
            &format!("uid=lin,{PEOPLE}"),
            vec![
                ("objectClass".to_owned(), values("inetOrgPerson")),
                ("uid".to_owned(), values("lin")),
                ("cn".to_owned(), values("Lin by hand")),
                ("sn".to_owned(), values("Lin")),
                (
                    "manager".to_owned(),
                    values(&format!("uid=nobody,{PEOPLE}")),
                ),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(people.len(), 7);
    assert_eq!(people["lin"].values("cn"), ["林晓"]);
    assert_eq!(manager_of(&people, "lin").as_deref(), Some("boss2"));

    // The snapshot is lost (a new state directory): every create finds its entry.
    world
        .slapd
        .modify(
            &format!("uid=zhou,{PEOPLE}"),
            vec![Mod::Replace("cn".into(), HashSet::from(["Hacked".into()]))],
        )
        .await;
    let fresh = Engine::new(Arc::new(MemoryStore::new()));
    assert_applied(&fresh.run(&world.connector, RunMode::Apply).await.unwrap());
    let people = world.people().await;
    assert_eq!(people.len(), 7, "no duplicates");
    assert_eq!(people["zhou"].values("cn"), ["周明"]);
    assert_no_dangling_managers(&people);
    let again = fresh.run(&world.connector, RunMode::Apply).await.unwrap();
    assert!(again.steps.is_empty());
}

/// One OU per department: people are filed under their main department, move when it changes,
/// leave for the disabled OU and come back to the right department.
#[tokio::test]
async fn department_ous_follow_the_main_department() {
    let mut org = small_org();
    let i = user_index(&org, "zhou");
    org.users[i].manager = Some("lin".into());
    let world = World::new(false, org, Policy::default(), |c| {
        c.department_ous = true;
        c.deactivation = move_to_disabled();
    })
    .await;
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(people["lin"].dn, format!("uid=lin,ou=研发部,{PEOPLE}"));
    assert_eq!(people["wang"].dn, format!("uid=wang,ou=销售部,{PEOPLE}"));
    // The CEO's department is outside the app's scope, so it is unknown: straight under the base.
    assert_eq!(people["ceo"].dn, format!("uid=ceo,{PEOPLE}"));

    world.wecom.update_org(|org| {
        let i = user_index(org, "lin");
        org.users[i].departments = vec![3, 2];
        let i = user_index(org, "zhou");
        org.users[i].status = Status::Disabled;
    });
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(people["lin"].dn, format!("uid=lin,ou=销售部,{PEOPLE}"));
    assert_eq!(people["lin"].get("departmentNumber"), Some("销售部"));
    assert_eq!(people["zhou"].dn, format!("uid=zhou,{DISABLED}"));
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;

    world.wecom.update_org(|org| {
        let i = user_index(org, "zhou");
        org.users[i].status = Status::Active;
    });
    assert_applied(&world.run().await);
    let people = world.people().await;
    assert_eq!(people["zhou"].dn, format!("uid=zhou,ou=研发部,{PEOPLE}"));
    assert_eq!(
        manager_of(&people, "zhou").as_deref(),
        Some("lin"),
        "the link points at lin's new DN"
    );
    world.assert_rerun_writes_nothing().await;
}

#[tokio::test]
async fn list_reads_the_directory_back() {
    let mut org = small_org();
    let i = user_index(&org, "leaver");
    org.users[i].status = Status::NotActivated; // created inactive
    let world = World::new(true, org, Policy::default(), |c| {
        c.deactivation = move_to_disabled();
        c.page_size = 2; // several pages
    })
    .await;
    assert_applied(&world.run().await);
    let accounts = world.connector.pusher.list().await.unwrap();
    let mut keys: Vec<&str> = accounts
        .iter()
        .filter_map(|a| a.external_id.as_ref().map(|k| k.as_str()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"]
    );
    let account = |key: &str| {
        accounts
            .iter()
            .find(|a| a.external_id.as_ref().is_some_and(|k| k.as_str() == key))
            .unwrap()
    };
    assert!(!account("leaver").active);
    assert_eq!(
        account("leaver").id.as_str(),
        format!("uid=leaver,{DISABLED}")
    );
    assert!(account("lin").active);
    assert_eq!(
        account("lin").manager.as_ref().map(|m| m.as_str()),
        Some(account("boss2").id.as_str())
    );
    assert_eq!(
        account("lin")
            .attributes
            .get(orgsync::model::Field::DisplayName),
        Some("林晓")
    );
}

#[tokio::test]
async fn a_wrong_bind_password_fails_the_run_with_a_clear_error() {
    let slapd = Slapd::start(false).await;
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let wrong = "not-the-password-7f3a";
    let pusher = LdapPusher::new(ldap_config(&slapd.url()), Secret::new(wrong)).unwrap();
    let connector = connector_to(
        wecom_puller(&wecom, Some(AGENT_ID)),
        AnyPusher::Ldap(pusher),
        Policy::default().without_guard(),
    );
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone());
    let report = engine.run(&connector, RunMode::Apply).await.unwrap();
    let RunOutcome::Failed { error } = &report.outcome else {
        panic!("expected a failed run, got {:?}", report.outcome);
    };
    assert!(error.contains(ADMIN), "{error}");
    assert!(
        error.contains("49") && error.contains("invalidCredentials"),
        "{error}"
    );
    assert!(!error.contains(wrong), "the password leaked: {error}");
    let text = orgsync::report::render_text(&report);
    assert!(!text.contains(wrong));
    assert!(slapd.people().await.is_empty());
    assert!(store.load("test").unwrap().users.is_empty());
}

#[tokio::test]
async fn a_missing_base_or_disabled_ou_fails_the_run_with_a_clear_error() {
    let slapd = Slapd::start(false).await;
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    for (edit, missing) in [
        (
            Box::new(|c: &mut LdapTargetConfig| c.base_dn = "ou=nowhere,dc=example,dc=com".into())
                as Box<dyn Fn(&mut LdapTargetConfig)>,
            "ou=nowhere,dc=example,dc=com",
        ),
        (
            Box::new(|c: &mut LdapTargetConfig| {
                c.deactivation = Deactivation::Move {
                    ou: "ou=gone,dc=example,dc=com".into(),
                }
            }),
            "ou=gone,dc=example,dc=com",
        ),
    ] {
        let mut config = ldap_config(&slapd.url());
        edit(&mut config);
        let connector = connector_to(
            wecom_puller(&wecom, Some(AGENT_ID)),
            AnyPusher::Ldap(ldap_pusher(config)),
            Policy::default().without_guard(),
        );
        let engine = Engine::new(Arc::new(MemoryStore::new()));
        let report = engine.run(&connector, RunMode::Apply).await.unwrap();
        let RunOutcome::Failed { error } = &report.outcome else {
            panic!("expected a failed run, got {:?}", report.outcome);
        };
        assert!(
            error.contains(missing) && error.contains("does not exist"),
            "{error}"
        );
    }
    assert!(slapd.people().await.is_empty());
}

/// The server dies in the middle of the creates: the steps in flight and after fail with a
/// clear error, nothing unacknowledged is recorded, and once the server is back the next run
/// converges without duplicating anyone (creates of entries that were written but not
/// acknowledged find them).
#[tokio::test]
async fn a_server_killed_mid_run_fails_steps_and_the_next_run_converges() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 1500,
        departments: 40,
        seed: 5,
        ..Default::default()
    });
    let mut world = World::new(false, org, Policy::default(), |_| {}).await;
    let World {
        slapd,
        engine,
        connector,
        ..
    } = &mut world;
    let (report, ()) = tokio::join!(engine.run(connector, RunMode::Apply), async {
        while slapd.writes().await < 300 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        slapd.kill();
    });
    let report = report.unwrap();
    // With 1 500 people the circuit breaker usually stops the run after 20 failures in a row.
    let failed = match report.outcome {
        RunOutcome::PartiallyApplied { failed } => failed,
        RunOutcome::BreakerTripped {
            consecutive_failures,
            ..
        } => consecutive_failures,
        ref other => panic!("expected failed steps, got {other:?}"),
    };
    assert!(failed > 0);
    let errors: Vec<&str> = report
        .steps
        .iter()
        .filter_map(|s| match &s.outcome {
            orgsync::engine::StepOutcome::Failed { error } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert!(!errors.is_empty());
    eprintln!("{failed} steps failed; the first error: {}", errors[0]);
    assert!(
        errors
            .iter()
            .all(|e| e.contains(&slapd.url()) || e.contains("connection")),
        "unclear errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    let recorded = world.engine.store().load("test").unwrap();
    assert!(recorded.users.len() < 1500);

    world.slapd.restart().await;
    // Everything the snapshot recorded was acknowledged, so it is in the directory (the
    // reverse need not hold: a write whose answer was lost is there but not recorded).
    let people = world.people().await;
    for (key, user) in &recorded.users {
        let entry = people
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key} is recorded but not in the directory"));
        assert!(entry.dn.eq_ignore_ascii_case(user.target_id.as_str()));
        if let Some(manager) = &user.manager {
            assert_eq!(
                entry.get("manager").map(str::to_ascii_lowercase),
                Some(format!("uid={manager},{PEOPLE}").to_ascii_lowercase()),
                "{key}: the recorded manager link is not in the directory"
            );
        }
    }
    assert_applied(&world.run().await);
    let people = world.people().await; // by_key panics on a duplicate
    let snapshot = world.engine.store().load("test").unwrap();
    assert_eq!(people.len(), snapshot.users.len());
    for (key, user) in &snapshot.users {
        assert!(
            people[key.as_str()]
                .dn
                .eq_ignore_ascii_case(user.target_id.as_str()),
            "{key}: the snapshot and the directory disagree"
        );
    }
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;
}

/// LDAPS and StartTLS verify the server's certificate. Signed by a CA no system trusts, the
/// run fails once with the certificate problem and writes nothing; with that CA as
/// `tls_ca_file` a sync works over either.
#[tokio::test]
async fn tls_verifies_the_server_certificate() {
    let slapd = Slapd::start_tls().await;
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let connect = |url: &str, starttls: bool, ca: bool| {
        let mut config = ldap_config(url);
        config.starttls = starttls;
        config.tls_ca_file = ca.then(|| slapd.ca_file());
        connector_to(
            wecom_puller(&wecom, Some(AGENT_ID)),
            AnyPusher::Ldap(ldap_pusher(config)),
            Policy::default().without_guard(),
        )
    };

    for (url, starttls) in [(slapd.tls_url(), false), (slapd.url(), true)] {
        let report = engine
            .run(&connect(&url, starttls, false), RunMode::Apply)
            .await
            .unwrap();
        let RunOutcome::Failed { error } = &report.outcome else {
            panic!("{url}: expected a failed run, got {:?}", report.outcome);
        };
        assert!(
            error.contains("cannot connect")
                && error.contains("invalid peer certificate: UnknownIssuer")
                && error.contains("set tls_ca_file"),
            "{url}: {error}"
        );
        assert!(slapd.people().await.is_empty());
    }

    assert_applied(
        &engine
            .run(&connect(&slapd.tls_url(), false, true), RunMode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(slapd.people().await.len(), 7);

    wecom.update_org(|org| {
        let i = user_index(org, "lin");
        org.users[i].title = Some("架构师".into());
    });
    let report = engine
        .run(&connect(&slapd.url(), true, true), RunMode::Apply)
        .await
        .unwrap();
    assert_applied(&report);
    assert_eq!(report.steps.len(), 1);
    let people = by_key(&slapd.people().await, "uid");
    assert_eq!(people["lin"].get("title"), Some("架构师"));
}

/// `orgsync demo --target FILE` syncs the emulated org into a real directory: dry run, sync and
/// a second run with nothing to do.
#[tokio::test]
async fn the_demo_can_sync_into_a_real_directory() {
    let slapd = Slapd::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo-ldap.toml");
    std::fs::write(
        &file,
        format!(
            "kind = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{ADMIN}\"\n\
             bind_password = \"env:ORGSYNC_DEMO_LDAP_PASSWORD\"\nbase_dn = \"{PEOPLE}\"\n",
            slapd.url()
        ),
    )
    .unwrap();
    // Blocking is fine: nothing in this process has to run meanwhile.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .args(["demo", "--people", "60", "--target"])
        .arg(&file)
        .env("ORGSYNC_DEMO_LDAP_PASSWORD", common::slapd::PASSWORD)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let people = slapd.people().await;
    assert!(!people.is_empty());
    // The demo's last step adds a new hire through the upstream's change events (the leaver is
    // deactivated in place): the sync's count is one fewer than the directory holds now.
    assert!(
        people.iter().any(|entry| entry.dn.contains("demo.newcomer")
            || entry.attrs.values().flatten().any(|v| v == "demo.newcomer")),
        "no entry for the new hire among {} people",
        people.len()
    );
    assert!(
        stdout.contains(&format!(
            "The target now holds {} accounts",
            people.len() - 1
        )),
        "{stdout}"
    );
    assert!(stdout.contains("Planned steps: 0"), "{stdout}");
    assert!(
        stdout.contains("Both changes were in the target"),
        "{stdout}"
    );
}

/// A directory that already has people: an entry without the key attribute whose mail is one
/// person's is adopted (match_by = email), not duplicated. link() writes the key into it, it
/// keeps its DN, the mapped attributes are brought up to date, and a rerun writes nothing.
#[tokio::test]
async fn existing_people_are_adopted_by_email() {
    let world = World::new(false, small_org(), Policy::default(), |c| {
        c.key_attribute = "employeeNumber".into();
        c.attributes.insert("employeeNumber".into(), "key".into());
    })
    .await;
    let dn = format!("uid=lin.xiao,{PEOPLE}");
    let mut admin = world.slapd.admin().await;
    let values = |v: &str| HashSet::from([v.to_owned()]);
    admin
        .add(
            &dn,
            vec![
                ("objectClass".to_owned(), values("inetOrgPerson")),
                ("uid".to_owned(), values("lin.xiao")),
                ("cn".to_owned(), values("Lin Xiao")),
                ("sn".to_owned(), values("Xiao")),
                ("mail".to_owned(), values("LIN@example.cn")),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();

    let report = world.run().await;
    assert_applied(&report);
    assert_eq!(common::users_with(&report, StepKind::Adopt), ["lin"]);
    let people = world.people().await; // keyed by employeeNumber; panics on a duplicate
    assert_eq!(people.len(), 7);
    assert_eq!(people["lin"].dn, dn, "the adopted entry keeps its DN");
    assert_eq!(people["lin"].values("cn"), ["林晓"]);
    assert_eq!(manager_of(&people, "lin").as_deref(), Some("boss2"));
    assert_no_dangling_managers(&people);
    world.assert_rerun_writes_nothing().await;
}

/// config/wecom-ldap.toml as an admin would use it, only the host and the bind DN changed:
/// `orgsync diff` binds, lists the (empty) directory and plans every in-scope person.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_config_diffs_against_a_slapd() {
    let slapd = Slapd::start(false).await;
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let mut env = common::wecom_example_env(&wecom);
    env.push(("ORGSYNC__CONNECTORS__HQ__TARGET__URL", slapd.url()));
    env.push(("ORGSYNC__CONNECTORS__HQ__TARGET__BIND_DN", ADMIN.to_owned()));
    let report = tokio::task::block_in_place(|| {
        common::diff_example(
            "wecom-ldap.toml",
            &env,
            &[("ldap-password", common::slapd::PASSWORD)],
        )
    });
    assert_eq!(report["target"], "ldap");
    assert_eq!(report["outcome"]["state"], "planned");
    assert_eq!(report["counts"]["create"], 7, "{}", report["counts"]);
    assert!(slapd.people().await.is_empty(), "a diff wrote");
}

/// `snapshot rebuild` on LDAP, where every entry under the base carries the key attribute: the
/// entries of people the pull does not have (a service account, a contractor another tool
/// manages) stay unmanaged and are listed, and the next sync leaves them as they are.
#[tokio::test]
async fn rebuild_leaves_entries_of_people_outside_the_pull_alone() {
    let world = World::new(false, small_org(), Policy::default(), |_| {}).await;
    assert_applied(&world.run().await);
    let mut admin = world.slapd.admin().await;
    let values = |v: &str| HashSet::from([v.to_owned()]);
    for uid in ["svc.backup", "contractor.li"] {
        admin
            .add(
                &format!("uid={uid},{PEOPLE}"),
                vec![
                    ("objectClass".to_owned(), values("inetOrgPerson")),
                    ("uid".to_owned(), values(uid)),
                    ("cn".to_owned(), values(uid)),
                    ("sn".to_owned(), values(uid)),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
    }
    let before = world.people().await;

    // The state directory is lost: a new engine with an empty snapshot rebuilds it.
    let fresh = Engine::new(Arc::new(MemoryStore::new()));
    let Rebuild::Rebuilt(rebuilt) = fresh.rebuild_snapshot(&world.connector).await.unwrap() else {
        panic!("the rebuild failed")
    };
    assert_eq!(rebuilt.linked, 7);
    let mut unmanaged: Vec<&str> = rebuilt.unmanaged.iter().map(|u| u.key.as_str()).collect();
    unmanaged.sort();
    assert_eq!(unmanaged, ["contractor.li", "svc.backup"]);
    assert!(
        rebuilt
            .unmanaged
            .iter()
            .all(|u| u.id.as_str() == format!("uid={},{PEOPLE}", u.key)),
        "{:?}",
        rebuilt.unmanaged
    );

    let report = fresh.run(&world.connector, RunMode::Apply).await.unwrap();
    assert_applied(&report);
    assert!(
        report.steps.is_empty(),
        "{}",
        orgsync::report::render_text(&report)
    );
    let after = world.people().await;
    for uid in ["svc.backup", "contractor.li"] {
        assert_eq!(after[uid], before[uid], "{uid} is left as it was");
    }
}
