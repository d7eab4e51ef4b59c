//! A plan for a few people (`orgsync sync NAME --person KEY`): the whole plan narrowed to their
//! own steps and to what those steps need; every other change is left for a full run.
//!
//! - Their own steps: adopt, free values, update, reactivate, create, their manager link, their
//!   group memberships (added and removed), deactivate and delete.
//! - What those need: a manager they are linked to is adopted, created or reactivated first
//!   (the scope rule has already decided whether the link exists at all); before a person is
//!   removed, the links of the people who report to them are moved as the whole plan moves them.
//! - Nothing else: no other person's update, no group created, renamed or deleted. A step that
//!   needs another change first — a unique value only someone else's change frees, a group not
//!   in the target yet, a needed step that itself waits — is left out and reported
//!   ([`Problem::StepWaits`]), and so is every step that needs it: never applied out of order.
//! - After a partial read (only these people and the managers their links need were read),
//!   everyone else the target has is held: left as they are, their values still counting for
//!   uniqueness, never removed, and a value such a person holds is never settled here.
//! - The deletion guard judges the narrowed plan (the engine does).

use super::merge::lowercase;
use super::{Plan, Policy, Step};
use crate::model::{Department, DepartmentId, Directory, Field, Problem, UserKey, Wait};
use crate::snapshot::Snapshot;
use std::collections::{BTreeSet, HashMap, HashSet};

/// How much of the upstream the pull read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// The whole directory: anyone missing has left or is outside the app's scope.
    Whole,
    /// Only the people asked for and the managers their links need. `not_found`: people asked
    /// for whom the upstream says do not exist or are outside the scope.
    Partial { not_found: &'a BTreeSet<UserKey> },
}

/// Whom a plan is for, and how much the pull read.
#[derive(Debug, Clone, Copy)]
pub struct Focus<'a> {
    pub people: &'a BTreeSet<UserKey>,
    pub reach: Reach<'a>,
}

/// The unique fields: a value one person frees and another takes.
const UNIQUE: [Field; 2] = [Field::UserName, Field::Email];

impl Focus<'_> {
    /// People asked for whom neither the pull nor the snapshot knows.
    pub fn unknown(&self, directory: &Directory, snapshot: &Snapshot) -> Vec<UserKey> {
        self.people
            .iter()
            .filter(|key| {
                !directory.users.contains_key(*key)
                    && !directory.held.contains(*key)
                    && !snapshot.users.contains_key(*key)
            })
            .cloned()
            .collect()
    }

    /// The directory to plan from. After a whole read, the pull itself. After a partial read,
    /// everyone the target has who was not read is held (left as they are), except people asked
    /// for whom the upstream does not know and managers a read person names whom the pull could
    /// not read (outside the scope: the scope rule skips their links); and the target's groups
    /// whose departments were not read stay as departments, so that nobody loses a membership
    /// because a department was not read.
    pub fn directory(&self, mut pulled: Directory, snapshot: &Snapshot) -> Directory {
        let Reach::Partial { not_found } = self.reach else {
            return pulled;
        };
        let named_managers: HashSet<UserKey> = pulled
            .users
            .values()
            .filter_map(|user| user.manager.clone())
            .collect();
        let unread: Vec<UserKey> = snapshot
            .users
            .keys()
            .filter(|key| {
                !pulled.users.contains_key(*key)
                    && !not_found.contains(*key)
                    && !named_managers.contains(*key)
            })
            .cloned()
            .collect();
        pulled.held.extend(unread);
        for (id, group) in &snapshot.groups {
            pulled
                .departments
                .entry(id.clone())
                .or_insert_with(|| Department {
                    id: id.clone(),
                    name: group.attributes.display_name.to_string(),
                    parent: group.attributes.parent.clone(),
                    heads: group.attributes.head.iter().cloned().collect(),
                });
        }
        pulled
    }

    /// The plan for these people only, from `directory` as [`Focus::directory`] made it.
    pub fn plan(
        &self,
        snapshot: &Snapshot,
        directory: &Directory,
        policy: &Policy,
        now: jiff::Timestamp,
    ) -> Plan {
        narrow(
            super::plan(snapshot, directory, policy, now),
            self,
            snapshot,
            directory,
        )
    }
}

/// Whether a step of the whole plan is in the narrowed plan.
#[derive(Debug, Clone)]
enum Fate {
    In,
    Waits(Wait),
    /// Being decided: a step met again while deciding it needs nothing more.
    Deciding,
}

