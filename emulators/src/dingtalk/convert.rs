//! Fixture records → DingTalk wire objects.
//!
//! The mapping (see `emulators/README.md`): department ids are the fixture's (root 1; negative ids
//! of home-school trees pass through); userids are the fixture's ids; `unionid` is derived from the
//! userid; `active` is false only for "not activated" (DingTalk has no disabled state, so disabled
//! people look active); resigned people are absent; `manager_userid` is the fixture manager as is,
//! even outside the scope (the notes document no filtering).

use super::profile;
use super::state::Directory;
use super::wire;
use crate::fixture::{Department, Status, User};

pub(super) fn department_brief(department: &Department) -> wire::DepartmentBrief {
    wire::DepartmentBrief {
        dept_id: department.id,
        name: department.name.clone(),
        parent_id: department.parent.unwrap_or(0),
        create_dept_group: true,
        auto_add_user: true,
    }
}

pub(super) fn department(directory: &Directory, department: &Department) -> wire::Department {
    wire::Department {
        dept_id: department.id,
        name: department.name.clone(),
        parent_id: department.parent,
        order: department.order,
        dept_manager_userid_list: department
            .leaders
            .iter()
            .filter(|id| directory.is_member(id))
            .cloned()
            .collect(),
        source_identifier: "",
        create_dept_group: true,
        auto_add_user: true,
        auto_approve_apply: false,
        group_contain_sub_dept: false,
        outer_dept: false,
        hide_dept: false,
        outer_permit_depts: Vec::new(),
        outer_permit_users: Vec::new(),
        dept_permits: Vec::new(),
        user_permits: Vec::new(),
    }
}

/// The person's departments the app can see, in the fixture's order: the main one is not
/// necessarily first (`dept_position_list[].is_main` and the roster's `sys00-mainDeptId` say
/// which it is).
fn visible_departments(directory: &Directory, user: &User) -> Vec<i64> {
    let mut visible: Vec<i64> = Vec::with_capacity(user.departments.len());
    for id in user.departments.iter().copied() {
        if directory.is_department_visible(id) && !visible.contains(&id) {
            visible.push(id);
        }
    }
    visible
}

fn leads(directory: &Directory, department: i64, user: &User) -> bool {
    directory
        .department_by_id(department)
        .is_some_and(|d| d.leaders.contains(&user.id))
}

/// Present unless the person never activated DingTalk.
fn active(user: &User) -> bool {
    user.status != Status::NotActivated
}

fn personal(directory: &Directory, value: &Option<String>) -> Option<String> {
    value
        .clone()
        .filter(|_| directory.org.sensitive_fields)
        .filter(|v| !v.is_empty())
}

/// A `user/list` item for the listing of `listed_in`.
pub(super) fn listed_user(
    directory: &Directory,
    user: &User,
    listed_in: i64,
    manager_in_list: bool,
) -> wire::ListedUser {
    wire::ListedUser {
        userid: user.id.clone(),
        unionid: unionid(&user.id),
        name: user.name.clone(),
        manager_userid: user.manager.clone().filter(|_| manager_in_list),
        title: user.title.clone(),
        job_number: user.employee_no.clone(),
        mobile: personal(directory, &user.mobile),
        email: personal(directory, &user.email),
        dept_id_list: visible_departments(directory, user),
        dept_order: 0,
        leader: leads(directory, listed_in, user),
        active: active(user),
        admin: false,
        boss: leads(directory, 1, user),
        exclusive_account: false,
        hide_mobile: false,
        profile: profile::fields(directory, user),
    }
}

pub(super) fn user(directory: &Directory, user: &User) -> wire::User {
    let departments = visible_departments(directory, user);
    let mobile = personal(directory, &user.mobile);
    wire::User {
        userid: user.id.clone(),
        unionid: unionid(&user.id),
        name: user.name.clone(),
        manager_userid: user.manager.clone().filter(|m| !m.is_empty()),
        dept_order_list: departments
            .iter()
            .map(|&dept_id| wire::DeptOrder { dept_id, order: 0 })
            .collect(),
        leader_in_dept: departments
            .iter()
            .map(|&dept_id| wire::LeaderInDept {
                dept_id,
                leader: leads(directory, dept_id, user),
            })
            .collect(),
        dept_position_list: departments
            .iter()
            .map(|&dept_id| wire::DeptPosition {
                dept_id,
                is_main: Some(dept_id) == main_department(user),
            })
            .collect(),
        dept_id_list: departments,
        title: user.title.clone(),
        job_number: user.employee_no.clone(),
        state_code: mobile.as_ref().map(|_| "86"),
        mobile,
        email: personal(directory, &user.email),
        active: active(user),
        real_authed: active(user),
        admin: false,
        boss: leads(directory, 1, user),
        senior: false,
        exclusive_account: false,
        exclusive_account_type: "",
        login_id: "",
        role_list: Vec::new(),
        profile: profile::fields(directory, user),
    }
}

/// The person's main department: the fixture's, else their first.
pub(super) fn main_department(user: &User) -> Option<i64> {
    user.main_department.or(user.departments.first().copied())
}

/// The roster's record of one person: the fields asked for that it knows
/// (`sys00-reportManagerId`, `sys00-mainDeptId`, the profile's: see `profile::roster_field`);
/// others are answered empty.
pub(super) fn roster_person(user: &User, fields: &[&str]) -> wire::RosterPerson {
    let field_data_list = fields
        .iter()
        .map(|&code| {
            let (name, group, value, label) = match code {
                "sys00-reportManagerId" => {
                    ("直属主管id".into(), "sys00", user.manager.clone(), None)
                }
                "sys00-mainDeptId" => (
                    "主部门id".into(),
                    "sys00",
                    main_department(user).map(|d| d.to_string()),
                    None,
                ),
                other => match profile::roster_field(user, other) {
                    Some((name, group, value, label)) => (name, group, Some(value), Some(label)),
                    None => (String::new(), "sys00", None, None),
                },
            };
            wire::RosterField {
                field_code: code.to_owned(),
                field_name: name,
                group_id: group,
                field_value_list: value
                    .filter(|v| !v.is_empty())
                    .map(|value| wire::RosterValue {
                        item_index: 0,
                        label: label.unwrap_or_else(|| value.clone()),
                        value,
                    })
                    .into_iter()
                    .collect(),
            }
        })
        .collect();
    wire::RosterPerson {
        userid: user.id.clone(),
        corp_id: "dingEmulatedCorp",
        field_data_list,
    }
}

/// A developer-wide id unlike the userid (FNV-1a), so clients cannot mistake one for the other.
pub(super) fn unionid(userid: &str) -> String {
    let hash = userid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("iP{hash:016x}")
}
