//! The Bitrix24 puller: `user.get` and `department.get`, sorted by `ID`, 50 rows a page, paged
//! by `start` and packed into `batch` requests of up to 50 commands, and `user.search` for the
//! invited people who have not accepted ([`INVITEES`]). The first request fetches the first page
//! of every list (learning each `total`); the rest follow in batches, up to [`IN_FLIGHT`] at a
//! time, so a full pull of N users, D departments and I pending invitees costs
//! `1 + ceil((ceil(N/50) + ceil(D/50) + max(1, ceil(I/50)) − 3) / 50)` HTTP requests, plus one
//! token refresh an hour with OAuth. Managers are derived from department
//! heads (`convert`). A focused pull (`pull_people`, focused.rs) reads the people asked for by
//! `ID` instead of the user list. See `shared/upstream-apis/bitrix24.md`.

mod auth;
mod client;
mod config;
mod convert;
mod focused;
#[doc(hidden)]
pub mod fuzz;
mod pages;
mod profile;
mod wire;

pub use config::{Bitrix24Auth, Bitrix24Secrets, Bitrix24SourceConfig};

use super::{Focused, Platform, PullError, PullStats, Pulled, Puller};
use crate::model::{Checked, Problem, UserKey};
use crate::pullers::http::{self, RateLimiter};
use auth::Auth;
use client::{Answer, Bitrix24Client, Command, MAX_BATCH, PLATFORM};
use futures_util::{StreamExt, stream};
use pages::Listing;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;
use tracing::{info, instrument, warn};

const USER_GET: &str = "user.get";
const USER_SEARCH: &str = "user.search";
const DEPARTMENT_GET: &str = "department.get";
/// Batches sent before the first of them is answered. The portal's bucket counts requests, not
/// concurrency, and holds 50 before it refuses any; the client's limiter books every request
/// against it whatever is in flight. Overlapping a few lets the round trips and the portal's
/// work on one batch hide behind reading the last one (4, as the other pullers).
const IN_FLIGHT: usize = 4;

pub struct Bitrix24Puller {
    client: Bitrix24Client,
    include_extranet: bool,
    /// `https://corp.bitrix24.com`: photos come as paths on it.
    portal: String,
}

impl Bitrix24Puller {
    pub fn new(config: Bitrix24SourceConfig, secrets: Bitrix24Secrets) -> Result<Self, PullError> {
        let auth = Auth::new(&config.auth, config.allow_plain_http, secrets)?;
        let portal = auth.portal_origin();
        let client = Bitrix24Client::new(
            http::client(config.timeout.0)?,
            auth,
            config.retry.clone(),
            RateLimiter::new(config.rate_limits.clone()),
        );
        Ok(Bitrix24Puller {
            client,
            include_extranet: config.include_extranet,
            portal,
        })
    }

