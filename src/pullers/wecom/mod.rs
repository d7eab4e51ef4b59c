//! The WeCom (企业微信) puller. The app's visible range comes first: `agent/get` (its departments,
//! people added one by one and tags) and one `tag/get` per tag. Then `department/list` once and
//! `user/list` per visible department, so a full pull costs D + T + 3 calls, plus one `user/get` per
//! person of the range not met in a department. An app refused the two list calls (48002, reported
//! for apps created after 2022-08-15) reads `department/simplelist` + one `department/get` per
//! department and `user/simplelist` per department + one `user/get` per person instead, and says
//! so in the report. A focused pull (`pull_people`) reads single people and departments instead
//! (focused.rs). See `shared/upstream-apis/wecom.md`.

mod client;
mod config;
mod convert;
mod focused;
#[doc(hidden)]
pub mod fuzz;
mod profile;
mod wire;

pub use config::{ThrottleWindows, WecomSourceConfig};

use super::{Focused, Platform, PullError, PullStats, Pulled, Puller};
use crate::config::Secret;
use crate::model::{Checked, UserKey};
use crate::model::{Problem, Scope};
use client::WecomClient;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeSet;
use std::time::Instant;
use tracing::{info, instrument, warn};

/// WeCom answers 60111 for a person who no longer exists: nothing to pull for them.
const USER_NOT_FOUND: i64 = 60111;
/// "API not permitted for this secret" (notes §6). On the two list calls it means the app may
/// not use them (reported for apps created after 2022-08-15): the simple lists still work.
const API_NOT_PERMITTED: i64 = 48002;
/// A department or tag that does not exist (60123, 60003 on some APIs; 40068 for a tag id).
const GONE: [i64; 3] = [60123, 60003, 40068];
/// Outside the app's visible range (notes §5): "not visible", never retried.
const NOT_VISIBLE: [i64; 3] = [60011, 60021, 50002];

const DEPARTMENT_LIST: &str = "/cgi-bin/department/list";
const DEPARTMENT_SIMPLELIST: &str = "/cgi-bin/department/simplelist";
const DEPARTMENT_GET: &str = "/cgi-bin/department/get";
const USER_LIST: &str = "/cgi-bin/user/list";
const USER_SIMPLELIST: &str = "/cgi-bin/user/simplelist";
const USER_GET: &str = "/cgi-bin/user/get";

/// How the departments or the members were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadPath {
    /// `department/list` / `user/list`: full records, one call per list.
    Lists,
    /// The list call was refused: the simple list, then one detail read per item.
    OneByOne,
}

/// How one pull read departments and members, and what reading one by one cost.
#[derive(Debug)]
struct ReadPaths {
    departments: ReadPath,
    members: ReadPath,
    /// Refused list calls plus the detail reads the lists would have spared.
    extra_calls: u64,
}

impl Default for ReadPaths {
    fn default() -> Self {
        ReadPaths {
            departments: ReadPath::Lists,
            members: ReadPath::Lists,
            extra_calls: 0,
        }
    }
}

impl ReadPaths {
    /// Said once in the report when either list was refused.
    fn problem(&self) -> Option<Problem> {
        let mut refused = Vec::new();
        let mut instead = Vec::new();
        if self.departments == ReadPath::OneByOne {
            refused.push("department/list".to_owned());
            instead.push("department/simplelist + department/get".to_owned());
        }
        if self.members == ReadPath::OneByOne {
            refused.push("user/list".to_owned());
            instead.push("user/simplelist + user/get".to_owned());
        }
        (!refused.is_empty()).then(|| Problem::ListReadsRefused {
            platform: Platform::Wecom.to_string(),
            refused,
            instead,
            extra_calls: self.extra_calls,
        })
    }
}

fn is_refused(error: &PullError) -> bool {
    matches!(
        error,
        PullError::Credentials {
            code: API_NOT_PERMITTED,
            ..
        }
    )
}

/// The code of an answer meaning "this item is gone or out of range": the item is skipped.
fn skippable(error: &PullError) -> Option<i64> {
    match error {
        PullError::Api { code, .. }
            if *code == USER_NOT_FOUND || GONE.contains(code) || NOT_VISIBLE.contains(code) =>
        {
            Some(*code)
        }
        _ => None,
    }
}

pub struct WecomPuller {
    client: WecomClient,
    agent_id: i64,
    concurrency: usize,
}

impl WecomPuller {
    pub fn new(config: WecomSourceConfig, secret: Secret) -> Result<Self, PullError> {
        let agent_id = config.agent_id.ok_or_else(|| PullError::Setup {
            detail: config::MISSING_AGENT_ID.to_owned(),
        })?;
        let concurrency = config.concurrency.max(1);
        Ok(WecomPuller {
            client: WecomClient::new(config, secret)?,
            agent_id,
            concurrency,
        })
    }

