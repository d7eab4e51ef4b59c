//! A WeCom user's profile: the standard fields beyond the roles, and the custom fields (`extattr`).
//!
//! Apps created after 2022-06-20 are not sent `gender`, `biz_mail`, `avatar` nor `address`: those
//! are then simply absent.

use super::wire;
use crate::model::{Profile, ProfileField};
use crate::pullers::text::non_empty;
use serde_json::Value;

/// Takes the profile fields out of `user`.
pub(super) fn profile(user: &mut wire::User) -> Profile {
    let mut profile = Profile::default();
    // `alias` is the English name today; `english_name` only comes from older answers.
    let english_name = user
        .alias
        .take()
        .filter(|a| !a.trim().is_empty())
        .or(user.english_name.take());
    profile.set(ProfileField::EnglishName, non_empty(english_name));
    profile.set(
        ProfileField::EnterpriseEmail,
        non_empty(user.biz_mail.take()),
    );
    profile.set(ProfileField::Telephone, non_empty(user.telephone.take()));
    profile.set(
        ProfileField::Gender,
        user.gender.as_deref().and_then(gender),
    );
    profile.set(ProfileField::Avatar, non_empty(user.avatar.take()));
    profile.set(ProfileField::WorkPlace, non_empty(user.address.take()));
    if let Some(extattr) = user.extattr.take() {
        for (name, value) in custom_fields(&extattr) {
            profile.set_custom(name, value);
        }
    }
    profile
}

fn gender(raw: &str) -> Option<&'static str> {
    match raw.trim() {
        "1" => Some("male"),
        "2" => Some("female"),
        // "0": not set (also what a withheld gender reads as).
        _ => None,
    }
}

/// `extattr.attrs[]` by name: a text entry (type 0) gives its `text.value`, a web entry (type 1)
/// its `web.url`. Mini-program entries (type 2) carry no value to sync and are skipped, as is any
/// entry without a name or of a shape WeCom does not document. The type is inferred from the
/// entry's content when `type` is missing; the old `{name, value}` form is still read.
fn custom_fields(extattr: &Value) -> Vec<(String, String)> {
    let Some(attrs) = extattr.get("attrs").and_then(Value::as_array) else {
        return Vec::new();
    };
    attrs
        .iter()
        .filter_map(|attr| {
            let name = attr.get("name")?.as_str()?.trim();
            if name.is_empty() {
                return None;
            }
            let text = |path: [&str; 2]| attr.get(path[0])?.get(path[1])?.as_str();
            let value = match attr.get("type").and_then(type_code) {
                Some(0) => text(["text", "value"]),
                Some(1) => text(["web", "url"]),
                Some(_) => None,
                None => text(["text", "value"])
                    .or_else(|| text(["web", "url"]))
                    .or_else(|| attr.get("value")?.as_str()),
            }?;
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// `type` is documented as a number; a string holding one is read too.
fn type_code(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(user: Value) -> Profile {
        let mut user: wire::User = serde_json::from_value(user).expect("wire JSON parses");
        profile(&mut user)
    }

    #[test]
    fn every_standard_field_is_read_and_normalised() {
        let profile = read(json!({
            "userid": "lin", "alias": " jackzhang ", "english_name": "jacky",
            "biz_mail": "lin@corp.wecom.work", "telephone": "020-123456", "gender": "2",
            "avatar": "http://wx.qlogo.cn/mmopen/x/0", "address": "广州市海珠区新港中路"
        }));
        assert_eq!(profile.get(ProfileField::EnglishName), Some("jackzhang"));
        assert_eq!(
            profile.get(ProfileField::EnterpriseEmail),
            Some("lin@corp.wecom.work")
        );
        assert_eq!(profile.get(ProfileField::Telephone), Some("020-123456"));
        assert_eq!(profile.get(ProfileField::Gender), Some("female"));
        assert_eq!(
            profile.get(ProfileField::Avatar),
            Some("http://wx.qlogo.cn/mmopen/x/0")
        );
        assert_eq!(
            profile.get(ProfileField::WorkPlace),
            Some("广州市海珠区新港中路")
        );
        // WeCom has no hire date nor employee type.
        assert_eq!(profile.get(ProfileField::HireDate), None);
        assert_eq!(profile.get(ProfileField::EmployeeType), None);
    }

    #[test]
    fn english_name_falls_back_to_the_older_field_and_gender_codes_are_mapped() {
        let profile = read(json!({ "alias": "", "english_name": "jacky", "gender": 1 }));
        assert_eq!(profile.get(ProfileField::EnglishName), Some("jacky"));
        assert_eq!(profile.get(ProfileField::Gender), Some("male"));
        for unknown in [json!("0"), json!(""), json!("9"), json!(null), json!({})] {
            let profile = read(json!({ "gender": unknown.clone() }));
            assert_eq!(profile.get(ProfileField::Gender), None, "{unknown}");
        }
    }

    #[test]
    fn withheld_fields_are_absent() {
        // A post-2022-06-20 app: no gender, biz_mail, avatar nor address at all.
        let profile = read(json!({ "userid": "lin", "alias": "", "telephone": "" }));
        assert!(profile.is_empty(), "{profile:?}");
    }

    #[test]
    fn extattr_text_gives_its_value_and_web_its_url() {
        let profile = read(json!({ "extattr": { "attrs": [
            { "type": 0, "name": "工位", "text": { "value": " A-12 " } },
            { "type": 1, "name": "主页", "web": { "url": "https://lin.example.cn", "title": "Lin" } },
            { "type": 2, "name": "小程序", "miniprogram": { "appid": "wx1", "title": "app" } },
            { "type": "0", "name": "成本中心", "text": { "value": "CC-01" } },
            { "name": "旧式", "value": "old" },
            { "type": 0, "name": "", "text": { "value": "nameless" } },
            { "type": 0, "name": "空", "text": { "value": "" } },
            { "type": 1, "name": "坏", "text": { "value": "a web entry without web" } },
            "not an object", 7
        ] } }));
        let custom: Vec<(&str, Option<&str>)> = profile
            .custom_names()
            .map(|name| (name, profile.custom(name)))
            .collect();
        assert_eq!(
            custom,
            [
                ("工位", Some("A-12")),
                ("主页", Some("https://lin.example.cn")),
                ("成本中心", Some("CC-01")),
                ("旧式", Some("old")),
            ]
        );
    }

    #[test]
    fn an_odd_extattr_costs_the_custom_fields_not_the_person() {
        for extattr in [json!("x"), json!({ "attrs": {} }), json!([1]), json!(null)] {
            let profile =
                read(json!({ "userid": "lin", "extattr": extattr.clone(), "gender": "1" }));
            assert_eq!(profile.custom_names().count(), 0, "{extattr}");
            assert_eq!(profile.get(ProfileField::Gender), Some("male"), "{extattr}");
        }
    }
}
