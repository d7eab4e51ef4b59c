//! Feishu wire types → the platform-neutral model, reporting what cannot be trusted.

use super::config::{DepartmentIdType, UserIdType};
use super::wire;
use crate::model::{Department, DepartmentId, Directory, Problem, Scope, Status, User, UserKey};
use crate::pullers::profile::Unreadable;
use crate::pullers::text::{head_keys, non_empty};
use serde_json::Value;
use std::collections::BTreeSet;
use tracing::warn;

/// The root department's id in either id scheme.
pub(super) const ROOT: &str = "0";

/// Everything one pull read, in the order it was read.
pub(super) struct Read {
    /// The granted departments and people; `["0"]` for a whole-tenant scope.
    pub scope: Scope,
    pub departments: Vec<wire::Department>,
    /// Direct members per department id (`"0"` for people right under the root).
    pub members: Vec<(String, Vec<wire::User>)>,
    /// People granted one by one who sit in no granted department.
    pub individuals: Vec<wire::User>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct IdTypes {
    pub user: UserIdType,
    pub department: DepartmentIdType,
}

pub(super) fn directory(read: Read, ids: IdTypes) -> Directory {
    let mut directory = Directory {
        scope: read.scope,
        ..Directory::default()
    };
    for dept in read.departments {
        add_department(&mut directory, dept, ids.department);
    }
    report_missing_parents(&mut directory);
    let mut unreadable = Unreadable::default();
    for (department, users) in read.members {
        for user in users {
            add_user(&mut directory, user, &department, ids.user, &mut unreadable);
        }
    }
    for user in read.individuals {
        add_user(&mut directory, user, "", ids.user, &mut unreadable);
    }
    directory.problems.extend(unreadable.into_problems());
    directory
}

fn add_department(directory: &mut Directory, dept: wire::Department, kind: DepartmentIdType) {
    if dept.is_deleted() {
        return;
    }
    let Some(id) = dept.id(kind) else {
        // The model has no problem kind for this and a department only names people's main
        // department, so it is skipped and logged rather than failing the pull.
        warn!(
            name = dept.name.as_deref().unwrap_or(""),
            field = kind.as_str(),
            "A Feishu department came without its id and was skipped."
        );
        return;
    };
    let id = DepartmentId::new(id);
    let parent = dept
        .parent_department_id
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && p != ROOT)
        .map(DepartmentId::new);
    let name = non_empty(dept.name).map_or_else(|| id.to_string(), String::from);
    // The main head first, then the others `leaders` lists (deputies), each once.
    let heads = head_keys(
        dept.leader_user_id
            .iter()
            .chain(dept.leaders.iter().filter_map(|l| l.leader_id.as_ref())),
    );
    directory
        .departments
        .entry(id.clone())
        .or_insert(Department {
            id,
            name,
            parent,
            heads,
        });
}

/// The top of a partial scope has an unreadable parent: that is normal. Any other department
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

