//! DingTalk's decrypted contact event payload, read into notices. Shared by the HTTP opener
//! (`dingtalk.rs`, after decryption) and the Stream client (`stream.rs`, the `data` string), which
//! carry the same payload:
//!
//! ```json
//! { "EventType": "user_modify_org", "TimeStamp": "1717000000000",
//!   "UserId": ["u_lin01"], "CorpId": "dingFakeCorp01" }
//! ```
//!
//! Keys are read without regard to case (`UserId` and `userId` both seen in the wild), ids as
//! strings or numbers: a payload that cannot be read is refused, never guessed at.

use super::{Notice, Refusal, StoredEvent};
use crate::model::{DepartmentId, UserKey};
use jiff::Timestamp;
use serde_json::{Map, Value};

/// One decrypted DingTalk event, before the receiver stamps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DingtalkEvent {
    /// `EventType` (`user_add_org`, `check_url`, …).
    pub event_type: String,
    /// `TimeStamp` (milliseconds), when the platform says the change happened.
    pub occurred_at: Option<Timestamp>,
    pub notices: Vec<Notice>,
}

impl DingtalkEvent {
    pub fn into_stored(self, received_at: Timestamp) -> StoredEvent {
        StoredEvent {
            event_type: self.event_type,
            received_at,
            occurred_at: self.occurred_at,
            notices: self.notices,
        }
    }
}

/// The URL verification event of the HTTP subscription.
pub const CHECK_URL: &str = "check_url";

/// Reads a decrypted payload. `fallback_type` names the event when the payload does not (the
/// Stream message's `eventType` header).
pub fn read(payload: &[u8], fallback_type: Option<&str>) -> Result<DingtalkEvent, Refusal> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Refusal::Malformed(format!("the event payload is not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(Refusal::Malformed(
            "the event payload is not an object".into(),
        ));
    };
    let event_type = match field(&fields, "EventType") {
        Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
        Some(_) => return Err(Refusal::Malformed("EventType is not a string".into())),
        None => fallback_type
            .filter(|kind| !kind.is_empty())
            .ok_or_else(|| Refusal::Malformed("the event has no EventType".into()))?
            .to_owned(),
    };
    let occurred_at =
        match field(&fields, "TimeStamp") {
            None => None,
            Some(value) => Some(millis(value).ok_or_else(|| {
                Refusal::Malformed("TimeStamp is not a time in milliseconds".into())
            })?),
        };
    let notices = notices(&event_type, &fields)?;
    Ok(DingtalkEvent {
        event_type,
        occurred_at,
        notices,
    })
}

/// The payload's `CorpId`, when it has one (a string).
pub fn corp_id(payload: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    match field(value.as_object()?, "CorpId")? {
        Value::String(corp) => Some(corp.clone()),
        _ => None,
    }
}

/// What each event type means for orgsync.
fn notices(event_type: &str, fields: &Map<String, Value>) -> Result<Vec<Notice>, Refusal> {
    let ignored = || {
        vec![Notice::Ignored {
            event_type: event_type.to_owned(),
        }]
    };
    Ok(match event_type {
        "user_add_org" | "user_modify_org" | "user_leave_org" | "user_active_org" => {
            let keys: Vec<UserKey> = ids(fields, "UserId")?
                .into_iter()
                .map(UserKey::new)
                .collect();
            vec![Notice::People { keys }]
        }
        "org_dept_create" | "org_dept_modify" | "org_dept_remove" => {
            let ids: Vec<DepartmentId> = ids(fields, "DeptId")?
                .into_iter()
                .map(DepartmentId::new)
                .collect();
            vec![Notice::Departments { ids }]
        }
        // Admin roles and labels (角色) are nothing orgsync syncs; a person's labels do not
        // change the app's contact scope (`auth/scopes` knows departments and people only).
        "org_admin_add" | "org_admin_remove" | "label_conf_add" | "label_conf_del"
        | "label_conf_modify" | "label_user_change" => ignored(),
        CHECK_URL => Vec::new(),
        // `org_remove`, `org_change` (the organisation itself) and anything new: a full run.
        other => vec![Notice::Unknown {
            event_type: other.to_owned(),
        }],
    })
}

/// A field by its documented name, or the same name in another case.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A list of ids (strings or integers); one id alone is read as a list of one.
fn ids(fields: &Map<String, Value>, name: &str) -> Result<Vec<String>, Refusal> {
    let malformed = || Refusal::Malformed(format!("{name} is not a list of ids"));
    let one = |value: &Value| match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) if id.is_i64() || id.is_u64() => Some(id.to_string()),
        _ => None,
    };
    match field(fields, name) {
        None => Err(Refusal::Malformed(format!("the event has no {name}"))),
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|v| one(v).ok_or_else(malformed)).collect()
        }
        Some(value) => one(value).map(|id| vec![id]).ok_or_else(malformed),
    }
}

