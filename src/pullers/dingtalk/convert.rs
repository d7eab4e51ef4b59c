//! DingTalk wire types → the platform-neutral model, reporting what cannot be trusted.
//!
//! Status: `active = true` → active, `active = false` → not activated (never logged in). DingTalk
//! has no disabled/frozen flag, so no one is ever `Disabled`; resigned people are simply absent
//! (they surface as vanished). Anything else in `active` holds the person with a problem.

use super::profile;
use super::wire::{self, Record, RosterEntry};
use crate::model::{
    Department, DepartmentId, Directory, Problem, ProfileKey, Scope, Status, User, UserKey,
};
use crate::pullers::text::{head_keys, non_empty};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What one pull read, before conversion.
#[derive(Debug, Default)]
pub(super) struct Raw {
    pub scope: Option<wire::OrgScopes>,
    pub departments: Vec<wire::Department>,
    /// Each department's direct members, as listed.
    pub members: Vec<(i64, Vec<Record>)>,
    /// Per-person reads (`user/get`) by userid; `None` when the person turned out to be gone
    /// (60121) or out of scope (50002) and must be left out.
    pub details: BTreeMap<String, Option<Record>>,
    /// What the HR roster said of listed people, by userid: their manager and main department.
    pub roster: BTreeMap<String, RosterEntry>,
    /// Problems met while reading (a roster fallback), reported once each.
    pub problems: Vec<Problem>,
}

pub(super) fn directory(raw: Raw) -> Directory {
    let mut directory = Directory::default();
    directory.problems.extend(raw.problems);
    let scope = raw.scope.unwrap_or(wire::OrgScopes {
        authed_dept: Vec::new(),
        authed_user: Vec::new(),
    });
    directory.scope = Scope {
        departments: scope
            .authed_dept
            .iter()
            .map(|id| DepartmentId::new(id.to_string()))
            .collect(),
        users: scope
            .authed_user
            .iter()
            .map(|id| UserKey::new(id.as_str()))
            .collect(),
    };

    for dept in raw.departments {
        let id = DepartmentId::new(dept.dept_id.to_string());
        // The root has no parent; some answers say 0 for it.
        let parent = dept
            .parent_id
            .filter(|&p| p != 0)
            .map(|p| DepartmentId::new(p.to_string()));
        let name = dept
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_string());
        directory
            .departments
            .entry(id.clone())
            .or_insert(Department {
                id,
                name,
                parent,
                heads: Vec::new(),
            });
    }
    report_missing_parents(&mut directory);
    add_heads(&mut directory, &raw.members, &raw.details);

    // A person read one by one is converted once, from that read, wherever they are listed.
    let mut done: HashSet<String> = HashSet::new();
    let mut bad_extensions: Vec<UserKey> = Vec::new();
    for (department, records) in raw.members {
        let listed_under = department.to_string();
        for record in records {
            let detail = record.userid().and_then(|id| raw.details.get(id));
            let roster = record.userid().and_then(|id| raw.roster.get(id));
            match detail {
                None => add(
                    &mut directory,
                    record,
                    &listed_under,
                    roster,
                    &mut bad_extensions,
                ),
                Some(None) => {}
                Some(Some(detail)) => {
                    if done.insert(record.userid().unwrap_or_default().to_owned()) {
                        add(
                            &mut directory,
                            detail.clone(),
                            &listed_under,
                            None,
                            &mut bad_extensions,
                        );
                    }
                }
            }
        }
    }
    for (userid, detail) in raw.details {
        if let Some(detail) = detail
            && !done.contains(&userid)
        {
            add(&mut directory, detail, "", None, &mut bad_extensions);
        }
    }
    if let Some(first) = bad_extensions.first() {
        // Custom fields are extra information: their loss is said once a pull, never fatal.
        tracing::warn!(users = bad_extensions.len(), first = %first, "Some DingTalk users' `extension` is not a JSON object; their custom fields are left out.");
    }
    // One unreadable record of a person listed several times holds them all.
    let held: Vec<UserKey> = directory.held.iter().cloned().collect();
    for key in held {
        directory.users.remove(&key);
    }
    directory
}

