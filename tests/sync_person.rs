//! Syncing a few people now (`Engine::sync_people`, `orgsync sync NAME --person KEY`) and
//! `orgsync explain` by name or e-mail: the WeCom emulator → orgsync → the SCIM emulator.
//! Several people change upstream, one is synced: only that person (and what their links
//! needed) changes in the target and in the snapshot, and a full run afterwards applies the
//! rest with nothing lost.

mod common;

use common::binary::{text, wecom_scim_config};
use common::{AGENT_ID, by_external_id, connector, person, scim_pusher, small_org, wecom_puller};
use emulators::fixture::{Org, Status};
use orgsync::engine::{Engine, RunContext, RunMode};
use orgsync::model::{Problem, UserKey};
use orgsync::plan::{Policy, StepKind};
use orgsync::report::{FocusReport, Report, RunOutcome};
use orgsync::snapshot::{Snapshot, SnapshotStore};
use orgsync::state::StateDb;
use std::sync::Arc;

fn user_index(org: &Org, id: &str) -> usize {
    org.users.iter().position(|u| u.id == id).unwrap()
}

fn keys(report: &Report) -> Vec<(StepKind, String)> {
    report
        .steps
        .iter()
        .map(|s| (s.step.kind(), s.step.subject().as_str().to_owned()))
        .collect()
}

fn shown(report: &Report) -> String {
    orgsync::report::render_text(report)
}

/// What changed between two snapshots, by person.
fn changed(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut keys: Vec<&UserKey> = before.users.keys().chain(after.users.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.users.get(*k) != after.users.get(*k))
        .map(|k| k.to_string())
        .collect()
}

