//! The Feishu / Lark (飞书) puller, following `shared/upstream-apis/feishu.md`.
//!
//! Whole-tenant scope: `departments/0/children?fetch_child=true` lists every department, then
//! `users/find_by_department` lists the direct members of each and of the root, so a full pull
//! costs `1 + max(1, ⌈D/50⌉) + Σ_{d ∈ D ∪ {0}} max(1, ⌈m_d/50⌉)` calls — the notes' minimum.
//! A refused root (40004 / 41050 / 40014) means a partial scope: the granted departments and people
//! come from `scopes`, each granted department is read with `departments/:id` plus its children,
//! and granted people outside them with `users/batch` (50 a call). A focused pull
//! (`pull_people`, focused.rs) reads single people and departments instead.

mod client;
mod config;
mod convert;
mod focused;
#[doc(hidden)]
pub mod fuzz;
mod profile;
mod wire;

pub use config::{DepartmentIdType, FeishuSourceConfig, UserIdType, default_rate_limits};

use super::{Focused, Platform, PullError, PullStats, Pulled, Puller};
use crate::config::Secret;
use crate::model::Checked;
use crate::model::{DepartmentId, Problem, Scope, UserKey};
use client::FeishuClient;
use convert::{IdTypes, ROOT, Read};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{HashSet, VecDeque};
use std::time::Instant;
use tracing::{info, instrument, warn};

const SCOPES: &str = "/open-apis/contact/v3/scopes";
const CHILDREN: &str = "/open-apis/contact/v3/departments/:department_id/children";
const DEPARTMENT: &str = "/open-apis/contact/v3/departments/:department_id";
const FIND_BY_DEPARTMENT: &str = "/open-apis/contact/v3/users/find_by_department";
const USER: &str = "/open-apis/contact/v3/users/:user_id";
const USERS_BATCH: &str = "/open-apis/contact/v3/users/batch";

/// Feishu's cap for department and member pages (40011 above it), and for `users/batch`.
const PAGE_SIZE: &str = "50";
const BATCH: usize = 50;
/// `scopes` pages may be larger.
const SCOPE_PAGE_SIZE: &str = "100";
/// A department tree too large for `fetch_child`: walk it one level at a time instead.
const TOO_LARGE_TO_RECURSE: i64 = 43010;

pub struct FeishuPuller {
    client: FeishuClient,
    ids: IdTypes,
    concurrency: usize,
}

/// Where the crawl found departments and people, before their members are read.
struct Crawl {
    scope: Scope,
    departments: Vec<wire::Department>,
    /// Departments whose direct members are listed, `"0"` first for a whole-tenant scope.
    member_lists: Vec<String>,
    granted_users: Vec<String>,
}

/// Feishu's answers for an id outside the contact scope, or gone: "treat as not visible".
fn not_visible(error: &PullError) -> bool {
    matches!(
        error,
        PullError::Api {
            code: 40004 | 40014 | 41050 | 41012,
            ..
        }
    )
}

impl FeishuPuller {
    pub fn new(config: FeishuSourceConfig, secret: Secret) -> Result<Self, PullError> {
        let ids = IdTypes {
            user: config.user_id_type,
            department: config.department_id_type,
        };
        let concurrency = config.concurrency.max(1);
        Ok(FeishuPuller {
            client: FeishuClient::new(config, secret)?,
            ids,
            concurrency,
        })
    }

    /// Tries the root first: answered, it proves a whole-tenant scope and lists everything in
    /// ⌈D/50⌉ calls; refused, the scope is partial.
    async fn crawl(&self) -> Result<Crawl, PullError> {
        match self.subtree(ROOT).await {
            Ok(departments) => {
                let member_lists = std::iter::once(ROOT.to_owned())
                    .chain(self.ids_of(&departments))
                    .collect();
                Ok(Crawl {
                    scope: Scope {
                        departments: vec![DepartmentId::new(ROOT)],
                        users: Vec::new(),
                    },
                    departments,
                    member_lists,
                    granted_users: Vec::new(),
                })
            }
            Err(e) if not_visible(&e) => {
                info!(error = %e.for_log(), "The Feishu app's contact scope is partial; reading the granted departments and people.");
                self.partial_crawl().await
            }
            Err(e) => Err(e),
        }
    }

