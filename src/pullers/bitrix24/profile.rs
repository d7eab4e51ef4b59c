//! A Bitrix24 person's profile: the standard fields beyond the roles, normalised, and every
//! other `UF_*` user field as a custom field by its name. See docs/fields.md, "Bitrix24".

use super::wire;
use crate::model::{Profile, ProfileField, UserKey};
use crate::pullers::profile::{Unreadable, custom_field};
use jiff::civil::Date;
use serde_json::Value;

/// Read as roles or structure, so not repeated as custom fields.
const NOT_CUSTOM: [&str; 2] = ["UF_DEPARTMENT", "UF_EMPLOYMENT_DATE"];

/// Between the items of a multiple field.
const SEPARATOR: &str = ", ";

/// `PERSONAL_PHOTO` is usually a path on the portal; the puller, which knows the portal, makes it
/// a full URL afterwards ([`absolute_avatar`]).
pub(super) fn profile(user: &wire::User, key: &UserKey, unreadable: &mut Unreadable) -> Profile {
    let mut profile = Profile::default();
    profile.set(ProfileField::Telephone, user.work_phone.clone());
    profile.set(ProfileField::WorkPlace, user.work_city.clone());
    match user.gender.as_deref() {
        None => {}
        Some("M" | "m") => profile.set(ProfileField::Gender, Some("male")),
        Some("F" | "f") => profile.set(ProfileField::Gender, Some("female")),
        Some(_) => unreadable.note(ProfileField::Gender.as_str(), key),
    }
    if let Some(raw) = &user.employment_date {
        match date(raw) {
            Some(date) => profile.set(ProfileField::HireDate, Some(date)),
            None => unreadable.note(ProfileField::HireDate.as_str(), key),
        }
    }
    match user.photo.as_deref() {
        None => {}
        Some(url) if url.starts_with('/') || is_url(url) => {
            profile.set(ProfileField::Avatar, Some(url));
        }
        // A file id (events send one) cannot be turned into a link without another call.
        Some(_) => unreadable.note(ProfileField::Avatar.as_str(), key),
    }
    for (name, value) in &user.user_fields {
        if NOT_CUSTOM.contains(&name.as_str()) {
            continue;
        }
        match text(value) {
            Ok(Some(text)) => profile.set_custom(name.as_str(), text),
            Ok(None) => {}
            Err(Unsupported) => unreadable.note(&custom_field(name), key),
        }
    }
    profile
}

/// A path on the portal (`/upload/…`) → `origin` + path; full URLs and other values unchanged.
pub(super) fn absolute_avatar(profile: &mut Profile, origin: &str) {
    if let Some(path) = profile.get(ProfileField::Avatar)
        && path.starts_with('/')
        && !path.starts_with("//")
    {
        let url = format!("{}{path}", origin.trim_end_matches('/'));
        profile.set(ProfileField::Avatar, Some(url));
    }
}

fn is_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

/// The calendar date as the portal wrote it: `2023-01-09`, `2023-01-09T00:00:00+03:00` (the
/// date part is kept as is: shifting it to UTC would move a midnight east of Greenwich to the
/// day before) or the Russian site format `09.01.2023`.
fn date(raw: &str) -> Option<String> {
    let iso = raw
        .get(..10)
        .filter(|_| raw.len() == 10 || raw[10..].starts_with('T') || raw[10..].starts_with(' '));
    let date = iso
        .and_then(|day| Date::strptime("%Y-%m-%d", day).ok())
        .or_else(|| Date::strptime("%d.%m.%Y", raw).ok())?;
    Some(date.to_string())
}

struct Unsupported;

/// A user field's value as text: strings trimmed, numbers in decimal, `true` as `true`; `false`,
/// `null`, `""`, `[]` and `{}` are empty (PHP's empty values). A multiple field (a list) is its
/// items' texts joined by `", "`, empty items left out. Objects (file fields, money with its
/// currency …) and lists holding them are unsupported.
fn text(value: &Value) -> Result<Option<String>, Unsupported> {
    match value {
        Value::Array(items) => {
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                if item.is_array() || item.is_object() {
                    return Err(Unsupported);
                }
                texts.extend(text(item)?);
            }
            Ok((!texts.is_empty()).then(|| texts.join(SEPARATOR)))
        }
        Value::Object(map) if map.is_empty() => Ok(None),
        Value::Object(_) => Err(Unsupported),
        Value::String(s) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(true) => Ok(Some("true".to_owned())),
        Value::Bool(false) | Value::Null => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_in_the_forms_portals_send() {
        for (raw, expected) in [
            ("2023-01-09", Some("2023-01-09")),
            ("2023-01-09T00:00:00+03:00", Some("2023-01-09")),
            ("2023-01-09 00:00:00", Some("2023-01-09")),
            ("09.01.2023", Some("2023-01-09")),
            ("2023-02-30", None),
            ("01/09/2023", None),
            ("2023-01-091", None),
            ("soon", None),
            ("тест-даты", None),
        ] {
            assert_eq!(date(raw).as_deref(), expected, "{raw}");
        }
    }

    #[test]
    fn user_field_values_as_text() {
        let text = |value: Value| text(&value).map_err(|_| ());
        assert_eq!(text(json!(" CC-01 ")), Ok(Some("CC-01".into())));
        assert_eq!(text(json!(42)), Ok(Some("42".into())));
        assert_eq!(text(json!(2.5)), Ok(Some("2.5".into())));
        assert_eq!(text(json!(true)), Ok(Some("true".into())));
        assert_eq!(
            text(json!(["rust", "", 7, null])),
            Ok(Some("rust, 7".into()))
        );
        for empty in [json!(false), json!(null), json!(""), json!([]), json!({})] {
            assert_eq!(text(empty.clone()), Ok(None), "{empty}");
        }
        for odd in [
            json!({"id": 774, "showUrl": "/x"}),
            json!([{"id": 1}]),
            json!([[1]]),
        ] {
            assert_eq!(text(odd.clone()), Err(()), "{odd}");
        }
    }

    #[test]
    fn portal_paths_become_links_on_the_portal() {
        let mut profile = Profile::default().with(ProfileField::Avatar, "/upload/main/80c/a.jpg");
        absolute_avatar(&mut profile, "https://corp.bitrix24.com/");
        assert_eq!(
            profile.get(ProfileField::Avatar),
            Some("https://corp.bitrix24.com/upload/main/80c/a.jpg")
        );
        let mut full = Profile::default().with(ProfileField::Avatar, "https://cdn.example/a.jpg");
        absolute_avatar(&mut full, "https://corp.bitrix24.com");
        assert_eq!(
            full.get(ProfileField::Avatar),
            Some("https://cdn.example/a.jpg")
        );
    }
}
