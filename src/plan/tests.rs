//! Data-driven planner tests. Each file in `src/plan/testdata/` holds the input (policy, snapshot,
//! upstream) above a `----` line and the expected plan below it. Run with `UPDATE_EXPECT=1` to
//! rewrite the expectations after an intended change, then review the diff.

use super::*;
use crate::model::{
    Attributes, Department, DepartmentId, Directory, Field, GroupAttributes, Status, TargetId,
    User, UserKey,
};
use crate::snapshot::{AppliedGroup, AppliedUser, Snapshot};
use std::fmt::Write as _;
use std::path::Path;

const SEPARATOR: &str = "----\n";

#[test]
fn data_driven_cases() {
    check_cases("testdata", 10, |path, input| {
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
        // Invariant 2 for groups: once every step is acknowledged, the same input plans no
        // group step.
        let again = plan(
            &applied(&first, snapshot.clone(), now),
            &directory,
            &policy,
            now,
        );
        let left: Vec<String> = again
            .steps
            .iter()
            .filter(|s| matches!(s.subject(), Subject::Group(_)))
            .map(|s| s.to_string())
            .collect();
        assert!(
            left.is_empty(),
            "{}: a second run plans group steps: {left:?}",
            path.display()
        );
        // Invariant 2 for mapped attributes: once acknowledged, the same input plans nothing
        // (no churn from templates, numbering or fallbacks).
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("mapping_") {
            assert!(
                again.steps.is_empty(),
                "{}: a second run plans steps: {:?}",
                path.display(),
                again
                    .steps
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
            );
        }
        actual
    });
}

