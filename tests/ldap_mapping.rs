//! Mapped LDAP attributes (`[target.attributes]` beyond the roles) on a real OpenLDAP slapd,
//! written through the pusher as the engine calls it, checked through plain ldap3 searches and
//! read back through the pusher's own `list`. The people's attributes are built here, as the
//! planner would hand them over after evaluating the mapping.

mod common;

use common::slapd::{DISABLED, Entry, PEOPLE, Slapd};
use common::{
    AGENT_ID, assert_applied, connector_to, ldap_config, ldap_pusher, small_org, wecom_puller,
};
use ldap3::Mod;
use orgsync::engine::{Engine, RunMode};
use orgsync::model::{Attributes, Field, FieldChange, TargetId, UserKey};
use orgsync::plan::{Policy, Step};
use orgsync::pushers::ldap::{Deactivation, LdapPusher, LdapTargetConfig};
use orgsync::pushers::{AnyPusher, Pusher, TargetAccount};
use orgsync::snapshot::MemoryStore;
use std::collections::HashSet;
use std::sync::Arc;

/// The mapping these tests configure: four mapped attributes, and the department role's home
/// given an expression.
fn mapped(slapd: &Slapd) -> LdapTargetConfig {
    let mut config = ldap_config(&slapd.url());
    for (attribute, value) in [
        ("l", "work_place"),
        ("telephoneNumber", "telephone"),
        ("preferredLanguage", "{'zh-CN'}"),
        ("carLicense", "custom.车牌"),
        ("departmentNumber", "{department_path}"),
    ] {
        config.attributes.insert(attribute.into(), value.into());
    }
    config
}

fn field(name: &str) -> Field {
    Field::named(name)
}

/// 林晓 with every mapped attribute, as the planner would evaluate them.
fn lin() -> Attributes {
    Attributes::new("lin", "林晓")
        .with(Field::Email, Some("lin@example.cn".into()))
        .with(Field::Department, Some("总部 / 研发部".into()))
        .with(field("l"), Some("上海".into()))
        .with(field("telephoneNumber"), Some("+86 21 5555 0101".into()))
        .with(field("preferredLanguage"), Some("zh-CN".into()))
        .with(field("carLicense"), Some("沪A 12345".into()))
}

async fn entry(slapd: &Slapd, dn: &str) -> Entry {
    slapd
        .people()
        .await
        .into_iter()
        .find(|e| e.dn.eq_ignore_ascii_case(dn))
        .unwrap_or_else(|| panic!("no entry at {dn}"))
}

async fn listed(pusher: &LdapPusher, key: &str) -> TargetAccount {
    pusher
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.external_id.as_ref().is_some_and(|k| k.as_str() == key))
        .unwrap_or_else(|| panic!("{key} is not listed"))
}

fn change(field: Field, before: Option<&str>, after: Option<&str>) -> FieldChange {
    FieldChange {
        field,
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    }
}

