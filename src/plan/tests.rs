//! Data-driven planner tests. Each file in `src/plan/testdata/` holds the input (policy, snapshot,
//! upstream) above a `----` line and the expected plan below it. Run with `UPDATE_EXPECT=1` to
//! rewrite the expectations after an intended change, then review the diff.

use super::*;
use crate::model::{Attributes, DepartmentId, Directory, Field, Status, TargetId, User, UserKey};
use crate::snapshot::{AppliedUser, Snapshot};
use std::fmt::Write as _;
use std::path::Path;

const SEPARATOR: &str = "----\n";

#[test]
fn data_driven_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan/testdata");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 10,
        "expected the planner cases in {}",
        dir.display()
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let (input, expected) = text.split_once(SEPARATOR).unwrap_or((&text, ""));
        let (snapshot, directory, policy, now) =
            parse_case(input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let first = plan(&snapshot, &directory, &policy, now);
        let second = plan(&snapshot, &directory, &policy, now);
        assert_eq!(
            first,
            second,
            "{}: the plan must be deterministic",
            path.display()
        );
        let mut actual = render(&first);
        if input.contains("\nguard") || input.starts_with("guard") {
            actual.push_str(&render_guard(&guard(
                &first,
                &snapshot,
                super::Pulled::of(&directory),
                &policy,
            )));
        }
        if update {
            std::fs::write(&path, format!("{input}{SEPARATOR}{actual}")).unwrap();
        } else if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for step in &plan.steps {
        writeln!(out, "{step}").unwrap();
    }
    for link in &plan.skipped_links {
        writeln!(
            out,
            "skipped {} → {}: {}",
            link.user, link.manager, link.reason
        )
        .unwrap();
    }
    for problem in &plan.problems {
        writeln!(out, "problem: {problem}").unwrap();
    }
    out
}

fn render_guard(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass { removals } => format!("guard: pass ({removals} removals)\n"),
        Verdict::Refused {
            reasons,
            overridable,
            ..
        } => {
            format!(
                "guard: REFUSED{}: {}\n",
                if *overridable {
                    ""
                } else {
                    " (not overridable)"
                },
                reasons.join("; ")
            )
        }
        Verdict::Approved { .. } => "guard: approved\n".into(),
    }
}

