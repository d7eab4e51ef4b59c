//! Bitrix24 wire types → the platform-neutral model, reporting what cannot be trusted.
//!
//! Bitrix24 has no manager field: the manager is derived from the department heads the way
//! Bitrix24's own intranet code does (`CIntranetUtils::GetDepartmentManager`), see [`manager`].

use super::wire;
use crate::model::{Department, DepartmentId, Directory, Problem, Status, User, UserKey};
use crate::pullers::profile::Unreadable;
use crate::pullers::text::{head_keys, non_empty};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use tracing::debug;

/// Builds the directory from every department and every user `user.get` returned; `invitees`
/// are the ids of invited people who have not accepted (`user.search` by `CONFIRM_CODE`).
pub(super) fn directory(
    departments: Vec<wire::Department>,
    users: Vec<wire::User>,
    invitees: &HashSet<String>,
    include_extranet: bool,
) -> Directory {
    let mut directory = Directory::default();
    let tree = Tree::new(&departments);
    for dept in &departments {
        let Some(id) = &dept.id else { continue };
        let name = dept
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| id.clone());
        let id = DepartmentId::new(id.as_str());
        let parent = dept.parent.as_deref().map(DepartmentId::new);
        directory.departments.insert(
            id.clone(),
            Department {
                id,
                name,
                parent,
                // One head per department in Bitrix24 (`UF_HEAD`, "0" for none).
                heads: head_keys(&dept.head),
            },
        );
    }
    // An app sees the whole portal, so a parent that was not returned is broken upstream data.
    let missing: Vec<Problem> = directory
        .departments
        .values()
        .filter_map(|d| {
            let parent = d.parent.as_ref()?;
            (!directory.departments.contains_key(parent)).then(|| {
                Problem::MissingParentDepartment {
                    department: d.id.clone(),
                    parent: parent.clone(),
                }
            })
        })
        .collect();
    directory.problems.extend(missing);

    let mut unreadable = Unreadable::default();
    for user in users {
        add_user(
            &mut directory,
            &tree,
            user,
            invitees,
            include_extranet,
            &mut unreadable,
        );
    }
    directory.problems.extend(unreadable.into_problems());
    directory
}

/// Departments by id: parent and head, for the manager derivation.
struct Tree<'a> {
    departments: HashMap<&'a str, &'a wire::Department>,
}

impl<'a> Tree<'a> {
    fn new(departments: &'a [wire::Department]) -> Self {
        let mut by_id = HashMap::with_capacity(departments.len());
        for dept in departments {
            if let Some(id) = &dept.id {
                // The first record wins, as paging already refused duplicates.
                by_id.entry(id.as_str()).or_insert(dept);
            }
        }
        Tree { departments: by_id }
    }
}

/// The direct manager as Bitrix24 derives it: the head (`UF_HEAD`) of the person's department,
/// climbing to the parent department while the person is that head or there is none. Only the
/// first of the person's departments that exists counts (the model has one manager; Bitrix24
/// would also report heads of the other departments). The head's activity is not checked, as in
/// Bitrix24: an inactive head is still the manager, and the planner's scope rule decides.
fn manager(tree: &Tree<'_>, user_id: &str, departments: &[String]) -> Option<String> {
    let mut current = departments
        .iter()
        .find(|d| tree.departments.contains_key(d.as_str()))?
        .as_str();
    let mut seen = HashSet::new();
    loop {
        // A parent cycle in upstream data must not loop forever.
        if !seen.insert(current) {
            return None;
        }
        let dept = tree.departments.get(current)?;
        if let Some(head) = &dept.head
            && head != user_id
        {
            return Some(head.clone());
        }
        current = dept.parent.as_deref()?;
    }
}

