//! Feishu's id schemes. The fixture has one id per person and per department; Feishu has several,
//! chosen per request. The others are derived from the fixture's deterministically (FNV-1a), so
//! every run and every emulator instance agrees on them.

use super::wire::ApiError;

/// The root department in either department id scheme.
pub(super) const ROOT: &str = "0";
/// The fixture's root department, served as [`ROOT`].
pub(super) const FIXTURE_ROOT: i64 = 1;

/// `user_id_type`; `open_id` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // named after the parameter's values, as the puller's are
pub(super) enum UserIdType {
    /// `ou_…`, per app: derived from the app id and the fixture id.
    OpenId,
    /// `on_…`, per developer: derived from the fixture id.
    UnionId,
    /// The fixture id itself.
    UserId,
}

/// `department_id_type`; `open_department_id` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum DepartmentIdType {
    /// `od-…`, derived from the fixture id.
    OpenDepartmentId,
    /// The fixture id in decimal.
    DepartmentId,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct IdTypes {
    pub user: UserIdType,
    pub department: DepartmentIdType,
}

impl UserIdType {
    pub const ALL: [UserIdType; 3] = [UserIdType::OpenId, UserIdType::UnionId, UserIdType::UserId];

    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("open_id") => Ok(UserIdType::OpenId),
            Some("union_id") => Ok(UserIdType::UnionId),
            Some("user_id") => Ok(UserIdType::UserId),
            Some(_) => Err(ApiError::INVALID_PARAMETER),
        }
    }
}

impl DepartmentIdType {
    pub const ALL: [DepartmentIdType; 2] = [
        DepartmentIdType::OpenDepartmentId,
        DepartmentIdType::DepartmentId,
    ];

    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("open_department_id") => Ok(DepartmentIdType::OpenDepartmentId),
            Some("department_id") => Ok(DepartmentIdType::DepartmentId),
            Some(_) => Err(ApiError::INVALID_PARAMETER),
        }
    }
}

/// A person's id in `kind`. `app_id` makes open ids differ between apps, as Feishu's do.
pub(super) fn user_id(kind: UserIdType, app_id: &str, fixture_id: &str) -> String {
    match kind {
        UserIdType::UserId => fixture_id.to_owned(),
        UserIdType::OpenId => format!("ou_{}", digest(&[app_id, fixture_id])),
        UserIdType::UnionId => format!("on_{}", digest(&["union", fixture_id])),
    }
}

/// A department's id in `kind`; the root is `"0"` in both.
pub(super) fn department_id(kind: DepartmentIdType, fixture_id: i64) -> String {
    if fixture_id == FIXTURE_ROOT {
        return ROOT.to_owned();
    }
    match kind {
        DepartmentIdType::DepartmentId => fixture_id.to_string(),
        DepartmentIdType::OpenDepartmentId => {
            format!("od-{}", digest(&["department", &fixture_id.to_string()]))
        }
    }
}

/// 32 hex digits, like Feishu's opaque ids: two FNV-1a passes with different offsets.
fn digest(parts: &[&str]) -> String {
    let fnv = |offset: u64| {
        parts.iter().fold(offset, |hash, part| {
            part.bytes().chain([0]).fold(hash, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_distinct_and_shaped_like_feishus() {
        let open = user_id(UserIdType::OpenId, "cli_a", "lin");
        assert!(open.starts_with("ou_") && open.len() == 35, "{open}");
        assert_eq!(open, user_id(UserIdType::OpenId, "cli_a", "lin"));
        assert_ne!(open, user_id(UserIdType::OpenId, "cli_b", "lin"), "per app");
        assert_eq!(
            user_id(UserIdType::UnionId, "cli_a", "lin"),
            user_id(UserIdType::UnionId, "cli_b", "lin"),
            "per developer, not per app"
        );
        assert_eq!(user_id(UserIdType::UserId, "cli_a", "lin"), "lin");
        assert_eq!(department_id(DepartmentIdType::DepartmentId, 7), "7");
        assert!(department_id(DepartmentIdType::OpenDepartmentId, 7).starts_with("od-"));
        for kind in DepartmentIdType::ALL {
            assert_eq!(department_id(kind, FIXTURE_ROOT), "0");
        }
    }
}
