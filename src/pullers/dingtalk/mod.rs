//! The DingTalk (钉钉) puller. See `shared/upstream-apis/dingtalk.md`.
//!
//! A pull reads the app's scope (`auth/scopes`), walks the department tree breadth-first from the
//! authorized departments with `department/listsub` (which omits the department asked about, so
//! the tops are read with `department/get`), lists each department's members with the cursor-paged
//! `user/list`, and reads people one by one with `user/get` when their list item lacks
//! `manager_userid` (documented on `user/get` only) or when they are authorized individually.
//!
//! Calls for D departments in scope, T authorized top departments (1 with the full scope), m_d
//! direct members of department d, P people whose list items lack `manager_userid` and I
//! individually authorized people listed in no visible department:
//! `1 (gettoken) + 1 (auth/scopes) + T + D + Σ_d max(1, ceil(m_d / 100)) + P + I`.

mod client;
mod config;
mod convert;
#[doc(hidden)]
pub mod fuzz;
mod wire;

pub use config::{DingtalkSourceConfig, default_rate_limits};

use super::{Platform, PullError, PullStats, Pulled, Puller};
use crate::config::Secret;
use crate::model::Checked;
use client::{DingtalkClient, Method};
use futures_util::stream::FuturesUnordered;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;
use tracing::{info, instrument, warn};
use wire::Record;

const AUTH_SCOPES: &str = "/auth/scopes";
const DEPARTMENT_LISTSUB: &str = "/topapi/v2/department/listsub";
const DEPARTMENT_GET: &str = "/topapi/v2/department/get";
const USER_LIST: &str = "/topapi/v2/user/list";
const USER_GET: &str = "/topapi/v2/user/get";

/// `user/list` refuses bigger pages.
const PAGE_SIZE: i64 = 100;
/// Empty pages in a row that still say `has_more` before the listing is declared broken. A few
/// are plausible (access-restricted people filtered after paging); an endless run is a loop.
const MAX_EMPTY_PAGES: u32 = 10;

/// Not visible: outside the authorized scope (50002 user, 50004 department).
const USER_OUT_OF_SCOPE: i64 = 50002;
const DEPARTMENT_OUT_OF_SCOPE: i64 = 50004;
/// Gone: 60121 / 33012 no such user, 60003 / 40009 no such department.
const USER_GONE: [i64; 2] = [60121, 33012];
const DEPARTMENT_GONE: [i64; 2] = [60003, 40009];

pub struct DingtalkPuller {
    client: DingtalkClient,
    concurrency: usize,
}

/// Whether an error says a department cannot be read any more, which the notes say to treat as
/// not visible rather than fail: deleted, or (met during the walk) out of scope. A granted top
/// department out of scope contradicts `auth/scopes`; skipping it would pass off a shrunken pull
/// as complete, so that stays an error.
fn department_unreadable(error: &PullError, granted: bool) -> bool {
    matches!(error, PullError::Api { code, .. }
        if DEPARTMENT_GONE.contains(code) || (!granted && *code == DEPARTMENT_OUT_OF_SCOPE))
}

fn user_unreadable(error: &PullError) -> bool {
    matches!(error, PullError::Api { code, .. }
        if *code == USER_OUT_OF_SCOPE || USER_GONE.contains(code))
}

fn paging(detail: String) -> PullError {
    PullError::Paging {
        platform: Platform::Dingtalk,
        endpoint: USER_LIST.into(),
        detail,
    }
}

impl DingtalkPuller {
    pub fn new(config: DingtalkSourceConfig, secret: Secret) -> Result<Self, PullError> {
        let concurrency = config.concurrency.max(1);
        Ok(DingtalkPuller {
            client: DingtalkClient::new(config, secret)?,
            concurrency,
        })
    }

