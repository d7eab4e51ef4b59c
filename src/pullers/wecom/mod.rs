//! The WeCom (企业微信) puller: `department/list` once, then `user/list` per visible department, so
//! a full pull costs D + 2 calls (D + 3 plus one per individually authorized person with an
//! `agent_id`). See `shared/upstream-apis/wecom.md`.

mod client;
mod config;
mod convert;
#[doc(hidden)]
pub mod fuzz;
mod wire;

pub use config::WecomSourceConfig;

use super::{Platform, PullError, PullStats, Pulled, Puller};
use crate::config::Secret;
use crate::model::Checked;
use client::WecomClient;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeSet;
use std::time::Instant;
use tracing::{info, instrument};

/// WeCom answers 60111 for a person who no longer exists: nothing to pull for them.
const USER_NOT_FOUND: i64 = 60111;

pub struct WecomPuller {
    client: WecomClient,
    agent_id: Option<i64>,
    concurrency: usize,
}

impl WecomPuller {
    pub fn new(config: WecomSourceConfig, secret: Secret) -> Result<Self, PullError> {
        let agent_id = config.agent_id;
        let concurrency = config.concurrency.max(1);
        Ok(WecomPuller {
            client: WecomClient::new(config, secret)?,
            agent_id,
            concurrency,
        })
    }

    async fn members(&self, department: String) -> Result<(String, Vec<wire::User>), PullError> {
        let list: wire::UserList = self
            .client
            .get(
                "/cgi-bin/user/list",
                &[("department_id", department.as_str())],
            )
            .await?;
        self.client.calls.progress().people(list.userlist.len());
        Ok((department, list.userlist))
    }

    /// People authorized one by one may sit in departments the app cannot see.
    async fn individuals(
        &self,
        agent: &wire::Agent,
        seen: &BTreeSet<String>,
    ) -> Result<Vec<wire::User>, PullError> {
        let missing: Vec<&str> = agent
            .allow_userinfos
            .iter()
            .flat_map(|u| &u.user)
            .map(|u| u.userid.as_str())
            .filter(|id| !seen.contains(*id))
            .collect();
        let mut users = Vec::new();
        for userid in missing {
            match self
                .client
                .get::<wire::User>("/cgi-bin/user/get", &[("userid", userid)])
                .await
            {
                Ok(user) => users.push(user),
                Err(PullError::Api {
                    code: USER_NOT_FOUND,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(users)
    }
}

impl Puller for WecomPuller {
    fn platform(&self) -> Platform {
        Platform::Wecom
    }

    async fn check_token(&self) -> Result<Checked, PullError> {
        self.client.token().await?;
        Ok(Checked::Verified(String::new()))
    }

    fn drain_stats(&self) -> Option<PullStats> {
        Some(self.client.calls.take(std::time::Duration::ZERO))
    }

    fn progress(&self) -> Option<std::sync::Arc<crate::pullers::http::PullProgress>> {
        Some(self.client.calls.progress().clone())
    }

    #[instrument(level = "info", skip(self), fields(platform = "wecom"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        let departments: wire::DepartmentList =
            self.client.get("/cgi-bin/department/list", &[]).await?;
        let agent = match self.agent_id {
            Some(id) => {
                let id = id.to_string();
                Some(
                    self.client
                        .get::<wire::Agent>("/cgi-bin/agent/get", &[("agentid", id.as_str())])
                        .await?,
                )
            }
            None => None,
        };
        // Ordered buffering keeps the result independent of response timing.
        let ids: Vec<String> = departments
            .department
            .iter()
            .map(|d| d.id.clone())
            .collect();
        let members: Vec<(String, Vec<wire::User>)> = stream::iter(ids)
            .map(|id| self.members(id))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let individuals = match &agent {
            Some(agent) => {
                let seen = members
                    .iter()
                    .flat_map(|(_, users)| users.iter().filter_map(|u| u.userid.clone()))
                    .collect();
                self.individuals(agent, &seen).await?
            }
            None => Vec::new(),
        };
        let directory = convert::directory(departments.department, members, individuals, agent);
        let stats = self.client.calls.take(started.elapsed());
        info!(
            users = directory.users.len(),
            departments = directory.departments.len(),
            calls = stats.total_calls(),
            retries = stats.retries,
            "Pulled the WeCom directory."
        );
        Ok(Pulled { directory, stats })
    }
}