#[tokio::test]
async fn mapped_attributes_are_written_changed_cleared_and_listed() {
    let slapd = Slapd::start(false).await;
    let pusher = ldap_pusher(mapped(&slapd));
    let key = UserKey::new("lin");
    let id = pusher.create(&key, &lin(), true).await.unwrap();
    assert_eq!(
        id.as_str(),
        format!("uid=lin,{PEOPLE}"),
        "no extra in the DN"
    );

    let written = entry(&slapd, id.as_str()).await;
    for (attribute, value) in [
        ("l", "上海"),
        ("telephoneNumber", "+86 21 5555 0101"),
        ("preferredLanguage", "zh-CN"),
        ("carLicense", "沪A 12345"),
        ("departmentNumber", "总部 / 研发部"),
        ("mail", "lin@example.cn"),
        ("cn", "林晓"),
    ] {
        assert_eq!(written.values(attribute), [value], "{attribute}");
    }

    // Someone without the mapped values gets no empty attributes.
    let zhou = UserKey::new("zhou");
    let zhou_id = pusher
        .create(&zhou, &Attributes::new("zhou", "周明"), true)
        .await
        .unwrap();
    let bare = entry(&slapd, zhou_id.as_str()).await;
    for attribute in ["l", "telephoneNumber", "preferredLanguage", "carLicense"] {
        assert!(bare.values(attribute).is_empty(), "{attribute}: {bare:?}");
    }
    assert_eq!(
        listed(&pusher, "zhou").await.attributes,
        Attributes::new("zhou", "周明")
    );

    // The pusher reads back exactly what it wrote: no drift on a rerun.
    assert_eq!(listed(&pusher, "lin").await.attributes, lin());

    // An update changes one mapped attribute and clears another; the rest stay.
    let moved = pusher
        .update(
            &id,
            &[
                change(field("l"), Some("上海"), Some("北京")),
                change(field("carLicense"), Some("沪A 12345"), None),
                // Clearing a value the entry does not hold is no error.
                change(field("telephoneNumber"), None, None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(moved, None, "a mapped attribute never renames the entry");
    let updated = entry(&slapd, id.as_str()).await;
    assert_eq!(updated.values("l"), ["北京"]);
    assert!(updated.values("carLicense").is_empty(), "{updated:?}");
    assert!(updated.values("telephoneNumber").is_empty(), "{updated:?}");
    assert_eq!(updated.values("preferredLanguage"), ["zh-CN"]);
    let expected = lin()
        .with(field("l"), Some("北京".into()))
        .with(field("carLicense"), None)
        .with(field("telephoneNumber"), None);
    assert_eq!(listed(&pusher, "lin").await.attributes, expected);

    // A value changed by hand is seen as drift.
    slapd
        .modify(
            id.as_str(),
            vec![Mod::Replace("l".into(), HashSet::from(["广州".to_owned()]))],
        )
        .await;
    assert_eq!(
        listed(&pusher, "lin").await.attributes.get(field("l")),
        Some("广州")
    );
}

#[tokio::test]
async fn a_taken_over_entry_gets_its_mapped_attributes_and_loses_stale_ones() {
    let slapd = Slapd::start(false).await;
    let pusher = ldap_pusher(mapped(&slapd));
    let key = UserKey::new("lin");
    let id = pusher.create(&key, &lin(), true).await.unwrap();
    // Edited by hand after a create whose answer was lost: a stale value and a missing one.
    slapd
        .modify(
            id.as_str(),
            vec![
                Mod::Replace("l".into(), HashSet::from(["广州".to_owned()])),
                Mod::Delete("preferredLanguage".into(), HashSet::new()),
            ],
        )
        .await;
    let without_car = lin().with(field("carLicense"), None);
    let again = pusher.create(&key, &without_car, true).await.unwrap();
    assert_eq!(again, id, "found by its key, not duplicated");
    let entry = entry(&slapd, id.as_str()).await;
    assert_eq!(entry.values("l"), ["上海"]);
    assert_eq!(entry.values("preferredLanguage"), ["zh-CN"]);
    assert!(entry.values("carLicense").is_empty(), "{entry:?}");
    assert_eq!(slapd.people().await.len(), 1);
}

#[tokio::test]
async fn mapped_attributes_follow_department_moves_and_deactivation() {
    let slapd = Slapd::start(true).await;
    let mut config = mapped(&slapd);
    config.department_ous = true;
    config.deactivation = Deactivation::Move {
        ou: DISABLED.into(),
    };
    let pusher = ldap_pusher(config);
    let key = UserKey::new("lin");
    let id = pusher.create(&key, &lin(), true).await.unwrap();
    // The department role's expression (the path) names the OU; no mapped attribute does.
    assert_eq!(
        id.as_str(),
        format!("uid=lin,ou=总部 / 研发部,{PEOPLE}"),
        "the OU is named by the department role"
    );

    let moved = pusher
        .update(
            &id,
            &[
                change(
                    Field::Department,
                    Some("总部 / 研发部"),
                    Some("总部 / 销售部"),
                ),
                change(field("l"), Some("上海"), Some("杭州")),
            ],
        )
        .await
        .unwrap()
        .expect("a department change moves the entry");
    assert_eq!(moved.as_str(), format!("uid=lin,ou=总部 / 销售部,{PEOPLE}"));
    let entry_now = entry(&slapd, moved.as_str()).await;
    assert_eq!(entry_now.values("l"), ["杭州"]);
    assert_eq!(entry_now.values("carLicense"), ["沪A 12345"]);

    let disabled = pusher
        .set_active(&moved, false)
        .await
        .unwrap()
        .expect("moved to the disabled OU");
    assert_eq!(disabled.as_str(), format!("uid=lin,{DISABLED}"));
    let back = pusher
        .set_active(&disabled, true)
        .await
        .unwrap()
        .expect("moved back");
    assert_eq!(back, moved, "back to its department's OU");
    let account = listed(&pusher, "lin").await;
    assert!(account.active);
    assert_eq!(account.id, TargetId::new(moved.as_str()));
    let expected = lin()
        .with(Field::Department, Some("总部 / 销售部".into()))
        .with(field("l"), Some("杭州".into()));
    assert_eq!(account.attributes, expected);
}

#[tokio::test]
async fn a_username_from_an_expression_names_the_entry_and_another_attribute_keys_it() {
    let slapd = Slapd::start(true).await;
    let mut config = mapped(&slapd);
    config
        .attributes
        .insert("uid".into(), "{name|pinyin}".into());
    config
        .attributes
        .insert("employeeNumber".into(), "key".into());
    let refused = LdapPusher::new(
        config.clone(),
        orgsync::config::Secret::new(common::slapd::PASSWORD),
    )
    .err()
    .expect("uid no longer holds the key");
    assert!(
        refused.to_string().contains("set key_attribute to it"),
        "{refused}"
    );
    config.key_attribute = "employeeNumber".into();
    let pusher = ldap_pusher(config);

    let key = UserKey::new("u-0001");
    let person = Attributes::new("linxiao", "林晓").with(field("l"), Some("上海".into()));
    let id = pusher.create(&key, &person, true).await.unwrap();
    assert_eq!(id.as_str(), format!("uid=linxiao,{PEOPLE}"));
    let written = entry(&slapd, id.as_str()).await;
    assert_eq!(written.values("employeeNumber"), ["u-0001"]);
    assert_eq!(written.values("uid"), ["linxiao"]);

    // A rerun of the create finds the entry by employeeNumber.
    assert_eq!(pusher.create(&key, &person, true).await.unwrap(), id);
    let renamed = pusher
        .update(
            &id,
            &[change(Field::UserName, Some("linxiao"), Some("linxiao2"))],
        )
        .await
        .unwrap()
        .expect("a new user name renames the entry");
    assert_eq!(renamed.as_str(), format!("uid=linxiao2,{PEOPLE}"));
    let account = listed(&pusher, "u-0001").await;
    assert_eq!(account.id, renamed);
    assert_eq!(
        account.attributes,
        Attributes::new("linxiao2", "林晓").with(field("l"), Some("上海".into()))
    );
}

/// Through the engine, as a configured connector runs: the planner evaluates the mapping the
/// LDAP config gives, the pusher writes it, a rerun writes nothing, and a changed mapping plans
/// only the updates it implies.
#[tokio::test]
async fn a_configured_mapping_reaches_the_directory_through_the_engine() {
    let slapd = Slapd::start(false).await;
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let connector = |table: &[(&str, &str)]| {
        let mut config = ldap_config(&slapd.url());
        config.key_attribute = "employeeNumber".into();
        for (attribute, value) in table {
            config
                .attributes
                .insert((*attribute).into(), (*value).into());
        }
        let policy = Policy {
            mapping: config.attribute_mapping().unwrap(),
            ..Policy::default()
        };
        connector_to(
            wecom_puller(&wecom, Some(AGENT_ID)),
            AnyPusher::Ldap(ldap_pusher(config)),
            policy.without_guard(),
        )
    };
    let first = [
        ("uid", "{name|pinyin}"),
        ("employeeNumber", "key"),
        ("mail", "{email|upper}"),
        ("departmentNumber", "department_path"),
        ("description", "{title} @ {department}"),
        ("l", "{'上海'}"),
    ];
    let run = |connector| {
        let engine = &engine;
        async move { engine.run(&connector, RunMode::Apply).await.unwrap() }
    };
    assert_applied(&run(connector(&first)).await);
    let people = slapd.people().await;
    let lin = people
        .iter()
        .find(|e| e.get("employeeNumber") == Some("lin"))
        .expect("lin is written, keyed by employeeNumber");
    assert_eq!(lin.dn, format!("uid=linxiao,{PEOPLE}"));
    assert_eq!(lin.values("mail"), ["LIN@EXAMPLE.CN"]);
    assert_eq!(lin.values("description"), ["工程师 @ 研发部"]);
    assert_eq!(lin.values("l"), ["上海"]);
    let path = lin.get("departmentNumber").expect("a department path");
    assert!(path.ends_with("研发部"), "{path}");

    let writes = slapd.writes_settled().await;
    let rerun = run(connector(&first)).await;
    assert_applied(&rerun);
    assert!(rerun.steps.is_empty(), "{:?}", rerun.steps);
    assert_eq!(slapd.writes().await, writes, "a rerun wrote");

    // l leaves the mapping (left alone), description changes, roomNumber arrives.
    let second = [
        ("uid", "{name|pinyin}"),
        ("employeeNumber", "key"),
        ("mail", "{email|upper}"),
        ("departmentNumber", "department_path"),
        ("description", "{title}"),
        ("roomNumber", "{'A-101'}"),
    ];
    let report = run(connector(&second)).await;
    assert_applied(&report);
    assert!(!report.steps.is_empty());
    for step in &report.steps {
        let Step::Update { changes, .. } = &step.step else {
            panic!("only updates: {:?}", step.step);
        };
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert!(
            fields
                .iter()
                .all(|f| ["description", "roomNumber"].contains(f)),
            "{fields:?}"
        );
    }
    let lin = slapd
        .people()
        .await
        .into_iter()
        .find(|e| e.get("employeeNumber") == Some("lin"))
        .unwrap();
    assert_eq!(lin.values("description"), ["工程师"]);
    assert_eq!(lin.values("roomNumber"), ["A-101"]);
    assert_eq!(
        lin.values("l"),
        ["上海"],
        "an unmapped attribute is left alone"
    );
}
