//! Department groups on a real OpenLDAP slapd (started per test by `common::slapd`), written
//! through the LDAP pusher's group methods as the engine calls them, and checked through plain
//! ldap3 searches.

mod common;

use common::slapd::{DISABLED, Entry, GROUPS, PEOPLE, SUFFIX, Slapd};
use common::{ldap_config, ldap_pusher};
use futures_util::StreamExt;
use ldap3::Mod;
use orgsync::model::{Attributes, DepartmentId, Field, FieldChange, TargetId, UserKey};
use orgsync::pushers::ldap::{Deactivation, GroupClass, LdapPusher, LdapTargetConfig};
use orgsync::pushers::{GroupWrite, PersonRef, PushError, Pusher};
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

fn groups_config(slapd: &Slapd) -> LdapTargetConfig {
    let mut config = ldap_config(&slapd.url());
    config.groups_base = Some(GROUPS.into());
    config
}

fn write<'a>(
    key: &'a DepartmentId,
    display_name: &'a str,
    head: Option<PersonRef<'a>>,
) -> GroupWrite<'a> {
    GroupWrite {
        key,
        display_name,
        parent: None,
        head,
    }
}

async fn person(pusher: &LdapPusher, key: &str, department: Option<&str>) -> TargetId {
    let attributes = Attributes::new(key, format!("Person {key}"))
        .with(Field::Department, department.map(Into::into));
    pusher
        .create(&UserKey::new(key), &attributes, true)
        .await
        .unwrap()
}

/// The group at `dn` (any spelling), or None.
async fn find(slapd: &Slapd, dn: &str) -> Option<Entry> {
    slapd
        .groups()
        .await
        .into_iter()
        .find(|g| g.dn.eq_ignore_ascii_case(dn))
}

async fn group(slapd: &Slapd, dn: &str) -> Entry {
    find(slapd, dn)
        .await
        .unwrap_or_else(|| panic!("no group at {dn}"))
}

/// An attribute's values, lowercased (DN values compare without case), sorted.
fn dns(entry: &Entry, attribute: &str) -> BTreeSet<String> {
    entry
        .values(attribute)
        .iter()
        .map(|v| v.to_lowercase())
        .collect()
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_lowercase()).collect()
}