/// Lines of the input:
/// - `policy key=value ...` with the TOML names of [`Policy`] fields;
/// - `snapshot KEY active|inactive [manager=K] [name=N] [email=E] [user_name=U] [title=T]`;
/// - `upstream KEY STATUS [manager=K] [name=N] [email=E] [title=T] [dept=D]`;
/// - `department ID [name=N] [parent=P] [heads=K1,K2]` (heads as the platform lists them);
/// - `held KEY` (upstream record unreadable); `now TIMESTAMP` (default 2026-06-01T00:00:00Z);
/// - `guard` (also render the deletion guard's verdict); `# comments` and blank lines.
///
/// Unless the case sets them, the guard limits are off so cases show plans, not refusals.
fn parse_case(input: &str) -> Result<(Snapshot, Directory, Policy, jiff::Timestamp), String> {
    let mut snapshot = Snapshot::default();
    let mut directory = Directory::default();
    let mut policy_toml = String::new();
    let mut now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    for line in input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap();
        let rest: Vec<&str> = words.collect();
        match verb {
            "policy" => {
                for pair in rest {
                    let (k, v) = pair.split_once('=').ok_or(format!("bad policy {pair}"))?;
                    if v.parse::<f64>().is_ok() {
                        writeln!(policy_toml, "{k} = {v}").unwrap();
                    } else {
                        writeln!(policy_toml, "{k} = {v:?}").unwrap();
                    }
                }
            }
            "snapshot" => {
                let (key, state, opts) = head(&rest)?;
                let mut attributes = Attributes::new(
                    opts.get("user_name").unwrap_or(&key.as_str()).to_string(),
                    opts.get("name").unwrap_or(&key.as_str()).to_string(),
                );
                attributes.set(Field::Email, opts.get("email").map(|s| (*s).into()));
                attributes.set(Field::Title, opts.get("title").map(|s| (*s).into()));
                snapshot.users.insert(
                    key.clone(),
                    AppliedUser {
                        target_id: TargetId::new(format!("t-{key}")),
                        attributes,
                        active: state == "active",
                        manager: opts.get("manager").map(|m| UserKey::new(*m)),
                        deactivated_at: opts
                            .get("deactivated_at")
                            .map(|t| t.parse().map_err(|e| format!("bad deactivated_at: {e}")))
                            .transpose()?,
                    },
                );
            }
            "upstream" => {
                let (key, state, opts) = head(&rest)?;
                let status = match state {
                    "active" => Status::Active,
                    "disabled" => Status::Disabled,
                    "not_activated" => Status::NotActivated,
                    "resigned" => Status::Resigned,
                    other => return Err(format!("unknown status {other}")),
                };
                directory.insert_user(User {
                    display_name: (*opts.get("name").unwrap_or(&key.as_str())).into(),
                    email: opts.get("email").map(|s| (*s).into()),
                    mobile: None,
                    title: opts.get("title").map(|s| (*s).into()),
                    employee_no: None,
                    departments: opts
                        .get("dept")
                        .map(|d| DepartmentId::new(*d))
                        .into_iter()
                        .collect(),
                    status,
                    manager: opts.get("manager").map(|m| UserKey::new(*m)),
                    key,
                });
            }
            "department" => {
                let [id, rest @ ..] = rest.as_slice() else {
                    return Err("department needs an id".into());
                };
                let opts: Options<'_> = rest
                    .iter()
                    .map(|w| {
                        w.split_once('=')
                            .ok_or(format!("expected name=value, got {w}"))
                    })
                    .collect::<Result<_, _>>()?;
                let id = DepartmentId::new(*id);
                directory.departments.insert(
                    id.clone(),
                    crate::model::Department {
                        name: opts.get("name").unwrap_or(&id.as_str()).to_string(),
                        parent: opts.get("parent").map(|p| DepartmentId::new(*p)),
                        heads: opts
                            .get("heads")
                            .map(|h| h.split(',').map(UserKey::new).collect())
                            .unwrap_or_default(),
                        id,
                    },
                );
            }
            "now" => {
                now = rest
                    .first()
                    .ok_or("now needs a timestamp")?
                    .parse()
                    .map_err(|e| format!("{e}"))?
            }
            "guard" => {}
            "held" => {
                directory
                    .held
                    .insert(UserKey::new(*rest.first().ok_or("held needs a key")?));
            }
            other => return Err(format!("unknown line kind {other}")),
        }
    }
    let mut policy: Policy = toml::from_str(&policy_toml).map_err(|e| e.to_string())?;
    if !policy_toml.contains("max_deletion") {
        policy = policy.without_guard();
    }
    Ok((snapshot, directory, policy, now))
}

type Options<'a> = std::collections::HashMap<&'a str, &'a str>;

fn head<'a>(words: &[&'a str]) -> Result<(UserKey, &'a str, Options<'a>), String> {
    let [key, state, rest @ ..] = words else {
        return Err("expected KEY STATE".into());
    };
    let opts = rest
        .iter()
        .map(|w| {
            w.split_once('=')
                .ok_or(format!("expected name=value, got {w}"))
        })
        .collect::<Result<_, _>>()?;
    Ok((UserKey::new(*key), state, opts))
}

#[test]
fn phases_are_listed_in_running_order() {
    for (n, phase) in Phase::ALL.iter().enumerate() {
        assert_eq!(*phase as usize, n, "{phase:?}");
    }
    assert!(Phase::ALL.is_sorted());
}

#[test]
fn steps_come_out_by_phase_then_user_whichever_phase_is_largest() {
    let key = |n: u32| UserKey::new(format!("u{n:03}"));
    let step = |kind: u32, n: u32| match kind {
        0 => Step::Delete {
            user: key(n),
            reason: RemovalReason::Vanished,
        },
        1 => Step::Reactivate { user: key(n) },
        _ => Step::ClearManager {
            user: key(n),
            previous: key(0),
        },
    };
    for largest in 0..3 {
        let mut steps = Steps::default();
        for n in 0..20 {
            for kind in 0..3 {
                if kind == largest || n % 5 == 0 {
                    steps.push(step(kind, n));
                }
            }
        }
        let ordered = steps.into_ordered();
        let mut expected = ordered.clone();
        expected.sort_by(|a, b| (a.phase(), a.user()).cmp(&(b.phase(), b.user())));
        assert_eq!(ordered, expected, "largest phase {largest}");
        assert_eq!(ordered.len(), 20 + 2 * 4);
    }
}
