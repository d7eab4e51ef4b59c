//! `orgsync explain`: why one person is synced the way they are, in sentences.

use super::{NotActivatedPolicy, Plan, Policy, RemovalPolicy, Step, Verdict, links};
use crate::model::{DepartmentId, Directory, Field, Status, UserKey};
use crate::snapshot::Snapshot;

/// Sentences about `user`: what the upstream says, what the target has, what the policy makes of
/// it, their manager link, where it comes from (direct manager or department head) and why, their
/// groups, the planned steps and the guard's verdict. `now` is the plan's clock (which staged
/// deletions are due).
pub fn explain(
    user: &UserKey,
    baseline: &Snapshot,
    directory: &Directory,
    policy: &Policy,
    plan: &Plan,
    verdict: &Verdict,
    now: jiff::Timestamp,
) -> Vec<String> {
    let mut lines = Vec::new();
    let upstream = directory.users.get(user);
    let applied = baseline.users.get(user);
    let name_of = |key: &UserKey| {
        directory
            .users
            .get(key)
            .map(|u| format!("{} ({key})", u.display_name))
            .or_else(|| {
                baseline
                    .users
                    .get(key)
                    .and_then(|a| a.attributes.get(Field::DisplayName))
                    .map(|n| format!("{n} ({key})"))
            })
            .unwrap_or_else(|| key.to_string())
    };

    lines.push(match (upstream, directory.held.contains(user)) {
        (_, true) => format!("Upstream: {user}'s record could not be read safely; the target is left as it is."),
        (Some(u), false) => {
            let departments: Vec<String> = u
                .departments
                .iter()
                .map(|d| directory.departments.get(d).map_or_else(|| d.to_string(), |d| d.name.clone()))
                .collect();
            format!(
                "Upstream: {} is {} in {}.",
                name_of(user),
                status_words(u.status),
                if departments.is_empty() { "no visible department".to_owned() } else { departments.join(", ") }
            )
        }
        (None, false) => format!(
            "Upstream: {user} is not in the latest pull: outside the app's authorized scope, or deleted upstream."
        ),
    });
    lines.push(match applied {
        Some(a) => format!(
            "Target: account {} ({}), manager {}.",
            a.target_id,
            if a.active { "active" } else { "inactive" },
            a.manager
                .as_ref()
                .map_or_else(|| "none".to_owned(), &name_of)
        ),
        None => "Target: no account yet.".to_owned(),
    });
    lines.push(format!(
        "Policy: {}",
        policy_sentence(
            user,
            upstream.map(|u| u.status),
            applied.is_some(),
            directory,
            policy
        )
    ));

    let department_name = |id: &DepartmentId| {
        directory
            .departments
            .get(id)
            .map_or_else(|| id.to_string(), |d| format!("{} ({id})", d.name))
    };
    let skipped = plan.skipped_links.iter().find(|l| &l.user == user);
    match upstream.and_then(|u| u.manager.as_ref()) {
        None if upstream.is_some() => {
            match links::head_origin(user, baseline, directory, policy, now) {
                Some((head, department)) => lines.push(match skipped {
                    Some(link) => format!(
                        "Manager: the upstream names no direct manager; the department-head fallback gives {}, head of {}, but the link is not synced: {}.",
                        name_of(&head),
                        department_name(&department),
                        link.reason
                    ),
                    None => format!(
                        "Manager: {} — from the department head: the upstream names no direct manager, and they head {} (policy: manager_fallback = department_head).",
                        name_of(&head),
                        department_name(&department)
                    ),
                }),
                None => lines.push(match policy.manager_fallback {
                    super::ManagerFallback::None => "Manager: the upstream names none (some platforms, WeCom among them, leave out managers outside the app's scope).".to_owned(),
                    super::ManagerFallback::DepartmentHead => "Manager: the upstream names none, and no department from theirs up has a head who is an active person in scope (policy: manager_fallback = department_head).".to_owned(),
                }),
            }
        }
        None => {}
        Some(manager) => match skipped {
            Some(link) => lines.push(format!(
                "Manager: the upstream names {} as direct manager, but the link is not synced: {}.",
                name_of(manager),
                link.reason
            )),
            None => lines.push(format!(
                "Manager: {} — the direct manager upstream; both are in scope and active, so the link is synced.",
                name_of(manager)
            )),
        },
    }
    lines.extend(groups(user, baseline, directory, plan));
    lines.extend(super::explain_attributes::lines(
        user, baseline, policy, plan,
    ));

    let steps: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.user() == Some(user))
        .map(|s| format!("  {s}"))
        .collect();
    if steps.is_empty() {
        lines.push("Planned: nothing; the target already matches.".to_owned());
    } else {
        lines.push("Planned:".to_owned());
        lines.extend(steps);
    }
    if let Verdict::Refused { reasons, .. } = verdict {
        lines.push(format!(
            "Guard: this run's plan is refused as a whole ({}), so none of it would be applied.",
            reasons.join("; ")
        ));
    }
    for problem in plan.problems.iter().filter(|p| p.concerns(user)) {
        lines.push(format!("Problem: {problem}."));
    }
    lines
}