/// The whole plan's steps looked up by what other steps need of them.
struct Needs<'p> {
    steps: &'p [Step],
    /// Each person's create or adopt: their account exists after it.
    existence: HashMap<&'p UserKey, Vec<usize>>,
    /// Each person's adopt, create or reactivate: their account is active after it.
    activation: HashMap<&'p UserKey, Vec<usize>>,
    /// Unique values freed, lower-cased, and the step that frees each.
    released: HashMap<(Field, String), usize>,
    created_groups: HashSet<&'p DepartmentId>,
    /// Link steps by the manager they move away from.
    moves_off: HashMap<&'p UserKey, Vec<usize>>,
    /// After a partial read: values a held person keeps against someone who wanted them, by
    /// the one who lost them.
    held_values: HashMap<&'p UserKey, Vec<(Field, &'p str, &'p UserKey)>>,
}

impl<'p> Needs<'p> {
    fn new(plan: &'p Plan, focus: &Focus, directory: &Directory) -> Self {
        let mut needs = Needs {
            steps: &plan.steps,
            existence: HashMap::new(),
            activation: HashMap::new(),
            released: HashMap::new(),
            created_groups: HashSet::new(),
            moves_off: HashMap::new(),
            held_values: HashMap::new(),
        };
        for (i, step) in plan.steps.iter().enumerate() {
            match step {
                Step::Adopt { user, .. } | Step::Create { user, .. } => {
                    needs.existence.entry(user).or_default().push(i);
                    needs.activation.entry(user).or_default().push(i);
                }
                Step::Reactivate { user } => needs.activation.entry(user).or_default().push(i),
                Step::FreeValues { changes, .. } => {
                    for change in changes {
                        if let Some(before) = &change.before {
                            needs
                                .released
                                .insert((change.field, lowercase(before).into_owned()), i);
                        }
                    }
                }
                Step::CreateGroup { group, .. } => {
                    needs.created_groups.insert(group);
                }
                Step::SetManager {
                    previous: Some(previous),
                    ..
                }
                | Step::ClearManager { previous, .. } => {
                    needs.moves_off.entry(previous).or_default().push(i)
                }
                _ => {}
            }
        }
        if matches!(focus.reach, Reach::Partial { .. }) {
            // The planner lists a clash's winner first.
            for problem in &plan.problems {
                let Problem::DuplicateValue {
                    attribute,
                    value,
                    users,
                } = problem
                else {
                    continue;
                };
                let Some(field) = UNIQUE.into_iter().find(|f| f.as_str() == attribute) else {
                    continue;
                };
                let Some((winner, losers)) = users.split_first() else {
                    continue;
                };
                if !directory.held.contains(winner) || focus.people.contains(winner) {
                    continue;
                }
                for loser in losers {
                    needs.held_values.entry(loser).or_default().push((
                        field,
                        value.as_str(),
                        winner,
                    ));
                }
            }
        }
        needs
    }
}

/// Decides, step by step, what the narrowed plan holds.
struct Narrowing<'p, 'f> {
    needs: Needs<'p>,
    focus: &'f Focus<'f>,
    snapshot: &'f Snapshot,
    fates: HashMap<usize, Fate>,
}

impl Narrowing<'_, '_> {
    fn fate(&mut self, i: usize) -> Result<(), Wait> {
        match self.fates.get(&i) {
            Some(Fate::In | Fate::Deciding) => return Ok(()),
            Some(Fate::Waits(wait)) => return Err(wait.clone()),
            None => {}
        }
        self.fates.insert(i, Fate::Deciding);
        let decided = self.decide(i);
        let fate = match &decided {
            Ok(()) => Fate::In,
            Err(wait) => Fate::Waits(wait.clone()),
        };
        self.fates.insert(i, fate);
        decided
    }

    /// A step another one needs: when it waits, the other waits for it.
    fn need(&mut self, i: usize) -> Result<(), Wait> {
        self.fate(i).map_err(|_| {
            let step = &self.needs.steps[i];
            Wait::Step {
                user: step.user().cloned().unwrap_or_else(|| UserKey::new("")),
                step: step.kind().to_string(),
            }
        })
    }

    fn need_all(&mut self, steps: Option<Vec<usize>>) -> Result<(), Wait> {
        for i in steps.unwrap_or_default() {
            self.need(i)?;
        }
        Ok(())
    }

