//! Fixture records → Feishu wire objects, in the id schemes a request asked for.
//!
//! Unlike WeCom, Feishu is not documented to filter by scope inside a record: `department_ids`
//! lists all of a person's departments and `leader_user_id` names the manager even when the app
//! cannot read them. `FeishuConfig::redact_out_of_scope_leader` drops out-of-scope leaders.

use super::ids::{self, FIXTURE_ROOT, IdTypes, UserIdType};
use super::state::Directory;
use super::wire;
use crate::fixture::{Department, Status, User};

/// How one request sees the records: the id schemes it asked for and the app's permissions.
#[derive(Debug, Clone, Copy)]
pub(super) struct View {
    pub ids: IdTypes,
    /// `FeishuConfig::redact_out_of_scope_leader`.
    pub redact: bool,
    /// `FeishuConfig::user_id_permission`: without it every `user_id` is left out.
    pub user_ids: bool,
    /// `FeishuConfig::custom_attrs_open`: without it `custom_attrs` is always empty.
    pub custom_attrs: bool,
}

impl View {
    /// A person's id in the requested scheme, `None` when the app may not see that field.
    fn user_ref(&self, directory: &Directory, fixture_id: &str) -> Option<String> {
        if self.ids.user == UserIdType::UserId && !self.user_ids {
            return None;
        }
        Some(directory.user_ref(self.ids.user, fixture_id))
    }

    /// Whether a leader is named: always, unless redaction is on and they are out of scope.
    fn shows_leader(&self, directory: &Directory, fixture_id: &str) -> bool {
        !self.redact || directory.is_user_id_visible(fixture_id)
    }
}

/// Feishu's dates are China's (UTC+8 all year).
const CHINA_OFFSET_SECONDS: i64 = 8 * 3600;

pub(super) fn department(
    directory: &Directory,
    department: &Department,
    view: View,
) -> wire::Department {
    let ids = view.ids;
    let leaders: Vec<String> = department
        .leaders
        .iter()
        .filter(|u| view.shows_leader(directory, u))
        .filter_map(|u| view.user_ref(directory, u))
        .collect();
    let members = directory.members(department.id).count() as u64;
    let primary = directory
        .members(department.id)
        .filter(|u| main_department(u) == Some(department.id))
        .count() as u64;
    wire::Department {
        name: department.name.clone(),
        department_id: ids::department_id(ids::DepartmentIdType::DepartmentId, department.id),
        open_department_id: ids::department_id(
            ids::DepartmentIdType::OpenDepartmentId,
            department.id,
        ),
        parent_department_id: department
            .parent
            .map(|p| ids::department_id(ids.department, p)),
        leader_user_id: leaders.first().cloned(),
        leaders: leaders
            .into_iter()
            .enumerate()
            .map(|(i, leader_id)| wire::Leader {
                leader_type: if i == 0 { 1 } else { 2 },
                leader_id,
            })
            .collect(),
        order: department.order.to_string(),
        member_count: members,
        primary_member_count: primary,
        status: wire::DepartmentStatus { is_deleted: false },
        unit_ids: Vec::new(),
    }
}

fn main_department(user: &User) -> Option<i64> {
    user.main_department.or(user.departments.first().copied())
}