/// Department heads: people whose `user/list` item says `leader` in the department being
/// listed, in listing order; then, for people read with `user/get` (whichever way managers are
/// read, the lists are the same), the departments their `leader_in_dept` marks. Only pulled
/// departments get heads; unreadable records name none.
pub(super) fn add_heads(
    directory: &mut Directory,
    members: &[(i64, Vec<Record>)],
    details: &BTreeMap<String, Option<Record>>,
) {
    let listed = members.iter().flat_map(|(department, records)| {
        records.iter().filter_map(move |record| match record {
            Record::Read(user) if user.leader => Some((*department, user.userid.as_deref()?)),
            _ => None,
        })
    });
    let read = details.iter().flat_map(|(userid, detail)| {
        let leads = match detail {
            Some(Record::Read(user)) => user.leads.as_slice(),
            _ => &[],
        };
        leads
            .iter()
            .map(move |department| (*department, userid.as_str()))
    });
    let mut heads: BTreeMap<DepartmentId, Vec<&str>> = BTreeMap::new();
    for (department, userid) in listed.chain(read) {
        heads
            .entry(DepartmentId::new(department.to_string()))
            .or_default()
            .push(userid);
    }
    for (id, userids) in heads {
        if let Some(department) = directory.departments.get_mut(&id) {
            department.heads = head_keys(userids);
        }
    }
}

/// An authorized top department's parent is invisible: that is normal. Any other department
/// whose parent is missing points at broken upstream data.
fn report_missing_parents(directory: &mut Directory) {
    let scope_roots: BTreeSet<&DepartmentId> = directory.scope.departments.iter().collect();
    let mut problems = Vec::new();
    for dept in directory.departments.values() {
        if let Some(parent) = &dept.parent
            && !directory.departments.contains_key(parent)
            && !scope_roots.contains(&dept.id)
        {
            problems.push(Problem::MissingParentDepartment {
                department: dept.id.clone(),
                parent: parent.clone(),
            });
        }
    }
    directory.problems.extend(problems);
}

/// `roster`: what the HR roster said of this person, which gives their manager and main
/// department (a list item carries neither).
fn add(
    directory: &mut Directory,
    record: Record,
    listed_under: &str,
    roster: Option<&RosterEntry>,
    bad_extensions: &mut Vec<UserKey>,
) {
    let Some(userid) = record.userid().map(str::to_owned) else {
        directory.problems.push(Problem::EmptyUserId {
            department: DepartmentId::new(listed_under),
        });
        return;
    };
    let key = UserKey::new(userid);
    let mut user = match record {
        Record::Read(user) => user,
        Record::Unreadable { error, .. } => {
            // The record's error quotes the value it could not read: the report has it, the log not.
            tracing::warn!(user = %key, "A DingTalk user record has an unexpected shape; holding the person.");
            hold(
                directory,
                key.clone(),
                Problem::MissingField {
                    user: key,
                    field: format!("record ({error})"),
                },
            );
            return;
        }
    };
    let mut profile = profile::profile(&mut user).unwrap_or_else(|readable| {
        bad_extensions.push(key.clone());
        readable
    });
    // The roster is HR's word: its fields win over the contact record's.
    for (field, value) in roster.iter().flat_map(|r| r.profile.iter()) {
        match field {
            ProfileKey::Standard(field) => profile.set(*field, Some(value)),
            ProfileKey::Custom(name) => profile.set_custom(name.clone(), value),
        }
    }
    let status = match status(user.active.as_ref()) {
        Ok(status) => status,
        Err(raw) => {
            let problem = Problem::UnknownStatus {
                user: key.clone(),
                raw,
            };
            hold(directory, key, problem);
            return;
        }
    };
    let main = roster.and_then(|r| r.main_dept).or(user.main_dept);
    let Some(name) = non_empty(user.name) else {
        let problem = Problem::MissingField {
            user: key.clone(),
            field: "name".into(),
        };
        hold(directory, key, problem);
        return;
    };
    let departments = departments(directory, &user.dept_id_list, main, listed_under);
    let manager = match roster {
        Some(entry) => entry.manager.clone(),
        None => user.manager_userid.flatten(),
    };
    directory.insert_user(User {
        key,
        display_name: name,
        email: non_empty(user.email).or_else(|| non_empty(user.org_email)),
        mobile: non_empty(user.mobile),
        title: non_empty(user.title),
        employee_no: non_empty(user.job_number),
        departments,
        status,
        manager: manager
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .map(UserKey::new),
        profile,
    });
}

fn hold(directory: &mut Directory, key: UserKey, problem: Problem) {
    directory.problems.push(problem);
    directory.held.insert(key);
}

