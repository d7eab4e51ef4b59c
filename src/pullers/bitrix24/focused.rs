//! A focused pull on Bitrix24: `user.get` filtered by `ID` (up to 50 ids a command) for the
//! people asked for, and `user.search` by `CONFIRM_CODE` among them for the invitees; the whole
//! department list (50 a page), which the managers are derived from exactly as in a whole pull
//! (department heads, climbing); then the same reads for the managers. When anyone read is
//! marked an invitee, the whole pull's check that the portal honours the `CONFIRM_CODE` filter
//! too. All of it travels in `batch` requests: two or three for a portal of under 2 500
//! departments, whatever its number of people. No `ACTIVE` filter, as in a whole pull: a
//! dismissed person is read as dismissed. Bitrix24 has no app scope: an id is found or not.

use super::client::Command;
use super::pages::Listing;
use super::{
    Bitrix24Puller, DEPARTMENT_GET, InviteeFilter, List, USER_GET, USER_SEARCH, convert,
    invitee_filter, profile, take, wire,
};
use crate::model::{DepartmentId, Directory, Problem, UserKey};
use crate::pullers::{Focused, Platform, PullError, focus};
use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

/// Ids one filtered command asks for: one page's worth, so no answer needs a second page.
const IDS_PER_COMMAND: usize = 50;

/// People read so far, and the ids of those among them invited and not yet accepted.
#[derive(Default)]
struct People {
    users: Vec<wire::User>,
    invitees: HashSet<String>,
}

/// The commands reading `ids`: `{prefix}u{n}` their records, `{prefix}i{n}` the invitees among
/// them (ids only).
fn people_commands(prefix: &str, ids: &[String]) -> Vec<(Command, Command)> {
    ids.chunks(IDS_PER_COMMAND)
        .enumerate()
        .map(|(n, chunk)| {
            let filter: String = chunk
                .iter()
                .map(|id| format!("FILTER[ID][]={id}"))
                .collect::<Vec<_>>()
                .join("&");
            let users = Command {
                key: format!("{prefix}u{n}"),
                method: USER_GET,
                filter: filter.clone().into(),
                start: 0,
            };
            let invitees = Command {
                key: format!("{prefix}i{n}"),
                method: USER_SEARCH,
                filter: format!("{filter}&FILTER[!CONFIRM_CODE]=0&select[]=ID").into(),
                start: 0,
            };
            (users, invitees)
        })
        .collect()
}

impl People {
    /// Takes the answers of `commands` from a batch's answers.
    fn read(
        &mut self,
        answers: &mut std::collections::BTreeMap<String, super::client::Answer>,
        commands: &[(Command, Command)],
    ) -> Result<(), PullError> {
        for (users, invitees) in commands {
            let (listing, _) = Listing::<wire::User>::first(USER_GET, take(answers, users)?)?;
            self.users.extend(listing.finish()?);
            let (listing, _) = Listing::<wire::User>::first(USER_SEARCH, take(answers, invitees)?)?;
            self.invitees
                .extend(listing.finish()?.into_iter().filter_map(|row| row.id));
        }
        Ok(())
    }

    fn ids(&self) -> HashSet<&str> {
        self.users.iter().filter_map(|u| u.id.as_deref()).collect()
    }
}

fn flatten(commands: &[(Command, Command)]) -> Vec<Command> {
    commands
        .iter()
        .flat_map(|(users, invitees)| [users.clone(), invitees.clone()])
        .collect()
}

/// The whole pull's check that the portal applied the `CONFIRM_CODE` filter (`invitee_filter`):
/// the portal's users, those with a code and those without, counted. A portal that ignores the
/// filter lists everyone asked for as an invitee, so the check runs only when someone is.
struct FilterCheck;

impl FilterCheck {
    fn commands() -> [Command; 3] {
        [
            List::Users.command(0),
            List::Invitees.command(0),
            List::Accepted.command(0),
        ]
    }

    /// The verdict, when these answers carry the check.
    fn read(
        answers: &mut std::collections::BTreeMap<String, super::client::Answer>,
    ) -> Result<Option<InviteeFilter>, PullError> {
        let [users, with, without] = Self::commands();
        if !answers.contains_key(&users.key) {
            return Ok(None);
        }
        let users = take(answers, &users)?.total.unwrap_or_default();
        let with = take(answers, &with)?.total;
        let without = take(answers, &without)?.total;
        Ok(Some(invitee_filter(users, with, without)))
    }
}

