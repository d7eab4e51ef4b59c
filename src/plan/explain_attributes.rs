//! `explain`'s attribute lines: for one person, each target attribute orgsync manages, what the
//! mapping says it holds and the value the target has once this plan is applied.

use super::policy::UserNameSource;
use super::{Plan, Policy, Step};
use crate::mapping::RoleMapping;
use crate::model::{Attributes, Field, UserKey};
use crate::snapshot::Snapshot;

pub(super) fn lines(
    user: &UserKey,
    baseline: &Snapshot,
    policy: &Policy,
    plan: &Plan,
) -> Vec<String> {
    let Some(after) = after_plan(user, baseline, plan) else {
        return Vec::new();
    };
    let mapping = &policy.mapping;
    let mut lines =
        vec!["Attributes (target attribute ← what it holds = value after this plan):".to_owned()];
    for field in Field::ROLES
        .into_iter()
        .chain(mapping.extras().iter().map(|e| Field::Extra(e.name)))
    {
        let name = mapping.key(field).unwrap_or(field.as_str());
        let holds = match (field, mapping.role(field)) {
            (Field::Extra(_), _) => mapping
                .expression(field)
                .map_or("none".to_owned(), |(_, text)| text.to_owned()),
            (_, RoleMapping::Default) => default_source(field, policy).to_owned(),
            (_, role) => role.to_string(),
        };
        let value = match mapping.manages(field) {
            true => after
                .get(field)
                .map_or("(empty)".to_owned(), |v| format!("{v:?}")),
            false => "(left as the target has it)".to_owned(),
        };
        lines.push(format!("  {name} ← {holds} = {value}"));
    }
    lines
}

/// What a role holds without a mapping, in the mapping's own words.
fn default_source(field: Field, policy: &Policy) -> &'static str {
    match (field, policy.user_name) {
        (Field::UserName, UserNameSource::Key) => "key (default)",
        (Field::UserName, UserNameSource::Email) => "{email|or:{key}} (default, user_name = email)",
        (Field::DisplayName, _) => "name (default)",
        (Field::Email, _) => "email (default)",
        (Field::Mobile, _) => "mobile (default)",
        (Field::Title, _) => "title (default)",
        (Field::EmployeeNumber, _) => "employee_number (default)",
        (Field::Department, _) => "department (default)",
        (Field::Extra(_), _) => "none",
    }
}

/// The person's attributes once the plan's steps for them are acknowledged; `None` when they
/// have no account before or after.
fn after_plan(user: &UserKey, baseline: &Snapshot, plan: &Plan) -> Option<Attributes> {
    let mut attributes = baseline.users.get(user).map(|a| a.attributes.clone());
    for step in plan.steps.iter().filter(|s| s.user() == Some(user)) {
        match step {
            Step::Create {
                attributes: created,
                ..
            } => attributes = Some((**created).clone()),
            Step::Adopt { account, .. } => attributes = Some(account.attributes.clone()),
            Step::FreeValues { changes, .. } | Step::Update { changes, .. } => {
                if let Some(attributes) = attributes.as_mut() {
                    attributes.apply(changes);
                }
            }
            Step::Delete { .. } => attributes = None,
            _ => {}
        }
    }
    attributes
}
