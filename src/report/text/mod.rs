//! The report for people at a terminal: a summary, then one aligned table per step kind, the
//! skipped manager links and the upstream problems.

mod style;
mod table;

use crate::terminal::visible;
pub(crate) use style::{Style, paint};
pub(crate) use table::{Cell, Table};

use super::{GroupReport, RenderOptions, Report, SkippedLinkReport, StepReport, view};
use crate::engine::StepOutcome;
use crate::plan::{Step, StepKind};

pub fn render_text(report: &Report) -> String {
    render_text_with(report, &RenderOptions::default())
}

/// Shows at most `limit` rows per section, with a count of what was left out.
pub fn render_text_limited(report: &Report, limit: Option<usize>) -> String {
    render_text_with(
        report,
        &RenderOptions {
            limit,
            ..RenderOptions::default()
        },
    )
}

pub fn render_text_with(r: &Report, options: &RenderOptions) -> String {
    let color = options.color;
    let mut out = String::new();
    write_summary(&mut out, r, color);

    let total = view::total_steps(r);
    out.push('\n');
    let plan = format!("Plan: {total} step{}", if total == 1 { "" } else { "s" });
    line(&mut out, &paint(&plan, Style::Bold, color));
    for (kind, count) in view::counts(r) {
        let note = view::count_note(r, kind).map_or(String::new(), |n| format!("  ({n})"));
        line(
            &mut out,
            &format!("  {:<14} {count:>6}{note}", kind.as_str()),
        );
    }

    if !r.groups.is_empty() {
        let title = format!("Groups ({})", r.groups.len());
        section(&mut out, &title, color);
        write_groups(&mut out, &r.groups, options);
    }

    let with_results = view::show_results(r);
    for kind in view::kinds() {
        let steps: Vec<&StepReport> = view::steps_of(r, kind).collect();
        if !steps.is_empty() {
            let title = format!("{} ({})", view::heading(kind), steps.len());
            section(&mut out, &title, color);
            write_steps(&mut out, kind, &steps, with_results, options);
        }
    }

    if !r.skipped_links.is_empty() {
        let title = format!("Manager links not synced ({})", r.skipped_links.len());
        section(&mut out, &title, color);
        write_skipped(&mut out, &r.skipped_links, options);
    }
    if !r.problems.is_empty() {
        let title = format!("Problems in the upstream data ({})", r.problems.len());
        section(&mut out, &title, color);
        for p in r.problems.iter().take(cap(options)) {
            line(&mut out, &format!("  {}", visible(&p.message)));
        }
        more(&mut out, view::left_out(r.problems.len(), options.limit));
    }
    out
}

/// The title, then one labelled line each for the run, its timing, outcome, pull and guard.
fn write_summary(out: &mut String, r: &Report, color: bool) {
    line(out, &paint(&visible(&view::title(r)), Style::Bold, color));
    let mut summary = vec![
        ("Run", r.run_id.clone(), Style::Plain),
        ("Mode", r.mode.to_string(), Style::Plain),
        ("Started", timestamp(r.started_at), Style::Plain),
    ];
    if let Some(end) = r.finished_at {
        let secs = end.duration_since(r.started_at).as_secs_f64();
        let finished = format!("{} ({secs:.1} s)", timestamp(end));
        summary.push(("Finished", finished, Style::Plain));
    }
    if let Some(events) = view::events_line(r) {
        summary.push(("Events", events, Style::Plain));
    }
    let bad = |yes: bool| if yes { Style::Red } else { Style::Plain };
    summary.push((
        "Outcome",
        view::outcome_line(r),
        bad(view::outcome_is_bad(r)),
    ));
    if let Some(pull) = &r.pull {
        summary.push(("Pulled", view::pull_line(pull), Style::Plain));
    } else if !r.pull_errors.is_empty() {
        let errors = view::errors_suffix(&r.pull_errors);
        summary.push((
            "Pull",
            errors.trim_start_matches("; ").to_owned(),
            Style::Red,
        ));
    }
    if let Some(guard) = view::guard_line(r) {
        let refused = r.guard.as_ref().is_some_and(|g| g.is_refused());
        summary.push(("Guard", guard, bad(refused)));
    }
    for (label, value, style) in summary {
        let value = paint(&visible(&value), style, color);
        line(out, &format!("{label:<9} {value}"));
    }
}

/// Skipped manager links as a table, capped at the limit.
pub(crate) fn write_skipped(
    out: &mut String,
    links: &[SkippedLinkReport],
    options: &RenderOptions,
) {
    let mut table = Table::new(vec!["PERSON", "MANAGER", "REASON"]);
    for s in links.iter().take(cap(options)) {
        table.row(vec![
            Cell::plain(view::person(s.user_name.as_deref(), &s.link.user)),
            Cell::plain(view::person(s.manager_name.as_deref(), &s.link.manager)),
            Cell::plain(&s.explanation),
        ]);
    }
    table.write(out, options.color);
    more(out, view::left_out(links.len(), options.limit));
}

