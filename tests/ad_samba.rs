//! The LDAP target's Active Directory flavor against a real Samba AD domain controller: one DC
//! for this whole binary (tests/common/samba.rs: Samba's ports are fixed), each test in its own
//! OU. Everything is read back with `ldapsearch` over LDAPS, never through the pusher.

mod common;

use common::samba::{ADMIN, Samba, samba};
use common::{AGENT_ID, assert_applied, connector_to, department, person, wecom_puller};
use emulators::fixture::{Org, Scope, Status};
use orgsync::config::{HumanDuration, Secret, SecretRef};
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::plan::{GroupNaming, GroupPolicy, Policy};
use orgsync::pushers::AnyPusher;
use orgsync::pushers::ldap::ad::{AdSettings, Flavor, NewAccounts};
use orgsync::pushers::ldap::{LdapPusher, LdapTargetConfig};
use orgsync::report::Report;
use orgsync::snapshot::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn ad_config(samba: &Samba, base: &str) -> LdapTargetConfig {
    let mut config = LdapTargetConfig::new(
        samba.url().parse().unwrap(),
        ADMIN,
        SecretRef::Env("UNUSED".into()),
        base,
    );
    config.flavor = Flavor::ActiveDirectory;
    config.tls_ca_file = Some(samba.ca());
    config.retry = common::quick_retries();
    config.timeout = HumanDuration(Duration::from_secs(10));
    config
}

fn connector(
    samba: &Samba,
    wecom: &emulators::wecom::WecomHandle,
    config: LdapTargetConfig,
    groups: bool,
) -> Connector {
    let mut policy = Policy::default().without_guard();
    policy.mapping = config.attribute_mapping().unwrap();
    if groups {
        policy.groups = GroupPolicy {
            enabled: true,
            naming: GroupNaming::Name,
            ..GroupPolicy::default()
        };
    }
    let pusher = LdapPusher::new(config, Secret::new(samba.password.clone())).unwrap();
    connector_to(
        wecom_puller(wecom, Some(AGENT_ID)),
        AnyPusher::Ldap(pusher),
        policy,
    )
}

async fn run(engine: &Engine<MemoryStore>, connector: &Connector) -> Report {
    let report = engine.run(connector, RunMode::Apply).await.unwrap();
    assert_applied(&report);
    report
}

/// `ldapsearch`'s LDIF as entries by employeeID: attribute (lowercased) → values, and "dn".
fn people(samba: &Samba, base: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let ldif = samba.ldapsearch(
        base,
        "(objectClass=user)",
        &[
            "employeeID",
            "sAMAccountName",
            "userPrincipalName",
            "cn",
            "displayName",
            "mail",
            "title",
            "department",
            "manager",
            "userAccountControl",
            "pwdLastSet",
            "objectClass",
        ],
    );
    let mut out = BTreeMap::new();
    for block in ldif.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut entry: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in block.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = match value.strip_prefix(':') {
                // base64 (non-ASCII values)
                Some(encoded) => {
                    use base64::Engine as _;
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(encoded.trim())
                            .unwrap(),
                    )
                    .unwrap()
                }
                None => value.trim().to_owned(),
            };
            entry
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(value);
        }
        let key = entry["employeeid"][0].clone();
        out.insert(key, entry);
    }
    out
}

fn one<'a>(
    people: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
    key: &str,
    attribute: &str,
) -> &'a str {
    people
        .get(key)
        .unwrap_or_else(|| panic!("no account for {key}: {people:#?}"))
        .get(attribute)
        .and_then(|v| v.first())
        .map_or("", String::as_str)
}

