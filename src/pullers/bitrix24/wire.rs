//! Bitrix24's JSON as it travels. Private to the Bitrix24 puller; `convert` turns it into model
//! types. Bitrix24 sends most numbers as strings, PHP sends empty maps as `[]` and empty fields as
//! `false` or `""`: every field here accepts those forms, and unknown fields are ignored.

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;

/// The part of every answer read before anything else: an error, or where the result is.
#[derive(Debug, Deserialize)]
pub(super) struct Head {
    #[serde(default, deserialize_with = "loose_string")]
    pub error: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub error_description: Option<String>,
    /// `{"start", "finish", "operating", "operating_reset_at", …}`; read for
    /// `OPERATION_TIME_LIMIT`'s wait.
    #[serde(default)]
    pub time: Option<Value>,
}

/// `batch`: `{"result": {"result": {...}, "result_error": {...}, "result_total": {...},
/// "result_next": {...}}}`.
#[derive(Debug, Deserialize)]
pub(super) struct BatchEnvelope<'a> {
    #[serde(default, borrow)]
    pub result: Option<BatchResult<'a>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct BatchResult<'a> {
    /// The answers by command key, left as JSON text so each page is parsed once, straight into
    /// its row type ([`keyed_raw`] reads the keys). `None` when absent or `null`: a malformed
    /// answer, not an empty one.
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "keyed")]
    pub result_error: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "keyed")]
    pub result_total: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "keyed")]
    pub result_next: BTreeMap<String, Value>,
}

/// One entry of `result_error`. Bitrix24 sends `{"error": ..., "error_description": ...}`.
#[derive(Debug, Deserialize)]
pub(super) struct SubError {
    #[serde(default, deserialize_with = "loose_string")]
    pub error: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub error_description: Option<String>,
}

/// The OAuth server's answer to a refresh.
#[derive(Debug, Deserialize)]
pub(super) struct Token {
    pub access_token: String,
    #[serde(default, deserialize_with = "loose_u64")]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A row of `department.get`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Department {
    #[serde(rename = "ID", default, deserialize_with = "loose_id")]
    pub id: Option<String>,
    #[serde(rename = "NAME", default, deserialize_with = "loose_string")]
    pub name: Option<String>,
    #[serde(rename = "PARENT", default, deserialize_with = "loose_id")]
    pub parent: Option<String>,
    /// The head's user id; absent, `""` or `"0"` when there is none.
    #[serde(rename = "UF_HEAD", default, deserialize_with = "loose_id")]
    pub head: Option<String>,
}

/// A row of `user.get`. Read by hand ([`UserRow`]) rather than derived: the `UF_*` fields are
/// open-ended, and a derived catch-all would buffer every other unknown field of every row.
#[derive(Debug, Clone, Default)]
pub(super) struct User {
    /// `ID`.
    pub id: Option<String>,
    /// `ACTIVE`: a boolean in `user.get`, `"Y"`/`"N"` in events; kept raw so an odd form is
    /// reported.
    pub active: Option<Value>,
    /// `NAME`.
    pub name: Option<String>,
    /// `LAST_NAME`.
    pub last_name: Option<String>,
    /// `EMAIL`.
    pub email: Option<String>,
    /// `PERSONAL_MOBILE`.
    pub personal_mobile: Option<String>,
    /// `WORK_POSITION`.
    pub work_position: Option<String>,
    /// `UF_DEPARTMENT`.
    pub departments: Vec<String>,
    /// `USER_TYPE`: `employee`, `extranet`, `email`, …; absent on old portals, where everyone is
    /// an employee.
    pub user_type: Option<String>,
    /// `PERSONAL_GENDER`: `M`, `F` or empty.
    pub gender: Option<String>,
    /// `WORK_PHONE`.
    pub work_phone: Option<String>,
    /// `WORK_CITY`.
    pub work_city: Option<String>,
    /// `PERSONAL_PHOTO`: the photo's path on the portal (`/upload/main/…`) or a full URL.
    pub photo: Option<String>,
    /// `UF_EMPLOYMENT_DATE`, the hire date: `2023-01-09`, `2023-01-09T00:00:00+03:00` or the
    /// portal's `09.01.2023`.
    pub employment_date: Option<String>,
    /// Every other `UF_*` field (the portal's own and the custom ones), as sent, in row order.
    pub user_fields: Vec<(String, Value)>,
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(UserRow)
    }
}

/// Each known key read with the same loose rules as the other rows; unknown keys are skipped
/// without being kept, `UF_*` ones kept as JSON.
struct UserRow;

