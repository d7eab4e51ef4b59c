//! Reports built in code, with fixed timestamps and run ids: the snapshot tests, the schema test,
//! the comparison tests and the HTML size measurement use them. No emulator, fully deterministic.
//! Public (hidden) only so integration tests can reach it.

use super::{
    GroupChange, GroupReport, ProblemReport, PullStatsReport, PullSummary, Report, RunOutcome,
    SCHEMA_VERSION, SkippedLinkReport, StepReport,
};
use crate::engine::{HeldReason, RunMode, StepOutcome};
use crate::model::{
    Attributes, DepartmentId, Field, FieldChange, GroupAttributes, Problem, Status, UserKey,
};
use crate::plan::{self, LinkSkipReason, LinkSource, RemovalReason, SkippedLink, Step, Verdict};
use std::collections::BTreeMap;

fn at(s: &str) -> jiff::Timestamp {
    s.parse().expect("fixture timestamps are valid")
}

fn step(step: Step, name: &str) -> StepReport {
    StepReport {
        step,
        name: Some(name.to_owned()),
        manager_name: None,
        previous_manager_name: None,
        outcome: StepOutcome::Planned,
    }
}

fn change(field: Field, before: Option<&str>, after: Option<&str>) -> FieldChange {
    FieldChange {
        field,
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    }
}

