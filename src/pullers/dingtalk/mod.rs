//! The DingTalk (钉钉) puller. See `shared/upstream-apis/dingtalk.md`.
//!
//! A pull reads the app's scope (`auth/scopes`), walks the department tree breadth-first from the
//! authorized departments with `department/listsub` (which omits the department asked about, so
//! the tops are read with `department/get`), lists each department's members with the cursor-paged
//! `user/list`, and reads managers and main departments — which list items lack — from the HR
//! roster, 100 people a call, when `agent_id` is set and the app holds the roster permission, else
//! with one `user/get` per person; people authorized individually are always read with `user/get`.
//! The three APIs have separate rate limits, so their calls run side by side.
//!
//! Calls for D departments in scope, T authorized top departments (1 with the full scope), m_d
//! direct members of department d, P listed people whose items lack `manager_userid` and I
//! individually authorized people listed in no visible department:
//! `1 (gettoken) + 1 (auth/scopes) + T + D + Σ_d max(1, ceil(m_d / 100)) + I` plus
//! `ceil(P / 100)` roster calls (and a `user/get` for anyone the roster does not answer for), or
//! `P` `user/get` calls without the roster.
//!
//! A focused pull (`pull_people`, focused.rs) reads the people asked for and their managers with
//! `user/get`, and only the departments above them.

mod client;
mod config;
mod convert;
mod focused;
#[doc(hidden)]
pub mod fuzz;
mod profile;
mod wire;

pub use config::{DingtalkSourceConfig, RosterMode, default_rate_limits};

use super::{Focused, Platform, PullError, PullStats, Pulled, Puller};
use crate::config::Secret;
use crate::model::{Checked, Problem, RosterFallback, UserKey};
use client::{DingtalkClient, Method};
use futures_util::stream::FuturesUnordered;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;
use tracing::{info, instrument, warn};
use wire::Record;

const AUTH_SCOPES: &str = "/auth/scopes";
const DEPARTMENT_LISTSUB: &str = "/topapi/v2/department/listsub";
const DEPARTMENT_GET: &str = "/topapi/v2/department/get";
const USER_LIST: &str = "/topapi/v2/user/list";
const USER_GET: &str = "/topapi/v2/user/get";
/// The HR roster (智能人事花名册): managers and main departments, 100 people a call.
pub const ROSTER: &str = "/topapi/smartwork/hrm/employee/v2/list";
/// The most userids one roster call takes.
const ROSTER_BATCH: usize = 100;

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
    /// The agentid to ask the roster with; `None` when it is not to be asked (`roster_mode`).
    roster: Option<u64>,
    /// The roster field codes asked for, comma-separated: orgsync's own and `roster_fields`.
    roster_fields: String,
}

/// Where this run reads managers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Managers {
    /// One `user/get` per person: `roster = "never"`, no `agent_id`, or after a fallback.
    PerPerson,
    /// The roster's first call is out; whether it is granted is not known yet.
    Probing,
    /// The roster answers.
    Roster,
}