    fn decide(&mut self, i: usize) -> Result<(), Wait> {
        let steps = self.needs.steps;
        let step = &steps[i];
        let Some(user) = step.user() else {
            // Only people's steps are decided: groups are created, renamed and deleted by full
            // runs only.
            return Err(Wait::GroupMissing {
                group: DepartmentId::new(step.subject().as_str()),
            });
        };
        // Every other step of a person needs their account to exist.
        if !matches!(step, Step::Create { .. } | Step::Adopt { .. }) {
            self.need_all(self.needs.existence.get(user).cloned())?;
        }
        match step {
            Step::Create { attributes, .. } => {
                for field in UNIQUE {
                    if let Some(value) = attributes.get(field) {
                        self.value_free(user, field, value)?;
                    }
                    self.not_held_elsewhere(user, field)?;
                }
            }
            Step::Update { changes, .. } => {
                for change in changes.iter().filter(|c| UNIQUE.contains(&c.field)) {
                    if let Some(value) = &change.after {
                        self.value_free(user, change.field, value)?;
                    }
                    self.not_held_elsewhere(user, change.field)?;
                }
            }
            Step::SetManager { manager, .. } => {
                self.need_all(self.needs.activation.get(manager).cloned())?;
            }
            Step::Deactivate { .. } | Step::Delete { .. } => self.reports_moved(user)?,
            _ => {}
        }
        Ok(())
    }

    /// A unique value the person takes is free, or freed by a step of theirs or of someone
    /// this run is for.
    fn value_free(&mut self, user: &UserKey, field: Field, value: &str) -> Result<(), Wait> {
        let Some(&freeing) = self
            .needs
            .released
            .get(&(field, lowercase(value).into_owned()))
        else {
            return Ok(());
        };
        let holder = self.needs.steps[freeing].user();
        match holder {
            Some(holder) if holder == user || self.focus.people.contains(holder) => {
                self.need(freeing)
            }
            Some(holder) => Err(Wait::ValueRelease {
                attribute: field.as_str().to_owned(),
                value: value.to_owned(),
                holder: holder.clone(),
            }),
            None => Ok(()),
        }
    }

    /// After a partial read: a value the person wanted but a held person keeps is not settled
    /// here (the held person may give it up upstream; only a run that reads them can tell).
    fn not_held_elsewhere(&self, user: &UserKey, field: Field) -> Result<(), Wait> {
        let Some(kept) = self.needs.held_values.get(user) else {
            return Ok(());
        };
        match kept.iter().find(|(f, _, _)| *f == field) {
            Some((field, value, holder)) => Err(Wait::ValueHeldByUnread {
                attribute: field.as_str().to_owned(),
                value: (*value).to_owned(),
                holder: (*holder).clone(),
            }),
            None => Ok(()),
        }
    }

    /// Before a person is removed, everyone who reports to them in the target is moved away
    /// (the engine would hold the removal otherwise).
    fn reports_moved(&mut self, user: &UserKey) -> Result<(), Wait> {
        let moves = self.needs.moves_off.get(user).cloned().unwrap_or_default();
        for &i in &moves {
            self.need(i)?;
        }
        let moved: HashSet<&UserKey> = moves
            .iter()
            .filter_map(|&i| self.needs.steps[i].user())
            .collect();
        let left: Vec<UserKey> = self
            .snapshot
            .users
            .iter()
            .filter(|(key, applied)| {
                applied.manager.as_ref() == Some(user) && *key != user && !moved.contains(key)
            })
            .map(|(key, _)| key.clone())
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(Wait::Reports { users: left })
        }
    }

    /// The members of a membership step this run may change: people it is for whose account
    /// exists by then, in a group the target has (for adds). The others wait.
    fn members(&mut self, step: &Step, waits: &mut Vec<Problem>) -> Vec<UserKey> {
        let (group, members, adding) = match step {
            Step::AddMembers { group, members } => (group, members, true),
            Step::RemoveMembers { group, members } => (group, members, false),
            _ => return Vec::new(),
        };
        let mut kept = Vec::new();
        for member in members.iter().filter(|m| self.focus.people.contains(*m)) {
            let decided = if adding && self.needs.created_groups.contains(group) {
                Err(Wait::GroupMissing {
                    group: group.clone(),
                })
            } else {
                self.need_all(self.needs.existence.get(member).cloned())
            };
            match decided {
                Ok(()) => kept.push(member.clone()),
                Err(waits_for) => waits.push(Problem::StepWaits {
                    user: member.clone(),
                    step: step.kind().to_string(),
                    waits_for,
                }),
            }
        }
        kept
    }
}

