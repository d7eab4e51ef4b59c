//! What the target should hold for each person: the status policy, staged deprovisioning and the
//! attribute mapping applied, and upstream uniqueness clashes settled.

use super::merge::{lowercase, outer_join};
use super::policy::{NotActivatedPolicy, Policy, RemovalPolicy, UserNameSource};
use super::step::RemovalReason;
use crate::model::{Attributes, Directory, Field, Problem, Status, User, UserKey};
use crate::snapshot::{AppliedUser, Snapshot};
use jiff::Timestamp;
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// The fate of one person known to the upstream or to the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Disposition {
    /// The person has an account in the target after this run.
    Present {
        attributes: Attributes,
        active: bool,
        /// Why the account is inactive, when it is.
        inactive_reason: Option<RemovalReason>,
        /// True when the upstream no longer describes the person and the account is kept as last
        /// applied (deactivated); such accounts give way first in uniqueness clashes.
        retained: bool,
    },
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

    pub(super) fn attributes(&self) -> Option<&Attributes> {
        match self {
            Disposition::Present { attributes, .. } => Some(attributes),
            _ => None,
        }
    }
}

pub(super) struct Desired {
    pub(super) dispositions: BTreeMap<UserKey, Disposition>,
    pub(super) problems: Vec<Problem>,
}

pub(super) fn compute(
    snapshot: &Snapshot,
    directory: &Directory,
    policy: &Policy,
    now: Timestamp,
) -> Desired {
    let mut problems = Vec::new();
    // One pass over the pull and the snapshot side by side, in key order.
    let check_held = !directory.held.is_empty();
    let mut entries: Vec<(UserKey, Disposition)> = Vec::with_capacity(directory.users.len());
    for (key, user, applied) in outer_join(&directory.users, &snapshot.users) {
        let disposition = match (user, applied) {
            _ if check_held && directory.held.contains(key) => Disposition::Held,
            (Some(user), applied) => {
                by_status(user, applied, policy, directory, now, &mut problems)
            }
            (None, Some(applied)) => removal(
                applied,
                RemovalReason::Vanished,
                policy.vanished,
                applied.attributes.clone(),
                policy,
                now,
            ),
            (None, None) => continue,
        };
        entries.push((key.clone(), disposition));
    }
    for key in &directory.held {
        if !directory.users.contains_key(key) && !snapshot.users.contains_key(key) {
            entries.push((key.clone(), Disposition::Held));
        }
    }
    // Keys are unique; from sorted entries the map is built without searching.
    let mut dispositions: BTreeMap<UserKey, Disposition> = entries.into_iter().collect();

    dedupe_unique_values(&mut dispositions, snapshot, &mut problems);
    Desired {
        dispositions,
        problems,
    }
}

fn by_status(
    user: &User,
    applied: Option<&AppliedUser>,
    policy: &Policy,
    directory: &Directory,
    now: Timestamp,
    problems: &mut Vec<Problem>,
) -> Disposition {
    let reason = RemovalReason::Status(user.status);
    let inactive = |attributes| Disposition::Present {
        attributes,
        active: false,
        inactive_reason: Some(reason),
        retained: false,
    };
    match (user.status, applied) {
        (Status::Active, _) => Disposition::Present {
            attributes: attributes(user, policy, directory, problems),
            active: true,
            inactive_reason: None,
            retained: false,
        },
        // Disabled and resigned people are never created: there is nothing to keep for them.
        (Status::Disabled | Status::Resigned, None) => Disposition::Absent,
        (Status::Disabled, Some(_)) => inactive(attributes(user, policy, directory, problems)),
        (Status::NotActivated, applied) => match (policy.not_activated, applied) {
            (NotActivatedPolicy::CreateInactive, _) => {
                inactive(attributes(user, policy, directory, problems))
            }
            (NotActivatedPolicy::Skip, None) => Disposition::Absent,
            (NotActivatedPolicy::Skip, Some(applied)) => Disposition::Present {
                attributes: applied.attributes.clone(),
                active: false,
                inactive_reason: Some(reason),
                retained: true,
            },
        },
        (Status::Resigned, Some(applied)) => {
            let fresh = attributes(user, policy, directory, problems);
            removal(applied, reason, policy.resigned, fresh, policy, now)
        }
    }
}

/// Deactivation, or deletion — at once, or staged: deactivated first and deleted once the account
/// has been inactive for `delete_after`.
fn removal(
    applied: &AppliedUser,
    reason: RemovalReason,
    action: RemovalPolicy,
    attributes: Attributes,
    policy: &Policy,
    now: Timestamp,
) -> Disposition {
    let keep_inactive = Disposition::Present {
        attributes,
        active: false,
        inactive_reason: Some(reason),
        retained: matches!(reason, RemovalReason::Vanished),
    };
    match (action, policy.delete_after) {
        (RemovalPolicy::Deactivate, _) => keep_inactive,
        (RemovalPolicy::Delete, None) => Disposition::Deleted(reason),
        (RemovalPolicy::Delete, Some(grace)) => {
            let due = !applied.active
                && applied
                    .deactivated_at
                    .and_then(|at| at.checked_add(grace.0).ok())
                    .is_some_and(|due_at| due_at <= now);
            if due {
                Disposition::Deleted(reason)
            } else {
                keep_inactive
            }
        }
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

/// Targets refuse two accounts with one userName or email (compared without case). When the
/// desired state has such a clash, the winner is: a held account (it cannot be changed), then an
/// active person, then an inactive one the upstream still describes, then a retained account;
/// ties go to the lower key. The others lose the value (email cleared, userName back to the
/// upstream id) and the clash is reported.
fn dedupe_unique_values(
    dispositions: &mut BTreeMap<UserKey, Disposition>,
    snapshot: &Snapshot,
    problems: &mut Vec<Problem>,
) {
    for field in [Field::UserName, Field::Email] {
        // The first holder of each value, and the others only where a value is held twice: no
        // allocation per person beyond a lowercased copy of values that have capitals.
        let mut first: HashMap<Cow<'_, str>, (u8, &UserKey)> =
            HashMap::with_capacity(dispositions.len());
        let mut more: HashMap<Cow<'_, str>, Vec<(u8, &UserKey)>> = HashMap::new();
        for (key, disposition) in dispositions.iter() {
            let (rank, value) = match disposition {
                Disposition::Held => (
                    0,
                    snapshot
                        .users
                        .get(key)
                        .and_then(|a| a.attributes.get(field)),
                ),
                Disposition::Present {
                    attributes,
                    active,
                    retained,
                    ..
                } => (
                    if *active {
                        1
                    } else if !retained {
                        2
                    } else {
                        3
                    },
                    attributes.get(field),
                ),
                Disposition::Deleted(_) | Disposition::Absent => continue,
            };
            if let Some(value) = value {
                match first.entry(lowercase(value)) {
                    Entry::Vacant(slot) => {
                        slot.insert((rank, key));
                    }
                    Entry::Occupied(slot) => {
                        more.entry(slot.key().clone())
                            .or_default()
                            .push((rank, key));
                    }
                }
            }
        }
        let mut clashes: Vec<(String, Vec<(u8, UserKey)>)> = more
            .into_iter()
            .map(|(value, others)| {
                let users = first
                    .get(&value)
                    .into_iter()
                    .chain(&others)
                    .map(|&(rank, key)| (rank, key.clone()))
                    .collect();
                (value.into_owned(), users)
            })
            .collect();
        drop(first);
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
