//! What every renderer says the same way: headings, the outcome and guard sentences, and each step
//! as a list of "field: before → after" changes. Renderers only lay these out and escape them.

use super::{GroupChange, GroupReport, PullSummary, Report, RunOutcome, StepReport};
use crate::engine::{RunMode, StepOutcome};
use crate::model::{GroupAttributes, UserKey};
use crate::plan::{LinkSource, Step, StepKind, Verdict};
use std::borrow::Cow;

/// One field of one step, before and after. `None` is "no value".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What started an event-driven run, for the summary's "Events" line: how many events of which
/// types, and whether the run read a few people or everyone (and why).
pub fn events_line(r: &Report) -> Option<String> {
    let events = r.events.as_ref()?;
    let types: Vec<String> = events
        .types
        .iter()
        .map(|(kind, n)| format!("{kind} ×{n}"))
        .collect();
    let reach = match &events.reach {
        super::EventsReach::People { keys } => format!(
            "a run for the {} they named",
            counted(keys.len() as u64, "person", "people")
        ),
        super::EventsReach::Everyone { reason } => format!("a full run: {reason}"),
    };
    Some(format!(
        "{} ({}), the first received at {}; {reach}",
        counted(events.events as u64, "upstream event", "upstream events"),
        types.join(", "),
        events.first_received_at,
    ))
}

pub fn title(r: &Report) -> String {
    let kind = match r.mode {
        RunMode::DryRun => "Dry-run report",
        RunMode::Apply => "Sync report",
    };
    if let Some(focus) = &r.focus {
        let people: Vec<&str> = focus.people.iter().map(UserKey::as_str).collect();
        return format!(
            "{kind} for {}: connector {} ({} → {})",
            people.join(", "),
            r.connector,
            r.source,
            r.target
        );
    }
    format!(
        "{kind}: connector {} ({} → {})",
        r.connector, r.source, r.target
    )
}

/// The second column's heading: who or what the steps of this kind change.
pub fn subject_heading(kind: StepKind) -> &'static str {
    match kind {
        StepKind::CreateGroup
        | StepKind::UpdateGroup
        | StepKind::AddMembers
        | StepKind::RemoveMembers
        | StepKind::DeleteGroup => "group",
        _ => "user",
    }
}

/// Every kind in the order its steps run (phase order), for sections and count tables.
pub fn kinds() -> [StepKind; StepKind::ALL.len()] {
    let mut kinds = StepKind::ALL;
    kinds.sort_by_key(|k| kind_phase(*k));
    kinds
}

fn kind_phase(kind: StepKind) -> crate::plan::Phase {
    use crate::plan::Phase;
    match kind {
        StepKind::Adopt => Phase::Adopt,
        StepKind::FreeValues => Phase::FreeValues,
        StepKind::Update => Phase::Update,
        StepKind::Reactivate => Phase::Reactivate,
        StepKind::Create => Phase::Create,
        StepKind::CreateGroup | StepKind::UpdateGroup => Phase::Group,
        StepKind::SetManager | StepKind::ClearManager => Phase::Link,
        StepKind::AddMembers => Phase::AddMembers,
        StepKind::RemoveMembers => Phase::RemoveMembers,
        StepKind::Deactivate => Phase::Deactivate,
        StepKind::Delete => Phase::Delete,
        StepKind::DeleteGroup => Phase::DeleteGroup,
    }
}

/// The kinds with steps, in phase order, with their counts.
pub fn counts(r: &Report) -> Vec<(StepKind, usize)> {
    kinds()
        .into_iter()
        .map(|k| (k, r.counts.get(&k).copied().unwrap_or(0)))
        .filter(|(_, c)| *c > 0)
        .collect()
}

/// What follows a kind's count in the plan's summary: how many manager links come from a
/// department head (the rest are direct managers), so a capped section cannot hide them.
pub fn count_note(r: &Report, kind: StepKind) -> Option<String> {
    if kind != StepKind::SetManager {
        return None;
    }
    let from_heads = r
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.step,
                Step::SetManager {
                    source: crate::plan::LinkSource::DepartmentHead,
                    ..
                }
            )
        })
        .count();
    (from_heads > 0).then(|| format!("{from_heads} from department heads"))
}

pub fn heading(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Adopt => "Adopt existing accounts",
        StepKind::FreeValues => "Free values taken over by others",
        StepKind::Create => "Create",
        StepKind::Update => "Update",
        StepKind::Reactivate => "Reactivate",
        StepKind::SetManager => "Set manager",
        StepKind::ClearManager => "Clear manager",
        StepKind::Deactivate => "Deactivate",
        StepKind::Delete => "Delete",
        StepKind::CreateGroup => "Create groups",
        StepKind::UpdateGroup => "Update groups",
        StepKind::AddMembers => "Add group members",
        StepKind::RemoveMembers => "Remove group members",
        StepKind::DeleteGroup => "Delete groups",
    }
}