/// The whole plan narrowed to the focus (see the module's documentation).
fn narrow(full: Plan, focus: &Focus, snapshot: &Snapshot, directory: &Directory) -> Plan {
    let mut waits = Vec::new();
    let mut members: HashMap<usize, Vec<UserKey>> = HashMap::new();
    let fates = {
        let mut narrowing = Narrowing {
            needs: Needs::new(&full, focus, directory),
            focus,
            snapshot,
            fates: HashMap::new(),
        };
        for (i, step) in full.steps.iter().enumerate() {
            match step {
                Step::AddMembers { .. } | Step::RemoveMembers { .. } => {
                    members.insert(i, narrowing.members(step, &mut waits));
                }
                _ if step.user().is_some_and(|u| focus.people.contains(u)) => {
                    // A wait is recorded with the step's fate, below.
                    let _ = narrowing.fate(i);
                }
                _ => {}
            }
        }
        narrowing.fates
    };
    let mut steps = Vec::new();
    let mut step_waits = Vec::new();
    for (i, step) in full.steps.into_iter().enumerate() {
        match (step, fates.get(&i)) {
            (Step::AddMembers { group, .. }, _) => push_members(&mut members, i, &mut steps, |m| {
                Step::AddMembers { group, members: m }
            }),
            (Step::RemoveMembers { group, .. }, _) => {
                push_members(&mut members, i, &mut steps, |m| Step::RemoveMembers {
                    group,
                    members: m,
                })
            }
            (step, Some(Fate::In)) => steps.push(step),
            (step, Some(Fate::Waits(waits_for))) => step_waits.push(Problem::StepWaits {
                user: step.user().cloned().unwrap_or_else(|| UserKey::new("")),
                step: step.kind().to_string(),
                waits_for: waits_for.clone(),
            }),
            _ => {}
        }
    }
    let concerns_focus = |problem: &Problem| focus.people.iter().any(|p| problem.concerns(p));
    let mut problems: Vec<Problem> = full
        .problems
        .into_iter()
        .filter(|problem| match about(problem) {
            About::People => concerns_focus(problem),
            About::Run => true,
            About::Groups => false,
        })
        .collect();
    problems.extend(step_waits);
    problems.extend(waits);
    Plan {
        steps,
        skipped_links: full
            .skipped_links
            .into_iter()
            .filter(|link| focus.people.contains(&link.user))
            .collect(),
        problems,
    }
}

fn push_members(
    members: &mut HashMap<usize, Vec<UserKey>>,
    i: usize,
    steps: &mut Vec<Step>,
    step: impl FnOnce(Vec<UserKey>) -> Step,
) {
    if let Some(kept) = members.remove(&i).filter(|m| !m.is_empty()) {
        steps.push(step(kept));
    }
}

/// What a problem is about, for keeping those that concern a run for a few people.
enum About {
    /// Named people: kept when one of them is someone the run is for.
    People,
    /// The pull or the run as a whole: always kept.
    Run,
    /// Group names: a run for a few people names no group.
    Groups,
}

fn about(problem: &Problem) -> About {
    match problem {
        Problem::ConflictingRecords { .. }
        | Problem::UnknownStatus { .. }
        | Problem::MissingField { .. }
        | Problem::DuplicateValue { .. }
        | Problem::DuplicateAccounts { .. }
        | Problem::AmbiguousMatch { .. }
        | Problem::UserNameFallback { .. }
        | Problem::ValueNumbered { .. }
        | Problem::StepWaits { .. } => About::People,
        Problem::EmptyUserId { .. }
        | Problem::MissingParentDepartment { .. }
        | Problem::TargetNotListed { .. }
        | Problem::ScopeEntryUnreadable { .. }
        | Problem::ListReadsRefused { .. }
        | Problem::RosterFallback { .. }
        | Problem::InviteesNotDistinguished
        | Problem::CustomFieldMissing { .. }
        | Problem::UnreadableField { .. } => About::Run,
        Problem::GroupNameTaken { .. } => About::Groups,
    }
}

#[cfg(test)]
#[path = "focus_tests.rs"]
mod tests;
