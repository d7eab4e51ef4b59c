//! DingTalk wire types → the platform-neutral model, reporting what cannot be trusted.
//!
//! Status: `active = true` → active, `active = false` → not activated (never logged in). DingTalk
//! has no disabled/frozen flag, so no one is ever `Disabled`; resigned people are simply absent
//! (they surface as vanished). Anything else in `active` holds the person with a problem.

use super::wire::{self, Record};
use crate::model::{Department, DepartmentId, Directory, Problem, Scope, Status, User, UserKey};
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
}

pub(super) fn directory(raw: Raw) -> Directory {
    let mut directory = Directory::default();
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
            .or_insert(Department { id, name, parent });
    }
    report_missing_parents(&mut directory);

    // A person read one by one is converted once, from that read, wherever they are listed.
    let mut done: HashSet<String> = HashSet::new();
    for (department, records) in raw.members {
        let listed_under = department.to_string();
        for record in records {
            let detail = record.userid().and_then(|id| raw.details.get(id));
            match detail {
                None => add(&mut directory, record, &listed_under),
                Some(None) => {}
                Some(Some(detail)) => {
                    if done.insert(record.userid().unwrap_or_default().to_owned()) {
                        add(&mut directory, detail.clone(), &listed_under);
                    }
                }
            }
        }
    }
    for (userid, detail) in raw.details {
        if let Some(detail) = detail
            && !done.contains(&userid)
        {
            add(&mut directory, detail, "");
        }
    }
    // One unreadable record of a person listed several times holds them all.
    let held: Vec<UserKey> = directory.held.iter().cloned().collect();
    for key in held {
        directory.users.remove(&key);
    }
    directory
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

fn add(directory: &mut Directory, record: Record, listed_under: &str) {
    let Some(userid) = record.userid().map(str::to_owned) else {
        directory.problems.push(Problem::EmptyUserId {
            department: DepartmentId::new(listed_under),
        });
        return;
    };
    let key = UserKey::new(userid);
    let user = match record {
        Record::Read(user) => user,
        Record::Unreadable { error, .. } => {
            tracing::warn!(user = %key, %error, "A DingTalk user record has an unexpected shape; holding the person.");
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
    let Some(name) = non_empty(user.name) else {
        let problem = Problem::MissingField {
            user: key.clone(),
            field: "name".into(),
        };
        hold(directory, key, problem);
        return;
    };
    let departments = departments(directory, &user.dept_id_list, listed_under);
    directory.insert_user(User {
        key,
        display_name: name,
        email: non_empty(user.email).or_else(|| non_empty(user.org_email)),
        mobile: non_empty(user.mobile),
        title: non_empty(user.title),
        employee_no: non_empty(user.job_number),
        departments,
        status,
        manager: user
            .manager_userid
            .flatten()
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .map(UserKey::new),
    });
}

fn hold(directory: &mut Directory, key: UserKey, problem: Problem) {
    directory.problems.push(problem);
    directory.held.insert(key);
}

/// `dept_id_list` in DingTalk's order (the first is taken as the main department), pulled
/// departments before ones the app cannot see; the listing department when the list is empty.
fn departments(directory: &Directory, ids: &[i64], listed_under: &str) -> Vec<DepartmentId> {
    let mut all: Vec<DepartmentId> = Vec::with_capacity(ids.len().max(1));
    for id in ids {
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

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
