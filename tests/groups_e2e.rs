//! Departments as groups end to end: the WeCom emulator → the planner → the SCIM emulator, the
//! third-party scim2-server and a real slapd, through the engine and sled. One scenario, read back
//! from each target with its own client (never through orgsync's pusher): groups created with
//! their members and heads, a rerun that writes nothing, a person changing department (one
//! remove, one add), a person leaving (their memberships go before the account), a department
//! leaving the scope (its group deleted only through the guard's group limit).

mod common;

use common::scim2_server::{Scim2Server, TOKEN, accounts};
use common::slapd::{GROUPS, Slapd};
use common::{
    AGENT_ID, assert_applied, connector_to, ldap_config, ldap_pusher, quick_retries, scim_pusher,
    small_org, wecom_puller,
};
use emulators::fixture::Status;
use emulators::scim::{ScimConfig, ScimHandle};
use emulators::wecom::WecomHandle;
use orgsync::config::{Secret, SecretRef};
use orgsync::engine::{Engine, RunMode};
use orgsync::plan::{GroupNaming, GroupPolicy, ManagerFallback, Policy, StepKind};
use orgsync::pushers::AnyPusher;
use orgsync::pushers::scim::{ScimPusher, ScimTargetConfig};
use orgsync::report::{Report, RunOutcome};
use orgsync::state::StateDb;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A group as the target holds it: its department id, the upstream keys of its members and of
/// its head (when the target records one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenGroup {
    department: String,
    members: BTreeSet<String>,
    head: Option<String>,
}

/// Groups by display name.
type Seen = BTreeMap<String, SeenGroup>;

enum Target {
    Emulator(ScimHandle),
    Scim2(Scim2Server),
    Slapd(Slapd),
}

impl Target {
    fn pusher(&self) -> AnyPusher {
        match self {
            Target::Emulator(scim) => {
                AnyPusher::Scim(scim_pusher(scim.base_url(), scim.bearer_token()))
            }
            // scim2-server refuses schemas it was not told about: groups without the extension.
            Target::Scim2(server) => {
                let mut config = ScimTargetConfig::new(
                    server.base_url("e2e").parse().unwrap(),
                    SecretRef::Env("UNUSED".into()),
                );
                config.retry = quick_retries();
                config.group_extension = false;
                AnyPusher::Scim(ScimPusher::new(config, Secret::new(TOKEN)).unwrap())
            }
            Target::Slapd(slapd) => {
                let mut config = ldap_config(&slapd.url());
                config.groups_base = Some(GROUPS.into());
                AnyPusher::Ldap(ldap_pusher(config))
            }
        }
    }

    /// Whether the target records a group's head.
    fn keeps_heads(&self) -> bool {
        !matches!(self, Target::Scim2(_))
    }

    async fn groups(&self) -> Seen {
        match self {
            Target::Emulator(scim) => {
                let keys: BTreeMap<String, String> = scim
                    .users()
                    .into_iter()
                    .filter_map(|u| Some((u.id, u.external_id?)))
                    .collect();
                scim.groups()
                    .into_iter()
                    .map(|g| {
                        let seen = SeenGroup {
                            department: g.external_id.unwrap_or_default(),
                            members: g.members.iter().map(|m| keys[m].clone()).collect(),
                            head: g.head.and_then(|h| h.external_id),
                        };
                        (g.display_name, seen)
                    })
                    .collect()
            }
            Target::Scim2(server) => {
                let base = server.base_url("e2e");
                let keys: BTreeMap<String, String> = accounts(&base)
                    .await
                    .into_iter()
                    .filter_map(|a| Some((a.id, a.external_id?)))
                    .collect();
                let page: Value = reqwest::Client::new()
                    .get(format!("{base}/Groups?count=1000"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                page["Resources"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|g| {
                        let members = g["members"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .map(|m| keys[m["value"].as_str().unwrap()].clone())
                            .collect();
                        let seen = SeenGroup {
                            department: g["externalId"].as_str().unwrap_or_default().into(),
                            members,
                            head: None,
                        };
                        (g["displayName"].as_str().unwrap().to_owned(), seen)
                    })
                    .collect()
            }
            Target::Slapd(slapd) => {
                let keys: BTreeMap<String, String> = slapd
                    .people()
                    .await
                    .into_iter()
                    .filter_map(|p| Some((p.dn.to_lowercase(), p.get("uid")?.to_owned())))
                    .collect();
                let key_of = |dn: &String| keys.get(&dn.to_lowercase()).cloned();
                slapd
                    .groups()
                    .await
                    .into_iter()
                    .map(|g| {
                        let seen = SeenGroup {
                            department: g.get("businessCategory").unwrap_or_default().into(),
                            // The group's own DN holds an empty group open: not a person.
                            members: g.values("member").iter().filter_map(key_of).collect(),
                            head: g.values("owner").first().and_then(key_of),
                        };
                        (g.get("cn").unwrap().to_owned(), seen)
                    })
                    .collect()
            }
        }
    }
}

fn group(department: &str, members: &[&str], head: Option<&str>) -> SeenGroup {
    SeenGroup {
        department: department.into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        head: head.map(str::to_owned),
    }
}

fn count(report: &Report, kind: StepKind) -> usize {
    report.counts.get(&kind).copied().unwrap_or(0)
}

fn group_steps(report: &Report) -> Vec<String> {
    report
        .steps
        .iter()
        .filter(|s| s.step.user().is_none())
        .map(|s| s.step.to_string())
        .collect()
}

/// The phase of the first step of `kind` on or naming `key`, by position in the report.
fn position(report: &Report, what: impl Fn(&orgsync::plan::Step) -> bool) -> usize {
    report
        .steps
        .iter()
        .position(|s| what(&s.step))
        .unwrap_or_else(|| panic!("no such step in:\n{}", orgsync::report::render_text(report)))
}

async fn scenario(target: Target) {
    let wecom: WecomHandle = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).unwrap()));
    let policy = |max_group_deletions| Policy {
        manager_fallback: ManagerFallback::DepartmentHead,
        max_group_deletions,
        groups: GroupPolicy {
            enabled: true,
            naming: GroupNaming::Name,
            ..GroupPolicy::default()
        },
        ..Policy::default().without_guard()
    };
    let connector = |max_group_deletions| {
        connector_to(
            wecom_puller(&wecom, Some(AGENT_ID)),
            target.pusher(),
            policy(max_group_deletions),
        )
    };
    let head = |key: &'static str| target.keeps_heads().then_some(key);

