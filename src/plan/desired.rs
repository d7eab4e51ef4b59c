//! What the target should hold for each person: the status policy, staged deprovisioning and the
//! attribute mapping applied, and upstream uniqueness clashes settled.
//!
//! A disposition records where a person's attributes come from instead of holding a copy: the
//! diff compares them value by value, and only a create builds them.

use super::merge::lowercase;
use super::policy::{NotActivatedPolicy, Policy, RemovalPolicy, UserNameSource};
use super::roster::{Index, Roster, Row};
use super::step::RemovalReason;
use crate::model::{
    Attributes, DepartmentId, Directory, Field, FieldChange, Problem, Status, User, UserKey,
};
use crate::snapshot::AppliedUser;
use compact_str::CompactString;
use foldhash::HashMap;
use jiff::Timestamp;
use std::borrow::Cow;
use std::hash::BuildHasher;

/// The fate of one person known to the upstream or to the snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Disposition {
    /// The person has an account in the target after this run.
    Present {
        source: Source,
        active: bool,
        /// Why the account is inactive, when it is.
        inactive_reason: Option<RemovalReason>,
        /// True when the upstream no longer describes the person and the account is kept as last
        /// applied (deactivated); such accounts give way first in uniqueness clashes.
        retained: bool,
        /// Unique values lost to someone else in a clash.
        lost: Lost,
    },
    Deleted(RemovalReason),
    /// Not wanted in the target and not there.
    Absent,
    /// The upstream record could not be read safely: leave the target as it is.
    Held,
}

/// Where a present person's attributes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The upstream record, through the attribute mapping.
    Upstream,
    /// The snapshot, as last applied (accounts kept while the upstream no longer describes them).
    Applied,
}

/// The unique values a person gave up in a clash: their userName falls back to their upstream
/// id, their email is cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Lost {
    user_name: bool,
    email: bool,
}

impl Lost {
    fn field(&mut self, field: Field) -> &mut bool {
        match field {
            Field::UserName => &mut self.user_name,
            _ => &mut self.email,
        }
    }

    fn has(self, field: Field) -> bool {
        match field {
            Field::UserName => self.user_name,
            Field::Email => self.email,
            _ => false,
        }
    }
}

impl Disposition {
    pub(super) fn is_active(&self) -> bool {
        matches!(self, Disposition::Present { active: true, .. })
    }
}

/// Every person's disposition, under their roster index.
pub(super) struct Desired<'a> {
    pub(super) dispositions: Vec<Disposition>,
    pub(super) problems: Vec<Problem>,
    /// Department names by id, hashed once: every person's `department` attribute is looked
    /// up here, and a tree search per person cost more than building their attributes. The ids
    /// are copies (inline), so a lookup does not follow a pointer into the department tree.
    department_names: HashMap<DepartmentId, &'a str>,
    policy: &'a Policy,
}

pub(super) fn compute<'a>(
    roster: &Roster<'a>,
    directory: &'a Directory,
    policy: &'a Policy,
    now: Timestamp,
) -> Desired<'a> {
    let mut problems = Vec::new();
    let check_held = !directory.held.is_empty();
    let dispositions = roster
        .rows()
        .iter()
        .map(|row| match (row.upstream, row.applied) {
            _ if check_held && directory.held.contains(row.key) => Disposition::Held,
            (Some(user), applied) => by_status(user, applied, policy, now, &mut problems),
            (None, Some(applied)) => removal(
                applied,
                RemovalReason::Vanished,
                policy.vanished,
                Source::Applied,
                policy,
                now,
            ),
            // Held and unknown to both: caught by the first arm.
            (None, None) => Disposition::Held,
        })
        .collect();
    let mut desired = Desired {
        dispositions,
        problems,
        department_names: directory
            .departments
            .iter()
            .map(|(id, department)| (id.clone(), department.name.as_str()))
            .collect(),
        policy,
    };
    desired.dedupe_unique_values(roster);
    desired
}

/// A person of the pull who is wanted in the target.
fn present(source: Source, active: bool, inactive_reason: Option<RemovalReason>) -> Disposition {
    Disposition::Present {
        source,
        active,
        inactive_reason,
        retained: false,
        lost: Lost::default(),
    }
}

