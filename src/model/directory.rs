use super::{DepartmentId, Problem, User, UserKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Everything one pull read from the upstream, within the app's authorized scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    /// In-scope people, keyed by their upstream id. This is the "pulled in-scope set" of the scope rule.
    pub users: BTreeMap<UserKey, User>,
    pub departments: BTreeMap<DepartmentId, Department>,
    pub scope: Scope,
    /// People the upstream returned but who could not be read safely (unknown status code, missing
    /// required field). The planner leaves them exactly as they are in the target.
    pub held: BTreeSet<UserKey>,
    /// What was odd about the upstream data; each one is shown in the report.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    pub parent: Option<DepartmentId>,
    /// The department's heads (部门负责人) as the platform lists them, the head first. Read from
    /// what the pull already fetches (WeCom `department_leader`, DingTalk the `leader` flag of
    /// `user/list` items, Feishu `leader_user_id`, Bitrix24 `UF_HEAD`); may name people outside
    /// the authorized scope.
    #[serde(default)]
    pub heads: Vec<UserKey>,
}

/// The app's authorized scope as the upstream described it (for reports; membership is `users`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub departments: Vec<DepartmentId>,
    pub users: Vec<UserKey>,
}

impl Directory {
    /// Adds a person met while walking the upstream. A person listed under several departments is
    /// merged into one entry; a conflicting second record is reported, the first kept.
    pub fn insert_user(&mut self, user: User) {
        match self.users.get_mut(&user.key) {
            None => {
                self.users.insert(user.key.clone(), user);
            }
            Some(existing) => {
                let same_person = existing.display_name == user.display_name
                    && existing.status == user.status
                    && existing.manager == user.manager;
                if !same_person {
                    self.problems.push(Problem::ConflictingRecords {
                        user: user.key.clone(),
                    });
                }
                for dept in user.departments {
                    if !existing.departments.contains(&dept) {
                        existing.departments.push(dept);
                    }
                }
            }
        }
    }
}
