//! WeCom wire types → the platform-neutral model, reporting what cannot be trusted.

use super::{profile, wire};
use crate::model::{Department, DepartmentId, Directory, Problem, Scope, Status, User, UserKey};
use crate::pullers::text::{head_keys, non_empty};
use std::collections::BTreeSet;

/// The app's visible range: `allow_partys` and `allow_userinfos` of `agent/get`, plus the
/// departments and people of every tag in `allow_tags` (read with `tag/get`). Each entry once, in
/// first-seen order; empty ids are dropped.
pub(super) fn scope(agent: &wire::Agent, tags: &[wire::Tag]) -> Scope {
    let mut scope = Scope::default();
    let departments = agent
        .allow_partys
        .iter()
        .flat_map(|p| &p.partyid)
        .chain(tags.iter().flat_map(|t| &t.partylist));
    for id in departments.filter(|id| !id.trim().is_empty()) {
        let id = DepartmentId::new(id.as_str());
        if !scope.departments.contains(&id) {
            scope.departments.push(id);
        }
    }
    let users = agent
        .allow_userinfos
        .iter()
        .flat_map(|u| &u.user)
        .map(|u| u.userid.as_str())
        .chain(
            tags.iter()
                .flat_map(|t| &t.userlist)
                .filter_map(|u| u.userid.as_deref()),
        );
    let mut seen = BTreeSet::new();
    for id in users.filter(|id| !id.trim().is_empty()) {
        if seen.insert(id) {
            scope.users.push(UserKey::new(id));
        }
    }
    scope
}

/// Builds the directory from the department tree, each department's members, the people of the
/// visible range fetched one by one, the visible range, and the problems met while reading.
pub(super) fn directory(
    departments: Vec<wire::Department>,
    members: Vec<(String, Vec<wire::User>)>,
    individuals: Vec<wire::User>,
    scope: Scope,
    problems: Vec<Problem>,
) -> Directory {
    let mut directory = Directory {
        scope,
        ..Directory::default()
    };
    directory.problems.extend(problems);

    for dept in departments {
        let parent = dept.parentid.filter(|p| p != "0").map(DepartmentId::new);
        let id = DepartmentId::new(dept.id);
        let name = dept
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_string());
        let heads = head_keys(&dept.department_leader);
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
    report_missing_parents(&mut directory);

    for (department, users) in members {
        for user in users {
            add_user(&mut directory, user, &department);
        }
    }
    for user in individuals {
        add_user(&mut directory, user, "");
    }
    directory
}

/// The top of a partial scope has an invisible parent: that is normal. Any other department
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

fn add_user(directory: &mut Directory, mut user: wire::User, listed_under: &str) {
    let Some(userid) = user.userid.take().filter(|id| !id.trim().is_empty()) else {
        directory.problems.push(Problem::EmptyUserId {
            department: DepartmentId::new(listed_under),
        });
        return;
    };
    let key = UserKey::new(userid);
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
    let profile = profile::profile(&mut user);
    let Some(name) = user.name.filter(|n| !n.trim().is_empty()) else {
        directory.problems.push(Problem::MissingField {
            user: key.clone(),
            field: "name".into(),
        });
        directory.held.insert(key);
        return;
    };
    let mut departments: Vec<DepartmentId> = Vec::new();
    if let Some(main) = user.main_department {
        departments.push(DepartmentId::new(main));
    }
    for dept in user.department {
        let dept = DepartmentId::new(dept);
        if !departments.contains(&dept) {
            departments.push(dept);
        }
    }
    directory.insert_user(User {
        key,
        display_name: name.into(),
        email: non_empty(user.email),
        mobile: non_empty(user.mobile),
        title: non_empty(user.position),
        employee_no: None,
        departments,
        status,
        // At most one manager today; older API versions allowed several and the first counts.
        manager: user
            .direct_leader
            .into_iter()
            .find(|l| !l.trim().is_empty())
            .map(UserKey::new),
        profile,
    });
}