fn by_status(
    user: &User,
    applied: Option<&AppliedUser>,
    policy: &Policy,
    now: Timestamp,
    problems: &mut Vec<Problem>,
) -> Disposition {
    let reason = RemovalReason::Status(user.status);
    // Every arm that maps the upstream record to target attributes goes through here, so a
    // userName fallback is reported exactly when it is used (or would have been, for an
    // account this run deletes).
    let mut mapped = || {
        if policy.user_name == UserNameSource::Email && non_empty(&user.email).is_none() {
            problems.push(Problem::UserNameFallback {
                user: user.key.clone(),
                attribute: "email".into(),
            });
        }
        Source::Upstream
    };
    match (user.status, applied) {
        (Status::Active, _) => present(mapped(), true, None),
        // Disabled and resigned people are never created: there is nothing to keep for them.
        (Status::Disabled | Status::Resigned, None) => Disposition::Absent,
        (Status::Disabled, Some(_)) => present(mapped(), false, Some(reason)),
        (Status::NotActivated, applied) => match (policy.not_activated, applied) {
            (NotActivatedPolicy::CreateInactive, _) => present(mapped(), false, Some(reason)),
            (NotActivatedPolicy::Skip, None) => Disposition::Absent,
            (NotActivatedPolicy::Skip, Some(_)) => Disposition::Present {
                source: Source::Applied,
                active: false,
                inactive_reason: Some(reason),
                retained: true,
                lost: Lost::default(),
            },
        },
        (Status::Resigned, Some(applied)) => {
            removal(applied, reason, policy.resigned, mapped(), policy, now)
        }
    }
}