/// `dept_id_list` with the main department first (`main`, when the list holds it; else the
/// list's first), pulled departments before ones the app cannot see; the listing department
/// when the list is empty.
fn departments(
    directory: &Directory,
    ids: &[i64],
    main: Option<i64>,
    listed_under: &str,
) -> Vec<DepartmentId> {
    let mut all: Vec<DepartmentId> = Vec::with_capacity(ids.len().max(1));
    let main = main.filter(|m| ids.contains(m));
    for id in main.iter().chain(ids) {
        let id = DepartmentId::new(id.to_string());
        if !all.contains(&id) {
            all.push(id);
        }
    }
    if all.is_empty() && !listed_under.is_empty() {
        all.push(DepartmentId::new(listed_under));
    }
    let (mut known, unknown): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|id| directory.departments.contains_key(id));
    known.extend(unknown);
    known
}

/// `active`: true → active, false → not activated. Anything else is reported and the person held,
/// never guessed.
fn status(raw: Option<&serde_json::Value>) -> Result<Status, String> {
    let active = match raw {
        Some(serde_json::Value::Bool(b)) => Some(*b),
        Some(serde_json::Value::String(s)) => match s.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    };
    match active {
        Some(true) => Ok(Status::Active),
        Some(false) => Ok(Status::NotActivated),
        None => Err(raw.map_or_else(|| "missing".to_owned(), |v| v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records(items: serde_json::Value) -> Vec<Record> {
        serde_json::from_value::<Vec<serde_json::Value>>(items)
            .unwrap()
            .into_iter()
            .map(Record::parse)
            .collect()
    }

    fn department(json: serde_json::Value) -> wire::Department {
        serde_json::from_value(json).unwrap()
    }

    /// Root 1 with children 2 and -3 (a home-school id), full scope.
    fn raw(members: Vec<(i64, serde_json::Value)>) -> Raw {
        Raw {
            scope: Some(wire::OrgScopes {
                authed_dept: vec![1],
                authed_user: Vec::new(),
            }),
            departments: vec![
                department(json!({"dept_id": 2, "name": "研发部", "parent_id": 1})),
                department(json!({"dept_id": "-3", "name": "家校", "parent_id": "1"})),
                department(json!({"dept_id": 1, "name": "公司"})),
            ],
            members: members
                .into_iter()
                .map(|(dept, items)| (dept, records(items)))
                .collect(),
            details: BTreeMap::new(),
            ..Raw::default()
        }
    }

    #[test]
    fn ids_as_numbers_or_strings_and_negative_departments() {
        let directory = directory(raw(vec![(
            -3,
            json!([{"userid": 1024, "name": "林晓", "active": true, "manager_userid": 77,
                    "dept_id_list": ["-3", 2], "job_number": 5, "email": "",
                    "org_email": "lin@corp.example.cn", "unexpected": {"x": 1}}]),
        )]));
        let user = &directory.users[&UserKey::new("1024")];
        assert_eq!(user.manager, Some(UserKey::new("77")));
        assert_eq!(
            user.departments,
            vec![DepartmentId::new("-3"), DepartmentId::new("2")]
        );
        assert_eq!(user.employee_no.as_deref(), Some("5"));
        assert_eq!(user.email.as_deref(), Some("lin@corp.example.cn"));
        assert_eq!(user.status, Status::Active);
        let home_school = &directory.departments[&DepartmentId::new("-3")];
        assert_eq!(home_school.parent, Some(DepartmentId::new("1")));
        assert_eq!(directory.departments[&DepartmentId::new("1")].parent, None);
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
    }

    #[test]
    fn unknown_or_missing_status_holds_the_person() {
        let directory = directory(raw(vec![(
            2,
            json!([
                {"userid": "a", "name": "A", "active": "maybe"},
                {"userid": "b", "name": "B"},
                {"userid": "c", "name": "C", "active": 1},
                {"userid": "d", "name": "D", "active": false},
            ]),
        )]));
        let held: Vec<&str> = directory.held.iter().map(UserKey::as_str).collect();
        assert_eq!(held, ["a", "b", "c"]);
        assert_eq!(
            directory.problems,
            vec![
                Problem::UnknownStatus {
                    user: "a".into(),
                    raw: "\"maybe\"".into()
                },
                Problem::UnknownStatus {
                    user: "b".into(),
                    raw: "missing".into()
                },
                Problem::UnknownStatus {
                    user: "c".into(),
                    raw: "1".into()
                },
            ]
        );
        assert_eq!(
            directory.users[&UserKey::new("d")].status,
            Status::NotActivated
        );
        assert_eq!(directory.users.len(), 1);
    }

    #[test]
    fn missing_name_and_empty_id() {
        let directory = directory(raw(vec![(
            2,
            json!([
                {"userid": "a", "name": "  ", "active": true},
                {"userid": "b", "active": true},
                {"userid": "", "name": "Nobody", "active": true},
                {"name": "No id", "active": true},
            ]),
        )]));
        assert!(directory.users.is_empty());
        assert_eq!(directory.held.len(), 2);
        assert_eq!(
            directory.problems,
            vec![
                Problem::MissingField {
                    user: "a".into(),
                    field: "name".into()
                },
                Problem::MissingField {
                    user: "b".into(),
                    field: "name".into()
                },
                Problem::EmptyUserId {
                    department: "2".into()
                },
                Problem::EmptyUserId {
                    department: "2".into()
                },
            ]
        );
    }

    #[test]
    fn surprising_shapes_hold_one_person_not_the_pull() {
        let directory = directory(raw(vec![
            (
                2,
                json!([
                    {"userid": "odd", "name": "Odd", "active": true, "dept_id_list": {"a": 1}},
                    {"userid": ["x"], "name": "Array id", "active": true},
                    {"userid": "fine", "name": "Fine", "active": true, "manager_userid": ""},
                ]),
            ),
            // The same odd person listed fine elsewhere stays held.
            (
                -3,
                json!([{"userid": "odd", "name": "Odd", "active": true}]),
            ),
        ]));
        let users: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
        assert_eq!(users, ["fine"]);
        assert_eq!(directory.users[&UserKey::new("fine")].manager, None);
        assert!(directory.held.contains(&UserKey::new("odd")));
        assert!(matches!(
            &directory.problems[0],
            Problem::MissingField { user, field } if user.as_str() == "odd" && field.starts_with("record (")
        ));
        assert_eq!(
            directory.problems[1],
            Problem::EmptyUserId {
                department: "2".into()
            }
        );
    }

    #[test]
    fn per_person_reads_replace_list_items_and_add_individuals() {
        let mut raw = raw(vec![(
            2,
            json!([
                {"userid": "lin", "name": "林晓", "active": true, "dept_id_list": [2]},
                {"userid": "gone", "name": "Gone", "active": true},
            ]),
        )]);
        let detail = |value: serde_json::Value| Some(Record::parse(value));
        raw.details.insert(
            "lin".into(),
            detail(json!({"userid": "lin", "name": "林晓", "active": true,
                          "dept_id_list": [2, 99], "manager_userid": "boss"})),
        );
        raw.details.insert("gone".into(), None);
        raw.details.insert(
            "solo".into(),
            detail(json!({"userid": "solo", "name": "Solo", "active": true, "dept_id_list": [99]})),
        );
        let directory = directory(raw);
        let users: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
        assert_eq!(users, ["lin", "solo"]);
        let lin = &directory.users[&UserKey::new("lin")];
        assert_eq!(lin.manager, Some(UserKey::new("boss")));
        assert_eq!(lin.departments, vec![DepartmentId::new("2"), "99".into()]);
        assert_eq!(
            directory.users[&UserKey::new("solo")].departments,
            vec![DepartmentId::new("99")]
        );
    }

    #[test]
    fn visible_departments_come_first_and_listing_fills_in() {
        let directory = directory(raw(vec![(
            2,
            json!([
                {"userid": "a", "name": "A", "active": true, "dept_id_list": [42, 2]},
                {"userid": "b", "name": "B", "active": true, "dept_id_list": null},
            ]),
        )]));
        assert_eq!(
            directory.users[&UserKey::new("a")].departments,
            vec![DepartmentId::new("2"), "42".into()]
        );
        assert_eq!(
            directory.users[&UserKey::new("b")].departments,
            vec![DepartmentId::new("2")]
        );
    }

    #[test]
    fn missing_parents_are_reported_except_for_granted_tops() {
        let raw = Raw {
            scope: Some(wire::OrgScopes {
                authed_dept: vec![5],
                authed_user: vec!["ceo".into()],
            }),
            departments: vec![
                department(json!({"dept_id": 5, "name": "销售部", "parent_id": 1})),
                department(json!({"dept_id": 6, "name": "", "parent_id": 8})),
            ],
            ..Raw::default()
        };
        let directory = directory(raw);
        assert_eq!(
            directory.problems,
            vec![Problem::MissingParentDepartment {
                department: "6".into(),
                parent: "8".into()
            }]
        );
        assert_eq!(directory.departments[&DepartmentId::new("6")].name, "6");
        assert_eq!(directory.scope.users, vec![UserKey::new("ceo")]);
        assert_eq!(directory.scope.departments, vec![DepartmentId::new("5")]);
    }

    #[test]
    fn the_roster_gives_managers_and_main_departments_and_user_get_marks_is_main() {
        let mut raw = raw(vec![(
            2,
            json!([
                {"userid": "a", "name": "A", "active": true, "dept_id_list": [2, -3]},
                {"userid": "b", "name": "B", "active": true, "dept_id_list": [2, -3]},
                {"userid": "c", "name": "C", "active": true, "dept_id_list": [2, -3]},
                {"userid": "d", "name": "D", "active": true, "dept_id_list": [2, -3]},
            ]),
        )]);
        let roster = |item: serde_json::Value| RosterEntry::parse(&item).unwrap();
        let field = |code: &str, values: serde_json::Value| json!({"field_code": code, "field_value_list": values});
        for (userid, entry) in [
            roster(json!({"userid": "a", "field_data_list": [
                field("sys00-reportManagerId", json!([{"item_index": 0, "value": "boss"}])),
                field("sys00-mainDeptId", json!([{"value": "-3"}])),
            ]})),
            // No manager set; a main department the person is not in is ignored.
            roster(json!({"userid": "b", "field_data_list": [
                field("sys00-reportManagerId", json!([])),
                field("sys00-mainDeptId", json!([{"value": 99}])),
            ]})),
        ] {
            raw.roster.insert(userid, entry);
        }
        raw.details.insert(
            "c".into(),
            Some(Record::parse(
                json!({"userid": "c", "name": "C", "active": true,
                "dept_id_list": [2, -3], "manager_userid": "a",
                "dept_position_list": [{"dept_id": 2, "is_main": false},
                                       {"dept_id": "-3", "is_main": true}]}),
            )),
        );
        raw.details.insert(
            "d".into(),
            Some(Record::parse(
                json!({"userid": "d", "name": "D", "active": true,
                "dept_id_list": [2, -3], "dept_position_list": "garbage"}),
            )),
        );
        let directory = directory(raw);
        let user = |key: &str| &directory.users[&UserKey::new(key)];
        assert_eq!(user("a").manager, Some(UserKey::new("boss")));
        assert_eq!(
            user("a").departments,
            vec![DepartmentId::new("-3"), "2".into()]
        );
        assert_eq!(user("b").manager, None);
        assert_eq!(
            user("b").departments,
            vec![DepartmentId::new("2"), "-3".into()]
        );
        assert_eq!(user("c").manager, Some(UserKey::new("a")));
        assert_eq!(
            user("c").departments,
            vec![DepartmentId::new("-3"), "2".into()]
        );
        assert_eq!(
            user("d").departments,
            vec![DepartmentId::new("2"), "-3".into()]
        );
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
    }

    #[test]
    fn garbage_roster_items_are_not_answers() {
        for item in [
            json!(null),
            json!([]),
            json!({"userid": ""}),
            json!({"userid": ["a"], "field_data_list": []}),
            json!({"userid": "a"}),
            json!({"userid": "a", "field_data_list": {"x": 1}}),
            // Without the manager field the roster said nothing about the manager.
            json!({"userid": "a", "field_data_list": [{"field_code": "sys00-mainDeptId"}]}),
        ] {
            assert_eq!(RosterEntry::parse(&item), None, "{item}");
        }
        let (userid, entry) = RosterEntry::parse(&json!({"userid": 42, "field_data_list": [
            {"field_code": "sys00-reportManagerId", "field_value_list": [{"value": ""}, {"value": 7}]},
            {"field_code": "sys00-mainDeptId", "field_value_list": [{"value": "x"}]},
            {"field_code": 5},
        ]}))
        .unwrap();
        assert_eq!(userid, "42");
        assert_eq!(
            entry,
            RosterEntry {
                manager: Some("7".into()),
                main_dept: None,
                profile: Default::default(),
            }
        );
    }

    #[test]
    fn heads_come_from_the_leader_flag_of_the_listing_and_from_user_get() {
        let mut raw = raw(vec![
            (
                2,
                json!([
                    {"userid": "a", "name": "A", "active": true, "dept_id_list": [2], "leader": true},
                    {"userid": "b", "name": "B", "active": true, "dept_id_list": [2, -3], "leader": false},
                    {"userid": "c", "name": "C", "active": true, "dept_id_list": [2], "leader": "true"},
                    {"userid": "d", "name": "D", "active": true, "dept_id_list": [2], "leader": 0},
                    {"userid": "e", "name": "E", "active": true, "dept_id_list": [2], "leader": {}},
                    {"userid": "f", "name": "F", "active": "??", "dept_id_list": [2], "leader": 1}
                ]),
            ),
            (
                -3,
                json!([{"userid": "b", "name": "B", "active": true, "dept_id_list": [2, -3], "leader": true}]),
            ),
        ]);
        // People read with user/get name the departments they head in `leader_in_dept`: the
        // listing already said it for b in -3; g heads 1 (listed nowhere) and 99 (not pulled).
        raw.details.insert(
            "b".into(),
            Some(Record::parse(json!({"userid": "b", "name": "B", "active": true,
                "dept_id_list": [2, -3],
                "leader_in_dept": [{"dept_id": 2, "leader": false}, {"dept_id": -3, "leader": true}]}))),
        );
        raw.details.insert(
            "g".into(),
            Some(Record::parse(json!({"userid": "g", "name": "G", "active": true, "dept_id_list": [1],
                "leader_in_dept": [{"dept_id": "1", "leader": true}, {"dept_id": 99, "leader": true}, "odd"]}))),
        );
        let directory = directory(raw);
        let heads = |id: &str| -> Vec<String> {
            directory.departments[&DepartmentId::new(id)]
                .heads
                .iter()
                .map(|k| k.to_string())
                .collect()
        };
        // In listing order; a held person (f: unknown status) is still listed as the head.
        assert_eq!(heads("2"), ["a", "c", "f"]);
        assert_eq!(heads("-3"), ["b"]);
        assert_eq!(heads("1"), ["g"]);
        assert!(
            directory.users.contains_key(&UserKey::new("e")),
            "an odd flag costs no one"
        );
    }

    #[test]
    fn the_profile_comes_from_the_record_with_the_roster_winning() {
        use crate::model::ProfileField;
        let mut raw = raw(vec![(
            2,
            json!([
                {"userid": "a", "name": "A", "active": true, "dept_id_list": [2],
                 "org_email": "a@corp.example.cn", "work_place": "杭州", "hired_date": 1614528000000_i64,
                 "extension": "{\"工位\":\"A-12\",\"成本中心\":\"CC-01\"}"},
                // A malformed extension costs the custom fields, never the person.
                {"userid": "b", "name": "B", "active": true, "dept_id_list": [2],
                 "telephone": "8001", "extension": "{broken"},
            ]),
        )]);
        let field = |code: &str, name: &str, label: &str| {
            json!({"field_code": code, "field_name": name,
                   "field_value_list": [{"item_index": 0, "label": label, "value": label}]})
        };
        let (userid, entry) = RosterEntry::parse(&json!({"userid": "a", "field_data_list": [
            field("sys00-reportManagerId", "直属主管id", "boss"),
            field("sys02-sexType", "性别", "男"),
            field("sys01-employeeType", "员工类型", "全职"),
            field("sys00-confirmJoinTime", "入职时间", "2021-03-02"),
            field("0a1b-custom", "成本中心", "CC-02"),
        ]}))
        .unwrap();
        raw.roster.insert(userid, entry);
        let directory = directory(raw);
        assert!(directory.problems.is_empty() && directory.held.is_empty());
        let a = &directory.users[&UserKey::new("a")];
        assert_eq!(a.email.as_deref(), Some("a@corp.example.cn"), "unchanged");
        assert_eq!(a.manager, Some(UserKey::new("boss")));
        let a = &a.profile;
        assert_eq!(
            a.get(ProfileField::EnterpriseEmail),
            Some("a@corp.example.cn")
        );
        assert_eq!(a.get(ProfileField::WorkPlace), Some("杭州"));
        assert_eq!(a.get(ProfileField::Gender), Some("male"));
        assert_eq!(a.get(ProfileField::EmployeeType), Some("regular"));
        // The record says 2021-03-01, the roster 2021-03-02: the roster wins.
        assert_eq!(a.get(ProfileField::HireDate), Some("2021-03-02"));
        assert_eq!(a.custom("工位"), Some("A-12"));
        assert_eq!(a.custom("成本中心"), Some("CC-02"));
        let b = &directory.users[&UserKey::new("b")];
        assert_eq!(b.profile.get(ProfileField::Telephone), Some("8001"));
        assert_eq!(b.profile.custom_names().count(), 0);
    }
}
