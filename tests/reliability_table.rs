//! docs/reliability.md cannot drift: every test it names exists, and every test of the
//! reliability suites is named there.

use std::collections::BTreeSet;
use std::path::Path;

const SUITES: &[&str] = &[
    "crash_safety",
    "target_faults",
    "upstream_faults",
    "state_dir",
    "secrets",
    "fuzz_smoke",
];

/// `(file stem, test name)` for every `tests/FILE.rs::name` in the text.
fn cited(doc: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (at, _) in doc.match_indices("tests/") {
        let rest = &doc[at + "tests/".len()..];
        let Some((file, rest)) = rest.split_once(".rs::") else {
            continue;
        };
        if !file
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.insert((file.to_owned(), name));
    }
    found
}

/// The test functions of one test file: `fn NAME(` right after a `#[test]` or `#[tokio::test…]`.
fn tests_in(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut attribute = false;
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
            attribute = true;
        } else if attribute && (line.starts_with("fn ") || line.starts_with("async fn ")) {
            let name = line
                .trim_start_matches("async ")
                .trim_start_matches("fn ")
                .split('(')
                .next()
                .unwrap();
            names.insert(name.to_owned());
            attribute = false;
        }
    }
    names
}

#[test]
fn every_cited_test_exists_and_every_reliability_test_is_cited() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/reliability.md")).unwrap();
    let cited = cited(&doc);
    assert!(cited.len() > 50, "only {} citations found", cited.len());
    for (file, name) in &cited {
        let source = std::fs::read_to_string(root.join(format!("tests/{file}.rs")))
            .unwrap_or_else(|e| panic!("docs/reliability.md cites tests/{file}.rs: {e}"));
        assert!(
            tests_in(&source).contains(name),
            "docs/reliability.md cites tests/{file}.rs::{name}, which is not a test there"
        );
    }
    for suite in SUITES {
        let source = std::fs::read_to_string(root.join(format!("tests/{suite}.rs"))).unwrap();
        for name in tests_in(&source) {
            assert!(
                cited.contains(&(suite.to_string(), name.clone())),
                "tests/{suite}.rs::{name} is not in docs/reliability.md's table"
            );
        }
    }
}

#[test]
fn the_parser_finds_tests_and_citations() {
    let source = "#[test]\nfn a() {}\nfn helper() {}\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn b() {}\n";
    assert_eq!(
        tests_in(source),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    let doc = "`tests/x_y.rs::a_b`, `tests/z.rs::c` and tests/ alone";
    assert_eq!(cited(doc).len(), 2);
}