/// Milliseconds since the epoch, as a string or a number.
pub fn millis(value: &Value) -> Option<Timestamp> {
    let ms = match value {
        Value::String(text) => text.trim().parse::<i64>().ok()?,
        Value::Number(number) => number.as_i64()?,
        _ => return None,
    };
    Timestamp::from_millisecond(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(keys: &[&str]) -> Vec<Notice> {
        vec![Notice::People {
            keys: keys.iter().map(|k| UserKey::new(*k)).collect(),
        }]
    }

    #[test]
    fn the_notes_examples_read_as_people_and_departments() {
        let user = br#"{ "EventType": "user_modify_org", "TimeStamp": "1717000000000",
            "UserId": ["u_lin01", "u_wu02"], "CorpId": "dingFakeCorp01", "OptStaffId": "u_admin" }"#;
        let event = read(user, None).unwrap();
        assert_eq!(event.event_type, "user_modify_org");
        assert_eq!(
            event.occurred_at,
            Some(Timestamp::from_millisecond(1_717_000_000_000).unwrap())
        );
        assert_eq!(event.notices, people(&["u_lin01", "u_wu02"]));
        assert_eq!(corp_id(user).as_deref(), Some("dingFakeCorp01"));

        let dept = br#"{ "EventType": "org_dept_create", "TimeStamp": "1717000000000", "DeptId": [4209], "CorpId": "dingFakeCorp01" }"#;
        assert_eq!(
            read(dept, None).unwrap().notices,
            vec![Notice::Departments {
                ids: vec![DepartmentId::new("4209")]
            }]
        );
    }

    #[test]
    fn every_contact_event_type_has_its_notice() {
        for kind in [
            "user_add_org",
            "user_modify_org",
            "user_leave_org",
            "user_active_org",
        ] {
            let payload = format!(r#"{{"EventType":"{kind}","UserId":["a"]}}"#);
            assert_eq!(
                read(payload.as_bytes(), None).unwrap().notices,
                people(&["a"]),
                "{kind}"
            );
        }
        for kind in ["org_dept_create", "org_dept_modify", "org_dept_remove"] {
            let payload = format!(r#"{{"EventType":"{kind}","DeptId":["7"]}}"#);
            let notices = read(payload.as_bytes(), None).unwrap().notices;
            assert_eq!(
                notices,
                vec![Notice::Departments {
                    ids: vec![DepartmentId::new("7")]
                }],
                "{kind}"
            );
        }
        for kind in [
            "org_admin_add",
            "org_admin_remove",
            "label_conf_add",
            "label_conf_del",
            "label_conf_modify",
            "label_user_change",
        ] {
            let payload = format!(r#"{{"EventType":"{kind}"}}"#);
            let notices = read(payload.as_bytes(), None).unwrap().notices;
            assert_eq!(
                notices,
                vec![Notice::Ignored {
                    event_type: kind.into()
                }]
            );
        }
        for kind in ["org_remove", "org_change", "something_new"] {
            let payload = format!(r#"{{"EventType":"{kind}"}}"#);
            let notices = read(payload.as_bytes(), None).unwrap().notices;
            assert_eq!(
                notices,
                vec![Notice::Unknown {
                    event_type: kind.into()
                }]
            );
        }
    }

    #[test]
    fn stream_payloads_in_lower_camel_case_and_header_types_are_read() {
        let event = read(
            br#"{"timeStamp":1717000000000,"userId":"solo"}"#,
            Some("user_leave_org"),
        )
        .unwrap();
        assert_eq!(event.event_type, "user_leave_org");
        assert_eq!(event.notices, people(&["solo"]));
        assert!(event.occurred_at.is_some());
    }

    #[test]
    fn unreadable_payloads_are_refused_as_malformed() {
        for payload in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{"UserId":["a"]}"#,
            br#"{"EventType":"user_add_org"}"#,
            br#"{"EventType":"user_add_org","UserId":[]}"#,
            br#"{"EventType":"user_add_org","UserId":[{"x":1}]}"#,
            br#"{"EventType":"org_dept_remove","DeptId":[1.5]}"#,
            br#"{"EventType":"user_add_org","UserId":["a"],"TimeStamp":"soon"}"#,
            br#"{"EventType":7}"#,
        ] {
            let refused = read(payload, None).unwrap_err();
            assert_eq!(
                refused.label(),
                "malformed",
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