/// Deactivation, or deletion — at once, or staged: deactivated first and deleted once the account
/// has been inactive for `delete_after`.
fn removal(
    applied: &AppliedUser,
    reason: RemovalReason,
    action: RemovalPolicy,
    source: Source,
    policy: &Policy,
    now: Timestamp,
) -> Disposition {
    let keep_inactive = Disposition::Present {
        source,
        active: false,
        inactive_reason: Some(reason),
        retained: matches!(reason, RemovalReason::Vanished),
        lost: Lost::default(),
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

/// A present person's attributes as the target should have them, read field by field.
#[derive(Clone, Copy)]
struct Values<'d, 'a> {
    desired: &'d Desired<'a>,
    key: &'a UserKey,
    from: From<'a>,
    lost: Lost,
}

#[derive(Clone, Copy)]
enum From<'a> {
    Upstream(&'a User),
    Applied(&'a Attributes),
    Nowhere,
}

impl<'a> Values<'_, 'a> {
    /// One field. Empty text counts as absent, as in [`Attributes::set`].
    fn get(&self, field: Field) -> Option<&'a str> {
        let value = if self.lost.has(field) {
            match field {
                Field::UserName => Some(self.key.as_str()),
                _ => None,
            }
        } else {
            match self.from {
                From::Upstream(user) => self.mapped(user, field),
                From::Applied(attributes) => attributes.get(field),
                From::Nowhere => None,
            }
        };
        value.filter(|v| !v.is_empty())
    }

    /// The attribute mapping: what the target gets from an upstream record.
    fn mapped(&self, user: &'a User, field: Field) -> Option<&'a str> {
        match field {
            Field::UserName => Some(self.desired.user_name(user)),
            Field::DisplayName => Some(user.display_name.as_str()),
            Field::Email => user.email.as_deref(),
            Field::Mobile => user.mobile.as_deref(),
            Field::Title => user.title.as_deref(),
            Field::EmployeeNumber => user.employee_no.as_deref(),
            Field::Department => user
                .departments
                .first()
                .and_then(|id| self.desired.department_names.get(id).copied()),
            Field::Extra(_) => None,
        }
    }
}

/// Empty text counts as absent, as in [`Attributes::set`].
fn non_empty(value: &Option<CompactString>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl<'a> Desired<'a> {
    /// The attributes a present person should have in the target; `None` for anyone else.
    pub(super) fn attributes(&self, index: Index, row: Row<'a>) -> Option<Attributes> {
        let values = self.values(index, row)?;
        let mut attributes = Attributes::default();
        for field in Field::ALL {
            attributes.set(field, values.get(field).map(CompactString::from));
        }
        Some(attributes)
    }

    /// The changes that take `current` to what a present person should have, in field order,
    /// compared value by value without building the desired attributes.
    pub(super) fn changes_from(
        &self,
        current: &Attributes,
        index: Index,
        row: Row<'a>,
    ) -> Vec<FieldChange> {
        match self.values(index, row) {
            Some(values) => current.changes_to(self.policy.mapping.managed(), |field| {
                values.get(field).map(std::borrow::Cow::Borrowed)
            }),
            None => Vec::new(),
        }
    }

    /// One attribute a present person should have in the target.
    pub(super) fn value(&self, index: Index, row: Row<'a>, field: Field) -> Option<&'a str> {
        self.values(index, row)?.get(field)
    }

    /// Where a present person's attributes are read from, worked out once for all their fields.
    fn values(&self, index: Index, row: Row<'a>) -> Option<Values<'_, 'a>> {
        let Disposition::Present { source, lost, .. } = self.dispositions[index as usize] else {
            return None;
        };
        let from = match (source, row.upstream, row.applied) {
            (Source::Upstream, Some(user), _) => From::Upstream(user),
            (Source::Applied, _, Some(applied)) => From::Applied(&applied.attributes),
            // A disposition is only given a source its row has.
            _ => From::Nowhere,
        };
        Some(Values {
            desired: self,
            key: row.key,
            from,
            lost,
        })
    }

    fn user_name(&self, user: &'a User) -> &'a str {
        match (self.policy.user_name, non_empty(&user.email)) {
            (UserNameSource::Email, Some(email)) => email,
            _ => user.key.as_str(),
        }
    }

    /// Targets refuse two accounts with one userName or email (compared without case). When the
    /// desired state has such a clash, the winner is: a held account (it cannot be changed), then
    /// an active person, then an inactive one the upstream still describes, then a retained
    /// account; ties go to the lower key. The others lose the value (email cleared, userName back
    /// to the upstream id) and the clash is reported.
    fn dedupe_unique_values(&mut self, roster: &Roster<'a>) {
        // Values are grouped by sorting their hashes (16 bytes a person) rather than in a map
        // of the values themselves; equal hashes are then compared by value.
        let hasher = foldhash::fast::RandomState::default();
        for field in [Field::UserName, Field::Email] {
            let mut hashed: Vec<(u64, Index)> = Vec::with_capacity(roster.len());
            for (i, row) in roster.rows().iter().enumerate() {
                let index = i as Index;
                if let Some(value) = self.held_or_unique_value(index, *row, field) {
                    hashed.push((hasher.hash_one(lowercase(value)), index));
                }
            }
            // Order within equal hashes does not matter: runs are sorted by value below.
            hashed.sort_unstable_by_key(|&(hash, _)| hash);
            let mut clashes: Vec<(String, Vec<(u8, Index)>)> = Vec::new();
            for run in hashed
                .chunk_by(|a, b| a.0 == b.0)
                .filter(|run| run.len() > 1)
            {
                // Usually one value; a hash collision between different values splits here.
                let mut values: Vec<(Cow<'_, str>, u8, Index)> = run
                    .iter()
                    .filter_map(|&(_, index)| {
                        let row = roster.row(index);
                        let value = self.held_or_unique_value(index, row, field)?;
                        Some((lowercase(value), self.rank(index), index))
                    })
                    .collect();
                values.sort();
                for same in values.chunk_by(|a, b| a.0 == b.0).filter(|s| s.len() > 1) {
                    let holders = same
                        .iter()
                        .map(|(_, rank, index)| (*rank, *index))
                        .collect();
                    clashes.push((same[0].0.clone().into_owned(), holders));
                }
            }
            clashes.sort();
            for (value, holders) in clashes {
                for &(_, loser) in &holders[1..] {
                    if let Disposition::Present { lost, .. } =
                        &mut self.dispositions[loser as usize]
                    {
                        *lost.field(field) = true;
                    }
                }
                self.problems.push(Problem::DuplicateValue {
                    attribute: field.as_str().to_owned(),
                    value,
                    users: holders
                        .into_iter()
                        .map(|(_, index)| roster.row(index).key.clone())
                        .collect(),
                });
            }
        }
    }

    /// The value a person holds or will hold, for uniqueness: a held account keeps the target's.
    fn held_or_unique_value(&self, index: Index, row: Row<'a>, field: Field) -> Option<&'a str> {
        match self.dispositions[index as usize] {
            Disposition::Held => row.applied.and_then(|a| a.attributes.get(field)),
            _ => self.value(index, row, field),
        }
    }

    /// Who keeps a contested value: lower ranks win.
    fn rank(&self, index: Index) -> u8 {
        match self.dispositions[index as usize] {
            Disposition::Held => 0,
            Disposition::Present { active: true, .. } => 1,
            Disposition::Present {
                retained: false, ..
            } => 2,
            _ => 3,
        }
    }
}