#[tokio::test]
async fn one_person_now_then_the_rest_in_a_full_run() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = Arc::new(StateDb::open(state.path()).unwrap());
    let engine = Engine::new(store.clone());
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    let context = RunContext::default();

    // Before the first full sync, a run for one person is refused: it would leave the
    // target's other accounts unadopted.
    let early = engine
        .sync_people(&connector, &[UserKey::new("lin")], RunMode::Apply, &context)
        .await
        .unwrap();
    assert!(
        matches!(&early.outcome, RunOutcome::Failed { error } if error.contains("never been synced")),
        "{}",
        shown(&early)
    );
    assert!(scim.users().is_empty());

    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(first.outcome, RunOutcome::Applied, "{}", shown(&first));
    let before_target = by_external_id(&scim.users());
    let before = store.load("test").unwrap();

    // Several changes upstream: a new hire whose manager is new too, a rename, a new title,
    // a resignation.
    wecom.update_org(|org| {
        org.users
            .push(person("newmgr", "新经理", &[2], Some("ceo")));
        org.users
            .push(person("newbie", "新人", &[2], Some("newmgr")));
        let i = user_index(org, "lin");
        org.users[i].name = "林晓晓".into();
        let i = user_index(org, "zhou");
        org.users[i].title = Some("主管".into());
        let i = user_index(org, "leaver");
        org.users[i].status = Status::Resigned;
    });

    // A dry run for the new hire writes nothing.
    let dry = engine
        .sync_people(
            &connector,
            &[UserKey::new("newbie")],
            RunMode::DryRun,
            &context,
        )
        .await
        .unwrap();
    assert_eq!(dry.outcome, RunOutcome::Planned, "{}", shown(&dry));
    assert_eq!(by_external_id(&scim.users()).len(), before_target.len());

    // The new hire now: their manager is created first, for the link.
    let one = engine
        .sync_people(
            &connector,
            &[UserKey::new("newbie")],
            RunMode::Apply,
            &context,
        )
        .await
        .unwrap();
    assert_eq!(one.outcome, RunOutcome::Applied, "{}", shown(&one));
    assert_eq!(
        keys(&one),
        [
            (StepKind::Create, "newbie".to_owned()),
            (StepKind::Create, "newmgr".to_owned()),
            (StepKind::SetManager, "newbie".to_owned()),
        ],
        "{}",
        shown(&one)
    );
    let focus = one.focus.as_ref().expect("the report names the people");
    assert_eq!(focus.people, [UserKey::new("newbie")]);
    assert!(focus.absent.is_empty());
    assert!(shown(&one).contains("for newbie"), "{}", shown(&one));

    let now = by_external_id(&scim.users());
    assert_eq!(now["newbie"].1.as_deref(), Some("newmgr"));
    assert_eq!(
        now["newmgr"].1, None,
        "the manager's own link is the full run's"
    );
    for key in ["lin", "zhou", "leaver"] {
        assert_eq!(now[key].0, before_target[key].0, "{key} must not change");
    }
    let after_one = store.load("test").unwrap();
    assert_eq!(changed(&before, &after_one), ["newbie", "newmgr"]);

    // A leaver who is someone's manager: wang resigns; leaver (who also resigned, but is not
    // synced now) reports to wang, so that link is cleared before wang's account goes.
    wecom.update_org(|org| {
        let i = user_index(org, "wang");
        org.users[i].status = Status::Resigned;
    });
    let leaving = engine
        .sync_people(
            &connector,
            &[UserKey::new("wang")],
            RunMode::Apply,
            &context,
        )
        .await
        .unwrap();
    assert_eq!(leaving.outcome, RunOutcome::Applied, "{}", shown(&leaving));
    let now = by_external_id(&scim.users());
    assert!(!now["wang"].0.active);
    assert!(now["leaver"].0.active, "leaver's own resignation waits");
    assert_eq!(now["leaver"].1, None);
    let after_two = store.load("test").unwrap();
    assert_eq!(changed(&after_one, &after_two), ["leaver", "wang"]);

    // Someone nobody knows: a failed run, nothing planned or written.
    scim.reset_counters();
    let unknown = engine
        .sync_people(
            &connector,
            &[UserKey::new("nobody")],
            RunMode::Apply,
            &context,
        )
        .await
        .unwrap();
    assert!(
        matches!(&unknown.outcome, RunOutcome::Failed { error } if error.contains("nobody")),
        "{}",
        shown(&unknown)
    );
    assert!(unknown.steps.is_empty());
    let counters = scim.counters();
    assert_eq!(
        (counters.posts, counters.patches, counters.deletes),
        (0, 0, 0)
    );

    // The full run applies everything else, once.
    let full = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(full.outcome, RunOutcome::Applied, "{}", shown(&full));
    assert!(full.focus.is_none());
    let now = by_external_id(&scim.users());
    assert_eq!(now["lin"].0.display_name.as_deref(), Some("林晓晓"));
    assert_eq!(now["zhou"].0.title.as_deref(), Some("主管"));
    assert_eq!(now["newmgr"].1.as_deref(), Some("ceo"));
    assert!(!now["leaver"].0.active);
    assert!(
        !keys(&full)
            .iter()
            .any(|(_, k)| k == "newbie" || k == "wang"),
        "nothing of the people synced before is done again: {}",
        shown(&full)
    );
    let again = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(again.steps.is_empty(), "{}", shown(&again));
}

