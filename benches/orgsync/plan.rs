//! The planner alone on a synthetic directory: a first sync (everyone created) and a resync with
//! 1 % of the people changed, timed around `plan::plan` only; and the same with departments as
//! groups (direct and nested members) beside the same plan without them.

use crate::measure;
use crate::outcome::Outcome;
use compact_str::format_compact;
use orgsync::model::{Department, DepartmentId, Directory, Status, User, UserKey};
use orgsync::model::{Field, Profile, ProfileField, TargetId};
use orgsync::plan::{self, GroupMembers, GroupPolicy, Plan, Policy};
use orgsync::snapshot::Snapshot;
use std::time::Instant;

/// `people` in departments of about 50, each reporting to the first person of their department,
/// who reports to the first person of the parent department.
pub fn directory(people: usize) -> Directory {
    let departments = (people / 50).max(1);
    let mut directory = Directory::default();
    for d in 0..departments {
        let id = DepartmentId::new(format!("{}", d + 1));
        directory.departments.insert(
            id.clone(),
            Department {
                id,
                name: format!("部门 {}", d + 1),
                parent: (d > 0).then(|| DepartmentId::new(format!("{}", (d - 1) / 8 + 1))),
                heads: Vec::new(),
            },
        );
    }
    let head = |d: usize| d; // person index heading department d
    for p in 0..people {
        let d = if p < departments { p } else { p % departments };
        let manager = if p < departments {
            (d > 0).then(|| head((d - 1) / 8))
        } else {
            Some(head(d))
        };
        let key = UserKey::new(format!("u{p:07}"));
        directory.users.insert(
            key.clone(),
            User {
                profile: Default::default(),
                key,
                display_name: format_compact!("员工 {p}"),
                email: Some(format_compact!("u{p:07}@example.cn")),
                mobile: Some(format_compact!("138{p:08}")),
                title: Some("工程师".into()),
                employee_no: Some(format_compact!("E{p:07}")),
                departments: vec![DepartmentId::new(format!("{}", d + 1))],
                status: Status::Active,
                manager: manager.map(|m| UserKey::new(format!("u{m:07}"))),
            },
        );
    }
    directory
}

/// The snapshot the engine would leave after applying every step of `plan`.
pub fn applied(plan: &Plan, mut snapshot: Snapshot) -> Snapshot {
    let now = jiff::Timestamp::now();
    for (n, step) in plan.steps.iter().enumerate() {
        let known = match step.subject() {
            plan::Subject::User(key) => snapshot.users.get(key).map(|u| u.target_id.clone()),
            plan::Subject::Group(group) => snapshot.groups.get(group).map(|g| g.target_id.clone()),
        };
        let target_id = known.or(Some(TargetId::new(format!("t{n}"))));
        let change = plan::snapshot_change(step, &snapshot, target_id, now);
        snapshot.apply(change);
    }
    snapshot
}

/// Changes every hundredth person: a new title, and every fifth of those a new manager.
pub fn change_one_percent(directory: &mut Directory) -> usize {
    let keys: Vec<UserKey> = directory.users.keys().step_by(100).cloned().collect();
    let first = directory.users.keys().next().cloned();
    for (n, key) in keys.iter().enumerate() {
        let user = directory.users.get_mut(key).expect("listed key");
        user.title = Some(format_compact!("高级工程师 {n}"));
        if n % 5 == 0 && first.as_ref() != Some(key) {
            user.manager = first.clone();
        }
    }
    keys.len()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    FirstSync,
    Resync,
}

pub fn run(people: usize, kind: Kind) -> Outcome {
    let policy = Policy::default().without_guard();
    let mut directory = directory(people);
    let mut snapshot = Snapshot::default();
    let mut changed = 0;
    if kind == Kind::Resync {
        snapshot = synced(&directory, &policy);
        changed = change_one_percent(&mut directory);
    }
    let label = match kind {
        Kind::FirstSync => "first sync",
        Kind::Resync => "resync, 1 % changed",
    };
    let case = format!("plan {} people, {label}", crate::thousands(people as u64));
    measured(case, &snapshot, &directory, &policy, changed).0
}

/// The snapshot a first sync of `directory` leaves, held as a run holds it.
fn synced(directory: &Directory, policy: &Policy) -> Snapshot {
    let first = plan::plan(
        &Snapshot::default(),
        directory,
        policy,
        jiff::Timestamp::now(),
    );
    let mut snapshot = applied(&first, Snapshot::default());
    drop(first);
    // `StateDb::load` builds the map from sorted entries.
    snapshot.users = std::mem::take(&mut snapshot.users).into_iter().collect();
    snapshot
}

/// Times one `plan::plan` call; returns its figures and the plan's group steps.
fn measured(
    case: String,
    snapshot: &Snapshot,
    directory: &Directory,
    policy: &Policy,
    changed: usize,
) -> (Outcome, usize) {
    measure::release_free_memory();
    let inputs_rss = measure::current_rss();
    measure::reset_peak_rss();
    let cpu = measure::thread_cpu();
    let process_cpu = measure::process_cpu();
    let started = Instant::now();
    let plan = plan::plan(snapshot, directory, policy, jiff::Timestamp::now());
    let wall = started.elapsed();
    let cpu = measure::thread_cpu() - cpu;
    let process_cpu = measure::process_cpu() - process_cpu;
    let peak = measure::peak_rss();
    let group_steps = plan.steps.iter().filter(|s| s.user().is_none()).count();
    let outcome = Outcome {
        case,
        wall_s: wall.as_secs_f64(),
        cpu_s: cpu.as_secs_f64(),
        process_cpu_s: process_cpu.as_secs_f64(),
        peak_rss: peak,
        note: format!(
            "{} steps, {group_steps} of them for groups ({changed} people changed); inputs \
             resident before planning: {} MiB",
            plan.steps.len(),
            inputs_rss / 1024 / 1024
        ),
        ..Outcome::default()
    };
    (outcome, group_steps)
}

