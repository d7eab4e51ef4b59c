//! End to end: the WeCom emulator → orgsync → the SCIM emulator, through the engine and sled.

mod common;

use common::{AGENT_ID, by_external_id, connector, scim_pusher, small_org, wecom_puller};
use emulators::fixture::Status;
use emulators::scim::{ManagerGuard, ScimConfig, ScimUser};
use orgsync::engine::{Engine, RunMode};
use orgsync::plan::Policy;
use orgsync::report::{Report, RunOutcome};
use orgsync::snapshot::SnapshotStore;
use orgsync::state::StateDb;
use std::collections::BTreeMap;
use std::sync::Arc;

fn assert_applied(report: &Report) {
    assert_eq!(
        report.outcome,
        RunOutcome::Applied,
        "report:\n{}",
        orgsync::report::render_text(report)
    );
}

async fn scenario(guard: ManagerGuard) {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(ScimConfig {
        manager_guard: guard,
        ..Default::default()
    })
    .await
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = Arc::new(StateDb::open(state.path()).unwrap());
    let engine = Engine::new(store.clone());
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );

    // A dry run reads and plans but writes nothing anywhere.
    let dry = engine.run(&connector, RunMode::DryRun).await.unwrap();
    assert_eq!(dry.outcome, RunOutcome::Planned);
    assert!(!dry.steps.is_empty());
    assert!(scim.users().is_empty(), "dry run wrote to the target");
    assert!(
        store.load("test").unwrap().users.is_empty(),
        "dry run wrote to the snapshot"
    );

    // First sync: everyone in scope, managers inside scope only.
    scim.reset_counters();
    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&first);
    assert_eq!(
        scim.counters().gets,
        2,
        "the target's check and one listing, no lookup before each create"
    );
    let target = by_external_id(&scim.users());
    let keys: Vec<&str> = target.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"]
    );
    let manager = |t: &BTreeMap<String, (ScimUser, Option<String>)>, k: &str| t[k].1.clone();
    assert_eq!(manager(&target, "boss2").as_deref(), Some("ceo"));
    assert_eq!(manager(&target, "lin").as_deref(), Some("boss2"));
    assert_eq!(manager(&target, "wang").as_deref(), Some("ceo"));
    assert_eq!(
        manager(&target, "sales1"),
        None,
        "the manager is outside the scope"
    );
    assert_eq!(target["lin"].0.display_name.as_deref(), Some("林晓"));
    assert_eq!(
        target["sales1"].0.display_name.as_deref(),
        Some("<img src=x onerror=alert(1)>")
    );
    assert!(target.values().all(|(u, _)| u.active));

    // The org changes upstream.
    wecom.update_org(|org| {
        let user = |org: &mut emulators::fixture::Org, id: &str| {
            org.users.iter_mut().position(|u| u.id == id).unwrap()
        };
        let i = user(org, "lin");
        org.users[i].name = "林晓晓".into();
        org.users[i].title = None;
        let i = user(org, "zhou");
        org.users[i].manager = Some("lin".into()); // new manager
        let i = user(org, "boss2");
        org.users[i].departments = vec![4]; // moves out of scope; lin's manager with them
        org.departments[1].leaders = vec!["lin".into()];
        let i = user(org, "wang");
        org.users[i].status = Status::Disabled; // frozen, and manages leaver
        let i = user(org, "leaver");
        org.users[i].status = Status::Resigned;
    });
    let second = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&second);
    let target = by_external_id(&scim.users());
    assert_eq!(target["lin"].0.display_name.as_deref(), Some("林晓晓"));
    assert_eq!(target["lin"].0.title, None);
    assert_eq!(manager(&target, "zhou").as_deref(), Some("lin"));
    assert_eq!(
        manager(&target, "lin"),
        None,
        "lin's manager left the scope"
    );
    assert!(!target["boss2"].0.active, "out of scope → deactivated");
    assert!(!target["wang"].0.active, "frozen → deactivated");
    assert!(!target["leaver"].0.active, "resigned → deactivated");
    assert!(target["ceo"].0.active && target["lin"].0.active && target["zhou"].0.active);
    for (key, (user, manager)) in &target {
        if !user.active {
            assert_eq!(
                manager, &None,
                "{key} is inactive and must not keep a manager link"
            );
        }
        if let Some(manager) = manager {
            assert!(
                target[manager].0.active,
                "{key} reports to inactive {manager}"
            );
        }
    }
    assert!(scim.dangling_managers().is_empty());

    // Nothing changed since: zero steps, zero writes.
    scim.reset_counters();
    let third = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&third);
    assert!(
        third.steps.is_empty(),
        "a resync planned {} steps",
        third.steps.len()
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
}

#[tokio::test]
async fn sync_change_and_resync_converge() {
    scenario(ManagerGuard::Off).await;
}

/// A target that refuses to deactivate someone who is still a manager (as DingTalk does) sees
/// links cleared or moved first, so nothing is refused.
#[tokio::test]
async fn strict_target_never_refuses_a_removal() {
    scenario(ManagerGuard::Strict).await;
}

#[tokio::test]
async fn second_run_without_changes_is_empty_on_a_generated_org() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 600,
        departments: 40,
        seed: 11,
        ..Default::default()
    });
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    assert_applied(&engine.run(&connector, RunMode::Apply).await.unwrap());
    let again = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(
        again.steps.is_empty(),
        "{}",
        orgsync::report::render_text(&again)
    );
    assert!(scim.dangling_managers().is_empty());
}

/// The snapshot survives a restart of the process: a new engine on the same state directory
/// plans nothing after a completed sync.
#[tokio::test]
async fn snapshot_persists_across_engines() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let make = || {
        connector(
            wecom_puller(&wecom, Some(AGENT_ID)),
            scim_pusher(scim.base_url(), scim.bearer_token()),
            Policy::default().without_guard(),
        )
    };
    {
        let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
        assert_applied(&engine.run(&make(), RunMode::Apply).await.unwrap());
    }
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let report = engine.run(&make(), RunMode::DryRun).await.unwrap();
    assert!(report.steps.is_empty());
}

/// Half the company vanishing (a shrunken scope) is refused whole by the default guard: nothing
/// is written, and `--allow-deletions` (Approval::AllowDeletions) applies that plan.
#[tokio::test]
async fn guard_refuses_a_shrunken_scope_until_approved() {
    use orgsync::engine::{Approval, RunOptions};
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let engine = Engine::new(Arc::new(orgsync::snapshot::MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default(),
    );
    assert_applied(&engine.run(&connector, RunMode::Apply).await.unwrap());

    wecom.update_org(|org| org.scope.departments = vec![2]); // 销售部 drops out of the scope
    scim.reset_counters();
    let refused = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(
        matches!(refused.outcome, RunOutcome::Refused { .. }),
        "{:?}",
        refused.outcome
    );
    assert!(refused.guard.as_ref().is_some_and(|v| v.is_refused()));
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
    assert!(scim.users().iter().all(|u| u.active));

    let approved = engine
        .run(
            &connector,
            RunOptions {
                approval: Approval::AllowDeletions,
                ..RunOptions::new(RunMode::Apply)
            },
        )
        .await
        .unwrap();
    assert_applied(&approved);
    let mut inactive: Vec<String> = scim
        .users()
        .into_iter()
        .filter(|u| !u.active)
        .filter_map(|u| u.external_id)
        .collect();
    inactive.sort();
    assert_eq!(inactive, ["leaver", "sales1", "wang"]);
}
