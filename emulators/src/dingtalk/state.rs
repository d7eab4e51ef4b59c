//! The emulator's shared state: the org with its lookup indexes, tokens, faults, limits, counters.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::wire::ApiError;
use super::{Ban, DingtalkConfig, QPS_PER_API, Quirk};
use crate::faults::{CallLog, FaultInjector, TokenBook, TokenStatus};
use crate::fixture::{Department, Org, Status, User, Visibility};
use crate::rate_limit::{Enforcer, Policy, Rule};

pub(super) struct Shared {
    pub config: DingtalkConfig,
    /// Swapped whole on update, so a request works on one consistent org without holding the lock.
    directory: RwLock<Arc<Directory>>,
    pub calls: CallLog,
    pub faults: FaultInjector,
    pub tokens: TokenBook,
    pub limits: Enforcer,
    quirk: Mutex<Option<Quirk>>,
    /// Injected rate-limit answers so far, to rotate through DingTalk's forms of them.
    rate_limit_faults: AtomicU64,
    /// Roster calls answered so far, against `DingtalkConfig::roster_quota`.
    roster_calls: AtomicU64,
    /// Data calls left before every token is revoked (then answered with 40001).
    revoke_after: Mutex<Option<u64>>,
    /// Whether revoked tokens answer 40001 (set once `revoke_after` ran out).
    revoked_40001: std::sync::atomic::AtomicBool,
    /// The anti-abuse ban in force, and until when.
    ban: Mutex<Option<(Ban, tokio::time::Instant)>>,
    /// Where org changes are announced (`DingtalkConfig::events`).
    pub announcer: super::events::Announcer,
    /// The Stream gateway's tickets, events and connections.
    pub gateway: super::stream::Gateway,
}

impl Shared {
    pub fn new(org: Org, config: DingtalkConfig) -> Result<Self, super::crypto::CryptoError> {
        let limits = if config.enforce_rate_limits {
            Enforcer::new(
                vec![Rule {
                    policy: Policy::FixedWindow {
                        requests: QPS_PER_API,
                        window: Duration::from_secs(1),
                    },
                    per_endpoint: true,
                }],
                config.rate_limit_speedup,
            )
        } else {
            Enforcer::unlimited()
        };
        let announcer = super::events::Announcer::new(&config)?;
        Ok(Shared {
            config,
            directory: RwLock::new(Arc::new(Directory::new(org))),
            calls: CallLog::new(),
            faults: FaultInjector::default(),
            tokens: TokenBook::new("dt-tok-"),
            limits,
            quirk: Mutex::new(None),
            rate_limit_faults: AtomicU64::new(0),
            roster_calls: AtomicU64::new(0),
            revoke_after: Mutex::new(None),
            revoked_40001: std::sync::atomic::AtomicBool::new(false),
            ban: Mutex::new(None),
            announcer,
            gateway: super::stream::Gateway::default(),
        })
    }

    pub fn directory(&self) -> Arc<Directory> {
        // Poisoning cannot leave a half-written Arc behind, so the value is still good.
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        let mut org = self.directory().org.clone();
        change(&mut org);
        let directory = Arc::new(Directory::new(org));
        let old = std::mem::replace(
            &mut *self
                .directory
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            directory.clone(),
        );
        self.announcer
            .announce(&old.org, &directory.org, &self.gateway);
    }

    pub fn quirk(&self) -> Option<Quirk> {
        *self.quirk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_quirk(&self, quirk: Option<Quirk>) {
        *self.quirk.lock().unwrap_or_else(PoisonError::into_inner) = quirk;
    }

    /// The form of the next injected rate-limit answer: the per-app code, the same behind code 88,
    /// then the global one, in turn, so clients must recognise all three.
    pub fn next_rate_limit_error(&self) -> ApiError {
        match self.rate_limit_faults.fetch_add(1, Ordering::Relaxed) % 3 {
            0 => ApiError::APP_QPS,
            1 => ApiError::APP_QPS_SUB,
            _ => ApiError::GLOBAL_QPS,
        }
    }

    /// Counts a roster call against the monthly quota: 90020 once it is spent.
    pub fn charge_quota(&self) -> Result<(), ApiError> {
        let used = self.roster_calls.fetch_add(1, Ordering::Relaxed);
        match self.config.roster_quota {
            Some(quota) if used >= quota => Err(ApiError::QUOTA_EXHAUSTED),
            _ => Ok(()),
        }
    }

    /// Revokes every token after `calls` more data calls.
    pub fn revoke_tokens_after(&self, calls: u64) {
        *self
            .revoke_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(calls);
    }

    /// Bans the caller for `lasts` with `form`.
    pub fn set_ban(&self, form: Ban, lasts: Duration) {
        *self.ban.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((form, tokio::time::Instant::now() + lasts));
    }

    /// The ban in force now, if any.
    pub fn ban(&self) -> Option<Ban> {
        let mut ban = self.ban.lock().unwrap_or_else(PoisonError::into_inner);
        match *ban {
            Some((form, until)) if tokio::time::Instant::now() < until => Some(form),
            Some(_) => {
                *ban = None;
                None
            }
            None => None,
        }
    }

    /// Checks the `access_token` of a data call and charges the call to it.
    pub fn authorize(&self, token: Option<&str>) -> Result<(), ApiError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MISSING_TOKEN)?;
        {
            let mut left = self
                .revoke_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *left {
                Some(0) => {
                    *left = None;
                    self.tokens.revoke_all();
                    self.revoked_40001.store(true, Ordering::Relaxed);
                }
                Some(n) => *left = Some(n - 1),
                None => {}
            }
        }
        match self.token_status(token) {
            TokenStatus::Valid => Ok(()),
            TokenStatus::Unknown if self.revoked_40001.load(Ordering::Relaxed) => {
                Err(ApiError::TOKEN_REVOKED)
            }
            TokenStatus::Unknown => Err(ApiError::INVALID_TOKEN),
            TokenStatus::Expired => Err(ApiError::TOKEN_EXPIRED),
            // The notes list three answers for a dead token; rotate so clients handle each.
            TokenStatus::CallBudgetExhausted { occurrence } => Err(match occurrence % 3 {
                1 => ApiError::TOKEN_EXPIRED,
                2 => ApiError::INVALID_TOKEN,
                _ => ApiError::INVALID_CORP,
            }),
        }
    }

    pub fn token_status(&self, token: &str) -> TokenStatus {
        self.tokens.check_and_use(token, self.faults.token_budget())
    }
}