/// Checks every case file directly in `src/plan/FOLDER` (input above `----`, expected output
/// below): `actual` gives the output for an input. `UPDATE_EXPECT=1` rewrites the expectations.
pub(super) fn check_cases(folder: &str, at_least: usize, actual: impl Fn(&Path, &str) -> String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/plan")
        .join(folder);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // Subfolders hold other harnesses' cases (focus/: plans for a few people).
        .filter(|path| path.is_file())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= at_least,
        "expected the planner cases in {}",
        dir.display()
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let (input, expected) = text.split_once(SEPARATOR).unwrap_or((&text, ""));
        let actual = actual(&path, input);
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

/// The snapshot after every step of `plan` was acknowledged (target ids made up).
pub(super) fn applied(plan: &Plan, mut snapshot: Snapshot, now: jiff::Timestamp) -> Snapshot {
    for step in &plan.steps {
        let target_id = match step.subject() {
            Subject::User(key) => TargetId::new(format!("t-{key}")),
            Subject::Group(group) => TargetId::new(format!("g-{group}")),
        };
        let change = snapshot_change(step, &snapshot, Some(target_id), now);
        snapshot.apply(change);
    }
    snapshot
}

pub(super) fn render(plan: &Plan) -> String {
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

pub(super) fn render_guard(verdict: &Verdict) -> String {
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
/// - `snapshot KEY active|inactive [manager=K] [name=N] [email=E] [user_name=U] [title=T]
///   [department=N]`;
/// - `upstream KEY STATUS [manager=K] [name=N] [email=E] [title=T] [dept=D[,D2...]]` (main
///   department first);
/// - `department ID [name=N] [parent=P] [heads=K[,K2...]]` (name defaults to the id; `_` in a
///   name is a space);
/// - `groups key=value ...` with the TOML names of [`GroupPolicy`] (`include`/`exclude` as
///   comma-separated ids), e.g. `groups enabled=true naming=path members=nested`;
/// - `group ID [name=N] [parent=P] [head=K] [members=K[,K2...]]`: a group in the snapshot;
/// - `map FIELD EXPRESSION`: the attribute mapping, FIELD a role (`user_name`, `email`, …) or a
///   mapped attribute's target name, EXPRESSION the rest of the line (or `none`);
/// - in `snapshot` lines, any other `NAME=V` sets the mapped attribute NAME; in `upstream` lines
///   `mobile=V`, a profile field (`english_name=V`, …) or `custom.NAME=V` (`_` is a space);
/// - `held KEY` (upstream record unreadable); `now TIMESTAMP` (default 2026-06-01T00:00:00Z);
/// - `guard` (also render the deletion guard's verdict); `# comments` and blank lines.
///
/// Unless the case sets them, the guard limits are off so cases show plans, not refusals.
pub(super) fn parse_case(
    input: &str,
) -> Result<(Snapshot, Directory, Policy, jiff::Timestamp), String> {
    let mut snapshot = Snapshot::default();
    let mut directory = Directory::default();
    let mut policy_toml = String::new();
    let mut groups_toml = String::new();
    let mut mapping = crate::mapping::Mapping::default();
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
                attributes.set(
                    Field::Department,
                    opts.get("department").map(|s| s.replace('_', " ").into()),
                );
                for (name, value) in &opts {
                    if !matches!(
                        *name,
                        "user_name"
                            | "name"
                            | "email"
                            | "title"
                            | "department"
                            | "manager"
                            | "deactivated_at"
                    ) {
                        attributes.set(Field::named(name), Some(value.replace('_', " ").into()));
                    }
                }
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
                let mut profile = crate::model::Profile::default();
                for (name, value) in &opts {
                    let value = value.replace('_', " ");
                    if let Some(custom) = name.strip_prefix("custom.") {
                        profile.set_custom(custom, value);
                    } else if let Some(field) = crate::model::ProfileField::ALL
                        .into_iter()
                        .find(|f| f.as_str() == *name)
                    {
                        profile.set(field, Some(value));
                    }
                }
                directory.insert_user(User {
                    profile,
                    display_name: (*opts.get("name").unwrap_or(&key.as_str())).into(),
                    email: opts.get("email").map(|s| (*s).into()),
                    mobile: opts.get("mobile").map(|s| (*s).into()),
                    title: opts.get("title").map(|s| (*s).into()),
                    employee_no: None,
                    departments: list(opts.get("dept")).map(DepartmentId::new).collect(),
                    status,
                    manager: opts.get("manager").map(|m| UserKey::new(*m)),
                    key,
                });
            }
            "now" => {
                now = rest
                    .first()
                    .ok_or("now needs a timestamp")?
                    .parse()
                    .map_err(|e| format!("{e}"))?
            }
            "guard" => {}
            "department" => {
                let (id, opts) = named(&rest)?;
                let id = DepartmentId::new(id);
                directory.departments.insert(
                    id.clone(),
                    Department {
                        name: opts
                            .get("name")
                            .map_or(id.as_str().to_owned(), |n| n.replace('_', " ")),
                        parent: opts.get("parent").map(|p| DepartmentId::new(*p)),
                        heads: list(opts.get("heads")).map(UserKey::new).collect(),
                        id,
                    },
                );
            }
            "groups" => {
                for pair in rest {
                    let (k, v) = pair.split_once('=').ok_or(format!("bad groups {pair}"))?;
                    match k {
                        "include" | "exclude" => {
                            let ids: Vec<&str> = list(Some(&v)).collect();
                            writeln!(groups_toml, "{k} = {ids:?}").unwrap();
                        }
                        "enabled" => writeln!(groups_toml, "{k} = {v}").unwrap(),
                        _ => writeln!(groups_toml, "{k} = {v:?}").unwrap(),
                    }
                }
            }
            "group" => {
                let (id, opts) = named(&rest)?;
                let id = DepartmentId::new(id);
                snapshot.groups.insert(
                    id.clone(),
                    AppliedGroup {
                        target_id: TargetId::new(format!("g-{id}")),
                        attributes: GroupAttributes {
                            display_name: opts
                                .get("name")
                                .map_or(id.as_str().into(), |n| n.replace('_', " ").into()),
                            parent: opts.get("parent").map(|p| DepartmentId::new(*p)),
                            head: opts.get("head").map(|h| UserKey::new(*h)),
                        },
                        members: list(opts.get("members")).map(UserKey::new).collect(),
                    },
                );
            }
            "map" => {
                let line = line.strip_prefix("map").unwrap_or_default().trim();
                let (field, expression) = line
                    .split_once(' ')
                    .ok_or(format!("map needs FIELD EXPRESSION: {line}"))?;
                mapping
                    .set(field, Field::named(field), expression)
                    .map_err(|e| e.to_string())?;
            }
            "held" => {
                directory
                    .held
                    .insert(UserKey::new(*rest.first().ok_or("held needs a key")?));
            }
            other => return Err(format!("unknown line kind {other}")),
        }
    }
    let mut policy: Policy = toml::from_str(&policy_toml).map_err(|e| e.to_string())?;
    if !policy_toml.contains("max_deletion") && !policy_toml.contains("max_group_deletions") {
        policy = policy.without_guard();
    }
    policy.groups = toml::from_str(&groups_toml).map_err(|e| e.to_string())?;
    policy.mapping = mapping;
    Ok((snapshot, directory, policy, now))
}

