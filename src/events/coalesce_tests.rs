//! Data-driven: each file in testdata/coalesce/ is a window's events above `----` (one event a
//! line: `TYPE [@RECEIVED_SECONDS] [~OCCURRED_SECONDS] | NOTICE | NOTICE ...`, a first line
//! `full_run_above N` optional), the decision below. `UPDATE_EXPECT=1` rewrites the expectations.

use super::*;
use crate::model::DepartmentId;
use jiff::Timestamp;
use std::fmt::Write;
use std::path::Path;

const BASE: i64 = 1_800_000_000;

fn parse_notice(text: &str) -> Notice {
    let mut words = text.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    match kind {
        "people" => Notice::People {
            keys: rest.iter().map(|k| UserKey::new(*k)).collect(),
        },
        "departments" => Notice::Departments {
            ids: rest.iter().map(|d| DepartmentId::new(*d)).collect(),
        },
        "scope" => Notice::Scope,
        "unknown" => Notice::Unknown {
            event_type: rest.join(" "),
        },
        "ignored" => Notice::Ignored {
            event_type: rest.join(" "),
        },
        other => panic!("unknown notice {other:?}"),
    }
}

fn parse_event(line: &str, index: i64) -> StoredEvent {
    let mut parts = line.split('|');
    let head: Vec<&str> = parts
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let mut received = BASE + index;
    let mut occurred = None;
    for word in head.iter().skip(1) {
        if let Some(s) = word.strip_prefix('@') {
            received = BASE + s.parse::<i64>().unwrap();
        } else if let Some(s) = word.strip_prefix('~') {
            occurred = Some(Timestamp::from_second(BASE + s.parse::<i64>().unwrap()).unwrap());
        }
    }
    StoredEvent {
        event_type: head.first().copied().unwrap_or_default().to_owned(),
        received_at: Timestamp::from_second(received).unwrap(),
        occurred_at: occurred,
        notices: parts.map(|n| parse_notice(n.trim())).collect(),
    }
}

fn render(decision: &Coalesced) -> String {
    let Coalesced::Run(report) = decision else {
        return "nothing\n".to_owned();
    };
    let seconds = |t: Timestamp| t.as_second() - BASE;
    let mut out = String::new();
    let _ = writeln!(out, "events {}", report.events);
    for (event_type, n) in &report.types {
        let _ = writeln!(out, "type {event_type} {n}");
    }
    let _ = writeln!(out, "first_received @{}", seconds(report.first_received_at));
    if let Some(at) = report.first_occurred_at {
        let _ = writeln!(out, "first_occurred ~{}", seconds(at));
    }
    match &report.reach {
        EventsReach::People { keys } => {
            let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            let _ = writeln!(out, "people {}", keys.join(" "));
        }
        EventsReach::Everyone { reason } => {
            let _ = writeln!(out, "everyone: {reason}");
        }
    }
    out
}

fn run_case(input: &str) -> String {
    let mut full_run_above = 200;
    let mut events = Vec::new();
    for line in input.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('#') {
            continue;
        }
        if let Some(n) = line.strip_prefix("full_run_above ") {
            full_run_above = n.trim().parse().unwrap();
            continue;
        }
        let index = events.len() as i64;
        events.push(parse_event(line, index));
    }
    render(&coalesce(&events, full_run_above))
}

#[test]
fn testdata_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/events/testdata/coalesce");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let (input, expected) = text.split_once("----\n").unwrap_or((&text, ""));
        let actual = run_case(input);
        cases += 1;
        if actual != expected {
            if update {
                std::fs::write(&path, format!("{input}----\n{actual}")).unwrap();
            } else {
                failures.push(format!(
                    "{}:\n--- expected\n{expected}--- actual\n{actual}",
                    path.display()
                ));
            }
        }
    }
    assert!(cases >= 8, "the cases are missing from {}", dir.display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_events_call_for_nothing() {
    assert_eq!(coalesce(&[], 1), Coalesced::Nothing);
}