    /// Both lists in full, and the ids of invited people who have not accepted: the first
    /// pages of every list in one batch, the remaining pages packed 50 to a batch, read in page
    /// order.
    async fn lists(&self) -> Result<Lists, PullError> {
        let first = [
            List::Users.command(0),
            List::Departments.command(0),
            List::Invitees.command(0),
            List::Accepted.command(0),
        ];
        let mut answers = self.client.batch(&first).await?;
        let (mut users, user_starts) = Listing::first(USER_GET, take(&mut answers, &first[0])?)?;
        let (mut departments, department_starts) =
            Listing::first(DEPARTMENT_GET, take(&mut answers, &first[1])?)?;
        let invitee_answer = take(&mut answers, &first[2])?;
        let accepted = take(&mut answers, &first[3])?.total;
        let mut invitees = match invitee_filter(users.total(), invitee_answer.total, accepted) {
            InviteeFilter::Honoured => Some(Listing::first(USER_SEARCH, invitee_answer)?),
            InviteeFilter::Ignored => {
                warn!(
                    users = users.total(),
                    with_code = ?invitee_answer.total,
                    without_code = ?accepted,
                    "Bitrix24 did not filter user.search on CONFIRM_CODE (the two halves do not add up to user.get's total); invited people who have not accepted are pulled as active."
                );
                None
            }
        };
        let invitee_starts = invitees
            .as_mut()
            .map(|(_, starts)| std::mem::take(starts))
            .unwrap_or_default();
        let progress = self.client.calls.progress();
        let (total, read) = users.counts();
        progress.people_total(total);
        progress.people(read as usize);
        let rest: Vec<(List, Command)> = user_starts
            .into_iter()
            .map(|start| (List::Users, List::Users.command(start)))
            .chain(
                department_starts
                    .into_iter()
                    .map(|start| (List::Departments, List::Departments.command(start))),
            )
            .chain(
                invitee_starts
                    .into_iter()
                    .map(|start| (List::Invitees, List::Invitees.command(start))),
            )
            .collect();
        let chunks: Vec<Vec<(List, Command)>> = rest
            .chunks(MAX_BATCH)
            .map(<[(List, Command)]>::to_vec)
            .collect();
        let mut batches = stream::iter(chunks)
            .map(|chunk| async move {
                let commands: Vec<Command> = chunk.iter().map(|(_, c)| c.clone()).collect();
                let answers = self.client.batch(&commands).await?;
                Ok::<_, PullError>((chunk, answers))
            })
            .buffered(IN_FLIGHT);
        while let Some(batch) = batches.next().await {
            let (chunk, mut answers) = batch?;
            for (list, command) in &chunk {
                let answer = take(&mut answers, command)?;
                match list {
                    List::Users => {
                        let before = users.counts().1;
                        users.add(command.start, answer)?;
                        progress.people((users.counts().1 - before) as usize);
                    }
                    List::Departments => departments.add(command.start, answer)?,
                    List::Invitees => {
                        if let Some((listing, _)) = invitees.as_mut() {
                            listing.add(command.start, answer)?;
                        }
                    }
                    List::Accepted => {}
                }
            }
        }
        let invitees: Option<HashSet<String>> = match invitees {
            Some((listing, _)) => Some(
                listing
                    .finish()?
                    .into_iter()
                    .filter_map(|row: wire::User| row.id)
                    .collect(),
            ),
            None => None,
        };
        Ok(Lists {
            users: users.finish()?,
            departments: departments.finish()?,
            invitees,
        })
    }
}

/// What a pull read: every user, every department, and the ids `user.search` listed with a
/// `CONFIRM_CODE` (invited, not accepted); `None` when the portal ignored that filter.
struct Lists {
    users: Vec<wire::User>,
    departments: Vec<wire::Department>,
    invitees: Option<HashSet<String>>,
}

/// The lists a pull reads: a method, its filter and its batch keys' prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Users,
    Departments,
    /// `user.search` for people with a `CONFIRM_CODE`: invited and not yet accepted.
    Invitees,
    /// `user.search` for people without one; only its `total` is read, to check the filter.
    Accepted,
}

/// Invited people are created `ACTIVE` with a `CONFIRM_CODE` that is cleared when they accept.
/// No answer shows the code, and `user.get` drops it as a filter; `user.search` accepts it
/// (Bitrix24's `Bitrix\Rest\Api\User::userGet` allows `CONFIRM_CODE` for `user.search` only,
/// and reads the value `0` as "empty"), though the REST documentation does not list it. Hence
/// `!CONFIRM_CODE=0` lists the invitees, and `CONFIRM_CODE=0` the others, whose `total` proves
/// the filter was applied (see [`invitee_filter`]). Only ids are selected.
const INVITEES: &str = "FILTER[!CONFIRM_CODE]=0&select[]=ID";
const ACCEPTED: &str = "FILTER[CONFIRM_CODE]=0&select[]=ID";

impl List {
    fn command(self, start: u64) -> Command {
        let (method, filter, prefix) = match self {
            List::Users => (USER_GET, "", "u"),
            List::Departments => (DEPARTMENT_GET, "", "d"),
            List::Invitees => (USER_SEARCH, INVITEES, "i"),
            List::Accepted => (USER_SEARCH, ACCEPTED, "a"),
        };
        // Keys must not be numbers: PHP would turn the result map into a list.
        Command {
            key: format!("{prefix}{start}"),
            method,
            filter: filter.into(),
            start,
        }
    }
}

