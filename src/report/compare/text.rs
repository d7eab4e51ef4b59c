//! A comparison at the terminal: both runs, the count deltas, then the differing steps.

use super::{Comparison, RunRef, by_kind, summaries};
use crate::plan::StepKind;
use crate::report::RenderOptions;
use crate::report::StepReport;
use crate::report::text::{
    Cell, Style, Table, more, paint, section, timestamp, write_skipped, write_steps,
};
use crate::report::view;
use crate::terminal::visible;

pub fn render_comparison_text(c: &Comparison, options: &RenderOptions) -> String {
    let color = options.color;
    let mut out = String::new();
    out.push_str(&paint(
        &visible(&format!(
            "Comparison of two runs of connector {}",
            c.b.connector
        )),
        Style::Bold,
        color,
    ));
    out.push('\n');
    for (label, run) in [("a", &c.a), ("b", &c.b)] {
        out.push_str(&format!("  {label}: {}\n", run_line(run)));
    }
    if c.is_empty() {
        out.push_str(&format!(
            "\nNo differences: {} identical step(s).\n",
            c.unchanged
        ));
        return out;
    }

    section(&mut out, "Steps per kind (a → b)", color);
    let mut table = Table::new(vec!["KIND", "A", "", "B", "CHANGE"]);
    for (kind, delta) in &c.counts_delta {
        let (a, b) = (count(&c.a, *kind), count(&c.b, *kind));
        if a == 0 && b == 0 {
            continue;
        }
        let style = match delta.signum() {
            1 => Style::Green,
            -1 => Style::Red,
            _ => Style::Plain,
        };
        table.row(vec![
            Cell::plain(kind.as_str()),
            Cell::plain(a.to_string()),
            Cell::plain("→"),
            Cell::plain(b.to_string()),
            Cell::new(format!("{delta:+}"), style),
        ]);
    }
    table.write(&mut out, color);

    for (title, steps) in [("Only in a", &c.only_in_a), ("Only in b", &c.only_in_b)] {
        for (kind, steps) in by_kind(steps) {
            section(
                &mut out,
                &format!("{title}: {} ({})", view::heading(kind), steps.len()),
                color,
            );
            write_steps(&mut out, kind, &steps, false, options);
        }
    }
    if !c.changed.is_empty() {
        section(&mut out, &format!("Changed ({})", c.changed.len()), color);
        let mut table = Table::new(vec!["NAME", "USER/GROUP", "KIND", "IN A", "IN B"]);
        for changed in c.changed.iter().take(options.limit.unwrap_or(usize::MAX)) {
            let b: &StepReport = &changed.b;
            let (in_a, in_b) = summaries(changed);
            table.row(vec![
                Cell::plain(b.name.as_deref().unwrap_or("")),
                Cell::plain(b.step.subject().as_str()),
                Cell::plain(b.step.kind().as_str()),
                Cell::new(in_a, Style::Red),
                Cell::new(in_b, Style::Green),
            ]);
        }
        table.write(&mut out, color);
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
        section(&mut out, &format!("{title} ({})", links.len()), color);
        write_skipped(&mut out, links, options);
    }
    out
}

fn run_line(run: &RunRef) -> String {
    visible(&format!(
        "{}  {}  started {}  {} step(s)",
        run.run_id,
        run.mode,
        timestamp(run.started_at),
        run.counts.values().sum::<usize>()
    ))
    .into_owned()
}

fn count(run: &RunRef, kind: StepKind) -> usize {
    run.counts.get(&kind).copied().unwrap_or(0)
}
