//! Each platform's custom fields, served by its emulator in the platform's own form, reach the
//! target through a mapping: the SCIM emulator on all four platforms, scim2-server (enterprise
//! extension and a custom schema) from WeCom. A rerun writes nothing.

mod common;

use common::scim_mapping::{COST_CENTER, SITE};
use common::scim2_server::{Scim2Server, TOKEN};
use common::upstream::{Platform, Upstream};
use common::*;
use emulators::fixture::Org;
use emulators::scim::ScimConfig;
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::plan::Policy;
use orgsync::pullers::AnyPuller;
use orgsync::pushers::AnyPusher;
use orgsync::snapshot::MemoryStore;
use std::sync::Arc;

/// The custom field's name as each platform gives it: WeCom extattr and DingTalk extension by
/// name, Feishu custom_attrs by id, Bitrix24 by its UF_ field name.
fn custom_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Wecom | Platform::Dingtalk => "成本中心",
        Platform::Feishu => "C-6965457429001748507",
        Platform::Bitrix24 => "UF_USR_COST_CENTER",
    }
}

/// The small org, with lin's cost centre (a custom field) and work place (a standard field
/// every platform has), and zhou without a title.
fn org(platform: Platform) -> Org {
    let mut org = small_org();
    let lin = org.users.iter_mut().find(|u| u.id == "lin").unwrap();
    lin.custom
        .insert(custom_name(platform).into(), "CC-01".into());
    lin.profile.work_place = Some("上海".into());
    // zhou has no title: the mapping's default fills it.
    org.users.iter_mut().find(|u| u.id == "zhou").unwrap().title = None;
    org
}

/// The mapping under test, as `[target.attributes]` would hold it.
fn table(platform: Platform) -> Vec<(&'static str, String)> {
    vec![
        (COST_CENTER, format!("custom.{}", custom_name(platform))),
        (SITE, "work_place".to_owned()),
        ("title", "{title|default:员工}".to_owned()),
    ]
}

fn connector(
    puller: AnyPuller,
    base_url: &str,
    token: &str,
    table: &[(&str, String)],
) -> Connector {
    let attributes: Vec<(&str, &str)> = table.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pusher = scim_pusher_mapping(base_url, token, &attributes);
    let mut target = orgsync::pushers::scim::ScimTargetConfig::new(
        base_url.parse().unwrap(),
        orgsync::config::SecretRef::Env("UNUSED".into()),
    );
    for (key, value) in &attributes {
        target.attributes.insert((*key).into(), (*value).into());
    }
    let policy = Policy {
        mapping: target
            .attribute_mapping()
            .expect("the test's mapping is valid"),
        ..Policy::default().without_guard()
    };
    Connector {
        name: "hq".into(),
        puller,
        pusher: AnyPusher::Scim(pusher),
        policy,
        concurrency: 4,
    }
}

#[tokio::test]
async fn each_platforms_custom_field_reaches_the_scim_emulator_through_a_mapping() {
    for platform in [
        Platform::Wecom,
        Platform::Dingtalk,
        Platform::Feishu,
        Platform::Bitrix24,
    ] {
        let upstream = Upstream::start(platform, org(platform)).await;
        let scim = emulators::scim::start(ScimConfig {
            user_attributes: vec![COST_CENTER.to_owned(), SITE.to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
        let connector = connector(
            upstream.puller(),
            scim.base_url(),
            scim.bearer_token(),
            &table(platform),
        );
        let engine = Engine::new(Arc::new(MemoryStore::new()));
        let report = engine.run(&connector, RunMode::Apply).await.unwrap();
        assert_applied(&report);
        let users = scim.users();
        let lin = users
            .iter()
            .find(|u| u.display_name.as_deref() == Some("林晓"))
            .unwrap_or_else(|| panic!("{platform:?}: lin is created"));
        assert_eq!(
            lin.extra.get(COST_CENTER).map(String::as_str),
            Some("CC-01"),
            "{platform:?}: the custom field in the enterprise extension: {lin:?}"
        );
        assert_eq!(
            lin.extra.get(SITE).map(String::as_str),
            Some("上海"),
            "{platform:?}: the work place in the custom schema: {lin:?}"
        );
        let zhou = users
            .iter()
            .find(|u| u.display_name.as_deref() == Some("周明"))
            .unwrap();
        assert_eq!(zhou.extra.get(COST_CENTER), None, "{platform:?}: {zhou:?}");
        assert_eq!(
            zhou.title.as_deref(),
            Some("员工"),
            "{platform:?}: the template's default: {zhou:?}"
        );
        assert!(
            !report
                .problems
                .iter()
                .any(|p| p.message.contains("custom.")),
            "{platform:?}: the custom field was returned: {:?}",
            report.problems
        );

        let versions: Vec<u64> = users.iter().map(|u| u.version).collect();
        let rerun = engine.run(&connector, RunMode::Apply).await.unwrap();
        assert_applied(&rerun);
        assert!(rerun.steps.is_empty(), "{platform:?}: {:?}", rerun.steps);
        let after: Vec<u64> = scim.users().iter().map(|u| u.version).collect();
        assert_eq!(after, versions, "{platform:?}: a rerun wrote");
    }
}

#[tokio::test]
async fn a_custom_field_nobody_has_is_reported_once_per_run() {
    let upstream = Upstream::start(Platform::Wecom, org(Platform::Wecom)).await;
    let scim = emulators::scim::start(ScimConfig {
        user_attributes: vec![COST_CENTER.to_owned()],
        ..Default::default()
    })
    .await
    .unwrap();
    let table = [(COST_CENTER, "custom.没有的字段".to_owned())];
    let connector = connector(
        upstream.puller(),
        scim.base_url(),
        scim.bearer_token(),
        &table,
    );
    let report = Engine::new(Arc::new(MemoryStore::new()))
        .run(&connector, RunMode::DryRun)
        .await
        .unwrap();
    let missing: Vec<String> = report
        .problems
        .iter()
        .map(|p| p.message.clone())
        .filter(|p| p.contains("custom.没有的字段"))
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", report.problems);
}

#[tokio::test]
async fn a_wecom_custom_field_reaches_scim2_server_in_the_enterprise_extension_and_a_custom_schema()
{
    let server = Scim2Server::start_with_custom_user_extension().await;
    let base = server.base_url("mapping-e2e");
    let upstream = Upstream::start(Platform::Wecom, org(Platform::Wecom)).await;
    let connector = connector(upstream.puller(), &base, TOKEN, &table(Platform::Wecom));
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let report = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_applied(&report);
    let lin = common::scim2_server::accounts(&base)
        .await
        .into_iter()
        .find(|a| a.external_id.as_deref() == Some("lin"))
        .expect("lin is created");
    let json = common::scim2_server::user_json(&base, TOKEN, &lin.id).await;
    let enterprise = &json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(enterprise["costCenter"], "CC-01", "{json}");
    let custom = &json[common::scim2_server::CUSTOM_USER_SCHEMA];
    assert_eq!(custom["workplace"]["site"], "上海", "{json}");
    let rerun = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(rerun.steps.is_empty(), "{:?}", rerun.steps);
}