type Options<'a> = std::collections::HashMap<&'a str, &'a str>;

/// The comma-separated values of an option, none when it is absent.
fn list<'a>(value: Option<&&'a str>) -> impl Iterator<Item = &'a str> {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
}

/// `ID name=value ...`
fn named<'a>(words: &[&'a str]) -> Result<(&'a str, Options<'a>), String> {
    let [id, rest @ ..] = words else {
        return Err("expected an id".into());
    };
    let opts = rest
        .iter()
        .map(|w| {
            w.split_once('=')
                .ok_or(format!("expected name=value, got {w}"))
        })
        .collect::<Result<_, _>>()?;
    Ok((id, opts))
}

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

/// `people` active people in department `d`, keys `p00001`…
fn crowd(directory: &mut Directory, people: usize, department: &str) {
    for n in 1..=people {
        let key = UserKey::new(format!("p{n:05}"));
        directory.insert_user(User {
            profile: Default::default(),
            key: key.clone(),
            display_name: key.as_str().into(),
            email: None,
            mobile: None,
            title: None,
            employee_no: None,
            departments: vec![DepartmentId::new(department)],
            status: Status::Active,
            manager: None,
        });
    }
}

fn department(id: &str, name: &str, parent: Option<&str>) -> Department {
    Department {
        id: DepartmentId::new(id),
        name: name.to_owned(),
        parent: parent.map(DepartmentId::new),
        heads: Vec::new(),
    }
}

fn groups_on(members: GroupMembers) -> Policy {
    Policy {
        groups: GroupPolicy {
            enabled: true,
            members,
            ..GroupPolicy::default()
        },
        ..Policy::default().without_guard()
    }
}

fn now() -> jiff::Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

#[test]
fn a_group_of_5000_members_is_filled_in_25_batches_in_key_order_never_rewritten() {
    let mut directory = Directory::default();
    let big = department("big", "Everyone", None);
    directory.departments.insert(big.id.clone(), big);
    crowd(&mut directory, 5_000, "big");
    let policy = groups_on(GroupMembers::Direct);
    let first = plan(&Snapshot::default(), &directory, &policy, now());
    let adds: Vec<&Vec<UserKey>> = first
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::AddMembers { members, .. } => Some(members),
            _ => None,
        })
        .collect();
    assert_eq!(adds.len(), 25);
    assert!(adds.iter().all(|m| m.len() == MEMBER_BATCH));
    let all: Vec<&UserKey> = adds.iter().flat_map(|m| m.iter()).collect();
    assert!(all.is_sorted(), "members are added in key order");
    assert_eq!(all.len(), 5_000);

    // One person leaves, one arrives: one removal and one addition, not 25 steps again.
    let mut snapshot = applied(&first, Snapshot::default(), now());
    assert_eq!(
        snapshot.groups[&DepartmentId::new("big")].members.len(),
        5_000
    );
    directory.users.remove(&UserKey::new("p02500"));
    let mut newcomer = directory.users[&UserKey::new("p00001")].clone();
    newcomer.key = UserKey::new("p99999");
    directory.insert_user(newcomer);
    let second = plan(&snapshot, &directory, &policy, now());
    let group_steps: Vec<String> = second
        .steps
        .iter()
        .filter(|s| s.user().is_none())
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        group_steps,
        ["add_members big: 1 p99999", "remove_members big: 1 p02500"]
    );
    snapshot = applied(&second, snapshot, now());
    assert!(plan(&snapshot, &directory, &policy, now()).is_empty());
}

