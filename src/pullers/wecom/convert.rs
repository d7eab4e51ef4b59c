//! WeCom wire types → the platform-neutral model, reporting what cannot be trusted.

use super::wire;
use crate::model::{Department, DepartmentId, Directory, Problem, Scope, Status, User, UserKey};
use std::collections::BTreeSet;

/// Builds the directory from the department tree, each department's members, the individually
/// authorized people fetched one by one, and the app's visible range when it was read.
pub(super) fn directory(
    departments: Vec<wire::Department>,
    members: Vec<(String, Vec<wire::User>)>,
    individuals: Vec<wire::User>,
    agent: Option<wire::Agent>,
) -> Directory {
    let mut directory = Directory::default();
    if let Some(agent) = &agent {
        directory.scope = Scope {
            departments: agent
                .allow_partys
                .iter()
                .flat_map(|p| &p.partyid)
                .map(|id| DepartmentId::new(id.as_str()))
                .collect(),
            users: agent
                .allow_userinfos
                .iter()
                .flat_map(|u| &u.user)
                .map(|u| UserKey::new(u.userid.as_str()))
                .collect(),
        };
    }

    for dept in departments {
        let parent = dept.parentid.filter(|p| p != "0").map(DepartmentId::new);
        let id = DepartmentId::new(dept.id);
        let name = dept
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_string());
        directory
            .departments
            .insert(id.clone(), Department { id, name, parent });
    }
    report_missing_parents(&mut directory, agent.is_some());

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

/// The top of a partial scope has an invisible parent: that is normal. When the visible range is
/// known, any other department whose parent is missing points at broken upstream data.
fn report_missing_parents(directory: &mut Directory, scope_known: bool) {
    if !scope_known {
        return;
    }
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

fn add_user(directory: &mut Directory, user: wire::User, listed_under: &str) {
    let Some(userid) = user.userid.filter(|id| !id.trim().is_empty()) else {
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
        display_name: name,
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

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
