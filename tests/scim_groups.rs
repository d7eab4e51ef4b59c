//! The SCIM pusher's group methods (departments as `/Groups`) against the in-process SCIM
//! emulator and the third-party scim2-server: create, adoption by externalId and by name, rename
//! and head changes, members in batches of `plan::MEMBER_BATCH`, idempotent repeats, delete.

mod common;

use common::scim2_server::{Scim2Server, TOKEN};
use emulators::scim::{self, GroupHead, ScimConfig, ScimFaults, ScimGroup, ScimHandle, ScimUser};
use orgsync::config::{HumanDuration, RetryConfig, Secret, SecretRef};
use orgsync::engine::{Approval, Baseline, Engine, Reached, RunMode, verify_plan};
use orgsync::model::GroupAttributes;
use orgsync::model::{Attributes, DepartmentId, TargetId, UserKey};
use orgsync::plan::MEMBER_BATCH;
use orgsync::plan::{Policy, RemovalReason, Step};
use orgsync::pushers::scim::{ScimPusher, ScimTargetConfig};
use orgsync::pushers::{GroupWrite, PersonRef, PushError, Pusher};
use orgsync::snapshot::SnapshotStore;
use orgsync::state::StateDb;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const DEPARTMENT: &str = "urn:orgsync:params:scim:schemas:extension:department:1.0:Group";

fn config(base_url: &str, tweak: impl FnOnce(&mut ScimTargetConfig)) -> ScimTargetConfig {
    let mut config = ScimTargetConfig::new(
        url::Url::parse(base_url).unwrap(),
        SecretRef::Env("ORGSYNC_TEST_UNUSED".into()),
    );
    config.retry = RetryConfig {
        max_attempts: Some(4),
        min_delay: HumanDuration(Duration::from_millis(1)),
        max_delay: HumanDuration(Duration::from_millis(20)),
        ..RetryConfig::default()
    };
    config.timeout = HumanDuration(Duration::from_secs(10));
    tweak(&mut config);
    config.validate().unwrap();
    config
}

fn pusher(scim: &ScimHandle, tweak: impl FnOnce(&mut ScimTargetConfig)) -> ScimPusher {
    ScimPusher::new(
        config(scim.base_url(), tweak),
        Secret::new(scim.bearer_token()),
    )
    .unwrap()
}

async fn start() -> ScimHandle {
    scim::start(ScimConfig::default()).await.unwrap()
}

/// A department's group as written: owned values the tests borrow from.
struct Dept {
    key: DepartmentId,
    name: String,
    parent: Option<DepartmentId>,
    head: Option<(UserKey, TargetId)>,
}

impl Dept {
    fn new(key: &str, name: &str) -> Self {
        Dept {
            key: DepartmentId::new(key),
            name: name.into(),
            parent: None,
            head: None,
        }
    }

    fn write(&self) -> GroupWrite<'_> {
        GroupWrite {
            key: &self.key,
            display_name: &self.name,
            parent: self.parent.as_ref(),
            head: self.head.as_ref().map(|(key, id)| PersonRef { key, id }),
        }
    }
}

/// People as (key, target id) pairs.
type People = Vec<(UserKey, TargetId)>;

fn refs(people: &[(UserKey, TargetId)]) -> Vec<PersonRef<'_>> {
    people
        .iter()
        .map(|(key, id)| PersonRef { key, id })
        .collect()
}

/// `count` users made behind the pusher's back in the emulator.
fn users(scim: &ScimHandle, count: usize) -> People {
    (0..count)
        .map(|n| {
            let key = format!("p{n:05}");
            let id = scim.insert_user(ScimUser {
                external_id: Some(key.clone()),
                ..ScimUser::new(key.clone())
            });
            (UserKey::new(key), TargetId::new(id))
        })
        .collect()
}