/// The groups the plan touches with their member counts, capped at the limit.
fn write_groups(out: &mut String, groups: &[GroupReport], options: &RenderOptions) {
    let mut table = Table::new(vec!["GROUP", "MEMBERS"]);
    for g in groups.iter().take(cap(options)) {
        table.row(vec![
            Cell::plain(view::group(g)),
            Cell::plain(view::group_members(g)),
        ]);
    }
    table.write(out, options.color);
    more(out, view::left_out(groups.len(), options.limit));
}

fn cap(options: &RenderOptions) -> usize {
    options.limit.unwrap_or(usize::MAX)
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
        "group" => "GROUP",
        _ => "USER",
    };
    let mut headers = vec!["NAME", subject];
    headers.extend_from_slice(match kind {
        StepKind::Create => &["ACCOUNT", "ATTRIBUTES"][..],
        StepKind::Adopt => &["ACCOUNT"],
        StepKind::FreeValues
        | StepKind::Update
        | StepKind::CreateGroup
        | StepKind::UpdateGroup
        | StepKind::AddMembers
        | StepKind::RemoveMembers => &["FIELD", "BEFORE", "", "AFTER"],
        StepKind::SetManager | StepKind::ClearManager => &["MANAGER BEFORE", "", "AFTER"],
        StepKind::Reactivate => &[],
        StepKind::Deactivate | StepKind::Delete | StepKind::DeleteGroup => &["REASON"],
    });
    if with_results {
        headers.push("RESULT");
    }
    let mut table = Table::new(headers);
    let all_rows = view::rows(steps.iter().copied());
    for row in all_rows.iter().take(cap(options)) {
        let s: &StepReport = &row.step;
        let name = Cell::plain(s.name.as_deref().unwrap_or(""));
        let user = Cell::plain(s.step.subject().as_str());
        let mut rows: Vec<Vec<Cell>> = match &s.step {
            Step::Create { .. } => {
                let changes = view::changes(s);
                let account = changes[0].after.clone().unwrap_or_default();
                let attributes: Vec<String> = changes[1..]
                    .iter()
                    .filter(|c| c.field != "display_name")
                    .map(|c| format!("{}={}", c.field, c.after.as_deref().unwrap_or("")))
                    .collect();
                vec![vec![
                    name,
                    user,
                    Cell::plain(account),
                    Cell::long(attributes.join(", "), Style::Plain),
                ]]
            }
            Step::FreeValues { .. }
            | Step::Update { .. }
            | Step::CreateGroup { .. }
            | Step::UpdateGroup { .. }
            | Step::AddMembers { .. }
            | Step::RemoveMembers { .. } => {
                let mut first = Some((name, user));
                row.changes()
                    .into_iter()
                    .map(|c| {
                        let (name, user) =
                            first.take().unwrap_or((Cell::plain(""), Cell::plain("")));
                        let mut row = vec![name, user, Cell::plain(c.field)];
                        row.extend(before_after(c.before, c.after));
                        row
                    })
                    .collect()
            }
            Step::SetManager { .. } | Step::ClearManager { .. } => {
                let c = view::changes(s).remove(0);
                let mut row = vec![name, user];
                row.extend(before_after(c.before, c.after));
                vec![row]
            }
            Step::Reactivate { .. } => vec![vec![name, user]],
            Step::Adopt { .. } => {
                let account = view::changes(s).remove(0).after.unwrap_or_default();
                vec![vec![name, user, Cell::plain(account)]]
            }
            Step::Deactivate { .. } | Step::Delete { .. } | Step::DeleteGroup { .. } => {
                vec![vec![
                    name,
                    user,
                    Cell::plain(view::note(s).unwrap_or_default()),
                ]]
            }
        };
        if with_results && let Some(first) = rows.first_mut() {
            let style = match s.outcome {
                StepOutcome::Failed { .. } => Style::Red,
                StepOutcome::Held { .. } => Style::Yellow,
                _ => Style::Plain,
            };
            first.push(Cell::new(view::outcome_word(&s.outcome), style));
        }
        for row in rows {
            table.row(row);
        }
        if let Some(detail) = view::outcome_detail(&s.outcome) {
            table.detail(Cell::long(
                format!("{}: {detail}", view::outcome_word(&s.outcome)),
                Style::Red,
            ));
        }
    }
    table.write(out, options.color);
    more(out, view::left_out(all_rows.len(), options.limit));
}

fn before_after(before: Option<String>, after: Option<String>) -> [Cell; 3] {
    [
        Cell::new(before.as_deref().unwrap_or(NONE), Style::Red),
        Cell::plain("→"),
        Cell::new(after.as_deref().unwrap_or(NONE), Style::Green),
    ]
}

/// How a missing value reads; ASCII so it is one column wide in every terminal.
const NONE: &str = "(none)";

pub(crate) fn section(out: &mut String, title: &str, color: bool) {
    out.push('\n');
    line(out, &paint(&visible(title), Style::Bold, color));
}

pub(crate) fn more(out: &mut String, left_out: usize) {
    if left_out > 0 {
        line(
            out,
            &format!(
                "  … and {left_out} more (raise --limit, or use --format json for everything)"
            ),
        );
    }
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

pub(crate) fn timestamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}
