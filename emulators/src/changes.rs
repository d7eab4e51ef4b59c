//! What changed between two versions of an org, as the platforms' change events see it: the
//! base every emulator's event sender builds its platform's events from (see each platform's
//! `events.rs`). Visibility is the app's: a change outside the app's scope is not announced
//! (except a person or department leaving or entering it).

use crate::fixture::{Department, Org, User};
use std::collections::BTreeMap;

/// One change to a person or a department, with the record before and after. Built a handful at
/// a time per org update: the size difference between variants costs nothing.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Change {
    UserCreated(User),
    /// The person as before and after (any field, the scope included).
    UserUpdated {
        before: User,
        after: User,
    },
    UserDeleted(User),
    DepartmentCreated(Department),
    DepartmentUpdated {
        before: Department,
        after: Department,
    },
    DepartmentDeleted(Department),
    /// The app's authorized scope itself changed.
    ScopeChanged,
}

/// The changes from `old` to `new` that the app would be told about: people and departments
/// visible to the app before or after, in a stable order (scope, departments, then people).
pub fn between(old: &Org, new: &Org) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.scope != new.scope {
        changes.push(Change::ScopeChanged);
    }
    let (old_vis, new_vis) = (old.visibility(), new.visibility());
    let old_depts: BTreeMap<i64, &Department> = old.departments.iter().map(|d| (d.id, d)).collect();
    let new_depts: BTreeMap<i64, &Department> = new.departments.iter().map(|d| (d.id, d)).collect();
    for (id, after) in &new_depts {
        let seen = old_vis.is_department_visible(*id) || new_vis.is_department_visible(*id);
        match old_depts.get(id) {
            None if seen => changes.push(Change::DepartmentCreated((*after).clone())),
            Some(before) if seen && before != after => changes.push(Change::DepartmentUpdated {
                before: (*before).clone(),
                after: (*after).clone(),
            }),
            _ => {}
        }
    }
    for (id, before) in &old_depts {
        if !new_depts.contains_key(id) && old_vis.is_department_visible(*id) {
            changes.push(Change::DepartmentDeleted((*before).clone()));
        }
    }
    let old_users: BTreeMap<&str, &User> = old.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let new_users: BTreeMap<&str, &User> = new.users.iter().map(|u| (u.id.as_str(), u)).collect();
    for (id, after) in &new_users {
        let seen = new_vis.is_user_visible(after)
            || old_users
                .get(id)
                .is_some_and(|b| old_vis.is_user_visible(b));
        match old_users.get(id) {
            None if seen => changes.push(Change::UserCreated((*after).clone())),
            Some(before) if seen && before != after => changes.push(Change::UserUpdated {
                before: (*before).clone(),
                after: (*after).clone(),
            }),
            _ => {}
        }
    }
    for (id, before) in &old_users {
        if !new_users.contains_key(id) && old_vis.is_user_visible(before) {
            changes.push(Change::UserDeleted((*before).clone()));
        }
    }
    changes
}
