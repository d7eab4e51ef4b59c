//! The report for people at a terminal: a summary, then steps grouped by kind.

use super::{Report, RunOutcome};
use crate::engine::{RunMode, StepOutcome};
use crate::plan::StepKind;
use std::fmt::Write as _;

pub fn render_text(report: &Report) -> String {
    render_text_limited(report, None)
}

/// Shows at most `limit` lines per section, with a count of what was left out.
pub fn render_text_limited(report: &Report, limit: Option<usize>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, report, limit.unwrap_or(usize::MAX));
    out
}

fn write_report(out: &mut String, r: &Report, limit: usize) -> std::fmt::Result {
    let title = match r.mode {
        RunMode::DryRun => "Dry-run report",
        RunMode::Apply => "Sync report",
    };
    writeln!(
        out,
        "{title}: connector {} ({} → {})",
        r.connector, r.source, r.target
    )?;
    writeln!(
        out,
        "Run {}  started {}",
        r.run_id,
        r.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    )?;
    writeln!(out, "Outcome: {}", outcome_line(r))?;
    if let Some(pull) = &r.pull {
        writeln!(
            out,
            "Pulled: {} people, {} departments, {} upstream calls ({} retried) in {:.1} s{}",
            pull.users,
            pull.departments,
            pull.stats.total_calls,
            pull.stats.retries,
            pull.stats.duration_ms as f64 / 1000.0,
            if pull.held > 0 {
                format!(", {} held as they are (see problems)", pull.held)
            } else {
                String::new()
            }
        )?;
    }
    if let Some(crate::plan::Verdict::Refused {
        reasons,
        overridable,
        ..
    }) = &r.guard
        && r.mode == RunMode::DryRun
    {
        writeln!(
            out,
            "Guard: an apply would be REFUSED: {}",
            reasons.join("; ")
        )?;
        if *overridable {
            writeln!(
                out,
                "       approve with `orgsync sync {} --allow-deletions` once checked",
                r.connector
            )?;
        }
    }
    writeln!(out)?;

    let total: usize = r.counts.values().sum();
    writeln!(
        out,
        "Plan: {total} step{}",
        if total == 1 { "" } else { "s" }
    )?;
    for (kind, count) in &r.counts {
        if *count > 0 {
            writeln!(out, "  {:<14} {count:>6}", kind.as_str())?;
        }
    }

    for kind in StepKind::ALL {
        let steps: Vec<_> = r.steps.iter().filter(|s| s.step.kind() == kind).collect();
        if steps.is_empty() {
            continue;
        }
        writeln!(out, "\n{} ({})", heading(kind), steps.len())?;
        let width = steps
            .iter()
            .map(|s| s.name.as_deref().map_or(0, display_width))
            .max()
            .unwrap_or(0);
        let shown = steps.len().min(limit);
        let left_out = steps.len() - shown;
        for s in steps.into_iter().take(shown) {
            let name = s.name.as_deref().unwrap_or("");
            let pad = " ".repeat(width - display_width(name));
            write!(out, "  {name}{pad}  {}", s.step)?;
            match &s.outcome {
                StepOutcome::Planned | StepOutcome::Applied => {}
                StepOutcome::Failed { error } => write!(out, "\n      FAILED: {error}")?,
                StepOutcome::Held { reason } => write!(out, "\n      NOT ATTEMPTED: {reason}")?,
            }
            writeln!(out)?;
        }
        more(out, left_out)?;
    }

    if !r.skipped_links.is_empty() {
        writeln!(
            out,
            "\nManager links not synced ({})",
            r.skipped_links.len()
        )?;
        for s in r.skipped_links.iter().take(limit) {
            writeln!(
                out,
                "  {} → {}: {}",
                s.link.user, s.link.manager, s.explanation
            )?;
        }
        more(out, r.skipped_links.len().saturating_sub(limit))?;
    }
    if !r.problems.is_empty() {
        writeln!(
            out,
            "\nProblems in the upstream data ({})",
            r.problems.len()
        )?;
        for p in r.problems.iter().take(limit) {
            writeln!(out, "  {}", p.message)?;
        }
        more(out, r.problems.len().saturating_sub(limit))?;
    }
    Ok(())
}

fn more(out: &mut String, left_out: usize) -> std::fmt::Result {
    if left_out > 0 {
        writeln!(
            out,
            "  … and {left_out} more (use --format json for everything)"
        )?;
    }
    Ok(())
}

fn outcome_line(r: &Report) -> String {
    match &r.outcome {
        RunOutcome::Running => "running".into(),
        RunOutcome::Planned => "planned only (dry-run): nothing was written".into(),
        RunOutcome::Applied if r.steps.is_empty() => "in sync: nothing to do".into(),
        RunOutcome::Applied => "applied: every step was acknowledged by the target".into(),
        RunOutcome::PartiallyApplied { failed } => {
            format!(
                "partially applied: {failed} step(s) failed or were held back; the next run retries them"
            )
        }
        RunOutcome::Refused { reasons } => format!(
            "REFUSED by the deletion guard, nothing was written: {}. Check the upstream; if the removals \
             are right, approve them with `orgsync sync {} --allow-deletions`",
            reasons.join("; "),
            r.connector
        ),
        RunOutcome::Failed { error } => format!("FAILED, nothing was written: {error}"),
    }
}

fn heading(kind: StepKind) -> &'static str {
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
    }
}

/// Terminal columns: CJK and other wide characters take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}