#[tokio::test]
async fn a_change_that_needs_someone_elses_waits_and_is_reported() {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let engine = Engine::new(Arc::new(orgsync::snapshot::MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    let first = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert_eq!(first.outcome, RunOutcome::Applied, "{}", shown(&first));
    // zhou takes lin's address, which lin gives up for another: only lin's change frees it.
    wecom.update_org(|org| {
        let i = user_index(org, "lin");
        org.users[i].email = Some("lin.xiao@example.cn".into());
        let i = user_index(org, "zhou");
        org.users[i].email = Some("lin@example.cn".into());
    });
    let report = engine
        .sync_people(
            &connector,
            &[UserKey::new("zhou")],
            RunMode::Apply,
            &RunContext::default(),
        )
        .await
        .unwrap();
    assert!(report.steps.is_empty(), "{}", shown(&report));
    assert!(
        report.problems.iter().any(|p| matches!(
            &p.problem,
            Problem::StepWaits { user, step, .. } if user.as_str() == "zhou" && step == "update"
        )),
        "{}",
        shown(&report)
    );
    let now = by_external_id(&scim.users());
    assert_eq!(now["zhou"].0.emails, ["zhou@example.cn"]);
    // Both together: lin frees it first.
    let both = engine
        .sync_people(
            &connector,
            &[UserKey::new("zhou"), UserKey::new("lin")],
            RunMode::Apply,
            &RunContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(both.outcome, RunOutcome::Applied, "{}", shown(&both));
    let now = by_external_id(&scim.users());
    assert_eq!(now["zhou"].0.emails, ["lin@example.cn"]);
    assert_eq!(now["lin"].0.emails, ["lin.xiao@example.cn"]);
}

/// The `focus` object has exactly the fields docs/report-schema.md lists under "Focus".
#[tokio::test]
async fn the_focus_object_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/report-schema.md"
    ))
    .unwrap();
    let documented: Vec<&str> = doc
        .lines()
        .skip_while(|l| l.trim() != "## Focus")
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let focus = FocusReport {
        people: vec![UserKey::new("lin")],
        coverage: orgsync::report::FocusCoverage::Whole,
        absent: vec![],
    };
    let json = serde_json::to_value(&focus).unwrap();
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut documented = documented;
    documented.sort();
    assert_eq!(fields, documented);
}

/// The binary: `sync --person`, and `explain` by e-mail, by a display name two people share
/// (listed, none explained) and by something nobody has.
#[tokio::test(flavor = "multi_thread")]
async fn explain_by_name_or_e_mail_and_sync_a_person_through_the_binary() {
    let mut org = small_org();
    // A namesake of 林晓 in another department.
    org.users.push(person("lin2", "林晓", &[3], Some("wang")));
    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = wecom_scim_config(
        dir.path(),
        "orgsync",
        &wecom,
        scim.base_url(),
        scim.bearer_token(),
        Default::default(),
    );
    let full = config.run(&["sync", "hq"]);
    assert!(full.status.success(), "{}", text(&full));

    let by_email = config.run(&["explain", "hq", "ZHOU@example.cn"]);
    assert!(by_email.status.success(), "{}", text(&by_email));
    assert!(
        text(&by_email).contains("Upstream: 周明 (zhou) is active"),
        "{}",
        text(&by_email)
    );

    let namesakes = config.run(&["explain", "hq", "林晓"]);
    assert!(namesakes.status.success(), "{}", text(&namesakes));
    let out = text(&namesakes);
    assert!(out.contains("2 people match"), "{out}");
    // Paths start at the top of the app's scope (公司 is outside it).
    assert!(
        out.contains("lin  林晓  lin@example.cn  研发部; 销售部"),
        "{out}"
    );
    assert!(out.contains("lin2  林晓  lin2@example.cn  销售部"), "{out}");
    assert!(
        !out.contains("Upstream:"),
        "namesakes are listed, not explained: {out}"
    );

    let nobody = config.run(&["explain", "hq", "nobody@example.cn"]);
    assert_eq!(nobody.status.code(), Some(1), "{}", text(&nobody));
    assert!(
        text(&nobody).contains("Nobody matches"),
        "{}",
        text(&nobody)
    );

    wecom.update_org(|org| {
        let i = user_index(org, "zhou");
        org.users[i].title = Some("主管".into());
        let i = user_index(org, "lin");
        org.users[i].title = Some("经理".into());
    });
    let one = config.run(&["sync", "hq", "--person", "zhou", "--format", "json"]);
    assert!(one.status.success(), "{}", text(&one));
    let report: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(report["focus"]["people"], serde_json::json!(["zhou"]));
    assert_eq!(report["counts"]["update"], 1);
    let now = by_external_id(&scim.users());
    assert_eq!(now["zhou"].0.title.as_deref(), Some("主管"));
    assert_eq!(now["lin"].0.title.as_deref(), Some("工程师"));

    let both = config.run(&["sync", "hq", "--person", "zhou", "--full"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both));
}