fn add_user(
    directory: &mut Directory,
    user: wire::User,
    listed_under: &str,
    kind: UserIdType,
    unreadable: &mut Unreadable,
) {
    let Some(key) = user.key(kind).map(UserKey::new) else {
        directory.problems.push(Problem::EmptyUserId {
            department: DepartmentId::new(listed_under),
        });
        return;
    };
    if directory.held.contains(&key) {
        // Listed again under another department; the problem was reported the first time.
        return;
    }
    let status = match status(user.status.as_ref()) {
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
    // A person listed under several departments is read once; the first record's profile stays.
    let profile = if directory.users.contains_key(&key) {
        Default::default()
    } else {
        super::profile::profile(&user, &key, unreadable)
    };
    let Some(name) = non_empty(user.name) else {
        directory.problems.push(Problem::MissingField {
            user: key.clone(),
            field: "name".into(),
        });
        directory.held.insert(key);
        return;
    };
    let mut departments: Vec<DepartmentId> = Vec::new();
    let primary = user
        .orders
        .iter()
        .filter(|o| o.is_primary_dept == Some(true))
        .filter_map(|o| o.department_id.as_deref());
    for dept in primary.chain(user.department_ids.iter().map(String::as_str)) {
        let dept = DepartmentId::new(dept.trim());
        if !dept.as_str().is_empty() && !departments.contains(&dept) {
            departments.push(dept);
        }
    }
    directory.insert_user(User {
        key,
        display_name: name,
        // `email` is the address the admin set; `enterprise_email` exists only with Feishu Mail.
        email: non_empty(user.email).or_else(|| non_empty(user.enterprise_email)),
        mobile: non_empty(user.mobile),
        title: non_empty(user.job_title),
        employee_no: non_empty(user.employee_no),
        departments,
        status,
        // Reported as Feishu gives it, even when that person is outside the scope: the planner
        // decides whether the link can be synced.
        manager: non_empty(user.leader_user_id).map(UserKey::new),
        profile,
    })
}

/// The five flags → one status. Precedence, first match wins:
///
/// 1. `is_resigned` or `is_exited` → resigned (an exited person becomes resigned after a while);
/// 2. `is_frozen` → disabled;
/// 3. `is_activated` and `is_unjoin` both true → contradictory, unknown;
/// 4. `is_activated` true → active;
/// 5. `is_activated` false, or `is_unjoin` true → not activated.
///
/// A missing status, a flag that is not a boolean, or no `is_activated` and no other decisive flag
/// is unknown: the person is held and reported, never guessed.
fn status(raw: Option<&Value>) -> Result<Status, String> {
    let unknown = || raw.map_or_else(|| "missing".to_owned(), Value::to_string);
    let Some(Value::Object(flags)) = raw else {
        return Err(unknown());
    };
    let flag = |name: &str| match flags.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(()),
    };
    let read = || -> Result<[Option<bool>; 5], ()> {
        Ok([
            flag("is_resigned")?,
            flag("is_exited")?,
            flag("is_frozen")?,
            flag("is_activated")?,
            flag("is_unjoin")?,
        ])
    };
    let [resigned, exited, frozen, activated, unjoin] = read().map_err(|()| unknown())?;
    let yes = |f: Option<bool>| f == Some(true);
    if yes(resigned) || yes(exited) {
        Ok(Status::Resigned)
    } else if yes(frozen) {
        Ok(Status::Disabled)
    } else if yes(activated) && yes(unjoin) {
        Err(unknown())
    } else if yes(activated) {
        Ok(Status::Active)
    } else if activated == Some(false) || yes(unjoin) {
        Ok(Status::NotActivated)
    } else {
        Err(unknown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProfileField;
    use crate::pullers::feishu::wire::Lenient;
    use serde_json::json;

    const IDS: IdTypes = IdTypes {
        user: UserIdType::UserId,
        department: DepartmentIdType::OpenDepartmentId,
    };

    fn user(value: Value) -> wire::User {
        wire::User::from_value(value)
    }

    fn active() -> Value {
        json!({"is_frozen": false, "is_resigned": false, "is_activated": true,
               "is_exited": false, "is_unjoin": false})
    }

    fn pull(members: Vec<Value>) -> Directory {
        directory(
            Read {
                scope: Scope::default(),
                departments: Vec::new(),
                members: vec![("od-1".into(), members.into_iter().map(user).collect())],
                individuals: Vec::new(),
            },
            IDS,
        )
    }

    #[test]
    fn status_precedence() {
        let case = |flags: Value| status(Some(&flags));
        assert_eq!(case(active()), Ok(Status::Active));
        assert_eq!(
            case(json!({"is_resigned": true, "is_frozen": true, "is_activated": true})),
            Ok(Status::Resigned)
        );
        assert_eq!(
            case(json!({"is_exited": true, "is_activated": true})),
            Ok(Status::Resigned)
        );
        assert_eq!(
            case(json!({"is_frozen": true, "is_activated": true})),
            Ok(Status::Disabled)
        );
        assert_eq!(
            case(json!({"is_activated": false, "is_unjoin": false})),
            Ok(Status::NotActivated)
        );
        assert_eq!(case(json!({"is_unjoin": true})), Ok(Status::NotActivated));
    }

    #[test]
    fn unknown_status_combinations_are_refused() {
        for bad in [
            json!({"is_activated": true, "is_unjoin": true}),
            json!({"is_frozen": false}),
            json!({}),
            json!({"is_activated": "yes"}),
            json!({"is_activated": 1}),
            json!([true]),
            json!("active"),
        ] {
            assert!(status(Some(&bad)).is_err(), "{bad} must be unknown");
        }
        assert_eq!(status(None), Err("missing".into()));
    }

    #[test]
    fn unknown_status_or_missing_name_holds_the_person() {
        let directory = pull(vec![
            json!({"user_id": "odd", "name": "奇怪", "status": {"is_activated": true, "is_unjoin": true}}),
            json!({"user_id": "nameless", "name": "  ", "status": active()}),
            json!({"user_id": "nostatus", "name": "无状态"}),
            json!({"user_id": "ok", "name": "好", "status": active()}),
        ]);
        let held: Vec<&str> = directory.held.iter().map(UserKey::as_str).collect();
        assert_eq!(held, ["nameless", "nostatus", "odd"]);
        assert_eq!(directory.users.keys().next().unwrap().as_str(), "ok");
        assert_eq!(directory.users.len(), 1);
        assert!(directory.problems.contains(&Problem::MissingField {
            user: UserKey::new("nameless"),
            field: "name".into()
        }));
        assert!(directory.problems.contains(&Problem::UnknownStatus {
            user: UserKey::new("nostatus"),
            raw: "missing".into()
        }));
    }

    #[test]
    fn empty_or_missing_ids_are_reported_not_synced() {
        let directory = pull(vec![
            json!({"user_id": "", "open_id": "ou_1", "name": "甲", "status": active()}),
            json!({"open_id": "ou_2", "name": "乙", "status": active()}),
            json!({"user_id": null, "name": "丙", "status": active()}),
            json!(42),
            json!(null),
        ]);
        assert!(directory.users.is_empty());
        assert_eq!(
            directory.problems,
            vec![
                Problem::EmptyUserId {
                    department: DepartmentId::new("od-1")
                };
                5
            ]
        );
    }

    #[test]
    fn ids_as_numbers_or_strings() {
        let directory = pull(vec![json!({
            "user_id": 1001, "name": "数字", "status": active(),
            "leader_user_id": 7, "department_ids": [3, "od-9"], "employee_no": 42,
        })]);
        let person = &directory.users[&UserKey::new("1001")];
        assert_eq!(person.manager, Some(UserKey::new("7")));
        assert_eq!(person.employee_no.as_deref(), Some("42"));
        assert_eq!(
            person.departments,
            [DepartmentId::new("3"), DepartmentId::new("od-9")]
        );
    }

    #[test]
    fn surprising_shapes_read_as_absent() {
        let directory = pull(vec![json!({
            "user_id": "lin", "name": "林晓", "status": active(),
            "email": {"primary": "x"}, "enterprise_email": "lin@corp.example.cn",
            "mobile": ["+86"], "job_title": null, "leader_user_id": "",
            "department_ids": "od-5", "orders": {"not": "a list"},
            "custom_attrs": [{"type": "TEXT"}], "unexpected": {"nested": [1, 2]},
        })]);
        let person = &directory.users[&UserKey::new("lin")];
        assert_eq!(person.email.as_deref(), Some("lin@corp.example.cn"));
        assert_eq!(person.mobile, None);
        assert_eq!(person.title, None);
        assert_eq!(person.manager, None, "an empty leader id is no manager");
        assert_eq!(person.departments, [DepartmentId::new("od-5")]);
    }

    #[test]
    fn primary_department_comes_first_and_manager_is_kept_as_is() {
        let directory = pull(vec![json!({
            "user_id": "lin", "name": "林晓", "status": active(),
            "leader_user_id": "outside-the-scope",
            "department_ids": ["od-2", "od-3"],
            "orders": [{"department_id": "od-2", "is_primary_dept": false},
                       {"department_id": "od-3", "is_primary_dept": true}],
        })]);
        let person = &directory.users[&UserKey::new("lin")];
        assert_eq!(
            person.departments,
            [DepartmentId::new("od-3"), DepartmentId::new("od-2")]
        );
        assert_eq!(person.manager, Some(UserKey::new("outside-the-scope")));
    }

    #[test]
    fn id_type_picks_the_key_field() {
        let record = json!({"user_id": "lin", "open_id": "ou_lin", "union_id": "on_lin",
                            "name": "林晓", "status": active()});
        for (kind, expected) in [
            (UserIdType::UserId, "lin"),
            (UserIdType::OpenId, "ou_lin"),
            (UserIdType::UnionId, "on_lin"),
        ] {
            let directory = directory(
                Read {
                    scope: Scope::default(),
                    departments: Vec::new(),
                    members: vec![("0".into(), vec![user(record.clone())])],
                    individuals: Vec::new(),
                },
                IdTypes {
                    user: kind,
                    department: DepartmentIdType::DepartmentId,
                },
            );
            assert!(directory.users.contains_key(&UserKey::new(expected)));
        }
    }

    #[test]
    fn departments_root_parents_deleted_and_orphans() {
        let dept = |value: Value| wire::Department::from_value(value);
        let directory = directory(
            Read {
                scope: Scope {
                    departments: vec![DepartmentId::new("od-top")],
                    users: Vec::new(),
                },
                departments: vec![
                    dept(
                        json!({"open_department_id": "od-top", "parent_department_id": "od-hidden", "name": "研发"}),
                    ),
                    dept(
                        json!({"open_department_id": "od-a", "parent_department_id": "0", "name": ""}),
                    ),
                    dept(
                        json!({"open_department_id": "od-b", "parent_department_id": "od-gone", "name": "B"}),
                    ),
                    dept(json!({"open_department_id": "od-del", "status": {"is_deleted": true}})),
                    dept(json!({"department_id": "only-custom", "name": "wrong scheme"})),
                    dept(json!("not an object")),
                ],
                members: Vec::new(),
                individuals: Vec::new(),
            },
            IDS,
        );
        let ids: Vec<&str> = directory.departments.keys().map(|d| d.as_str()).collect();
        assert_eq!(ids, ["od-a", "od-b", "od-top"]);
        assert_eq!(
            directory.departments[&DepartmentId::new("od-a")].parent,
            None
        );
        assert_eq!(
            directory.departments[&DepartmentId::new("od-a")].name,
            "od-a"
        );
        assert_eq!(
            directory.problems,
            [Problem::MissingParentDepartment {
                department: DepartmentId::new("od-b"),
                parent: DepartmentId::new("od-gone"),
            }],
            "the scope root's missing parent is expected; od-b's is not"
        );
    }

    #[test]
    fn a_person_in_two_departments_is_merged() {
        let record = json!({"user_id": "lin", "name": "林晓", "status": active(),
                            "department_ids": ["od-1", "od-2"]});
        let directory = directory(
            Read {
                scope: Scope::default(),
                departments: Vec::new(),
                members: vec![
                    ("od-1".into(), vec![user(record.clone())]),
                    ("od-2".into(), vec![user(record)]),
                ],
                individuals: Vec::new(),
            },
            IDS,
        );
        assert_eq!(directory.users.len(), 1);
        assert!(directory.problems.is_empty());
    }

    /// `tests/samples/feishu-find-by-department.json`: the documented answer, read by the
    /// puller's own envelope, page and record types, then converted under both id schemes.
    #[test]
    fn the_documented_find_by_department_sample() {
        let text = include_str!("../../../tests/samples/feishu-find-by-department.json");
        let head: wire::Head = serde_json::from_str(text).unwrap();
        assert_eq!(head.code, Some(0));
        let envelope: wire::Envelope<wire::Page<wire::Items<wire::User>>> =
            serde_json::from_str(text).unwrap();
        let page = envelope.data.unwrap();
        assert_eq!(
            page.has_more,
            Some(false),
            "a token may come with has_more false"
        );
        let department = "od-4e6ac4d14bcd5071a37a39de902c7141";
        let read = |users| Read {
            scope: Scope::default(),
            departments: Vec::new(),
            members: vec![(department.to_owned(), users)],
            individuals: Vec::new(),
        };
        let open_ids = IdTypes {
            user: UserIdType::OpenId,
            department: DepartmentIdType::OpenDepartmentId,
        };
        let open_id = "ou_7dab8a3d3cdcc9da365777c7ad535d62";
        let directory = directory(read(page.body.items), open_ids);
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
        assert!(directory.held.is_empty());
        let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
        assert_eq!(keys, [open_id]);
        let john = &directory.users[&UserKey::new(open_id)];
        assert_eq!(john.display_name, "John");
        assert_eq!(john.email.as_deref(), Some("zhangsan@gmail.com"));
        assert_eq!(john.mobile.as_deref(), Some("+41446681800"));
        assert_eq!(john.title.as_deref(), Some("xxxxx"));
        assert_eq!(john.employee_no.as_deref(), Some("1"));
        assert_eq!(john.departments, [DepartmentId::new(department)]);
        assert_eq!(john.status, Status::Active);
        // The documented example names the person as their own leader. It is kept as Feishu
        // gives it; the planner never links anyone to themselves (checked below).
        assert_eq!(john.manager, Some(UserKey::new(open_id)));
        let profile = &john.profile;
        assert_eq!(profile.get(ProfileField::EnglishName), Some("San Zhang"));
        assert_eq!(
            profile.get(ProfileField::EnterpriseEmail),
            Some("demo@mail.com")
        );
        assert_eq!(profile.get(ProfileField::Gender), Some("male"));
        assert_eq!(profile.get(ProfileField::EmployeeType), Some("regular"));
        assert_eq!(profile.get(ProfileField::WorkPlace), Some("Hangzhou"));
        // 2147483647 is 2038-01-19 03:14:07 UTC, 11:14 in China.
        assert_eq!(profile.get(ProfileField::HireDate), Some("2038-01-19"));
        assert_eq!(
            profile.get(ProfileField::Avatar),
            Some("https://foo.icon.com/xxxx")
        );
        assert_eq!(
            profile.get(ProfileField::Telephone),
            None,
            "Feishu has none"
        );
        assert_eq!(profile.custom("DemoId"), Some("DemoText"), "a TEXT field");
        assert_eq!(profile.custom_names().count(), 1);
        let plan = crate::plan::plan(
            &crate::snapshot::Snapshot::default(),
            &directory,
            &crate::plan::Policy::default(),
            jiff::Timestamp::now(),
        );
        assert!(
            !plan.steps.iter().any(|step| matches!(
                step,
                crate::plan::Step::SetManager { user, manager, .. } if user == manager
            )),
            "{:?}",
            plan.steps
        );

        // Keyed by `user_id`, the tenant-wide id, the same record and its manager by open id.
        let envelope: wire::Envelope<wire::Page<wire::Items<wire::User>>> =
            serde_json::from_str(text).unwrap();
        let users = envelope.data.unwrap().body.items;
        let by_user_id = super::directory(read(users), IDS);
        let keys: Vec<&str> = by_user_id.users.keys().map(UserKey::as_str).collect();
        assert_eq!(keys, ["3e3cf96b"]);
    }

    #[test]
    fn department_heads_main_leader_first_then_the_other_leaders() {
        let heads = |fields: Value| {
            let mut dept =
                json!({"open_department_id": "od-a", "parent_department_id": "0", "name": "A"});
            for (k, v) in fields.as_object().unwrap() {
                dept[k] = v.clone();
            }
            let directory = directory(
                Read {
                    scope: Scope::default(),
                    departments: vec![wire::Department::from_value(dept)],
                    members: Vec::new(),
                    individuals: Vec::new(),
                },
                IDS,
            );
            directory.departments[&DepartmentId::new("od-a")]
                .heads
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            heads(json!({"leader_user_id": "u_main", "leaders": [
                {"leaderType": 1, "leaderID": "u_main"}, {"leaderType": 2, "leaderID": "u_deputy"}]})),
            ["u_main", "u_deputy"]
        );
        // Without `leaders` (older answers), the main leader alone; unknown ids are kept.
        assert_eq!(heads(json!({"leader_user_id": "u_unknown"})), ["u_unknown"]);
        assert_eq!(heads(json!({"leader_user_id": 7})), ["7"]);
        // Blank, 0 and odd shapes are no head, and never cost the department.
        for odd in [
            json!({"leader_user_id": ""}),
            json!({"leader_user_id": "0"}),
            json!({"leader_user_id": null, "leaders": "x"}),
            json!({"leader_user_id": {}, "leaders": [{"leaderID": ""}, 3, null]}),
            json!({}),
        ] {
            assert!(heads(odd.clone()).is_empty(), "{odd}");
        }
    }

    fn profile_of(fields: Value) -> crate::model::Profile {
        let mut record = json!({"user_id": "lin", "name": "林晓", "status": active()});
        for (k, v) in fields.as_object().unwrap() {
            record[k] = v.clone();
        }
        let directory = pull(vec![record]);
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
        directory.users[&UserKey::new("lin")].profile.clone()
    }

    #[test]
    fn standard_profile_fields_are_read_and_normalised() {
        let profile = profile_of(json!({
            "email": "", "enterprise_email": " lin@corp.example.cn ", "en_name": "Xiao Lin",
            "gender": 2, "employee_type": 3, "city": "杭州",
            // 2022-12-31 16:00 UTC: already 2023-01-01 in China.
            "join_time": 1672502400,
            "avatar": {"avatar_72": "https://a/72", "avatar_640": "https://a/640"},
        }));
        assert_eq!(profile.get(ProfileField::EnglishName), Some("Xiao Lin"));
        assert_eq!(
            profile.get(ProfileField::EnterpriseEmail),
            Some("lin@corp.example.cn")
        );
        assert_eq!(profile.get(ProfileField::Gender), Some("female"));
        assert_eq!(profile.get(ProfileField::EmployeeType), Some("outsourced"));
        assert_eq!(profile.get(ProfileField::WorkPlace), Some("杭州"));
        assert_eq!(profile.get(ProfileField::HireDate), Some("2023-01-01"));
        assert_eq!(
            profile.get(ProfileField::Avatar),
            Some("https://a/640"),
            "the largest size given when there is no original"
        );
        // The role keeps its fallback to the enterprise address.
        let directory = pull(vec![
            json!({"user_id": "lin", "name": "林晓", "status": active(),
            "enterprise_email": "lin@corp.example.cn"}),
        ]);
        let lin = &directory.users[&UserKey::new("lin")];
        assert_eq!(lin.email.as_deref(), Some("lin@corp.example.cn"));
    }

    #[test]
    fn every_employee_type_and_gender_code() {
        for (code, name) in [
            (1, Some("regular")),
            (2, Some("intern")),
            (3, Some("outsourced")),
            (4, Some("contractor")),
            (5, Some("consultant")),
            (7, Some("7")),
            (0, None),
        ] {
            let profile = profile_of(json!({"employee_type": code}));
            assert_eq!(profile.get(ProfileField::EmployeeType), name, "{code}");
        }
        for (code, name) in [(1, Some("male")), (2, Some("female")), (0, None), (3, None)] {
            let profile = profile_of(json!({"gender": code}));
            assert_eq!(profile.get(ProfileField::Gender), name, "{code}");
        }
        let unset = profile_of(json!({"join_time": 0, "en_name": "", "avatar": {}}));
        assert!(unset.is_empty(), "{unset:?}");
    }

    #[test]
    fn custom_attributes_of_each_kind_by_id() {
        let profile = profile_of(json!({"custom_attrs": [
            {"type": "TEXT", "id": "C-text", "value": {"text": " CC-01 "}},
            {"type": "HREF", "id": "C-href", "value": {"text": "Wiki", "url": "https://wiki/lin",
                                                      "pc_url": "https://wiki/pc/lin"}},
            {"type": "HREF", "id": "C-pc", "value": {"text": "Wiki", "pc_url": "https://wiki/pc"}},
            {"type": "ENUMERATION", "id": "C-enum", "value": {"option_id": "opt1",
                                                             "option_value": "P6"}},
            {"type": "ENUMERATION", "id": "C-enum-id", "value": {"option_id": "opt2"}},
            {"type": "PICTURE_ENUM", "id": "C-pic", "value": {"option_id": "opt3", "name": "Gold",
                                                             "picture_url": "https://pic/3"}},
            {"type": "GENERIC_USER", "id": "C-hrbp", "value": {"generic_user": {"id": "zhou",
                                                                                "type": 1}}},
            {"type": "TEXT", "id": "C-empty", "value": {"text": ""}},
            {"type": "TEXT", "id": "C-none"},
        ]}));
        for (id, value) in [
            ("C-text", "CC-01"),
            ("C-href", "https://wiki/lin"),
            ("C-pc", "https://wiki/pc"),
            ("C-enum", "P6"),
            ("C-enum-id", "opt2"),
            ("C-pic", "Gold"),
            ("C-hrbp", "zhou"),
        ] {
            assert_eq!(profile.custom(id), Some(value), "{id}");
        }
        assert_eq!(profile.custom("C-empty"), None);
        assert_eq!(profile.custom("C-none"), None);
        assert_eq!(profile.custom_names().count(), 7);
    }

    #[test]
    fn unreadable_values_are_left_out_and_reported_once_per_field() {
        let person = |id: &str, attrs: Value, join_time: Value| {
            json!({"user_id": id, "name": id, "status": active(), "custom_attrs": attrs,
                   "join_time": join_time, "gender": "?"})
        };
        let directory = pull(vec![
            person(
                "a",
                json!([{"type": "TEXT", "id": "C-1", "value": {"text": {"nested": 1}}},
                       {"type": "TEXT", "id": "C-2", "value": {"text": "fine"}}]),
                json!("soon"),
            ),
            person(
                "b",
                json!([{"type": "TEXT", "id": "C-1", "value": ["x"]},
                       {"type": "NEW_KIND", "id": "C-3", "value": {"text": "?"}},
                       {"type": "TEXT", "value": {"text": "no id"}},
                       "not an object"]),
                json!(1672502400),
            ),
        ]);
        assert_eq!(
            directory.users.len(),
            2,
            "nobody is held for a profile value"
        );
        let a = &directory.users[&UserKey::new("a")].profile;
        assert_eq!(a.custom("C-2"), Some("fine"));
        assert_eq!(a.custom("C-1"), None);
        assert_eq!(a.get(ProfileField::HireDate), None);
        let b = &directory.users[&UserKey::new("b")].profile;
        assert_eq!(b.get(ProfileField::HireDate), Some("2023-01-01"));
        let unreadable = |field: &str, people: u64, example: &str| Problem::UnreadableField {
            field: field.into(),
            people,
            example: UserKey::new(example),
        };
        assert_eq!(
            directory.problems,
            [
                unreadable("custom.C-1", 2, "a"),
                unreadable("custom.C-3", 1, "b"),
                unreadable("custom_attrs", 1, "b"),
                unreadable("gender", 2, "a"),
                unreadable("hire_date", 1, "a"),
            ]
        );
    }
}