pub(super) fn user(directory: &Directory, user: &User, view: View) -> wire::User {
    let ids = view.ids;
    let mut departments: Vec<i64> = Vec::with_capacity(user.departments.len());
    for &id in &user.departments {
        if !departments.contains(&id) {
            departments.push(id);
        }
    }
    let main = main_department(user);
    let leader_user_id = user
        .manager
        .as_deref()
        .filter(|m| view.shows_leader(directory, m))
        .and_then(|m| view.user_ref(directory, m));
    let profile = &user.profile;
    // Without the field permissions Feishu leaves these out rather than failing.
    let sensitive = directory.org.sensitive_fields;
    let sensitive = |value: &Option<String>| sensitive.then(|| value.clone().unwrap_or_default());
    wire::User {
        open_id: directory.user_ref(UserIdType::OpenId, &user.id),
        union_id: directory.user_ref(UserIdType::UnionId, &user.id),
        user_id: view.user_ids.then(|| user.id.clone()),
        name: user.name.clone(),
        en_name: profile.english_name.clone().unwrap_or_default(),
        nickname: "",
        email: sensitive(&user.email),
        enterprise_email: sensitive(&profile.enterprise_email),
        mobile: sensitive(&user.mobile),
        mobile_visible: true,
        gender: gender(profile.gender.as_deref()),
        status: status(user.status),
        department_ids: departments
            .iter()
            .map(|&d| ids::department_id(ids.department, d))
            .collect(),
        leader_user_id,
        dotted_line_leader_user_ids: Vec::new(),
        employee_no: user.employee_no.clone().unwrap_or_default(),
        employee_type: employee_type(profile.employee_type.as_deref()),
        job_title: user.title.clone().unwrap_or_default(),
        join_time: profile.hire_date.as_deref().map_or(0, join_time),
        is_tenant_manager: directory
            .department_by_id(FIXTURE_ROOT)
            .is_some_and(|root| root.leaders.first() == Some(&user.id)),
        orders: departments
            .iter()
            .map(|&d| wire::Order {
                department_id: ids::department_id(ids.department, d),
                user_order: 0,
                department_order: 0,
                is_primary_dept: Some(d) == main,
            })
            .collect(),
        city: profile.work_place.clone().unwrap_or_default(),
        country: "",
        work_station: "",
        avatar: profile.avatar.as_deref().map(avatar),
        custom_attrs: if view.custom_attrs {
            user.custom
                .iter()
                .map(|(id, value)| custom_attr(id, value))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// `male` 1, `female` 2, anything else 0 (not given).
fn gender(gender: Option<&str>) -> u8 {
    match gender {
        Some("male") => 1,
        Some("female") => 2,
        _ => 0,
    }
}

/// Feishu's five types; a person without one is a regular employee (Feishu's default), a
/// number is served as that (tenant-defined) type.
fn employee_type(kind: Option<&str>) -> u32 {
    match kind {
        None | Some("regular") => 1,
        Some("intern") => 2,
        Some("outsourced") => 3,
        Some("contractor") => 4,
        Some("consultant") => 5,
        Some(other) => other.parse().unwrap_or(1),
    }
}

/// `YYYY-MM-DD` → Unix seconds at midnight in China; `0` (not set) when it is not a date.
fn join_time(date: &str) -> i64 {
    let mut parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return 0;
    };
    days_from_civil(year, month, day) * 86_400 - CHINA_OFFSET_SECONDS
}

/// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The photo in Feishu's sizes: the origin as given, the others as resized variants of it.
fn avatar(url: &str) -> wire::Avatar {
    let sized = |size: u32| format!("{url}?image_size={size}x{size}");
    wire::Avatar {
        avatar_72: sized(72),
        avatar_240: sized(240),
        avatar_640: sized(640),
        avatar_origin: url.to_owned(),
    }
}

/// A fixture custom field as Feishu serves it: a web link (`http(s)://…`) as `HREF`, titled by
/// the link itself; anything else as `TEXT`.
fn custom_attr(id: &str, value: &str) -> wire::CustomAttr {
    let link = value.starts_with("https://") || value.starts_with("http://");
    wire::CustomAttr {
        kind: if link { "HREF" } else { "TEXT" },
        id: id.to_owned(),
        value: wire::CustomValue {
            text: value.to_owned(),
            url: link.then(|| value.to_owned()),
            pc_url: link.then(|| value.to_owned()),
        },
    }
}

/// The fixture's status as Feishu's five flags. Resigned people keep `is_activated` (they had
/// activated); not-activated people are invited but have not joined (`is_unjoin`).
fn status(status: Status) -> wire::UserStatus {
    let flags = |is_frozen, is_resigned, is_activated, is_unjoin| wire::UserStatus {
        is_frozen,
        is_resigned,
        is_activated,
        is_exited: false,
        is_unjoin,
    };
    match status {
        Status::Active => flags(false, false, true, false),
        Status::Disabled => flags(true, false, true, false),
        Status::NotActivated => flags(false, false, false, true),
        Status::Resigned => flags(false, true, true, false),
    }
}