fn add_user(
    directory: &mut Directory,
    tree: &Tree<'_>,
    user: wire::User,
    invitees: &HashSet<String>,
    include_extranet: bool,
    unreadable: &mut Unreadable,
) {
    let Some(id) = user.id.clone() else {
        let department = user.departments.first().cloned().unwrap_or_default();
        directory.problems.push(Problem::EmptyUserId {
            department: DepartmentId::new(department),
        });
        return;
    };
    match user.user_type.as_deref() {
        None | Some("employee") => {}
        Some("extranet") if include_extranet => {}
        Some(other) => {
            debug!(user = %id, user_type = other, "Skipped a Bitrix24 user of a type not synced.");
            return;
        }
    }
    let key = UserKey::new(id.as_str());
    let status = match status(user.active.as_ref()) {
        // Invited and not accepted: `ACTIVE` is true until then. A dismissed invitee stays
        // dismissed.
        Ok(Status::Active) if invitees.contains(&id) => Status::NotActivated,
        Ok(status) => status,
        Err(raw) => {
            directory.problems.push(Problem::UnknownStatus {
                user: key.clone(),
                raw,
            });
            directory.held.insert(key);
            return;
        }
    };
    let name = [user.name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        directory.problems.push(Problem::MissingField {
            user: key.clone(),
            field: "NAME".into(),
        });
        directory.held.insert(key);
        return;
    }
    let manager = manager(tree, &id, &user.departments).map(UserKey::new);
    let profile = super::profile::profile(&user, &key, unreadable);
    let mut departments: Vec<DepartmentId> = Vec::with_capacity(user.departments.len());
    for dept in user.departments {
        let dept = DepartmentId::new(dept);
        if !departments.contains(&dept) {
            departments.push(dept);
        }
    }
    directory.insert_user(User {
        key,
        display_name: name.into(),
        email: non_empty(user.email),
        mobile: non_empty(user.personal_mobile),
        title: non_empty(user.work_position),
        employee_no: None,
        departments,
        status,
        manager,
        profile,
    });
}