    /// Direct children of one department; `None` when it cannot be read any more.
    async fn children(
        &self,
        dept_id: i64,
        granted: bool,
    ) -> Result<Option<Vec<wire::Department>>, PullError> {
        let body = json!({ "dept_id": dept_id, "language": "zh_CN" });
        match self
            .client
            .call::<wire::Answer<Vec<wire::Department>>>(DEPARTMENT_LISTSUB, Method::Post(&body))
            .await
        {
            Ok(answer) => Ok(Some(answer.result)),
            Err(e) if department_unreadable(&e, granted) => {
                warn!(dept_id, error = %e.for_log(), "A DingTalk department cannot be read; leaving it out.");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Breadth-first from the authorized departments. Returns every department read (the tops
    /// last) and the ids whose children were listed. Ids already met are never walked again, so
    /// an upstream cycle cannot loop.
    async fn departments(
        &self,
        tops: &[i64],
    ) -> Result<(Vec<wire::Department>, Vec<i64>), PullError> {
        let mut seen: HashSet<i64> = HashSet::new();
        let mut level: Vec<i64> = tops.iter().copied().filter(|&id| seen.insert(id)).collect();
        let mut departments = Vec::new();
        let mut listed: HashSet<i64> = HashSet::new();
        let mut walked = Vec::new();
        while !level.is_empty() {
            let answers: Vec<(i64, Option<Vec<wire::Department>>)> = stream::iter(level)
                .map(|id| async move {
                    let children = self.children(id, tops.contains(&id)).await?;
                    Ok::<_, PullError>((id, children))
                })
                .buffered(self.concurrency)
                .try_collect()
                .await?;
            level = Vec::new();
            for (id, children) in answers {
                let Some(children) = children else { continue };
                walked.push(id);
                for child in children {
                    if seen.insert(child.dept_id) {
                        level.push(child.dept_id);
                    }
                    // A top granted beside its own ancestor is met here too: no need to get it.
                    if listed.insert(child.dept_id) {
                        departments.push(child);
                    }
                }
            }
        }
        // listsub never returns the department asked about: read the tops themselves.
        let missing: Vec<i64> = walked
            .iter()
            .copied()
            .filter(|id| tops.contains(id) && !listed.contains(id))
            .collect();
        let tops: Vec<Option<wire::Department>> = stream::iter(missing)
            .map(|id| self.department(id))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        departments.extend(tops.into_iter().flatten());
        Ok((departments, walked))
    }

    /// A granted top department itself (only ever called for those).
    async fn department(&self, dept_id: i64) -> Result<Option<wire::Department>, PullError> {
        let body = json!({ "dept_id": dept_id, "language": "zh_CN" });
        match self
            .client
            .call::<wire::Answer<wire::Department>>(DEPARTMENT_GET, Method::Post(&body))
            .await
        {
            Ok(answer) => Ok(Some(answer.result)),
            Err(e) if department_unreadable(&e, true) => {
                warn!(dept_id, error = %e.for_log(), "A DingTalk department cannot be read; leaving it out.");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// All direct members of one department, page by page. A cursor that does not move forward,
    /// or `has_more` without a cursor, is an error: never a loop, never a silently short list.
    async fn members(&self, dept_id: i64, granted: bool) -> Result<(i64, Vec<Record>), PullError> {
        let mut cursor: i64 = 0;
        let mut records = Vec::new();
        let mut empty_pages = 0;
        loop {
            // `contain_access_limit`: access-restricted employees are still employees; leaving
            // them out would deactivate them in the target.
            let body = json!({
                "dept_id": dept_id, "cursor": cursor, "size": PAGE_SIZE,
                "order_field": "custom", "contain_access_limit": true, "language": "zh_CN",
            });
            let page = match self
                .client
                .call::<wire::Answer<wire::Page>>(USER_LIST, Method::Post(&body))
                .await
            {
                Ok(answer) => answer.result,
                Err(e) if department_unreadable(&e, granted) => {
                    warn!(dept_id, error = %e.for_log(), "A DingTalk department's members cannot be read; leaving them out.");
                    return Ok((dept_id, Vec::new()));
                }
                Err(e) => return Err(e),
            };
            empty_pages = if page.list.is_empty() {
                empty_pages + 1
            } else {
                0
            };
            self.client.calls.progress().people(page.list.len());
            records.extend(page.list.into_iter().map(Record::parse));
            // `has_more` is documented; without it, a cursor is taken to mean more.
            if !page.has_more.unwrap_or(page.next_cursor.is_some()) {
                return Ok((dept_id, records));
            }
            let Some(next) = page.next_cursor else {
                return Err(paging(format!(
                    "department {dept_id}: `has_more` is true but field `next_cursor` is missing"
                )));
            };
            if next <= cursor {
                return Err(paging(format!(
                    "department {dept_id}: `next_cursor` {next} does not advance past cursor {cursor}"
                )));
            }
            if empty_pages >= MAX_EMPTY_PAGES {
                return Err(paging(format!(
                    "department {dept_id}: {empty_pages} empty pages in a row still say `has_more`"
                )));
            }
            cursor = next;
        }
    }

    /// Member lists, and the people to read one by one, read as each list arrives: user/list and
    /// user/get have separate rate limits, so the reads run while the lists are still coming in.
    /// `members` keeps the walk's order, so the result does not depend on timing.
    async fn members_and_details(
        &self,
        walked: Vec<i64>,
        scope: &wire::OrgScopes,
    ) -> Result<(Vec<(i64, Vec<Record>)>, BTreeMap<String, Option<Record>>), PullError> {
        let mut lists = stream::iter(walked)
            .map(|id| self.members(id, scope.authed_dept.contains(&id)))
            .buffered(self.concurrency);
        let mut reads = FuturesUnordered::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut to_read = ToRead::default();
        let mut members = Vec::new();
        let mut details = BTreeMap::new();
        let mut lists_done = false;
        loop {
            while reads.len() < self.concurrency {
                let Some(userid) = queue.pop_front() else {
                    break;
                };
                reads.push(self.user(userid));
            }
            // The queue is empty whenever no read is in flight.
            if lists_done && reads.is_empty() {
                return Ok((members, details));
            }
            tokio::select! {
                list = lists.next(), if !lists_done => match list {
                    Some(list) => {
                        let (id, records) = list?;
                        queue.extend(to_read.listed(&records));
                        members.push((id, records));
                    }
                    None => {
                        lists_done = true;
                        queue.extend(to_read.granted(&scope.authed_user));
                    }
                },
                Some(read) = reads.next(), if !reads.is_empty() => {
                    let (userid, record) = read?;
                    details.insert(userid, record);
                }
            }
        }
    }

    /// One person read by id; `None` when they are gone or out of scope.
    async fn user(&self, userid: String) -> Result<(String, Option<Record>), PullError> {
        let body = json!({ "userid": userid, "language": "zh_CN" });
        match self
            .client
            .call::<wire::Answer<serde_json::Value>>(USER_GET, Method::Post(&body))
            .await
        {
            Ok(answer) => Ok((userid, Some(Record::parse(answer.result)))),
            Err(e) if user_unreadable(&e) => {
                info!(user = %userid, error = %e.for_log(), "A DingTalk user cannot be read; leaving them out.");
                Ok((userid, None))
            }
            Err(e) => Err(e),
        }
    }
}

/// People to read one by one, found as the member lists arrive: listed people whose items lack
/// `manager_userid`, then individually authorized people no listing showed — each once.
#[derive(Default)]
struct ToRead {
    listed: HashSet<String>,
    queued: HashSet<String>,
}

impl ToRead {
    /// The people of one member list still to read.
    fn listed(&mut self, records: &[Record]) -> Vec<String> {
        let mut ids = Vec::new();
        for record in records {
            let Some(userid) = record.userid() else {
                continue;
            };
            let lacks_manager = matches!(record, Record::Read(u) if u.manager_userid.is_none());
            if self.listed.insert(userid.to_owned()) && lacks_manager {
                self.queued.insert(userid.to_owned());
                ids.push(userid.to_owned());
            }
        }
        ids
    }

    /// The individually authorized people no list showed; asked once every list is in.
    fn granted(&mut self, authed_users: &[String]) -> Vec<String> {
        authed_users
            .iter()
            .filter(|id| !id.trim().is_empty() && !self.listed.contains(*id))
            .filter(|id| self.queued.insert((*id).clone()))
            .cloned()
            .collect()
    }
}

impl Puller for DingtalkPuller {
    fn platform(&self) -> Platform {
        Platform::Dingtalk
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

    #[instrument(level = "info", skip(self), fields(platform = "dingtalk"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        // Counts left by a pull that failed half-way belong to no report.
        let _ = self.client.calls.take(std::time::Duration::ZERO);
        let scopes: wire::Scopes = self.client.call(AUTH_SCOPES, Method::Get).await?;
        let scope = scopes.auth_org_scopes;
        // With a partial scope the root answers 50004: start from what was granted.
        let (departments, walked) = self.departments(&scope.authed_dept).await?;
        let (members, details) = self.members_and_details(walked, &scope).await?;
        let directory = convert::directory(convert::Raw {
            scope: Some(scope),
            departments,
            members,
            details,
        });
        let stats = self.client.calls.take(started.elapsed());
        let retries = stats.retries;
        info!(
            users = directory.users.len(),
            departments = directory.departments.len(),
            held = directory.held.len(),
            calls = stats.total_calls(),
            retries,
            "Pulled the DingTalk directory."
        );
        Ok(Pulled { directory, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> PullError {
        PullError::Api {
            platform: Platform::Dingtalk,
            endpoint: DEPARTMENT_LISTSUB.into(),
            code,
            message: String::new(),
            retryable: false,
        }
    }

    #[test]
    fn only_departments_met_on_the_walk_may_be_out_of_scope() {
        assert!(department_unreadable(&api(50004), false));
        assert!(!department_unreadable(&api(50004), true), "granted");
        assert!(department_unreadable(&api(60003), true), "deleted");
        assert!(department_unreadable(&api(40009), false));
        assert!(!department_unreadable(&api(-1), false));
        assert!(user_unreadable(&api(60121)) && user_unreadable(&api(50002)));
        assert!(!user_unreadable(&api(90018)));
    }

    #[test]
    fn people_are_read_once_when_their_items_lack_a_manager_or_they_are_granted_alone() {
        let item = |json: serde_json::Value| Record::parse(json);
        let members = [
            (
                2,
                vec![
                    item(serde_json::json!({"userid": "a"})),
                    item(serde_json::json!({"userid": "b", "manager_userid": "a"})),
                    item(serde_json::json!({"userid": "c", "manager_userid": null})),
                    item(serde_json::json!({"userid": "d", "dept_id_list": {}})),
                ],
            ),
            (3, vec![item(serde_json::json!({"userid": "a"}))]),
        ];
        let granted = ["b".to_owned(), "solo".to_owned(), " ".to_owned()];
        let mut to_read = ToRead::default();
        let mut ids: Vec<String> = members
            .iter()
            .flat_map(|(_, r)| to_read.listed(r))
            .collect();
        ids.extend(to_read.granted(&granted));
        assert_eq!(ids, ["a", "solo"]);
    }
}