/// A dry run with one step of every kind, hostile and wide names, skipped links and problems.
pub fn sample() -> Report {
    let k = UserKey::from;
    let mut set_manager = step(
        Step::SetManager {
            user: k("zhou.ming"),
            manager: k("lin.xiao"),
            previous: Some(k("boss2")),
            source: LinkSource::Direct,
        },
        "周明",
    );
    set_manager.manager_name = Some("林晓".into());
    set_manager.previous_manager_name = Some("Zoë Müller".into());
    let mut new_link = step(
        Step::SetManager {
            user: k("sales1"),
            manager: k("wang"),
            previous: None,
            source: LinkSource::Direct,
        },
        "<img src=x onerror=alert(1)>",
    );
    new_link.manager_name = Some("王芳".into());
    let mut clear = step(
        Step::ClearManager {
            user: k("lin.xiao"),
            previous: k("boss2"),
        },
        "林晓",
    );
    clear.previous_manager_name = Some("Zoë Müller".into());
    // A person without a direct manager upstream, linked to their department's head.
    let mut head_link = step(
        Step::SetManager {
            user: k("back"),
            manager: k("wang"),
            previous: None,
            source: LinkSource::DepartmentHead,
        },
        "Back Again",
    );
    head_link.manager_name = Some("王芳".into());
    let d = DepartmentId::from;
    let group = |name: &str, parent: Option<&str>, head: Option<&str>| {
        Box::new(GroupAttributes {
            display_name: name.into(),
            parent: parent.map(DepartmentId::from),
            head: head.map(UserKey::from),
        })
    };
    let members = |keys: &[&str]| {
        keys.iter()
            .map(|key| UserKey::from(*key))
            .collect::<Vec<_>>()
    };

    let steps = vec![
        step(
            Step::Adopt {
                user: k("wu.lei"),
                account: Box::new(crate::snapshot::AppliedUser {
                    target_id: crate::model::TargetId::from("2819c223-7f76-453a-919d-413861904646"),
                    attributes: Attributes::default(),
                    active: true,
                    manager: None,
                    deactivated_at: None,
                }),
                matched_by: Field::Email,
            },
            "吴磊",
        ),
        step(
            Step::FreeValues {
                user: k("leaver"),
                changes: vec![change(
                    Field::Email,
                    Some("shared@example.cn"),
                    Some("orgsync-released-leaver@invalid"),
                )],
            },
            "李离",
        ),
        step(
            Step::Update {
                user: k("lin.xiao"),
                changes: vec![
                    change(Field::DisplayName, Some("Lin Xiao"), Some("林晓")),
                    change(Field::Title, Some("Engineer"), None),
                ],
            },
            "林晓",
        ),
        step(Step::Reactivate { user: k("back") }, "Back Again"),
        step(
            Step::Create {
                user: k("sales1"),
                attributes: Box::new(
                    Attributes::new("sales1", "<img src=x onerror=alert(1)>")
                        .with(Field::Email, Some("sales1@example.cn".into()))
                        .with(Field::Title, Some("销售 | `lead` *".into()))
                        .with(Field::Department, Some("销售部".into())),
                ),
                active: true,
            },
            "<img src=x onerror=alert(1)>",
        ),
        step(
            Step::CreateGroup {
                group: d("12"),
                attributes: group("销售部 / 华东", Some("3"), Some("wang")),
            },
            "销售部 / 华东",
        ),
        step(
            Step::UpdateGroup {
                group: d("3"),
                before: group("销售部", None, Some("boss2")),
                after: group("销售 | `部` <b>", Some("1"), Some("lin.xiao")),
            },
            "销售 | `部` <b>",
        ),
        new_link,
        set_manager,
        head_link,
        clear,
        // Two batches of one group's new members: text, Markdown and HTML show them as one row.
        step(
            Step::AddMembers {
                group: d("12"),
                members: members(&["back", "lin.xiao", "sales1"]),
            },
            "销售部 / 华东",
        ),
        step(
            Step::AddMembers {
                group: d("12"),
                members: members(&["wu.lei", "zhou.ming"]),
            },
            "销售部 / 华东",
        ),
        step(
            Step::RemoveMembers {
                group: d("3"),
                members: members(&["old", "wang"]),
            },
            "销售 | `部` <b>",
        ),
        step(
            Step::Deactivate {
                user: k("wang"),
                reason: RemovalReason::Status(Status::Disabled),
            },
            "王芳",
        ),
        step(
            Step::Delete {
                user: k("old"),
                reason: RemovalReason::Vanished,
            },
            "Old Timer",
        ),
        step(
            Step::DeleteGroup {
                group: d("9"),
                reason: RemovalReason::Vanished,
            },
            "旧部门",
        ),
    ];
    let groups = vec![
        GroupReport {
            group: d("12"),
            name: Some("销售部 / 华东".into()),
            change: GroupChange::Created,
            members_before: 0,
            members_after: 5,
            added: 5,
            removed: 0,
        },
        GroupReport {
            group: d("3"),
            name: Some("销售 | `部` <b>".into()),
            change: GroupChange::Updated,
            members_before: 40,
            members_after: 38,
            added: 0,
            removed: 2,
        },
        GroupReport {
            group: d("9"),
            name: Some("旧部门".into()),
            change: GroupChange::Deleted,
            members_before: 4,
            members_after: 0,
            added: 0,
            removed: 0,
        },
    ];
    let skipped = [
        (
            "sales2",
            Some("销售二"),
            "outsider",
            None,
            LinkSkipReason::OutsideScope,
        ),
        ("a", Some("A | B"), "b", Some("Bee"), LinkSkipReason::Cycle),
        (
            "c",
            None,
            "wang",
            Some("王芳"),
            LinkSkipReason::ManagerNotSynced(Status::Disabled),
        ),
    ];
    let problems = [
        Problem::UnknownStatus {
            user: k("odd"),
            raw: "9".into(),
        },
        Problem::EmptyUserId {
            department: DepartmentId::from("3"),
        },
    ];
    let plan_steps: Vec<Step> = steps.iter().map(|s| s.step.clone()).collect();
    Report {
        schema_version: SCHEMA_VERSION,
        run_id: "demo-20250301T090000-000000".into(),
        connector: "demo".into(),
        source: "wecom".into(),
        target: "scim".into(),
        mode: RunMode::DryRun,
        started_at: at("2025-03-01T09:00:00Z"),
        finished_at: Some(at("2025-03-01T09:00:02.5Z")),
        outcome: RunOutcome::Planned,
        pull: Some(PullSummary {
            users: 174,
            departments: 17,
            held: 1,
            stats: PullStatsReport {
                calls: BTreeMap::from([
                    ("department/list".to_owned(), 1),
                    ("gettoken".to_owned(), 1),
                    ("user/list".to_owned(), 17),
                ]),
                errors: BTreeMap::from([("45009".to_owned(), 2)]),
                total_calls: 19,
                retries: 2,
                duration_ms: 1234,
            },
            metered_calls: BTreeMap::new(),
        }),
        pull_errors: BTreeMap::new(),
        guard: Some(Verdict::Pass { removals: 2 }),
        counts: plan::counts(&plan_steps),
        steps,
        groups,
        skipped_links: skipped
            .into_iter()
            .map(
                |(user, user_name, manager, manager_name, reason)| SkippedLinkReport {
                    explanation: reason.to_string(),
                    user_name: user_name.map(str::to_owned),
                    manager_name: manager_name.map(str::to_owned),
                    link: SkippedLink {
                        user: k(user),
                        manager: k(manager),
                        reason,
                    },
                },
            )
            .collect(),
        problems: problems
            .into_iter()
            .map(|p| ProblemReport {
                message: p.to_string(),
                problem: p,
            })
            .collect(),
        focus: None,
        events: None,
    }
}

