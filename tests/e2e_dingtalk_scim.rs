//! End to end: the DingTalk emulator → orgsync → the SCIM emulator, through the engine and sled.

mod common;

use common::{dingtalk_puller, scim_pusher, small_org};
use emulators::dingtalk::{DingtalkConfig, DingtalkHandle};
use emulators::fixture::{Org, Status};
use emulators::scim::{ScimConfig, ScimHandle, ScimUser};
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::plan::{LinkSkipReason, Policy};
use orgsync::pullers::AnyPuller;
use orgsync::pushers::AnyPusher;
use orgsync::report::{Report, RunOutcome};
use orgsync::state::StateDb;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn start(org: Org) -> DingtalkHandle {
    emulators::dingtalk::start(
        org,
        DingtalkConfig {
            rate_limit_speedup: 20.0,
            // Counts are not asserted here; the limits are left on as DingTalk has them.
            enforce_rate_limits: true,
            ..DingtalkConfig::default()
        },
    )
    .await
    .unwrap()
}

fn connector(dingtalk: &DingtalkHandle, scim: &ScimHandle) -> Connector {
    Connector {
        name: "dingtalk".into(),
        puller: AnyPuller::Dingtalk(dingtalk_puller(dingtalk, |_| {})),
        pusher: AnyPusher::Scim(scim_pusher(scim.base_url(), scim.bearer_token())),
        policy: Policy::default(),
        concurrency: 4,
    }
}

/// The target as externalId → (active, manager's externalId).
fn target(scim: &ScimHandle) -> BTreeMap<String, (bool, Option<String>)> {
    let users = scim.users();
    let external = |id: &str| {
        users
            .iter()
            .find(|u| u.id == id)
            .and_then(|u: &ScimUser| u.external_id.clone())
            .unwrap_or_else(|| "<dangling>".into())
    };
    users
        .iter()
        .map(|u| {
            (
                u.external_id.clone().expect("orgsync sets externalId"),
                (u.active, u.manager_id.as_deref().map(external)),
            )
        })
        .collect()
}

fn manager(target: &BTreeMap<String, (bool, Option<String>)>, key: &str) -> Option<String> {
    target[key].1.clone()
}

fn assert_applied(report: &Report) {
    assert_eq!(
        report.outcome,
        RunOutcome::Applied,
        "{}",
        orgsync::report::render_text(report)
    );
}

async fn assert_converged(engine: &Engine<StateDb>, connector: &Connector, scim: &ScimHandle) {
    scim.reset_counters();
    let again = engine.run(connector, RunMode::Apply).await.unwrap();
    assert_applied(&again);
    assert!(
        again.steps.is_empty(),
        "a resync planned steps:\n{}",
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
}

/// Partial scope (departments 2 and 3 plus the CEO granted individually): managers outside the
/// scope are reported by the puller and skipped by the planner; changes upstream converge.
#[tokio::test]
async fn dingtalk_to_scim_syncs_and_a_second_run_plans_nothing() {
    let dingtalk = start(small_org()).await;
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = connector(&dingtalk, &scim);

    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&first);
    let synced = target(&scim);
    let keys: Vec<&str> = synced.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["boss2", "ceo", "leaver", "lin", "sales1", "wang", "zhou"]
    );
    assert_eq!(manager(&synced, "boss2").as_deref(), Some("ceo"));
    assert_eq!(manager(&synced, "lin").as_deref(), Some("boss2"));
    assert_eq!(manager(&synced, "leaver").as_deref(), Some("wang"));
    assert_eq!(manager(&synced, "sales1"), None);
    assert!(
        first
            .skipped_links
            .iter()
            .any(|s| s.link.user.as_str() == "sales1"
                && s.link.manager.as_str() == "outsider"
                && s.link.reason == LinkSkipReason::OutsideScope),
        "{:?}",
        first.skipped_links
    );
    assert!(synced.values().all(|(active, _)| *active));
    assert_converged(&engine, &connector, &scim).await;

    // Upstream: one person resigns (DingTalk drops them), one never activated, a manager changes.
    dingtalk.update_org(|org| {
        fn user<'a>(org: &'a mut Org, id: &str) -> &'a mut emulators::fixture::User {
            org.users.iter_mut().find(|u| u.id == id).unwrap()
        }
        user(org, "wang").status = Status::Resigned;
        user(org, "zhou").status = Status::NotActivated;
        user(org, "lin").manager = Some("ceo".into());
    });
    let third = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&third);
    let synced = target(&scim);
    assert!(!synced["wang"].0, "gone from DingTalk → deactivated");
    assert!(!synced["zhou"].0, "not activated → inactive");
    assert_eq!(manager(&synced, "lin").as_deref(), Some("ceo"));
    assert_eq!(
        manager(&synced, "leaver"),
        None,
        "their manager was deactivated"
    );
    assert!(scim.dangling_managers().is_empty());
    assert_converged(&engine, &connector, &scim).await;
}

#[tokio::test]
async fn a_generated_org_converges_in_one_run() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 300,
        departments: 25,
        seed: 5,
        ..Default::default()
    });
    let dingtalk = start(org).await;
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let connector = connector(&dingtalk, &scim);
    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&first);
    assert!(!scim.users().is_empty());
    assert_converged(&engine, &connector, &scim).await;
    assert!(scim.dangling_managers().is_empty());
}
