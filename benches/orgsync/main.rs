//! `cargo bench --bench orgsync`: orgsync against the limits it does not control — the upstreams'
//! documented rate limits and the target's write capacity. See docs/performance.md.
//!
//! Each case runs in a child process of this binary (`--case NAME`), so its CPU time and peak RSS
//! are its own; the parent prints one table. Modes: the default (10 000 people per pull, the
//! planner on 100 000 and 1 000 000, syncs of 100 000), `--large` (pulls of 100 000 people too)
//! and `--quick` — also what runs without `--bench`, as under `cargo test --all-targets` — a tiny
//! smoke run of every case in seconds.

#[path = "../../tests/common/mod.rs"]
mod common;
mod events;
mod measure;
mod outcome;
mod plan;
mod pull;
mod push;
mod sync;

use outcome::{Outcome, RESULT_PREFIX};
use std::process::{Command, ExitCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Smoke,
    Default,
    Large,
}

impl Size {
    /// People and departments of a pull case.
    pub fn org(self) -> (usize, usize) {
        match self {
            Size::Smoke => (200, 20),
            Size::Default => (10_000, 500),
            Size::Large => (100_000, 2_000),
        }
    }

    pub fn label(self) -> String {
        let (people, departments) = self.org();
        format!(
            "{} people / {} depts",
            thousands(people as u64),
            thousands(departments as u64)
        )
    }

    fn flag(self) -> &'static str {
        match self {
            Size::Smoke => "--quick",
            Size::Default => "--default",
            Size::Large => "--large",
        }
    }

    fn parse(flag: &str) -> Option<Size> {
        [Size::Smoke, Size::Default, Size::Large]
            .into_iter()
            .find(|s| s.flag() == flag)
    }
}

/// `12345` → `12 345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The emulators answer on their own threads; orgsync runs on the main thread alone, so the
/// main thread's CPU time is orgsync's.
pub struct Runtimes {
    pub emulators: tokio::runtime::Runtime,
    pub orgsync: tokio::runtime::Runtime,
}

impl Runtimes {
    fn new() -> Runtimes {
        Runtimes {
            emulators: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("emulator runtime"),
            orgsync: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("orgsync runtime"),
        }
    }
}

/// Every case of a run, in order, by the name a child is started with.
fn cases(size: Size) -> Vec<String> {
    let mut cases: Vec<String> = pull::Platform::ALL
        .iter()
        .map(|p| format!("pull-{}", p.name()))
        .collect();
    if size == Size::Large {
        cases.extend(
            pull::Platform::ALL
                .iter()
                .map(|p| format!("pull-{}-default", p.name())),
        );
    }
    cases.extend(
        [
            "plan-small-first",
            "plan-small-resync",
            "plan-big-first",
            "plan-big-resync",
            "plan-groups",
            "plan-mapping",
            "sync-emulator",
            "push-scim2-server",
            "events-latency",
            "events-storm",
        ]
        .map(str::to_owned),
    );
    cases
}

fn run_case(name: &str, size: Size) -> Vec<Outcome> {
    let rt = Runtimes::new();
    let planner_people = |big: bool| match (size, big) {
        (Size::Smoke, false) => 1_000,
        (Size::Smoke, true) => 10_000,
        (_, false) => 100_000,
        (_, true) => 1_000_000,
    };
    let (sync_people, sync_departments) = match size {
        Size::Smoke => (500, 25),
        _ => (100_000, 2_000),
    };
    let (push_people, push_departments) = match size {
        Size::Smoke => (100, 10),
        Size::Default => (2_000, 100),
        Size::Large => (10_000, 500),
    };
    if let Some(platform) = name.strip_prefix("pull-") {
        // In --large mode the default-sized pulls run as well, marked `-default`.
        let (platform, size) = match platform.strip_suffix("-default") {
            Some(p) => (p, Size::Default),
            None => (platform, size),
        };
        let platform = pull::Platform::parse(platform).expect("known platform");
        return vec![pull::run(&rt, platform, size)];
    }
    match name {
        "plan-small-first" => vec![plan::run(planner_people(false), plan::Kind::FirstSync)],
        "plan-small-resync" => vec![plan::run(planner_people(false), plan::Kind::Resync)],
        "plan-big-first" => vec![plan::run(planner_people(true), plan::Kind::FirstSync)],
        "plan-big-resync" => vec![plan::run(planner_people(true), plan::Kind::Resync)],
        "plan-groups" => plan::groups(planner_people(false)),
        "plan-mapping" => plan::mapping(planner_people(true)),
        "sync-emulator" => sync::emulator(&rt, sync_people, sync_departments),
        "push-scim2-server" => push::run(&rt, push_people, push_departments),
        "events-latency" => vec![match size {
            Size::Smoke => events::latency(&rt, 200, 20, 10),
            _ => events::latency(&rt, 2_000, 1_000, 20),
        }],
        "events-storm" => vec![match size {
            Size::Smoke => events::storm(&rt, 200, 200, std::time::Duration::from_secs(2)),
            _ => events::storm(&rt, 10_000, 10_000, std::time::Duration::from_secs(60)),
        }],
        other => panic!("unknown case {other}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // Without `--bench` this is `cargo test` building and running every target: a smoke run.
    let size = if has("--quick") || !has("--bench") {
        Size::Smoke
    } else if has("--large") {
        Size::Large
    } else {
        Size::Default
    };
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let name = args.get(i + 1).expect("--case NAME");
        let size = args
            .iter()
            .find_map(|a| Size::parse(a))
            .unwrap_or(Size::Smoke);
        for outcome in run_case(name, size) {
            println!(
                "{RESULT_PREFIX}{}",
                serde_json::to_string(&outcome).expect("outcome serializes")
            );
        }
        return ExitCode::SUCCESS;
    }

    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let exe = std::env::current_exe().expect("own path");
    let mut outcomes = Vec::new();
    let mut failed = false;
    for case in cases(size) {
        if !only.is_empty() && !only.iter().any(|o| case.contains(o.as_str())) {
            continue;
        }
        eprintln!("bench: running {case} …");
        let output = Command::new(&exe)
            .args(["--case", &case, size.flag()])
            .output()
            .expect("child starts");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let results: Vec<Outcome> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix(RESULT_PREFIX))
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect();
        if !output.status.success() || results.is_empty() {
            failed = true;
            eprintln!(
                "bench: case {case} failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for r in &results {
            eprintln!("bench:   {} — {:.2} s", r.case, r.wall_s);
        }
        outcomes.extend(results);
    }
    let command = std::iter::once("cargo bench --bench orgsync --".to_owned())
        .chain(args.iter().filter(|a| *a != "--bench").cloned())
        .collect::<Vec<_>>()
        .join(" ");
    println!("\norgsync bench ({:?} mode)", size);
    println!("machine: {}", measure::machine());
    println!("command: {command}\n");
    println!("{}", outcome::table(&outcomes));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