fn ids(people: &[(UserKey, TargetId)]) -> BTreeSet<String> {
    people
        .iter()
        .map(|(_, id)| id.as_str().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_writes_name_key_and_extension_and_a_repeat_adopts() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let lin = users(&scim, 1);
    let mut dept = Dept::new("7", "平台组");
    dept.parent = Some(DepartmentId::new("1"));
    dept.head = Some(lin[0].clone());
    let id = pusher.create_group(&dept.write()).await.unwrap();
    assert_eq!(
        scim.group(id.as_str()).unwrap(),
        ScimGroup {
            id: id.as_str().into(),
            external_id: Some("7".into()),
            head: Some(GroupHead {
                value: lin[0].1.as_str().into(),
                external_id: Some("p00000".into()),
            }),
            parent_department: Some("1".into()),
            version: 1,
            ..ScimGroup::new("平台组")
        }
    );
    let counters = scim.counters();
    assert_eq!(
        (counters.gets, counters.posts),
        (2, 1),
        "two lookups, one POST"
    );

    // A rerun after a crash finds its own group by externalId: no second group.
    scim.reset_counters();
    let again = pusher.create_group(&dept.write()).await.unwrap();
    assert_eq!(again, id);
    assert_eq!(scim.groups().len(), 1);
    let counters = scim.counters();
    assert_eq!((counters.gets, counters.posts, counters.patches), (1, 0, 1));
}

#[tokio::test]
async fn create_adopts_by_external_id_then_by_an_unclaimed_name() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let head = users(&scim, 1);
    let by_key = scim.insert_group(ScimGroup {
        external_id: Some("7".into()),
        ..ScimGroup::new("Renamed by an admin")
    });
    let by_name = scim.insert_group(ScimGroup::new("SUPPORT"));
    let claimed = scim.insert_group(ScimGroup {
        external_id: Some("other-tool-9".into()),
        ..ScimGroup::new("Ops")
    });

    let mut sales = Dept::new("7", "Sales");
    sales.head = Some(head[0].clone());
    assert_eq!(
        pusher.create_group(&sales.write()).await.unwrap().as_str(),
        by_key
    );
    let group = scim.group(&by_key).unwrap();
    assert_eq!(group.display_name, "Sales");
    assert_eq!(group.head.unwrap().value, head[0].1.as_str());

    let support = Dept::new("8", "Support");
    assert_eq!(
        pusher
            .create_group(&support.write())
            .await
            .unwrap()
            .as_str(),
        by_name
    );
    let group = scim.group(&by_name).unwrap();
    assert_eq!(
        (group.external_id.as_deref(), group.display_name.as_str()),
        (Some("8"), "Support")
    );

    // A group another department or tool claims is never taken over: the name clash is reported.
    let error = pusher
        .create_group(&Dept::new("9", "ops").write())
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::Conflict { .. }), "{error:?}");
    assert_eq!(
        scim.group(&claimed).unwrap().external_id.as_deref(),
        Some("other-tool-9")
    );
    assert_eq!(scim.groups().len(), 3);
}

#[tokio::test]
async fn a_create_applied_but_answered_too_late_is_adopted_on_retry() {
    let scim = start().await;
    let pusher = pusher(&scim, |c| {
        c.timeout = HumanDuration(Duration::from_millis(300));
    });
    scim.set_faults(ScimFaults {
        apply_then_timeout_every: Some(2),
        delay_after_apply: Duration::from_millis(1500),
        ..ScimFaults::default()
    });
    // Write 1, answered at once.
    pusher
        .create_group(&Dept::new("6", "Warm-up").write())
        .await
        .unwrap();
    // Write 2, the POST, lands but is answered too late; its retry (write 3) meets the name
    // (409), finds the group by externalId and adopts it (write 4 stalls, write 5 goes through).
    scim.reset_counters();
    let dept = Dept::new("7", "Sales");
    let id = pusher.create_group(&dept.write()).await.unwrap();
    assert_eq!(
        scim.counters().conflicts,
        1,
        "the retried POST met its own group"
    );
    assert_eq!(scim.groups().len(), 2, "never a duplicate");
    assert_eq!(scim.group_by_external_id("7").unwrap().id, id.as_str());
}

