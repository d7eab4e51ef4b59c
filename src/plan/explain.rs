//! `orgsync explain`: why one person is synced the way they are, in sentences.

use super::{NotActivatedPolicy, Plan, Policy, RemovalPolicy, Verdict};
use crate::model::{Directory, Field, Status, UserKey};
use crate::snapshot::Snapshot;

/// Sentences about `user`: what the upstream says, what the target has, what the policy makes of
/// it, their manager link and why, the planned steps and the guard's verdict.
pub fn explain(
    user: &UserKey,
    baseline: &Snapshot,
    directory: &Directory,
    policy: &Policy,
    plan: &Plan,
    verdict: &Verdict,
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

    match upstream.and_then(|u| u.manager.as_ref()) {
        None if upstream.is_some() => lines.push(
            "Manager: the upstream names none (some platforms, WeCom among them, leave out managers outside the app's scope)."
                .to_owned(),
        ),
        None => {}
        Some(manager) => match plan.skipped_links.iter().find(|l| &l.user == user) {
            Some(link) => lines.push(format!(
                "Manager: the upstream names {}, but the link is not synced: {}.",
                name_of(manager),
                link.reason
            )),
            None => lines.push(format!(
                "Manager: {} — both are in scope and active, so the link is synced.",
                name_of(manager)
            )),
        },
    }

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
