//! Two reports of one connector side by side: which steps only one of them has, which changed,
//! and how the counts moved. Pure: the caller loads the reports (from the run history).

mod markdown;
mod text;

pub use markdown::render_comparison_markdown;
pub use text::render_comparison_text;

use super::{Format, RenderOptions, Report, RunOutcome, SkippedLinkReport, StepReport};
use crate::engine::RunMode;
use crate::plan::{Step, StepKind, Subject};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What differs between report `a` (the earlier, usually) and report `b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: RunRef,
    pub b: RunRef,
    /// `b`'s count minus `a`'s, for every kind.
    pub counts_delta: BTreeMap<StepKind, i64>,
    /// Steps (by kind and person) that only `a` plans, in `a`'s order.
    pub only_in_a: Vec<StepReport>,
    /// Steps that only `b` plans, in `b`'s order.
    pub only_in_b: Vec<StepReport>,
    /// Same kind and person, different content (other values, another manager), in `b`'s order.
    pub changed: Vec<ChangedStep>,
    /// Steps identical in both (outcomes aside; a group's member batches count as one).
    pub unchanged: usize,
    pub skipped_links_only_in_a: Vec<SkippedLinkReport>,
    pub skipped_links_only_in_b: Vec<SkippedLinkReport>,
}

/// Which run a side of the comparison is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    pub run_id: String,
    pub connector: String,
    pub mode: RunMode,
    pub started_at: Timestamp,
    pub outcome: RunOutcome,
    /// Steps per kind in that run.
    pub counts: BTreeMap<StepKind, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedStep {
    pub a: StepReport,
    pub b: StepReport,
}

impl Comparison {
    pub fn is_empty(&self) -> bool {
        self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self.changed.is_empty()
            && self.skipped_links_only_in_a.is_empty()
            && self.skipped_links_only_in_b.is_empty()
    }
}

/// Steps are matched by kind and subject (person or group): the planner makes at most one step
/// of a kind per person or group, so that pair names "the same step" across runs. The exception,
/// a group's member batches, are merged into one step per group and kind first: a batch's
/// boundaries move whenever one member changes, the group's set of added people does not.
/// Outcomes are not compared: a dry run and the apply that followed it plan the same steps.
pub fn compare(a: &Report, b: &Report) -> Comparison {
    fn key(s: &StepReport) -> (StepKind, Subject<'_>) {
        (s.step.kind(), s.step.subject())
    }
    let (steps_a, steps_b) = (merge_batches(&a.steps), merge_batches(&b.steps));
    let mut in_a: BTreeMap<(StepKind, Subject<'_>), Vec<usize>> = BTreeMap::new();
    for (i, s) in steps_a.iter().enumerate().rev() {
        in_a.entry(key(s)).or_default().push(i);
    }
    let mut matched = vec![false; steps_a.len()];
    let mut only_in_b = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = 0;
    for s in &steps_b {
        match in_a.get_mut(&key(s)).and_then(Vec::pop) {
            None => only_in_b.push(s.clone().into_owned()),
            Some(i) => {
                matched[i] = true;
                if steps_a[i].step == s.step {
                    unchanged += 1;
                } else {
                    changed.push(ChangedStep {
                        a: steps_a[i].clone().into_owned(),
                        b: s.clone().into_owned(),
                    });
                }
            }
        }
    }
    let only_in_a = steps_a
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(s, _)| s.clone().into_owned())
        .collect();

    let links_a: BTreeSet<_> = a.skipped_links.iter().map(|l| &l.link).collect();
    let links_b: BTreeSet<_> = b.skipped_links.iter().map(|l| &l.link).collect();
    let counts_delta = StepKind::ALL
        .iter()
        .map(|k| {
            let count = |r: &Report| r.counts.get(k).copied().unwrap_or(0) as i64;
            (*k, count(b) - count(a))
        })
        .collect();
    Comparison {
        a: RunRef::of(a),
        b: RunRef::of(b),
        counts_delta,
        only_in_a,
        only_in_b,
        changed,
        unchanged,
        skipped_links_only_in_a: a
            .skipped_links
            .iter()
            .filter(|l| !links_b.contains(&l.link))
            .cloned()
            .collect(),
        skipped_links_only_in_b: b
            .skipped_links
            .iter()
            .filter(|l| !links_a.contains(&l.link))
            .cloned()
            .collect(),
    }
}

impl RunRef {
    fn of(r: &Report) -> Self {
        RunRef {
            run_id: r.run_id.clone(),
            connector: r.connector.clone(),
            mode: r.mode,
            started_at: r.started_at,
            outcome: r.outcome.clone(),
            counts: r.counts.clone(),
        }
    }
}

pub fn render_comparison_json(c: &Comparison) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string_pretty(c)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot render comparison: {e}\"}}"))
}

/// Text, Markdown or JSON; a comparison has no HTML form (`None`).
pub fn render_comparison(
    c: &Comparison,
    format: Format,
    options: &RenderOptions,
) -> Option<String> {
    match format {
        Format::Text => Some(render_comparison_text(c, options)),
        Format::Markdown => Some(render_comparison_markdown(c, options)),
        Format::Json => Some(render_comparison_json(c)),
        Format::Html => None,
    }
}

/// The steps with every add (and every remove) of one group merged into its first, members
/// sorted; other steps as they are.
fn merge_batches(steps: &[StepReport]) -> Vec<Cow<'_, StepReport>> {
    let mut out: Vec<Cow<'_, StepReport>> = Vec::with_capacity(steps.len());
    let mut first: HashMap<(StepKind, Subject<'_>), usize> = HashMap::new();
    for s in steps {
        let (Step::AddMembers { members, .. } | Step::RemoveMembers { members, .. }) = &s.step
        else {
            out.push(Cow::Borrowed(s));
            continue;
        };
        match first.get(&(s.step.kind(), s.step.subject())) {
            Some(&i) => {
                if let Step::AddMembers { members: all, .. }
                | Step::RemoveMembers { members: all, .. } = &mut out[i].to_mut().step
                {
                    all.extend_from_slice(members);
                }
            }
            None => {
                first.insert((s.step.kind(), s.step.subject()), out.len());
                out.push(Cow::Borrowed(s));
            }
        }
    }
    for s in &mut out {
        if let Cow::Owned(StepReport {
            step: Step::AddMembers { members, .. } | Step::RemoveMembers { members, .. },
            ..
        }) = s
        {
            members.sort();
            members.dedup();
        }
    }
    out
}

/// The steps of one list, grouped by kind in plan order.
fn by_kind(steps: &[StepReport]) -> Vec<(StepKind, Vec<&StepReport>)> {
    super::view::kinds()
        .into_iter()
        .map(|k| {
            (
                k,
                steps
                    .iter()
                    .filter(|s| s.step.kind() == k)
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, steps)| !steps.is_empty())
        .collect()
}

/// A changed step's two sides on one line each, for the "changed" tables. A group's members say
/// how many each side adds (or removes) and whom only that side names, not two long lists that
/// differ somewhere.
fn summaries(changed: &ChangedStep) -> (String, String) {
    match (&changed.a.step, &changed.b.step) {
        (
            Step::AddMembers { members: a, .. } | Step::RemoveMembers { members: a, .. },
            Step::AddMembers { members: b, .. } | Step::RemoveMembers { members: b, .. },
        ) => (member_side(a, b, "b"), member_side(b, a, "a")),
        _ => (summary(&changed.a), summary(&changed.b)),
    }
}

/// "members: 5; not in b: zhou.ming" (naming a few).
fn member_side(
    these: &[crate::model::UserKey],
    others: &[crate::model::UserKey],
    other: &str,
) -> String {
    const SHOWN: usize = 10;
    let others: BTreeSet<_> = others.iter().collect();
    let only: Vec<&str> = these
        .iter()
        .filter(|m| !others.contains(m))
        .map(|m| m.as_str())
        .collect();
    let mut text = format!("members: {}; not in {other}: ", these.len());
    if only.is_empty() {
        text.push_str("(none)");
    } else {
        text.push_str(&only[..only.len().min(SHOWN)].join(", "));
        if only.len() > SHOWN {
            text.push_str(&format!(" and {} more", only.len() - SHOWN));
        }
    }
    text
}

/// One step's changes on one line, for the "changed" tables.
fn summary(s: &StepReport) -> String {
    let mut parts: Vec<String> = super::view::changes(s)
        .into_iter()
        .map(|c| {
            format!(
                "{}: {} → {}",
                c.field,
                c.before.as_deref().unwrap_or("(none)"),
                c.after.as_deref().unwrap_or("(none)")
            )
        })
        .collect();
    parts.extend(super::view::note(s));
    parts.join("; ")
}

#[cfg(test)]
mod tests;
