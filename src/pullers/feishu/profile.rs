//! A Feishu person's profile: the standard fields beyond the roles, normalised, and the tenant's
//! custom fields (`custom_attrs`) by id. See docs/fields.md, "Feishu / Lark".

use super::wire;
use crate::model::{Profile, ProfileField, UserKey};
use crate::pullers::profile::{Unreadable, custom_field};
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde_json::Value;

/// Feishu's dates are China's: Asia/Shanghai, UTC+8 all year (no daylight saving since 1991), so
/// a fixed offset gives the same dates without needing a time-zone database on the host.
const CHINA: i8 = 8;

pub(super) fn profile(user: &wire::User, key: &UserKey, unreadable: &mut Unreadable) -> Profile {
    let mut profile = Profile::default();
    let text = |value: &Option<String>| value.as_deref().map(str::trim).map(str::to_owned);
    profile.set(ProfileField::EnglishName, text(&user.en_name));
    profile.set(ProfileField::EnterpriseEmail, text(&user.enterprise_email));
    profile.set(ProfileField::WorkPlace, text(&user.city));
    let avatar = &user.avatar;
    let avatar = [
        &avatar.avatar_origin,
        &avatar.avatar_640,
        &avatar.avatar_240,
        &avatar.avatar_72,
    ]
    .into_iter()
    .find_map(|url| text(url).filter(|url| !url.is_empty()));
    profile.set(ProfileField::Avatar, avatar);
    let mut read = |field: ProfileField, raw: &Option<String>, parse: fn(&str) -> Parsed| match raw
        .as_deref()
        .map(str::trim)
        .map(parse)
    {
        None | Some(Parsed::Absent) => {}
        Some(Parsed::Value(value)) => profile.set(field, Some(value)),
        Some(Parsed::Unreadable) => unreadable.note(field.as_str(), key),
    };
    read(ProfileField::Gender, &user.gender, gender);
    read(
        ProfileField::EmployeeType,
        &user.employee_type,
        employee_type,
    );
    read(ProfileField::HireDate, &user.join_time, join_date);
    for attr in &user.custom_attrs {
        match custom_attr(attr) {
            Custom::Value { id, value } => profile.set_custom(id, value),
            Custom::Empty => {}
            Custom::Unreadable { id: Some(id) } => unreadable.note(&custom_field(id), key),
            Custom::Unreadable { id: None } => unreadable.note("custom_attrs", key),
        }
    }
    profile
}

enum Parsed {
    Value(String),
    Absent,
    Unreadable,
}

/// `1` male, `2` female; `0` (not given) and `3` (other) are left empty, as the neutral gender
/// has only the two values.
fn gender(raw: &str) -> Parsed {
    match raw {
        "1" => Parsed::Value("male".into()),
        "2" => Parsed::Value("female".into()),
        "" | "0" | "3" => Parsed::Absent,
        _ => Parsed::Unreadable,
    }
}

/// Feishu's five types by their neutral names; a tenant-defined type (a higher number) as its
/// number, since its name needs another API (`employee_type_enums`).
fn employee_type(raw: &str) -> Parsed {
    let name = match raw {
        "" | "0" => return Parsed::Absent,
        "1" => "regular",
        "2" => "intern",
        "3" => "outsourced",
        "4" => "contractor",
        "5" => "consultant",
        other if other.parse::<u32>().is_ok() => other,
        _ => return Parsed::Unreadable,
    };
    Parsed::Value(name.into())
}

/// Unix seconds → the calendar date in China. `0` means not set.
fn join_date(raw: &str) -> Parsed {
    let Ok(seconds) = raw.parse::<i64>() else {
        return if raw.is_empty() {
            Parsed::Absent
        } else {
            Parsed::Unreadable
        };
    };
    if seconds == 0 {
        return Parsed::Absent;
    }
    let Ok(at) = Timestamp::from_second(seconds) else {
        return Parsed::Unreadable;
    };
    let zone = TimeZone::fixed(Offset::constant(CHINA));
    Parsed::Value(at.to_zoned(zone).date().to_string())
}

enum Custom<'a> {
    Value {
        id: &'a str,
        value: String,
    },
    /// Present with no value: the person has none.
    Empty,
    Unreadable {
        id: Option<&'a str>,
    },
}

/// One `custom_attrs` entry as text, by its type:
/// `TEXT` its text; `HREF` its URL (`url`, else `pc_url`); `ENUMERATION` the chosen option's value
/// (`option_value`, else `option_id`); `PICTURE_ENUM` the picture option's name (`name`, else
/// `option_id`); `GENERIC_USER` the referenced person's id (`generic_user.id`, in the pull's
/// `user_id_type`). Any other type, an entry without an id, or a value of the wrong JSON type is
/// unreadable.
fn custom_attr(attr: &Value) -> Custom<'_> {
    let id = attr
        .get("id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let unreadable = Custom::Unreadable { id };
    let Some(id) = id else {
        return unreadable;
    };
    let value = match attr.get("value") {
        None | Some(Value::Null) => return Custom::Empty,
        Some(value @ Value::Object(_)) => value,
        Some(_) => return unreadable,
    };
    let fields: &[&[&str]] = match attr.get("type").and_then(Value::as_str) {
        Some("TEXT") => &[&["text"]],
        Some("HREF") => &[&["url"], &["pc_url"]],
        Some("ENUMERATION") => &[&["option_value"], &["option_id"]],
        Some("PICTURE_ENUM") => &[&["name"], &["option_id"]],
        Some("GENERIC_USER") => &[&["generic_user", "id"]],
        _ => return unreadable,
    };
    for path in fields {
        let found = path.iter().try_fold(value, |at, step| at.get(step));
        match found {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) if text.trim().is_empty() => continue,
            Some(Value::String(text)) => {
                return Custom::Value {
                    id,
                    value: text.trim().to_owned(),
                };
            }
            Some(Value::Number(n)) => {
                return Custom::Value {
                    id,
                    value: n.to_string(),
                };
            }
            Some(_) => return unreadable,
        }
    }
    Custom::Empty
}