    /// Every tag of the visible range, each read once. A tag that cannot be read (gone, out of
    /// range) is reported and skipped.
    async fn tags(
        &self,
        agent: &wire::Agent,
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<wire::Tag>, PullError> {
        let ids: BTreeSet<String> = agent
            .allow_tags
            .iter()
            .flat_map(|t| &t.tagid)
            .filter(|id| !id.trim().is_empty())
            .cloned()
            .collect();
        let answers: Vec<(String, Result<wire::Tag, PullError>)> = stream::iter(ids)
            .map(|id| async move {
                let tag = self
                    .client
                    .get::<wire::Tag>("/cgi-bin/tag/get", &[("tagid", id.as_str())])
                    .await;
                (id, tag)
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut tags = Vec::with_capacity(answers.len());
        for (id, answer) in answers {
            match answer {
                Ok(tag) => tags.push(tag),
                Err(error) => match skippable(&error) {
                    Some(code) => problems.push(Problem::ScopeEntryUnreadable {
                        entry: format!("tag {id}"),
                        code,
                    }),
                    None => return Err(error),
                },
            }
        }
        Ok(tags)
    }

    /// The visible department tree: `department/list`, or when refused, `department/simplelist`
    /// and `department/get` per department. `id` narrows it to one subtree.
    async fn department_tree(
        &self,
        id: Option<&str>,
        paths: &mut ReadPaths,
    ) -> Result<Vec<wire::Department>, PullError> {
        let query: Vec<(&str, &str)> = id.map(|id| ("id", id)).into_iter().collect();
        if paths.departments == ReadPath::Lists {
            match self
                .client
                .get::<wire::DepartmentList>(DEPARTMENT_LIST, &query)
                .await
            {
                Ok(list) => return Ok(list.department),
                Err(error) if is_refused(&error) => {
                    warn!(
                        endpoint = DEPARTMENT_LIST,
                        code = API_NOT_PERMITTED,
                        "WeCom refused department/list for this app; reading department/simplelist and each department with department/get instead."
                    );
                    paths.departments = ReadPath::OneByOne;
                    paths.extra_calls += 1;
                }
                Err(error) => return Err(error),
            }
        }
        let simple: wire::DepartmentSimpleList =
            self.client.get(DEPARTMENT_SIMPLELIST, &query).await?;
        let mut ids = BTreeSet::new();
        let ids: Vec<String> = simple
            .department_id
            .into_iter()
            .map(|d| d.id)
            .filter(|id| ids.insert(id.clone()))
            .collect();
        let details: Vec<Option<wire::Department>> = stream::iter(ids)
            // `None`: removed (or moved out of range) between the two calls.
            .map(|id| self.department(id))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        // One read per department the list would have answered.
        paths.extra_calls += details.len() as u64;
        Ok(details.into_iter().flatten().collect())
    }

    /// The subtree of every range department (given directly or through a tag) that the visible
    /// tree did not include; each department once.
    async fn departments_beyond(
        &self,
        tree: &[wire::Department],
        scope: &Scope,
        paths: &mut ReadPaths,
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<wire::Department>, PullError> {
        let mut departments = Vec::new();
        let mut known: BTreeSet<String> = tree.iter().map(|d| d.id.clone()).collect();
        for root in &scope.departments {
            if known.contains(root.as_str()) {
                continue;
            }
            match self.department_tree(Some(root.as_str()), paths).await {
                Ok(subtree) => {
                    for department in subtree {
                        if known.insert(department.id.clone()) {
                            departments.push(department);
                        }
                    }
                }
                Err(error) => match skippable(&error) {
                    Some(code) => problems.push(Problem::ScopeEntryUnreadable {
                        entry: format!("department {root}"),
                        code,
                    }),
                    None => return Err(error),
                },
            }
        }
        Ok(departments)
    }

    async fn members(&self, department: String) -> Result<(String, Vec<wire::User>), PullError> {
        let list: wire::UserList = self
            .client
            .get(USER_LIST, &[("department_id", department.as_str())])
            .await?;
        self.client.calls.progress().people(list.userlist.len());
        Ok((department, list.userlist))
    }

    /// Direct members of every department. The first `user/list` goes alone: when it is refused,
    /// every department is read the slow way, so the refusal costs one call, not one per worker.
    async fn all_members(
        &self,
        ids: Vec<String>,
        paths: &mut ReadPaths,
    ) -> Result<Vec<(String, Vec<wire::User>)>, PullError> {
        let mut ids = ids.into_iter();
        let Some(first) = ids.next() else {
            return Ok(Vec::new());
        };
        match self.members(first.clone()).await {
            Ok(listed) => {
                // Ordered buffering keeps the result independent of response timing.
                let mut members = vec![listed];
                let rest: Vec<_> = stream::iter(ids)
                    .map(|id| self.members(id))
                    .buffered(self.concurrency)
                    .try_collect()
                    .await?;
                members.extend(rest);
                return Ok(members);
            }
            Err(error) if is_refused(&error) => paths.members = ReadPath::OneByOne,
            Err(error) => return Err(error),
        }
        warn!(
            endpoint = USER_LIST,
            code = API_NOT_PERMITTED,
            "WeCom refused user/list for this app; reading user/simplelist and each person with user/get instead."
        );
        let departments: Vec<String> = std::iter::once(first).chain(ids).collect();
        let listed: Vec<(String, wire::UserSimpleList)> = stream::iter(departments)
            .map(|id| async move {
                let list = self
                    .client
                    .get::<wire::UserSimpleList>(USER_SIMPLELIST, &[("department_id", id.as_str())])
                    .await?;
                Ok::<_, PullError>((id, list))
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        // Each person once, under the first department that lists them.
        let mut seen = BTreeSet::new();
        let mut wanted: Vec<(String, Option<String>)> = Vec::new();
        for (department, list) in listed {
            for user in list.userlist {
                match user.userid.filter(|id| !id.trim().is_empty()) {
                    Some(id) if seen.insert(id.clone()) => {
                        wanted.push((department.clone(), Some(id)))
                    }
                    Some(_) => {}
                    None => wanted.push((department.clone(), None)),
                }
            }
        }
        let reads = wanted.iter().filter(|(_, id)| id.is_some()).count() as u64;
        let fetched: Vec<(String, Option<wire::User>)> = stream::iter(wanted)
            .map(|(department, id)| async move {
                let Some(id) = id else {
                    // Converted into the usual "empty user id" problem.
                    return Ok((department, Some(wire::User::default())));
                };
                match self
                    .client
                    .get::<wire::User>(USER_GET, &[("userid", id.as_str())])
                    .await
                {
                    Ok(user) => Ok((department, Some(user))),
                    Err(error) if skippable(&error).is_some() => Ok((department, None)),
                    Err(error) => Err(error),
                }
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        // The refused call, and one read per person the lists would have carried.
        paths.extra_calls += 1 + reads;
        Ok(fetched
            .into_iter()
            .filter_map(|(department, user)| user.map(|u| (department, vec![u])))
            .collect())
    }

    /// People of the visible range (added one by one or through a tag) who were not met in a
    /// department listing: they may sit in departments the app cannot see.
    async fn individuals(
        &self,
        scope: &Scope,
        seen: &BTreeSet<String>,
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<wire::User>, PullError> {
        let missing: Vec<String> = scope
            .users
            .iter()
            .map(|u| u.as_str())
            .filter(|id| !seen.contains(*id))
            .map(str::to_owned)
            .collect();
        let answers: Vec<(String, Result<wire::User, PullError>)> = stream::iter(missing)
            .map(|userid| async move {
                let user = self
                    .client
                    .get::<wire::User>(USER_GET, &[("userid", userid.as_str())])
                    .await;
                (userid, user)
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut users = Vec::new();
        for (userid, answer) in answers {
            match answer {
                Ok(user) => users.push(user),
                Err(PullError::Api {
                    code: USER_NOT_FOUND,
                    ..
                }) => {}
                Err(error) => match skippable(&error) {
                    Some(code) => problems.push(Problem::ScopeEntryUnreadable {
                        entry: format!("person {userid}"),
                        code,
                    }),
                    None => return Err(error),
                },
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

    #[instrument(level = "info", skip_all, fields(platform = "wecom"))]
    async fn pull_people(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        self.focused(keys).await
    }

    #[instrument(level = "info", skip(self), fields(platform = "wecom"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        let mut problems = Vec::new();
        let mut paths = ReadPaths::default();
        // The tree first: a refused or failing upstream shows at its first data call.
        let mut departments = self.department_tree(None, &mut paths).await?;
        let agent_id = self.agent_id.to_string();
        let agent: wire::Agent = self
            .client
            .get("/cgi-bin/agent/get", &[("agentid", agent_id.as_str())])
            .await?;
        let tags = self.tags(&agent, &mut problems).await?;
        let scope = convert::scope(&agent, &tags);
        // Range departments (directly or through a tag) the visible tree left out.
        let extra = self
            .departments_beyond(&departments, &scope, &mut paths, &mut problems)
            .await?;
        departments.extend(extra);

        let ids: Vec<String> = departments.iter().map(|d| d.id.clone()).collect();
        let members = self.all_members(ids, &mut paths).await?;
        let seen = members
            .iter()
            .flat_map(|(_, users)| users.iter().filter_map(|u| u.userid.clone()))
            .collect();
        let individuals = self.individuals(&scope, &seen, &mut problems).await?;
        problems.extend(paths.problem());
        let directory = convert::directory(departments, members, individuals, scope, problems);
        let stats = self.client.calls.take(started.elapsed());
        info!(
            users = directory.users.len(),
            departments = directory.departments.len(),
            tags = tags.len(),
            calls = stats.total_calls(),
            retries = stats.retries,
            "Pulled the WeCom directory."
        );
        Ok(Pulled { directory, stats })
    }
}