    async fn partial_crawl(&self) -> Result<Crawl, PullError> {
        let pages: Vec<wire::ScopePage> = self
            .client
            .pages(SCOPES, None, &[("page_size", SCOPE_PAGE_SIZE)])
            .await?;
        let mut granted_departments = Vec::new();
        let mut granted_users = Vec::new();
        for page in pages {
            for id in page.department_ids {
                if !granted_departments.contains(&id) {
                    granted_departments.push(id);
                }
            }
            for id in page.user_ids {
                if !granted_users.contains(&id) {
                    granted_users.push(id);
                }
            }
        }
        let mut departments = Vec::new();
        let mut known: HashSet<String> = HashSet::new();
        for id in &granted_departments {
            if known.contains(id) {
                continue; // inside a granted department read earlier
            }
            let dept = match self
                .client
                .get::<wire::DepartmentGet>(DEPARTMENT, Some(id), &[])
                .await
            {
                Ok(found) => found.department,
                Err(e) if not_visible(&e) => {
                    warn!(department = %id, error = %e.for_log(), "A granted Feishu department cannot be read; it is left out.");
                    continue;
                }
                Err(e) => return Err(e),
            };
            known.insert(id.clone());
            departments.push(dept);
            for child in self.subtree(id).await? {
                let new = child
                    .id(self.ids.department)
                    .is_some_and(|c| known.insert(c.to_owned()));
                if new {
                    departments.push(child);
                }
            }
        }
        let member_lists = self.ids_of(&departments).collect();
        Ok(Crawl {
            scope: Scope {
                departments: granted_departments
                    .iter()
                    .map(|d| DepartmentId::new(d.as_str()))
                    .collect(),
                users: granted_users
                    .iter()
                    .map(|u| UserKey::new(u.as_str()))
                    .collect(),
            },
            departments,
            member_lists,
            granted_users,
        })
    }

