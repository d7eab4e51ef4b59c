//! The text, JSON and Markdown forms of a fixed report (built in code: fixed timestamps and run
//! id, no emulator), pinned as files under tests/snapshots/. A change to a renderer shows up as a
//! diff here; `UPDATE_EXPECT=1 cargo test --test report_snapshots` rewrites them for review.

use expect_test::expect_file;
use orgsync::report::fixture::{applied_sample, sample};
use orgsync::report::{
    Format, RenderOptions, compare, render_comparison_json, render_comparison_markdown,
    render_comparison_text, render_with,
};

fn render(format: Format, limit: Option<usize>) -> String {
    let options = RenderOptions {
        limit,
        color: false,
    };
    render_with(&sample(), format, &options)
}

#[test]
fn text() {
    expect_file!["snapshots/report.txt"].assert_eq(&render(Format::Text, None));
}

#[test]
fn text_limited() {
    expect_file!["snapshots/report-limit-1.txt"].assert_eq(&render(Format::Text, Some(1)));
}

#[test]
fn text_applied_with_failures() {
    let options = RenderOptions::default();
    expect_file!["snapshots/report-applied.txt"].assert_eq(&render_with(
        &applied_sample(),
        Format::Text,
        &options,
    ));
}

#[test]
fn json() {
    expect_file!["snapshots/report.json"].assert_eq(&render(Format::Json, None));
}

#[test]
fn markdown() {
    expect_file!["snapshots/report.md"].assert_eq(&render(Format::Markdown, None));
}

#[test]
fn markdown_applied_limited() {
    let options = RenderOptions {
        limit: Some(2),
        color: false,
    };
    expect_file!["snapshots/report-applied-limit-2.md"].assert_eq(&render_with(
        &applied_sample(),
        Format::Markdown,
        &options,
    ));
}

/// b drops the clear, the removals and the group's member removal, moves zhou.ming to another
/// manager, adds one person fewer to group 12 (in its second batch), adds a reactivation and no
/// longer skips one link: every section of a comparison.
#[test]
fn comparison() {
    use orgsync::plan::Step;
    let mut b = applied_sample();
    b.steps.retain(|s| {
        !matches!(
            s.step,
            Step::ClearManager { .. }
                | Step::Deactivate { .. }
                | Step::Delete { .. }
                | Step::RemoveMembers { .. }
                | Step::DeleteGroup { .. }
        )
    });
    for s in &mut b.steps {
        if let Step::SetManager { user, manager, .. } = &mut s.step
            && user.as_str() == "zhou.ming"
        {
            *manager = "ceo".into();
            s.manager_name = Some("陈总".into());
        }
    }
    if let Some(Step::AddMembers { members, .. }) = b
        .steps
        .iter_mut()
        .map(|s| &mut s.step)
        .rfind(|s| matches!(s, Step::AddMembers { .. }))
    {
        members.pop();
    }
    let mut returner = b.steps[3].clone();
    returner.step = Step::Reactivate {
        user: "returner".into(),
    };
    returner.name = Some("Re | Turner".into());
    b.steps.push(returner);
    b.counts = orgsync::plan::counts(&b.steps.iter().map(|s| s.step.clone()).collect::<Vec<_>>());
    b.skipped_links.remove(1);
    let c = compare(&sample(), &b);
    let options = RenderOptions::default();
    expect_file!["snapshots/compare.txt"].assert_eq(&render_comparison_text(&c, &options));
    expect_file!["snapshots/compare.md"].assert_eq(&render_comparison_markdown(&c, &options));
    expect_file!["snapshots/compare.json"].assert_eq(&render_comparison_json(&c));
}

/// Colour is escape codes around cells, never inside the padding: the plain text is the same.
#[test]
fn colour_changes_nothing_but_escape_codes() {
    let colored = render_with(
        &applied_sample(),
        Format::Text,
        &RenderOptions {
            limit: None,
            color: true,
        },
    );
    assert!(colored.contains("\u{1b}["));
    let stripped = strip_ansi(&colored);
    assert_eq!(
        stripped,
        render_with(&applied_sample(), Format::Text, &RenderOptions::default())
    );
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
