//! The emulator's shared state: the org with its lookup indexes (every id scheme), tokens, faults,
//! rate limits and call counters.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::http::{HeaderMap, StatusCode, header};

use super::convert::View;
use super::delivery::{Deliveries, Outgoing};
use super::ids::{self, DepartmentIdType, FIXTURE_ROOT, IdTypes, ROOT, UserIdType};
use super::wire::ApiError;
use super::{FeishuConfig, PagingDefect};
use crate::faults::{CallLog, FaultInjector, TokenBook, TokenStatus};
use crate::fixture::{Department, Org, User, Visibility};
use crate::rate_limit::{Enforcer, Rule, per_endpoint_windows};

pub(super) struct Shared {
    pub config: FeishuConfig,
    /// Swapped whole on update, so a request works on one consistent org without holding the lock.
    directory: RwLock<Arc<Directory>>,
    pub calls: CallLog,
    pub faults: FaultInjector,
    pub tokens: TokenBook,
    pub limits: Enforcer,
    paging_defect: Mutex<Option<PagingDefect>>,
    log_ids: AtomicU64,
    /// The event subscription's sender, when `FeishuConfig::events` is set.
    pub events: Option<Deliveries>,
}

/// The documented tier of the contact reads: 1 000 requests/min and 50 requests/s, per API.
fn contact_read_limits() -> Vec<Rule> {
    per_endpoint_windows(&[(1000, 60), (50, 1)])
}

impl Shared {
    pub fn new(org: Org, config: FeishuConfig) -> Self {
        let limits = if config.enforce_rate_limits {
            Enforcer::new(contact_read_limits(), config.rate_limit_speedup)
        } else {
            Enforcer::unlimited()
        };
        let events = config
            .events
            .clone()
            .map(|push| Deliveries::start(push, &config.app_id));
        Shared {
            events,
            directory: RwLock::new(Arc::new(Directory::new(org, &config.app_id))),
            config,
            calls: CallLog::new(),
            faults: FaultInjector::default(),
            tokens: TokenBook::new("t-"),
            limits,
            paging_defect: Mutex::new(None),
            log_ids: AtomicU64::new(0),
        }
    }

    pub fn directory(&self) -> Arc<Directory> {
        // Poisoning cannot leave a half-written Arc behind, so the value is still good.
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Swaps in the changed org, then queues the events the app is told of (if subscribed).
    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        let old = self.directory();
        let mut org = old.org.clone();
        change(&mut org);
        let directory = Arc::new(Directory::new(org, &self.config.app_id));
        *self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner) = directory.clone();
        if let Some(events) = &self.events {
            self.announce(events, &old, &directory);
        }
    }

    fn announce(&self, events: &Deliveries, old: &Directory, new: &Directory) {
        let changes = crate::changes::between(&old.org, &new.org);
        let view = View {
            ids: IdTypes {
                user: UserIdType::OpenId,
                department: DepartmentIdType::OpenDepartmentId,
            },
            redact: self.config.redact_out_of_scope_leader,
            user_ids: self.config.user_id_permission,
            custom_attrs: self.config.custom_attrs_open,
        };
        let now = super::events::now_millis();
        for (event_type, event) in super::events::events_of(&changes, old, new, view) {
            let crafter = &events.crafter;
            let event_id = crafter.event_id();
            let payload = crafter.envelope(&event_id, event_type, now, event);
            let request = crafter.request(&payload, now / 1000);
            events.enqueue(Outgoing {
                event_id,
                event_type: event_type.to_owned(),
                payload,
                request,
            });
        }
    }

    pub fn paging_defect(&self) -> Option<PagingDefect> {
        *self
            .paging_defect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_paging_defect(&self, defect: Option<PagingDefect>) {
        *self
            .paging_defect
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = defect;
    }

    /// A fresh `x-tt-logid`, as Feishu stamps on every answer.
    pub fn next_log_id(&self) -> String {
        let n = self.log_ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("20240601000000{n:012}")
    }

    /// Checks the `Authorization: Bearer t-…` of a data call and charges the call to the token.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MISSING_TOKEN)?;
        if !token.starts_with("t-") && !token.starts_with("u-") {
            return Err(ApiError::BAD_TOKEN_FORMAT);
        }
        match self.tokens.check_and_use(token, self.faults.token_budget()) {
            TokenStatus::Valid => Ok(()),
            TokenStatus::Unknown => Err(ApiError::INVALID_TOKEN),
            TokenStatus::Expired => {
                Err(ApiError::INVALID_TOKEN.with_status(StatusCode::BAD_REQUEST))
            }
            // The notes give 400 or 401 for this code; alternate so clients must handle both.
            TokenStatus::CallBudgetExhausted { occurrence } if occurrence % 2 == 1 => {
                Err(ApiError::INVALID_TOKEN)
            }
            TokenStatus::CallBudgetExhausted { .. } => {
                Err(ApiError::INVALID_TOKEN.with_status(StatusCode::BAD_REQUEST))
            }
        }
    }
}