impl<'de> Visitor<'de> for UserRow {
    type Value = User;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<User, A::Error> {
        let mut user = User::default();
        while let Some(key) = map.next_key::<RowKey>()? {
            let text = |map: &mut A| map.next_value::<Loose>().map(|t| t.0);
            match key {
                RowKey::Id => user.id = text(&mut map)?.filter(|id| id != "0"),
                RowKey::Active => user.active = map.next_value()?,
                RowKey::Name => user.name = text(&mut map)?,
                RowKey::LastName => user.last_name = text(&mut map)?,
                RowKey::Email => user.email = text(&mut map)?,
                RowKey::PersonalMobile => user.personal_mobile = text(&mut map)?,
                RowKey::WorkPosition => user.work_position = text(&mut map)?,
                RowKey::Departments => user.departments = map.next_value::<LooseIds>()?.0,
                RowKey::UserType => user.user_type = text(&mut map)?,
                RowKey::Gender => user.gender = text(&mut map)?,
                RowKey::WorkPhone => user.work_phone = text(&mut map)?,
                RowKey::WorkCity => user.work_city = text(&mut map)?,
                RowKey::Photo => user.photo = text(&mut map)?,
                RowKey::EmploymentDate => user.employment_date = text(&mut map)?,
                RowKey::UserField(name) => user.user_fields.push((name, map.next_value()?)),
                RowKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(user)
    }
}

/// A key of a `user.get` row, told apart without allocating unless it is kept.
enum RowKey {
    Id,
    Active,
    Name,
    LastName,
    Email,
    PersonalMobile,
    WorkPosition,
    Departments,
    UserType,
    Gender,
    WorkPhone,
    WorkCity,
    Photo,
    EmploymentDate,
    UserField(String),
    Other,
}

impl<'de> Deserialize<'de> for RowKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl Visitor<'_> for Keys {
            type Value = RowKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<RowKey, E> {
                Ok(match key {
                    "ID" => RowKey::Id,
                    "ACTIVE" => RowKey::Active,
                    "NAME" => RowKey::Name,
                    "LAST_NAME" => RowKey::LastName,
                    "EMAIL" => RowKey::Email,
                    "PERSONAL_MOBILE" => RowKey::PersonalMobile,
                    "WORK_POSITION" => RowKey::WorkPosition,
                    "UF_DEPARTMENT" => RowKey::Departments,
                    "USER_TYPE" => RowKey::UserType,
                    "PERSONAL_GENDER" => RowKey::Gender,
                    "WORK_PHONE" => RowKey::WorkPhone,
                    "WORK_CITY" => RowKey::WorkCity,
                    "PERSONAL_PHOTO" => RowKey::Photo,
                    "UF_EMPLOYMENT_DATE" => RowKey::EmploymentDate,
                    uf if uf.starts_with("UF_") => RowKey::UserField(uf.to_owned()),
                    _ => RowKey::Other,
                })
            }
        }
        d.deserialize_identifier(Keys)
    }
}

/// [`loose_string`] as a type, for reading a map's values one by one.
struct Loose(Option<String>);

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        loose_string(d).map(Loose)
    }
}

/// [`loose_ids`] as a type.
struct LooseIds(Vec<String>);

impl<'de> Deserialize<'de> for LooseIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        loose_ids(d).map(LooseIds)
    }
}

/// Text in any scalar form; `null`, `false` and `""` read as `None`, objects and arrays too.
pub(super) fn loose_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(ScalarText)
}

/// An id as a string or a number; `0`, `""`, `false` and `null` mean none.
pub(super) fn loose_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(loose_string(d)?.filter(|id| id != "0"))
}

/// [`scalar_text`] read straight from the parser: every field of every row goes through it, and
/// building a `Value` first would allocate twice per field.
struct ScalarText;

impl<'de> Visitor<'de> for ScalarText {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let text = v.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if v.trim().len() == v.len() {
            Ok((!v.is_empty()).then_some(v))
        } else {
            self.visit_str(&v)
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map(|n| n.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.then(|| "true".to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A list of ids; a single id reads as a list of one, `false`/`null`/`""` as empty.
fn loose_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value = Value::deserialize(d)?;
    let items: Vec<String> = match &value {
        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
        Value::Object(map) => map.values().filter_map(scalar_text).collect(),
        other => scalar_text(other).into_iter().collect(),
    };
    Ok(items.into_iter().filter(|id| id != "0").collect())
}

fn loose_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(scalar_text(&Value::deserialize(d)?).and_then(|s| s.parse().ok()))
}

fn scalar_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(true) => "true".to_owned(),
        Value::Bool(false) | Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A PHP associative array: an object, or `[]` when empty (a non-empty list is keyed "0", "1", …).
fn keyed<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Value>, D::Error> {
    Ok(opt_keyed(d)?.unwrap_or_default())
}

/// [`keyed`] for JSON left as text: an object's entries, a list's items keyed "0", "1", …, and
/// nothing for any other value.
pub(super) fn keyed_raw(raw: &RawValue) -> Result<BTreeMap<String, &RawValue>, serde_json::Error> {
    let text = raw.get();
    match text.trim_start().as_bytes().first() {
        Some(b'{') => serde_json::from_str(text),
        Some(b'[') => Ok(serde_json::from_str::<Vec<&RawValue>>(text)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect()),
        _ => Ok(BTreeMap::new()),
    }
}

fn opt_keyed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, Value>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => Some(map.into_iter().collect()),
        Value::Array(items) => Some(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
        Value::Null => None,
        _ => Some(BTreeMap::new()),
    })
}

