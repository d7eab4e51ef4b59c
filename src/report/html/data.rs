//! The data the page renders, in a compact form: a 100 000-step report must stay a file a browser
//! opens in a moment. Steps are arrays, not objects (no key repeated per row); field and kind
//! names are indexes into tables; values that occur more than once are stored once and referred
//! to by index. app.js documents the reading side.

use super::super::{Report, view};
use crate::engine::StepOutcome;
use crate::plan::StepKind;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use std::collections::HashMap;

/// What the page needs. Everything is display text made by `view`, so the page never decides
/// what a step means; it only lays it out (with `textContent`).
#[derive(Serialize)]
struct PageData<'a> {
    title: String,
    /// [label, value, needs attention]
    summary: Vec<(&'static str, String, bool)>,
    /// Per kind that occurs: [kind, heading, count].
    counts: Vec<(&'static str, &'static str, usize)>,
    kinds: Vec<&'static str>,
    fields: Vec<&'a str>,
    outcomes: [&'static str; 4],
    /// Whether the run attempted steps (an applied run), so the page shows a result column.
    results: bool,
    /// Steps in the plan: a row may stand for several (a group's member batches).
    total: usize,
    /// Values used more than once; a number where a value stands is an index here.
    strings: Vec<&'a str>,
    steps: Vec<StepRow<'a>>,
    /// [group, members before → after]
    groups: Vec<[String; 2]>,
    /// [person, manager, reason]
    skipped: Vec<[String; 3]>,
    problems: Vec<&'a str>,
}

/// `[kind, user, name, [field, before, after, …], note, outcome, detail]`, trailing empty
/// entries left out.
struct StepRow<'a> {
    kind: usize,
    user: &'a str,
    name: Option<&'a str>,
    changes: Vec<(usize, Val<'a>, Val<'a>)>,
    note: Val<'a>,
    outcome: u8,
    detail: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Clone, Copy)]
enum Val<'a> {
    Null,
    Str(&'a str),
    Index(usize),
}

const FIELDS: &[&str] = &[
    "account",
    "user_name",
    "display_name",
    "email",
    "mobile",
    "title",
    "employee_number",
    "department",
    "manager",
    "name",
    "parent",
    "head",
    "members",
    "group",
];

/// The page data as JSON (not yet escaped for a `<script>` element).
pub(super) fn page_json(r: &Report) -> String {
    // A group's member batches are one row, as in text and Markdown.
    let rows = view::rows(&r.steps);
    let views: Vec<(Vec<view::Change>, Option<String>)> = rows
        .iter()
        .map(|row| (row.changes(), view::note(&row.step)))
        .collect();
    let values = || {
        views.iter().flat_map(|(changes, note)| {
            changes
                .iter()
                .flat_map(|c| [c.before.as_deref(), c.after.as_deref()])
                .chain([note.as_deref()])
                .flatten()
        })
    };
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for v in values() {
        *uses.entry(v).or_default() += 1;
    }
    let mut strings = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for v in values() {
        if uses[v] > 1 && !index.contains_key(v) {
            index.insert(v, strings.len());
            strings.push(v);
        }
    }
    // Mapped attributes beyond the roles come after the known fields, by their target names.
    let mut fields: Vec<&str> = FIELDS.to_vec();
    for (changes, _) in &views {
        for change in changes {
            if !fields.contains(&change.field) {
                fields.push(change.field);
            }
        }
    }
    let steps = rows
        .iter()
        .zip(&views)
        .map(|(row, (changes, note))| (&*row.step, changes, note))
        .map(|(s, changes, note)| StepRow {
            kind: StepKind::ALL
                .iter()
                .position(|k| *k == s.step.kind())
                .unwrap_or(0),
            user: s.step.subject().as_str(),
            name: s.name.as_deref(),
            changes: changes
                .iter()
                .map(|c| {
                    let field = fields.iter().position(|f| *f == c.field).unwrap_or(0);
                    let before = encode(&index, c.before.as_deref());
                    let after = encode(&index, c.after.as_deref());
                    (field, before, after)
                })
                .collect(),
            note: encode(&index, note.as_deref()),
            outcome: match &s.outcome {
                StepOutcome::Planned => 0,
                StepOutcome::Applied => 1,
                StepOutcome::Failed { .. } => 2,
                StepOutcome::Held { .. } => 3,
            },
            detail: view::outcome_detail(&s.outcome),
        })
        .collect();

    let data = PageData {
        title: view::title(r),
        summary: summary(r),
        counts: view::counts(r)
            .into_iter()
            .map(|(k, c)| (k.as_str(), view::heading(k), c))
            .collect(),
        kinds: StepKind::ALL.iter().map(|k| k.as_str()).collect(),
        fields: fields.clone(),
        outcomes: ["planned", "applied", "failed", "not attempted"],
        results: r.steps.iter().any(|s| s.outcome != StepOutcome::Planned),
        total: r.steps.len(),
        strings,
        steps,
        groups: r
            .groups
            .iter()
            .map(|g| [view::group(g), view::group_members(g)])
            .collect(),
        skipped: r
            .skipped_links
            .iter()
            .map(|s| {
                [
                    view::person(s.user_name.as_deref(), &s.link.user),
                    view::person(s.manager_name.as_deref(), &s.link.manager),
                    s.explanation.clone(),
                ]
            })
            .collect(),
        problems: r.problems.iter().map(|p| p.message.as_str()).collect(),
    };
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string(&data).unwrap_or_else(|_| "null".to_owned())
}

