//! What the target should hold for each person: the status policy, staged deprovisioning and the
//! attribute mapping applied, and upstream uniqueness clashes settled.
//!
//! A disposition records where a person's attributes come from instead of holding a copy: the
//! diff compares them value by value, and only a create builds them.

use super::merge::lowercase;
use super::numbering;
use super::policy::{NotActivatedPolicy, Policy, RemovalPolicy, UserNameSource};
use super::roster::{Index, Roster, Row};
use super::step::RemovalReason;
use crate::mapping::{RoleMapping, SourceField, Subject};
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

/// The unique values a person gave up in a clash. With the default mapping their userName falls
/// back to their upstream id and their email is cleared; with a mapped expression they get the
/// value numbered (`zhangsan2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Lost {
    user_name: Loss,
    email: Loss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Loss {
    #[default]
    Kept,
    /// The default fallback: the upstream id for userName, nothing for email.
    Fallback,
    /// The mapped value with this number (2 or more).
    Numbered(u32),
}

impl Lost {
    fn field(&mut self, field: Field) -> &mut Loss {
        match field {
            Field::UserName => &mut self.user_name,
            _ => &mut self.email,
        }
    }

    fn of(self, field: Field) -> Loss {
        match field {
            Field::UserName => self.user_name,
            Field::Email => self.email,
            _ => Loss::Kept,
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
    /// Main department paths, worked out only when the mapping reads `department_path`.
    department_paths: &'a DepartmentPaths,
    policy: &'a Policy,
}

pub(super) fn compute<'a>(
    roster: &Roster<'a>,
    directory: &'a Directory,
    policy: &'a Policy,
    department_paths: &'a DepartmentPaths,
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
        department_paths,
        policy,
    };
    desired.report_missing_custom_fields(directory);
    desired.dedupe_unique_values(roster);
    desired
}

/// When what expressions read about a person is looked up: once for all their fields (a diff,
/// a create), or only when a field's expression needs it (one field read alone).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subjects {
    Once,
    OnDemand,
}

/// Each department's path from the top of the scope (` / ` between names), for mappings that
/// read `department_path`; empty otherwise, so the default mapping pays nothing for it.
#[derive(Default)]
pub(super) struct DepartmentPaths(HashMap<DepartmentId, String>);

impl DepartmentPaths {
    pub(super) fn new(directory: &Directory, policy: &Policy) -> Self {
        if !policy.mapping.reads(SourceField::DepartmentPath) {
            return DepartmentPaths::default();
        }
        let departments = &directory.departments;
        let paths = departments
            .iter()
            .map(|(id, department)| {
                let mut names = vec![department.name.as_str()];
                let mut parent = department.parent.as_ref();
                // A loop in the parents (bad upstream data) ends the path where it closes.
                while let Some(up) = parent.and_then(|p| departments.get(p))
                    && names.len() <= departments.len()
                {
                    names.push(up.name.as_str());
                    parent = up.parent.as_ref();
                }
                names.reverse();
                (id.clone(), names.join(" / "))
            })
            .collect();
        DepartmentPaths(paths)
    }

    pub(super) fn get(&self, department: &DepartmentId) -> Option<&str> {
        self.0.get(department).map(String::as_str)
    }
}

/// What a mapping expression reads about one person, outside a whole plan's worth of
/// dispositions (adoption matches by the mapped value too).
pub(super) fn subject<'a>(
    user: &'a User,
    directory: &'a Directory,
    policy: &Policy,
    paths: &'a DepartmentPaths,
) -> Subject<'a> {
    let main = user.departments.first();
    Subject {
        user,
        user_name: default_user_name(policy, user),
        department: main
            .and_then(|id| directory.departments.get(id))
            .map(|d| d.name.as_str()),
        department_path: main.and_then(|id| paths.get(id)),
    }
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
    /// The snapshot entry, when the target has the person: a numbered value once given is kept.
    applied: Option<&'a Attributes>,
    lost: Lost,
    /// What expressions read, worked out once for all of the person's fields (`None` with the
    /// default mapping, which reads the record directly).
    subject: Option<Subject<'a>>,
}

