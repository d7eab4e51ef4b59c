//! A v2 contact event → what orgsync re-reads: the people or departments it names, in the id
//! scheme the connector keys them by.

use crate::events::Notice;
use crate::model::{DepartmentId, UserKey};
use crate::pullers::feishu::{DepartmentIdType, UserIdType};
use serde_json::Value;

/// The connector's id schemes (`user_id_type`, `department_id_type`).
#[derive(Debug, Clone, Copy)]
pub(super) struct IdChoice {
    pub user: UserIdType,
    pub department: DepartmentIdType,
}

/// What one event announces. An event about a person or department whose id in the connector's
/// scheme is missing (`user_id` needs the `contact:user.employee_id:readonly` permission) cannot
/// be narrowed to a re-read: it is `Unknown`, so a full run.
pub(super) fn of_event(event_type: &str, event: Option<&Value>, ids: IdChoice) -> Vec<Notice> {
    let unknown = || {
        vec![Notice::Unknown {
            event_type: event_type.to_owned(),
        }]
    };
    match event_type {
        // An update whose changed fields orgsync does not sync still names the person: a
        // re-read that finds nothing new plans nothing.
        "contact.user.created_v3" | "contact.user.updated_v3" | "contact.user.deleted_v3" => {
            let keys: Vec<UserKey> = ids_named(event, ids.user.as_str())
                .into_iter()
                .map(UserKey::new)
                .collect();
            if keys.is_empty() {
                unknown()
            } else {
                vec![Notice::People { keys }]
            }
        }
        "contact.department.created_v3"
        | "contact.department.updated_v3"
        | "contact.department.deleted_v3" => {
            let ids: Vec<DepartmentId> = ids_named(event, ids.department.as_str())
                .into_iter()
                .map(DepartmentId::new)
                .collect();
            if ids.is_empty() {
                unknown()
            } else {
                vec![Notice::Departments { ids }]
            }
        }
        "contact.scope.updated_v3" => vec![Notice::Scope],
        // Definitions of employee types and custom attributes: no person's record changes
        // with them (a person's type or custom value changing is a user event).
        t if t.starts_with("contact.employee_type_enum.")
            || t.starts_with("contact.custom_attr_event.") =>
        {
            vec![Notice::Ignored {
                event_type: event_type.to_owned(),
            }]
        }
        _ => unknown(),
    }
}

/// The `field` of `event.object`, then of `event.old_object` when it differs (an id changed by
/// the admin: the old one reads as a leaver, the new one as a joiner).
fn ids_named(event: Option<&Value>, field: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in ["object", "old_object"] {
        let id = event
            .and_then(|e| e.get(part))
            .and_then(|o| o.get(field))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|id| !id.is_empty());
        if let Some(id) = id
            && !out.iter().any(|known| known == id)
        {
            out.push(id.to_owned());
        }
    }
    out
}