fn encode<'a>(index: &HashMap<&'a str, usize>, v: Option<&'a str>) -> Val<'a> {
    match v {
        None => Val::Null,
        Some(v) => index.get(v).map_or(Val::Str(v), |i| Val::Index(*i)),
    }
}

fn summary(r: &Report) -> Vec<(&'static str, String, bool)> {
    let mut summary = vec![
        ("Run", r.run_id.clone(), false),
        ("Mode", r.mode.to_string(), false),
        ("Started", r.started_at.to_string(), false),
    ];
    if let Some(end) = r.finished_at {
        summary.push(("Finished", end.to_string(), false));
    }
    if let Some(events) = view::events_line(r) {
        summary.push(("Events", events, false));
    }
    summary.push(("Outcome", view::outcome_line(r), view::outcome_is_bad(r)));
    if let Some(pull) = &r.pull {
        summary.push(("Pulled", view::pull_line(pull), false));
    }
    if let Some(guard) = view::guard_line(r) {
        let refused = r.guard.as_ref().is_some_and(|g| g.is_refused());
        summary.push(("Guard", guard, refused));
    }
    summary
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            Val::Str(v) => s.serialize_str(v),
            Val::Index(i) => s.serialize_u64(*i as u64),
        }
    }
}

impl Serialize for StepRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = if self.detail.is_some() {
            7
        } else if self.outcome != 0 {
            6
        } else if !matches!(self.note, Val::Null) {
            5
        } else {
            4
        };
        let mut seq = s.serialize_seq(Some(len))?;
        seq.serialize_element(&self.kind)?;
        seq.serialize_element(self.user)?;
        seq.serialize_element(&self.name)?;
        seq.serialize_element(&FlatChanges(&self.changes))?;
        if len > 4 {
            seq.serialize_element(&self.note)?;
        }
        if len > 5 {
            seq.serialize_element(&self.outcome)?;
        }
        if len > 6 {
            seq.serialize_element(&self.detail)?;
        }
        seq.end()
    }
}

/// `[field, before, after, field, before, after, …]`: one flat array per step.
struct FlatChanges<'r, 'a>(&'r [(usize, Val<'a>, Val<'a>)]);

impl Serialize for FlatChanges<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len() * 3))?;
        for (field, before, after) in self.0 {
            seq.serialize_element(field)?;
            seq.serialize_element(before)?;
            seq.serialize_element(after)?;
        }
        seq.end()
    }
}