/// An org plus the indexes the endpoints need, for every id scheme. Built to tolerate invalid orgs
/// (duplicate ids, dangling references, parent cycles): the first occurrence of an id wins and
/// walks stop at departments already seen.
pub(super) struct Directory {
    pub org: Org,
    app_id: String,
    visibility: Visibility,
    departments: HashMap<i64, usize>,
    children: HashMap<i64, Vec<usize>>,
    department_ids: HashMap<(DepartmentIdType, String), i64>,
    users: HashMap<(UserIdType, String), usize>,
    user_visible: Vec<bool>,
    /// Direct members per department id, in fixture order.
    members: HashMap<i64, Vec<usize>>,
}

impl Directory {
    pub fn new(org: Org, app_id: &str) -> Self {
        if let Err(error) = org.validate() {
            tracing::warn!(%error, "Feishu emulator serving an inconsistent org");
        }
        let visibility = org.visibility();
        let mut departments = HashMap::with_capacity(org.departments.len());
        let mut children: HashMap<i64, Vec<usize>> = HashMap::new();
        let mut department_ids = HashMap::new();
        for (index, department) in org.departments.iter().enumerate() {
            if departments.contains_key(&department.id) {
                continue;
            }
            departments.insert(department.id, index);
            if let Some(parent) = department.parent {
                children.entry(parent).or_default().push(index);
            }
            for kind in DepartmentIdType::ALL {
                department_ids.insert(
                    (kind, ids::department_id(kind, department.id)),
                    department.id,
                );
            }
        }
        let mut users = HashMap::with_capacity(org.users.len() * 3);
        let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
        for (index, user) in org.users.iter().enumerate() {
            let key = (UserIdType::UserId, user.id.clone());
            if users.contains_key(&key) {
                continue;
            }
            for kind in UserIdType::ALL {
                users.insert((kind, ids::user_id(kind, app_id, &user.id)), index);
            }
            let mut seen = HashSet::new();
            for &department in &user.departments {
                if seen.insert(department) {
                    members.entry(department).or_default().push(index);
                }
            }
        }
        let user_visible = org
            .users
            .iter()
            .map(|u| visibility.is_user_visible(u))
            .collect();
        Directory {
            org,
            app_id: app_id.to_owned(),
            visibility,
            departments,
            children,
            department_ids,
            users,
            user_visible,
            members,
        }
    }

    /// The root is in scope: the app may read the whole tenant.
    pub fn whole_tenant(&self) -> bool {
        self.visibility.is_department_visible(FIXTURE_ROOT)
    }

    pub fn user_ref(&self, kind: UserIdType, fixture_id: &str) -> String {
        ids::user_id(kind, &self.app_id, fixture_id)
    }

