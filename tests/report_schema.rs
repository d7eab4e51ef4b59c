//! The JSON report has exactly the fields docs/report-schema.md documents: real reports (the
//! emulated WeCom org synced into the emulated SCIM app, dry run and apply, before and after an
//! upstream change) and the fixed fixture (one step of every kind) are checked against the doc's
//! tables, and every documented field must occur. The doc cannot drift silently.

mod common;

use common::{AGENT_ID, connector, scim_pusher, small_org, wecom_puller};
use emulators::fixture::Status;
use orgsync::engine::{Engine, RunMode};
use orgsync::plan::Policy;
use orgsync::report::{Report, fixture, render_json};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

type Fields = BTreeSet<String>;

/// The lines of the section under `heading` (up to the next heading of any level).
fn section<'d>(doc: &'d str, heading: &str) -> Vec<&'d str> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading);
    assert!(
        lines.next().is_some(),
        "docs/report-schema.md has no `{heading}`"
    );
    lines.take_while(|l| !l.starts_with('#')).collect()
}

/// Table rows whose first cell is a `code` name: (name, cells).
fn rows<'d>(lines: &[&'d str]) -> Vec<(String, Vec<&'d str>)> {
    lines
        .iter()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].trim_matches('`').to_owned(), cells)
        })
        .collect()
}

/// The fields of a "Field | Type | Presence | Meaning" table by presence: always present,
/// optional, and (steps) the subject fields, one of which each step has.
struct Presence {
    always: Fields,
    optional: Fields,
    subject: Fields,
}

fn field_table(doc: &str, heading: &str) -> Presence {
    let mut table = Presence {
        always: Fields::new(),
        optional: Fields::new(),
        subject: Fields::new(),
    };
    for (name, cells) in rows(&section(doc, heading)) {
        match cells[2] {
            "always" => table.always.insert(name),
            "optional" => table.optional.insert(name),
            "subject" => table.subject.insert(name),
            other => panic!("{heading}: `{name}` has presence {other:?}"),
        };
    }
    table
}

/// Kind → (its subject field, its own fields), from "Fields by kind".
fn kind_table(doc: &str) -> BTreeMap<String, (String, Fields)> {
    rows(&section(doc, "### Fields by kind"))
        .into_iter()
        .map(|(kind, cells)| {
            let subject = cells[1].to_owned();
            let fields = cells[2]
                .split(',')
                .map(|f| f.trim().trim_matches('`').to_owned())
                .filter(|f| !f.is_empty())
                .collect();
            (kind, (subject, fields))
        })
        .collect()
}

fn keys(object: &Map<String, Value>) -> Fields {
    object.keys().cloned().collect()
}

async fn real_reports() -> Vec<Report> {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let engine = Engine::new(Arc::new(orgsync::snapshot::MemoryStore::new()));
    let connector = connector(
        wecom_puller(&wecom, Some(AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default().without_guard(),
    );
    let mut reports = vec![
        engine.run(&connector, RunMode::DryRun).await.unwrap(),
        engine.run(&connector, RunMode::Apply).await.unwrap(),
    ];
    wecom.update_org(|org| {
        let find = |org: &emulators::fixture::Org, id: &str| {
            org.users.iter().position(|u| u.id == id).unwrap()
        };
        let i = find(org, "lin");
        org.users[i].name = "林晓晓".into();
        org.users[i].title = None;
        let i = find(org, "zhou");
        org.users[i].manager = Some("lin".into());
        let i = find(org, "boss2");
        org.users[i].departments = vec![4];
        let i = find(org, "wang");
        org.users[i].status = Status::Disabled;
    });
    reports.push(engine.run(&connector, RunMode::DryRun).await.unwrap());
    reports.push(engine.run(&connector, RunMode::Apply).await.unwrap());
    reports
}

#[tokio::test]
async fn json_reports_have_exactly_the_documented_fields() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/report-schema.md"
    ))
    .unwrap();
    let top = field_table(&doc, "## Report");
    assert!(
        top.optional.is_empty() && top.subject.is_empty(),
        "top-level fields are always present"
    );
    let top = top.always;
    let Presence {
        always: common,
        optional: common_optional,
        subject: subjects,
    } = field_table(&doc, "## Step");
    let by_kind = kind_table(&doc);
    let described: Fields = rows(&section(&doc, "### Kind-specific fields"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        described,
        by_kind
            .values()
            .flat_map(|(_, fields)| fields)
            .cloned()
            .collect::<Fields>(),
        "every field in `Fields by kind` is described under `Kind-specific fields`"
    );
    assert_eq!(
        by_kind
            .values()
            .map(|(subject, _)| subject.clone())
            .collect::<Fields>(),
        subjects,
        "every kind's subject is a subject field of `Step`, and each is some kind's"
    );
    let link = field_table(&doc, "## Skipped link").always;
    let group = field_table(&doc, "## Group").always;
    let mut seen_groups = 0;

    let mut reports = real_reports().await;
    reports.push(fixture::sample());
    reports.push(fixture::applied_sample());

    let mut seen_kinds = BTreeSet::new();
    let mut seen_optional = Fields::new();
    for report in &reports {
        let json: Value = serde_json::from_str(&render_json(report)).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(
            keys(object),
            top,
            "top-level fields of run {}",
            report.run_id
        );
        for step in json["steps"].as_array().unwrap() {
            let step = step.as_object().unwrap();
            let kind = step["kind"].as_str().unwrap();
            let (subject, own) = by_kind
                .get(kind)
                .unwrap_or_else(|| panic!("step kind {kind} is not documented"));
            let mut required: Fields = common.union(own).cloned().collect();
            required.insert(subject.clone());
            let present = keys(step);
            let extra: Fields = present.difference(&required).cloned().collect();
            assert!(
                required.is_subset(&present) && extra.is_subset(&common_optional),
                "{kind} step has fields {present:?}; documented: {required:?} and optional \
                 {common_optional:?}"
            );
            seen_kinds.insert(kind.to_owned());
            seen_optional.extend(extra);
        }
        for skipped in json["skipped_links"].as_array().unwrap() {
            assert_eq!(keys(skipped.as_object().unwrap()), link);
        }
        for entry in json["groups"].as_array().unwrap() {
            assert_eq!(keys(entry.as_object().unwrap()), group);
            seen_groups += 1;
        }
        let counts: Fields = keys(json["counts"].as_object().unwrap());
        assert_eq!(counts, by_kind.keys().cloned().collect::<Fields>());
    }
    // Nothing documented that never occurs: the doc lists no stale field or kind.
    assert_eq!(seen_kinds, by_kind.keys().cloned().collect::<Fields>());
    assert_eq!(seen_optional, common_optional);
    assert!(seen_groups > 0, "some report lists groups");
    // The real runs, not only the fixture, produce the interesting parts.
    let real = &reports[..4];
    assert!(real.iter().any(|r| !r.skipped_links.is_empty()));
    assert!(
        real.iter()
            .any(|r| r.steps.iter().any(|s| s.previous_manager_name.is_some()))
    );
}