/// 1 activated, 2 disabled, 4 not activated, 5 left the corp. Anything else is reported and the
/// person held, never guessed.
fn status(raw: Option<&serde_json::Value>) -> Result<Status, String> {
    let code = match raw {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    match code {
        Some(1) => Ok(Status::Active),
        Some(2) => Ok(Status::Disabled),
        Some(4) => Ok(Status::NotActivated),
        Some(5) => Ok(Status::Resigned),
        _ => Err(raw.map_or_else(|| "missing".to_owned(), |v| v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    //! Wire JSON → `Directory`, especially input a client must survive without guessing.

    use super::*;
    use crate::model::{Profile, ProfileField};
    use serde_json::{Value, json};

    fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("wire JSON parses")
    }

    fn two_departments() -> Vec<wire::Department> {
        parse(json!([
            { "id": 1, "name": "示例科技", "parentid": 0, "order": 100 },
            { "id": 2, "name": "研发部", "parentid": 1, "order": 90 }
        ]))
    }

    /// A valid WeCom user object with `overrides` applied (a `null` override removes the field).
    fn user_json(overrides: Value) -> Value {
        let mut user = json!({
            "userid": "lin.xiao", "name": "林晓", "alias": "",
            "department": [2], "order": [0], "main_department": 2,
            "position": "后端工程师", "is_leader_in_dept": [0],
            "direct_leader": ["boss"], "status": 1,
            "mobile": "13800000004", "email": "lin.xiao@example.cn",
            "telephone": "", "english_name": "", "extattr": { "attrs": [] },
            "open_userid": "wo0123"
        });
        for (key, value) in overrides.as_object().expect("overrides are an object") {
            if value.is_null() {
                user.as_object_mut().unwrap().remove(key);
            } else {
                user[key] = value.clone();
            }
        }
        user
    }

    /// The directory from one `user/list` of department 2 holding `users`.
    fn listed(users: Vec<Value>) -> Directory {
        let users: Vec<wire::User> = users.into_iter().map(parse).collect();
        directory(
            two_departments(),
            vec![("2".into(), users)],
            Vec::new(),
            Scope::default(),
            Vec::new(),
        )
    }

    fn key(k: &str) -> UserKey {
        UserKey::new(k)
    }

    #[test]
    fn a_valid_user_converts_field_by_field() {
        let directory = listed(vec![user_json(json!({}))]);
        assert_eq!(
            directory.users[&key("lin.xiao")],
            User {
                profile: Default::default(),
                key: key("lin.xiao"),
                display_name: "林晓".into(),
                email: Some("lin.xiao@example.cn".into()),
                mobile: Some("13800000004".into()),
                title: Some("后端工程师".into()),
                employee_no: None,
                departments: vec![DepartmentId::new("2")],
                status: Status::Active,
                manager: Some(key("boss")),
            }
        );
        assert!(directory.problems.is_empty() && directory.held.is_empty());
        assert_eq!(
            directory.departments[&DepartmentId::new("2")],
            Department {
                id: DepartmentId::new("2"),
                name: "研发部".into(),
                parent: Some(DepartmentId::new("1")),
                heads: Vec::new(),
            }
        );
        // parentid 0 is WeCom's "no parent".
        assert_eq!(directory.departments[&DepartmentId::new("1")].parent, None);
    }

    #[test]
    fn each_documented_status_maps() {
        for (raw, want) in [
            (json!(1), Status::Active),
            (json!(2), Status::Disabled),
            (json!(4), Status::NotActivated),
            (json!(5), Status::Resigned),
            // Numbers sent as strings are accepted too.
            (json!("5"), Status::Resigned),
            (json!(" 2 "), Status::Disabled),
        ] {
            let directory = listed(vec![user_json(json!({ "status": raw.clone() }))]);
            assert_eq!(directory.users[&key("lin.xiao")].status, want, "{raw}");
            assert!(directory.problems.is_empty(), "{raw}");
        }
    }

    #[test]
    fn unknown_status_holds_the_person_and_reports_it() {
        for (raw, reported) in [
            (json!(3), "3"),
            (json!(0), "0"),
            (json!(-1), "-1"),
            (json!(1.5), "1.5"),
            (json!("x"), "\"x\""),
            (json!(true), "true"),
            (json!(null), "missing"),
        ] {
            let directory = listed(vec![user_json(json!({ "status": raw.clone() }))]);
            assert!(directory.users.is_empty(), "{raw}: never guessed");
            assert_eq!(
                directory.held.iter().collect::<Vec<_>>(),
                vec![&key("lin.xiao")],
                "{raw}"
            );
            assert_eq!(
                directory.problems,
                vec![Problem::UnknownStatus {
                    user: key("lin.xiao"),
                    raw: reported.into(),
                }],
                "{raw}"
            );
        }
    }

    #[test]
    fn missing_or_empty_name_holds_the_person() {
        for name in [json!(null), json!(""), json!("   ")] {
            let directory = listed(vec![user_json(json!({ "name": name.clone() }))]);
            assert!(directory.users.is_empty(), "{name}");
            assert!(directory.held.contains(&key("lin.xiao")), "{name}");
            assert_eq!(
                directory.problems,
                vec![Problem::MissingField {
                    user: key("lin.xiao"),
                    field: "name".into(),
                }],
                "{name}"
            );
        }
    }

    #[test]
    fn empty_user_id_is_reported_and_not_added() {
        for userid in [json!(""), json!("  "), json!(null)] {
            let directory = listed(vec![
                user_json(json!({ "userid": userid.clone() })),
                user_json(json!({ "userid": "ok", "name": "Other" })),
            ]);
            let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
            assert_eq!(keys, vec!["ok"], "{userid}");
            assert!(directory.held.is_empty(), "{userid}: nobody to hold");
            assert_eq!(
                directory.problems,
                vec![Problem::EmptyUserId {
                    department: DepartmentId::new("2"),
                }],
                "{userid}"
            );
        }
    }

    #[test]
    fn ids_are_accepted_as_numbers_or_strings() {
        let departments: Vec<wire::Department> = parse(json!([
            { "id": "1", "name": "Root", "parentid": "0" },
            { "id": "2", "name": "Two", "parentid": 1 },
            { "id": 3, "name": "Three", "parentid": "2" }
        ]));
        let users: Vec<wire::User> = parse(json!([user_json(json!({
            "userid": 12345, "department": ["2", 3], "main_department": "3",
            "direct_leader": [678]
        }))]));
        let directory = directory(
            departments,
            vec![("2".into(), users)],
            Vec::new(),
            Scope::default(),
            Vec::new(),
        );
        let parents: Vec<(&str, Option<&str>)> = directory
            .departments
            .values()
            .map(|d| (d.id.as_str(), d.parent.as_ref().map(DepartmentId::as_str)))
            .collect();
        assert_eq!(
            parents,
            vec![("1", None), ("2", Some("1")), ("3", Some("2"))]
        );
        let user = &directory.users[&key("12345")];
        assert_eq!(
            user.departments,
            vec![DepartmentId::new("3"), DepartmentId::new("2")]
        );
        assert_eq!(user.manager, Some(key("678")));
    }

    #[test]
    fn direct_leader_in_every_shape() {
        for (leaders, want) in [
            (json!("boss"), Some("boss")),
            (json!(["boss"]), Some("boss")),
            (json!(7), Some("7")),
            (json!([7, "boss"]), Some("7")),
            (json!(["", " ", "boss", "second"]), Some("boss")),
            (json!([]), None),
            (json!(""), None),
            (json!(null), None),
        ] {
            let directory = listed(vec![user_json(json!({ "direct_leader": leaders.clone() }))]);
            assert_eq!(
                directory.users[&key("lin.xiao")].manager,
                want.map(key),
                "{leaders}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored_everywhere() {
        let list: wire::UserList = parse(json!({
            "errcode": 0, "errmsg": "ok", "next_page": null,
            "userlist": [user_json(json!({
                "biz_mail": "x@example.wecom.work", "gender": "2",
                "extattr": { "attrs": [{ "type": 0, "name": "f", "text": { "value": "v" } }] },
                "a_field_added_in_2030": [1, { "nested": true }]
            }))]
        }));
        let departments: wire::DepartmentList = parse(json!({
            "errcode": 0, "errmsg": "ok",
            "department": [
                { "id": 2, "name": "研发部", "name_en": "R&D", "parentid": 1, "order": 9,
                  "department_leader": ["boss"], "something_new": {} }
            ]
        }));
        let agent: wire::Agent = parse(json!({
            "errcode": 0, "errmsg": "ok", "agentid": 1000002, "name": "orgsync", "close": 0,
            "allow_userinfos": { "user": [{ "userid": "lin.xiao", "extra": 1 }] },
            "allow_partys": { "partyid": [2] }, "allow_tags": { "tagid": [7] }
        }));
        let directory = directory(
            departments.department,
            vec![("2".into(), list.userlist)],
            Vec::new(),
            scope(&agent, &[]),
            Vec::new(),
        );
        assert_eq!(directory.users.len(), 1);
        assert_eq!(directory.users[&key("lin.xiao")].display_name, "林晓");
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
    }

    #[test]
    fn blank_optional_fields_are_none_and_values_trimmed() {
        let directory = listed(vec![user_json(json!({
            "email": "", "mobile": "  ", "position": " 架构师 "
        }))]);
        let user = &directory.users[&key("lin.xiao")];
        assert_eq!(user.email, None);
        assert_eq!(user.mobile, None);
        assert_eq!(user.title.as_deref(), Some("架构师"));

        let withheld = listed(vec![user_json(
            json!({ "email": null, "mobile": null, "position": null }),
        )]);
        let user = &withheld.users[&key("lin.xiao")];
        assert_eq!(
            (&user.email, &user.mobile, &user.title),
            (&None, &None, &None)
        );
    }

    #[test]
    fn the_same_person_under_two_departments_is_merged() {
        let users = |dept: i64| -> Vec<wire::User> {
            parse(json!([user_json(
                json!({ "department": [2, 3], "main_department": dept })
            )]))
        };
        // Both listings carry the same record (WeCom repeats it per department).
        let directory = directory(
            two_departments(),
            vec![("2".into(), users(3)), ("3".into(), users(3))],
            Vec::new(),
            Scope::default(),
            Vec::new(),
        );
        assert_eq!(directory.users.len(), 1);
        assert_eq!(
            directory.users[&key("lin.xiao")].departments,
            vec![DepartmentId::new("3"), DepartmentId::new("2")]
        );
        assert!(directory.problems.is_empty());
    }

    #[test]
    fn conflicting_records_are_reported_and_the_first_kept() {
        let first: Vec<wire::User> = parse(json!([user_json(json!({ "department": [2] }))]));
        let second: Vec<wire::User> = parse(json!([user_json(json!({
            "name": "林小晓", "department": [3], "main_department": 3, "status": 2
        }))]));
        let directory = directory(
            two_departments(),
            vec![("2".into(), first), ("3".into(), second)],
            Vec::new(),
            Scope::default(),
            Vec::new(),
        );
        assert_eq!(
            directory.problems,
            vec![Problem::ConflictingRecords {
                user: key("lin.xiao"),
            }]
        );
        let user = &directory.users[&key("lin.xiao")];
        assert_eq!(user.display_name, "林晓");
        assert_eq!(user.status, Status::Active);
        assert_eq!(
            user.departments,
            vec![DepartmentId::new("2"), DepartmentId::new("3")]
        );
    }

    #[test]
    fn individuals_are_added_and_the_scope_read_from_the_agent() {
        let agent: wire::Agent = parse(json!({
            "allow_userinfos": { "user": [{ "userid": "zhao" }, { "userid": 42 }] },
            "allow_partys": { "partyid": [2, "5"] }
        }));
        let individual: wire::User = parse(user_json(json!({
            "userid": "zhao", "name": "赵六", "department": [], "main_department": null,
            "direct_leader": []
        })));
        let directory = directory(
            two_departments(),
            Vec::new(),
            vec![individual],
            scope(&agent, &[]),
            Vec::new(),
        );
        let zhao = &directory.users[&key("zhao")];
        assert!(zhao.departments.is_empty());
        assert_eq!(zhao.manager, None);
        assert_eq!(
            directory.scope,
            Scope {
                departments: vec![DepartmentId::new("2"), DepartmentId::new("5")],
                users: vec![key("zhao"), key("42")],
            }
        );
    }

    #[test]
    fn an_individual_without_id_is_reported_without_department() {
        let individual: wire::User = parse(user_json(json!({ "userid": "" })));
        let directory = directory(
            two_departments(),
            Vec::new(),
            vec![individual],
            Scope::default(),
            Vec::new(),
        );
        assert!(directory.users.is_empty());
        assert_eq!(
            directory.problems,
            vec![Problem::EmptyUserId {
                department: DepartmentId::new(""),
            }]
        );
    }

    #[test]
    fn missing_parents_are_reported_only_below_the_scope_roots() {
        let departments: Vec<wire::Department> = parse(json!([
            { "id": 2, "name": "研发部", "parentid": 1 },
            { "id": 3, "name": "平台组", "parentid": 2 },
            { "id": 7, "name": "孤儿", "parentid": 6 }
        ]));
        let agent: wire::Agent = parse(json!({ "allow_partys": { "partyid": [2] } }));
        let directory_known = directory(
            departments,
            Vec::new(),
            Vec::new(),
            scope(&agent, &[]),
            Vec::new(),
        );
        assert_eq!(
            directory_known.problems,
            vec![Problem::MissingParentDepartment {
                department: DepartmentId::new("7"),
                parent: DepartmentId::new("6"),
            }]
        );
    }

    #[test]
    fn a_department_without_name_is_named_by_its_id() {
        let departments: Vec<wire::Department> = parse(json!([
            { "id": 9, "parentid": 1 },
            { "id": 10, "name": "", "parentid": 1 }
        ]));
        let directory = directory(
            departments,
            Vec::new(),
            Vec::new(),
            Scope::default(),
            Vec::new(),
        );
        assert_eq!(directory.departments[&DepartmentId::new("9")].name, "9");
        assert_eq!(directory.departments[&DepartmentId::new("10")].name, "10");
    }

    #[test]
    fn tags_add_their_departments_and_people_to_the_scope_once() {
        let agent: wire::Agent = parse(json!({
            "allow_userinfos": { "user": [{ "userid": "zhao" }] },
            "allow_partys": { "partyid": [2] },
            "allow_tags": { "tagid": [7, "8"] }
        }));
        let tags: Vec<wire::Tag> = parse(json!([
            { "errcode": 0, "errmsg": "ok", "tagname": "销售",
              "userlist": [{ "userid": "sam", "name": "Sam" }, { "userid": "zhao", "name": "赵六" }],
              "partylist": [5, 2] },
            // Empty lists, blank and missing ids: nothing added, nothing fails.
            { "tagname": "空", "userlist": [], "partylist": [] },
            { "userlist": [{ "userid": "" }, { "name": "nobody" }, { "userid": 9 }] },
            {}
        ]));
        assert_eq!(
            scope(&agent, &tags),
            Scope {
                departments: vec![DepartmentId::new("2"), DepartmentId::new("5")],
                users: vec![key("zhao"), key("sam"), key("9")],
            }
        );
    }

    #[test]
    fn a_hostile_tag_answer_is_rejected_as_malformed_not_a_panic() {
        for body in [
            json!({ "userlist": "everyone" }),
            json!({ "partylist": [{ "id": 1 }] }),
            json!({ "userlist": [[1, 2]] }),
        ] {
            assert!(
                serde_json::from_value::<wire::Tag>(body.clone()).is_err(),
                "{body}"
            );
        }
        let agent: Result<wire::Agent, _> =
            serde_json::from_value(json!({ "allow_tags": { "tagid": [true] } }));
        assert!(agent.is_err());
    }

    #[test]
    fn only_the_first_direct_leader_counts() {
        let directory = listed(vec![user_json(json!({
            "direct_leader": ["first.boss", "second.boss"]
        }))]);
        assert_eq!(
            directory.users[&key("lin.xiao")].manager,
            Some(key("first.boss"))
        );
    }

    /// A real `user/list` answer (tests/samples/README.md names its source), read as a pull
    /// reads it: the envelope, then the list, then the conversion.
    #[test]
    fn the_real_user_list_sample_converts() {
        let body = include_bytes!("../../../tests/samples/wecom-user-list.json");
        let head: wire::Head = serde_json::from_slice(body).expect("the envelope parses");
        assert_eq!((head.errcode, head.errmsg.as_str()), (Some(0), "ok"));
        let list: wire::UserList = serde_json::from_slice(body).expect("the list parses");
        let directory = directory(
            Vec::new(),
            vec![("345678".into(), list.userlist)],
            Vec::new(),
            Scope::default(),
            Vec::new(),
        );
        assert!(directory.problems.is_empty(), "{:?}", directory.problems);
        assert!(directory.held.is_empty());
        let keys: Vec<&str> = directory.users.keys().map(UserKey::as_str).collect();
        assert_eq!(keys, vec!["zhangthree-userid"]);
        assert_eq!(
            directory.users[&key("zhangthree-userid")],
            User {
                // gender "1", an avatar; alias, english_name, telephone and extattr are empty.
                profile: Profile::default()
                    .with(ProfileField::Gender, "male")
                    .with(ProfileField::Avatar, "http://p.qlogo.cn/bizmail/xxxxxx/0"),
                key: key("zhangthree-userid"),
                display_name: "张三".into(),
                email: Some("zhangthree@wechat.com".into()),
                mobile: Some("15723333333".into()),
                title: Some("CEO".into()),
                employee_no: None,
                // No main_department in the sample: the listed department.
                departments: vec![DepartmentId::new("345678")],
                // status 1 (`enable` is not read: status is the documented signal).
                status: Status::Active,
                // No direct_leader in the sample; `isleader` is about departments, not a manager.
                manager: None,
            }
        );
    }

    #[test]
    fn department_leader_gives_the_heads_in_order_odd_values_dropped() {
        let heads = |leaders: Value| {
            let departments: Vec<wire::Department> = parse(json!([
                { "id": 1, "name": "示例科技", "parentid": 0 },
                { "id": 2, "name": "研发部", "parentid": 1, "department_leader": leaders }
            ]));
            let directory = directory(
                departments,
                Vec::new(),
                Vec::new(),
                Scope::default(),
                Vec::new(),
            );
            assert!(
                directory.departments[&DepartmentId::new("1")]
                    .heads
                    .is_empty()
            );
            directory.departments[&DepartmentId::new("2")]
                .heads
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
        };
        // Unknown ids are kept (the planner decides); blanks, 0 and repeats are not heads.
        assert_eq!(
            heads(json!(["qiao.yu", "", "0", "nobody", "qiao.yu"])),
            ["qiao.yu", "nobody"]
        );
        assert_eq!(heads(json!([" lin ", 42])), ["lin", "42"]);
        // A lone id (an older shape) is one head; other shapes cost the heads, not the list.
        assert_eq!(heads(json!("lin")), ["lin"]);
        for odd in [
            json!(null),
            json!({}),
            json!([null, true, {}]),
            json!(""),
            json!(0),
        ] {
            assert!(heads(odd.clone()).is_empty(), "{odd}");
        }
    }
}