#[test]
fn an_unchanged_second_run_plans_nothing_for_groups_nested_or_direct() {
    for members in [GroupMembers::Direct, GroupMembers::Nested] {
        for naming in [GroupNaming::Name, GroupNaming::Path] {
            let mut directory = Directory::default();
            // Three levels, names repeated under different parents, heads in scope and out.
            for (id, name, parent) in [
                ("1", "HQ", None),
                ("2", "Sales", Some("1")),
                ("3", "Beijing", Some("1")),
                ("4", "Sales", Some("3")),
                ("5", "SALES", Some("3")),
            ] {
                let mut d = department(id, name, parent);
                d.heads = vec![UserKey::new("outsider"), UserKey::new("p00003")];
                directory.departments.insert(d.id.clone(), d);
            }
            crowd(&mut directory, 30, "4");
            for (n, user) in directory.users.values_mut().enumerate() {
                user.departments = vec![DepartmentId::new(format!("{}", n % 5 + 1))];
                if n % 7 == 0 {
                    user.departments.push(DepartmentId::new("2"));
                }
            }
            let mut policy = groups_on(members);
            policy.groups.naming = naming;
            let first = plan(&Snapshot::default(), &directory, &policy, now());
            assert!(first.count(StepKind::CreateGroup) == 5);
            let snapshot = applied(&first, Snapshot::default(), now());
            let second = plan(&snapshot, &directory, &policy, now());
            assert!(
                second.is_empty(),
                "{members:?} {naming:?}: {:?}",
                second.steps
            );
        }
    }
}

#[test]
fn group_deletions_over_the_limit_are_refused_whole_and_approval_covers_them() {
    let mut snapshot = Snapshot::default();
    for id in ["a", "b", "c"] {
        snapshot.groups.insert(
            DepartmentId::new(id),
            AppliedGroup {
                target_id: TargetId::new(id),
                attributes: GroupAttributes {
                    display_name: id.into(),
                    parent: None,
                    head: None,
                },
                members: Default::default(),
            },
        );
    }
    let mut directory = Directory::default();
    crowd(&mut directory, 1, "a");
    let policy = Policy {
        max_group_deletions: 2,
        ..groups_on(GroupMembers::Direct)
    };
    let plan = plan(&snapshot, &directory, &policy, now());
    assert_eq!(plan.count(StepKind::DeleteGroup), 3);
    let verdict = guard(&plan, &snapshot, Pulled::of(&directory), &policy);
    let Verdict::Refused {
        reasons,
        overridable: true,
        group_deletions: 3,
        removals: 0,
        ..
    } = &verdict
    else {
        panic!("{verdict:?}");
    };
    assert_eq!(
        reasons,
        &["3 group deletions (of 3 groups) exceed max_group_deletions = 2"]
    );
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["group_deletions"], 3);
    let reasons = reasons.clone();
    assert_eq!(
        approve(verdict),
        Verdict::Approved {
            removals: 0,
            reasons
        }
    );
    // Within the limit it passes.
    let relaxed = Policy {
        max_group_deletions: 3,
        ..policy
    };
    assert_eq!(
        guard(&plan, &snapshot, Pulled::of(&directory), &relaxed),
        Verdict::Pass { removals: 0 }
    );
}

#[test]
fn a_refusal_without_group_deletions_serializes_as_before() {
    let verdict = Verdict::Refused {
        removals: 4,
        managed: 5,
        reasons: vec!["r".into()],
        overridable: true,
        group_deletions: 0,
    };
    let json = serde_json::to_value(&verdict).unwrap();
    assert!(json.get("group_deletions").is_none(), "{json}");
    let old =
        r#"{"verdict":"refused","removals":4,"managed":5,"reasons":["r"],"overridable":true}"#;
    assert_eq!(serde_json::from_str::<Verdict>(old).unwrap(), verdict);
}