fn org() -> Org {
    Org {
        departments: vec![
            department(1, None, "公司", &["ceo"]),
            department(2, Some(1), "研发部", &["boss"]),
            department(3, Some(1), "销售部", &["wang"]),
        ],
        users: vec![
            person("ceo", "陈总", &[1], None),
            person("boss", "Boss Lee", &[2], Some("ceo")),
            person("zhangwei1", "张伟", &[2], Some("boss")),
            person("zhangwei2", "张伟", &[2], Some("boss")),
            person("a-long-user-id16", "Long Name", &[2], Some("boss")),
            person("zhao@qian", "赵钱", &[3], Some("wang")),
            person("zhao_qian", "赵倩", &[3], Some("wang")),
            person("wang", "王芳", &[3], Some("ceo")),
            person("leaver", "李离", &[3], Some("wang")),
        ],
        scope: Scope {
            departments: vec![1],
            users: vec![],
        },
        sensitive_fields: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_managers_names_moves_and_leavers_in_samba() {
    let Some(samba) = samba() else { return };
    let base = samba.fresh_ou("accounts");
    let wecom = emulators::wecom::start(org(), Default::default())
        .await
        .unwrap();
    let mut config = ad_config(samba, &base);
    config.department_ous = true;
    // sAMAccountName is unique in the whole domain, which the tests share: each test's names
    // differ. The e-mail also shows the rules: `@` replaced, cut to 20.
    config
        .attributes
        .insert("sAMAccountName".into(), "{email}".into());
    let connector = connector(samba, &wecom, config, false);
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    let report = run(&engine, &connector).await;
    let text = orgsync::report::render_text(&report);

    let people = people(samba, &base);
    assert_eq!(people.len(), 9, "{people:#?}");
    for (key, entry) in &people {
        let sam = &entry["samaccountname"][0];
        assert!(sam.encode_utf16().count() <= 20, "{key}: {sam}");
        assert_eq!(
            entry["useraccountcontrol"],
            ["514"],
            "{key}: created disabled"
        );
        assert!(entry["objectclass"].iter().any(|c| c == "user"));
        assert_eq!(entry["userprincipalname"][0], format!("{sam}@orgsync.test"));
    }
    assert_eq!(one(&people, "boss", "samaccountname"), "boss_example.cn");
    assert_eq!(
        one(&people, "a-long-user-id16", "samaccountname"),
        "a-long-user-id16_exa"
    );
    // zhao@qian@example.cn and zhao_qian@example.cn both become zhao_qian_example.cn (20
    // characters): the lower key keeps it (both are active), the other gets it numbered
    // within 20 characters, and the report says so.
    let clash: Vec<&str> = ["zhao@qian", "zhao_qian"]
        .iter()
        .map(|k| one(&people, k, "samaccountname"))
        .collect();
    assert_eq!(
        clash,
        ["zhao_qian_example.cn", "zhao_qian_example.c2"].to_vec(),
        "zhao@qian < zhao_qian"
    );
    assert!(
        text.contains("zhao_qian_example.c2"),
        "the numbering is reported:\n{text}"
    );
    // Same name, same OU: distinct RDNs.
    let cns = [
        one(&people, "zhangwei1", "cn"),
        one(&people, "zhangwei2", "cn"),
    ];
    assert_ne!(cns[0], cns[1]);
    assert!(cns.contains(&"张伟"), "{cns:?}");
    assert!(
        cns.iter().any(|cn| cn.starts_with("张伟 (zhangwei")),
        "{cns:?}"
    );
    // Department OUs and managers as DNs.
    let boss_dn = &people["boss"]["dn"][0];
    assert!(boss_dn.ends_with(&format!("OU=研发部,{base}")), "{boss_dn}");
    assert_eq!(one(&people, "zhangwei1", "manager"), boss_dn.as_str());
    assert_eq!(one(&people, "wang", "department"), "销售部");
    assert_eq!(one(&people, "boss", "mail"), "boss@example.cn");

    // An administrator gave the leaver a password, enabled the account and set
    // DONT_EXPIRE_PASSWORD (0x10000) on it.
    let leaver_dn = people["leaver"]["dn"][0].clone();
    let password: Vec<u8> = "\"Adm1n-Set-Pa55!\""
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let password = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(password)
    };
    samba.ldapmodify(&format!(
        "dn: {leaver_dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {password}\n-\n\
         replace: userAccountControl\nuserAccountControl: {}\n",
        0x10200
    ));
    // Rename, department move, leaver.
    wecom.update_org(|org| {
        for user in &mut org.users {
            match user.id.as_str() {
                "boss" => user.name = "Boss Li".into(),
                "zhangwei2" => user.departments = vec![3],
                "leaver" | "wang" => user.status = Status::Disabled,
                _ => {}
            }
        }
    });
    run(&engine, &connector).await;
    let after = people_after(samba, &base);
    let boss_dn = &after["boss"]["dn"][0];
    assert!(boss_dn.starts_with("CN=Boss Li,"), "renamed: {boss_dn}");
    assert_eq!(
        one(&after, "zhangwei1", "manager"),
        boss_dn.as_str(),
        "AD follows the rename"
    );
    assert!(
        after["zhangwei2"]["dn"][0].contains("OU=销售部"),
        "moved: {}",
        after["zhangwei2"]["dn"][0]
    );
    assert_eq!(
        one(&after, "leaver", "useraccountcontrol"),
        (0x10200 | 0x2).to_string(),
        "disabled, DONT_EXPIRE_PASSWORD kept"
    );
    assert_eq!(one(&after, "wang", "useraccountcontrol"), "514");

    // Back again: the bit is cleared, the other one stays.
    wecom.update_org(|org| {
        for user in org
            .users
            .iter_mut()
            .filter(|u| u.id == "leaver" || u.id == "wang")
        {
            user.status = Status::Active;
        }
    });
    run(&engine, &connector).await;
    let back = people_after(samba, &base);
    assert_eq!(
        one(&back, "leaver", "useraccountcontrol"),
        0x10200.to_string()
    );
    // Wang never had a password: orgsync does not enable an account without one.
    assert_eq!(one(&back, "wang", "useraccountcontrol"), "514");
    // Nothing changed: nothing planned.
    let report = run(&engine, &connector).await;
    assert!(
        report.steps.is_empty(),
        "{}",
        orgsync::report::render_text(&report)
    );
}

fn people_after(samba: &Samba, base: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    people(samba, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_with_password_mode_and_security_groups() {
    let Some(samba) = samba() else { return };
    let base = samba.fresh_ou("enabled");
    let groups_base = samba.fresh_ou("security-groups");
    let wecom = emulators::wecom::start(org(), Default::default())
        .await
        .unwrap();
    let mut config = ad_config(samba, &base);
    config.active_directory = Some(AdSettings {
        new_accounts: NewAccounts::EnabledWithPassword,
        ..AdSettings::default()
    });
    config.groups_base = Some(groups_base.clone());
    config
        .attributes
        .insert("sAMAccountName".into(), "p.{user_name}".into());
    let connector = connector(samba, &wecom, config, true);
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    run(&engine, &connector).await;
    let people = people(samba, &base);
    assert_eq!(people.len(), 9);
    for (key, entry) in &people {
        assert_eq!(entry["useraccountcontrol"], ["512"], "{key}: enabled");
        assert_eq!(
            entry["pwdlastset"],
            ["0"],
            "{key}: must change the password"
        );
    }
    let ldif = samba.ldapsearch(
        &groups_base,
        "(objectClass=group)",
        &["cn", "groupType", "sAMAccountName", "member", "managedBy"],
    );
    assert!(ldif.contains("groupType: -2147483646"), "{ldif}");
    assert!(ldif.contains("sAMAccountName:"), "{ldif}");
    assert!(
        ldif.contains(&people["boss"]["dn"][0]),
        "the boss is a member or manager: {ldif}"
    );
}

/// `orgsync demo --target FILE` with an Active Directory target syncs the demo org into the
/// domain: accounts under AD's rules, and a second run with nothing to do.
#[test]
fn the_demo_syncs_into_samba() {
    let Some(samba) = samba() else { return };
    let base = samba.fresh_ou("demo");
    let groups = samba.fresh_ou("demo-groups");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo-ad.toml");
    // config/demo-ad.toml itself, pointed at this DC's directory and at OUs of this test; account
    // names prefixed so they cannot meet another test's in the domain.
    let shipped = include_str!("../config/demo-ad.toml");
    let text = shipped
        .replace("/tmp/orgsync-samba", &samba.dir.display().to_string())
        .replace("OU=People,DC=orgsync,DC=test", &base)
        .replace("OU=Groups,DC=orgsync,DC=test", &groups);
    assert_ne!(
        text, shipped,
        "config/demo-ad.toml no longer names the DC's paths"
    );
    std::fs::write(
        &file,
        format!("{text}\n[attributes]\nsAMAccountName = \"d.{{user_name}}\"\n"),
    )
    .unwrap();
    let demo = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .args(["demo", "--people", "40", "--target"])
            .arg(&file)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let output = demo();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let people = people(samba, &base);
    assert!(
        stdout.contains(&format!(
            "The target now holds {} accounts",
            people.len() - 1
        )),
        "{stdout}"
    );
    for (key, entry) in &people {
        let sam = &entry["samaccountname"][0];
        assert!(sam.encode_utf16().count() <= 20, "{key}: {sam}");
        assert!(
            entry["useraccountcontrol"][0] == "514",
            "{key}: {:?}",
            entry["useraccountcontrol"]
        );
    }
    // The demo's departments as global security groups.
    let group_types = samba.ldapsearch(&groups, "(objectClass=group)", &["groupType"]);
    let types: Vec<&str> = group_types
        .lines()
        .filter_map(|l| l.strip_prefix("groupType: "))
        .collect();
    assert!(!types.is_empty(), "no groups under {groups}");
    assert!(types.iter().all(|t| *t == "-2147483646"), "{group_types}");
    assert!(stdout.contains("Planned steps: 0"), "{stdout}");

    // The demo again, as an admin trying it twice does: a new state against a filled domain, so
    // every account and group is adopted, members already linked included (AD answers 68 to a
    // member added twice, where OpenLDAP answers 20).
    let again = demo();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(!log.contains("refused a step"), "{log}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Planned steps: 0"),
        "{log}"
    );
}