/// A page counter (`total`, `next`) as a number or a numeric string.
pub(super) fn counter(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_tolerate_php_shapes() {
        let user: User = serde_json::from_str(
            r#"{"ID": 17, "ACTIVE": "Y", "NAME": "Anna", "LAST_NAME": null, "EMAIL": false,
                "UF_DEPARTMENT": ["5", 9, 0], "USER_TYPE": "employee", "UNKNOWN": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(user.id.as_deref(), Some("17"));
        assert_eq!(user.departments, ["5", "9"]);
        assert_eq!(user.last_name, None);
        assert_eq!(user.email, None);
        for empty in ["false", "null", "\"\"", "[]"] {
            let user: User =
                serde_json::from_str(&format!(r#"{{"ID": "3", "UF_DEPARTMENT": {empty}}}"#))
                    .unwrap();
            assert!(user.departments.is_empty(), "{empty}");
        }
        let single: User = serde_json::from_str(r#"{"ID": "3", "UF_DEPARTMENT": 7}"#).unwrap();
        assert_eq!(single.departments, ["7"]);
    }

    #[test]
    fn user_fields_are_kept_in_row_order_and_other_keys_skipped() {
        let user: User = serde_json::from_str(
            r#"{"UF_USR_B": [1, "x"], "ID": "0", "TIMESTAMP_X": {}, "UF_DEPARTMENT": [5],
                "UF_EMPLOYMENT_DATE": "2023-01-09", "UF_USR_A": {"id": 1}, "PERSONAL_GENDER": "F",
                "UF_\u0053KYPE": "escaped key"}"#,
        )
        .unwrap();
        assert_eq!(user.id, None, "an ID of 0 is none");
        assert_eq!(user.departments, ["5"]);
        assert_eq!(user.employment_date.as_deref(), Some("2023-01-09"));
        assert_eq!(user.gender.as_deref(), Some("F"));
        let names: Vec<&str> = user.user_fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["UF_USR_B", "UF_USR_A", "UF_SKYPE"]);
        assert_eq!(user.user_fields[0].1, serde_json::json!([1, "x"]));
        assert!(
            serde_json::from_str::<User>("[1, 2]").is_err(),
            "a row is an object"
        );
    }

    #[test]
    fn loose_text_reads_like_a_value() {
        #[derive(Deserialize)]
        struct Field {
            #[serde(default, deserialize_with = "loose_string")]
            v: Option<String>,
        }
        for json in [
            r#"" x ""#,
            r#""""#,
            r#"" ""#,
            "17",
            "-3",
            "2.5",
            "1e3",
            "true",
            "false",
            "null",
            "[1]",
            r#"{"a": [1]}"#,
            r#""a\nb""#,
            r#""\u00e9 ""#,
        ] {
            let value: Value = serde_json::from_str(json).unwrap();
            let field: Field = serde_json::from_str(&format!(r#"{{"v": {json}}}"#)).unwrap();
            assert_eq!(field.v, scalar_text(&value), "{json}");
        }
    }

    #[test]
    fn department_heads_of_zero_or_empty_mean_none() {
        for head in ["\"0\"", "0", "\"\"", "null", "false"] {
            let dept: Department =
                serde_json::from_str(&format!(r#"{{"ID": "5", "UF_HEAD": {head}}}"#)).unwrap();
            assert_eq!(dept.head, None, "{head}");
        }
        let dept: Department =
            serde_json::from_str(r#"{"ID": 5, "PARENT": 1, "UF_HEAD": 12}"#).unwrap();
        assert_eq!(
            (
                dept.id.as_deref(),
                dept.parent.as_deref(),
                dept.head.as_deref()
            ),
            (Some("5"), Some("1"), Some("12"))
        );
    }

    #[test]
    fn batch_maps_may_be_empty_lists() {
        let batch: BatchEnvelope = serde_json::from_str(
            r#"{"result": {"result": {"u0": []}, "result_error": [], "result_total": {"u0": "0"},
                "result_next": []}}"#,
        )
        .unwrap();
        let result = batch.result.unwrap();
        assert!(
            keyed_raw(result.result.unwrap())
                .unwrap()
                .contains_key("u0")
        );
        assert!(result.result_error.is_empty() && result.result_next.is_empty());
        assert_eq!(counter(&result.result_total["u0"]), Some(0));
        for absent in [
            r#"{"result": {"result_error": []}}"#,
            r#"{"result": {"result": null}}"#,
        ] {
            let missing: BatchEnvelope = serde_json::from_str(absent).unwrap();
            assert!(missing.result.unwrap().result.is_none(), "{absent}");
        }
        let raw = |text: &str| RawValue::from_string(text.to_owned()).unwrap();
        assert!(keyed_raw(&raw("[]")).unwrap().is_empty());
        let listed = raw(r#"[[{"ID": "1"}], []]"#);
        let listed = keyed_raw(&listed).unwrap();
        assert_eq!(listed["0"].get(), r#"[{"ID": "1"}]"#);
        assert_eq!(listed["1"].get(), "[]");
        assert!(keyed_raw(&raw("false")).unwrap().is_empty());
    }
}