/// `ACTIVE`: true is an active employee (or an invitee, told apart by the caller); false is a
/// dismissed one (Bitrix24 has no separate "blocked" state). Events send `"Y"`/`"N"`. Anything else is
/// reported and the person held, never guessed.
fn status(raw: Option<&Value>) -> Result<Status, String> {
    let active = match raw {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_uppercase().as_str() {
            "Y" | "TRUE" | "1" => Some(true),
            "N" | "FALSE" | "0" => Some(false),
            _ => None,
        },
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    };
    match active {
        Some(true) => Ok(Status::Active),
        Some(false) => Ok(Status::Resigned),
        None => Err(raw.map_or_else(|| "missing".to_owned(), Value::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProfileField;
    use serde_json::json;

    fn departments(rows: Value) -> Vec<wire::Department> {
        serde_json::from_value(rows).unwrap()
    }

    fn users(rows: Value) -> Vec<wire::User> {
        serde_json::from_value(rows).unwrap()
    }

    /// The notes' example tree: 1 (head 3) ─ 5 (head 12) ─ 9 (head 17), 5 ─ 11 (no head).
    fn tree() -> Vec<wire::Department> {
        departments(json!([
            {"ID": "1", "NAME": "Northwind Ltd", "SORT": 500, "UF_HEAD": "3"},
            {"ID": "5", "NAME": "Engineering", "PARENT": "1", "UF_HEAD": "12"},
            {"ID": "9", "NAME": "Platform", "PARENT": "5", "UF_HEAD": "17"},
            {"ID": "11", "NAME": "QA", "PARENT": "5"}
        ]))
    }

    fn manager_of(directory: &Directory, id: &str) -> Option<String> {
        directory.users[&UserKey::new(id)]
            .manager
            .as_ref()
            .map(|m| m.to_string())
    }

    #[test]
    fn managers_follow_department_heads_up_the_tree() {
        let directory = directory(
            tree(),
            users(json!([
                {"ID": "3", "ACTIVE": true, "NAME": "Chief", "UF_DEPARTMENT": [1]},
                {"ID": "12", "ACTIVE": true, "NAME": "Eng", "LAST_NAME": "Head", "UF_DEPARTMENT": [5]},
                {"ID": "17", "ACTIVE": true, "NAME": "Anna", "LAST_NAME": "Berger", "UF_DEPARTMENT": [9, 5]},
                {"ID": "20", "ACTIVE": true, "NAME": "Quinn", "UF_DEPARTMENT": [11]},
                {"ID": "21", "ACTIVE": true, "NAME": "Pat", "UF_DEPARTMENT": ["9"]},
                {"ID": "22", "ACTIVE": true, "NAME": "Lost", "UF_DEPARTMENT": [404, 9]},
                {"ID": "23", "ACTIVE": true, "NAME": "Nowhere", "UF_DEPARTMENT": [404]}
            ])),
            &HashSet::new(),
            false,
        );
        assert_eq!(manager_of(&directory, "3"), None, "heads the root");
        assert_eq!(manager_of(&directory, "12").as_deref(), Some("3"));
        assert_eq!(manager_of(&directory, "17").as_deref(), Some("12"));
        assert_eq!(
            manager_of(&directory, "20").as_deref(),
            Some("12"),
            "no head"
        );
        assert_eq!(manager_of(&directory, "21").as_deref(), Some("17"));
        assert_eq!(manager_of(&directory, "22").as_deref(), Some("17"));
        assert_eq!(manager_of(&directory, "23"), None);
        assert_eq!(
            directory.users[&UserKey::new("17")].display_name,
            "Anna Berger"
        );
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
    }

    #[test]
    fn parent_cycles_and_missing_parents_end_the_climb() {
        let directory = directory(
            departments(json!([
                {"ID": "2", "NAME": "A", "PARENT": "3", "UF_HEAD": "7"},
                {"ID": "3", "NAME": "B", "PARENT": "2", "UF_HEAD": "7"},
                {"ID": "4", "NAME": "", "PARENT": "99"}
            ])),
            users(json!([
                {"ID": "7", "ACTIVE": true, "NAME": "Loop", "UF_DEPARTMENT": [2]},
                {"ID": "8", "ACTIVE": true, "NAME": "Orphan", "UF_DEPARTMENT": [4]}
            ])),
            &HashSet::new(),
            false,
        );
        assert_eq!(manager_of(&directory, "7"), None);
        assert_eq!(manager_of(&directory, "8"), None);
        assert_eq!(
            directory.departments[&DepartmentId::new("4")].name,
            "4",
            "an empty name falls back to the id"
        );
        assert_eq!(
            directory.problems,
            [Problem::MissingParentDepartment {
                department: DepartmentId::new("4"),
                parent: DepartmentId::new("99"),
            }]
        );
    }

    #[test]
    fn bad_records_are_held_or_reported_never_guessed() {
        let directory = directory(
            tree(),
            users(json!([
                {"ID": "40", "ACTIVE": "maybe", "NAME": "Odd", "UF_DEPARTMENT": [9]},
                {"ID": "41", "NAME": "NoState", "UF_DEPARTMENT": [9]},
                {"ID": "42", "ACTIVE": true, "NAME": " ", "LAST_NAME": "", "UF_DEPARTMENT": [9]},
                {"ACTIVE": true, "NAME": "No id", "UF_DEPARTMENT": [9]},
                {"ID": "", "ACTIVE": true, "NAME": "Empty id"},
                {"ID": "43", "ACTIVE": "N", "NAME": "Gone", "UF_DEPARTMENT": [9]},
                {"ID": "44", "ACTIVE": 1, "NAME": "Numeric", "UF_DEPARTMENT": [9]}
            ])),
            &HashSet::new(),
            false,
        );
        let held: Vec<&str> = directory.held.iter().map(UserKey::as_str).collect();
        assert_eq!(held, ["40", "41", "42"]);
        assert_eq!(
            directory.problems,
            [
                Problem::UnknownStatus {
                    user: UserKey::new("40"),
                    raw: "\"maybe\"".into()
                },
                Problem::UnknownStatus {
                    user: UserKey::new("41"),
                    raw: "missing".into()
                },
                Problem::MissingField {
                    user: UserKey::new("42"),
                    field: "NAME".into()
                },
                Problem::EmptyUserId {
                    department: DepartmentId::new("9")
                },
                Problem::EmptyUserId {
                    department: DepartmentId::new("")
                },
            ]
        );
        let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
        assert_eq!(keys, ["43", "44"]);
        assert_eq!(
            directory.users[&UserKey::new("43")].status,
            Status::Resigned
        );
        assert_eq!(directory.users[&UserKey::new("44")].status, Status::Active);
    }

    #[test]
    fn extranet_users_only_when_asked_and_other_types_never() {
        let rows = json!([
            {"ID": "50", "ACTIVE": true, "NAME": "Guest", "UF_DEPARTMENT": false, "USER_TYPE": "extranet"},
            {"ID": "51", "ACTIVE": true, "NAME": "Mailbox", "USER_TYPE": "email"},
            {"ID": "52", "ACTIVE": true, "NAME": "Old portal", "UF_DEPARTMENT": [11]}
        ]);
        let without = directory(tree(), users(rows.clone()), &HashSet::new(), false);
        let keys: Vec<&str> = without.users.keys().map(UserKey::as_str).collect();
        assert_eq!(keys, ["52"]);
        let with = directory(tree(), users(rows), &HashSet::new(), true);
        let keys: Vec<&str> = with.users.keys().map(UserKey::as_str).collect();
        assert_eq!(keys, ["50", "52"]);
        assert_eq!(manager_of(&with, "50"), None, "no department, no manager");
        assert!(with.problems.is_empty());
    }

    #[test]
    fn invitees_are_not_activated_unless_dismissed() {
        let invitees: HashSet<String> = ["20", "43"].map(String::from).into();
        let directory = directory(
            tree(),
            users(json!([
                {"ID": "12", "ACTIVE": true, "NAME": "Eng", "UF_DEPARTMENT": [5]},
                {"ID": "20", "ACTIVE": true, "NAME": "Quinn", "UF_DEPARTMENT": [11]},
                {"ID": "43", "ACTIVE": false, "NAME": "Gone", "UF_DEPARTMENT": [9]}
            ])),
            &invitees,
            false,
        );
        let status = |id: &str| directory.users[&UserKey::new(id)].status;
        assert_eq!(status("12"), Status::Active);
        assert_eq!(status("20"), Status::NotActivated);
        assert_eq!(status("43"), Status::Resigned);
        assert_eq!(manager_of(&directory, "20").as_deref(), Some("12"));
    }

    /// `tests/samples/bitrix24-user-get.json`: the documentation's `user.get` answer, read by the
    /// puller's own paging and wire code (`TIMESTAMP_X: {}`, absent fields and all).
    #[test]
    fn the_documented_user_get_sample() {
        use super::super::client::Answer;
        use super::super::pages::Listing;
        use serde_json::value::RawValue;

        #[derive(serde::Deserialize)]
        struct Body {
            result: Box<RawValue>,
            total: Option<u64>,
            next: Option<u64>,
        }
        let text = include_str!("../../../tests/samples/bitrix24-user-get.json");
        super::super::client::check_head("user.get", reqwest::StatusCode::OK, text.as_bytes())
            .unwrap();
        let body: Body = serde_json::from_str(text).unwrap();
        let answer = Answer {
            result: body.result,
            total: body.total,
            next: body.next,
        };
        let (listing, more) = Listing::<wire::User>::first("user.get", answer).unwrap();
        assert!(more.is_empty(), "one page: total 2, no next");
        let rows = listing.finish().unwrap();
        let departments = departments(json!([{"ID": "1", "NAME": "Company", "UF_HEAD": "1"}]));
        for invitees in [HashSet::new(), HashSet::from(["3".to_owned()])] {
            let directory = directory(
                departments_clone(&departments),
                clone_users(&rows),
                &invitees,
                false,
            );
            assert!(directory.problems.is_empty(), "{:?}", directory.problems);
            let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
            assert_eq!(keys, ["1", "3"]);
            let vadim = &directory.users[&UserKey::new("1")];
            assert_eq!(vadim.display_name, "Vadim Valeev");
            assert_eq!(vadim.email.as_deref(), Some("v.r.valeev@bitrix.com"));
            assert_eq!(vadim.title, None, "WORK_POSITION is empty");
            assert_eq!(vadim.departments, [DepartmentId::new("1")]);
            assert_eq!(vadim.status, Status::Active);
            assert_eq!(vadim.manager, None, "heads department 1");
            assert!(
                vadim.profile.is_empty(),
                "every profile field of the sample is empty: {:?}",
                vadim.profile
            );
            let john = &directory.users[&UserKey::new("3")];
            assert!(john.profile.is_empty(), "{:?}", john.profile);
            assert_eq!(john.display_name, "John Doe");
            assert_eq!(john.email.as_deref(), Some("test@gmail.com"));
            assert_eq!(john.mobile, None);
            assert_eq!(john.manager.as_ref().map(UserKey::as_str), Some("1"));
            let expected = if invitees.is_empty() {
                Status::Active
            } else {
                Status::NotActivated
            };
            assert_eq!(john.status, expected);
        }
    }

    fn departments_clone(rows: &[wire::Department]) -> Vec<wire::Department> {
        rows.iter()
            .map(|d| wire::Department {
                id: d.id.clone(),
                name: d.name.clone(),
                parent: d.parent.clone(),
                head: d.head.clone(),
            })
            .collect()
    }

    fn clone_users(rows: &[wire::User]) -> Vec<wire::User> {
        rows.to_vec()
    }

    #[test]
    fn uf_head_is_the_departments_one_head() {
        let directory = directory(
            departments(json!([
                {"ID": "1", "NAME": "Company", "UF_HEAD": "3"},
                {"ID": "5", "NAME": "Engineering", "PARENT": "1", "UF_HEAD": 12},
                {"ID": "9", "NAME": "Platform", "PARENT": "5", "UF_HEAD": "0"},
                {"ID": "11", "NAME": "QA", "PARENT": "5", "UF_HEAD": ""},
                {"ID": "13", "NAME": "Ops", "PARENT": "5", "UF_HEAD": "9999"},
                {"ID": "15", "NAME": "Legal", "PARENT": "1", "UF_HEAD": null}
            ])),
            Vec::new(),
            &HashSet::new(),
            false,
        );
        let heads = |id: &str| -> Vec<String> {
            directory.departments[&DepartmentId::new(id)]
                .heads
                .iter()
                .map(|k| k.to_string())
                .collect()
        };
        assert_eq!(heads("1"), ["3"]);
        assert_eq!(heads("5"), ["12"], "a number is an id too");
        assert_eq!(
            heads("13"),
            ["9999"],
            "an id nobody holds is kept: the planner decides"
        );
        for none in ["9", "11", "15"] {
            assert!(heads(none).is_empty(), "department {none}");
        }
    }

    fn one(row: Value) -> Directory {
        directory(tree(), users(json!([row])), &HashSet::new(), false)
    }

    #[test]
    fn standard_profile_fields_are_read_and_normalised() {
        let directory = one(json!({
            "ID": "17", "ACTIVE": true, "NAME": "Anna", "UF_DEPARTMENT": [9],
            "PERSONAL_GENDER": "F", "WORK_PHONE": " +49 30 1234 ", "WORK_CITY": "Berlin",
            "PERSONAL_PHOTO": "/upload/main/80c/anna.jpg",
            // Midnight in Moscow is the day before in UTC: the portal's date is kept.
            "UF_EMPLOYMENT_DATE": "2023-01-09T00:00:00+03:00",
        }));
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
        let profile = &directory.users[&UserKey::new("17")].profile;
        assert_eq!(profile.get(ProfileField::Gender), Some("female"));
        assert_eq!(profile.get(ProfileField::Telephone), Some("+49 30 1234"));
        assert_eq!(profile.get(ProfileField::WorkPlace), Some("Berlin"));
        assert_eq!(profile.get(ProfileField::HireDate), Some("2023-01-09"));
        assert_eq!(
            profile.get(ProfileField::Avatar),
            Some("/upload/main/80c/anna.jpg"),
            "made absolute by the puller, which knows the portal"
        );
        assert_eq!(
            profile.custom("UF_DEPARTMENT"),
            None,
            "structure, not custom"
        );
        assert_eq!(
            profile.custom("UF_EMPLOYMENT_DATE"),
            None,
            "read as hire_date"
        );
        let male = one(json!({"ID": "3", "ACTIVE": true, "NAME": "Max",
                              "PERSONAL_GENDER": "M", "UF_EMPLOYMENT_DATE": "09.01.2023"}));
        let profile = &male.users[&UserKey::new("3")].profile;
        assert_eq!(profile.get(ProfileField::Gender), Some("male"));
        assert_eq!(profile.get(ProfileField::HireDate), Some("2023-01-09"));
    }

    #[test]
    fn uf_fields_are_custom_fields_by_name() {
        let directory = one(json!({
            "ID": "17", "ACTIVE": true, "NAME": "Anna", "UF_DEPARTMENT": [9],
            "UF_SKYPE_LINK": "skype:anna", "UF_USR_COST_CENTER": " CC-01 ",
            "UF_USR_LEVEL": 6, "UF_USR_REMOTE": true, "UF_USR_OFFICE_DAYS": false,
            "UF_USR_LANGUAGES": ["de", "en", ""], "UF_USR_NOTHING": [],
            "UF_PHONE_INNER": "", "UF_SKILLS": null, "TIMESTAMP_X": {"not": "a UF field"},
        }));
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
        let profile = &directory.users[&UserKey::new("17")].profile;
        for (name, value) in [
            ("UF_SKYPE_LINK", "skype:anna"),
            ("UF_USR_COST_CENTER", "CC-01"),
            ("UF_USR_LEVEL", "6"),
            ("UF_USR_REMOTE", "true"),
            ("UF_USR_LANGUAGES", "de, en"),
        ] {
            assert_eq!(profile.custom(name), Some(value), "{name}");
        }
        let mut names: Vec<&str> = profile.custom_names().collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "UF_SKYPE_LINK",
                "UF_USR_COST_CENTER",
                "UF_USR_LANGUAGES",
                "UF_USR_LEVEL",
                "UF_USR_REMOTE"
            ],
            "false, empty lists, empty text and null are no value"
        );
    }

    #[test]
    fn unreadable_values_are_left_out_and_reported_once_per_field() {
        let odd = |id: &str| {
            json!({"ID": id, "ACTIVE": true, "NAME": "Odd", "UF_DEPARTMENT": [9],
                   "UF_USR_CV": {"id": 774, "showUrl": "/bitrix/services/main/ajax.php"},
                   "UF_USR_OK": "fine", "PERSONAL_GENDER": "X",
                   "UF_EMPLOYMENT_DATE": "someday", "PERSONAL_PHOTO": "774"})
        };
        let directory = directory(
            tree(),
            users(json!([odd("20"), odd("21")])),
            &HashSet::new(),
            false,
        );
        assert_eq!(
            directory.users.len(),
            2,
            "nobody is held for a profile value"
        );
        let profile = &directory.users[&UserKey::new("20")].profile;
        assert_eq!(profile.custom("UF_USR_OK"), Some("fine"));
        assert_eq!(profile.custom("UF_USR_CV"), None);
        assert_eq!(profile.get(ProfileField::Gender), None);
        let fields: Vec<(String, u64, String)> = directory
            .problems
            .iter()
            .map(|p| match p {
                Problem::UnreadableField {
                    field,
                    people,
                    example,
                } => (field.clone(), *people, example.to_string()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let expected = ["avatar", "custom.UF_USR_CV", "gender", "hire_date"]
            .map(|f| (f.to_owned(), 2, "20".to_owned()));
        assert_eq!(fields, expected);
    }
}