    pub fn is_user_id_visible(&self, fixture_id: &str) -> bool {
        self.users
            .get(&(UserIdType::UserId, fixture_id.to_owned()))
            .is_some_and(|&index| self.user_visible[index])
    }

    fn resolve_department(&self, raw: &str, kind: DepartmentIdType) -> Option<i64> {
        if raw == ROOT {
            return self
                .departments
                .contains_key(&FIXTURE_ROOT)
                .then_some(FIXTURE_ROOT);
        }
        self.department_ids.get(&(kind, raw.to_owned())).copied()
    }

    /// A department the app may read. Unknown ids (including ids of the other scheme) and
    /// departments outside the scope both answer 40004.
    pub fn visible_department(
        &self,
        raw: &str,
        kind: DepartmentIdType,
    ) -> Result<&Department, ApiError> {
        let id = self
            .resolve_department(raw, kind)
            .ok_or(ApiError::DEPARTMENT_OUT_OF_SCOPE)?;
        if !self.visibility.is_department_visible(id) {
            return Err(ApiError::DEPARTMENT_OUT_OF_SCOPE);
        }
        self.department_by_id(id)
            .ok_or(ApiError::DEPARTMENT_OUT_OF_SCOPE)
    }

    /// A person the app may read: 41012 if the id is unknown in this scheme, 41050 if out of scope.
    pub fn visible_user(&self, raw: &str, kind: UserIdType) -> Result<&User, ApiError> {
        let &index = self
            .users
            .get(&(kind, raw.to_owned()))
            .ok_or(ApiError::INVALID_USER_ID)?;
        if !self.user_visible[index] {
            return Err(ApiError::USER_OUT_OF_SCOPE);
        }
        Ok(&self.org.users[index])
    }

    /// Every department below `id` (not `id` itself), parents before children, siblings in
    /// fixture order.
    pub fn descendants(&self, id: i64) -> Vec<&Department> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([id]);
        let mut stack: Vec<usize> = self.child_indexes(id).rev().collect();
        while let Some(index) = stack.pop() {
            let department = &self.org.departments[index];
            if !seen.insert(department.id) {
                continue;
            }
            out.push(department);
            stack.extend(self.child_indexes(department.id).rev());
        }
        out
    }

    /// The departments right below `id`, in fixture order.
    pub fn children(&self, id: i64) -> Vec<&Department> {
        self.child_indexes(id)
            .map(|index| &self.org.departments[index])
            .collect()
    }

    fn child_indexes(&self, id: i64) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.children.get(&id).into_iter().flatten().copied()
    }

    /// Direct members of a department, in fixture order.
    pub fn members(&self, id: i64) -> impl Iterator<Item = &User> {
        self.members
            .get(&id)
            .into_iter()
            .flatten()
            .map(|&index| &self.org.users[index])
    }

    pub fn department_by_id(&self, id: i64) -> Option<&Department> {
        self.departments
            .get(&id)
            .map(|&index| &self.org.departments[index])
    }

    /// What `scopes` lists, as fixture ids. Whole tenant: the first-level departments and the
    /// people right under the root. Partial: the granted departments (not expanded) and the people
    /// granted one by one, as given, so a grant that outlived its person still shows.
    pub fn scope_entries(&self) -> (Vec<i64>, Vec<String>) {
        if self.whole_tenant() {
            let departments = self.children(FIXTURE_ROOT).iter().map(|d| d.id).collect();
            let users = self.members(FIXTURE_ROOT).map(|u| u.id.clone()).collect();
            return (departments, users);
        }
        let mut departments = Vec::new();
        for &id in &self.org.scope.departments {
            if self.departments.contains_key(&id) && !departments.contains(&id) {
                departments.push(id);
            }
        }
        let mut users: Vec<String> = Vec::new();
        for id in &self.org.scope.users {
            if !users.contains(id) {
                users.push(id.clone());
            }
        }
        (departments, users)
    }
}