/// The person's groups: the memberships the target acknowledged, then this plan's group steps
/// that add or remove them.
fn groups(user: &UserKey, baseline: &Snapshot, directory: &Directory, plan: &Plan) -> Vec<String> {
    let group_name = |id: &DepartmentId| -> String {
        let planned = plan.steps.iter().find_map(|step| match step {
            Step::CreateGroup { group, attributes } if group == id => {
                Some(attributes.display_name.to_string())
            }
            Step::UpdateGroup { group, after, .. } if group == id => {
                Some(after.display_name.to_string())
            }
            _ => None,
        });
        planned
            .or_else(|| {
                baseline
                    .groups
                    .get(id)
                    .map(|g| g.attributes.display_name.to_string())
            })
            .or_else(|| directory.departments.get(id).map(|d| d.name.clone()))
            .unwrap_or_else(|| id.to_string())
    };
    let mut lines = Vec::new();
    let recorded: Vec<String> = baseline
        .groups
        .values()
        .filter(|g| g.members.contains(user))
        .map(|g| g.attributes.display_name.to_string())
        .collect();
    if !recorded.is_empty() {
        lines.push(format!("Groups: a member of {}.", recorded.join(", ")));
    } else if !baseline.groups.is_empty() {
        lines.push("Groups: a member of none of the synced groups.".to_owned());
    }
    for step in &plan.steps {
        let (verb, group, members) = match step {
            Step::AddMembers { group, members } => ("joins", group, members),
            Step::RemoveMembers { group, members } => ("leaves", group, members),
            _ => continue,
        };
        if members.contains(user) {
            lines.push(format!("Groups planned: {verb} {}.", group_name(group)));
        }
    }
    lines
}

fn status_words(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Disabled => "disabled (frozen)",
        Status::NotActivated => "invited but not activated",
        Status::Resigned => "resigned",
    }
}