    // First sync: the two departments of the scope become groups, with their own people
    // (lin is in both) and their heads; people outside the scope are in no group.
    let first = engine.run(&connector(0), RunMode::Apply).await.unwrap();
    assert_applied(&first);
    assert_eq!(
        count(&first, StepKind::CreateGroup),
        2,
        "{:?}",
        group_steps(&first)
    );
    let expected: Seen = [
        (
            "研发部".to_owned(),
            group("2", &["boss2", "lin", "zhou"], head("boss2")),
        ),
        (
            "销售部".to_owned(),
            group("3", &["lin", "wang", "sales1", "leaver"], head("wang")),
        ),
    ]
    .into();
    assert_eq!(target.groups().await, expected);

    // Nothing changed upstream: nothing to do, for people and groups alike.
    let again = engine.run(&connector(0), RunMode::Apply).await.unwrap();
    assert_applied(&again);
    assert!(again.steps.is_empty(), "{:?}", group_steps(&again));

    // zhou moves to sales: one removal from 研发部, one addition to 销售部, nothing rewritten.
    wecom.update_org(|org| {
        let zhou = org.users.iter_mut().find(|u| u.id == "zhou").unwrap();
        zhou.departments = vec![3];
    });
    let moved = engine.run(&connector(0), RunMode::Apply).await.unwrap();
    assert_applied(&moved);
    assert_eq!(
        group_steps(&moved),
        ["add_members 3: 1 zhou", "remove_members 2: 1 zhou"]
    );
    let mut expected = expected;
    expected.get_mut("研发部").unwrap().members.remove("zhou");
    expected
        .get_mut("销售部")
        .unwrap()
        .members
        .insert("zhou".into());
    assert_eq!(target.groups().await, expected);

    // leaver resigns: their membership goes before their account is deactivated.
    wecom.update_org(|org| {
        let leaver = org.users.iter_mut().find(|u| u.id == "leaver").unwrap();
        leaver.status = Status::Resigned;
    });
    let left = engine.run(&connector(0), RunMode::Apply).await.unwrap();
    assert_applied(&left);
    let removed = position(
        &left,
        |s| matches!(s, orgsync::plan::Step::RemoveMembers { members, .. } if members.iter().any(|m| m.as_str() == "leaver")),
    );
    let deactivated = position(
        &left,
        |s| matches!(s, orgsync::plan::Step::Deactivate { user, .. } if user.as_str() == "leaver"),
    );
    assert!(removed < deactivated, "{:?}", group_steps(&left));
    expected.get_mut("销售部").unwrap().members.remove("leaver");
    assert_eq!(target.groups().await, expected);

    // Sales leaves the app's scope: its people go (deactivated), and its group is deleted only
    // once the guard's group limit allows it.
    wecom.update_org(|org| org.scope.departments = vec![2]);
    let refused = engine.run(&connector(0), RunMode::Apply).await.unwrap();
    assert!(
        matches!(refused.outcome, RunOutcome::Refused { .. }),
        "{}",
        orgsync::report::render_text(&refused)
    );
    assert_eq!(target.groups().await, expected, "a refused plan wrote");
    let allowed = engine.run(&connector(1), RunMode::Apply).await.unwrap();
    assert_applied(&allowed);
    assert_eq!(count(&allowed, StepKind::DeleteGroup), 1);
    let expected: Seen = [(
        "研发部".to_owned(),
        group("2", &["boss2", "lin"], head("boss2")),
    )]
    .into();
    assert_eq!(target.groups().await, expected);
    let settled = engine.run(&connector(1), RunMode::Apply).await.unwrap();
    assert!(settled.steps.is_empty(), "{:?}", group_steps(&settled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_on_the_scim_emulator() {
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    scenario(Target::Emulator(scim)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_on_scim2_server() {
    scenario(Target::Scim2(Scim2Server::start().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_on_slapd() {
    scenario(Target::Slapd(Slapd::start(false).await)).await;
}
