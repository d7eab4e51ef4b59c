//! The report for tickets and e-mail: a summary table, a table per step kind, the skipped manager
//! links and the problems. Every upstream string goes through `escape`.

mod escape;

pub(crate) use escape::escape;

use super::{GroupReport, RenderOptions, Report, SkippedLinkReport, StepReport, view};
use crate::plan::{Step, StepKind};
use std::fmt::Write as _;

pub fn render_markdown(report: &Report) -> String {
    render_markdown_with(report, &RenderOptions::default())
}

pub(crate) fn render_markdown_with(r: &Report, options: &RenderOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", escape(&view::title(r)));
    out.push_str("| Summary | |\n|---|---|\n");
    let mut summary = vec![
        ("Run", r.run_id.clone()),
        ("Mode", r.mode.to_string()),
        ("Started", r.started_at.to_string()),
    ];
    if let Some(end) = r.finished_at {
        summary.push(("Finished", end.to_string()));
    }
    if let Some(events) = view::events_line(r) {
        summary.push(("Events", events));
    }
    summary.push(("Outcome", view::outcome_line(r)));
    if let Some(pull) = &r.pull {
        summary.push(("Pulled", view::pull_line(pull)));
    } else if !r.pull_errors.is_empty() {
        let errors = view::errors_suffix(&r.pull_errors);
        summary.push(("Pull", errors.trim_start_matches("; ").to_owned()));
    }
    if let Some(guard) = view::guard_line(r) {
        summary.push(("Guard", guard));
    }
    for (label, value) in summary {
        let _ = writeln!(out, "| **{label}** | {} |", escape(&value));
    }

    let total = view::total_steps(r);
    let _ = writeln!(
        out,
        "\n## Plan: {total} step{}\n",
        if total == 1 { "" } else { "s" }
    );
    if total > 0 {
        out.push_str("| Step kind | Count |\n|---|--:|\n");
        for (kind, count) in view::counts(r) {
            let note = view::count_note(r, kind).map_or(String::new(), |n| format!(" ({n})"));
            let _ = writeln!(out, "| {kind} | {count}{note} |");
        }
    }

    if !r.groups.is_empty() {
        let _ = writeln!(out, "\n## Groups ({})\n", r.groups.len());
        write_groups(&mut out, &r.groups, options);
    }

    let with_results = view::show_results(r);
    for kind in view::kinds() {
        let steps: Vec<&StepReport> = view::steps_of(r, kind).collect();
        if !steps.is_empty() {
            let _ = writeln!(out, "\n## {} ({})\n", view::heading(kind), steps.len());
            write_steps(&mut out, kind, &steps, with_results, options);
        }
    }

    if !r.skipped_links.is_empty() {
        let _ = writeln!(
            out,
            "\n## Manager links not synced ({})\n",
            r.skipped_links.len()
        );
        write_skipped(&mut out, &r.skipped_links, options);
    }
    if !r.problems.is_empty() {
        let _ = writeln!(
            out,
            "\n## Problems in the upstream data ({})\n",
            r.problems.len()
        );
        for p in r.problems.iter().take(cap(options)) {
            let _ = writeln!(out, "- {}", escape(&p.message));
        }
        more(&mut out, view::left_out(r.problems.len(), options.limit));
    }
    out
}