/// Why a roster answer means "use `user/get` for the rest of the run", if it does: the
/// permission is missing (88 + sub_code 60011, or a permission sub_code DingTalk spells out in
/// words), or the monthly quota is spent (90020, `ApiCountLimitForOrg`).
fn roster_refusal(error: &PullError) -> Option<RosterFallback> {
    let PullError::Api { code, message, .. } = error else {
        return None;
    };
    let words = message.to_ascii_lowercase();
    match code {
        60011 => Some(RosterFallback::NotGranted),
        90020 => Some(RosterFallback::QuotaExhausted),
        88 if words.contains("apicountlimit") => Some(RosterFallback::QuotaExhausted),
        88 if words.contains("permission") => Some(RosterFallback::NotGranted),
        _ => None,
    }
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
        let roster = match config.roster_mode() {
            RosterMode::Auto => config.agent_id,
            RosterMode::Never => None,
        };
        let roster_fields = [
            wire::ROSTER_MANAGER,
            wire::ROSTER_MAIN_DEPT,
            wire::ROSTER_SEX,
            wire::ROSTER_EMPLOYEE_TYPE,
            wire::ROSTER_JOIN_DATE,
        ]
        .into_iter()
        .chain(config.roster_fields.iter().map(|c| c.trim()))
        .collect::<Vec<_>>()
        .join(",");
        Ok(DingtalkPuller {
            roster_fields,
            client: DingtalkClient::new(config, secret)?,
            concurrency,
            roster,
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

    /// One department: a granted top (out of scope is then an error), or one met while climbing
    /// from a person (`granted` false: out of scope means above the scope).
    async fn department(
        &self,
        dept_id: i64,
        granted: bool,
    ) -> Result<Option<wire::Department>, PullError> {
        let body = json!({ "dept_id": dept_id, "language": "zh_CN" });
        match self
            .client
            .call::<wire::Answer<wire::Department>>(DEPARTMENT_GET, Method::Post(&body))
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

    /// Everything but the scope, each API's work running side by side so each uses its own
    /// rate limit: the department walk (`listsub`, breadth-first from the authorized
    /// departments; ids met before are never walked again, so an upstream cycle cannot loop)
    /// feeds the member lists (`user/list`) as departments are found, and the lists feed the
    /// roster (100 people a call) or `user/get` (one person a call) as they arrive. The result
    /// does not depend on timing: members are ordered by department id at the end.
    async fn gather(&self, scope: wire::OrgScopes) -> Result<convert::Raw, PullError> {
        let tops = &scope.authed_dept;
        let mut seen: HashSet<i64> = HashSet::new();
        let mut walk_queue: VecDeque<i64> =
            tops.iter().copied().filter(|&id| seen.insert(id)).collect();
        let mut list_queue: VecDeque<i64> = VecDeque::new();
        let mut get_queue: VecDeque<String> = VecDeque::new();
        let mut roster_queue: VecDeque<String> = VecDeque::new();
        let mut walks = FuturesUnordered::new();
        let mut lists = FuturesUnordered::new();
        let mut gets = FuturesUnordered::new();
        let mut rosters = FuturesUnordered::new();
        let mut to_read = ToRead::default();
        let mut managers = match self.roster {
            Some(_) => Managers::Probing,
            None => Managers::PerPerson,
        };
        let mut raw = convert::Raw::default();
        let mut listed: HashSet<i64> = HashSet::new();
        let mut walked = Vec::new();
        let mut granted_queued = false;
        loop {
            while walks.len() < self.concurrency
                && let Some(id) = walk_queue.pop_front()
            {
                walks.push(async move { (id, self.children(id, tops.contains(&id)).await) });
            }
            while lists.len() < self.concurrency
                && let Some(id) = list_queue.pop_front()
            {
                lists.push(self.members(id, tops.contains(&id)));
            }
            let lists_done = walk_queue.is_empty()
                && walks.is_empty()
                && list_queue.is_empty()
                && lists.is_empty();
            if lists_done && !granted_queued {
                granted_queued = true;
                get_queue.extend(to_read.granted(&scope.authed_user));
            }
            // The first roster call finds out whether the permission is there; the others wait.
            let roster_open = match managers {
                Managers::Roster => rosters.len() < self.concurrency,
                Managers::Probing => rosters.is_empty(),
                Managers::PerPerson => false,
            };
            if roster_open
                && (roster_queue.len() >= ROSTER_BATCH || (lists_done && !roster_queue.is_empty()))
            {
                let take = roster_queue.len().min(ROSTER_BATCH);
                let batch: Vec<String> = roster_queue.drain(..take).collect();
                rosters.push(self.roster(batch));
            }
            while gets.len() < self.concurrency
                && let Some(userid) = get_queue.pop_front()
            {
                gets.push(self.user(userid));
            }
            if walks.is_empty() && lists.is_empty() && gets.is_empty() && rosters.is_empty() {
                // Nothing in flight: everything queued was sent above, so all is read.
                break;
            }
            tokio::select! {
                Some((id, children)) = walks.next(), if !walks.is_empty() => {
                    let Some(children) = children? else { continue };
                    walked.push(id);
                    list_queue.push_back(id);
                    for child in children {
                        if seen.insert(child.dept_id) {
                            walk_queue.push_back(child.dept_id);
                        }
                        // A top granted beside its own ancestor is met here too: no need to get it.
                        if listed.insert(child.dept_id) {
                            raw.departments.push(child);
                        }
                    }
                }
                Some(list) = lists.next(), if !lists.is_empty() => {
                    let (id, records) = list?;
                    let ids = to_read.listed(&records);
                    match managers {
                        Managers::PerPerson => get_queue.extend(ids),
                        // A userid holding a comma cannot travel in `userid_list`.
                        Managers::Probing | Managers::Roster => {
                            let (odd, plain): (Vec<String>, Vec<String>) =
                                ids.into_iter().partition(|id| id.contains(','));
                            get_queue.extend(odd);
                            roster_queue.extend(plain);
                        }
                    }
                    raw.members.push((id, records));
                }
                Some(read) = gets.next(), if !gets.is_empty() => {
                    let (userid, record) = read?;
                    raw.details.insert(userid, record);
                }
                Some((batch, answer)) = rosters.next(), if !rosters.is_empty() => {
                    match answer {
                        Ok(entries) => {
                            if managers == Managers::Probing {
                                managers = Managers::Roster;
                            }
                            for userid in batch {
                                match entries.get(&userid) {
                                    Some(entry) => {
                                        raw.roster.insert(userid, entry.clone());
                                    }
                                    // Not answered for: read one by one.
                                    None => get_queue.push_back(userid),
                                }
                            }
                        }
                        Err(e) => {
                            let reason = roster_refusal(&e).ok_or(e)?;
                            if managers != Managers::PerPerson {
                                warn!(reason = reason.as_str(), "DingTalk's HR roster cannot be used; reading managers with one user/get per person for the rest of the run.");
                                raw.problems.push(Problem::RosterFallback { reason });
                                managers = Managers::PerPerson;
                            }
                            get_queue.extend(batch);
                            get_queue.extend(roster_queue.drain(..));
                        }
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
            .map(|id| self.department(id, true))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        raw.departments.extend(tops.into_iter().flatten());
        raw.members.sort_by_key(|(id, _)| *id);
        drop((walks, lists, gets, rosters));
        raw.scope = Some(scope);
        Ok(raw)
    }

    /// Managers and main departments of up to 100 listed people, from the HR roster, by userid.
    /// The batch comes back with the answer, so a refusal can send it to `user/get`.
    async fn roster(
        &self,
        batch: Vec<String>,
    ) -> (
        Vec<String>,
        Result<HashMap<String, wire::RosterEntry>, PullError>,
    ) {
        let body = json!({
            "userid_list": batch.join(","),
            "field_filter_list": self.roster_fields,
            "agentid": self.roster.unwrap_or_default(),
        });
        let answer = self
            .client
            .call::<wire::RosterAnswer>(ROSTER, Method::Post(&body))
            .await
            .map(|answer| {
                let mut entries = HashMap::new();
                for item in answer.result.as_array().into_iter().flatten() {
                    // A person answered twice keeps the first answer.
                    if let Some((userid, entry)) = wire::RosterEntry::parse(item) {
                        entries.entry(userid).or_insert(entry);
                    }
                }
                entries
            });
        (batch, answer)
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

    fn metered_endpoints(&self) -> &'static [&'static str] {
        &[ROSTER]
    }

    fn drain_stats(&self) -> Option<PullStats> {
        Some(self.client.calls.take(std::time::Duration::ZERO))
    }

    fn progress(&self) -> Option<std::sync::Arc<crate::pullers::http::PullProgress>> {
        Some(self.client.calls.progress().clone())
    }

    #[instrument(level = "info", skip_all, fields(platform = "dingtalk"))]
    async fn pull_people(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        self.focused(keys).await
    }

    #[instrument(level = "info", skip(self), fields(platform = "dingtalk"))]
    async fn pull(&self) -> Result<Pulled, PullError> {
        let started = Instant::now();
        // Counts left by a pull that failed half-way belong to no report.
        let _ = self.client.calls.take(std::time::Duration::ZERO);
        let scopes: wire::Scopes = self.client.call(AUTH_SCOPES, Method::Get).await?;
        // With a partial scope the root answers 50004: start from what was granted.
        let raw = self.gather(scopes.auth_org_scopes).await?;
        let directory = convert::directory(raw);
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