fn policy_sentence(
    user: &UserKey,
    status: Option<Status>,
    known: bool,
    directory: &Directory,
    policy: &Policy,
) -> String {
    let removal = |action: RemovalPolicy, what: &str| match (action, policy.delete_after) {
        (RemovalPolicy::Deactivate, _) => {
            format!("{what} people are deactivated and kept (policy: deactivate).")
        }
        (RemovalPolicy::Delete, None) => format!("{what} people are deleted (policy: delete)."),
        (RemovalPolicy::Delete, Some(grace)) => format!(
            "{what} people are deactivated, then deleted once inactive for {grace} (policy: delete, delete_after)."
        ),
    };
    if directory.held.contains(user) {
        return "held: no change until the upstream record is readable again.".to_owned();
    }
    match (status, known) {
        (Some(Status::Active), _) => "active people are synced as active accounts.".to_owned(),
        (Some(Status::Disabled), true) => {
            "disabled people are deactivated (policy: deactivate).".to_owned()
        }
        (Some(Status::Disabled | Status::Resigned), false) => {
            "people who are disabled or resigned before their first sync are never created."
                .to_owned()
        }
        (Some(Status::NotActivated), _) => match policy.not_activated {
            NotActivatedPolicy::CreateInactive => {
                "people who have not activated are created inactive.".to_owned()
            }
            NotActivatedPolicy::Skip => {
                "people who have not activated are left out (policy: skip).".to_owned()
            }
        },
        (Some(Status::Resigned), true) => removal(policy.resigned, "Resigned"),
        (None, true) => removal(policy.vanished, "Vanished"),
        (None, false) => "unknown to both the upstream and the target; nothing to do.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Department, GroupAttributes, TargetId, User};
    use crate::plan::{LinkSource, ManagerFallback, plan};
    use crate::snapshot::{AppliedGroup, AppliedUser};

    fn person(key: &str, department: &str, manager: Option<&str>) -> User {
        User {
            profile: Default::default(),
            key: UserKey::new(key),
            display_name: key.into(),
            email: None,
            mobile: None,
            title: None,
            employee_no: None,
            departments: vec![DepartmentId::new(department)],
            status: Status::Active,
            manager: manager.map(UserKey::new),
        }
    }

    fn department(id: &str, name: &str, parent: Option<&str>, heads: &[&str]) -> Department {
        Department {
            id: DepartmentId::new(id),
            name: name.into(),
            parent: parent.map(DepartmentId::new),
            heads: heads.iter().map(|h| UserKey::new(*h)).collect(),
        }
    }

    /// ceo heads 1 (Company); cto heads 2 (Engineering, under 1) and is in it; dev is in 2;
    /// ops has a direct manager (dev).
    fn directory() -> Directory {
        let mut directory = Directory::default();
        for d in [
            department("1", "Company", None, &["ceo"]),
            department("2", "Engineering", Some("1"), &["cto"]),
        ] {
            directory.departments.insert(d.id.clone(), d);
        }
        for u in [
            person("ceo", "1", None),
            person("cto", "2", None),
            person("dev", "2", None),
            person("ops", "2", Some("dev")),
        ] {
            directory.insert_user(u);
        }
        directory
    }

    fn lines(user: &str, snapshot: &Snapshot, plan: &Plan, policy: &Policy) -> String {
        let verdict = Verdict::Pass { removals: 0 };
        explain(
            &UserKey::new(user),
            snapshot,
            &directory(),
            policy,
            plan,
            &verdict,
            jiff::Timestamp::now(),
        )
        .join("\n")
    }

    #[test]
    fn each_target_attribute_shows_its_expression_and_value() {
        let mut policy = Policy::default();
        let mapping = &mut policy.mapping;
        mapping
            .set("userName", Field::UserName, "{name|upper}")
            .expect("maps");
        mapping.set("title", Field::Title, "none").expect("maps");
        mapping
            .set(
                "costCenter",
                Field::named("costCenter"),
                "{department}-{key}",
            )
            .expect("maps");
        let snapshot = Snapshot::default();
        let planned = plan(&snapshot, &directory(), &policy, jiff::Timestamp::now());
        let dev = lines("dev", &snapshot, &planned, &policy);
        for line in [
            "  userName ← {name|upper} = \"DEV\"",
            "  display_name ← name (default) = \"dev\"",
            "  title ← none = (left as the target has it)",
            "  email ← email (default) = (empty)",
            "  costCenter ← {department}-{key} = \"Engineering-dev\"",
        ] {
            assert!(dev.lines().any(|l| l == line), "{line:?} not in:\n{dev}");
        }
    }

    #[test]
    fn the_manager_link_says_where_it_comes_from() {
        let policy = Policy {
            manager_fallback: ManagerFallback::DepartmentHead,
            ..Policy::default()
        };
        let snapshot = Snapshot::default();
        let planned = plan(&snapshot, &directory(), &policy, jiff::Timestamp::now());
        assert!(planned.steps.iter().any(|s| matches!(s,
            Step::SetManager { user, source: LinkSource::DepartmentHead, .. } if user.as_str() == "dev")));

        let dev = lines("dev", &snapshot, &planned, &policy);
        assert!(
            dev.contains("Manager: cto (cto) — from the department head: the upstream names no direct manager, and they head Engineering (2)"),
            "{dev}"
        );
        // cto heads their own department: the head of the one above.
        let cto = lines("cto", &snapshot, &planned, &policy);
        assert!(
            cto.contains("Manager: ceo (ceo) — from the department head"),
            "{cto}"
        );
        assert!(cto.contains("Company (1)"), "{cto}");
        let ceo = lines("ceo", &snapshot, &planned, &policy);
        assert!(
            ceo.contains("no department from theirs up has a head"),
            "{ceo}"
        );
        let ops = lines("ops", &snapshot, &planned, &policy);
        assert!(
            ops.contains("Manager: dev (dev) — the direct manager upstream"),
            "{ops}"
        );

        // Without the fallback, no head is named.
        let policy = Policy::default();
        let planned = plan(&snapshot, &directory(), &policy, jiff::Timestamp::now());
        let dev = lines("dev", &snapshot, &planned, &policy);
        assert!(dev.contains("Manager: the upstream names none"), "{dev}");
        assert!(!dev.contains("department head"), "{dev}");
    }

    #[test]
    fn groups_recorded_and_planned_are_listed() {
        let group = |name: &str, members: &[&str]| AppliedGroup {
            target_id: TargetId::new(format!("g-{name}")),
            attributes: GroupAttributes {
                display_name: name.into(),
                parent: None,
                head: None,
            },
            members: members.iter().map(|m| UserKey::new(*m)).collect(),
        };
        let mut snapshot = Snapshot::default();
        snapshot.users.insert(
            UserKey::new("dev"),
            AppliedUser {
                target_id: TargetId::new("t-dev"),
                attributes: Attributes::new("dev".to_owned(), "dev".to_owned()),
                active: true,
                manager: None,
                deactivated_at: None,
            },
        );
        snapshot
            .groups
            .insert(DepartmentId::new("1"), group("Company", &["dev", "ceo"]));
        snapshot
            .groups
            .insert(DepartmentId::new("3"), group("Old team", &["dev"]));
        snapshot
            .groups
            .insert(DepartmentId::new("9"), group("Elsewhere", &["ceo"]));
        let plan = Plan {
            steps: vec![
                Step::CreateGroup {
                    group: DepartmentId::new("2"),
                    attributes: Box::new(GroupAttributes {
                        display_name: "Company / Engineering".into(),
                        parent: Some(DepartmentId::new("1")),
                        head: None,
                    }),
                },
                Step::AddMembers {
                    group: DepartmentId::new("2"),
                    members: vec![UserKey::new("cto"), UserKey::new("dev")],
                },
                Step::RemoveMembers {
                    group: DepartmentId::new("3"),
                    members: vec![UserKey::new("dev")],
                },
                Step::RemoveMembers {
                    group: DepartmentId::new("9"),
                    members: vec![UserKey::new("ceo")],
                },
            ],
            ..Plan::default()
        };
        let dev = lines("dev", &snapshot, &plan, &Policy::default());
        assert!(
            dev.contains("Groups: a member of Company, Old team."),
            "{dev}"
        );
        assert!(
            dev.contains("Groups planned: joins Company / Engineering."),
            "{dev}"
        );
        assert!(dev.contains("Groups planned: leaves Old team."), "{dev}");
        assert!(!dev.contains("Elsewhere"), "{dev}");
        let ops = lines("ops", &snapshot, &plan, &Policy::default());
        assert!(
            ops.contains("Groups: a member of none of the synced groups."),
            "{ops}"
        );
        assert!(!ops.contains("Groups planned"), "{ops}");
    }
}