#[derive(Clone, Copy)]
enum From<'a> {
    Upstream(&'a User),
    Applied(&'a Attributes),
    Nowhere,
}

impl<'a> Values<'_, 'a> {
    /// One field. Empty text counts as absent, as in [`Attributes::set`].
    fn get(&self, field: Field) -> Option<Cow<'a, str>> {
        let value = match (self.lost.of(field), self.from) {
            (Loss::Fallback, _) => match field {
                Field::UserName => Some(Cow::Borrowed(self.key.as_str())),
                _ => None,
            },
            (Loss::Numbered(n), From::Upstream(user)) => self
                .mapped(user, field)
                .map(|base| Cow::Owned(numbering::numbered(&base, n, self.limit(field)))),
            (_, From::Upstream(user)) => self.sticky(user, field),
            (_, From::Applied(attributes)) => attributes.get(field).map(Cow::Borrowed),
            (_, From::Nowhere) => None,
        };
        value.filter(|v| !v.is_empty())
    }

    /// The target's longest value for the field, for numbering.
    fn limit(&self, field: Field) -> Option<usize> {
        self.desired.policy.mapping.max_chars(field)
    }

    /// The mapped value, unless the person already holds it numbered: a value once given is
    /// kept, so a later namesake never renames the first one.
    fn sticky(&self, user: &'a User, field: Field) -> Option<Cow<'a, str>> {
        let base = self.mapped(user, field)?;
        if self.desired.numbers(field)
            && let Some(held) = self.applied.and_then(|a| a.get(field))
            && numbering::number_of(held, &base, self.limit(field)).is_some()
        {
            return Some(Cow::Borrowed(held));
        }
        Some(base)
    }

    /// The attribute mapping: what the target gets from an upstream record.
    fn mapped(&self, user: &'a User, field: Field) -> Option<Cow<'a, str>> {
        let mapping = &self.desired.policy.mapping;
        match (field, mapping.role(field)) {
            (Field::Extra(_), _) => {
                let (expr, _) = mapping.expression(field)?;
                expr.eval(&self.subject(user))
            }
            (_, RoleMapping::None) => None,
            (_, RoleMapping::Default) => self.default_value(user, field).map(Cow::Borrowed),
            (_, RoleMapping::Mapped { expr, .. }) => expr
                .eval(&self.subject(user))
                // Every account needs a userName and a display name: an empty mapped value falls
                // back to the default (reported for userName when the disposition is worked out).
                .or_else(|| match field {
                    Field::UserName | Field::DisplayName => {
                        self.default_value(user, field).map(Cow::Borrowed)
                    }
                    _ => None,
                }),
        }
    }

    /// What a role held before mappings existed.
    fn default_value(&self, user: &'a User, field: Field) -> Option<&'a str> {
        match field {
            Field::UserName => Some(self.desired.user_name(user)),
            Field::DisplayName => Some(user.display_name.as_str()),
            Field::Email => user.email.as_deref(),
            Field::Mobile => user.mobile.as_deref(),
            Field::Title => user.title.as_deref(),
            Field::EmployeeNumber => user.employee_no.as_deref(),
            Field::Department => self.desired.department_name(user),
            Field::Extra(_) => None,
        }
    }

    fn subject(&self, user: &'a User) -> Subject<'a> {
        self.subject.unwrap_or_else(|| self.desired.subject(user))
    }
}

/// The userName without a mapping: the key, or the e-mail under `user_name = "email"`.
fn default_user_name<'a>(policy: &Policy, user: &'a User) -> &'a str {
    match (policy.user_name, non_empty(&user.email)) {
        (UserNameSource::Email, Some(email)) => email,
        _ => user.key.as_str(),
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
        let mut attributes = Attributes::with_room_for_extras(self.policy.mapping.extras().len());
        for &field in self.policy.mapping.managed() {
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
            Some(values) => {
                current.changes_to(self.policy.mapping.managed(), |field| values.get(field))
            }
            None => Vec::new(),
        }
    }

    /// One attribute a present person should have in the target.
    pub(super) fn value(&self, index: Index, row: Row<'a>, field: Field) -> Option<Cow<'a, str>> {
        // One field: what expressions read is looked up only if this field's mapping needs it.
        self.values_with(index, row, Subjects::OnDemand)?.get(field)
    }

    /// Where a present person's attributes are read from, worked out once for all their fields.
    fn values(&self, index: Index, row: Row<'a>) -> Option<Values<'_, 'a>> {
        self.values_with(index, row, Subjects::Once)
    }

    fn values_with(
        &self,
        index: Index,
        row: Row<'a>,
        subjects: Subjects,
    ) -> Option<Values<'_, 'a>> {
        let Disposition::Present { source, lost, .. } = self.dispositions[index as usize] else {
            return None;
        };
        let from = match (source, row.upstream, row.applied) {
            (Source::Upstream, Some(user), _) => From::Upstream(user),
            (Source::Applied, _, Some(applied)) => From::Applied(&applied.attributes),
            // A disposition is only given a source its row has.
            _ => From::Nowhere,
        };
        let subject = match from {
            From::Upstream(user)
                if subjects == Subjects::Once && !self.policy.mapping.is_default() =>
            {
                Some(self.subject(user))
            }
            _ => None,
        };
        Some(Values {
            desired: self,
            key: row.key,
            from,
            applied: row.applied.map(|a| &a.attributes),
            lost,
            subject,
        })
    }

    /// What a mapping expression can read about a person.
    pub(super) fn subject(&self, user: &'a User) -> Subject<'a> {
        let main = user.departments.first();
        Subject {
            user,
            user_name: self.user_name(user),
            department: self.department_name(user),
            department_path: main.and_then(|id| self.department_paths.get(id)),
        }
    }

    fn department_name(&self, user: &User) -> Option<&'a str> {
        user.departments
            .first()
            .and_then(|id| self.department_names.get(id).copied())
    }

    /// True when clashes over this unique field are settled by numbering the mapped value
    /// rather than by the default fallback.
    fn numbers(&self, field: Field) -> bool {
        matches!(self.policy.mapping.role(field), RoleMapping::Mapped { .. })
    }

    /// A custom field the mapping reads that nobody in the pull has: said once per run, not
    /// once per person.
    fn report_missing_custom_fields(&mut self, directory: &Directory) {
        let wanted = self.policy.mapping.custom_fields();
        if wanted.is_empty() {
            return;
        }
        let mut seen: std::collections::BTreeSet<&str> = Default::default();
        for user in directory.users.values() {
            seen.extend(user.profile.custom_names().filter(|n| wanted.contains(n)));
            if seen.len() == wanted.len() {
                return;
            }
        }
        for field in wanted.difference(&seen) {
            self.problems.push(Problem::CustomFieldMissing {
                field: (*field).to_owned(),
            });
        }
    }

    fn user_name(&self, user: &'a User) -> &'a str {
        default_user_name(self.policy, user)
    }

    /// Targets refuse two accounts with one userName or email (compared without case). When the
    /// desired state has such a clash, the winner is: a held account (it cannot be changed), then
    /// (with a mapped expression) whoever holds the value in the target now, then an active
    /// person, then an inactive one the upstream still describes, then a retained account; ties
    /// go to the lower key. The others lose the value — with the default mapping the email is
    /// cleared and the userName falls back to the upstream id; with a mapped expression the value
    /// is numbered (`zhangsan2`, the lowest number nobody holds) — and the clash is reported.
    fn dedupe_unique_values(&mut self, roster: &Roster<'a>) {
        // Values are grouped by sorting their hashes (16 bytes a person) rather than in a map
        // of the values themselves; equal hashes are then compared by value.
        let hasher = foldhash::fast::RandomState::default();
        for field in [Field::UserName, Field::Email] {
            let numbers = self.numbers(field);
            if numbers {
                self.report_empty_user_names(roster, field);
            }
            let mut hashed: Vec<(u64, Index)> = Vec::with_capacity(roster.len());
            for (i, row) in roster.rows().iter().enumerate() {
                let index = i as Index;
                if let Some(value) = self.held_or_unique_value(index, *row, field) {
                    hashed.push((hasher.hash_one(lowercase(&value)), index));
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
                let mut values: Vec<(String, u8, Index)> = run
                    .iter()
                    .filter_map(|&(_, index)| {
                        let row = roster.row(index);
                        let value = self.held_or_unique_value(index, row, field)?;
                        let value = lowercase(&value).into_owned();
                        let rank = self.rank(index, row, field, numbers.then_some(&value));
                        Some((value, rank, index))
                    })
                    .collect();
                values.sort();
                for same in values.chunk_by(|a, b| a.0 == b.0).filter(|s| s.len() > 1) {
                    let holders = same
                        .iter()
                        .map(|(_, rank, index)| (*rank, *index))
                        .collect();
                    clashes.push((same[0].0.clone(), holders));
                }
            }
            clashes.sort();
            // Every value someone will hold, for numbering: gathered only when there is a
            // clash to number (rare), not for every run with a mapped expression.
            let mut taken: foldhash::HashSet<String> = Default::default();
            if numbers && !clashes.is_empty() {
                for (i, row) in roster.rows().iter().enumerate() {
                    if let Some(value) = self.held_or_unique_value(i as Index, *row, field) {
                        taken.insert(lowercase(&value).into_owned());
                    }
                }
            }
            for (value, holders) in clashes {
                for &(_, loser) in &holders[1..] {
                    let loss = match numbers {
                        true => self.number(roster, loser, field, &mut taken),
                        false => Loss::Fallback,
                    };
                    if let Disposition::Present { lost, .. } =
                        &mut self.dispositions[loser as usize]
                    {
                        *lost.field(field) = loss;
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

    /// The lowest number from 2 that makes the loser's mapped value one nobody holds; the
    /// default fallback when the person's value does not come from the upstream.
    fn number(
        &mut self,
        roster: &Roster<'a>,
        loser: Index,
        field: Field,
        taken: &mut foldhash::HashSet<String>,
    ) -> Loss {
        let row = roster.row(loser);
        let base = self
            .values(loser, row)
            .and_then(|values| match values.from {
                From::Upstream(user) => values.mapped(user, field),
                _ => None,
            });
        let Some(base) = base else {
            return Loss::Fallback;
        };
        let (n, value) = (2u32..)
            .map(|n| {
                (
                    n,
                    numbering::numbered(&base, n, self.policy.mapping.max_chars(field)),
                )
            })
            .find(|(_, value)| !taken.contains(lowercase(value).as_ref()))
            .unwrap_or((0, String::new()));
        taken.insert(lowercase(&value).into_owned());
        self.problems.push(Problem::ValueNumbered {
            attribute: field.as_str().to_owned(),
            user: row.key.clone(),
            wanted: base.into_owned(),
            given: value,
        });
        Loss::Numbered(n)
    }

    /// A mapped userName that comes out empty falls back to the default one; each such person
    /// is reported, as with `user_name = "email"`.
    fn report_empty_user_names(&mut self, roster: &Roster<'a>, field: Field) {
        let Some((expr, text)) = self.policy.mapping.expression(field) else {
            return;
        };
        if field != Field::UserName {
            return;
        }
        for (i, row) in roster.rows().iter().enumerate() {
            let Some(user) = row.upstream else { continue };
            let from_upstream = matches!(
                self.dispositions[i],
                Disposition::Present {
                    source: Source::Upstream,
                    ..
                }
            );
            if from_upstream && expr.eval(&self.subject(user)).is_none() {
                self.problems.push(Problem::UserNameFallback {
                    user: row.key.clone(),
                    attribute: text.to_owned(),
                });
            }
        }
    }

    /// The value a person holds or will hold, for uniqueness: a held account keeps the target's.
    fn held_or_unique_value(
        &self,
        index: Index,
        row: Row<'a>,
        field: Field,
    ) -> Option<Cow<'a, str>> {
        match self.dispositions[index as usize] {
            Disposition::Held => row
                .applied
                .and_then(|a| a.attributes.get(field))
                .map(Cow::Borrowed),
            _ => self.value(index, row, field),
        }
    }

    /// Who keeps a contested value: lower ranks win. `value` (lower-cased) is given when the
    /// value is numbered: whoever holds it in the target now keeps it.
    fn rank(&self, index: Index, row: Row<'a>, field: Field, value: Option<&String>) -> u8 {
        let holds = value.is_some_and(|value| {
            row.applied
                .and_then(|a| a.attributes.get(field))
                .is_some_and(|held| lowercase(held) == value.as_str())
        });
        match (self.dispositions[index as usize], holds) {
            (Disposition::Held, _) => 0,
            (_, true) => 1,
            (Disposition::Present { active: true, .. }, _) => 2,
            (
                Disposition::Present {
                    retained: false, ..
                },
                _,
            ) => 3,
            _ => 4,
        }
    }
}