pub fn outcome_line(r: &Report) -> String {
    match &r.outcome {
        RunOutcome::Running => "running".into(),
        RunOutcome::Planned => "planned only (dry-run): nothing was written".into(),
        RunOutcome::Applied if r.steps.is_empty() => "in sync: nothing to do".into(),
        RunOutcome::Applied => "applied: every step was acknowledged by the target".into(),
        RunOutcome::PartiallyApplied { failed } => format!(
            "partially applied: {failed} step(s) failed or were held back; the next run retries them"
        ),
        RunOutcome::Interrupted {
            stage: Some(stage), ..
        } => format!(
            "interrupted by shutdown while {}: nothing was written; the next run starts over",
            match stage {
                crate::engine::Stage::Checking => "checking the target",
                crate::engine::Stage::Pulling => "pulling",
                _ => "planning",
            }
        ),
        RunOutcome::Interrupted { left, stage: None } => format!(
            "interrupted by shutdown: {left} step(s) not attempted; the next run applies them"
        ),
        RunOutcome::BreakerTripped {
            consecutive_failures,
            left,
        } => format!(
            "STOPPED EARLY: the target failed {consecutive_failures} steps in a row (circuit breaker, \
             policy max_consecutive_failures); {left} step(s) not attempted; check the target, the next \
             run retries them"
        ),
        RunOutcome::Refused { reasons } => format!(
            "REFUSED by the deletion guard, nothing was written: {}. {}",
            reasons.join("; "),
            refusal_advice(r)
        ),
        RunOutcome::Failed { error } => format!("FAILED, nothing was written: {error}"),
    }
}

/// What to do about an empty pull. It is never applied, so no approval is offered: the fix is
/// upstream (the app's scope was narrowed or revoked, or the platform is down).
const EMPTY_PULL_ADVICE: &str = "an empty pull is never applied, not even with an approval: check \
     that the app's authorized scope in the platform's admin console still covers the people, then \
     run again";

/// What an operator can do about a refusal: approve an overridable one, fix the upstream otherwise.
fn refusal_advice(r: &Report) -> String {
    let overridable = match &r.guard {
        Some(Verdict::Refused { overridable, .. }) => *overridable,
        // A refused run always carries its verdict; without one, offer no approval.
        _ => false,
    };
    if overridable {
        format!(
            "Check the upstream; if the removals are right, approve them with `orgsync sync {} \
             --allow-deletions`",
            r.connector
        )
    } else {
        let mut advice = EMPTY_PULL_ADVICE.to_owned();
        advice[..1].make_ascii_uppercase();
        advice
    }
}

/// Whether the outcome needs someone's attention (renderers colour or flag it).
pub fn outcome_is_bad(r: &Report) -> bool {
    matches!(
        r.outcome,
        RunOutcome::PartiallyApplied { .. }
            | RunOutcome::Interrupted { .. }
            | RunOutcome::BreakerTripped { .. }
            | RunOutcome::Refused { .. }
            | RunOutcome::Failed { .. }
    )
}

pub fn pull_line(pull: &PullSummary) -> String {
    let held = if pull.held > 0 {
        format!(", {} held as they are (see problems)", pull.held)
    } else {
        String::new()
    };
    format!(
        "{}, {}, {} ({} retried) in {:.1} s{held}{}{}",
        counted(pull.users as u64, "person", "people"),
        counted(pull.departments as u64, "department", "departments"),
        counted(pull.stats.total_calls, "upstream call", "upstream calls"),
        pull.stats.retries,
        pull.stats.duration_ms as f64 / 1000.0,
        errors_suffix(&pull.stats.errors),
        metered_suffix(&pull.metered_calls),
    )
}

/// "1 person", "2 people": a count with its noun.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// This month's calls to quota-counted endpoints, e.g. "; this month's calls counted against the
/// upstream's quota: /topapi/smartwork/hrm/employee/v2/list 306"; empty when there were none.
pub fn metered_suffix(metered: &std::collections::BTreeMap<String, u64>) -> String {
    if metered.is_empty() {
        return String::new();
    }
    let list: Vec<String> = metered.iter().map(|(e, n)| format!("{e} {n}")).collect();
    format!(
        "; this month's calls counted against the upstream's quota: {}",
        list.join(", ")
    )
}