    /// Ids of the departments whose members are read (deleted ones are skipped).
    fn ids_of<'a>(&self, departments: &'a [wire::Department]) -> impl Iterator<Item = String> + 'a {
        let kind = self.ids.department;
        departments
            .iter()
            .filter(|d| !d.is_deleted())
            .filter_map(move |d| d.id(kind).map(str::to_owned))
    }

    /// Every department below `id`, `id` itself excluded.
    async fn subtree(&self, id: &str) -> Result<Vec<wire::Department>, PullError> {
        match self.children(id, true).await {
            Err(PullError::Api {
                code: TOO_LARGE_TO_RECURSE,
                ..
            }) => {
                warn!(department = %id, "Feishu refused to list this department tree at once; walking it level by level.");
                self.walk_levels(id).await
            }
            other => other,
        }
    }

    async fn walk_levels(&self, top: &str) -> Result<Vec<wire::Department>, PullError> {
        let mut out = Vec::new();
        let mut seen: HashSet<String> = HashSet::from([top.to_owned()]);
        let mut queue = VecDeque::from([top.to_owned()]);
        while let Some(parent) = queue.pop_front() {
            for dept in self.children(&parent, false).await? {
                // The seen set also stops a parent cycle in broken upstream data.
                if let Some(id) = dept.id(self.ids.department)
                    && seen.insert(id.to_owned())
                {
                    queue.push_back(id.to_owned());
                    out.push(dept);
                }
            }
        }
        Ok(out)
    }

    async fn children(
        &self,
        id: &str,
        fetch_child: bool,
    ) -> Result<Vec<wire::Department>, PullError> {
        let fetch_child = if fetch_child { "true" } else { "false" };
        let pages: Vec<wire::Items<wire::Department>> = self
            .client
            .pages(
                CHILDREN,
                Some(id),
                &[("fetch_child", fetch_child), ("page_size", PAGE_SIZE)],
            )
            .await?;
        Ok(pages.into_iter().flat_map(|p| p.items).collect())
    }

    async fn members(&self, department: String) -> Result<(String, Vec<wire::User>), PullError> {
        let pages: Vec<wire::Items<wire::User>> = self
            .client
            .pages(
                FIND_BY_DEPARTMENT,
                None,
                &[
                    ("department_id", department.as_str()),
                    ("page_size", PAGE_SIZE),
                ],
            )
            .await?;
        let people: Vec<wire::User> = pages.into_iter().flat_map(|p| p.items).collect();
        self.client.calls.progress().people(people.len());
        Ok((department, people))
    }

    /// People granted one by one whom no department listing returned, 50 per `users/batch`. A
    /// batch refused because one id is out of scope or gone is retried person by person.
    async fn individuals(&self, missing: &[String]) -> Result<Vec<wire::User>, PullError> {
        let mut users = Vec::new();
        for chunk in missing.chunks(BATCH) {
            let query: Vec<(&str, &str)> =
                chunk.iter().map(|id| ("user_ids", id.as_str())).collect();
            match self
                .client
                .get::<wire::Items<wire::User>>(USERS_BATCH, None, &query)
                .await
            {
                Ok(found) => users.extend(found.items),
                Err(e) if not_visible(&e) => {
                    for id in chunk {
                        match self.client.get::<wire::UserGet>(USER, Some(id), &[]).await {
                            Ok(found) => users.push(found.user),
                            Err(e) if not_visible(&e) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(users)
    }
}

impl Puller for FeishuPuller {
    fn platform(&self) -> Platform {
        Platform::Feishu
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

    #[instrument(level = "info", skip_all, fields(platform = "feishu"))]
    async fn pull_people(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        self.focused(keys).await
    }

    #[instrument(level = "info", skip(self), fields(platform = "feishu"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        // Counts left by a pull that failed half-way belong to no report.
        let _ = self.client.calls.take(std::time::Duration::ZERO);
        let crawl = self.crawl().await?;
        // Ordered buffering keeps the result independent of response timing.
        let members: Vec<(String, Vec<wire::User>)> = stream::iter(crawl.member_lists)
            .map(|id| self.members(id))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let seen: HashSet<&str> = members
            .iter()
            .flat_map(|(_, users)| users.iter().filter_map(|u| u.key(self.ids.user)))
            .collect();
        let missing: Vec<String> = crawl
            .granted_users
            .iter()
            .filter(|id| !seen.contains(id.as_str()))
            .cloned()
            .collect();
        let individuals = self.individuals(&missing).await?;
        let directory = convert::directory(
            Read {
                scope: crawl.scope,
                departments: crawl.departments,
                members,
                individuals,
            },
            self.ids,
        );
        // Without the field permission for the chosen id, Feishu sends records without it rather
        // than an error; syncing nobody would deactivate everyone, so stop here instead.
        let unkeyed = directory
            .problems
            .iter()
            .any(|p| matches!(p, Problem::EmptyUserId { .. }));
        if unkeyed && directory.users.is_empty() && directory.held.is_empty() {
            return Err(PullError::Malformed {
                platform: Platform::Feishu,
                endpoint: FIND_BY_DEPARTMENT.to_owned(),
                detail: format!(
                    "no person came with a `{}`; grant the app contact:user.employee_id:readonly \
                     or set user_id_type = \"open_id\"",
                    self.ids.user.as_str()
                ),
            });
        }
        let stats = self.client.calls.take(started.elapsed());
        info!(
            users = directory.users.len(),
            departments = directory.departments.len(),
            held = directory.held.len(),
            calls = stats.total_calls(),
            retries = stats.retries,
            "Pulled the Feishu directory."
        );
        Ok(Pulled { directory, stats })
    }
}