/// Whether the portal applied the `CONFIRM_CODE` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InviteeFilter {
    Honoured,
    /// A portal whose `user.search` predates the filter drops it and lists everyone twice; one
    /// that compares the text `0` literally lists nobody as accepted. Either way the halves do
    /// not add up, and nobody is marked as an invitee.
    Ignored,
}

/// The filter was applied when people with a code and people without add up to `user.get`'s
/// total, and someone has accepted (the webhook's or app's own user has, so a portal with users
/// has at least one).
fn invitee_filter(users: u64, with_code: Option<u64>, without_code: Option<u64>) -> InviteeFilter {
    match (with_code, without_code) {
        (Some(with), Some(without))
            if with.checked_add(without) == Some(users) && (without > 0 || users == 0) =>
        {
            InviteeFilter::Honoured
        }
        _ => InviteeFilter::Ignored,
    }
}

fn take(answers: &mut BTreeMap<String, Answer>, command: &Command) -> Result<Answer, PullError> {
    answers
        .remove(&command.key)
        .ok_or_else(|| PullError::Malformed {
            platform: PLATFORM,
            endpoint: command.describe(),
            detail: "no answer for this command".into(),
        })
}

impl Puller for Bitrix24Puller {
    fn platform(&self) -> Platform {
        Platform::Bitrix24
    }

    async fn check_token(&self) -> Result<Checked, PullError> {
        self.client.check_token().await
    }

    fn drain_stats(&self) -> Option<PullStats> {
        Some(self.client.calls.take(std::time::Duration::ZERO))
    }

    fn progress(&self) -> Option<std::sync::Arc<crate::pullers::http::PullProgress>> {
        Some(self.client.calls.progress().clone())
    }

    #[instrument(level = "info", skip_all, fields(platform = "bitrix24"))]
    async fn pull_people(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        self.focused(keys).await
    }

    #[instrument(level = "info", skip(self), fields(platform = "bitrix24"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        // Counts left over from a failed pull belong to no report.
        self.client.calls.take(std::time::Duration::ZERO);
        let Lists {
            users,
            departments,
            invitees,
        } = self.lists().await?;
        if departments.iter().any(|d| d.id.is_none()) {
            return Err(PullError::Malformed {
                platform: PLATFORM,
                endpoint: DEPARTMENT_GET.to_owned(),
                detail: "a department has no `ID`".into(),
            });
        }
        let mut directory = convert::directory(
            departments,
            users,
            invitees.as_ref().unwrap_or(&HashSet::new()),
            self.include_extranet,
        );
        for user in directory.users.values_mut() {
            profile::absolute_avatar(&mut user.profile, &self.portal);
        }
        if invitees.is_none() {
            directory.problems.push(Problem::InviteesNotDistinguished);
        }
        let stats = self.client.calls.take(started.elapsed());
        info!(
            users = directory.users.len(),
            departments = directory.departments.len(),
            calls = stats.total_calls(),
            retries = stats.retries,
            "Pulled the Bitrix24 directory."
        );
        Ok(Pulled { directory, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invitee_filter_counts_only_when_the_halves_add_up() {
        use InviteeFilter::{Honoured, Ignored};
        assert_eq!(invitee_filter(260, Some(12), Some(248)), Honoured);
        assert_eq!(invitee_filter(260, Some(0), Some(260)), Honoured);
        assert_eq!(invitee_filter(0, Some(0), Some(0)), Honoured);
        // Dropped filter: both halves are everyone.
        assert_eq!(invitee_filter(260, Some(260), Some(260)), Ignored);
        // `0` compared as text: nobody "without a code", everyone "with" one.
        assert_eq!(invitee_filter(260, Some(260), Some(0)), Ignored);
        assert_eq!(invitee_filter(260, None, Some(248)), Ignored);
        assert_eq!(invitee_filter(u64::MAX, Some(u64::MAX), Some(1)), Ignored);
    }
}