/// Upstream error answers by code, e.g. "; errors: 45009×3, http_502×1"; empty when there were none.
pub fn errors_suffix(errors: &std::collections::BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let list: Vec<String> = errors
        .iter()
        .map(|(code, n)| format!("{code}×{n}"))
        .collect();
    format!("; upstream errors: {}", list.join(", "))
}

/// The guard's verdict in one sentence; a dry run says what an apply would meet.
pub fn guard_line(r: &Report) -> Option<String> {
    let verdict = r.guard.as_ref()?;
    Some(match verdict {
        Verdict::Pass { removals } => {
            format!(
                "pass: {} (deactivations and deletions), within the limits",
                counted(*removals as u64, "removal", "removals")
            )
        }
        Verdict::Refused {
            reasons,
            overridable,
            ..
        } => {
            let would = if r.mode == RunMode::DryRun {
                "an apply would be REFUSED"
            } else {
                "REFUSED"
            };
            let advice = if *overridable {
                format!(
                    "; approve with `orgsync sync {} --allow-deletions` once checked",
                    r.connector
                )
            } else {
                format!("; {EMPTY_PULL_ADVICE}")
            };
            format!("{would}: {}{advice}", reasons.join("; "))
        }
        Verdict::Approved { removals, reasons } => format!(
            "approved by the operator: {removals} removal(s) despite: {}",
            reasons.join("; ")
        ),
    })
}

pub fn total_steps(r: &Report) -> usize {
    r.counts.values().sum()
}

/// "王芳 (wang)", or the bare key when the name is unknown.
pub fn person(name: Option<&str>, key: &UserKey) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{name} ({key})"),
        _ => key.to_string(),
    }
}

/// The step as field changes. Manager steps are one `manager` change between people; account
/// state changes are one `account` change; creates list every attribute they set.
pub fn changes(s: &StepReport) -> Vec<Change> {
    let account = |before: &str, after: &str| {
        vec![Change {
            field: "account",
            before: Some(before.to_owned()),
            after: Some(after.to_owned()),
        }]
    };
    match &s.step {
        Step::Adopt {
            account,
            matched_by,
            ..
        } => vec![Change {
            field: "account",
            before: None,
            after: Some(format!(
                "{} (matched by {})",
                account.target_id,
                matched_by.as_str()
            )),
        }],
        Step::Create {
            attributes, active, ..
        } => {
            let mut changes = vec![Change {
                field: "account",
                before: None,
                after: Some(if *active { "active" } else { "inactive" }.to_owned()),
            }];
            changes.extend(attributes.iter().map(|(field, value)| Change {
                field: field.as_str(),
                before: None,
                after: Some(value.to_owned()),
            }));
            changes
        }
        Step::FreeValues { changes, .. } | Step::Update { changes, .. } => changes
            .iter()
            .map(|c| Change {
                field: c.field.as_str(),
                before: c.before.clone(),
                after: c.after.clone(),
            })
            .collect(),
        Step::Reactivate { .. } => account("inactive", "active"),
        Step::SetManager {
            manager,
            previous,
            source,
            ..
        } => {
            let mut after = person(s.manager_name.as_deref(), manager);
            if *source == LinkSource::DepartmentHead {
                after.push_str(" (department head)");
            }
            vec![Change {
                field: "manager",
                before: previous
                    .as_ref()
                    .map(|p| person(s.previous_manager_name.as_deref(), p)),
                after: Some(after),
            }]
        }
        Step::ClearManager { previous, .. } => vec![Change {
            field: "manager",
            before: Some(person(s.previous_manager_name.as_deref(), previous)),
            after: None,
        }],
        Step::Deactivate { .. } => account("active", "inactive"),
        Step::Delete { .. } => account("exists", "deleted"),
        Step::CreateGroup { attributes, .. } => group_changes(None, attributes),
        Step::UpdateGroup { before, after, .. } => group_changes(Some(before), after),
        Step::AddMembers { members, .. } => vec![Change {
            field: "members",
            before: None,
            after: Some(member_list('+', members, 1)),
        }],
        Step::RemoveMembers { members, .. } => vec![Change {
            field: "members",
            before: Some(member_list('-', members, 1)),
            after: None,
        }],
        Step::DeleteGroup { .. } => vec![Change {
            field: "group",
            before: Some("exists".to_owned()),
            after: Some("deleted".to_owned()),
        }],
    }
}