/// Polls until `check` holds (slapd's refint overlay rewrites DNs in the background).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_created_adopted_renamed_and_deleted() {
    let slapd = Slapd::start(false).await;
    let pusher = ldap_pusher(groups_config(&slapd));
    pusher.check().await.unwrap();
    let (ann_key, bob_key) = (UserKey::new("ann"), UserKey::new("bob"));
    let ann = person(&pusher, "ann", None).await;
    let bob = person(&pusher, "bob", None).await;
    let ann_ref = PersonRef {
        key: &ann_key,
        id: &ann,
    };
    let bob_ref = PersonRef {
        key: &bob_key,
        id: &bob,
    };

    let rd = DepartmentId::new("10");
    let id = pusher
        .create_group(&write(&rd, "研发部", Some(ann_ref)))
        .await
        .unwrap();
    assert_eq!(id.as_str(), format!("cn=研发部,{GROUPS}"));
    let entry = group(&slapd, id.as_str()).await;
    assert!(
        entry
            .values("objectClass")
            .contains(&"groupOfNames".to_owned())
    );
    assert_eq!(entry.values("cn"), ["研发部"]);
    assert_eq!(entry.values("businessCategory"), ["10"]);
    assert_eq!(dns(&entry, "owner"), set(&[ann.as_str()]));
    assert_eq!(
        dns(&entry, "member"),
        set(&[id.as_str()]),
        "an empty group holds its own DN"
    );

    // Repeated (a create whose answer was lost): the same group, and nothing written.
    let writes = slapd.writes().await;
    assert_eq!(
        pusher
            .create_group(&write(&rd, "研发部", Some(ann_ref)))
            .await
            .unwrap(),
        id
    );
    assert_eq!(slapd.writes().await, writes, "a repeated create wrote");
    assert_eq!(slapd.groups().await.len(), 1);

    // A group an admin made with the department's name is adopted, its members kept.
    let mut admin = slapd.admin().await;
    let sales_dn = format!("cn=Sales,{GROUPS}");
    admin
        .add(
            &sales_dn,
            vec![
                (
                    "objectClass".to_owned(),
                    HashSet::from(["top".to_owned(), "groupOfNames".to_owned()]),
                ),
                ("cn".to_owned(), HashSet::from(["Sales".to_owned()])),
                (
                    "member".to_owned(),
                    HashSet::from([bob.as_str().to_owned()]),
                ),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let sales = DepartmentId::new("20");
    let sales_id = pusher
        .create_group(&write(&sales, "Sales", None))
        .await
        .unwrap();
    assert_eq!(sales_id.as_str(), sales_dn);
    let entry = group(&slapd, &sales_dn).await;
    assert_eq!(entry.values("businessCategory"), ["20"]);
    assert_eq!(dns(&entry, "member"), set(&[bob.as_str()]));

    // Another department of that name cannot take a group already claimed.
    let other = DepartmentId::new("30");
    let error = pusher
        .create_group(&write(&other, "Sales", None))
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::Conflict { .. }), "{error}");
    assert!(error.to_string().contains("department 20"), "{error}");

    // Renamed with modrdn (hostile characters escaped): its own DN follows, the head changes.
    let renamed = pusher
        .update_group(&id, &write(&rd, "R&D, Beijing", Some(bob_ref)))
        .await
        .unwrap()
        .expect("a rename changes the DN");
    assert_eq!(renamed.as_str(), format!("cn=R&D\\2c Beijing,{GROUPS}"));
    assert!(
        find(&slapd, id.as_str()).await.is_none(),
        "the old DN is gone"
    );
    let entry = group(&slapd, renamed.as_str()).await;
    assert_eq!(entry.values("cn"), ["R&D, Beijing"]);
    assert_eq!(entry.values("businessCategory"), ["10"]);
    assert_eq!(dns(&entry, "owner"), set(&[bob.as_str()]));
    assert_eq!(dns(&entry, "member"), set(&[renamed.as_str()]));

    // Repeated: nothing to write. Repeated from the old DN (the snapshot missed the rename):
    // found by its department id.
    let writes = slapd.writes().await;
    let again = write(&rd, "R&D, Beijing", Some(bob_ref));
    assert_eq!(pusher.update_group(&renamed, &again).await.unwrap(), None);
    let found = pusher.update_group(&id, &again).await.unwrap();
    assert!(
        found.is_some_and(|f| f.as_str().eq_ignore_ascii_case(renamed.as_str())),
        "an update from the old DN finds the group"
    );
    let found = pusher.create_group(&again).await.unwrap();
    assert!(
        found.as_str().eq_ignore_ascii_case(renamed.as_str()),
        "a create finds it by department id: {found:?}"
    );
    assert_eq!(slapd.writes().await, writes, "repeats wrote");

    // The head goes: no owner.
    assert_eq!(
        pusher
            .update_group(&renamed, &write(&rd, "R&D, Beijing", None))
            .await
            .unwrap(),
        None
    );
    assert!(
        group(&slapd, renamed.as_str())
            .await
            .values("owner")
            .is_empty()
    );

    // A name changing case only.
    let upper = pusher
        .update_group(&sales_id, &write(&sales, "SALES", None))
        .await
        .unwrap()
        .expect("the DN's spelling changes");
    assert_eq!(group(&slapd, upper.as_str()).await.values("cn"), ["SALES"]);

    // Deleted, then deleted again (gone already counts as deleted).
    pusher.delete_group(&renamed, &rd).await.unwrap();
    pusher.delete_group(&renamed, &rd).await.unwrap();
    assert_eq!(slapd.groups().await.len(), 1);
    // Updating a group deleted by hand says so.
    let error = pusher
        .update_group(&renamed, &write(&rd, "R&D", None))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_groups_base_group_writes_say_what_to_set() {
    let slapd = Slapd::start(false).await;
    let pusher = ldap_pusher(ldap_config(&slapd.url()));
    let key = DepartmentId::new("10");
    let error = pusher
        .create_group(&write(&key, "研发部", None))
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::Setup { .. }), "{error}");
    assert!(error.to_string().contains("groups_base"), "{error}");

    // A groups base that does not exist fails the run's check, naming it.
    let mut config = groups_config(&slapd);
    config.groups_base = Some(format!("ou=nowhere,{SUFFIX}"));
    let error = ldap_pusher(config).check().await.unwrap_err();
    assert!(error.to_string().contains("ou=nowhere"), "{error}");
}