impl Bitrix24Puller {
    pub(super) async fn focused(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        let started = Instant::now();
        // Counts left over from a failed pull belong to no report.
        self.client.calls.take(std::time::Duration::ZERO);
        // Bitrix24 ids are numbers: anything else names nobody, and is not sent.
        let mut seen = BTreeSet::new();
        let asked: Vec<String> = keys
            .iter()
            .map(|k| k.as_str().trim())
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            .filter(|k| seen.insert(*k))
            .map(str::to_owned)
            .collect();

        // First request: the people and the first department page.
        let first_departments = List::Departments.command(0);
        let asked_commands = people_commands("p", &asked);
        let mut commands = vec![first_departments.clone()];
        commands.extend(flatten(&asked_commands));
        let mut answers = self.client.batch(&commands).await?;
        let (mut departments, starts) =
            Listing::first(DEPARTMENT_GET, take(&mut answers, &first_departments)?)?;
        let mut people = People::default();
        people.read(&mut answers, &asked_commands)?;

        // The other department pages, 50 to a request; with them, when anyone read is marked
        // an invitee, the whole pull's check that the portal honoured the filter.
        let mut filter = None;
        let mut pending: Vec<Command> = starts
            .into_iter()
            .map(|start| List::Departments.command(start))
            .collect();
        if !people.invitees.is_empty() {
            pending.extend(FilterCheck::commands());
        }
        for chunk in pending.chunks(super::MAX_BATCH) {
            let mut answers = self.client.batch(chunk).await?;
            for command in chunk {
                if command.method == DEPARTMENT_GET {
                    departments.add(command.start, take(&mut answers, command)?)?;
                }
            }
            if filter.is_none() {
                filter = FilterCheck::read(&mut answers)?;
            }
        }
        let departments = departments.finish()?;

        // The managers, derived as a whole pull derives them, read the same way.
        let provisional = self.directory(departments.clone(), people.users.clone(), &people);
        let read = people.ids();
        let managers: Vec<String> = provisional
            .users
            .values()
            .filter_map(|u| u.manager.as_ref().map(|m| m.as_str().to_owned()))
            .filter(|m| !read.contains(m.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !managers.is_empty() {
            let manager_commands = people_commands("m", &managers);
            let mut answers = self.client.batch(&flatten(&manager_commands)).await?;
            people.read(&mut answers, &manager_commands)?;
        }
        if filter.is_none() && !people.invitees.is_empty() {
            let mut answers = self.client.batch(&FilterCheck::commands()).await?;
            filter = FilterCheck::read(&mut answers)?;
        }
        // Nobody marked: nobody to unmark, whatever the portal does with the filter.
        if filter == Some(InviteeFilter::Ignored) {
            people.invitees.clear();
        }
        let users = std::mem::take(&mut people.users);
        let mut directory = self.directory(departments, users, &people);
        if filter == Some(InviteeFilter::Ignored) {
            directory.problems.push(Problem::InviteesNotDistinguished);
        }
        keep_departments_above_people(&mut directory);
        let not_found: BTreeSet<UserKey> = keys
            .iter()
            .filter(|k| !directory.users.contains_key(*k) && !directory.held.contains(*k))
            .cloned()
            .collect();
        let stats = self.client.calls.take(started.elapsed());
        Ok(focus::finish(
            Platform::Bitrix24,
            keys.len(),
            directory,
            stats,
            not_found,
        ))
    }

    /// The directory of `users` under the whole department tree, as a whole pull builds it.
    fn directory(
        &self,
        departments: Vec<wire::Department>,
        users: Vec<wire::User>,
        people: &People,
    ) -> Directory {
        let mut directory =
            convert::directory(departments, users, &people.invitees, self.include_extranet);
        for user in directory.users.values_mut() {
            profile::absolute_avatar(&mut user.profile, &self.portal);
        }
        directory
    }
}

/// Leaves the departments the people read are in and every one above them.
fn keep_departments_above_people(directory: &mut Directory) {
    let mut keep: BTreeSet<DepartmentId> = BTreeSet::new();
    for user in directory.users.values() {
        for department in &user.departments {
            let mut next = Some(department.clone());
            while let Some(id) = next.take() {
                if let Some(found) = directory.departments.get(&id)
                    && keep.insert(id)
                {
                    next = found.parent.clone();
                }
            }
        }
    }
    directory.departments.retain(|id, _| keep.contains(id));
}