#[tokio::test]
async fn update_renames_and_changes_the_head_or_only_the_name_without_the_extension() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let people = users(&scim, 2);
    let mut dept = Dept::new("7", "Sales");
    dept.head = Some(people[0].clone());
    let id = pusher.create_group(&dept.write()).await.unwrap();

    dept.name = "Sales EMEA".into();
    dept.head = Some(people[1].clone());
    dept.parent = Some(DepartmentId::new("2"));
    assert_eq!(pusher.update_group(&id, &dept.write()).await.unwrap(), None);
    let group = scim.group(id.as_str()).unwrap();
    assert_eq!(group.display_name, "Sales EMEA");
    assert_eq!(group.head.unwrap().value, people[1].1.as_str());
    assert_eq!(group.parent_department.as_deref(), Some("2"));
    // The same update again changes nothing.
    pusher.update_group(&id, &dept.write()).await.unwrap();
    assert_eq!(scim.group(id.as_str()).unwrap().version, 2);

    dept.head = None;
    dept.parent = None;
    pusher.update_group(&id, &dept.write()).await.unwrap();
    let group = scim.group(id.as_str()).unwrap();
    assert_eq!((group.head, group.parent_department), (None, None));

    // Without the extension only the name is written.
    let plain = self::pusher(&scim, |c| c.group_extension = false);
    dept.name = "Sales Europe".into();
    dept.head = Some(people[0].clone());
    plain.update_group(&id, &dept.write()).await.unwrap();
    let group = scim.group(id.as_str()).unwrap();
    assert_eq!(
        (group.display_name.as_str(), group.head),
        ("Sales Europe", None)
    );
    let other = plain
        .create_group(
            &Dept {
                head: Some(people[0].clone()),
                parent: Some(DepartmentId::new("1")),
                ..Dept::new("8", "Support")
            }
            .write(),
        )
        .await
        .unwrap();
    let group = scim.group(other.as_str()).unwrap();
    assert_eq!((group.head, group.parent_department), (None, None));
}

#[tokio::test]
async fn five_thousand_members_in_batches_one_request_each() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let people = users(&scim, 5_000);
    let dept = Dept::new("7", "Everyone");
    let id = pusher.create_group(&dept.write()).await.unwrap();
    scim.reset_counters();
    for batch in people.chunks(MEMBER_BATCH) {
        pusher
            .add_members(&id, &dept.key, &refs(batch))
            .await
            .unwrap();
    }
    let counters = scim.counters();
    assert_eq!(
        (counters.patches, counters.gets),
        (25, 0),
        "one PATCH per batch"
    );
    assert_eq!(scim.group(id.as_str()).unwrap().members, ids(&people));

    // Adding members already there succeeds and changes nothing.
    let version = scim.group(id.as_str()).unwrap().version;
    pusher
        .add_members(&id, &dept.key, &refs(&people[..MEMBER_BATCH]))
        .await
        .unwrap();
    assert_eq!(scim.group(id.as_str()).unwrap().version, version);

    // One batch out, in one request.
    scim.reset_counters();
    let leaving = &people[1_000..1_000 + MEMBER_BATCH];
    pusher
        .remove_members(&id, &dept.key, &refs(leaving))
        .await
        .unwrap();
    assert_eq!(scim.counters().patches, 1);
    let expected: BTreeSet<String> = ids(&people).difference(&ids(leaving)).cloned().collect();
    assert_eq!(scim.group(id.as_str()).unwrap().members, expected);

    // The same removal again (a repeat after a crash): the server finds no target, the pusher
    // reads the members and has nothing left to send.
    scim.reset_counters();
    pusher
        .remove_members(&id, &dept.key, &refs(leaving))
        .await
        .unwrap();
    let counters = scim.counters();
    assert_eq!((counters.patches, counters.gets), (1, 1));
    // Half gone already, half still in: the other half is removed.
    let mixed = &people[1_100..1_100 + MEMBER_BATCH];
    pusher
        .remove_members(&id, &dept.key, &refs(mixed))
        .await
        .unwrap();
    let members = scim.group(id.as_str()).unwrap().members;
    assert_eq!(members.len(), 5_000 - 300);
    assert!(mixed.iter().all(|(_, id)| !members.contains(id.as_str())));
}

#[tokio::test]
async fn member_writes_ride_out_faults_and_refuse_strangers() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let people = users(&scim, 3);
    let dept = Dept::new("7", "Sales");
    let id = pusher.create_group(&dept.write()).await.unwrap();
    scim.set_faults(ScimFaults {
        http_5xx_every: Some(2),
        status_429_every: Some(3),
        ..ScimFaults::default()
    });
    for person in &people {
        pusher
            .add_members(&id, &dept.key, &refs(std::slice::from_ref(person)))
            .await
            .unwrap();
    }
    pusher
        .remove_members(&id, &dept.key, &refs(&people[..1]))
        .await
        .unwrap();
    scim.set_faults(ScimFaults::default());
    assert_eq!(scim.group(id.as_str()).unwrap().members, ids(&people[1..]));

    let stranger = vec![(UserKey::new("ghost"), TargetId::new("no-such-user"))];
    let error = pusher
        .add_members(&id, &dept.key, &refs(&stranger))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PushError::Status { status: 400, .. }),
        "{error:?}"
    );
    // A hostile id cannot aim a request elsewhere.
    let error = pusher
        .add_members(&TargetId::new("../Users"), &dept.key, &refs(&people))
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::Malformed { .. }), "{error:?}");
}

