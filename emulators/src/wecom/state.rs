//! The emulator's shared state: the org with its lookup indexes, tokens, faults and call counters.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use super::WecomConfig;
use super::wire::ApiError;
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
}

/// WeCom's documented per-corp limits, counted per API: 10 000 a minute and 150 000 an hour.
fn per_api_limits() -> Vec<Rule> {
    per_endpoint_windows(&[(10_000, 60), (150_000, 3600)])
}

impl Shared {
    pub fn new(org: Org, config: WecomConfig) -> Self {
        let limits = if config.enforce_rate_limits {
            Enforcer::new(per_api_limits(), config.rate_limit_speedup)
        } else {
            Enforcer::unlimited()
        };
        Shared {
            limits,
            config,
            directory: RwLock::new(Arc::new(Directory::new(org))),
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

    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        let mut org = self.directory().org.clone();
        change(&mut org);
        let directory = Arc::new(Directory::new(org));
        *self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner) = directory;
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
}

impl Directory {
    pub fn new(org: Org) -> Self {
        if let Err(error) = org.validate() {
            tracing::warn!(%error, "WeCom emulator serving an inconsistent org");
        }
        let visibility = org.visibility();
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
        }
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
