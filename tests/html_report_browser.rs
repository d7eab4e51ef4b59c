//! The HTML report in a real browser (Debian's Chromium, driven by playwright-core from
//! tests/browser/): a dry-run report of a generated org with a hostile display name loads without
//! script errors, filters as expected, and shows the hostile name as text; a 100 000-step report
//! stays small and opens in reasonable time. `scripts/test` installs Chromium and playwright-core.

mod common;

use common::browser::{require_browser, run_script};
use common::{person, scim_pusher, wecom_puller};
use emulators::fixture::Status;
use emulators::generator::{GeneratorConfig, generate};
use orgsync::engine::{Engine, RunMode};
use orgsync::plan::{Policy, StepKind};
use orgsync::report::{Report, RunOutcome, fixture, render_html};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";
/// The fixture's renamed group.
const HOSTILE_GROUP: &str = "销售 | `部` <b>";
const PAGE: usize = 200;

/// A generated org plus a person whose display name is an HTML injection, who manages someone
/// (so the name also appears as a manager in "A: old manager → new manager").
async fn dry_run_report() -> Report {
    let mut org = generate(&GeneratorConfig {
        people: 300,
        departments: 30,
        seed: 5,
        ..GeneratorConfig::default()
    });
    let department = org.scope.departments[0];
    org.users
        .push(person("hostile", HOSTILE, &[department], None));
    let report_to_hostile = org
        .users
        .iter_mut()
        .find(|u| {
            u.departments.contains(&department) && u.status == Status::Active && u.id != "hostile"
        })
        .expect("an active person in the first in-scope department");
    report_to_hostile.manager = Some("hostile".into());

    let wecom = emulators::wecom::start(org, Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(Default::default()).await.unwrap();
    let engine = Engine::new(Arc::new(orgsync::snapshot::MemoryStore::new()));
    let connector = common::connector(
        wecom_puller(&wecom, Some(common::AGENT_ID)),
        scim_pusher(scim.base_url(), scim.bearer_token()),
        Policy::default(),
    );
    let report = engine.run(&connector, RunMode::DryRun).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Planned);
    report
}

/// How many steps the page's search should find: it searches every string a step shows, which
/// are the strings in the step's JSON (queries here match no JSON key or enum value).
fn expected_matches(report: &Report, query: &str) -> usize {
    let query = query.to_lowercase();
    report
        .steps
        .iter()
        .filter(|s| {
            serde_json::to_string(s)
                .unwrap()
                .to_lowercase()
                .contains(&query)
        })
        .count()
}

