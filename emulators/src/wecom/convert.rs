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
    let profile = &user.profile;
    wire::User {
        userid: user.id.clone(),
        name: user.name.clone(),
        alias: profile.english_name.clone().unwrap_or_default(),
        order: vec![0; department.len()],
        department,
        main_department,
        position: user.title.clone().unwrap_or_default(),
        is_leader_in_dept,
        direct_leader,
        mobile: sensitive(&user.mobile),
        email: sensitive(&user.email),
        biz_mail: sensitive(&profile.enterprise_email),
        gender: sensitive_fields.then(|| gender(profile.gender.as_deref())),
        avatar: sensitive(&profile.avatar),
        thumb_avatar: sensitive(&profile.avatar.as_ref().map(|a| thumbnail(a))),
        address: sensitive(&profile.work_place),
        telephone: profile.telephone.clone().unwrap_or_default(),
        english_name: "",
        status: status(user.status),
        extattr: wire::ExtAttr {
            attrs: user
                .custom
                .iter()
                .map(|(name, value)| attr(name, value))
                .collect(),
        },
        open_userid: open_userid(&user.id),
    }
}

fn gender(gender: Option<&str>) -> &'static str {
    match gender {
        Some("male") => "1",
        Some("female") => "2",
        _ => "0",
    }
}

/// WeCom's avatar URLs end in the size: `/0` full, `/100` the thumbnail.
fn thumbnail(avatar: &str) -> String {
    match avatar.strip_suffix("/0") {
        Some(base) => format!("{base}/100"),
        None => avatar.to_owned(),
    }
}

/// A custom field whose value is an http(s) URL is served as a web entry titled by its name;
/// any other as a text entry.
fn attr(name: &str, value: &str) -> wire::Attr {
    let is_url = value.starts_with("https://") || value.starts_with("http://");
    wire::Attr {
        kind: if is_url { 1 } else { 0 },
        name: name.to_owned(),
        text: (!is_url).then(|| wire::AttrText {
            value: value.to_owned(),
        }),
        web: is_url.then(|| wire::AttrWeb {
            url: value.to_owned(),
            title: name.to_owned(),
        }),
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
