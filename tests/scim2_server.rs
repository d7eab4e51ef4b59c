//! End to end against a third-party SCIM 2.0 server (scim2-server from PyPI), so orgsync's SCIM
//! dialect is checked by someone else's implementation, not only by our own emulator.

mod common;

use common::scim2_server::{Account, Scim2Server, TOKEN, accounts};
use common::{AGENT_ID, connector, scim_pusher, small_org, wecom_puller};
use emulators::fixture::Status;
use orgsync::engine::{Engine, RunMode};
use orgsync::plan::Policy;
use orgsync::report::{RunOutcome, render_text};
use orgsync::snapshot::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

/// externalId → (account, manager's externalId).
fn index(accounts: &[Account]) -> BTreeMap<String, (Account, Option<String>)> {
    let ext: BTreeMap<&str, Option<&str>> = accounts
        .iter()
        .map(|a| (a.id.as_str(), a.external_id.as_deref()))
        .collect();
    accounts
        .iter()
        .map(|a| {
            let manager = a.manager.as_deref().map(|m| match ext.get(m) {
                Some(Some(e)) => e.to_string(),
                _ => format!("<dangling {m}>"),
            });
            (
                a.external_id.clone().expect("externalId set"),
                (a.clone(), manager),
            )
        })
        .collect()
}

#[tokio::test]
async fn sync_change_and_resync_against_scim2_server() {
    let server = Scim2Server::start().await;
    let base = server.base_url("change");
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(&base, TOKEN),
        Policy::default().without_guard(),
    );

    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(
        first.outcome,
        RunOutcome::Applied,
        "{}",
        render_text(&first)
    );
    let target = index(&accounts(&base).await);
    assert_eq!(target.len(), 7);
    assert_eq!(target["lin"].1.as_deref(), Some("boss2"));
    assert_eq!(target["boss2"].1.as_deref(), Some("ceo"));
    assert_eq!(target["sales1"].1, None);
    assert_eq!(target["lin"].0.display_name.as_deref(), Some("林晓"));
    assert_eq!(target["lin"].0.user_name, "lin");

    wecom.update_org(|org| {
        for user in &mut org.users {
            match user.id.as_str() {
                "lin" => user.name = "林晓晓".into(),
                "zhou" => user.manager = Some("lin".into()),
                "boss2" => user.departments = vec![4],
                "wang" => user.status = Status::Disabled,
                "leaver" => user.status = Status::Resigned,
                _ => {}
            }
        }
        org.departments[1].leaders = vec!["lin".into()];
    });
    let second = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(
        second.outcome,
        RunOutcome::Applied,
        "{}",
        render_text(&second)
    );
    let target = index(&accounts(&base).await);
    assert_eq!(target["lin"].0.display_name.as_deref(), Some("林晓晓"));
    assert_eq!(target["zhou"].1.as_deref(), Some("lin"));
    assert_eq!(target["lin"].1, None);
    for key in ["boss2", "wang", "leaver"] {
        assert!(!target[key].0.active, "{key} must be inactive");
        assert_eq!(
            target[key].1, None,
            "{key} is inactive and keeps no manager"
        );
    }
    assert!(
        target
            .values()
            .all(|(_, m)| m.as_deref().is_none_or(|m| !m.starts_with("<dangling")))
    );

    let third = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(third.steps.is_empty(), "{}", render_text(&third));
}

/// A generated org of a few hundred people: every active in-scope person lands exactly once,
/// with the manager the upstream gives, and a rerun plans nothing.
#[tokio::test]
async fn generated_org_lands_exactly_once_in_scim2_server() {
    let server = Scim2Server::start().await;
    let base = server.base_url("generated");
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 300,
        departments: 25,
        seed: 5,
        ..Default::default()
    });
    let visibility = org.visibility();
    let expected: BTreeMap<String, Option<String>> = org
        .users
        .iter()
        .filter(|u| visibility.is_user_visible(u) && matches!(u.status, Status::Active))
        .map(|u| {
            let manager = u.manager.clone().filter(|m| {
                org.user(m).is_some_and(|m| {
                    visibility.is_user_visible(m) && matches!(m.status, Status::Active)
                })
            });
            (u.id.clone(), manager)
        })
        .collect();
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(&base, TOKEN),
        Policy::default().without_guard(),
    );

    let report = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(
        report.outcome,
        RunOutcome::Applied,
        "{}",
        render_text(&report)
    );
    let target = index(&accounts(&base).await);
    let active: BTreeMap<String, Option<String>> = target
        .iter()
        .filter(|(_, (a, _))| a.active)
        .map(|(k, (_, m))| (k.clone(), m.clone()))
        .collect();
    assert_eq!(active, expected);

    let again = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(again.steps.is_empty(), "{}", render_text(&again));
}

/// A mapped attribute of each kind (core, `name` sub-attribute, enterprise extension, a custom
/// schema served by the server, typed entries of phoneNumbers and emails) is created, changed
/// and cleared in scim2-server, and read back by the pusher's listing.
#[tokio::test]
async fn mapped_attributes_of_each_kind_round_trip_in_scim2_server() {
    use common::scim_mapping::{MAPPING, check_raw, round_trip};
    let server = Scim2Server::start_with_custom_user_extension().await;
    let base = server.base_url("mapping");
    let pusher = common::scim_pusher_mapping(&base, TOKEN, &MAPPING);
    round_trip(
        &pusher,
        |id| {
            let base = base.clone();
            async move { common::scim2_server::user_json(&base, TOKEN, &id).await }
        },
        check_raw,
    )
    .await;
}
