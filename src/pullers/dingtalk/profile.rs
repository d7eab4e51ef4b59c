//! A DingTalk user's profile: the standard fields beyond the roles (from `user/list` items and
//! `user/get`), the custom fields of `extension`, and what the HR roster adds (sex, employee
//! type, hire date, custom roster fields).

use super::wire::{self, ROSTER_EMPLOYEE_TYPE, ROSTER_JOIN_DATE, ROSTER_SEX};
use crate::model::{Profile, ProfileField};
use crate::pullers::text::non_empty;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use serde_json::Value;

/// The profile fields of a record, taken out of it. `Err` carries what could be read when
/// `extension` is not a JSON object (its custom fields are then missing).
pub(super) fn profile(user: &mut wire::User) -> Result<Profile, Profile> {
    let mut profile = Profile::default();
    profile.set(
        ProfileField::EnterpriseEmail,
        non_empty(user.org_email.clone()),
    );
    profile.set(ProfileField::Telephone, non_empty(user.telephone.take()));
    profile.set(ProfileField::Avatar, non_empty(user.avatar.take()));
    profile.set(ProfileField::WorkPlace, non_empty(user.work_place.take()));
    profile.set(
        ProfileField::HireDate,
        user.hired_date.as_deref().and_then(date_of_millis),
    );
    match user.extension.take().map(|e| extension(&e)) {
        None | Some(Ok(None)) => Ok(profile),
        Some(Ok(Some(fields))) => {
            for (name, value) in fields {
                profile.set_custom(name, value);
            }
            Ok(profile)
        }
        Some(Err(())) => Err(profile),
    }
}

/// `extension`: a string holding a JSON object (`"{\"工位\":\"A-12\"}"`); an object as such is
/// read too. Values that are numbers or booleans are taken as their text; nested values are
/// skipped. `Ok(None)`: empty. `Err`: not an object.
#[allow(
    clippy::result_unit_err,
    reason = "the caller only needs to know it failed"
)]
fn extension(raw: &Value) -> Result<Option<Vec<(String, String)>>, ()> {
    let parsed;
    let object = match raw {
        Value::Null => return Ok(None),
        Value::String(text) if text.trim().is_empty() => return Ok(None),
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|_| ())?;
            parsed.as_object().ok_or(())?
        }
        Value::Object(object) => object,
        _ => return Err(()),
    };
    Ok(Some(
        object
            .iter()
            .filter(|(name, _)| !name.trim().is_empty())
            .filter_map(|(name, value)| Some((name.trim().to_owned(), scalar(value)?)))
            .collect(),
    ))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// DingTalk's dates are instants (milliseconds) meant as a day in China: the day in
/// Asia/Shanghai (UTC+8 when the time zone database is missing).
fn date_of_millis(raw: &str) -> Option<String> {
    let millis: i64 = raw.trim().parse().ok()?;
    let instant = jiff::Timestamp::from_millisecond(millis).ok()?;
    let zone =
        TimeZone::get("Asia/Shanghai").unwrap_or_else(|_| TimeZone::fixed(Offset::constant(8)));
    Some(instant.to_zoned(zone).date().to_string())
}

/// A roster date: `YYYY-MM-DD` (possibly followed by a time) or milliseconds.
fn roster_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return date_of_millis(raw);
    }
    let day = raw.get(..10)?;
    day.parse::<Date>().ok().map(|d| d.to_string())
}

fn sex(label: &str) -> Option<&'static str> {
    match label.trim() {
        "男" | "male" => Some("male"),
        "女" | "female" => Some("female"),
        _ => None,
    }
}

/// The roster's fixed list (全职, 实习, 劳务外包, 劳务派遣, 兼职, 退休返聘, 无类型) in the
/// platform-neutral words where there is one; the roster's own text otherwise.
fn employee_type(label: &str) -> Option<String> {
    let label = label.trim();
    let neutral = match label {
        "" | "无类型" => return None,
        "全职" => "regular",
        "实习" => "intern",
        "劳务外包" => "outsourced",
        "劳务派遣" => "contractor",
        other => other,
    };
    Some(neutral.to_owned())
}

/// One roster answer's `field_data_list`: sex, employee type and hire date, and every field
/// whose code is not a system one (`sys…`) as a custom field by its `field_name`.
pub(super) fn roster_profile(fields: &[Value]) -> Profile {
    let mut profile = Profile::default();
    for field in fields {
        let Some(code) = field.get("field_code").and_then(Value::as_str) else {
            continue;
        };
        let Some(text) = first_text(field) else {
            continue;
        };
        match code {
            ROSTER_SEX => profile.set(ProfileField::Gender, sex(&text)),
            ROSTER_EMPLOYEE_TYPE => profile.set(ProfileField::EmployeeType, employee_type(&text)),
            ROSTER_JOIN_DATE => profile.set(ProfileField::HireDate, roster_date(&text)),
            custom if !custom.starts_with("sys") => {
                if let Some(name) = field
                    .get("field_name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                {
                    profile.set_custom(name, text);
                }
            }
            _ => {}
        }
    }
    profile
}