/// A group's name, parent and head: every one set (a create), or those that differ.
fn group_changes(before: Option<&GroupAttributes>, after: &GroupAttributes) -> Vec<Change> {
    let pairs = [
        (
            "name",
            before.map(|b| b.display_name.to_string()),
            Some(after.display_name.to_string()),
        ),
        (
            "parent",
            before.and_then(|b| b.parent.as_ref().map(ToString::to_string)),
            after.parent.as_ref().map(ToString::to_string),
        ),
        (
            "head",
            before.and_then(|b| b.head.as_ref().map(ToString::to_string)),
            after.head.as_ref().map(ToString::to_string),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(field, before, after)| Change {
            field,
            before,
            after,
        })
        .collect()
}

/// `+3: a, b, c` (or `-`), naming at most a few; `+5000 in 25 batches: …` for merged batches.
fn member_list(sign: char, members: &[UserKey], batches: usize) -> String {
    const SHOWN: usize = 10;
    let names: Vec<&str> = members.iter().take(SHOWN).map(UserKey::as_str).collect();
    let more = members.len().saturating_sub(SHOWN);
    let in_batches = if batches > 1 {
        format!(" in {batches} batches")
    } else {
        String::new()
    };
    let mut text = format!("{sign}{}{in_batches}: {}", members.len(), names.join(", "));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// One row of a steps table: a step, or a group's consecutive member batches with the same
/// outcome merged into one (a 5 000-member add is 25 steps, and one line to read).
#[derive(Debug, Clone)]
pub struct Row<'r> {
    pub step: Cow<'r, StepReport>,
    /// How many steps the row stands for.
    pub batches: usize,
}

impl Row<'_> {
    /// The row's changes: a merged row says how many batches its members come in.
    pub fn changes(&self) -> Vec<Change> {
        match &self.step.step {
            Step::AddMembers { members, .. } if self.batches > 1 => vec![Change {
                field: "members",
                before: None,
                after: Some(member_list('+', members, self.batches)),
            }],
            Step::RemoveMembers { members, .. } if self.batches > 1 => vec![Change {
                field: "members",
                before: Some(member_list('-', members, self.batches)),
                after: None,
            }],
            _ => changes(&self.step),
        }
    }
}

/// The steps as rows, in order: consecutive add (or remove) steps of one group with the same
/// outcome become one row. JSON keeps every step; this is only how people read them.
pub fn rows<'r>(steps: impl IntoIterator<Item = &'r StepReport>) -> Vec<Row<'r>> {
    let mut rows: Vec<Row<'r>> = Vec::new();
    for s in steps {
        if let Some(last) = rows.last_mut()
            && last.step.outcome == s.outcome
            && let Some(more) = batch_members(&last.step.step, &s.step)
        {
            let mut merged = last.step.clone().into_owned();
            if let Step::AddMembers { members, .. } | Step::RemoveMembers { members, .. } =
                &mut merged.step
            {
                members.extend_from_slice(more);
            }
            last.step = Cow::Owned(merged);
            last.batches += 1;
            continue;
        }
        rows.push(Row {
            step: Cow::Borrowed(s),
            batches: 1,
        });
    }
    rows
}

/// `next`'s members, when it is a further batch of `row`'s kind for the same group.
fn batch_members<'s>(row: &Step, next: &'s Step) -> Option<&'s [UserKey]> {
    match (row, next) {
        (
            Step::AddMembers { group: a, .. },
            Step::AddMembers {
                group: b, members, ..
            },
        )
        | (
            Step::RemoveMembers { group: a, .. },
            Step::RemoveMembers {
                group: b, members, ..
            },
        ) if a == b => Some(members),
        _ => None,
    }
}

/// A group's name and department id: "销售部 (12)", or the id alone.
pub fn group(g: &GroupReport) -> String {
    match g.name.as_deref() {
        Some(name) if !name.is_empty() => format!("{name} ({})", g.group),
        _ => g.group.to_string(),
    }
}

/// The group's member counts: "3 → 5003 (+5000)", "7 → 0 (group deleted)".
pub fn group_members(g: &GroupReport) -> String {
    let mut parts = Vec::new();
    if g.added > 0 {
        parts.push(format!("+{}", g.added));
    }
    if g.removed > 0 {
        parts.push(format!("-{}", g.removed));
    }
    match g.change {
        GroupChange::Created => parts.push("new group".to_owned()),
        GroupChange::Updated => parts.push("group updated".to_owned()),
        GroupChange::Deleted => parts.push("group deleted".to_owned()),
        GroupChange::Members => {}
    }
    format!(
        "{} → {} ({})",
        g.members_before,
        g.members_after,
        parts.join(", ")
    )
}

