//! The emulator's shared state: the org with its lookup indexes, tokens, faults and call counters.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::wire::ApiError;
use super::{WecomConfig, WecomTag};
use crate::faults::{CallLog, FaultInjector, TokenBook, TokenStatus};
use crate::fixture::{Department, Org, User, Visibility};
use crate::rate_limit::{Enforcer, Rule, per_endpoint_windows};

pub(super) struct Shared {
    pub config: WecomConfig,
    /// Swapped whole on update, so a request works on one consistent org without holding the lock.
    directory: RwLock<Arc<Directory>>,
    pub calls: CallLog,
    pub faults: FaultInjector,
    pub tokens: TokenBook,
    pub limits: Enforcer,
    pub hourly: HourlyBlock,
}

/// WeCom's documented per-corp minute limit, counted per API: 10 000 a minute. The hourly one
/// (150 000) blocks the API for an hour: [`HourlyBlock`].
fn per_api_limits() -> Vec<Rule> {
    per_endpoint_windows(&[(10_000, 60)])
}

/// WeCom's hourly limit: at most `limit` calls per API in each `block`-long window (from the
/// API's first call); the call over it blocks the API for a whole `block`, every call answered
/// 45009 meanwhile.
pub(super) struct HourlyBlock {
    limit: u64,
    block: Duration,
    apis: Mutex<HashMap<String, ApiHour>>,
    rejections: AtomicU64,
}

struct ApiHour {
    window_start: Instant,
    calls: u64,
    blocked_until: Option<Instant>,
}

impl HourlyBlock {
    pub fn new(limit: u64, block: Duration) -> Self {
        HourlyBlock {
            limit,
            block,
            apis: Mutex::new(HashMap::new()),
            rejections: AtomicU64::new(0),
        }
    }