fn run_browser(spec: &Value, dir: &Path) -> Vec<Value> {
    let out = run_script(
        "check_report.mjs",
        spec,
        &dir.join("spec.json"),
        String::new,
    );
    out["results"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn html_report_works_in_chromium() {
    require_browser();
    let dir = tempfile::tempdir().unwrap();

    let report = dry_run_report().await;
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name.as_deref() == Some(HOSTILE)),
        "the hostile person is in the plan"
    );
    let small = dir.path().join("report.html");
    std::fs::write(&small, render_html(&report)).unwrap();

    let started = Instant::now();
    let large_report = fixture::large(100_000);
    let large_html = render_html(&large_report);
    let render_time = started.elapsed();
    let large = dir.path().join("large.html");
    std::fs::write(&large, &large_html).unwrap();

    // The fixed sample has a step of every group kind, a hostile group name, and two batches of
    // one group's members (one row on the page).
    let groups = dir.path().join("groups.html");
    std::fs::write(&groups, render_html(&fixture::applied_sample())).unwrap();
    let group_texts = [
        HOSTILE_GROUP,
        "+5 in 2 batches: back, lin.xiao, sales1, wu.lei, zhou.ming",
        "0 → 5 (+5, new group)",
        "the group of department 12 is not in the target (an earlier step for it failed)",
        "王芳 (wang) (department head)",
    ];

    let searches = ["onerror", "王"];
    let large_search = "user09999";
    let spec = json!({
        "pages": [
            { "file": small, "searches": searches, "kinds": ["set_manager"], "text": [HOSTILE] },
            { "file": large, "searches": [large_search], "kinds": ["deactivate"] },
            { "file": groups, "searches": ["zhou.ming"],
              "kinds": ["add_members", "create_group", "update_group", "remove_members", "delete_group"],
              "text": group_texts },
        ]
    });
    let results = run_browser(&spec, dir.path());
    let (page, big, with_groups) = (&results[0], &results[1], &results[2]);

    for result in [page, big, with_groups] {
        assert_eq!(result["consoleErrors"], json!([]), "{result:#}");
        assert_eq!(result["pageErrors"], json!([]), "{result:#}");
        assert_eq!(result["dialogs"], json!([]), "an alert fired: {result:#}");
        assert_eq!(
            result["requests"],
            json!([]),
            "the page fetched something: {result:#}"
        );
        assert_eq!(result["images"], 0, "{result:#}");
        assert_eq!(result["injected"], 0, "{result:#}");
    }

    // The real report: everything on one page, filters narrow it to the expected rows.
    let total = report.steps.len();
    assert_eq!(page["initial"]["count"], total);
    assert_eq!(page["initial"]["rows"], total.min(PAGE));
    for (i, query) in searches.iter().enumerate() {
        let expected = expected_matches(&report, query);
        assert!(
            expected > 0 && expected < total,
            "{query}: {expected} of {total}"
        );
        let got = &page["searches"][i];
        assert_eq!(got["count"], expected, "search {query}: {got}");
        assert_eq!(got["rows"], expected.min(PAGE), "search {query}: {got}");
    }
    let set_manager = report.counts[&StepKind::SetManager];
    assert_eq!(page["kinds"][0]["count"], set_manager, "{page:#}");
    assert_eq!(page["kinds"][0]["rows"], set_manager.min(PAGE), "{page:#}");
    assert_eq!(
        page["found"][HOSTILE], true,
        "the hostile name is shown as text"
    );

    // Group steps: one row per kind here, the two member batches merged, names shown as text.
    for (i, kind) in with_groups["kinds"].as_array().unwrap().iter().enumerate() {
        assert_eq!(kind["count"], 1, "kind {i}: {with_groups:#}");
        assert_eq!(kind["rows"], 1, "kind {i}: {with_groups:#}");
    }
    // zhou.ming: their manager link, wang's held removal (they still report to wang) and the
    // merged add, which names them from its second batch.
    assert_eq!(with_groups["searches"][0]["count"], 3, "{with_groups:#}");
    for text in group_texts {
        assert_eq!(
            with_groups["found"][text], true,
            "{text:?} is shown: {with_groups:#}"
        );
    }

    // 100 000 steps: small enough, paged, and searchable.
    let expected = expected_matches(&large_report, large_search);
    assert_eq!(big["initial"]["count"], 100_000);
    assert_eq!(big["initial"]["rows"], PAGE);
    assert_eq!(big["searches"][0]["count"], expected, "{big:#}");
    assert_eq!(
        big["kinds"][0]["count"],
        large_report.counts[&StepKind::Deactivate]
    );
    assert_eq!(big["nextPage"], "201–400 of 100,000 (page 2 of 500)");
    let megabytes = large_html.len() as f64 / 1e6;
    eprintln!(
        "100 000-step HTML report: {megabytes:.1} MB, rendered in {render_time:?} (debug build), \
         loaded in {} ms, searched in {} ms",
        big["loadMs"], big["searches"][0]["ms"]
    );
    assert!(megabytes < 40.0, "{megabytes:.1} MB");
    assert!(
        big["loadMs"].as_u64().unwrap() < 20_000,
        "load took {} ms",
        big["loadMs"]
    );
}
