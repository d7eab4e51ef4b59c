//! The Bitrix24 puller: `user.get` and `department.get`, 50 rows a page, paged by `start` and
//! packed into `batch` requests of up to 50 commands. The first request fetches the first page of
//! both lists (learning `total`); the rest follow in batches, up to [`IN_FLIGHT`] at a time, so a
//! full pull of N users and D departments costs `1 + ceil((ceil(N/50) + ceil(D/50) − 2) / 50)`
//! HTTP requests, plus one token refresh an hour with OAuth. Managers are derived from department
//! heads (`convert`). See `shared/upstream-apis/bitrix24.md`.

mod auth;
mod client;
mod config;
mod convert;
#[doc(hidden)]
pub mod fuzz;
mod pages;
mod wire;

pub use config::{Bitrix24Auth, Bitrix24Secrets, Bitrix24SourceConfig};

use super::{Platform, PullError, PullStats, Pulled, Puller};
use crate::model::Checked;
use crate::pullers::http::{self, RateLimiter};
use auth::Auth;
use client::{Answer, Bitrix24Client, Command, MAX_BATCH, PLATFORM};
use futures_util::{StreamExt, stream};
use pages::Listing;
use std::collections::BTreeMap;
use std::time::Instant;
use tracing::{info, instrument};

const USER_GET: &str = "user.get";
const DEPARTMENT_GET: &str = "department.get";
/// Batches sent before the first of them is answered. The portal's bucket counts requests, not
/// concurrency, and holds 50 before it refuses any; the client's limiter books every request
/// against it whatever is in flight. Overlapping a few lets the round trips and the portal's
/// work on one batch hide behind reading the last one (4, as the other pullers).
const IN_FLIGHT: usize = 4;

pub struct Bitrix24Puller {
    client: Bitrix24Client,
    include_extranet: bool,
}

impl Bitrix24Puller {
    pub fn new(config: Bitrix24SourceConfig, secrets: Bitrix24Secrets) -> Result<Self, PullError> {
        let auth = Auth::new(&config.auth, config.allow_plain_http, secrets)?;
        let client = Bitrix24Client::new(
            http::client(config.timeout.0)?,
            auth,
            config.retry.clone(),
            RateLimiter::new(config.rate_limits.clone()),
        );
        Ok(Bitrix24Puller {
            client,
            include_extranet: config.include_extranet,
        })
    }

    /// Both lists in full: first pages in one batch, the remaining pages packed 50 to a batch,
    /// read in page order.
    async fn lists(&self) -> Result<(Vec<wire::User>, Vec<wire::Department>), PullError> {
        let first = [command(USER_GET, "u", 0), command(DEPARTMENT_GET, "d", 0)];
        let mut answers = self.client.batch(&first).await?;
        let (mut users, user_starts) = Listing::first(USER_GET, take(&mut answers, &first[0])?)?;
        let (mut departments, department_starts) =
            Listing::first(DEPARTMENT_GET, take(&mut answers, &first[1])?)?;
        let progress = self.client.calls.progress();
        let (total, read) = users.counts();
        progress.people_total(total);
        progress.people(read as usize);
        let rest: Vec<Command> = user_starts
            .into_iter()
            .map(|start| command(USER_GET, "u", start))
            .chain(
                department_starts
                    .into_iter()
                    .map(|start| command(DEPARTMENT_GET, "d", start)),
            )
            .collect();
        let chunks: Vec<Vec<Command>> = rest.chunks(MAX_BATCH).map(<[Command]>::to_vec).collect();
        let mut batches = stream::iter(chunks)
            .map(|chunk| async move {
                let answers = self.client.batch(&chunk).await?;
                Ok::<_, PullError>((chunk, answers))
            })
            .buffered(IN_FLIGHT);
        while let Some(batch) = batches.next().await {
            let (chunk, mut answers) = batch?;
            for command in &chunk {
                let answer = take(&mut answers, command)?;
                if command.method == USER_GET {
                    let before = users.counts().1;
                    users.add(command.start, answer)?;
                    progress.people((users.counts().1 - before) as usize);
                } else {
                    departments.add(command.start, answer)?;
                }
            }
        }
        Ok((users.finish()?, departments.finish()?))
    }
}

fn command(method: &'static str, prefix: &str, start: u64) -> Command {
    // Keys must not be numbers: PHP would turn the result map into a list.
    Command {
        key: format!("{prefix}{start}"),
        method,
        start,
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

    #[instrument(level = "info", skip(self), fields(platform = "bitrix24"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        // Counts left over from a failed pull belong to no report.
        self.client.calls.take(std::time::Duration::ZERO);
        let (users, departments) = self.lists().await?;
        if departments.iter().any(|d| d.id.is_none()) {
            return Err(PullError::Malformed {
                platform: PLATFORM,
                endpoint: DEPARTMENT_GET.to_owned(),
                detail: "a department has no `ID`".into(),
            });
        }
        let directory = convert::directory(departments, users, self.include_extranet);
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