    /// Counts a call to `path`; `false` while the API is blocked.
    pub fn allows(&self, path: &str) -> bool {
        let now = Instant::now();
        let mut apis = self.apis.lock().unwrap_or_else(PoisonError::into_inner);
        let api = apis.entry(path.to_owned()).or_insert(ApiHour {
            window_start: now,
            calls: 0,
            blocked_until: None,
        });
        if let Some(until) = api.blocked_until {
            if now < until {
                self.rejections.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            *api = ApiHour {
                window_start: now,
                calls: 0,
                blocked_until: None,
            };
        }
        if now.duration_since(api.window_start) >= self.block {
            api.window_start = now;
            api.calls = 0;
        }
        api.calls += 1;
        if api.calls > self.limit {
            api.blocked_until = Some(now + self.block);
            self.rejections.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }
}

impl Shared {
    pub fn new(org: Org, config: WecomConfig) -> Self {
        let limits = if config.enforce_rate_limits {
            Enforcer::new(per_api_limits(), config.rate_limit_speedup)
        } else {
            Enforcer::unlimited()
        };
        let hourly = HourlyBlock::new(config.hourly_limit, config.hourly_block);
        let directory = Directory::new(org, &config);
        Shared {
            limits,
            hourly,
            config,
            directory: RwLock::new(Arc::new(directory)),
            calls: CallLog::new(),
            faults: FaultInjector::default(),
            tokens: TokenBook::new("wc-tok-"),
        }
    }

    pub fn directory(&self) -> Arc<Directory> {
        // Poisoning cannot leave a half-written Arc behind, so the value is still good.
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the org; returns the directories before and after (the change callbacks'
    /// input).
    pub fn update_org(&self, change: impl FnOnce(&mut Org)) -> (Arc<Directory>, Arc<Directory>) {
        let before = self.directory();
        let mut org = before.org.clone();
        change(&mut org);
        let directory = Arc::new(Directory::new(org, &self.config));
        *self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner) = directory.clone();
        (before, directory)
    }

    /// Checks the `access_token` of a data call and charges the call to it.
    pub fn authorize(&self, token: Option<&str>) -> Result<(), ApiError> {
        let token = token.ok_or(ApiError::MISSING_TOKEN)?;
        match self.tokens.check_and_use(token, self.faults.token_budget()) {
            TokenStatus::Valid => Ok(()),
            TokenStatus::Unknown => Err(ApiError::INVALID_TOKEN),
            TokenStatus::Expired => Err(ApiError::TOKEN_EXPIRED),
            // WeCom reports early-dead tokens either way; alternate so clients must handle both.
            TokenStatus::CallBudgetExhausted { occurrence } if occurrence % 2 == 1 => {
                Err(ApiError::TOKEN_EXPIRED)
            }
            TokenStatus::CallBudgetExhausted { .. } => Err(ApiError::INVALID_TOKEN),
        }
    }
}

/// An org plus the indexes the endpoints need. Built to tolerate invalid orgs (duplicate ids,
/// dangling references, parent cycles): the first occurrence of an id wins and walks stop at
/// departments already seen.
pub(super) struct Directory {
    pub org: Org,
    visibility: Visibility,
    departments: HashMap<i64, usize>,
    children: HashMap<i64, Vec<usize>>,
    /// By lower-cased userid: WeCom userids are case-insensitive.
    users: HashMap<String, usize>,
    user_visible: Vec<bool>,
    /// Direct members per department id, in fixture order.
    members: HashMap<i64, Vec<usize>>,
    /// The corp's tags by id (the first of a repeated id wins).
    tags: HashMap<i64, WecomTag>,
}

impl Directory {
    pub fn new(org: Org, config: &WecomConfig) -> Self {
        if let Err(error) = org.validate() {
            tracing::warn!(%error, "WeCom emulator serving an inconsistent org");
        }
        let mut tags = HashMap::new();
        for tag in &config.tags {
            tags.try_insert_first(tag.id, tag.clone());
        }
        let visibility = visibility(&org, &config.allow_tags, &tags);
        let mut departments = HashMap::with_capacity(org.departments.len());
        let mut children: HashMap<i64, Vec<usize>> = HashMap::new();
        for (index, department) in org.departments.iter().enumerate() {
            if departments.try_insert_first(department.id, index)
                && let Some(parent) = department.parent
            {
                children.entry(parent).or_default().push(index);
            }
        }
        let mut users = HashMap::with_capacity(org.users.len());
        let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
        for (index, user) in org.users.iter().enumerate() {
            if !users.try_insert_first(user.id.to_lowercase(), index) {
                continue;
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
            visibility,
            departments,
            children,
            users,
            user_visible,
            members,
            tags,
        }
    }

    /// A tag: 40068 if it does not exist.
    pub fn tag(&self, id: i64) -> Result<&WecomTag, ApiError> {
        self.tags.get(&id).ok_or(ApiError::INVALID_TAG)
    }

    pub fn is_department_visible(&self, id: i64) -> bool {
        self.visibility.is_department_visible(id)
    }

    pub fn is_user_id_visible(&self, userid: &str) -> bool {
        self.users
            .get(&userid.to_lowercase())
            .is_some_and(|&index| self.user_visible[index])
    }

    /// A department the app may read: 60123 if it does not exist, 60011 if it is out of scope.
    pub fn visible_department(&self, id: i64) -> Result<&Department, ApiError> {
        let &index = self
            .departments
            .get(&id)
            .ok_or(ApiError::NO_SUCH_DEPARTMENT)?;
        if !self.is_department_visible(id) {
            return Err(ApiError::OUT_OF_SCOPE);
        }
        Ok(&self.org.departments[index])
    }

    /// A user the app may read: 60111 if it does not exist, 60011 if it is out of scope.
    pub fn visible_user(&self, userid: &str) -> Result<&User, ApiError> {
        let &index = self
            .users
            .get(&userid.to_lowercase())
            .ok_or(ApiError::NO_SUCH_USER)?;
        if !self.user_visible[index] {
            return Err(ApiError::OUT_OF_SCOPE);
        }
        Ok(&self.org.users[index])
    }

    /// `id` and all its descendants, parents before children, siblings in fixture order.
    pub fn subtree(&self, id: i64) -> Vec<&Department> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<usize> = self.departments.get(&id).copied().into_iter().collect();
        while let Some(index) = stack.pop() {
            let department = &self.org.departments[index];
            if !seen.insert(department.id) {
                continue;
            }
            out.push(department);
            if let Some(children) = self.children.get(&department.id) {
                stack.extend(children.iter().rev());
            }
        }
        out
    }

    /// Every visible department, each visible subtree in [`Directory::subtree`] order.
    pub fn visible_tree(&self) -> Vec<&Department> {
        self.org
            .departments
            .iter()
            .filter(|d| self.is_department_visible(d.id))
            .filter(|d| d.parent.is_none_or(|p| !self.is_department_visible(p)))
            .flat_map(|d| self.subtree(d.id))
            .collect()
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
}

/// The org's scope plus the people and departments (with subtrees) of every tag the app's range
/// is shared with. Tags that do not exist add nothing.
fn visibility(org: &Org, allow_tags: &[i64], tags: &HashMap<i64, WecomTag>) -> Visibility {
    let in_range: Vec<&WecomTag> = allow_tags.iter().filter_map(|id| tags.get(id)).collect();
    if in_range.is_empty() {
        return org.visibility();
    }
    let mut scope = org.scope.clone();
    for tag in in_range {
        scope.departments.extend(&tag.departments);
        scope.users.extend(tag.users.iter().cloned());
    }
    let ranged = Org {
        departments: org.departments.clone(),
        users: Vec::new(),
        scope,
        sensitive_fields: org.sensitive_fields,
    };
    ranged.visibility()
}

/// `HashMap::try_insert` is unstable; this is the stable "first one wins" equivalent.
trait InsertFirst<K, V> {
    fn try_insert_first(&mut self, key: K, value: V) -> bool;
}

impl<K: std::hash::Hash + Eq, V> InsertFirst<K, V> for HashMap<K, V> {
    fn try_insert_first(&mut self, key: K, value: V) -> bool {
        match self.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(value);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_gets_ten_thousand_calls_a_minute() {
        let limits = Enforcer::new(per_api_limits(), 1.0);
        for _ in 0..10_000 {
            assert!(limits.check("/cgi-bin/user/list").is_ok());
        }
        assert!(limits.check("/cgi-bin/user/list").is_err());
        assert!(
            limits.check("/cgi-bin/department/list").is_ok(),
            "another API has its own budget"
        );
        assert_eq!(limits.rejections(), 1);
    }
}