#[tokio::test]
async fn a_removal_applied_but_answered_too_late_ends_well() {
    let scim = start().await;
    let pusher = pusher(&scim, |c| {
        c.timeout = HumanDuration(Duration::from_millis(300));
    });
    let people = users(&scim, 4);
    let dept = Dept::new("7", "Sales");
    let id = pusher.create_group(&dept.write()).await.unwrap();
    pusher
        .add_members(&id, &dept.key, &refs(&people))
        .await
        .unwrap();
    scim.set_faults(ScimFaults {
        apply_then_timeout_every: Some(2),
        delay_after_apply: Duration::from_millis(1500),
        ..ScimFaults::default()
    });
    // Write 1, a repeated add, answered at once.
    pusher
        .add_members(&id, &dept.key, &refs(&people[..1]))
        .await
        .unwrap();
    // Write 2, the removal, lands but is answered too late; its retry finds no target, the
    // members are read, and nothing is left to remove.
    scim.reset_counters();
    pusher
        .remove_members(&id, &dept.key, &refs(&people[..2]))
        .await
        .unwrap();
    assert_eq!(scim.group(id.as_str()).unwrap().members, ids(&people[2..]));
    let counters = scim.counters();
    assert_eq!(
        (counters.patches, counters.errors, counters.gets),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn delete_and_delete_again() {
    let scim = start().await;
    let pusher = pusher(&scim, |_| {});
    let dept = Dept::new("7", "Sales");
    let id = pusher.create_group(&dept.write()).await.unwrap();
    pusher.delete_group(&id, &dept.key).await.unwrap();
    assert!(scim.groups().is_empty());
    pusher.delete_group(&id, &dept.key).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// scim2-server
// ---------------------------------------------------------------------------------------------

fn scim2_pusher(base: &str, extension: bool) -> ScimPusher {
    ScimPusher::new(
        config(base, |c| c.group_extension = extension),
        Secret::new(TOKEN),
    )
    .unwrap()
}

async fn scim2_get(url: &str) -> Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn scim2_users(pusher: &ScimPusher, count: usize) -> People {
    let mut people = Vec::new();
    for n in 0..count {
        let key = UserKey::new(format!("p{n:04}"));
        let id = pusher
            .create_unlisted(&key, &Attributes::new(key.as_str(), key.as_str()), true)
            .await
            .unwrap();
        people.push((key, id));
    }
    people
}

async fn scim2_members(base: &str, id: &TargetId) -> BTreeSet<String> {
    let group = scim2_get(&format!("{base}/Groups/{id}")).await;
    group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect()
}

/// scim2-server with its default schemas refuses the unknown extension (400 invalidSyntax); with
/// `group_extension = false` the whole group life cycle works.
#[tokio::test]
async fn scim2_server_without_the_extension() {
    let server = Scim2Server::start().await;
    let base = server.base_url("groups");
    let with = scim2_pusher(&base, true);
    let people = scim2_users(&with, 450).await;
    let mut dept = Dept::new("7", "Sales");
    dept.head = Some(people[0].clone());
    let error = with.create_group(&dept.write()).await.unwrap_err();
    assert!(
        matches!(&error, PushError::Status { status: 400, detail, .. } if detail.contains("group_extension = false")),
        "{error:?}"
    );

    let pusher = scim2_pusher(&base, false);
    let id = pusher.create_group(&dept.write()).await.unwrap();
    assert_eq!(
        pusher.create_group(&dept.write()).await.unwrap(),
        id,
        "adopted by externalId"
    );
    let unclaimed: Value = reqwest::Client::new()
        .post(format!("{base}/Groups"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "support"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let support = Dept::new("8", "Support");
    let adopted = pusher.create_group(&support.write()).await.unwrap();
    assert_eq!(
        adopted.as_str(),
        unclaimed["id"].as_str().unwrap(),
        "adopted by name"
    );

    for batch in people.chunks(MEMBER_BATCH) {
        pusher
            .add_members(&id, &dept.key, &refs(batch))
            .await
            .unwrap();
    }
    pusher
        .add_members(&id, &dept.key, &refs(&people[..10]))
        .await
        .unwrap();
    assert_eq!(scim2_members(&base, &id).await, ids(&people));
    let leaving = &people[100..300];
    pusher
        .remove_members(&id, &dept.key, &refs(leaving))
        .await
        .unwrap();
    pusher
        .remove_members(&id, &dept.key, &refs(leaving))
        .await
        .unwrap();
    let expected: BTreeSet<String> = ids(&people).difference(&ids(leaving)).cloned().collect();
    assert_eq!(scim2_members(&base, &id).await, expected);

    dept.name = "Sales EMEA".into();
    pusher.update_group(&id, &dept.write()).await.unwrap();
    let group = scim2_get(&format!("{base}/Groups/{id}")).await;
    assert_eq!(group["displayName"], "Sales EMEA");
    assert_eq!(group["externalId"], "7");

    pusher.delete_group(&id, &dept.key).await.unwrap();
    pusher.delete_group(&id, &dept.key).await.unwrap();
    assert_eq!(
        scim2_get(&format!("{base}/Groups/{id}")).await["status"],
        "404"
    );
}

/// scim2-server serving the department extension's schema (`--schema`, `--resource-type`)
/// accepts it: head and parent are written, changed and removed.
#[tokio::test]
async fn scim2_server_with_the_extension_schema() {
    let server = Scim2Server::start_with_department_extension().await;
    let base = server.base_url("extension");
    let pusher = scim2_pusher(&base, true);
    let people = scim2_users(&pusher, 2).await;
    let mut dept = Dept::new("7", "Sales");
    dept.head = Some(people[0].clone());
    dept.parent = Some(DepartmentId::new("1"));
    let id = pusher.create_group(&dept.write()).await.unwrap();
    let group = scim2_get(&format!("{base}/Groups/{id}")).await;
    assert_eq!(
        group[DEPARTMENT],
        serde_json::json!({
            "head": { "value": people[0].1.as_str(), "externalId": "p0000" },
            "parentDepartment": "1"
        })
    );

    dept.head = Some(people[1].clone());
    dept.parent = None;
    pusher.update_group(&id, &dept.write()).await.unwrap();
    let group = scim2_get(&format!("{base}/Groups/{id}")).await;
    assert_eq!(group[DEPARTMENT]["head"]["value"], people[1].1.as_str());
    assert_eq!(group[DEPARTMENT]["parentDepartment"], Value::Null);

    dept.head = None;
    pusher.update_group(&id, &dept.write()).await.unwrap();
    let group = scim2_get(&format!("{base}/Groups/{id}")).await;
    assert_eq!(group[DEPARTMENT], Value::Null);
    assert_eq!(
        pusher.create_group(&dept.write()).await.unwrap(),
        id,
        "adopted by externalId"
    );
}

// ---------------------------------------------------------------------------------------------
// Through the engine: hand-made group steps in a reviewed plan (the planner does not plan them
// yet), applied to the emulator and recorded in a sled snapshot
// ---------------------------------------------------------------------------------------------

async fn apply_steps(
    engine: &Engine<StateDb>,
    connector: &orgsync::engine::Connector,
    steps: Vec<Step>,
) -> orgsync::report::Report {
    let Reached::Ready(mut saved) = engine
        .plan_for_review(connector, Baseline::Snapshot)
        .await
        .unwrap()
    else {
        panic!("the dry run ended early");
    };
    assert!(saved.plan.steps.is_empty(), "nothing else to do");
    saved.plan.steps = steps;
    let key = engine.store().plan_key().unwrap();
    let verified = verify_plan(&saved.seal(&key).unwrap(), &key).unwrap();
    engine
        .apply_saved(connector, verified, Approval::None)
        .await
        .unwrap()
}

fn attributes(name: &str, parent: Option<&str>, head: Option<&str>) -> Box<GroupAttributes> {
    Box::new(GroupAttributes {
        display_name: name.into(),
        parent: parent.map(DepartmentId::new),
        head: head.map(UserKey::new),
    })
}

#[tokio::test]
async fn group_steps_through_the_engine() {
    let scim = start().await;
    let wecom = emulators::wecom::start(common::small_org(), Default::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = common::connector(
        common::wecom_puller(&wecom, Some(common::AGENT_ID)),
        common::scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    common::assert_applied(&engine.run(&connector, RunMode::Apply).await.unwrap());
    let id_of = |key: &str| scim.user_by_external_id(key).unwrap().id;

    let rd = DepartmentId::new("2");
    let report = apply_steps(
        &engine,
        &connector,
        vec![
            Step::CreateGroup {
                group: rd.clone(),
                attributes: attributes("研发部", Some("1"), Some("boss2")),
            },
            Step::AddMembers {
                group: rd.clone(),
                members: vec![
                    UserKey::new("boss2"),
                    UserKey::new("lin"),
                    UserKey::new("zhou"),
                ],
            },
        ],
    )
    .await;
    common::assert_applied(&report);
    // The report is the reviewed dry run's, made before the steps were added by hand: the
    // target and the snapshot tell what was applied.
    let group = scim.group_by_external_id("2").unwrap();
    assert_eq!(group.display_name, "研发部");
    assert_eq!(group.head.as_ref().unwrap().value, id_of("boss2"));
    assert_eq!(group.parent_department.as_deref(), Some("1"));
    assert_eq!(
        group.members,
        ["boss2", "lin", "zhou"].map(id_of).into_iter().collect()
    );
    let snapshot = engine.store().load("test").unwrap();
    let applied = &snapshot.groups[&rd];
    assert_eq!(applied.target_id.as_str(), group.id);
    assert_eq!(applied.members.len(), 3);

    let report = apply_steps(
        &engine,
        &connector,
        vec![
            Step::UpdateGroup {
                group: rd.clone(),
                before: attributes("研发部", Some("1"), Some("boss2")),
                after: attributes("研发中心", None, Some("lin")),
            },
            Step::RemoveMembers {
                group: rd.clone(),
                members: vec![UserKey::new("zhou")],
            },
        ],
    )
    .await;
    common::assert_applied(&report);
    let group = scim.group_by_external_id("2").unwrap();
    assert_eq!(group.display_name, "研发中心");
    assert_eq!(group.head.unwrap().value, id_of("lin"));
    assert_eq!(group.parent_department, None);
    assert_eq!(group.members.len(), 2);

    let report = apply_steps(
        &engine,
        &connector,
        vec![Step::DeleteGroup {
            group: rd.clone(),
            reason: RemovalReason::Vanished,
        }],
    )
    .await;
    common::assert_applied(&report);
    assert!(scim.groups().is_empty());
    assert!(engine.store().load("test").unwrap().groups.is_empty());
}

/// The same steps through the engine into scim2-server serving the department extension.
#[tokio::test]
async fn group_steps_through_the_engine_into_scim2_server() {
    let server = Scim2Server::start_with_department_extension().await;
    let base = server.base_url("engine");
    let wecom = emulators::wecom::start(common::small_org(), Default::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = common::connector(
        common::wecom_puller(&wecom, Some(common::AGENT_ID)),
        common::scim_pusher(&base, TOKEN),
        Policy::default().without_guard(),
    );
    common::assert_applied(&engine.run(&connector, RunMode::Apply).await.unwrap());
    let rd = DepartmentId::new("2");
    common::assert_applied(
        &apply_steps(
            &engine,
            &connector,
            vec![
                Step::CreateGroup {
                    group: rd.clone(),
                    attributes: attributes("研发部", Some("1"), Some("boss2")),
                },
                Step::AddMembers {
                    group: rd.clone(),
                    members: vec![UserKey::new("lin"), UserKey::new("zhou")],
                },
            ],
        )
        .await,
    );
    let snapshot = engine.store().load("test").unwrap();
    let id = &snapshot.groups[&rd].target_id;
    let group = scim2_get(&format!("{base}/Groups/{id}")).await;
    assert_eq!(group["displayName"], "研发部");
    assert_eq!(group["externalId"], "2");
    assert_eq!(
        group[DEPARTMENT]["head"]["value"],
        snapshot.users[&UserKey::new("boss2")].target_id.as_str()
    );
    let expected: BTreeSet<String> = ["lin", "zhou"]
        .map(|k| {
            snapshot.users[&UserKey::new(k)]
                .target_id
                .as_str()
                .to_owned()
        })
        .into();
    assert_eq!(scim2_members(&base, id).await, expected);

    common::assert_applied(
        &apply_steps(
            &engine,
            &connector,
            vec![
                Step::RemoveMembers {
                    group: rd.clone(),
                    members: vec![UserKey::new("zhou")],
                },
                Step::DeleteGroup {
                    group: rd.clone(),
                    reason: RemovalReason::Vanished,
                },
            ],
        )
        .await,
    );
    assert_eq!(
        scim2_get(&format!("{base}/Groups/{id}")).await["status"],
        "404"
    );
    assert!(engine.store().load("test").unwrap().groups.is_empty());
}