/// One kind's steps as a table whose columns suit the kind, capped at the limit.
pub(crate) fn write_steps(
    out: &mut String,
    kind: StepKind,
    steps: &[&StepReport],
    with_results: bool,
    options: &RenderOptions,
) {
    let subject = match view::subject_heading(kind) {
        "group" => "Group",
        _ => "User",
    };
    let mut headers = vec!["Name", subject];
    headers.extend_from_slice(match kind {
        StepKind::Create => &["Account", "Attributes"][..],
        StepKind::Adopt => &["Account"],
        StepKind::FreeValues
        | StepKind::Update
        | StepKind::CreateGroup
        | StepKind::UpdateGroup
        | StepKind::AddMembers
        | StepKind::RemoveMembers => &["Field", "Before", "After"],
        StepKind::SetManager | StepKind::ClearManager => &["Manager before", "Manager after"],
        StepKind::Reactivate => &[],
        StepKind::Deactivate | StepKind::Delete | StepKind::DeleteGroup => &["Reason"],
    });
    if with_results {
        headers.push("Result");
    }
    let _ = writeln!(
        out,
        "| {} |\n|{}",
        headers.join(" | "),
        "---|".repeat(headers.len())
    );
    let all_rows = view::rows(steps.iter().copied());
    for row in all_rows.iter().take(cap(options)) {
        let s: &StepReport = &row.step;
        let name = escape(s.name.as_deref().unwrap_or(""));
        let user = escape(s.step.subject().as_str());
        let changes = row.changes();
        let mut rows: Vec<Vec<String>> = match &s.step {
            Step::Create { .. } => {
                let attributes: Vec<String> = changes[1..]
                    .iter()
                    .filter(|c| c.field != "display_name")
                    .map(|c| format!("{}: {}", c.field, value(c.after.as_deref())))
                    .collect();
                vec![vec![
                    name,
                    user,
                    value(changes[0].after.as_deref()),
                    attributes.join("<br>"),
                ]]
            }
            Step::FreeValues { .. }
            | Step::Update { .. }
            | Step::CreateGroup { .. }
            | Step::UpdateGroup { .. }
            | Step::AddMembers { .. }
            | Step::RemoveMembers { .. } => {
                let mut first = Some((name, user));
                changes
                    .iter()
                    .map(|c| {
                        let (name, user) = first.take().unwrap_or_default();
                        vec![
                            name,
                            user,
                            c.field.to_owned(),
                            value(c.before.as_deref()),
                            value(c.after.as_deref()),
                        ]
                    })
                    .collect()
            }
            Step::SetManager { .. } | Step::ClearManager { .. } => vec![vec![
                name,
                user,
                value(changes[0].before.as_deref()),
                value(changes[0].after.as_deref()),
            ]],
            Step::Reactivate { .. } => vec![vec![name, user]],
            Step::Adopt { .. } => vec![vec![name, user, value(changes[0].after.as_deref())]],
            Step::Deactivate { .. } | Step::Delete { .. } | Step::DeleteGroup { .. } => {
                vec![vec![name, user, escape(&view::note(s).unwrap_or_default())]]
            }
        };
        if with_results {
            for (i, row) in rows.iter_mut().enumerate() {
                row.push(if i > 0 {
                    String::new()
                } else {
                    match view::outcome_detail(&s.outcome) {
                        Some(detail) => {
                            format!(
                                "**{}**: {}",
                                view::outcome_word(&s.outcome),
                                escape(&detail)
                            )
                        }
                        None => view::outcome_word(&s.outcome).to_owned(),
                    }
                });
            }
        }
        for row in rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
    }
    more(out, view::left_out(all_rows.len(), options.limit));
}

/// The groups the plan touches with their member counts, capped at the limit.
fn write_groups(out: &mut String, groups: &[GroupReport], options: &RenderOptions) {
    out.push_str("| Group | Members |\n|---|---|\n");
    for g in groups.iter().take(cap(options)) {
        let _ = writeln!(
            out,
            "| {} | {} |",
            escape(&view::group(g)),
            escape(&view::group_members(g))
        );
    }
    more(out, view::left_out(groups.len(), options.limit));
}

/// Skipped manager links as a table, capped at the limit.
pub(crate) fn write_skipped(
    out: &mut String,
    links: &[SkippedLinkReport],
    options: &RenderOptions,
) {
    out.push_str("| Person | Manager | Reason |\n|---|---|---|\n");
    for s in links.iter().take(cap(options)) {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            escape(&view::person(s.user_name.as_deref(), &s.link.user)),
            escape(&view::person(s.manager_name.as_deref(), &s.link.manager)),
            escape(&s.explanation)
        );
    }
    more(out, view::left_out(links.len(), options.limit));
}

/// An escaped value, or an italic "none" that no upstream string can imitate (it would be escaped).
fn value(v: Option<&str>) -> String {
    v.map_or_else(|| "*(none)*".to_owned(), escape)
}

fn cap(options: &RenderOptions) -> usize {
    options.limit.unwrap_or(usize::MAX)
}

pub(crate) fn more(out: &mut String, left_out: usize) {
    if left_out > 0 {
        let _ = writeln!(
            out,
            "\n*… and {left_out} more (raise `--limit`, or see the JSON report).*"
        );
    }
}
