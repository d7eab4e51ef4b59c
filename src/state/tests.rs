use super::StateDb;
use crate::history::History;
use crate::report::{Report, RunOutcome, fixture};
use jiff::Timestamp;

fn report(connector: &str, second: i64, outcome: RunOutcome) -> Report {
    let mut report = fixture::sample();
    report.connector = connector.to_owned();
    report.started_at = Timestamp::from_second(1_800_000_000 + second).unwrap();
    report.run_id = crate::report::new_run_id(connector, report.started_at);
    report.outcome = outcome;
    report
}

fn open(keep: usize) -> (tempfile::TempDir, StateDb, History) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let history = db.history(keep).unwrap();
    (dir, db, history)
}

#[test]
fn lists_newest_first_per_connector_and_keeps_the_newest() {
    let (_dir, _db, history) = open(3);
    for second in [5, 1, 4, 2, 3] {
        history
            .record(&report("hq", second, RunOutcome::Planned))
            .unwrap();
    }
    history
        .record(&report("branch", 10, RunOutcome::Applied))
        .unwrap();

    let hq = history.list(Some("hq"), 100).unwrap();
    let seconds: Vec<i64> = hq
        .iter()
        .map(|s| s.started_at.as_second() - 1_800_000_000)
        .collect();
    // Retention drops by start time, not by arrival: 1 and 2 went, though 2 came late.
    assert_eq!(seconds, [5, 4, 3]);
    assert!(
        history
            .get(&report("hq", 1, RunOutcome::Planned).run_id)
            .unwrap()
            .is_none()
    );
    let kept = history.get(&hq[0].run_id).unwrap().unwrap();
    assert_eq!(kept.run_id, hq[0].run_id);
    assert_eq!(kept.steps, fixture::sample().steps);

    let all = history.list(None, 2).unwrap();
    assert_eq!(all[0].connector, "branch");
    assert_eq!(all[1].run_id, hq[0].run_id);
    assert_eq!(
        history.latest("branch").unwrap().unwrap().outcome,
        RunOutcome::Applied
    );
    assert!(history.latest("nobody").unwrap().is_none());
}

#[test]
fn a_connector_named_like_the_prefix_of_another_is_listed_apart() {
    let (_dir, _db, history) = open(10);
    history
        .record(&report("hq", 1, RunOutcome::Planned))
        .unwrap();
    history
        .record(&report("hq2", 2, RunOutcome::Planned))
        .unwrap();
    assert_eq!(history.list(Some("hq"), 10).unwrap().len(), 1);
    assert_eq!(history.list(Some("hq2"), 10).unwrap().len(), 1);
}

#[test]
fn recording_a_run_again_replaces_it_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let first = report("hq", 1, RunOutcome::Running);
    {
        let db = StateDb::open(path).unwrap();
        let history = db.history(5).unwrap();
        history.record(&first).unwrap();
        let mut done = first.clone();
        done.outcome = RunOutcome::Applied;
        history.record(&done).unwrap();
    }
    let db = StateDb::open(path).unwrap();
    let history = db.history(5).unwrap();
    let runs = history.list(Some("hq"), 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, RunOutcome::Applied);
    assert_eq!(
        history.get(&first.run_id).unwrap().unwrap().outcome,
        RunOutcome::Applied
    );
}

#[test]
fn a_run_older_than_the_retention_is_dropped_with_its_id() {
    let (_dir, _db, history) = open(2);
    for second in [5, 6] {
        history
            .record(&report("hq", second, RunOutcome::Planned))
            .unwrap();
    }
    let late = report("hq", 1, RunOutcome::Applied);
    history.record(&late).unwrap();
    assert_eq!(history.list(Some("hq"), 10).unwrap().len(), 2);
    assert!(history.get(&late.run_id).unwrap().is_none());
}

/// Only `src/state/` names sled: the rest of orgsync goes through `StateDb`, so the storage can
/// change without touching it.
#[test]
fn only_the_state_module_names_sled() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("state") {
                    walk(&path, found);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("sled::") || text.contains("use sled") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    walk(&src, &mut found);
    assert!(found.is_empty(), "sled named outside src/state: {found:?}");
}

