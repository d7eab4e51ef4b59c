//! What the target should hold for each person: the status policy and attribute mapping applied.

use super::policy::{NotActivatedPolicy, Policy, ResignedPolicy, UserNameSource, VanishedPolicy};
use super::step::RemovalReason;
use crate::model::{Attributes, Directory, Field, Problem, Status, User, UserKey};
use crate::snapshot::Snapshot;
use std::collections::{BTreeMap, HashMap};

/// The fate of one person known to the upstream or to the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Disposition {
    /// The person exists in the target with these attributes.
    Present {
        attributes: Attributes,
        active: bool,
        /// Why the account is inactive, when it is.
        inactive_reason: Option<RemovalReason>,
    },
    /// The account stays but is deactivated; attributes are left as last applied.
    Deactivated(RemovalReason),
    Deleted(RemovalReason),
    /// Not wanted in the target and not there.
    Absent,
    /// The upstream record could not be read safely: leave the target as it is.
    Held,
}

impl Disposition {
    pub(super) fn is_active(&self) -> bool {
        matches!(self, Disposition::Present { active: true, .. })
    }
}

pub(super) struct Desired {
    pub(super) dispositions: BTreeMap<UserKey, Disposition>,
    pub(super) problems: Vec<Problem>,
}

pub(super) fn compute(snapshot: &Snapshot, directory: &Directory, policy: &Policy) -> Desired {
    let mut problems = Vec::new();
    let mut dispositions = BTreeMap::new();

    for (key, user) in &directory.users {
        let known = snapshot.users.contains_key(key);
        let disposition = if directory.held.contains(key) {
            Disposition::Held
        } else {
            by_status(user, known, policy, directory, &mut problems)
        };
        dispositions.insert(key.clone(), disposition);
    }
    for key in &directory.held {
        dispositions.insert(key.clone(), Disposition::Held);
    }
    for key in snapshot.users.keys() {
        dispositions
            .entry(key.clone())
            .or_insert(match policy.vanished {
                VanishedPolicy::Deactivate => Disposition::Deactivated(RemovalReason::Vanished),
                VanishedPolicy::Delete => Disposition::Deleted(RemovalReason::Vanished),
            });
    }

    dedupe_unique_values(&mut dispositions, &mut problems);
    Desired {
        dispositions,
        problems,
    }
}

fn by_status(
    user: &User,
    known: bool,
    policy: &Policy,
    directory: &Directory,
    problems: &mut Vec<Problem>,
) -> Disposition {
    let present = |active: bool, problems: &mut Vec<Problem>| Disposition::Present {
        attributes: attributes(user, policy, directory, problems),
        active,
        inactive_reason: (!active).then_some(RemovalReason::Status(user.status)),
    };
    let reason = RemovalReason::Status(user.status);
    match user.status {
        Status::Active => present(true, problems),
        // Disabled and resigned people are never created: there is nothing to keep for them.
        Status::Disabled if known => present(false, problems),
        Status::Disabled => Disposition::Absent,
        Status::NotActivated => match policy.not_activated {
            NotActivatedPolicy::CreateInactive => present(false, problems),
            NotActivatedPolicy::Skip if known => Disposition::Deactivated(reason),
            NotActivatedPolicy::Skip => Disposition::Absent,
        },
        Status::Resigned => match (policy.resigned, known) {
            (_, false) => Disposition::Absent,
            (ResignedPolicy::Deactivate, true) => present(false, problems),
            (ResignedPolicy::Delete, true) => Disposition::Deleted(reason),
        },
    }
}

fn attributes(
    user: &User,
    policy: &Policy,
    directory: &Directory,
    problems: &mut Vec<Problem>,
) -> Attributes {
    let user_name = match (policy.user_name, &user.email) {
        (UserNameSource::Key, _) => user.key.as_str().to_owned(),
        (UserNameSource::Email, Some(email)) if !email.is_empty() => email.clone(),
        (UserNameSource::Email, _) => {
            problems.push(Problem::UserNameFallback {
                user: user.key.clone(),
                attribute: "email".into(),
            });
            user.key.as_str().to_owned()
        }
    };
    Attributes::new(user_name, &user.display_name)
        .with(Field::Email, user.email.clone())
        .with(Field::Mobile, user.mobile.clone())
        .with(Field::Title, user.title.clone())
        .with(Field::EmployeeNumber, user.employee_no.clone())
        .with(
            Field::Department,
            directory.main_department_name(user).map(str::to_owned),
        )
}

/// Targets refuse two people with one userName or email (compared without case). When the
/// upstream itself has such a clash, active people win over inactive ones, then the lower key; the
/// others lose the value and the clash is reported.
fn dedupe_unique_values(
    dispositions: &mut BTreeMap<UserKey, Disposition>,
    problems: &mut Vec<Problem>,
) {
    for field in [Field::UserName, Field::Email] {
        let mut holders: HashMap<String, Vec<(bool, UserKey)>> = HashMap::new();
        for (key, disposition) in dispositions.iter() {
            if let Disposition::Present {
                attributes, active, ..
            } = disposition
                && let Some(value) = attributes.get(field)
            {
                holders
                    .entry(value.to_lowercase())
                    .or_default()
                    .push((!active, key.clone()));
            }
        }
        let mut clashes: Vec<(String, Vec<(bool, UserKey)>)> = holders
            .into_iter()
            .filter(|(_, users)| users.len() > 1)
            .collect();
        clashes.sort();
        for (value, mut users) in clashes {
            users.sort();
            for (_, loser) in &users[1..] {
                if let Some(Disposition::Present { attributes, .. }) = dispositions.get_mut(loser) {
                    let fallback = match field {
                        Field::UserName => Some(loser.as_str().to_owned()),
                        _ => None,
                    };
                    attributes.set(field, fallback);
                }
            }
            problems.push(Problem::DuplicateValue {
                attribute: field.as_str().to_owned(),
                value,
                users: users.into_iter().map(|(_, key)| key).collect(),
            });
        }
    }
}