/// `people` in `people / 50` departments, each headed by its first person, planned without
/// groups, with direct and with nested members: a first sync, a resync with 1 % of the people
/// changed (a fifth of them moved to another department), and an unchanged resync, which must
/// plan no group step.
pub fn groups(people: usize) -> Vec<Outcome> {
    let mut directory = directory(people);
    let departments: Vec<DepartmentId> = directory.departments.keys().cloned().collect();
    for (n, department) in directory.departments.values_mut().enumerate() {
        department.heads = vec![UserKey::new(format!("u{n:07}"))];
    }
    let mut outcomes = Vec::new();
    for members in [None, Some(GroupMembers::Direct), Some(GroupMembers::Nested)] {
        let policy = Policy {
            groups: GroupPolicy {
                enabled: members.is_some(),
                members: members.unwrap_or_default(),
                ..GroupPolicy::default()
            },
            ..Policy::default().without_guard()
        };
        let label = match members {
            None => "no groups",
            Some(GroupMembers::Direct) => "groups, direct members",
            Some(GroupMembers::Nested) => "groups, nested members",
        };
        let people_label = crate::thousands(people as u64);
        let depts = crate::thousands(departments.len() as u64);
        let case =
            |what: &str| format!("plan {people_label} people / {depts} depts, {label}, {what}");
        outcomes.push(
            measured(
                case("first sync"),
                &Snapshot::default(),
                &directory,
                &policy,
                0,
            )
            .0,
        );
        let snapshot = synced(&directory, &policy);
        let (unchanged, group_steps) =
            measured(case("unchanged resync"), &snapshot, &directory, &policy, 0);
        assert_eq!(group_steps, 0, "an unchanged resync plans no group step");
        outcomes.push(unchanged);
        let mut changed_directory = directory.clone();
        let changed = change_one_percent(&mut changed_directory);
        move_one_in_five_hundred(&mut changed_directory, &departments);
        outcomes.push(
            measured(
                case("resync, 1 % changed"),
                &snapshot,
                &changed_directory,
                &policy,
                changed,
            )
            .0,
        );
    }
    outcomes
}

/// Moves every five-hundredth person to the next department.
fn move_one_in_five_hundred(directory: &mut Directory, departments: &[DepartmentId]) {
    for user in directory.users.values_mut().skip(7).step_by(500) {
        let at = departments
            .iter()
            .position(|d| Some(d) == user.departments.first())
            .unwrap_or(0);
        user.departments = vec![departments[(at + 1) % departments.len()].clone()];
    }
}

/// The planner with ten mapped attributes (three of them custom fields, three templates) beside
/// the same plans with the default mapping, on one directory whose people all carry an English
/// name, an enterprise address and three custom fields: a first sync and a resync with 1 % of
/// the people changed.
pub fn mapping(people: usize) -> Vec<Outcome> {
    let mut directory = directory(people);
    for (n, user) in directory.users.values_mut().enumerate() {
        user.profile = Profile::default()
            .with(ProfileField::EnglishName, format_compact!("Staff {n}"))
            .with(
                ProfileField::EnterpriseEmail,
                format_compact!("{}@corp.example.cn", user.key),
            )
            .with_custom("成本中心", format_compact!("CC-{}", n % 97))
            .with_custom("职级", format_compact!("P{}", n % 9))
            .with_custom("员工类型", if n % 10 == 0 { "外包" } else { "正式" });
    }
    let mut mapped = Policy::default().without_guard();
    for (key, value) in [
        ("display_name", "{name} ({english_name|default:-})"),
        ("email", "{enterprise_email|or:{email}}"),
        ("title", "{title|default:员工}"),
        ("costCenter", "custom.成本中心"),
        ("level", "custom.职级"),
        ("employeeType", "custom.员工类型"),
    ] {
        mapped
            .mapping
            .set(key, Field::named(key), value)
            .expect("the bench mapping is valid");
    }
    let mut outcomes = Vec::new();
    let people_label = crate::thousands(people as u64);
    for (label, policy) in [
        (
            "default mapping (7 roles)",
            Policy::default().without_guard(),
        ),
        ("10 mapped, 3 custom", mapped),
    ] {
        let case = |what: &str| format!("plan {people_label} people, {label}, {what}");
        outcomes.push(
            measured(
                case("first sync"),
                &Snapshot::default(),
                &directory,
                &policy,
                0,
            )
            .0,
        );
        let snapshot = synced(&directory, &policy);
        let mut changed_directory = directory.clone();
        let changed = change_one_percent(&mut changed_directory);
        outcomes.push(
            measured(
                case("resync, 1 % changed"),
                &snapshot,
                &changed_directory,
                &policy,
                changed,
            )
            .0,
        );
    }
    outcomes
}
