//! A comparison for tickets: both runs, the count deltas, then the differing steps as tables.

use super::{Comparison, RunRef, by_kind, summaries};
use crate::report::RenderOptions;
use crate::report::markdown::{escape, more, write_skipped, write_steps};
use crate::report::view;
use std::fmt::Write as _;

pub fn render_comparison_markdown(c: &Comparison, options: &RenderOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Comparison of two runs of connector {}\n",
        escape(&c.b.connector)
    );
    out.push_str("| | Run | Mode | Started | Steps |\n|---|---|---|---|--:|\n");
    for (label, run) in [("a", &c.a), ("b", &c.b)] {
        let _ = writeln!(out, "| **{label}** | {} |", run_cells(run));
    }
    if c.is_empty() {
        let _ = writeln!(out, "\nNo differences: {} identical step(s).", c.unchanged);
        return out;
    }

    out.push_str("\n## Steps per kind\n\n| Kind | a | b | Change |\n|---|--:|--:|--:|\n");
    for (kind, delta) in &c.counts_delta {
        let count = |r: &RunRef| r.counts.get(kind).copied().unwrap_or(0);
        let (a, b) = (count(&c.a), count(&c.b));
        if a > 0 || b > 0 {
            let _ = writeln!(out, "| {kind} | {a} | {b} | {delta:+} |");
        }
    }
    for (title, steps) in [("Only in a", &c.only_in_a), ("Only in b", &c.only_in_b)] {
        for (kind, steps) in by_kind(steps) {
            let _ = writeln!(
                out,
                "\n## {title}: {} ({})\n",
                view::heading(kind),
                steps.len()
            );
            write_steps(&mut out, kind, &steps, false, options);
        }
    }
    if !c.changed.is_empty() {
        let _ = writeln!(out, "\n## Changed ({})\n", c.changed.len());
        out.push_str("| Name | User or group | Kind | In a | In b |\n|---|---|---|---|---|\n");
        for changed in c.changed.iter().take(options.limit.unwrap_or(usize::MAX)) {
            let b = &changed.b;
            let (in_a, in_b) = summaries(changed);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                escape(b.name.as_deref().unwrap_or("")),
                escape(b.step.subject().as_str()),
                b.step.kind(),
                escape(&in_a),
                escape(&in_b)
            );
        }
        more(&mut out, view::left_out(c.changed.len(), options.limit));
    }
    for (title, links) in [
        (
            "Manager links skipped only in a",
            &c.skipped_links_only_in_a,
        ),
        (
            "Manager links skipped only in b",
            &c.skipped_links_only_in_b,
        ),
    ] {
        if links.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {title} ({})\n", links.len());
        write_skipped(&mut out, links, options);
    }
    out
}

fn run_cells(run: &RunRef) -> String {
    format!(
        "{} | {} | {} | {}",
        escape(&run.run_id),
        run.mode,
        run.started_at,
        run.counts.values().sum::<usize>()
    )
}