/// Why the step happens, where the kind alone does not say.
pub fn note(s: &StepReport) -> Option<String> {
    match &s.step {
        Step::Deactivate { reason, .. }
        | Step::Delete { reason, .. }
        | Step::DeleteGroup { reason, .. } => Some(reason.to_string()),
        _ => None,
    }
}

/// "applied", "FAILED", … for applied runs; dry-run steps have no result to show.
pub fn outcome_word(outcome: &StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Planned => "planned",
        StepOutcome::Applied => "applied",
        StepOutcome::Failed { .. } => "FAILED",
        StepOutcome::Held { .. } => "not attempted",
    }
}

pub fn outcome_detail(outcome: &StepOutcome) -> Option<std::borrow::Cow<'_, str>> {
    match outcome {
        StepOutcome::Failed { error } => Some(error.into()),
        StepOutcome::Held { reason } => Some(reason.to_string().into()),
        StepOutcome::Planned | StepOutcome::Applied => None,
    }
}

/// Whether text and Markdown need a result column: only when some step failed or was held (an
/// applied run's outcome line already says when every step was acknowledged).
pub fn show_results(r: &Report) -> bool {
    r.steps.iter().any(|s| {
        matches!(
            s.outcome,
            StepOutcome::Failed { .. } | StepOutcome::Held { .. }
        )
    })
}

/// The steps of one kind, in plan order.
pub fn steps_of(r: &Report, kind: StepKind) -> impl Iterator<Item = &StepReport> {
    r.steps.iter().filter(move |s| s.step.kind() == kind)
}

/// Renderers cap each section at `limit` rows and say how many they left out; the model has no
/// notion of it.
pub fn left_out(total: usize, limit: Option<usize>) -> usize {
    total.saturating_sub(limit.unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A focused pull reads one person in one department with one call: no "1 people".
    #[test]
    fn the_pull_line_counts_one_of_each_in_the_singular() {
        let mut pull = crate::report::fixture::sample()
            .pull
            .expect("the sample report has a pull");
        pull.users = 1;
        pull.departments = 1;
        pull.stats.total_calls = 1;
        let line = pull_line(&pull);
        assert!(
            line.starts_with("1 person, 1 department, 1 upstream call ("),
            "{line}"
        );
    }

    /// The summary line of an event-driven run names the events and what the run read; other
    /// runs have none.
    #[test]
    fn an_event_driven_run_says_which_events_started_it() {
        let mut report = crate::report::fixture::sample();
        assert_eq!(events_line(&report), None);
        report.events = Some(crate::report::EventsReport {
            events: 3,
            types: [
                ("contact.user.updated_v3".to_owned(), 2),
                ("contact.user.created_v3".to_owned(), 1),
            ]
            .into(),
            first_received_at: "2026-12-06T10:00:00Z".parse().unwrap(),
            first_occurred_at: None,
            reach: crate::report::EventsReach::People {
                keys: vec![UserKey::new("u1"), UserKey::new("u2")],
            },
        });
        assert_eq!(
            events_line(&report).as_deref(),
            Some(
                "3 upstream events (contact.user.created_v3 ×1, contact.user.updated_v3 ×2), the \
                 first received at 2026-12-06T10:00:00Z; a run for the 2 people they named"
            )
        );
        if let Some(events) = &mut report.events {
            events.events = 1;
            events.reach = crate::report::EventsReach::Everyone {
                reason: "the app's scope changed".into(),
            };
        }
        let line = events_line(&report).unwrap_or_default();
        assert!(line.starts_with("1 upstream event ("), "{line}");
        assert!(
            line.ends_with("; a full run: the app's scope changed"),
            "{line}"
        );
        let text = crate::report::render_markdown(&report);
        assert!(text.contains("| **Events** | 1 upstream event ("), "{text}");
    }

    /// Sections follow the plan's phases: the sample has a step of every kind.
    #[test]
    fn kinds_are_in_the_order_their_steps_run() {
        let sample = crate::report::fixture::sample();
        for kind in StepKind::ALL {
            let step = sample.steps.iter().find(|s| s.step.kind() == kind);
            let step = step.unwrap_or_else(|| panic!("the sample has no {kind} step"));
            assert_eq!(kind_phase(kind), step.step.phase(), "{kind}");
        }
        let order: Vec<&str> = kinds().iter().map(|k| k.as_str()).collect();
        assert_eq!(
            order,
            [
                "adopt",
                "free_values",
                "update",
                "reactivate",
                "create",
                "create_group",
                "update_group",
                "set_manager",
                "clear_manager",
                "add_members",
                "remove_members",
                "deactivate",
                "delete",
                "delete_group",
            ]
        );
    }
}
