//! Fixture records → WeCom wire objects, dropping whatever lies outside the app's visible range.

use super::state::Directory;
use super::wire;
use crate::fixture::{Department, Status, User};

pub(super) fn department(directory: &Directory, department: &Department) -> wire::Department {
    wire::Department {
        id: department.id,
        name: department.name.clone(),
        name_en: department.name_en.clone(),
        department_leader: department
            .leaders
            .iter()
            .filter(|userid| directory.is_user_id_visible(userid))
            .cloned()
            .collect(),
        parentid: department.parent.unwrap_or(0),
        order: department.order,
    }
}

pub(super) fn department_simple(department: &Department) -> wire::DepartmentSimple {
    wire::DepartmentSimple {
        id: department.id,
        parentid: department.parent.unwrap_or(0),
        order: department.order,
    }
}

fn visible_departments(directory: &Directory, user: &User) -> Vec<i64> {
    let mut visible: Vec<i64> = Vec::with_capacity(user.departments.len());
    for &id in &user.departments {
        if directory.is_department_visible(id) && !visible.contains(&id) {
            visible.push(id);
        }
    }
    visible
}

pub(super) fn user(directory: &Directory, user: &User, sensitive_fields: bool) -> wire::User {
    let department = visible_departments(directory, user);
    let is_leader_in_dept = department
        .iter()
        .map(|&id| {
            let leads = directory
                .department_by_id(id)
                .is_some_and(|d| d.leaders.contains(&user.id));
            u8::from(leads)
        })
        .collect();
    let main_department = user
        .main_department
        .or(user.departments.first().copied())
        .filter(|&id| directory.is_department_visible(id));
    let direct_leader = user
        .manager
        .iter()
        .filter(|manager| directory.is_user_id_visible(manager))
        .cloned()
        .collect();
    // Apps that receive sensitive fields get them even when empty, as WeCom sends "".
    let sensitive =
        |value: &Option<String>| sensitive_fields.then(|| value.clone().unwrap_or_default());
    wire::User {
        userid: user.id.clone(),
        name: user.name.clone(),
        alias: "",
        order: vec![0; department.len()],
        department,
        main_department,
        position: user.title.clone().unwrap_or_default(),
        is_leader_in_dept,
        direct_leader,
        mobile: sensitive(&user.mobile),
        email: sensitive(&user.email),
        telephone: "",
        english_name: "",
        status: status(user.status),
        extattr: wire::ExtAttr { attrs: Vec::new() },
        open_userid: open_userid(&user.id),
    }
}

pub(super) fn user_simple(directory: &Directory, user: &User) -> wire::UserSimple {
    wire::UserSimple {
        userid: user.id.clone(),
        name: user.name.clone(),
        department: visible_departments(directory, user),
    }
}

fn status(status: Status) -> u8 {
    match status {
        Status::Active => 1,
        Status::Disabled => 2,
        Status::NotActivated => 4,
        Status::Resigned => 5,
    }
}

/// An opaque, stable id unlike the userid (FNV-1a), so clients cannot mistake one for the other.
fn open_userid(userid: &str) -> String {
    let hash = userid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("wo{hash:016x}")
}
