//! A first sync against a target that already has people (adoption), and `--full` runs that
//! repair edits made directly in the target (drift).

mod common;

use common::{AGENT_ID, connector, scim_pusher, small_org, wecom_puller};
use emulators::scim::{ScimConfig, ScimUser};
use orgsync::engine::{Baseline, Engine, RunMode, RunOptions};
use orgsync::model::{Field, FieldChange, Problem, TargetId};
use orgsync::plan::{Policy, StepKind};
use orgsync::pushers::Pusher;
use orgsync::report::{RunOutcome, render_text};
use orgsync::snapshot::MemoryStore;
use std::sync::Arc;

fn account(user_name: &str, email: &str, external_id: Option<&str>) -> ScimUser {
    let mut user = ScimUser::new(user_name);
    user.emails = vec![email.to_owned()];
    user.display_name = Some(user_name.to_owned());
    user.external_id = external_id.map(str::to_owned);
    user
}

#[tokio::test]
async fn first_sync_adopts_existing_accounts_and_never_guesses() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    // The email clash check is off so the target can hold the ambiguous pair below.
    let scim = emulators::scim::start(ScimConfig {
        unique_emails: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let lin = scim.insert_user(account("lin.old", "LIN@example.cn", None));
    let zhou = scim.insert_user(account("zhou", "zhou@example.cn", Some("zhou")));
    let wang_a = scim.insert_user(account("wang.a", "wang@example.cn", None));
    let wang_b = scim.insert_user(account("wang.b", "wang@example.cn", None));
    let stranger = scim.insert_user(account("stranger", "stranger@example.cn", None));

    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    let report = engine.run(&connector, RunMode::Apply).await.unwrap();
    let text = render_text(&report);

    assert_eq!(
        common::users_with(&report, StepKind::Adopt),
        ["lin"],
        "{text}"
    );
    // lin's account was linked and brought up to date, not duplicated.
    let lin_now = scim.user(&lin).unwrap();
    assert_eq!(lin_now.external_id.as_deref(), Some("lin"));
    assert_eq!(lin_now.user_name, "lin");
    assert_eq!(lin_now.display_name.as_deref(), Some("林晓"));
    assert_eq!(
        scim.users()
            .iter()
            .filter(|u| u.external_id.as_deref() == Some("lin"))
            .count(),
        1
    );
    // zhou was already linked: no create.
    assert_eq!(
        scim.users()
            .iter()
            .filter(|u| u.external_id.as_deref() == Some("zhou"))
            .count(),
        1
    );
    assert_eq!(scim.user_by_external_id("zhou").unwrap().id, zhou);
    // Two accounts share wang's email: reported, neither adopted.
    assert!(
        report.problems.iter().any(|p| matches!(&p.problem,
            Problem::AmbiguousMatch { user, accounts, .. } if user.as_str() == "wang"
                && accounts.contains(&wang_a) && accounts.contains(&wang_b))),
        "{text}"
    );
    for id in [&wang_a, &wang_b, &stranger] {
        assert_eq!(
            scim.user(id).unwrap().external_id,
            None,
            "{id} must not be adopted"
        );
    }
    // The second run has nothing left to adopt or fix for the adopted people.
    let again = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(
        again
            .steps
            .iter()
            .all(|s| s.step.subject().as_str() != "lin"),
        "{}",
        render_text(&again)
    );
}

#[tokio::test]
async fn full_sync_repairs_edits_made_in_the_target() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(
        first.outcome,
        RunOutcome::Applied,
        "{}",
        render_text(&first)
    );

    // Someone edits the target by hand.
    let admin = scim_pusher(scim.base_url(), scim.bearer_token());
    let id = |key: &str| TargetId::new(scim.user_by_external_id(key).unwrap().id);
    let rename = FieldChange {
        field: Field::DisplayName,
        before: None,
        after: Some("Hand edited".into()),
    };
    admin.update(&id("lin"), &[rename]).await.unwrap();
    admin.set_active(&id("zhou"), false).await.unwrap();
    admin.delete(&id("wang")).await.unwrap();
    let foreign = TargetId::new(scim.insert_user(account("contractor", "c@example.cn", None)));
    admin.set_manager(&id("ceo"), Some(&foreign)).await.unwrap();

    // A normal run trusts its snapshot and sees nothing to do.
    let normal = engine.run(&connector, RunMode::DryRun).await.unwrap();
    assert!(normal.steps.is_empty(), "{}", render_text(&normal));

    // A full run lists the target and repairs every edit.
    let full = RunOptions {
        baseline: Baseline::Target,
        ..RunOptions::new(RunMode::Apply)
    };
    let repaired = engine.run(&connector, full).await.unwrap();
    assert_eq!(
        repaired.outcome,
        RunOutcome::Applied,
        "{}",
        render_text(&repaired)
    );
    assert_eq!(
        scim.user_by_external_id("lin")
            .unwrap()
            .display_name
            .as_deref(),
        Some("林晓")
    );
    assert!(scim.user_by_external_id("zhou").unwrap().active);
    let wang = scim.user_by_external_id("wang").expect("wang recreated");
    assert!(wang.active);
    assert_eq!(scim.user_by_external_id("ceo").unwrap().manager_id, None);
    let lin_manager = scim.user_by_external_id("lin").unwrap().manager_id;
    assert_eq!(
        lin_manager,
        Some(scim.user_by_external_id("boss2").unwrap().id)
    );

    // The snapshot was rebuilt from the target: the next normal run is empty.
    let after = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(after.steps.is_empty(), "{}", render_text(&after));
    // The contractor's account is not orgsync's and was left alone.
    assert!(scim.user(foreign.as_str()).is_some());
}