#[test]
fn a_shared_directory_named_as_state_dir_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // `state_dir = "/tmp"` by mistake: a sticky, world-writable directory of other users' files.
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("someone-elses-file"), b"x").unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    drop(StateDb::open(shared.path()).unwrap());
    assert_eq!(
        mode(shared.path()),
        0o1777,
        "a shared directory is left alone"
    );
    assert_eq!(mode(&shared.path().join("state.sled")), 0o700);

    // orgsync's own directory, made at a wide umask by an older orgsync: narrowed.
    let own = tempfile::tempdir().unwrap();
    drop(StateDb::open(own.path()).unwrap());
    std::fs::set_permissions(own.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(StateDb::open(own.path()).unwrap());
    assert_eq!(
        mode(own.path()),
        0o700,
        "orgsync's own directory is made private"
    );

    // An empty one (systemd's StateDirectory= at its default mode): narrowed too.
    let empty = tempfile::tempdir().unwrap();
    std::fs::set_permissions(empty.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(StateDb::open(empty.path()).unwrap());
    assert_eq!(mode(empty.path()), 0o700);
}

/// A state directory this process is still letting go of opens as soon as it is free; one this
/// process keeps holding is refused after a bounded wait.
#[test]
fn a_reopen_in_the_same_process_waits_for_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let held = StateDb::open(dir.path()).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(held);
    });
    let reopened = StateDb::open(dir.path());
    releaser.join().unwrap();
    assert!(reopened.is_ok(), "{:?}", reopened.err());

    let kept = reopened.unwrap();
    let started = std::time::Instant::now();
    let refused = StateDb::open(dir.path()).unwrap_err();
    assert!(
        matches!(refused, crate::snapshot::SnapshotError::Locked { .. }),
        "{refused}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(kept);
}

mod formats {
    use super::super::{DB_DIR, FORMAT_KEY, META_TREE, Owner, StateDb};
    use crate::model::{Attributes, DepartmentId, GroupAttributes, TargetId, UserKey};
    use crate::snapshot::{
        AppliedGroup, AppliedUser, Snapshot, SnapshotChange, SnapshotError, SnapshotStore,
    };
    use std::path::Path;

    /// A database as an older (or newer) orgsync left it: a format version and one person,
    /// written through sled directly.
    fn write_raw(dir: &Path, version: &str, people: &[(&str, &AppliedUser)]) {
        {
            let db = sled::Config::new().path(dir.join(DB_DIR)).open().unwrap();
            db.open_tree(META_TREE)
                .unwrap()
                .insert(FORMAT_KEY, version.as_bytes())
                .unwrap();
            let tree = db.open_tree("snapshot/hq").unwrap();
            for (key, user) in people {
                tree.insert(key.as_bytes(), serde_json::to_vec(user).unwrap())
                    .unwrap();
            }
            db.flush().unwrap();
        }
        // Ours: a reopen in this process waits for sled to let go of the lock.
        Owner::current().write(dir).unwrap();
    }

    fn person(name: &str) -> AppliedUser {
        AppliedUser {
            target_id: TargetId::new(format!("t-{name}")),
            attributes: Attributes::new(name.to_owned(), format!("{name} 王")),
            active: true,
            manager: Some(UserKey::new("boss")),
            deactivated_at: None,
        }
    }