/// An org plus the indexes the endpoints need. Built to tolerate invalid orgs (duplicate ids,
/// dangling references, parent cycles): the first occurrence of an id wins and walks stop at
/// departments already seen. Resigned people are left out of every index: DingTalk removes them
/// from the contacts, and only the leave records still know them.
pub(super) struct Directory {
    pub org: Org,
    visibility: Visibility,
    departments: HashMap<i64, usize>,
    children: HashMap<i64, Vec<usize>>,
    users: HashMap<String, usize>,
    /// Direct members per department id, in fixture order.
    members: HashMap<i64, Vec<usize>>,
}

impl Directory {
    pub fn new(org: Org) -> Self {
        if let Err(error) = org.validate() {
            tracing::warn!(%error, "DingTalk emulator serving an inconsistent org");
        }
        let visibility = org.visibility();
        let mut departments = HashMap::with_capacity(org.departments.len());
        let mut children: HashMap<i64, Vec<usize>> = HashMap::new();
        for (index, department) in org.departments.iter().enumerate() {
            if insert_first(&mut departments, department.id, index)
                && let Some(parent) = department.parent
            {
                children.entry(parent).or_default().push(index);
            }
        }
        let mut users = HashMap::with_capacity(org.users.len());
        let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
        for (index, user) in org.users.iter().enumerate() {
            if user.status == Status::Resigned || !insert_first(&mut users, user.id.clone(), index)
            {
                continue;
            }
            let mut seen = HashSet::new();
            for &department in &user.departments {
                if seen.insert(department) {
                    members.entry(department).or_default().push(index);
                }
            }
        }
        Directory {
            org,
            visibility,
            departments,
            children,
            users,
            members,
        }
    }

    pub fn is_department_visible(&self, id: i64) -> bool {
        self.visibility.is_department_visible(id)
    }

    pub fn is_user_visible(&self, user: &User) -> bool {
        self.visibility.is_user_visible(user)
    }

    /// A department the app may read: 60003 if it does not exist, 50004 if it is out of scope.
    pub fn visible_department(&self, id: i64) -> Result<&Department, ApiError> {
        let &index = self
            .departments
            .get(&id)
            .ok_or(ApiError::NO_SUCH_DEPARTMENT)?;
        if !self.is_department_visible(id) {
            return Err(ApiError::DEPARTMENT_OUT_OF_SCOPE);
        }
        Ok(&self.org.departments[index])
    }

    /// A current member the app may read: 60121 if there is none (or they resigned), 50002 if
    /// they are out of scope.
    pub fn visible_user(&self, userid: &str) -> Result<&User, ApiError> {
        let &index = self.users.get(userid).ok_or(ApiError::NO_SUCH_USER)?;
        let user = &self.org.users[index];
        if !self.is_user_visible(user) {
            return Err(ApiError::USER_OUT_OF_SCOPE);
        }
        Ok(user)
    }

    /// A current (not resigned) member, in scope or not.
    pub fn current_user(&self, userid: &str) -> Option<&User> {
        self.users.get(userid).map(|&index| &self.org.users[index])
    }

    /// Whether this userid is a current (not resigned) member, in scope or not.
    pub fn is_member(&self, userid: &str) -> bool {
        self.users.contains_key(userid)
    }

    /// Direct children, in fixture order. A visible department's children are visible too.
    pub fn children(&self, id: i64) -> impl Iterator<Item = &Department> {
        self.children
            .get(&id)
            .into_iter()
            .flatten()
            .map(|&index| &self.org.departments[index])
    }

    /// Direct members of a department who have not resigned, in fixture order.
    pub fn members(&self, id: i64) -> &[usize] {
        self.members.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn user_at(&self, index: usize) -> &User {
        &self.org.users[index]
    }

    pub fn department_by_id(&self, id: i64) -> Option<&Department> {
        self.departments
            .get(&id)
            .map(|&index| &self.org.departments[index])
    }

    /// Current members the app can see (for `user/count`).
    pub fn visible_user_count(&self, only_active: bool) -> u64 {
        self.users
            .values()
            .map(|&index| &self.org.users[index])
            .filter(|u| self.is_user_visible(u))
            .filter(|u| !only_active || u.status != Status::NotActivated)
            .count() as u64
    }
}

/// `HashMap::try_insert` is unstable; this is the stable "first one wins" equivalent.
fn insert_first<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) -> bool {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(value);
            true
        }
    }
}