/// `n` people added straight into the directory (the pusher's people are not under test here).
async fn many_people(slapd: &Slapd, n: usize) -> Vec<(UserKey, TargetId)> {
    let admin = slapd.admin().await;
    let people: Vec<(UserKey, TargetId)> = (0..n)
        .map(|i| {
            let key = format!("p{i:05}");
            let dn = format!("uid={key},{PEOPLE}");
            (UserKey::new(key), TargetId::new(dn))
        })
        .collect();
    futures_util::stream::iter(&people)
        .map(|(key, dn)| {
            let mut ldap = admin.clone();
            async move {
                let one = |v: &str| HashSet::from([v.to_owned()]);
                ldap.add(
                    dn.as_str(),
                    vec![
                        (
                            "objectClass".to_owned(),
                            HashSet::from(["top", "person", "inetOrgPerson"].map(str::to_owned)),
                        ),
                        ("uid".to_owned(), one(key.as_str())),
                        ("cn".to_owned(), one(key.as_str())),
                        ("sn".to_owned(), one(key.as_str())),
                    ],
                )
                .await
                .unwrap()
                .success()
                .unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    people
}

fn refs(people: &[(UserKey, TargetId)]) -> Vec<PersonRef<'_>> {
    people
        .iter()
        .map(|(key, id)| PersonRef { key, id })
        .collect()
}

/// The batches of one group, sent four at a time as the engine's workers send them.
async fn concurrently<'a, F, Fut>(batches: Vec<&'a [(UserKey, TargetId)]>, step: F)
where
    F: Fn(&'a [(UserKey, TargetId)]) -> Fut,
    Fut: std::future::Future<Output = Result<(), PushError>>,
{
    let results: Vec<Result<(), PushError>> = futures_util::stream::iter(batches)
        .map(step)
        .buffer_unordered(4)
        .collect()
        .await;
    for result in results {
        result.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_members_in_batches_and_the_empty_group_rule() {
    let slapd = Slapd::start(false).await;
    let pusher = ldap_pusher(groups_config(&slapd));
    let people = many_people(&slapd, 5_000).await;
    let key = DepartmentId::new("1");
    let id = pusher
        .create_group(&write(&key, "Everyone", None))
        .await
        .unwrap();
    let batches: Vec<&[(UserKey, TargetId)]> = people.chunks(orgsync::plan::MEMBER_BATCH).collect();
    assert_eq!(batches.len(), 25);

    let started = Instant::now();
    concurrently(batches.clone(), |batch| {
        let (pusher, id, key) = (&pusher, &id, &key);
        async move { pusher.add_members(id, key, &refs(batch)).await }
    })
    .await;
    let added_in = started.elapsed();
    eprintln!("5 000 members added in 25 batches in {added_in:?}");
    assert!(added_in < Duration::from_secs(60), "{added_in:?}");
    let entry = group(&slapd, id.as_str()).await;
    assert_eq!(entry.values("member").len(), 5_000);
    let expected: BTreeSet<String> = people
        .iter()
        .map(|(_, dn)| dn.as_str().to_lowercase())
        .collect();
    assert_eq!(dns(&entry, "member"), expected, "the placeholder is gone");

    // Repeats change nothing: every member is there already, a stranger is not there.
    let stamp = entry.values("entryCSN").to_vec();
    pusher
        .add_members(&id, &key, &refs(&people[..200]))
        .await
        .unwrap();
    let stranger = [(UserKey::new("x"), TargetId::new(format!("uid=x,{PEOPLE}")))];
    pusher
        .remove_members(&id, &key, &refs(&stranger))
        .await
        .unwrap();
    assert_eq!(group(&slapd, id.as_str()).await.values("entryCSN"), stamp);

    // Everyone removed, the batches side by side: the placeholder comes back with the last.
    let started = Instant::now();
    concurrently(batches.clone(), |batch| {
        let (pusher, id, key) = (&pusher, &id, &key);
        async move { pusher.remove_members(id, key, &refs(batch)).await }
    })
    .await;
    eprintln!(
        "5 000 members removed in 25 batches in {:?}",
        started.elapsed()
    );
    let entry = group(&slapd, id.as_str()).await;
    assert_eq!(dns(&entry, "member"), set(&[id.as_str()]));
    // Removing again is a success and leaves it so.
    pusher
        .remove_members(&id, &key, &refs(&people[..3]))
        .await
        .unwrap();
    assert_eq!(
        dns(&group(&slapd, id.as_str()).await, "member"),
        set(&[id.as_str()])
    );

    // Then someone joins: the placeholder goes.
    pusher
        .add_members(&id, &key, &refs(&people[..1]))
        .await
        .unwrap();
    assert_eq!(
        dns(&group(&slapd, id.as_str()).await, "member"),
        set(&[people[0].1.as_str()])
    );
    // And leaves: it comes back.
    pusher
        .remove_members(&id, &key, &refs(&people[..1]))
        .await
        .unwrap();
    assert_eq!(
        dns(&group(&slapd, id.as_str()).await, "member"),
        set(&[id.as_str()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_names_with_a_configured_placeholder() {
    let slapd = Slapd::start(false).await;
    let nobody = format!("cn=nobody,{SUFFIX}");
    let mut config = groups_config(&slapd);
    config.group_class = GroupClass::GroupOfUniqueNames;
    config.empty_member = Some(nobody.clone());
    let pusher = ldap_pusher(config);
    let people = many_people(&slapd, 3).await;
    let key = DepartmentId::new("7");
    let id = pusher
        .create_group(&write(&key, "Ops", None))
        .await
        .unwrap();
    let entry = group(&slapd, id.as_str()).await;
    assert!(
        entry
            .values("objectClass")
            .contains(&"groupOfUniqueNames".to_owned())
    );
    assert_eq!(dns(&entry, "uniqueMember"), set(&[&nobody]));

    pusher.add_members(&id, &key, &refs(&people)).await.unwrap();
    let all: BTreeSet<String> = people
        .iter()
        .map(|(_, dn)| dn.as_str().to_lowercase())
        .collect();
    assert_eq!(dns(&group(&slapd, id.as_str()).await, "uniqueMember"), all);

    // A rename leaves a configured placeholder alone.
    let renamed = pusher
        .update_group(&id, &write(&key, "Operations", None))
        .await
        .unwrap()
        .unwrap();
    pusher
        .remove_members(&id, &key, &refs(&people))
        .await
        .expect_err("the old DN is gone");
    pusher
        .remove_members(&renamed, &key, &refs(&people))
        .await
        .unwrap();
    assert_eq!(
        dns(&group(&slapd, renamed.as_str()).await, "uniqueMember"),
        set(&[&nobody])
    );
}

/// People moved (department OUs, the disabled OU) and renamed keep their memberships and
/// ownerships right, whether or not the server's refint overlay rewrites the DNs too.
async fn moves_keep_memberships(refint: bool) {
    let slapd = Slapd::start(refint).await;
    let mut config = groups_config(&slapd);
    config.department_ous = true;
    config.deactivation = Deactivation::Move {
        ou: DISABLED.into(),
    };
    // Entries named by user name, so a new user name renames the entry.
    config.attributes.insert("uid".into(), "user_name".into());
    config
        .attributes
        .insert("employeeNumber".into(), "key".into());
    config.key_attribute = "employeeNumber".into();
    let pusher = ldap_pusher(config);
    let ann = person(&pusher, "ann", Some("A")).await;
    let bob = person(&pusher, "bob", Some("A")).await;
    let (ann_key, bob_key) = (UserKey::new("ann"), UserKey::new("bob"));
    let both = [
        (ann_key.clone(), ann.clone()),
        (bob_key.clone(), bob.clone()),
    ];
    let (x, y) = (DepartmentId::new("x"), DepartmentId::new("y"));
    let group_x = pusher
        .create_group(&write(
            &x,
            "X",
            Some(PersonRef {
                key: &ann_key,
                id: &ann,
            }),
        ))
        .await
        .unwrap();
    let group_y = pusher.create_group(&write(&y, "Y", None)).await.unwrap();
    pusher
        .add_members(&group_x, &x, &refs(&both))
        .await
        .unwrap();
    pusher
        .add_members(&group_y, &y, &refs(&both[1..]))
        .await
        .unwrap();

    // Bob changes department (his entry moves to ou=B), Ann is deactivated (to ou=disabled).
    let bob_moved = pusher
        .update(
            &bob,
            &[FieldChange {
                field: Field::Department,
                before: Some("A".into()),
                after: Some("B".into()),
            }],
        )
        .await
        .unwrap()
        .expect("a department change moves the entry");
    assert_eq!(bob_moved.as_str(), format!("uid=bob,ou=B,{PEOPLE}"));
    let ann_moved = pusher
        .set_active(&ann, false)
        .await
        .unwrap()
        .expect("a deactivation moves the entry");
    assert_eq!(ann_moved.as_str(), format!("uid=ann,{DISABLED}"));

    let expect = |dn: String, attribute: &'static str, values: Vec<String>| {
        let slapd = &slapd;
        async move {
            let entry = group(slapd, &dn).await;
            let want: BTreeSet<String> = values.iter().map(|v| v.to_lowercase()).collect();
            let got = dns(&entry, attribute);
            if got == want {
                Ok(())
            } else {
                Err(format!("{dn} {attribute}: {got:?}, expected {want:?}"))
            }
        }
    };
    let ann_now = ann_moved.as_str().to_owned();
    let bob_now = bob_moved.as_str().to_owned();
    eventually("members follow the moves", || {
        expect(
            group_x.as_str().to_owned(),
            "member",
            vec![ann_now.clone(), bob_now.clone()],
        )
    })
    .await;
    eventually("the owner follows the move", || {
        expect(group_x.as_str().to_owned(), "owner", vec![ann_now.clone()])
    })
    .await;
    eventually("every group is rewritten", || {
        expect(group_y.as_str().to_owned(), "member", vec![bob_now.clone()])
    })
    .await;

    // Bob gets a new user name: his entry is renamed, and both groups follow.
    let bob_renamed = pusher
        .update(
            &bob_moved,
            &[FieldChange {
                field: Field::UserName,
                before: Some("bob".into()),
                after: Some("robert".into()),
            }],
        )
        .await
        .unwrap()
        .expect("a new user name renames the entry");
    assert_eq!(bob_renamed.as_str(), format!("uid=robert,ou=B,{PEOPLE}"));
    let bob_now = bob_renamed.as_str().to_owned();
    eventually("members follow the rename", || {
        expect(
            group_x.as_str().to_owned(),
            "member",
            vec![ann_now.clone(), bob_now.clone()],
        )
    })
    .await;
    eventually("every group follows the rename", || {
        expect(group_y.as_str().to_owned(), "member", vec![bob_now.clone()])
    })
    .await;

    // Reactivated: back to her department's OU, and the group follows again.
    let ann_back = pusher
        .set_active(&ann_moved, true)
        .await
        .unwrap()
        .expect("a reactivation moves the entry");
    let ann_back = ann_back.as_str().to_owned();
    eventually("members follow the way back", || {
        expect(
            group_x.as_str().to_owned(),
            "member",
            vec![ann_back.clone(), bob_now.clone()],
        )
    })
    .await;

    // The memberships still come off under the current DNs.
    let now = [
        (ann_key.clone(), TargetId::new(ann_back.clone())),
        (bob_key.clone(), bob_renamed.clone()),
    ];
    pusher
        .remove_members(&group_x, &x, &refs(&now))
        .await
        .unwrap();
    assert_eq!(
        dns(&group(&slapd, group_x.as_str()).await, "member"),
        set(&[group_x.as_str()])
    );
    // No person entry was left behind or duplicated by the rewrites.
    assert_eq!(slapd.people().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_keep_memberships_without_refint() {
    moves_keep_memberships(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_keep_memberships_with_refint() {
    moves_keep_memberships(true).await;
}

/// The admin changed a group's owner by hand: the next update puts the head back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_repairs_a_hand_edited_owner() {
    let slapd = Slapd::start(false).await;
    let pusher = ldap_pusher(groups_config(&slapd));
    let ann = person(&pusher, "ann", None).await;
    let ann_key = UserKey::new("ann");
    let key = DepartmentId::new("5");
    let head = Some(PersonRef {
        key: &ann_key,
        id: &ann,
    });
    let id = pusher
        .create_group(&write(&key, "Legal", head))
        .await
        .unwrap();
    slapd
        .modify(
            id.as_str(),
            vec![Mod::Replace(
                "owner".to_owned(),
                HashSet::from([format!("cn=someone,{SUFFIX}")]),
            )],
        )
        .await;
    assert_eq!(
        pusher
            .update_group(&id, &write(&key, "Legal", head))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        dns(&group(&slapd, id.as_str()).await, "owner"),
        set(&[ann.as_str()])
    );
}

/// The engine sends group steps (hand-made: the planner plans none yet) from a reviewed plan to
/// slapd, and records in the snapshot what the directory acknowledged: the group's DN, new after
/// a rename, and its members by key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_applies_group_steps_and_records_them() {
    use common::{AGENT_ID, assert_applied, connector_to, small_org, wecom_puller};
    use orgsync::engine::{Approval, Baseline, Engine, Reached, RunMode, verify_plan};
    use orgsync::model::{Directory, GroupAttributes};
    use orgsync::plan::{Policy, Step};
    use orgsync::pushers::AnyPusher;
    use orgsync::snapshot::SnapshotStore;
    use orgsync::state::StateDb;
    use std::sync::Arc;

    let slapd = Slapd::start(false).await;
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let connector = connector_to(
        wecom_puller(&wecom, Some(AGENT_ID)),
        AnyPusher::Ldap(ldap_pusher(groups_config(&slapd))),
        Policy::default().without_guard(),
    );
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    assert_applied(&engine.run(&connector, RunMode::Apply).await.unwrap());

    let apply = |steps: Vec<Step>| {
        let (engine, connector) = (&engine, &connector);
        async move {
            let Reached::Ready(mut saved) = engine
                .plan_for_review(connector, Baseline::Snapshot)
                .await
                .unwrap()
            else {
                panic!("the review ended early")
            };
            assert!(saved.plan.steps.is_empty(), "people are in sync");
            saved.plan.steps = steps;
            let snapshot = engine.store().load(&connector.name).unwrap();
            saved
                .report
                .set_plan(&saved.plan, &Directory::default(), &snapshot);
            let key = engine.store().plan_key().unwrap();
            let verified = verify_plan(&saved.seal(&key).unwrap(), &key).unwrap();
            let report = engine
                .apply_saved(connector, verified, Approval::None)
                .await
                .unwrap();
            assert_applied(&report);
            engine.store().load(&connector.name).unwrap()
        }
    };
    let rd = DepartmentId::new("2");
    let attributes = |name: &str| GroupAttributes {
        display_name: name.into(),
        parent: None,
        head: Some(UserKey::new("boss2")),
    };
    let snapshot = apply(vec![
        Step::CreateGroup {
            group: rd.clone(),
            attributes: Box::new(attributes("研发部")),
        },
        Step::AddMembers {
            group: rd.clone(),
            members: vec![UserKey::new("lin"), UserKey::new("zhou")],
        },
    ])
    .await;
    let applied = &snapshot.groups[&rd];
    assert_eq!(applied.target_id.as_str(), format!("cn=研发部,{GROUPS}"));
    assert_eq!(
        applied.members,
        [UserKey::new("lin"), UserKey::new("zhou")].into()
    );
    let entry = group(&slapd, applied.target_id.as_str()).await;
    let person = |key: &str| {
        snapshot.users[&UserKey::new(key)]
            .target_id
            .as_str()
            .to_owned()
    };
    assert_eq!(
        dns(&entry, "member"),
        set(&[&person("lin"), &person("zhou")])
    );
    assert_eq!(dns(&entry, "owner"), set(&[&person("boss2")]));

    // Renamed, and one member leaves: the snapshot follows the new DN.
    let snapshot = apply(vec![
        Step::UpdateGroup {
            group: rd.clone(),
            before: Box::new(attributes("研发部")),
            after: Box::new(attributes("Engineering")),
        },
        Step::RemoveMembers {
            group: rd.clone(),
            members: vec![UserKey::new("lin")],
        },
    ])
    .await;
    let applied = &snapshot.groups[&rd];
    assert_eq!(
        applied.target_id.as_str(),
        format!("cn=Engineering,{GROUPS}")
    );
    assert_eq!(applied.members, [UserKey::new("zhou")].into());
    assert_eq!(
        dns(&group(&slapd, applied.target_id.as_str()).await, "member"),
        set(&[&person("zhou")])
    );
}