    fn format_of(db: &StateDb) -> String {
        let meta = db.db.open_tree(META_TREE).unwrap();
        String::from_utf8(meta.get(FORMAT_KEY).unwrap().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn a_format_1_database_is_migrated_to_3_with_its_people_intact() {
        let dir = tempfile::tempdir().unwrap();
        let (lin, boss) = (person("lin"), person("boss"));
        write_raw(dir.path(), "1", &[("lin", &lin), ("boss", &boss)]);
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(format_of(&db), "3");
        let snapshot = db.load("hq").unwrap();
        assert_eq!(snapshot.users.len(), 2);
        assert_eq!(snapshot.users[&UserKey::new("lin")], lin);
        assert_eq!(snapshot.users[&UserKey::new("boss")], boss);
        assert!(snapshot.groups.is_empty());
        // The migrated database takes groups, and opens again as format 3.
        db.commit("hq", &[upsert("d1")]).unwrap();
        drop(db);
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(format_of(&db), "3");
        assert_eq!(db.load("hq").unwrap().groups.len(), 1);
    }

    #[test]
    fn a_format_2_database_is_migrated_to_3_and_then_holds_mapped_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let lin = person("lin");
        write_raw(dir.path(), "2", &[("lin", &lin)]);
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(format_of(&db), "3");
        assert_eq!(db.load("hq").unwrap().users[&UserKey::new("lin")], lin);
        let cost = crate::model::Field::named("urn:example:2.0:User:costCenter");
        let mapped = AppliedUser {
            attributes: lin.attributes.clone().with(cost, Some("CC-1".into())),
            ..lin.clone()
        };
        db.commit(
            "hq",
            &[SnapshotChange::Upsert(UserKey::new("lin"), mapped.clone())],
        )
        .unwrap();
        drop(db);
        let db = StateDb::open(dir.path()).unwrap();
        let loaded = db.load("hq").unwrap();
        assert_eq!(loaded.users[&UserKey::new("lin")], mapped);
        assert_eq!(
            loaded.users[&UserKey::new("lin")].attributes.get(cost),
            Some("CC-1")
        );
    }

    #[test]
    fn a_database_of_a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(dir.path(), "4", &[("lin", &person("lin"))]);
        match StateDb::open(dir.path()) {
            Err(SnapshotError::UnsupportedFormat {
                found, expected, ..
            }) => {
                assert_eq!(found, "4");
                assert_eq!(expected, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    fn upsert(group: &str) -> SnapshotChange {
        SnapshotChange::UpsertGroup {
            group: DepartmentId::new(group),
            target_id: TargetId::new(format!("g-{group}")),
            attributes: GroupAttributes {
                display_name: format!("部门 {group}").into(),
                parent: None,
                head: Some(UserKey::new("u00001")),
            },
        }
    }

    fn keys(range: std::ops::Range<usize>) -> Vec<UserKey> {
        range.map(|n| UserKey::new(format!("u{n:05}"))).collect()
    }

    /// Membership entries of the connector's group tree, whatever group they belong to.
    fn membership_entries(db: &StateDb) -> usize {
        // The tree as snapshots.rs names it.
        let tree = db.db.open_tree("groups/hq").unwrap();
        tree.scan_prefix(b"m\0").count()
    }

    #[test]
    fn groups_and_memberships_round_trip_through_commit_load_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let mut expected = Snapshot::default();
        let mut changes = vec![upsert("big"), upsert("small")];
        // 5 000 members recorded as the engine records them: a batch per acknowledged step.
        for batch in keys(0..5_000).chunks(crate::plan::MEMBER_BATCH) {
            changes.push(SnapshotChange::AddMembers(
                DepartmentId::new("big"),
                batch.to_vec(),
            ));
        }
        changes.push(SnapshotChange::AddMembers(
            DepartmentId::new("small"),
            keys(0..3),
        ));
        for change in &changes {
            expected.apply(change.clone());
        }
        db.commit("hq", &changes).unwrap();
        let loaded = db.load("hq").unwrap();
        assert_eq!(loaded, expected);
        assert_eq!(
            loaded.groups[&DepartmentId::new("big")].members.len(),
            5_000
        );
        assert_eq!(membership_entries(&db), 5_003);

        // Removing members drops their entries only; removing a group drops its memberships.
        let changes = [
            SnapshotChange::RemoveMembers(DepartmentId::new("small"), keys(0..1)),
            SnapshotChange::RemoveGroup(DepartmentId::new("big")),
        ];
        for change in &changes {
            expected.apply(change.clone());
        }
        db.commit("hq", &changes).unwrap();
        assert_eq!(db.load("hq").unwrap(), expected);
        assert_eq!(membership_entries(&db), 2);

        // A replace (snapshot rebuild) writes groups and members whole, dropping what was there.
        let mut rebuilt = Snapshot::default();
        rebuilt
            .users
            .insert(UserKey::new("u00001"), person("u00001"));
        rebuilt.groups.insert(
            DepartmentId::new("new"),
            AppliedGroup {
                target_id: TargetId::new("g-new"),
                attributes: GroupAttributes {
                    display_name: "New".into(),
                    parent: Some(DepartmentId::new("small")),
                    head: None,
                },
                members: keys(10..12).into_iter().collect(),
            },
        );
        db.replace("hq", &rebuilt).unwrap();
        drop(db);
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(db.load("hq").unwrap(), rebuilt);
        assert_eq!(membership_entries(&db), 2);
    }
}