/// The sample as an apply that met failures and held steps: a link and a group failed, the
/// failed group's members and a removal were held.
pub fn applied_sample() -> Report {
    let mut r = sample();
    r.run_id = "demo-20250301T091000-000000".into();
    r.mode = RunMode::Apply;
    r.started_at = at("2025-03-01T09:10:00Z");
    r.finished_at = Some(at("2025-03-01T09:10:04Z"));
    let mut failed = 0;
    for s in &mut r.steps {
        s.outcome = match &s.step {
            Step::SetManager { user, .. } if user.as_str() == "sales1" => StepOutcome::Failed {
                error: "SCIM 409 uniqueness: userName \"sales1\" <taken>".into(),
            },
            Step::CreateGroup { .. } => StepOutcome::Failed {
                error: "SCIM 400 invalidValue: displayName".into(),
            },
            Step::AddMembers { group, .. } => StepOutcome::Held {
                reason: HeldReason::DependsOnFailedGroup {
                    group: group.clone(),
                },
            },
            Step::Deactivate { user, .. } if user.as_str() == "wang" => StepOutcome::Held {
                reason: HeldReason::StillManaging {
                    user: UserKey::new("wang"),
                    reports: vec![UserKey::new("zhou.ming")],
                    more: 0,
                },
            },
            _ => StepOutcome::Applied,
        };
        failed += usize::from(s.outcome != StepOutcome::Applied);
    }
    r.outcome = RunOutcome::PartiallyApplied { failed };
    r
}

/// A dry run of `n` steps in the proportions of a large first sync with churn: mostly creates
/// and manager links, some updates and removals. For measuring the HTML page at scale.
pub fn large(n: usize) -> Report {
    let mut r = sample();
    r.groups = Vec::new();
    r.steps = (0..n)
        .map(|i| {
            let key = UserKey::new(format!("user{i:06}"));
            let name = format!("{}{}", ["王", "李", "张", "刘", "陈"][i % 5], i);
            let manager = UserKey::new(format!("user{:06}", i / 8));
            let s = match i % 10 {
                0..=4 => Step::Create {
                    attributes: Box::new(
                        Attributes::new(key.as_str(), name.clone())
                            .with(Field::Email, Some(format!("{key}@example.cn").into()))
                            .with(Field::Title, Some(["工程师", "经理", "销售"][i % 3].into()))
                            .with(Field::Department, Some(format!("部门{}", i % 40).into())),
                    ),
                    user: key,
                    active: true,
                },
                5 | 6 => Step::SetManager {
                    user: key,
                    manager,
                    previous: None,
                    source: LinkSource::Direct,
                },
                7 | 8 => Step::Update {
                    user: key,
                    changes: vec![change(Field::Title, Some("工程师"), Some("高级工程师"))],
                },
                _ => Step::Deactivate {
                    user: key,
                    reason: RemovalReason::Vanished,
                },
            };
            let mut report = step(s, &name);
            if let Step::SetManager { manager, .. } = &report.step {
                report.manager_name = Some(format!("经理{}", manager.as_str()));
            }
            report
        })
        .collect();
    let plan_steps: Vec<Step> = r.steps.iter().map(|s| s.step.clone()).collect();
    r.counts = plan::counts(&plan_steps);
    r
}
