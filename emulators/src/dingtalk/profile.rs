//! The fixture's profile and custom fields in DingTalk's forms: on `user/list` items and
//! `user/get` (`org_email`, `telephone`, `avatar`, `work_place`, `hired_date` in milliseconds,
//! `extension` as a JSON string), and on the HR roster (sex, employee type, hire date, and each
//! custom field under the code [`roster_field_code`] gives it).

use super::state::Directory;
use super::wire;
use crate::fixture::User;

/// The roster code the emulator gives the custom field `name`: a uuid-like id, as DingTalk's
/// custom roster fields have (FNV-1a of the name).
pub fn roster_field_code(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let hex = format!("{hash:016x}");
    format!("{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..], &hex[..4])
}

/// The fields of `user/list` items and `user/get`. `org_email`, `work_place` and `extension`
/// need the personal-info permission (`Org::sensitive_fields`), like mobile and email.
pub(super) fn fields(directory: &Directory, user: &User) -> wire::ProfileFields {
    let personal = directory.org.sensitive_fields;
    let profile = &user.profile;
    let extension = (personal && !user.custom.is_empty())
        .then(|| serde_json::to_string(&user.custom).expect("a map of strings serializes"));
    wire::ProfileFields {
        org_email: profile.enterprise_email.clone().filter(|_| personal),
        telephone: profile.telephone.clone(),
        avatar: profile.avatar.clone(),
        work_place: profile.work_place.clone().filter(|_| personal),
        hired_date: profile
            .hire_date
            .as_deref()
            .and_then(shanghai_midnight_millis),
        extension,
    }
}

/// `YYYY-MM-DD` → the milliseconds of that day's 00:00 in China (UTC+8).
fn shanghai_midnight_millis(date: &str) -> Option<i64> {
    let mut parts = date.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 - 8 * 3_600) * 1_000)
}

/// The roster's answer for one asked code of this person: (field name, group, value, label).
pub(super) fn roster_field(
    user: &User,
    code: &str,
) -> Option<(String, &'static str, String, String)> {
    let profile = &user.profile;
    let same = |name: &str, group, text: Option<String>| {
        text.map(|t| (name.to_owned(), group, t.clone(), t))
    };
    match code {
        "sys02-sexType" => {
            let (value, label) = match profile.gender.as_deref()? {
                "male" => ("0", "男"),
                "female" => ("1", "女"),
                _ => return None,
            };
            Some(("性别".into(), "sys02", value.into(), label.into()))
        }
        "sys01-employeeType" => {
            let (value, label) = match profile.employee_type.as_deref()? {
                "regular" => ("1", "全职"),
                "intern" => ("3", "实习"),
                "contractor" => ("4", "劳务派遣"),
                "outsourced" => ("6", "劳务外包"),
                other => ("0", other),
            };
            Some(("员工类型".into(), "sys01", value.into(), label.into()))
        }
        "sys00-confirmJoinTime" => same("入职时间", "sys00", profile.hire_date.clone()),
        custom => user
            .custom
            .iter()
            .find(|(name, _)| roster_field_code(name) == custom)
            .and_then(|(name, value)| same(name, "customGroup", Some(value.clone()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_shanghai_midnights() {
        // 2023-01-01T00:00+08:00 = 2022-12-31T16:00Z.
        assert_eq!(
            shanghai_midnight_millis("2023-01-01"),
            Some(1_672_502_400_000)
        );
        assert_eq!(shanghai_midnight_millis("1970-01-01"), Some(-28_800_000));
        assert_eq!(shanghai_midnight_millis("2023-13-01"), None);
        assert_eq!(shanghai_midnight_millis("soon"), None);
    }

    #[test]
    fn custom_codes_are_stable_and_distinct() {
        assert_eq!(roster_field_code("成本中心"), roster_field_code("成本中心"));
        assert_ne!(roster_field_code("成本中心"), roster_field_code("工位"));
        assert!(!roster_field_code("x").starts_with("sys"));
    }
}