/// The first non-empty entry of `field_value_list`: its `label` (the text shown for an option),
/// else its `value`.
fn first_text(field: &Value) -> Option<String> {
    field
        .get("field_value_list")?
        .as_array()?
        .iter()
        .find_map(|item| {
            ["label", "value"]
                .iter()
                .filter_map(|key| scalar(item.get(*key)?))
                .find(|text| !text.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(user: Value) -> Result<Profile, Profile> {
        let mut user: wire::User = serde_json::from_value(user).expect("wire JSON parses");
        profile(&mut user)
    }

    #[test]
    fn every_standard_field_is_read_and_the_hire_date_is_a_day_in_shanghai() {
        let profile = read(json!({
            "userid": "u_lin01", "org_email": "lin@corp.example.cn", "telephone": "010-8612-2345",
            "avatar": "https://static.dingtalk.com/lin.png", "work_place": "杭州 A 区",
            // 2022-12-31T16:00:00Z is 2023-01-01 00:00 in Shanghai.
            "hired_date": 1672502400000_i64
        }))
        .expect("no extension to fail");
        let standard: Vec<(ProfileField, Option<&str>)> = ProfileField::ALL
            .iter()
            .map(|&field| (field, profile.get(field)))
            .collect();
        assert_eq!(
            standard,
            [
                (ProfileField::EnglishName, None),
                (ProfileField::EnterpriseEmail, Some("lin@corp.example.cn")),
                (ProfileField::Telephone, Some("010-8612-2345")),
                (ProfileField::EmployeeType, None),
                (ProfileField::Gender, None),
                (ProfileField::WorkPlace, Some("杭州 A 区")),
                (ProfileField::HireDate, Some("2023-01-01")),
                (
                    ProfileField::Avatar,
                    Some("https://static.dingtalk.com/lin.png")
                ),
            ]
        );
    }

    #[test]
    fn hire_dates_in_odd_forms() {
        for (raw, want) in [
            (json!("1672531200000"), Some("2023-01-01")),
            (json!(1672588799999_i64), Some("2023-01-01")),
            (json!(1672588800000_i64), Some("2023-01-02")),
            (json!("not a date"), None),
            (json!(""), None),
            (json!(i64::MAX), None),
            (json!({}), None),
        ] {
            let profile = read(json!({ "hired_date": raw.clone() })).unwrap();
            assert_eq!(profile.get(ProfileField::HireDate), want, "{raw}");
        }
    }

    #[test]
    fn extension_gives_custom_fields_by_name() {
        let profile = read(json!({
            "extension": "{\"工位\":\" A-12 \",\"爱好\":\"旅游\",\"级别\":6,\"\":\"x\",\"嵌套\":{\"a\":1}}"
        }))
        .expect("a valid extension");
        let custom: Vec<(&str, Option<&str>)> = profile
            .custom_names()
            .map(|name| (name, profile.custom(name)))
            .collect();
        assert_eq!(
            custom,
            [
                ("工位", Some("A-12")),
                ("爱好", Some("旅游")),
                ("级别", Some("6"))
            ]
        );
    }

    #[test]
    fn a_malformed_extension_is_an_error_that_keeps_the_other_fields() {
        for bad in [
            json!("{\"工位\":"),
            json!("[1,2]"),
            json!("\"text\""),
            json!(7),
        ] {
            let profile = read(json!({ "extension": bad.clone(), "telephone": "123" }))
                .expect_err("a malformed extension is reported");
            assert_eq!(profile.get(ProfileField::Telephone), Some("123"), "{bad}");
            assert_eq!(profile.custom_names().count(), 0, "{bad}");
        }
        for empty in [json!(""), json!(null), json!("{}")] {
            let profile = read(json!({ "extension": empty.clone() })).expect("empty is fine");
            assert!(profile.is_empty(), "{empty}");
        }
    }

    fn field(code: &str, name: &str, label: &str, value: &str) -> Value {
        json!({ "field_code": code, "field_name": name, "group_id": "g",
                "field_value_list": [{ "item_index": 0, "label": label, "value": value }] })
    }

    #[test]
    fn roster_fields_are_normalised_and_custom_ones_named() {
        let profile = roster_profile(&[
            field("sys00-reportManagerId", "直属主管id", "", "mgr"),
            field(ROSTER_SEX, "性别", "女", "1"),
            field(ROSTER_EMPLOYEE_TYPE, "员工类型", "实习", "2"),
            field(ROSTER_JOIN_DATE, "入职时间", "2021-03-01", "2021-03-01"),
            field(
                "sys02-certNo",
                "证件号码",
                "110101199001011234",
                "110101199001011234",
            ),
            field(
                "3baafdf8-f74a-489e-bb03-fd094eecfc3b",
                "成本中心",
                "CC-01",
                "CC-01",
            ),
            field("d0c5-custom", "", "nameless", "nameless"),
            json!({ "field_code": "e1-custom", "field_name": "空", "field_value_list": [] }),
            json!("not an object"),
        ]);
        assert_eq!(profile.get(ProfileField::Gender), Some("female"));
        assert_eq!(profile.get(ProfileField::EmployeeType), Some("intern"));
        assert_eq!(profile.get(ProfileField::HireDate), Some("2021-03-01"));
        // System fields not asked for (an ID number) never land in the profile.
        assert_eq!(profile.custom_names().collect::<Vec<_>>(), ["成本中心"]);
        assert_eq!(profile.custom("成本中心"), Some("CC-01"));
    }

    #[test]
    fn roster_values_in_other_forms() {
        assert_eq!(employee_type("全职").as_deref(), Some("regular"));
        assert_eq!(employee_type("劳务外包").as_deref(), Some("outsourced"));
        assert_eq!(employee_type("劳务派遣").as_deref(), Some("contractor"));
        assert_eq!(employee_type("退休返聘").as_deref(), Some("退休返聘"));
        assert_eq!(employee_type("无类型"), None);
        assert_eq!(sex("男"), Some("male"));
        assert_eq!(sex("保密"), None);
        assert_eq!(
            roster_date("2021-03-01 09:00:00").as_deref(),
            Some("2021-03-01")
        );
        assert_eq!(roster_date("1614528000000").as_deref(), Some("2021-03-01"));
        assert_eq!(roster_date("2021-13-01"), None);
        assert_eq!(roster_date("明天"), None);
    }
}
